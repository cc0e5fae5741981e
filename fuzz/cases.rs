//! The fuzz targets' checks, one function per target: `fuzz_targets/*.rs` hand them
//! libFuzzer's inputs, and the main crate's tests (`tests/it/fuzz_replay.rs`) replay the
//! committed corpora and crash inputs through them, so CI runs every input ever found
//! interesting without running a fuzzer.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use ndarray::Array3;
use voxload::ingest::TileSpec;
use voxload::store::ArrayMeta;
use voxload::{write_array, Bbox, Encoding, MappedArray, OpenOptions, PadMode};

// ---- config ----

/// The configuration parser: any text gives a `Config` or a typed error, never a panic.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = voxload::config::Config::from_str_at(text, "/nonexistent");
    }
}

// ---- shard_file ----

/// A store with one (8, 8, 8) u16 shard of (4, 4, 4) inner chunks, written once.
fn shard_store() -> &'static tempfile::TempDir {
    static STORE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let volume = ndarray::Array3::<u16>::from_shape_fn((8, 8, 8), |(z, y, x)| {
            (z * 64 + y * 8 + x) as u16
        });
        write_array(
            dir.path(),
            "a",
            &volume,
            [4, 4, 4],
            Encoding::ShardedRaw { shard: [8, 8, 8] },
        )
        .unwrap();
        dir
    })
}

/// The shard index reader: a shard file of any bytes reads as data or a typed error.
pub fn shard_file(data: &[u8]) {
    let dir = shard_store();
    std::fs::write(dir.path().join("a/c/0/0/0"), data).unwrap();
    // Open afresh each time: the reader caches mapped shards.
    let array = MappedArray::<u16>::open(dir.path(), "a").unwrap();
    let _ = array.read(Bbox::from_shape([8, 8, 8]), PadMode::Edge);
}

// ---- tile_json ----

/// The tile JSON parser: any bytes give a `TileSpec` or a typed error, never a panic.
pub fn tile_json(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(spec) = TileSpec::from_value(&doc, Path::new("fuzz.json"), Path::new("/nonexistent"))
    {
        // Lay out the first slice when its tile grid is small enough to list.
        let rows = spec.shape[1].div_ceil(spec.tile[0]);
        let columns = spec.shape[2].div_ceil(spec.tile[1]);
        if rows.saturating_mul(columns) <= 4096 {
            let _ = spec.tiles(0);
        }
    }
}

// ---- window ----

const DIMS: [usize; 3] = [5, 6, 7];

fn volume() -> Array3<u16> {
    Array3::from_shape_fn((DIMS[0], DIMS[1], DIMS[2]), |(z, y, x)| {
        (z * 100 + y * 10 + x) as u16
    })
}

fn window_arrays() -> &'static (tempfile::TempDir, Vec<MappedArray<u16>>) {
    static ARRAYS: OnceLock<(tempfile::TempDir, Vec<MappedArray<u16>>)> = OnceLock::new();
    ARRAYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let v = volume();
        write_array(dir.path(), "raw", &v, [2, 4, 3], Encoding::Raw).unwrap();
        write_array(
            dir.path(),
            "sharded",
            &v,
            [1, 2, 3],
            Encoding::ShardedRaw { shard: [2, 4, 6] },
        )
        .unwrap();
        let arrays = ["raw", "sharded"]
            .iter()
            .map(|n| MappedArray::open(dir.path(), n).unwrap())
            .collect();
        (dir, arrays)
    })
}

/// numpy's index for coordinate `i` on an axis of length `n`, or `None` for constant padding.
fn source(i: i64, n: i64, mode: PadMode) -> Option<i64> {
    if (0..n).contains(&i) {
        return Some(i);
    }
    match mode {
        PadMode::Constant(_) => None,
        PadMode::Edge => Some(i.clamp(0, n - 1)),
        PadMode::Reflect if n == 1 => Some(0),
        PadMode::Reflect => {
            let period = 2 * (n - 1);
            let m = i.rem_euclid(period);
            Some(if m < n { m } else { period - m })
        }
        PadMode::Symmetric => {
            let m = i.rem_euclid(2 * n);
            Some(if m < n { m } else { 2 * n - 1 - m })
        }
    }
}

