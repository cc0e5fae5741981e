//! Sizes that used to crash or explode (issue 13): chunk shapes, option and configuration
//! values that reach an allocation, pad and fill values, ranks, and rejection settings no
//! candidate can pass. Binaries run under a memory limit and a deadline; every failure must be
//! a clean error naming the option or key, and nothing beside the target may change.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use serde_json::json;
use voxload::augment::{Compose, Elastic, MotionBlur, Transform};
use voxload::config::Config;
use voxload::ingest::{Ingest, IngestError, MANY_FILES, MAX_CHUNK_BYTES};
use voxload::loader::{Loader, Mode};
use voxload::sampler::{
    ArrayNames, ForegroundIndex, Grid, RandomSampler, Rejection, SampleVolume, Volume,
    WindowSettings, DEFAULT_BLOCK, QUICK_TRIALS,
};
use voxload::store::{AnyArray, ArrayMeta};
use voxload::{write_array, DType, Encoding, Error, OpenOptions, PadMode};

use crate::util::{run_bounded, tree_hash, Bounded};

/// Runs `bin` under 1 GiB of address space and a 60 s deadline.
fn bounded(bin: &str, args: &[&str]) -> Bounded {
    run_bounded(bin, args, 1024, 60)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A 4 x 64 x 64 uint8 tile dataset of 32-pixel tiles; its JSON's path.
fn tile_set(dir: &Path) -> PathBuf {
    let folder = dir.join("tiles");
    voxload::synth::write_tile_dataset(&folder, [4, 64, 64], 32, voxload::synth::TileFormat::Png, 1)
        .unwrap()
}

/// A hand-written tile JSON (its tiles need not exist: the checks come first).
fn tile_json(dir: &Path, name: &str, spec: &serde_json::Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

/// A store beside the target whose bytes must not change.
fn sibling(dir: &Path) -> (PathBuf, std::collections::BTreeMap<String, u64>) {
    let store = dir.join("sibling.zarr");
    let data = Array3::from_shape_fn((4, 8, 8), |(z, y, x)| (z + y + x) as u8);
    write_array(&store, "image", &data, [2, 8, 8], Encoding::Raw).unwrap();
    let hash = tree_hash(&store);
    (store, hash)
}

/// A store with a 16 x 64 x 64 `image` array, and a configuration file over it with `extra`
/// merged in (`DATASET.INPUT_PATH` points at the store).
fn config_file(dir: &Path, extra: &serde_json::Value) -> PathBuf {
    let store = dir.join("em.zarr");
    if !store.exists() {
        let data = Array3::from_shape_fn((16, 64, 64), |(z, y, x)| ((z * 7 + y + x) % 251) as u8);
        write_array(&store, "image", &data, [8, 32, 32], Encoding::Raw).unwrap();
    }
    let mut cfg = json!({
        "DATASET": {"INPUT_PATH": "em.zarr", "IMAGE_NAME": "image", "PAD_SIZE": [0, 0, 0]},
        "MODEL": {"INPUT_SIZE": [4, 32, 32]},
        "AUGMENTOR": {"ENABLED": false},
    });
    merge(&mut cfg, extra);
    let path = dir.join("config.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    path
}

fn merge(into: &mut serde_json::Value, from: &serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, value) => *slot = value.clone(),
    }
}

// ---- Chunk and shard shapes -------------------------------------------------------------

#[test]
fn ingest_chunk_larger_than_the_volume_is_clipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = tile_set(dir.path());
    let (sib, before) = sibling(dir.path());
    for (chunk, want) in [
        ("64,64,64", [4, 64, 64]),
        ("18446744073709551615,32,32", [4, 32, 32]),
        ("1,100000,100000", [1, 64, 64]),
    ] {
        let out = dir.path().join(format!("out-{}.zarr", chunk.len()));
        let run = bounded("ingest", &[s(&input), s(&out), "--chunk", chunk, "--quiet"]);
        assert_eq!(run.code, Some(0), "--chunk {chunk}: {}", run.text);
        let meta = ArrayMeta::read(&out.join("image")).unwrap();
        assert_eq!(meta.chunk, want, "--chunk {chunk}");
        let bytes: u64 = walk_sizes(&out.join("image"));
        // 16 KiB of voxels; clipped chunks add only metadata, never padding beyond the volume.
        assert!(
            bytes < 4 * 64 * 64 + 64 * 1024,
            "--chunk {chunk}: {bytes} bytes"
        );
    }
    assert_eq!(tree_hash(&sib), before);
}

