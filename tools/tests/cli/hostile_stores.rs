//! Hostile and unlucky stores and inputs (issue 13): sizes that overflow or explode, zstd
//! frames and shard indexes that lie, files that are not files, duplicate keys, symlink loops,
//! long TIFF stacks and lying `.npy` headers. Each ends in a typed error naming the file (or
//! in correct behaviour), within a deadline and, through the binaries, a memory limit.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use voxload::image::{decode_file, Content};
use voxload::ingest::{IngestError, Input, TileSpec};
use voxload::store::{list_arrays, verify::verify};
use voxload::{Bbox, Error, MappedArray, PadMode};

use crate::bad_corpus::watchdog;
use crate::util::run_bounded;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A store at `DIR/s.zarr` (a root group) holding array `a` with `codecs`.
fn store_with(dir: &Path, shape: [u64; 3], chunk: [u64; 3], codecs: Value) -> PathBuf {
    let store = dir.join("s.zarr");
    std::fs::create_dir_all(store.join("a")).unwrap();
    let group = json!({"zarr_format": 3, "node_type": "group", "attributes": {}});
    std::fs::write(store.join("zarr.json"), group.to_string()).unwrap();
    let array = json!({
        "zarr_format": 3, "node_type": "array", "shape": shape, "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0, "codecs": codecs, "attributes": {},
    });
    std::fs::write(store.join("a/zarr.json"), array.to_string()).unwrap();
    store
}

fn raw() -> Value {
    json!([{"name": "bytes"}])
}

fn zstd() -> Value {
    json!([{"name": "bytes"}, {"name": "zstd", "configuration": {"level": 3, "checksum": false}}])
}

fn sharded_zstd() -> Value {
    json!([{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [4, 4, 4],
        "codecs": zstd(),
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
        "index_location": "end",
    }}])
}

/// Writes `bytes` as chunk `c/0/0/0` of array `a`.
fn put_chunk(store: &Path, bytes: &[u8]) -> PathBuf {
    let path = store.join("a/c/0/0/0");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(path);
    let c = std::ffi::CString::new(s(path)).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let made = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(made, 0, "mkfifo {path:?}");
}

/// A zstd frame whose header declares `size` decoded bytes (its one block decodes to 1 byte).
fn zstd_declaring(size: u64) -> Vec<u8> {
    let mut f = 0xFD2F_B528u32.to_le_bytes().to_vec();
    f.push(0xE0); // 8-byte content size, single segment
    f.extend_from_slice(&size.to_le_bytes());
    f.extend_from_slice(&[0x0B, 0, 0, 7]); // last RLE block of 1 byte
    f
}

/// A zstd "bomb": one frame declaring no size, of `blocks` RLE blocks of 128 KiB each
/// (4 bytes each in the file).
fn zstd_bomb(blocks: u32) -> Vec<u8> {
    let mut f = 0xFD2F_B528u32.to_le_bytes().to_vec();
    f.extend_from_slice(&[0x00, 0x38]); // no content size; window 128 KiB
    for b in 0..blocks {
        let header = (131_072u32 << 3) | 2 | u32::from(b + 1 == blocks);
        f.extend_from_slice(&header.to_le_bytes()[..3]);
        f.push(0);
    }
    f
}

/// Reads all of array `a` under the watchdog.
fn read_a(store: &Path) -> voxload::Result<ndarray::Array3<u8>> {
    let store = store.to_path_buf();
    watchdog("read", move || {
        let a = MappedArray::<u8>::open(&store, "a")?;
        let shape = a.shape();
        a.read(
            Bbox::new(
                [0, 0, 0],
                [shape[0].min(8), shape[1].min(8), shape[2].min(8)],
            ),
            PadMode::default(),
        )
    })
}

/// `voxload window` of the first (4, 4, 4) voxels of `STORE/a` under 1 GiB and 30 s.
fn window_bin(store: &Path) -> crate::util::Bounded {
    let out = store.parent().unwrap().join("w.npy");
    let address = store.join("a");
    run_bounded(
        "voxload",
        &[
            "window",
            s(&address),
            "--start",
            "0,0,0",
            "--shape",
            "4,4,4",
            "--out",
            s(&out),
        ],
        1024,
        30,
    )
}

#[test]
fn chunk_shape_overflowing_u64_is_refused_by_reader_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), [4, 4, 4], [1 << 32, 1 << 32, 1 << 32], raw());
    let e = read_a(&store).unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported { path, reason } if path.ends_with("a") && reason.contains("chunk shape")),
        "{e}"
    );
    let report = verify(&store, None).unwrap();
    assert!(!report.is_clean(), "{report:?}");
    let problem = report.problems().next().unwrap();
    assert!(problem.path.ends_with("a/zarr.json"), "{problem}");
    run_bounded("voxload", &["verify", s(&store)], 1024, 30)
        .assert_clean_error(&["a/zarr.json", "chunk shape"]);
    window_bin(&store).assert_clean_error(&["chunk shape"]);
}

