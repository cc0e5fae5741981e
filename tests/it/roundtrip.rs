//! Every encoding round-trips for every data type; encodings agree with each other.

use ndarray::Array3;
use voxload::store::{ArrayMeta, Layout};
use voxload::{write_array, Bbox, Encoding, MappedArray, PadMode};

use crate::util::{formula_volume, naive_window, Formula, ALL_MODES};

const SHAPE: [usize; 3] = [9, 20, 17];
const CHUNK: [u64; 3] = [7, 13, 11];
const ENCODINGS: [Encoding; 3] = [
    Encoding::Raw,
    Encoding::ShardedRaw {
        shard: [14, 26, 22],
    },
    Encoding::Zstd { level: 3 },
];

fn roundtrip<T: Formula>() {
    let volume = formula_volume::<T>(SHAPE);
    for encoding in ENCODINGS {
        let dir = tempfile::tempdir().unwrap();
        write_array(dir.path(), "a", &volume, CHUNK, encoding).unwrap();
        let array = MappedArray::<T>::open(dir.path(), "a").unwrap();
        let layout = &array.meta().layout;
        match encoding {
            Encoding::Raw => assert_eq!(*layout, Layout::Raw),
            Encoding::ShardedRaw { .. } => {
                assert!(matches!(
                    layout,
                    Layout::ShardedRaw {
                        index_crc32c: true,
                        ..
                    }
                ))
            }
            Encoding::Zstd { .. } => assert!(matches!(layout, Layout::Decoded { .. })),
        }
        let whole = array
            .read(Bbox::from_shape(array.shape()), PadMode::default())
            .unwrap();
        assert_eq!(whole, volume, "{encoding:?} {}", T::DTYPE);
        let window = Bbox::new([-3, 15, -2], [12, 9, 21]);
        for mode in ALL_MODES {
            let got = array.read(window, mode).unwrap();
            assert_eq!(
                got,
                naive_window(&volume, window, mode),
                "{encoding:?} {mode}"
            );
        }
    }
}

#[test]
fn roundtrip_uint8() {
    roundtrip::<u8>();
}
#[test]
fn roundtrip_uint16() {
    roundtrip::<u16>();
}
#[test]
fn roundtrip_uint32() {
    roundtrip::<u32>();
}
#[test]
fn roundtrip_uint64() {
    roundtrip::<u64>();
}
#[test]
fn roundtrip_float32() {
    roundtrip::<f32>();
}

#[test]
fn sharded_and_unsharded_reads_are_identical() {
    let volume = formula_volume::<u16>([30, 40, 50]);
    let dir = tempfile::tempdir().unwrap();
    write_array(dir.path(), "plain", &volume, [4, 8, 8], Encoding::Raw).unwrap();
    let shard = Encoding::ShardedRaw { shard: [8, 16, 24] };
    write_array(dir.path(), "sharded", &volume, [4, 8, 8], shard).unwrap();
    let plain = MappedArray::<u16>::open(dir.path(), "plain").unwrap();
    let sharded = MappedArray::<u16>::open(dir.path(), "sharded").unwrap();
    let mut stream = voxload::bench::WindowStream::new(
        [30, 40, 50],
        [6, 11, 13],
        voxload::bench::Placement::Straddle,
        3,
    );
    for _ in 0..40 {
        let w = stream.next_window();
        assert_eq!(
            plain.read(w, PadMode::Reflect).unwrap(),
            sharded.read(w, PadMode::Reflect).unwrap()
        );
    }
}

#[test]
fn all_fill_chunks_have_no_file_and_read_as_fill() {
    let mut volume = Array3::<u8>::zeros((8, 8, 8));
    volume[[5, 5, 5]] = 9;
    let dir = tempfile::tempdir().unwrap();
    write_array(dir.path(), "a", &volume, [4, 4, 4], Encoding::Raw).unwrap();
    assert!(
        !dir.path().join("a/c/0/0/0").exists(),
        "an all-zero chunk was written"
    );
    assert!(dir.path().join("a/c/1/1/1").exists());
    let array = MappedArray::<u8>::open(dir.path(), "a").unwrap();
    assert_eq!(
        array
            .read(Bbox::from_shape([8, 8, 8]), PadMode::Edge)
            .unwrap(),
        volume
    );
}

#[test]
fn raw_chunk_file_is_the_chunk_in_c_order() {
    let volume = formula_volume::<u16>([4, 4, 4]);
    let dir = tempfile::tempdir().unwrap();
    write_array(dir.path(), "a", &volume, [2, 2, 2], Encoding::Raw).unwrap();
    let bytes = std::fs::read(dir.path().join("a/c/1/0/1")).unwrap();
    let want: Vec<u8> = volume
        .slice(ndarray::s![2..4, 0..2, 2..4])
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(bytes, want);
}

#[test]
fn two_writes_of_the_same_volume_are_byte_identical() {
    let volume = formula_volume::<u8>([9, 20, 17]);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&a, &b] {
        write_array(dir.path(), "img", &volume, CHUNK, ENCODINGS[1]).unwrap();
    }
    assert_eq!(
        crate::ingest_util::tree(a.path()),
        crate::ingest_util::tree(b.path())
    );
}

#[test]
fn new_arrays_are_complete_with_a_provenance_record() {
    let dir = tempfile::tempdir().unwrap();
    write_array(
        dir.path(),
        "a/b",
        &Array3::<u8>::zeros((2, 2, 2)),
        [2, 2, 2],
        Encoding::Raw,
    )
    .unwrap();
    let meta = ArrayMeta::read(&dir.path().join("a/b")).unwrap();
    assert_eq!(meta.status, voxload::store::Status::Complete);
    assert_eq!(
        meta.attributes["voxload"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    let group: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a/zarr.json")).unwrap())
            .unwrap();
    assert_eq!(group["node_type"], "group");
}