/// The bytes of the regular files under `dir`.
fn walk_sizes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                walk_sizes(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn ingest_shard_larger_than_the_volume_is_clipped_to_a_chunk_multiple() {
    let dir = tempfile::tempdir().unwrap();
    let input = tile_set(dir.path());
    let out = dir.path().join("out.zarr");
    let args = [
        s(&input),
        s(&out),
        "--chunk",
        "2,48,48",
        "--shard",
        "1000,1008,1008",
    ];
    let run = bounded("ingest", &[&args[..], &["--quiet"]].concat());
    assert_eq!(run.code, Some(0), "{}", run.text);
    // The shard is the volume rounded up to the chunk: [4, 96, 96].
    let image = voxload::MappedArray::<u8>::open(&out, "image").unwrap();
    let all = image
        .read(voxload::Bbox::from_shape([4, 64, 64]), PadMode::default())
        .unwrap();
    assert_eq!(all[[3, 63, 63]], voxload::synth::intensity(3, 63, 63, 1));
    assert!(walk_sizes(&out.join("image")) < 4 * 96 * 96 + 64 * 1024);
}

#[test]
fn ingest_zero_chunk_or_shard_extent_is_an_error_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let input = tile_set(dir.path());
    let (sib, before) = sibling(dir.path());
    let out = dir.path().join("out.zarr");
    // The library's message names its option; the command line adds the flag.
    for (option, value, name) in [
        ("--chunk", "0,16,16", "`Ingest::chunk` [0, 16, 16]"),
        ("--chunk", "4,0,16", "`Ingest::chunk` [4, 0, 16]"),
        ("--shard", "0,32,32", "`Ingest::shard` [0, 32, 32]"),
    ] {
        let mut args = vec![s(&input), s(&out), option, value];
        if option == "--shard" {
            args.extend(["--chunk", "2,32,32"]);
        }
        let flag = format!("is {option} on the command line");
        bounded("ingest", &args).assert_clean_error(&[name, "at least 1", &flag]);
        assert!(
            !out.join("image").join("zarr.json").exists(),
            "{option} {value}"
        );
    }
    assert_eq!(tree_hash(&sib), before);
}