/// A sharded+zstd shard whose index puts inner chunk 1 at `u64::MAX - 8` (checksum valid).
fn hostile_shard(dir: &Path) -> (PathBuf, PathBuf) {
    let store = store_with(dir, [8, 8, 8], [8, 8, 8], sharded_zstd());
    let inner = zstd::bulk::compress(&[7u8; 64], 3).unwrap();
    let mut index = Vec::new();
    for i in 0..8u64 {
        let (offset, n) = match i {
            0 => (0, inner.len() as u64),
            1 => (u64::MAX - 8, inner.len() as u64),
            _ => (u64::MAX, u64::MAX),
        };
        index.extend_from_slice(&offset.to_le_bytes());
        index.extend_from_slice(&n.to_le_bytes());
    }
    let crc = crc32c::crc32c(&index);
    let mut shard = inner.clone();
    shard.extend_from_slice(&index);
    shard.extend_from_slice(&crc.to_le_bytes());
    let path = put_chunk(&store, &shard);
    (store, path)
}

#[test]
fn sharded_zstd_index_near_u64_max_is_an_error_naming_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = hostile_shard(dir.path());
    let e = read_a(&store).unwrap_err().to_string();
    assert!(e.contains("a/c/0/0/0") && e.contains("past the end"), "{e}");
    window_bin(&store).assert_clean_error(&["a/c/0/0/0", "past the end"]);
    // verify checks the indexes of shards zarrs decodes too.
    let report = verify(&store, None).unwrap();
    let problem = report.problems().next().expect("a problem");
    assert!(
        problem.path.ends_with("a/c/0/0/0") && problem.reason.contains("past the end"),
        "{problem}"
    );
}

#[test]
fn a_good_sharded_zstd_array_still_reads_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), [8, 8, 8], [8, 8, 8], sharded_zstd());
    let inner = zstd::bulk::compress(&[7u8; 64], 3).unwrap();
    let mut index = Vec::new();
    for i in 0..8u64 {
        let (offset, n) = if i == 0 {
            (0, inner.len() as u64)
        } else {
            (u64::MAX, u64::MAX)
        };
        index.extend_from_slice(&offset.to_le_bytes());
        index.extend_from_slice(&n.to_le_bytes());
    }
    let crc = crc32c::crc32c(&index);
    let mut shard = inner;
    shard.extend_from_slice(&index);
    shard.extend_from_slice(&crc.to_le_bytes());
    put_chunk(&store, &shard);
    let w = read_a(&store).unwrap();
    assert_eq!(w[[0, 0, 0]], 7);
    assert_eq!(w[[7, 7, 7]], 0);
    let report = verify(&store, None).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.arrays[0].decoded, 1);
}

#[test]
fn zstd_frame_declaring_2_pow_60_bytes_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), [4, 4, 4], [4, 4, 4], zstd());
    put_chunk(&store, &zstd_declaring(1 << 60));
    let e = read_a(&store).unwrap_err().to_string();
    assert!(
        e.contains("a/c/0/0/0") && e.contains("more than 64 bytes"),
        "{e}"
    );
    window_bin(&store).assert_clean_error(&["a/c/0/0/0", "zstd"]);
    let report = verify(&store, None).unwrap();
    assert!(
        report.problems().any(|p| p.path.ends_with("a/c/0/0/0")),
        "{report:?}"
    );
}

#[test]
fn zstd_chunks_declaring_4_gib_of_voxels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), [1024, 1024, 4096], [1024, 1024, 4096], zstd());
    put_chunk(&store, &zstd_declaring(4 << 30));
    let e = read_a(&store).unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported { reason, .. } if reason.contains("more than the limit")),
        "{e}"
    );
    window_bin(&store).assert_clean_error(&["re-chunk"]);
}

#[test]
fn zstd_bomb_is_stopped_at_the_chunk_size() {
    let dir = tempfile::tempdir().unwrap();
    // A file longer than a 16 KiB chunk's encoding can take is refused unread.
    let small = store_with(&dir.path().join("small"), [4, 64, 64], [4, 64, 64], zstd());
    put_chunk(&small, &zstd_bomb(16384));
    let e = read_a(&small).unwrap_err().to_string();
    assert!(
        e.contains("a/c/0/0/0") && e.contains("its encoding can take"),
        "{e}"
    );
    // 64 KiB in the file, as a 64 KiB chunk may be, but 2 GiB decoded: twice the memory
    // limit below, where zarrs would size its buffer by the frame's 16384 blocks.
    let store = store_with(dir.path(), [16, 64, 64], [16, 64, 64], zstd());
    put_chunk(&store, &zstd_bomb(16384));
    let e = read_a(&store).unwrap_err().to_string();
    assert!(
        e.contains("a/c/0/0/0") && e.contains("decodes to more than"),
        "{e}"
    );
    window_bin(&store).assert_clean_error(&["a/c/0/0/0", "decodes to more than"]);
}