/// The window reader: arbitrary windows and pad modes on small raw and sharded arrays equal a
/// voxel-by-voxel oracle, or are typed errors for absurd sizes; never a panic.
pub fn window(data: &[u8]) {
    if data.len() < 8 {
        return;
    }
    let (dir_and_arrays, v) = (window_arrays(), volume());
    let array = &dir_and_arrays.1[usize::from(data[0] & 1)];
    let mode = match data[1] % 4 {
        0 => PadMode::Constant(f64::from(data[2])),
        1 => PadMode::Reflect,
        2 => PadMode::Symmetric,
        _ => PadMode::Edge,
    };
    let begin = [0, 1, 2].map(|a| i64::from(data[2 + a] as i8) * 3);
    let shape = [0, 1, 2].map(|a| u64::from(data[5 + a] % 24));
    let window = Bbox::new(begin, shape);
    let got = array.read(window, mode).unwrap();
    let cval = mode.constant().unwrap_or(0.0) as u16;
    for ((z, y, x), &value) in got.indexed_iter() {
        let at = [z, y, x];
        let mut src = [0usize; 3];
        let mut inside = true;
        for a in 0..3 {
            match source(begin[a] + at[a] as i64, DIMS[a] as i64, mode) {
                Some(s) => src[a] = s as usize,
                None => inside = false,
            }
        }
        let want = if inside { v[src] } else { cval };
        assert_eq!(value, want, "window {window:?} {mode:?} at {at:?}");
    }
}

// ---- zarr_meta ----

/// The Zarr metadata reader: any `zarr.json` gives `ArrayMeta` or a typed error, and an array
/// that opens reads a window without panicking.
pub fn zarr_meta(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let array = dir.path().join("a");
    std::fs::create_dir(&array).unwrap();
    std::fs::write(array.join("zarr.json"), data).unwrap();
    let Ok(meta) = ArrayMeta::read(&array) else {
        return;
    };
    // Only open arrays small enough to read whole.
    if meta.shape.iter().product::<u64>() > 1 << 16 || meta.chunk.iter().product::<u64>() > 1 << 16
    {
        return;
    }
    let options = OpenOptions {
        allow_incomplete: true,
        ..OpenOptions::default()
    };
    if let Ok(a) = MappedArray::<u8>::open_with(dir.path(), "a", &options) {
        let _ = a.read(Bbox::from_shape(meta.shape), PadMode::Reflect);
    }
}

// ---- array_name ----

/// Array-name checking: a name that a writer accepts resolves strictly below the store's root,
/// through plain components only, and checking never panics.
pub fn array_name(data: &[u8]) {
    let name = String::from_utf8_lossy(data);
    if voxload::store::check_array_name(&name).is_err() {
        return;
    }
    let root = Path::new("/store.zarr");
    let dir = voxload::store::array_dir(root, &name);
    let below: Vec<_> = dir.strip_prefix(root).unwrap().components().collect();
    assert!(!below.is_empty(), "{name:?} names the root");
    assert_eq!(below.len(), name.split('/').count(), "{name:?}");
    for c in below {
        assert!(
            matches!(c, std::path::Component::Normal(_)),
            "{name:?} has component {c:?}"
        );
    }
}

// ---- options ----

/// Command-line value parsing (triples, pad modes, codecs): any text is a value or a typed
/// error; a parsed pad mode or codec prints as text that parses back to itself.
pub fn options(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = voxload::geometry::parse_triple::<i64>(&text);
    let _ = voxload::geometry::parse_triple::<u64>(&text);
    if let Ok(pad) = text.parse::<PadMode>() {
        let again: PadMode = pad.to_string().parse().unwrap();
        assert_eq!(again.to_string(), pad.to_string(), "{text:?}");
        if let Some(v) = pad.constant() {
            assert!(v.is_finite(), "{text:?} gave a non-finite constant");
        }
    }
    if let Ok(codec) = text.parse::<Encoding>() {
        assert!(
            matches!(codec, Encoding::Raw | Encoding::Zstd { .. }),
            "{text:?}"
        );
    }
}

// ---- zstd_chunk ----

/// A store with one (8, 8, 8) u16 array of zstd chunks (8, 8, 8) and one of zstd-compressed
/// inner chunks in (8, 8, 8) shards, written once.
fn zstd_store() -> &'static tempfile::TempDir {
    static STORE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let volume =
            Array3::<u16>::from_shape_fn((8, 8, 8), |(z, y, x)| (z * 64 + y * 8 + x) as u16);
        write_array(
            dir.path(),
            "z",
            &volume,
            [8, 8, 8],
            Encoding::Zstd { level: 3 },
        )
        .unwrap();
        dir
    })
}

/// The decoding path's size bounds: a chunk file of any bytes in a zstd array (a frame that
/// declares any size, a bomb, garbage) reads as data or a typed error, with memory bounded by
/// the chunk's size — never a panic or an abort (libFuzzer's `-rss_limit_mb` catches a blow-up).
pub fn zstd_chunk(data: &[u8]) {
    let dir = zstd_store();
    std::fs::write(dir.path().join("z/c/0/0/0"), data).unwrap();
    let array = MappedArray::<u16>::open(dir.path(), "z").unwrap();
    if let Ok(window) = array.read(Bbox::from_shape([8, 8, 8]), PadMode::Edge) {
        assert_eq!(window.len(), 512);
    }
}