#[test]
fn ingest_chunk_file_above_the_limit_is_refused_with_an_override() {
    let dir = tempfile::tempdir().unwrap();
    // A declared 1 x 50000 x 50000 slice (the tile is never read: the checks come first).
    let spec = json!({"depth": 1, "height": 50000, "width": 50000, "tile_size": 50000,
                      "image": ["{row}_{column}.png"], "dtype": "uint8"});
    let input = tile_json(dir.path(), "big.json", &spec);
    let out = dir.path().join("out.zarr");
    let run = bounded("ingest", &[s(&input), s(&out), "--chunk", "1,50000,50000"]);
    run.assert_clean_error(&[
        "`Ingest::chunk` [1, 50000, 50000]",
        "2500000000 bytes",
        "--max-chunk-bytes",
    ]);
    // Raised: the shape passes, and the slab that cannot be allocated is a clean error too.
    let args = [
        s(&input),
        s(&out),
        "--chunk",
        "1,50000,50000",
        "--max-chunk-bytes",
        "3000000000",
    ];
    let run = bounded("ingest", &args);
    run.assert_clean_error(&["slab"]);
    assert!(!run.text.contains("--max-chunk-bytes"), "{}", run.text);
    // The library: the same check, the same override.
    let job = Ingest::new(&input, &out).chunk([1, 50000, 50000]);
    match job.check_layout([1, 50000, 50000], DType::U8) {
        Err(IngestError::Options { reason: m, .. }) => {
            assert!(m.contains(&MAX_CHUNK_BYTES.to_string()), "{m}")
        }
        other => panic!("{other:?}"),
    }
    let raised = job.max_chunk_bytes(u64::MAX);
    assert_eq!(
        raised.check_layout([1, 50000, 50000], DType::U8).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn ingest_warns_before_writing_millions_of_files() {
    let job = Ingest::new("in.json", "out.zarr").chunk([1, 1, 1]);
    let warnings = job.check_layout([1, 2000, 2000], DType::U8).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("4000000 chunk files"), "{warnings:?}");
    const { assert!(MANY_FILES < 4_000_000) };
    let sharded = job.shard(Some([1, 1000, 1000]));
    assert!(sharded
        .check_layout([1, 2000, 2000], DType::U8)
        .unwrap()
        .is_empty());
    // The CLI prints the library's warning before it starts (here the tiles are missing).
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({"depth": 1, "height": 2000, "width": 2000, "tile_size": 1000,
                      "image": ["missing/{row}_{column}.png"], "dtype": "uint8"});
    let input = tile_json(dir.path(), "many.json", &spec);
    let out = dir.path().join("out.zarr");
    let run = bounded("ingest", &[s(&input), s(&out), "--chunk", "1,1,1"]);
    run.assert_clean_error(&[
        "warning: `Ingest::chunk` (--chunk) [1, 1, 1] makes 4000000 chunk files",
        "missing",
    ]);
}

// ---- Tile layouts -----------------------------------------------------------------------

#[test]
fn tile_json_huge_ratio_or_tile_count_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let input = tile_set(dir.path());
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    spec["tile_ratio"] = json!(1e6);
    let ratio = tile_json(input.parent().unwrap(), "ratio.json", &spec);
    let out = dir.path().join("out.zarr");
    bounded("ingest", &[s(&ratio), s(&out)]).assert_clean_error(&["tile_ratio", "1000000"]);
    // One-pixel tiles over an 8192 x 8192 slice: 67 million tiles per slice.
    let pixels = json!({"depth": 1, "height": 8192, "width": 8192, "tile_size": 1,
                        "image": ["t/{row}_{column}.png"], "dtype": "uint8"});
    let pixels = tile_json(dir.path(), "pixels.json", &pixels);
    bounded("ingest", &[s(&pixels), s(&out)]).assert_clean_error(&["tile_size", "67108864"]);
    assert!(!out.join("image").exists());
}

#[test]
fn tile_larger_than_its_ratio_allows_is_refused_before_resizing() {
    // tile_ratio 16 over 64-pixel tiles expects 4-pixel source tiles; the 32-pixel tiles found
    // would resize to 512 pixels: a size error, computed before the resize allocates.
    let dir = tempfile::tempdir().unwrap();
    let input = tile_set(dir.path());
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    spec["tile_ratio"] = json!(16);
    spec["tile_size"] = json!(32);
    let path = tile_json(input.parent().unwrap(), "x16.json", &spec);
    let out = tempfile::tempdir().unwrap();
    let err = Ingest::new(&path, out.path().join("o.zarr"))
        .threads(Some(1))
        .run()
        .unwrap_err();
    match err {
        Error::Ingest(IngestError::TileSize { found, .. }) => {
            assert_eq!(found, [512, 512])
        }
        other => panic!("{other:?}"),
    }
}

// ---- Fill and pad values ----------------------------------------------------------------