#[test]
fn verify_of_a_2_pow_62_voxel_shape_walks_only_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), [1 << 62, 1, 1], [1, 1, 1], raw());
    put_chunk(&store, &[5]);
    let path = store.clone();
    let report = watchdog("verify 2^62", move || verify(&path, None)).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        (report.arrays[0].files, report.arrays[0].absent),
        (1, (1 << 62) - 1)
    );
    assert_eq!(read_a(&store).unwrap()[[0, 0, 0]], 5);
}

#[test]
fn fifo_zarr_json_is_an_error_and_verify_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), [4, 4, 4], [4, 4, 4], raw());
    mkfifo(&store.join("a/zarr.json"));
    let e = read_a(&store).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if path.ends_with("a/zarr.json"))
            && e.to_string().contains("FIFO"),
        "{e}"
    );
    for name in [None, Some("a")] {
        let path = store.clone();
        let report = watchdog("verify", move || verify(&path, name)).unwrap();
        let problem = report.problems().next().expect("a problem");
        assert!(
            problem.path.ends_with("a/zarr.json") && problem.reason.contains("FIFO"),
            "{problem}"
        );
    }
    run_bounded("voxload", &["verify", s(&store)], 1024, 30)
        .assert_clean_error(&["a/zarr.json", "FIFO"]);
}

#[test]
fn fifo_chunks_and_shards_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let sharded = json!([{"name": "sharding_indexed", "configuration": {
        "chunk_shape": [2, 2, 2], "codecs": raw(),
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
    }}]);
    for (case, codecs) in [("raw", raw()), ("sharded", sharded), ("zstd", zstd())] {
        let store = store_with(&dir.path().join(case), [4, 4, 4], [4, 4, 4], codecs);
        mkfifo(&store.join("a/c/0/0/0"));
        let e = read_a(&store).unwrap_err().to_string();
        assert!(e.contains("a/c/0/0/0") && e.contains("FIFO"), "{case}: {e}");
        let path = store.clone();
        let report = watchdog("verify", move || verify(&path, None)).unwrap();
        assert!(
            report
                .problems()
                .any(|p| p.path.ends_with("a/c/0/0/0") && p.reason.contains("FIFO")),
            "{case}: {report:?}"
        );
        window_bin(&store).assert_clean_error(&["a/c/0/0/0", "FIFO"]);
    }
}

#[test]
fn fifo_and_devices_as_tiles_are_decode_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("tile.png");
    mkfifo(&fifo);
    let zero = dir.path().join("zero.png");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for (path, what) in [
        (fifo.clone(), "FIFO"),
        (zero.clone(), "character device"),
        (PathBuf::from("/dev/urandom"), "character device"),
    ] {
        let p = path.clone();
        let e = watchdog("decode", move || decode_file(&p)).unwrap_err();
        assert!(
            matches!(&e, IngestError::Decode { .. })
                && e.to_string().contains(s(&path))
                && e.to_string().contains(what),
            "{e}"
        );
    }
    // The tile JSON itself, and through the ingest binary (a list naming /dev/zero).
    let json = dir.path().join("tiles.json");
    mkfifo(&json);
    let e = watchdog("tile json", move || TileSpec::read(&json)).unwrap_err();
    assert!(e.to_string().contains("FIFO"), "{e}");
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "/dev/zero\n").unwrap();
    let out = dir.path().join("out.zarr");
    run_bounded("ingest", &[s(&list), s(&out)], 1024, 30)
        .assert_clean_error(&["/dev/zero", "character device"]);
}

#[test]
fn duplicate_key_in_zarr_json_makes_the_array_unreadable_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), [4, 4, 4], [4, 4, 4], raw());
    let text = std::fs::read_to_string(store.join("a/zarr.json")).unwrap();
    let doubled = text.replacen(
        "\"shape\":[4,4,4]",
        "\"shape\":[4,4,4],\"shape\":[8,8,8]",
        1,
    );
    assert_ne!(text, doubled);
    std::fs::write(store.join("a/zarr.json"), doubled).unwrap();
    let arrays = list_arrays(&store).unwrap();
    let e = arrays[0].1.as_ref().unwrap_err();
    assert!(e.to_string().contains("duplicate key `shape`"), "{e}");
    let (ok, text) = crate::util::run_voxload(&["info", s(&store)]);
    assert!(
        ok && text.contains("unreadable") && text.contains("duplicate key `shape`"),
        "{text}"
    );
}

