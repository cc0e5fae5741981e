//! Multi-page TIFF volumes against `tifffile` itself: fixtures written by tifffile (plain,
//! several strips per page, ImageJ, LZW, Deflate with predictors, PackBits, tiled raw and
//! tiled compressed, big-endian, `float32`, `uint32`/`uint64` labels, a single page, ImageJ's
//! one-directory layout), each read back by tifffile as the reference, and windows of each
//! (inside, across every face, negative starts) in every pad mode compared with `np.pad` of
//! tifffile's read, voxel for voxel. Raw pages must be served memory-mapped. Broken files
//! (pages of another size, truncated, not a TIFF, RGB, signed samples, missing) must give
//! errors naming the file (and the page).
//!
//! Runs `$VOXLOAD_PYTHON` (else `python3`) with numpy, tifffile and imagecodecs, and fails,
//! never skips, when that interpreter cannot run them.

use std::path::Path;
use std::process::Command;

use ndarray::Array3;
use ndarray_npy::{read_npy, ReadableElement};
use voxload::store::{AnyArray, Layout};
use voxload::{Bbox, Element, MappedArray, OpenOptions, PadMode};

/// Writes every fixture with tifffile, reads each back with tifffile, and saves `np.pad`
/// windows of that read; `manifest.json` lists them.
const SCRIPT: &str = r#"
import json, os, struct, sys
import numpy as np
import tifffile

out = sys.argv[1]
rng = np.random.default_rng(7)
def vol(shape, dtype, hi):
    a = rng.integers(0, hi, size=shape, dtype=np.uint64)
    return a.astype(dtype)
def em(shape):
    z, y, x = np.indices(shape)
    return ((x * 7 + y * 3 + z * 29) % 251).astype(np.uint8)
