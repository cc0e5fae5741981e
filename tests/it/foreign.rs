//! Stores written by zarr-python 3 (`tests/fixtures/make_zarr_python.py`) read correctly: raw,
//! sharded with crc32c indices at either end, zstd, blosc, gzip, big-endian, transposed, and a
//! non-zero fill value with absent chunks.

use std::path::PathBuf;

use voxload::store::Layout;
use voxload::{Bbox, MappedArray, PadMode};

use crate::util::{formula_volume, naive_window, Formula, ALL_MODES};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zarr_python/store.zarr")
}

fn check<T: Formula>(name: &str) -> MappedArray<T> {
    let array = MappedArray::<T>::open(fixture(), name)
        .unwrap_or_else(|e| panic!("opening fixture {name}: {e}"));
    let volume = formula_volume::<T>([9, 20, 17]);
    let all = array
        .read(Bbox::from_shape([9, 20, 17]), PadMode::default())
        .unwrap();
    assert_eq!(all, volume, "{name}");
    let window = Bbox::new([-5, 12, -3], [16, 11, 25]);
    for mode in ALL_MODES {
        assert_eq!(
            array.read(window, mode).unwrap(),
            naive_window(&volume, window, mode),
            "{name} {mode}"
        );
    }
    array
}

fn check_every_dtype(prefix: &str) {
    check::<u8>(&format!("{prefix}_uint8"));
    check::<u16>(&format!("{prefix}_uint16"));
    check::<u32>(&format!("{prefix}_uint32"));
    check::<u64>(&format!("{prefix}_uint64"));
    check::<f32>(&format!("{prefix}_float32"));
}

#[test]
fn zarr_python_raw_is_memory_mapped() {
    check_every_dtype("raw");
    assert_eq!(check::<u16>("raw_uint16").meta().layout, Layout::Raw);
}

#[test]
fn zarr_python_sharded_is_memory_mapped() {
    check_every_dtype("sharded");
    let a = check::<u16>("sharded_uint16");
    assert!(matches!(
        a.meta().layout,
        Layout::ShardedRaw {
            index_crc32c: true,
            index_at_start: false,
            ..
        }
    ));
    let a = check::<u16>("shardedstart_uint16");
    assert!(matches!(
        a.meta().layout,
        Layout::ShardedRaw {
            index_at_start: true,
            ..
        }
    ));
}

#[test]
fn zarr_python_compressed_is_decoded() {
    check_every_dtype("zstd");
    check::<u16>("blosc_uint16");
    check::<u32>("gzip_uint32");
    assert!(matches!(
        check::<u8>("zstd_uint8").meta().layout,
        Layout::Decoded { .. }
    ));
}

#[test]
fn zarr_python_big_endian_and_transpose_are_decoded() {
    let a = check::<u16>("bigendian_uint16");
    assert!(matches!(a.meta().layout, Layout::Decoded { .. }));
    check::<u8>("transpose_uint8");
}

#[test]
fn zarr_python_fill_value_fills_absent_chunks() {
    let array = MappedArray::<u8>::open(fixture(), "fill7_uint8").unwrap();
    assert_eq!(array.fill_value(), 7);
    let all = array
        .read(Bbox::from_shape([9, 20, 17]), PadMode::default())
        .unwrap();
    let volume = formula_volume::<u8>([9, 20, 17]);
    for ((z, y, x), v) in all.indexed_iter() {
        let want = if z < 7 && y < 13 && x < 11 {
            volume[[z, y, x]]
        } else {
            7
        };
        assert_eq!(*v, want, "at {:?}", (z, y, x));
    }
}
