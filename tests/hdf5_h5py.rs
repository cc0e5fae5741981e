//! HDF5 datasets read through voxload against h5py itself: h5py writes the fixtures (contiguous,
//! chunked gzip+shuffle with edge chunks, lzf, fletcher32, unfiltered chunks, a fill value
//! over unallocated chunks, big-endian, nested groups, 2D; `libver='earliest'` and `'latest'`)
//! and saves `np.pad` of its own read of each in every pad mode; every window voxload reads —
//! inside, across every face, from negative starts — must equal the slice of numpy's padded
//! array. Errors (group path, missing dataset, truncated file, non-HDF5 file, 4D, int8) must
//! name the file and the dataset.
//!
//! Runs `$VOXLOAD_PYTHON` (else `python3`) with numpy and h5py, and fails, never skips, when
//! that interpreter cannot run them.

use std::path::Path;
use std::process::Command;

use ndarray::Array3;
use ndarray_npy::{read_npy, ReadableElement};
use voxload::store::AnyArray;
use voxload::{Bbox, Element, MappedArray, OpenOptions, PadMode};

/// The pad margin numpy pads by; every window stays within it.
const MARGIN: i64 = 6;

const SCRIPT: &str = r#"
import sys, os
import numpy as np, h5py
d = sys.argv[1]
M = int(sys.argv[2])
rng = np.random.default_rng(11)
def save(key, a):
    a = np.ascontiguousarray(a)
    if a.ndim == 2:
        a = a[None]
    a = a.astype(a.dtype.newbyteorder("<"))
    np.save(f"{d}/{key}.npy", a)
    for mode in ["constant", "reflect", "symmetric", "edge"]:
        np.save(f"{d}/{key}.{mode}.npy", np.pad(a, M, mode=mode))
for lv in ["earliest", "latest"]:
    path = f"{d}/vol_{lv}.h5"
    with h5py.File(path, "w", libver=lv) as f:
        f.create_dataset("raw", data=rng.integers(0, 256, (7, 19, 23), dtype=np.uint8))
        f["raw"].attrs["resolution"] = [30, 6, 6]
        f.create_dataset("seg", data=rng.integers(0, 65536, (9, 37, 41), dtype=np.uint16),
                         chunks=(4, 16, 16), compression="gzip", shuffle=True)
        f.create_dataset("g/h/lzf", data=rng.random((6, 20, 30), dtype=np.float32),
                         chunks=(4, 8, 8), compression="lzf")
        f.create_dataset("g/labels", data=rng.integers(0, 2**64, (5, 9, 11), dtype=np.uint64),
                         chunks=(2, 4, 4))
        f.create_dataset("g/fl32", data=rng.random((5, 12, 13), dtype=np.float32),
                         chunks=(2, 5, 5), fletcher32=True, compression="gzip")
        fl = f.create_dataset("fill", shape=(6, 10, 12), dtype=np.uint32, chunks=(3, 4, 5),
                              fillvalue=77)
        fl[0:3, 0:4, 0:5] = 5
        fl[4, 9, 11] = 9
        f.create_dataset("be", data=rng.integers(0, 65536, (4, 9, 10)).astype(">u2"))
        f.create_dataset("be_chunk", data=rng.random((4, 9, 10)).astype(">f4"), chunks=(2, 4, 4),
                         compression="gzip")
        f.create_dataset("flat", data=rng.integers(0, 256, (13, 17), dtype=np.uint8))
        f.create_dataset("unwritten", shape=(3, 5, 7), dtype=np.uint8)
        for key in ["raw", "seg", "g/h/lzf", "g/labels", "g/fl32", "fill", "be", "be_chunk",
                    "flat", "unwritten"]:
            save(f"vol_{lv}__" + key.replace("/", "_"), f[key][()])
    with h5py.File(path, "r") as f:
        # PyTC's readh5 with no dataset reads the first member h5py lists.
        open(f"{d}/vol_{lv}.first", "w").write(list(f)[0])
with h5py.File(f"{d}/one.h5", "w") as f:
    f.create_dataset("deep/only", data=rng.integers(0, 256, (3, 8, 9), dtype=np.uint8),
                     chunks=(1, 8, 9), compression="gzip")
    save("one__deep_only", f["deep/only"][()])