fixtures = {
    "u8_plain": (em((7, 37, 45)), {}),
    "u16_strips": (vol((5, 33, 29), np.uint16, 65535), {"rowsperstrip": 4}),
    "u8_imagej": (em((9, 30, 40)), {"imagej": True,
        "metadata": {"spacing": 0.5, "unit": "micron", "axes": "ZYX"}}),
    "u8_lzw": (em((6, 31, 35)), {"compression": "lzw"}),
    "u16_zlib_pred": (vol((5, 27, 33), np.uint16, 4000), {"compression": "zlib", "predictor": True}),
    "u8_packbits": (em((4, 25, 30)) // 16 * 16, {"compression": "packbits"}),
    "u8_tiled": (em((4, 40, 37)), {"tile": (16, 16)}),
    "u16_tiled_zlib": (vol((3, 35, 50), np.uint16, 9000), {"tile": (16, 16), "compression": "zlib"}),
    "f32_plain": (rng.standard_normal((4, 21, 19)).astype(np.float32), {}),
    "f32_zlib_pred": (rng.standard_normal((3, 22, 18)).astype(np.float32),
        {"compression": "zlib", "predictor": True}),
    "u32_labels": (vol((5, 26, 30), np.uint32, 2**32 - 1), {}),
    "u64_labels_lzw": (vol((3, 20, 21), np.uint64, 2**60), {"compression": "lzw"}),
    "u16_big_endian": (vol((4, 23, 27), np.uint16, 65535), {"byteorder": ">"}),
    "u8_big_endian": (em((3, 19, 22)), {"byteorder": ">"}),
    "u8_single": (em((1, 23, 17))[0], {}),
    "u16_imagej_one_ifd": (vol((6, 20, 24), np.uint16, 65535), {"imagej": True}),
    "u8_many": (em((3000, 4, 5)), {}),
}
manifest = {}
for name, (data, kw) in fixtures.items():
    path = os.path.join(out, name + ".tif")
    tifffile.imwrite(path, data, photometric="minisblack", **kw)
    if name == "u16_imagej_one_ifd":
        # ImageJ's layout of stacks over 4 GiB: one directory, the planes back to back.
        b = bytearray(open(path, "rb").read())
        ifd = struct.unpack("<I", b[4:8])[0]
        n = struct.unpack("<H", b[ifd:ifd + 2])[0]
        b[ifd + 2 + 12 * n:ifd + 6 + 12 * n] = b"\0\0\0\0"
        open(path, "wb").write(b)
        with tifffile.TiffFile(path) as t:
            assert len(t.pages) == 1
    ref = tifffile.imread(path)
    if ref.ndim == 2:
        ref = ref[None]
    assert ref.shape[0] == (data.shape[0] if data.ndim == 3 else 1), (name, ref.shape)
    ref = np.ascontiguousarray(ref, dtype=ref.dtype.newbyteorder("<"))
    np.save(os.path.join(out, name + ".npy"), ref)
    d, h, w = ref.shape
    boxes = [
        ([0, 0, 0], [d, h, w]),
        ([d // 3, h // 4, w // 3], [max(1, d // 2), max(1, h // 2), max(1, w // 3)]),
        ([0, 10 % h, 14 % w], [min(d, 2), min(h, 12), min(w, 20)]),
        ([-2, -5, -3], [d + 4, h + 9, w + 7]),
        ([d - 2, h - 3, w - 4], [5, 9, 11]),
        ([-d - 1, -h - 2, w - 1], [d + 2, 4, 2 * w]),
    ]
    windows = []
    for i, (begin, shape) in enumerate(boxes):
        before = [max(0, -b) for b in begin]
        after = [max(0, b + s - n) for b, s, n in zip(begin, shape, ref.shape)]
        for mode in ["constant", "reflect", "symmetric", "edge"]:
            kwargs = {"constant_values": 7} if mode == "constant" else {}
            padded = np.pad(ref, list(zip(before, after)), mode=mode, **kwargs)
            start = [b + p for b, p in zip(begin, before)]
            win = padded[tuple(slice(s, s + n) for s, n in zip(start, shape))]
            assert win.shape == tuple(shape)
            file = f"{name}.w{i}.{mode}.npy"
            np.save(os.path.join(out, file), np.ascontiguousarray(win))
            windows.append({"begin": begin, "shape": shape, "mode": mode, "npy": file})
    manifest[name] = {"dtype": str(ref.dtype), "shape": list(ref.shape), "windows": windows}

# Broken files.
a = em((4, 30, 40))
tifffile.imwrite(os.path.join(out, "bad_sizes.tif"), a, photometric="minisblack")
tifffile.imwrite(os.path.join(out, "bad_sizes.tif"), em((2, 20, 10)), photometric="minisblack", append=True)
for name in ["u8_plain", "u8_lzw", "u16_tiled_zlib", "u16_big_endian"]:
    b = open(os.path.join(out, name + ".tif"), "rb").read()
    open(os.path.join(out, "cut_" + name + ".tif"), "wb").write(b[: len(b) // 2])
# Garbage in one page's (one tile's) compressed data: found when it is decoded.
for name, page, chunk in [("u16_zlib_pred", 3, 0), ("u16_tiled_zlib", 1, 5)]:
    path = os.path.join(out, name + ".tif")
    with tifffile.TiffFile(path) as t:
        at = t.pages[page].dataoffsets[chunk]
    b = bytearray(open(path, "rb").read())
    b[at:at + 8] = b"\xff" * 8
    open(os.path.join(out, "corrupt_" + name + ".tif"), "wb").write(b)
open(os.path.join(out, "not_a.tif"), "wb").write(b"hello, this is no TIFF at all\n" * 4)
tifffile.imwrite(os.path.join(out, "rgb.tif"), vol((2, 10, 12, 3), np.uint8, 255), photometric="rgb")
tifffile.imwrite(os.path.join(out, "signed.tif"), vol((2, 8, 9), np.int16, 100), photometric="minisblack")
json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"))
"#;

fn python() -> String {
    std::env::var("VOXLOAD_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn run_tifffile(dir: &Path) {
    let out = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (set VOXLOAD_PYTHON to a Python with numpy, tifffile and imagecodecs): {e}",
                python()
            )
        });
    assert!(
        out.status.success(),
        "tifffile oracle failed (set VOXLOAD_PYTHON to a Python with numpy, tifffile and imagecodecs):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pad_mode(mode: &str) -> PadMode {
    match mode {
        "constant" => PadMode::Constant(7.0),
        "reflect" => PadMode::Reflect,
        "symmetric" => PadMode::Symmetric,
        "edge" => PadMode::Edge,
        other => panic!("unknown mode {other}"),
    }
}

/// Compares every window of fixture `name` with tifffile's read padded by numpy; returns the
/// number of voxels compared.
fn compare<T: Element + ReadableElement + PartialEq + std::fmt::Debug>(
    dir: &Path,
    name: &str,
    entry: &serde_json::Value,
) -> usize {
    let path = dir.join(format!("{name}.tif"));
    let any = AnyArray::open(&path, "", &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{name}: open: {e}"));
    let array = any
        .as_typed::<T>()
        .unwrap_or_else(|| panic!("{name}: not {}", T::DTYPE));
    let whole: Array3<T> = read_npy(dir.join(format!("{name}.npy"))).unwrap();
    assert_eq!(
        array.shape().map(|v| v as usize),
        whole.shape(),
        "{name}: shape"
    );
    let mut compared = 0;
    for w in entry["windows"].as_array().unwrap() {
        let coords = |key: &str| -> Vec<i64> {
            w[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        };
        let (begin, shape) = (coords("begin"), coords("shape"));
        let window = Bbox::new(
            [begin[0], begin[1], begin[2]],
            [shape[0], shape[1], shape[2]].map(|v| v as u64),
        );
        let mode = w["mode"].as_str().unwrap();
        let want: Array3<T> = read_npy(dir.join(w["npy"].as_str().unwrap())).unwrap();
        let ours = array
            .read(window, pad_mode(mode))
            .unwrap_or_else(|e| panic!("{name}: window {window:?} ({mode}): {e}"));
        let diff = ours.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            diff,
            0,
            "{name}: window {window:?} ({mode}): {diff} of {} voxels differ from tifffile + np.pad",
            want.len()
        );
        compared += want.len();
    }
    compared
}

/// `(fixture, memory-mapped, words the decoded format names)`.
const EXPECTED: [(&str, bool, &str); 17] = [
    ("u8_plain", true, ""),
    ("u16_strips", true, ""),
    ("u8_imagej", true, ""),
    ("u8_lzw", false, "TIFF, 6 pages, LZW (decoded per page)"),
    (
        "u16_zlib_pred",
        false,
        "Deflate, with predictor (decoded per page)",
    ),
    ("u8_packbits", false, "PackBits (decoded per page)"),
    ("u8_tiled", true, ""),
    (
        "u16_tiled_zlib",
        false,
        "3 pages of 16x16 tiles, Deflate (decoded per tile)",
    ),
    ("f32_plain", true, ""),
    ("f32_zlib_pred", false, "Deflate, with predictor"),
    ("u32_labels", true, ""),
    ("u64_labels_lzw", false, "LZW"),
    (
        "u16_big_endian",
        false,
        "uncompressed, big-endian (decoded per page)",
    ),
    ("u8_big_endian", true, ""),
    ("u8_single", true, ""),
    ("u16_imagej_one_ifd", true, ""),
    ("u8_many", true, ""),
];

#[test]
fn tiff_volumes_match_tifffile_in_every_pad_mode() {
    let dir = tempfile::tempdir().unwrap();
    run_tifffile(dir.path());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap())
            .unwrap();
    let mut compared = 0;
    for (name, mapped, format) in EXPECTED {
        let entry = &manifest[name];
        let path = dir.path().join(format!("{name}.tif"));
        let started = std::time::Instant::now();
        let any = AnyArray::open(&path, "", &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{name}: open: {e}"));
        let opened = started.elapsed();
        let layout = &any.meta().layout;
        eprintln!(
            "{name}: {:?} opened in {opened:?}: {}",
            any.shape(),
            layout.describe()
        );
        if mapped {
            assert_eq!(
                *layout,
                Layout::Raw,
                "{name}: not memory-mapped: {}",
                layout.describe()
            );
        } else {
            let described = layout.describe();
            assert!(
                matches!(layout, Layout::Decoded { .. }) && described.contains(format),
                "{name}: layout {described}, expected {format}"
            );
        }
        compared += match entry["dtype"].as_str().unwrap() {
            "uint8" => compare::<u8>(dir.path(), name, entry),
            "uint16" => compare::<u16>(dir.path(), name, entry),
            "uint32" => compare::<u32>(dir.path(), name, entry),
            "uint64" => compare::<u64>(dir.path(), name, entry),
            "float32" => compare::<f32>(dir.path(), name, entry),
            other => panic!("{name}: unexpected dtype {other}"),
        };
        if name == "u8_many" {
            // 3000 directories are read as tags, never decoded.
            assert!(
                opened.as_secs_f64() < 5.0,
                "{name}: opening took {opened:?}"
            );
        }
    }
    eprintln!("{compared} voxels compared with tifffile");

    // The same files through the typed, one-path entry point.
    let typed = MappedArray::<u16>::open_address(dir.path().join("u16_strips.tif")).unwrap();
    let want: Array3<u16> = read_npy(dir.path().join("u16_strips.npy")).unwrap();
    assert_eq!(
        typed
            .read(Bbox::from_shape(typed.shape()), PadMode::Reflect)
            .unwrap(),
        want
    );
    let err = MappedArray::<u8>::open_address(dir.path().join("u16_strips.tif"))
        .err()
        .expect("uint16 read as uint8");
    assert!(err.to_string().contains("uint16"), "{err}");
    // ImageJ's voxel spacing is kept.
    let imagej = AnyArray::open(
        &dir.path().join("u8_imagej.tif"),
        "",
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(imagej.meta().attributes["imagej_spacing"], 0.5);
    assert_eq!(imagej.meta().attributes["imagej_unit"], "micron");
}

/// The error opening `file` and reading all of it.
fn failure(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    let opened = AnyArray::open(&path, "", &OpenOptions::default());
    let message = match opened {
        Err(e) => e.to_string(),
        Ok(any) => {
            let array = any.as_typed::<u8>().map(|a| {
                a.read(Bbox::from_shape(a.shape()), PadMode::Edge)
                    .map(|_| ())
            });
            let array = array.unwrap_or_else(|| {
                let a = any.as_typed::<u16>().expect("u8 or u16");
                a.read(Bbox::from_shape(a.shape()), PadMode::Edge)
                    .map(|_| ())
            });
            array
                .err()
                .unwrap_or_else(|| panic!("{file}: read without error"))
                .to_string()
        }
    };
    eprintln!("{file}: {message}");
    assert!(
        message.contains(&path.display().to_string()),
        "{file}: {message}"
    );
    message
}

#[test]
fn broken_tiffs_are_typed_errors_naming_the_file_and_page() {
    let dir = tempfile::tempdir().unwrap();
    run_tifffile(dir.path());
    let d = dir.path();
    let sizes = failure(d, "bad_sizes.tif");
    assert!(
        sizes.contains("page 4") && sizes.contains("10x20") && sizes.contains("40x30"),
        "{sizes}"
    );
    for cut in ["u8_plain", "u8_lzw", "u16_tiled_zlib", "u16_big_endian"] {
        let message = failure(d, &format!("cut_{cut}.tif"));
        assert!(
            message.contains("page") && message.contains("truncated"),
            "{cut}: {message}"
        );
    }
    let zlib = failure(d, "corrupt_u16_zlib_pred.tif");
    assert!(zlib.contains("page 3: cannot decode"), "{zlib}");
    let tile = failure(d, "corrupt_u16_tiled_zlib.tif");
    assert!(
        tile.contains("page 1, tile (1, 1): cannot decode"),
        "{tile}"
    );
    let not = failure(d, "not_a.tif");
    assert!(not.contains("not a TIFF"), "{not}");
    let rgb = failure(d, "rgb.tif");
    assert!(
        rgb.contains("page 0") && rgb.contains("3 samples per pixel"),
        "{rgb}"
    );
    let signed = failure(d, "signed.tif");
    assert!(
        signed.contains("page 0") && signed.contains("int16"),
        "{signed}"
    );
    let missing = failure(d, "missing.tif");
    assert!(missing.contains("No such file"), "{missing}");
}