#[test]
fn symlink_loop_in_a_store_lists_each_array_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), [4, 4, 4], [4, 4, 4], raw());
    std::os::unix::fs::symlink("..", store.join("loop")).unwrap_or(());
    std::fs::create_dir(store.join("g")).unwrap();
    std::fs::write(
        store.join("g/zarr.json"),
        json!({"zarr_format": 3, "node_type": "group"}).to_string(),
    )
    .unwrap();
    std::os::unix::fs::symlink("../..", store.join("g/up")).unwrap();
    std::os::unix::fs::symlink("..", store.join("g/back")).unwrap();
    let path = store.clone();
    let arrays = watchdog("list", move || list_arrays(&path)).unwrap();
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn tiff_stack_of_100000_pages_reads_in_linear_time() {
    const PAGES: u32 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.tif");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut tiff = tiff::encoder::TiffEncoder::new(file).unwrap();
        for z in 0..PAGES {
            tiff.write_image::<tiff::encoder::colortype::Gray8>(1, 1, &[(z % 251) as u8])
                .unwrap();
        }
    }
    let p = path.clone();
    watchdog("10^5-page stack", move || {
        let input = Input::recognise(&p).unwrap();
        let (shape, _) = input.probe(Content::Image).unwrap();
        assert_eq!(shape, [u64::from(PAGES), 1, 1]);
        // Read page by page from the start each slab, this takes minutes (the watchdog's 30 s
        // fail it); kept positioned, well under a second in a release build.
        for z0 in (0..u64::from(PAGES)).step_by(16) {
            let z1 = (z0 + 16).min(u64::from(PAGES));
            let (slab, _) = input
                .read_slab::<u8>(shape, (z0, z1), Content::Image, None)
                .unwrap();
            for (dz, v) in slab.iter().enumerate() {
                assert_eq!(u64::from(*v), (z0 + dz as u64) % 251);
            }
        }
    });
}

/// A grid sample of a (4, 24, 24) image as one (4, 24, 24) window, predictions written as
/// identity; returns (samples folder, config path, the one prediction file).
fn one_window_samples(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let store = dir.join("em.zarr");
    let image = ndarray::Array3::from_elem((4, 24, 24), 9u8);
    voxload::write_array(&store, "raw", &image, [4, 24, 24], voxload::Encoding::Raw).unwrap();
    let cfg = dir.join("cfg.json");
    let config = json!({
        "DATASET": {"INPUT_PATH": s(&store), "IMAGE_NAME": "raw", "PAD_SIZE": [0, 0, 0]},
        "MODEL": {"INPUT_SIZE": [4, 24, 24]},
        "INFERENCE": {"STRIDE": [4, 24, 24]},
        "SOLVER": {"SAMPLES_PER_BATCH": 1},
    });
    std::fs::write(&cfg, config.to_string()).unwrap();
    let samples = dir.join("samples");
    let (ok, text) = crate::util::run_voxload(&[
        "sample",
        "--config",
        s(&cfg),
        "--mode",
        "grid",
        "--out",
        s(&samples),
    ]);
    assert!(ok, "{text}");
    let mut pred = None;
    for entry in std::fs::read_dir(&samples).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(index) = name.strip_suffix("_image.npy") {
            let image: ndarray::ArrayD<f32> = ndarray_npy::read_npy(entry.path()).unwrap();
            let p = samples.join(format!("{index}_pred.npy"));
            ndarray_npy::write_npy(&p, &image).unwrap();
            pred = Some(p);
        }
    }
    (samples, cfg, pred.expect("one window"))
}

#[test]
fn prediction_npy_claiming_13_gb_or_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (samples, cfg, pred) = one_window_samples(dir.path());
    let out = dir.path().join("em.zarr/pred");
    let stitch = |what: &str| {
        let b = run_bounded(
            "voxload",
            &[
                "stitch",
                s(&samples),
                "--config",
                s(&cfg),
                "--out",
                s(&out),
                "--overwrite",
            ],
            1024,
            30,
        );
        b.assert_clean_error(&["_pred.npy", what]);
    };
    // A header declaring (3, 1000, 1000, 1100) float32 (13.2 GB) in a 200-byte file.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1000, 1000, 1100), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<117}\n");
    npy.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    npy.extend_from_slice(padded.as_bytes());
    npy.extend_from_slice(&[0u8; 72]);
    std::fs::write(&pred, &npy).unwrap();
    stitch("declares");
    mkfifo(&pred);
    stitch("FIFO");
}