with h5py.File(f"{d}/bad.h5", "w") as f:
    f.create_dataset("i8", data=np.zeros((2, 3, 4), np.int8))
    f.create_dataset("d4", data=np.zeros((2, 2, 3, 4), np.uint8))
    f.create_dataset("grp/a", data=np.zeros((2, 3, 4), np.uint8))
raw = open(f"{d}/vol_earliest.h5", "rb").read()
open(f"{d}/trunc.h5", "wb").write(raw[: len(raw) // 2])
open(f"{d}/text.h5", "wb").write(b"not an HDF5 file\n" * 64)
"#;

fn python() -> String {
    std::env::var("VOXLOAD_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn write_fixtures(dir: &Path) {
    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(dir)
        .arg(MARGIN.to_string())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (set VOXLOAD_PYTHON to a Python with numpy and h5py): {e}",
                python()
            )
        });
    assert!(
        out.status.success(),
        "h5py fixture script failed (set VOXLOAD_PYTHON to a Python with numpy and h5py):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Windows of `shape`: the whole, an interior box, boxes off every face, negative starts.
fn windows(shape: [u64; 3]) -> Vec<Bbox> {
    let s = shape.map(|v| v as i64);
    let mut out = vec![
        Bbox::from_shape(shape),
        Bbox::new([s[0] / 3, s[1] / 4, s[2] / 3], shape.map(|v| v.div_ceil(2))),
        Bbox::new([-MARGIN; 3], shape.map(|v| v + 2 * MARGIN as u64)),
        Bbox::new([-2, -5, -3], [4.min(shape[0] + 2), 9, 7]),
    ];
    for a in 0..3 {
        // Hanging off the low and the high face of axis `a`.
        let mut low = [0i64; 3];
        low[a] = -4;
        let mut size = shape;
        size[a] = 7.min(shape[a] + 4);
        out.push(Bbox::new(low, size));
        let mut high = [0i64; 3];
        high[a] = s[a] - 3;
        size[a] = 8;
        out.push(Bbox::new(high, size));
    }
    out
}

const MODES: [(&str, PadMode); 4] = [
    ("constant", PadMode::Constant(0.0)),
    ("reflect", PadMode::Reflect),
    ("symmetric", PadMode::Symmetric),
    ("edge", PadMode::Edge),
];

/// Reads every window in every pad mode and compares with numpy's padded array. Returns the
/// voxels compared.
fn compare<T: Element + ReadableElement + PartialEq + std::fmt::Debug>(
    dir: &Path,
    key: &str,
    array: &MappedArray<T>,
) -> usize {
    let h5py: Array3<T> = read_npy(dir.join(format!("{key}.npy"))).unwrap();
    let shape = array.shape();
    assert_eq!(shape.map(|v| v as usize), h5py.shape(), "{key}: shape");
    let mut compared = 0;
    for (mode, pad) in MODES {
        let padded: Array3<T> = read_npy(dir.join(format!("{key}.{mode}.npy"))).unwrap();
        for window in windows(shape) {
            let ours = array
                .read(window, pad)
                .unwrap_or_else(|e| panic!("{key}: window {window:?} ({mode}): {e}"));
            let mut want = Vec::with_capacity(ours.len());
            for z in 0..window.shape[0] as i64 {
                for y in 0..window.shape[1] as i64 {
                    for x in 0..window.shape[2] as i64 {
                        let at = [z, y, x];
                        let i: [usize; 3] =
                            std::array::from_fn(|a| (window.begin[a] + at[a] + MARGIN) as usize);
                        want.push(padded[i]);
                    }
                }
            }
            let diff = ours.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(
                diff,
                0,
                "{key}: window {window:?} ({mode}): {diff} of {} voxels differ from numpy",
                want.len()
            );
            compared += want.len();
        }
    }
    compared
}

fn open_any(path: &Path) -> AnyArray {
    AnyArray::open(path, "", &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check_any(dir: &Path, key: &str, path: &Path) -> usize {
    let any = open_any(path);
    match &any {
        AnyArray::U8(a) => compare(dir, key, a),
        AnyArray::U16(a) => compare(dir, key, a),
        AnyArray::U32(a) => compare(dir, key, a),
        AnyArray::U64(a) => compare(dir, key, a),
        AnyArray::F32(a) => compare(dir, key, a),
    }
}

#[test]
fn hdf5_datasets_read_as_h5py_reads_them_in_every_pad_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_fixtures(dir);
    let mut compared = 0;
    for lv in ["earliest", "latest"] {
        let file = dir.join(format!("vol_{lv}.h5"));
        // `None`: memory-mapped (raw chunks at their file offsets); else what the format
        // string says of the decoded dataset.
        for (name, dtype, decoded) in [
            ("raw", "uint8", None),
            ("seg", "uint16", Some("chunked [4, 16, 16], gzip+shuffle")),
            ("g/h/lzf", "float32", Some("lzf")),
            ("g/labels", "uint64", None),
            ("g/fl32", "float32", Some("fletcher32")),
            ("fill", "uint32", None),
            ("be", "uint16", Some("big-endian")),
            ("be_chunk", "float32", Some("gzip")),
            ("flat", "uint8", None),
            ("unwritten", "uint8", None),
        ] {
            let path = file.join(name);
            let any = open_any(&path);
            assert_eq!(any.dtype().to_string(), dtype, "{}", path.display());
            let layout = format!("{:?}", any.meta().layout);
            match decoded {
                None => assert_eq!(layout, "Raw", "{}", path.display()),
                Some(f) => assert!(layout.contains(f), "{}: {layout}", path.display()),
            }
            let key = format!("vol_{lv}__{}", name.replace('/', "_"));
            compared += check_any(dir, &key, &path);
        }
        // The typed address form.
        let labels = MappedArray::<u64>::open_address(file.join("g/labels")).unwrap();
        compared += compare(dir, &format!("vol_{lv}__g_labels"), &labels);
        // No dataset named: PyTC's choice, the first member h5py lists.
        let first = std::fs::read_to_string(dir.join(format!("vol_{lv}.first"))).unwrap();
        assert_eq!(first, "be");
        compared += check_any(dir, &format!("vol_{lv}__{first}"), &file);
        // Attributes and the memory-mapped contiguous layout.
        let raw = open_any(&file.join("raw"));
        assert_eq!(
            raw.meta().attributes["resolution"],
            serde_json::json!([30, 6, 6])
        );
        assert_eq!(
            format!("{:?}", raw.meta().layout),
            "Raw",
            "{lv}: contiguous is mapped"
        );
        // A fill chunk reads as the fill value.
        let fill = MappedArray::<u32>::open_address(file.join("fill")).unwrap();
        let corner = fill
            .read(Bbox::new([3, 4, 5], [3, 4, 5]), PadMode::Reflect)
            .unwrap();
        assert!(
            corner.iter().all(|&v| v == 77),
            "{lv}: unallocated chunk reads as fill"
        );
    }
    // A file with one dataset, deep in a group.
    compared += check_any(dir, "one__deep_only", &dir.join("one.h5"));
    assert!(compared > 100_000, "compared only {compared} voxels");
}

fn error_of(path: &Path) -> String {
    match AnyArray::open(path, "", &OpenOptions::default()) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_hdf5_input_is_a_typed_error_naming_the_file_and_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_fixtures(dir);
    let bad = dir.join("bad.h5");
    let vol = dir.join("vol_earliest.h5");
    let named = |e: &str, file: &Path, parts: &[&str]| {
        assert!(e.contains(&file.display().to_string()), "{e}");
        for p in parts {
            assert!(e.contains(p), "`{p}` missing from: {e}");
        }
    };
    let e = error_of(&vol.join("g"));
    named(&e, &vol, &["/g", "group", "g/labels", "g/h/lzf"]);
    let e = error_of(&vol.join("sge"));
    named(&e, &vol, &["/sge", "did you mean", "vol_earliest.h5/seg"]);
    let e = error_of(&dir.join("trunc.h5"));
    named(&e, &dir.join("trunc.h5"), &["truncated"]);
    let e = error_of(&dir.join("text.h5"));
    named(&e, &dir.join("text.h5"), &["not an HDF5 file"]);
    let e = error_of(&dir.join("missing.h5"));
    named(&e, &dir.join("missing.h5"), &[]);
    let e = error_of(&bad.join("d4"));
    named(&e, &bad, &["/d4", "[2, 2, 3, 4]"]);
    let e = error_of(&bad.join("i8"));
    named(&e, &bad, &["/i8", "int8", "signed", "astype"]);
    // Several datasets and the first member is a dataset that cannot be read: its error.
    let e = error_of(&bad);
    named(&e, &bad, &["/d4"]);
    // Asking for the wrong type names the stored one.
    let e = MappedArray::<u8>::open_address(vol.join("seg"))
        .err()
        .unwrap()
        .to_string();
    named(&e, &vol, &["uint16"]);
}