#[test]
fn ingest_allow_missing_fill_must_fit_the_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let input = tile_set(dir.path());
    std::fs::remove_file(input.parent().unwrap().join("0001/0_1.png")).unwrap();
    let out = dir.path().join("out.zarr");
    for fill in ["NaN", "256", "-1", "0.5"] {
        let flag = format!("--allow-missing={fill}");
        let run = bounded("ingest", &[s(&input), s(&out), &flag]);
        run.assert_clean_error(&["allow_missing", "uint8"]);
        assert!(!out.join("image").join("zarr.json").exists(), "{fill}");
    }
    let run = bounded(
        "ingest",
        &[s(&input), s(&out), "--allow-missing=7", "--quiet"],
    );
    assert_eq!(run.code, Some(0), "{}", run.text);
    let image = voxload::MappedArray::<u8>::open(&out, "image").unwrap();
    let v = image.read(
        voxload::Bbox::new([1, 0, 40], [1, 1, 1]),
        PadMode::default(),
    );
    assert_eq!(v.unwrap()[[0, 0, 0]], 7);
}

#[test]
fn pad_constant_must_be_finite() {
    for text in ["constant:NaN", "constant:inf", "constant:-inf"] {
        match text.parse::<PadMode>() {
            Err(Error::Parse { reason, .. }) => assert!(reason.contains("finite"), "{reason}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = sibling(dir.path());
    let address = store.join("image");
    let npy = dir.path().join("w.npy");
    let args = [
        "window",
        s(&address),
        "--start",
        "-1,0,0",
        "--shape",
        "2,2,2",
    ];
    let run = bounded(
        "voxload",
        &[&args[..], &["--pad", "constant:NaN", "--out", s(&npy)]].concat(),
    );
    run.assert_clean_error(&["constant:NaN", "finite"]);
    let run = bounded(
        "voxload",
        &[&args[..], &["--pad", "constant:300", "--out", s(&npy)]].concat(),
    );
    run.assert_clean_error(&["--pad constant:300", "uint8"]);
    assert!(!npy.exists());
}

// ---- voxload options ----------------------------------------------------------------------

#[test]
fn voxload_sizes_and_seconds_are_range_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (store, before) = sibling(dir.path());
    let address = store.join("image");
    let a = s(&address);
    let npy = dir.path().join("w.npy");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec![
                "window",
                a,
                "--start",
                "0,0,0",
                "--shape",
                "4000000000,1,1",
                "--out",
                s(&npy),
            ],
            vec!["--shape [4000000000, 1, 1]", "4000000000 bytes"],
        ),
        (
            vec![
                "window",
                a,
                "--start",
                "9223372036854775807,0,0",
                "--shape",
                "1,1,1",
                "--out",
                s(&npy),
            ],
            vec!["--start"],
        ),
        (
            vec!["bench", "read", a, "--memcpy-source-gib", "1e12"],
            vec!["--memcpy-source-gib"],
        ),
        (
            vec!["bench", "read", a, "--seconds", "nan"],
            vec!["--seconds NaN"],
        ),
        (
            vec!["bench", "read", a, "--seconds=-1"],
            vec!["--seconds -1"],
        ),
    ];
    for (args, names) in &cases {
        bounded("voxload", args).assert_clean_error(names);
    }
    assert!(!npy.exists());
    assert_eq!(tree_hash(&store), before);
    let tiles = dir.path().join("t");
    let run = bounded(
        "voxload",
        &[
            "synth",
            s(&tiles),
            "--tiles",
            "png",
            "--tile",
            "0",
            "--volume",
            "2,8,8",
        ],
    );
    run.assert_clean_error(&["--tile 0"]);
    let e = voxload::synth::write_tile_dataset(
        &tiles,
        [2, 8, 8],
        0,
        voxload::synth::TileFormat::Png,
        0,
    );
    assert_eq!(e.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn sample_and_bench_loader_check_seconds_rank_and_world_size() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &json!({}));
    let out = dir.path().join("samples");
    let c = s(&cfg);
    bounded(
        "voxload",
        &["bench", "loader", "--config", c, "--seconds", "nan"],
    )
    .assert_clean_error(&["--seconds NaN"]);
    bounded(
        "voxload",
        &["bench", "augment", "--config", c, "--seconds", "nan"],
    )
    .assert_clean_error(&["--seconds NaN"]);
    bounded(
        "voxload",
        &[
            "sample",
            "--config",
            c,
            "--out",
            s(&out),
            "--world-size",
            "0",
        ],
    )
    .assert_clean_error(&["world_size", "--world-size"]);
    bounded(
        "voxload",
        &[
            "sample",
            "--config",
            c,
            "--out",
            s(&out),
            "--rank",
            "2",
            "--world-size",
            "2",
        ],
    )
    .assert_clean_error(&["rank", "2"]);
    assert!(!out.exists());
    // The library's builder refuses them too, in both modes.
    let volume = Volume::open(
        0,
        &dir.path().join("em.zarr"),
        &ArrayNames::new("image"),
        &OpenOptions::default(),
    )
    .unwrap();
    let compose = Compose::disabled([4, 32, 32], [] as [(&str, _); 0]).unwrap();
    let b = Loader::builder(vec![volume], compose).pad([0, 0, 0]);
    for mode in [Mode::Train, Mode::Grid] {
        for (rank, world, key) in [(0, 0, "world_size"), (2, 2, "rank")] {
            match b.clone().mode(mode).rank(rank, world).build() {
                Err(Error::Config { key: k, .. }) => assert_eq!(k, key),
                Err(other) => panic!("{other}"),
                Ok(_) => panic!("rank {rank} of {world} accepted"),
            }
        }
    }
    match b.clone().workers(100_000).build_prefetch() {
        Err(Error::Config { key, reason }) => {
            assert_eq!(key, "SYSTEM.NUM_CPUS");
            assert!(reason.contains("100000"), "{reason}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("100000 workers accepted"),
    }
    assert!(b.rank(1, 2).build().is_ok());
}

// ---- Configuration values -------------------------------------------------------------------

#[test]
fn config_sizes_that_reach_an_allocation_are_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("samples");
    let cases = [
        (
            json!({"SYSTEM": {"NUM_CPUS": 100000}}),
            "SYSTEM.NUM_CPUS",
            "train",
        ),
        (
            json!({"SOLVER": {"SAMPLES_PER_BATCH": 100000}}),
            "SOLVER.SAMPLES_PER_BATCH",
            "train",
        ),
        (
            json!({"AUGMENTOR": {"ENABLED": true, "ELASTIC": {"SIGMA": 1e12, "P": 1}}}),
            "AUGMENTOR.ELASTIC.SIGMA",
            "train",
        ),
        (
            json!({"AUGMENTOR": {"ENABLED": true, "MOTIONBLUR": {"KERNEL_SIZE": 1e12, "P": 1}}}),
            "AUGMENTOR.MOTIONBLUR.KERNEL_SIZE",
            "train",
        ),
        (
            json!({"MODEL": {"INPUT_SIZE": [i64::MAX, 1, 1]}}),
            "MODEL.INPUT_SIZE",
            "grid",
        ),
        (
            json!({"MODEL": {"INPUT_SIZE": [1, 1u64 << 31, 1u64 << 31]}}),
            "MODEL.INPUT_SIZE",
            "grid",
        ),
        (
            json!({"DATASET": {"PAD_SIZE": [1e15, 1, 1]}}),
            "DATASET.PAD_SIZE",
            "grid",
        ),
        (
            json!({"DATASET": {"REJECT_SAMPLING": {"NUM_TRIAL": 1e9}}}),
            "DATASET.REJECT_SAMPLING.NUM_TRIAL",
            "train",
        ),
        (
            json!({"AUGMENTOR": {"ENABLED": true, "ELASTIC": {"ALPHA": 1e6}}}),
            "MODEL.INPUT_SIZE",
            "train",
        ),
    ];
    for (extra, key, mode) in cases {
        let cfg = config_file(dir.path(), &extra);
        let args = [
            "sample",
            "--config",
            s(&cfg),
            "--mode",
            mode,
            "--out",
            s(&out),
            "--count",
            "2",
        ];
        bounded("voxload", &args).assert_clean_error(&[key]);
        match Config::from_file(&cfg) {
            Err(Error::Config { key: k, .. }) => assert_eq!(k, key, "{extra}"),
            other => panic!("{extra}: {other:?}"),
        }
    }
    assert!(!out.exists());
}

#[test]
fn batch_that_cannot_be_allocated_is_an_error_not_an_abort() {
    // Within the configuration's limits, but 65536 x 4 x 32 x 32 float32 is 1 GiB: more than
    // the address space the run leaves.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &json!({"SOLVER": {"SAMPLES_PER_BATCH": 65536}}));
    let out = dir.path().join("samples");
    let args = [
        "sample",
        "--config",
        s(&cfg),
        "--out",
        s(&out),
        "--count",
        "2",
    ];
    bounded("voxload", &args).assert_clean_error(&["SOLVER.SAMPLES_PER_BATCH", "1073741824 bytes"]);
}

#[test]
fn transforms_refuse_kernels_too_large_to_allocate() {
    let blur = MotionBlur {
        p: 1.0,
        kernel_size: 1_000_000_000_000,
        ..MotionBlur::default()
    };
    let elastic = Elastic {
        sigma: 1e12,
        ..Elastic::default()
    };
    for t in [Box::new(blur) as Box<dyn Transform>, Box::new(elastic)] {
        let name = t.name();
        match Compose::new(vec![t], [4, 32, 32], [] as [(&str, _); 0]) {
            Err(Error::Augment(m)) => assert!(m.contains(name), "{m}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn grid_of_absurd_size_is_an_error() {
    let err = Grid::new(vec![[1 << 40, 1 << 40, 1 << 40]], [1, 1, 1], [1, 1, 1]).unwrap_err();
    assert!(err.to_string().contains("windows"), "{err}");
    let grid = Grid::new(vec![[10, 10, 10]], [4, 4, 4], [3, 3, 3]).unwrap();
    assert_eq!(grid.rank_items(0, 1).unwrap().len(), 27);
}

// ---- Rejection sampling that cannot succeed ------------------------------------------------

fn windows() -> WindowSettings {
    WindowSettings {
        sample: [2, 4, 4],
        input: [2, 4, 4],
        pad: [0; 3].into(),
        pad_mode: PadMode::Reflect,
    }
}

fn labelled(dir: &Path, foreground: bool) -> SampleVolume {
    let label = Array3::from_shape_fn((8, 16, 16), |(_, _, x)| u16::from(foreground && x < 2));
    write_array(dir, "seg", &label, [4, 8, 8], Encoding::Raw).unwrap();
    let label = AnyArray::open(dir, "seg", &OpenOptions::default()).unwrap();
    SampleVolume {
        shape: [8, 16, 16],
        label: Some(std::sync::Arc::new(label)),
        valid_mask: None,
    }
}

#[test]
fn unsatisfiable_rejection_with_many_trials_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let huge = Rejection {
        size_thres: 1000, // the input window has 32 voxels
        p: 1.0,
        num_trial: u32::MAX,
        ..Rejection::default()
    };
    let err = RandomSampler::new(vec![labelled(dir.path(), true)], windows(), huge)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("SIZE_THRES 1000"), "{err}");
    assert!(err.to_string().contains("NUM_TRIAL"), "{err}");
    // A label with no foreground at all, seen through its foreground index.
    let empty = labelled(&dir.path().join("empty"), false);
    let index = ForegroundIndex::build(empty.label.as_ref().unwrap(), DEFAULT_BLOCK).unwrap();
    let one = Rejection {
        size_thres: 1,
        ..huge
    };
    let sampler = RandomSampler::new(vec![empty], windows(), one).unwrap();
    let err = sampler
        .with_foreground_index(0, index)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("no foreground"), "{err}");
    // Controls: a satisfiable setting, and few trials (the forced draw of PyTC), are accepted.
    let fine = RandomSampler::new(vec![labelled(&dir.path().join("a"), true)], windows(), one);
    assert!(fine.is_ok());
    let few = Rejection {
        num_trial: QUICK_TRIALS,
        ..huge
    };
    let sampler = RandomSampler::new(vec![labelled(&dir.path().join("b"), true)], windows(), few);
    assert!(sampler.unwrap().draw(0, 0, 0).unwrap().forced);
}
