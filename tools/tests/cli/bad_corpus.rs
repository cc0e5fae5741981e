//! The committed bad-input corpus (`tests/bad/`, written by `tests/bad/make.py`): every case is
//! a typed error naming the file or key, through the public API and the binaries, and none
//! panics, hangs or allocates without bound.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use voxload::image::decode_file;
use voxload::ingest::{Ingest, IngestError};
use voxload::store::AnyArray;
use voxload::{Bbox, Error, MappedArray, PadMode};

/// A corpus file.
pub fn bad(name: &str) -> PathBuf {
    crate::util::repo_dir().join("tests/bad").join(name)
}

/// Runs `f` on its own thread and fails the test if it panics or takes longer than 30 s.
pub fn watchdog<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (send, recv) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = send.send(f());
    });
    match recv.recv_timeout(Duration::from_secs(30)) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still running after 30 s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
            panic!("{what}: ended without an answer");
        }
    }
}

fn decode(name: &str) -> IngestError {
    let path = bad(name);
    match watchdog(name, move || decode_file(&path)) {
        Ok(plane) => panic!("{name}: decoded as {:?}", plane.dim()),
        Err(e) => e,
    }
}

/// Asserts a decode error naming `name`.
fn assert_decode_error(name: &str) {
    match decode(name) {
        IngestError::Decode { path, reason } => {
            assert_eq!(path, bad(name));
            assert!(!reason.is_empty());
        }
        other => panic!("{name}: expected Decode, got {other:?}"),
    }
}

/// Ingests `input` into a fresh store; the error, which must come.
fn ingest(input: &str) -> IngestError {
    let path = bad(input);
    let err = watchdog(input, move || {
        let out = tempfile::tempdir().unwrap();
        Ingest::new(path, out.path().join("out.zarr"))
            .threads(Some(1))
            .run()
            .map(|r| r.shape)
    })
    .expect_err(input);
    match err {
        Error::Ingest(e) => e,
        other => panic!("{input}: expected an ingest error, got {other:?}"),
    }
}

fn assert_json_error(name: &str, key: &str) {
    match ingest(name) {
        IngestError::Json { path, key: k, .. } => {
            assert_eq!(path, bad(name));
            assert_eq!(k, key, "{name}");
        }
        other => panic!("{name}: expected Json, got {other:?}"),
    }
}

fn read_store(store: &str) -> Error {
    let path = bad(store);
    watchdog(store, move || {
        MappedArray::<u8>::open(&path, "a")?.read(Bbox::from_shape([4, 4, 4]), PadMode::Reflect)
    })
    .expect_err(store)
}

/// Runs a binary under a 2 GiB address-space limit (so a 4 GB allocation aborts it); its exit
/// status and stderr.
fn run_limited(bin: &str, args: &[&Path]) -> (std::process::ExitStatus, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
        .arg(bin)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status, stderr)
}

fn assert_clean_failure(bin: &str, args: &[&Path], names: &str) {
    let (status, stderr) = run_limited(bin, args);
    assert!(!status.success(), "{names}: succeeded");
    assert!(
        status.code().is_some(),
        "{names}: killed by a signal: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{names}: {stderr}");
    assert!(!stderr.contains("memory allocation"), "{names}: {stderr}");
    assert!(stderr.contains(names), "{names}: {stderr}");
}

// ------------------------------------------------------------------ images

#[test]
fn corpus_good_png_decodes() {
    let path = bad("good.png");
    let plane = watchdog("good.png", move || decode_file(&path)).unwrap();
    assert_eq!(plane.dim(), (16, 16));
}

#[test]
fn truncated_png_is_a_decode_error() {
    assert_decode_error("truncated.png");
}

#[test]
fn png_with_bad_crc_is_a_decode_error() {
    assert_decode_error("bad_crc.png");
}

#[test]
fn png_with_garbage_after_header_is_a_decode_error() {
    assert_decode_error("garbage.png");
}

#[test]
fn zero_sized_png_is_a_decode_error() {
    assert_decode_error("zero.png");
}

#[test]
fn zero_sized_tiff_is_a_decode_error() {
    assert_decode_error("zero.tif");
}

#[test]
fn huge_declared_png_is_refused() {
    assert_decode_error("huge.png");
}

#[test]
fn huge_declared_png_under_the_allocation_limit_is_refused() {
    assert_decode_error("huge_under_limit.png");
}

#[test]
fn huge_declared_tiff_is_refused() {
    assert_decode_error("huge.tif");
}

#[test]
fn huge_declared_tiff_under_the_allocation_limit_is_refused() {
    assert_decode_error("huge_under_limit.tif");
}

#[test]
fn truncated_tiff_is_a_decode_error() {
    assert_decode_error("truncated.tif");
}

#[test]
fn tiff_cut_inside_its_header_is_a_decode_error() {
    assert_decode_error("truncated_header.tif");
}

#[test]
fn truncated_tiff_stack_is_a_decode_error_naming_it() {
    match ingest("truncated.tif") {
        IngestError::Decode { path, .. } => assert_eq!(path, bad("truncated.tif")),
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[test]
fn bad_images_opened_without_ingest_are_unsupported_naming_the_file() {
    for name in [
        "truncated.png",
        "zero.png",
        "huge.png",
        "huge_under_limit.tif",
    ] {
        let path = bad(name);
        let result = watchdog(name, move || {
            AnyArray::open_image(&path, false).map(|a| a.shape())
        });
        match result {
            Err(Error::Unsupported { path, .. }) => assert_eq!(path, bad(name)),
            other => panic!("{name}: expected Unsupported, got {other:?}"),
        }
    }
}

#[test]
fn missing_image_is_a_missing_error() {
    match decode("no_such_file.png") {
        IngestError::Missing { path } => assert_eq!(path, bad("no_such_file.png")),
        other => panic!("expected Missing, got {other:?}"),
    }
}

// ------------------------------------------------------------------ tile JSON

#[test]
fn corpus_good_tile_json_ingests() {
    let path = bad("good.json");
    let shape = watchdog("good.json", move || {
        let out = tempfile::tempdir().unwrap();
        Ingest::new(path, out.path().join("out.zarr"))
            .threads(Some(1))
            .run()
            .map(|r| r.shape)
    })
    .unwrap();
    assert_eq!(shape, [1, 16, 16]);
}

#[test]
fn tile_json_with_a_wrong_type_names_the_key() {
    assert_json_error("wrong_type.json", "depth");
}

#[test]
fn tile_json_with_a_negative_size_names_the_key() {
    assert_json_error("negative_size.json", "height");
}

#[test]
fn tile_json_with_a_mistyped_tile_size_names_the_key() {
    assert_json_error("tile_size_wrong_type.json", "tile_size");
}

#[test]
fn tile_json_missing_a_key_names_it() {
    assert_json_error("missing_key.json", "image");
}

#[test]
fn tile_json_with_image_not_a_list_names_the_key() {
    assert_json_error("image_not_a_list.json", "image");
}

#[test]
fn tile_json_that_is_not_json_is_a_json_error() {
    assert_json_error("not_json.json", "(file)");
}

#[test]
fn tile_json_that_is_not_an_object_is_a_json_error() {
    assert_json_error("not_an_object.json", "(file)");
}

#[test]
fn tile_json_naming_a_missing_tile_is_a_missing_error() {
    match ingest("missing_path.json") {
        IngestError::Missing { path } => {
            assert_eq!(path, bad("does_not_exist/tile_0_0.png"));
        }
        other => panic!("expected Missing, got {other:?}"),
    }
}

#[test]
fn tile_of_the_wrong_bit_depth_is_a_tile_type_error() {
    match ingest("wrong_depth.json") {
        IngestError::TileType {
            path,
            found,
            expected,
        } => {
            assert_eq!(path, bad("depth16.png"));
            assert_eq!((found, expected), ("16-bit grayscale", voxload::DType::U8));
        }
        other => panic!("expected TileType, got {other:?}"),
    }
}

#[test]
fn tile_json_with_a_truncated_tile_is_a_decode_error_naming_the_tile() {
    match ingest("truncated_tile.json") {
        IngestError::Decode { path, .. } => assert_eq!(path, bad("truncated.png")),
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[test]
fn tile_json_with_a_huge_tile_is_refused_naming_the_tile() {
    match ingest("huge_tile.json") {
        IngestError::Decode { path, .. } => assert_eq!(path, bad("huge.png")),
        other => panic!("expected Decode, got {other:?}"),
    }
}

// ------------------------------------------------------------------ Zarr stores

#[test]
fn chunk_file_of_the_wrong_length_is_a_chunk_size_error() {
    match read_store("chunk_wrong_length.zarr") {
        Error::ChunkSize {
            path,
            actual,
            expected,
        } => {
            assert_eq!(path, bad("chunk_wrong_length.zarr/a/c/1/0/0"));
            assert_eq!((actual, expected), (27, 32));
        }
        other => panic!("expected ChunkSize, got {other:?}"),
    }
}

#[test]
fn shard_index_past_the_end_is_a_shard_index_error() {
    match read_store("shard_past_end.zarr") {
        Error::ShardIndex { path, reason } => {
            assert_eq!(path, bad("shard_past_end.zarr/a/c/0/0/0"));
            assert!(reason.contains("past the end"), "{reason}");
        }
        other => panic!("expected ShardIndex, got {other:?}"),
    }
}

#[test]
fn metadata_with_an_unknown_codec_names_it() {
    match read_store("unknown_codec.zarr") {
        Error::UnknownCodec { path, codec } => {
            assert_eq!(path, bad("unknown_codec.zarr/a"));
            assert_eq!(codec, "fancy_wavelet");
        }
        other => panic!("expected UnknownCodec, got {other:?}"),
    }
}

#[test]
fn metadata_that_is_not_json_is_not_zarr() {
    match read_store("not_json.zarr") {
        Error::NotZarr { path, reason } => {
            assert_eq!(path, bad("not_json.zarr/a"));
            assert!(reason.contains("not valid JSON"), "{reason}");
        }
        other => panic!("expected NotZarr, got {other:?}"),
    }
}

// ------------------------------------------------------------------ binaries

/// Runs the `ingest` binary on `input` into a fresh store, under the memory limit, expecting a
/// clean failure whose message contains `names`.
fn ingest_binary_fails(input: PathBuf, names: &str) {
    let names = names.to_string();
    watchdog(&names.clone(), move || {
        let out = tempfile::tempdir().unwrap();
        let store = out.path().join("out.zarr");
        let args = [
            input.as_path(),
            store.as_path(),
            Path::new("--quiet"),
            Path::new("--threads"),
            Path::new("1"),
        ];
        assert_clean_failure(env!("CARGO_BIN_EXE_ingest"), &args, &names);
    });
}

#[test]
fn ingest_binary_fails_cleanly_on_bad_inputs() {
    for (input, names) in [
        ("wrong_type.json", "depth"),
        ("huge_tile.json", "huge.png"),
        ("truncated.tif", "truncated.tif"),
        ("missing_path.json", "tile_0_0.png"),
        ("wrong_depth.json", "depth16.png"),
    ] {
        ingest_binary_fails(bad(input), names);
    }
}

#[test]
fn ingest_binary_refuses_huge_images_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["huge_under_limit.png", "huge_under_limit.tif", "huge.tif"] {
        let list = dir.path().join(format!("{name}.txt"));
        std::fs::write(&list, format!("{}\n", bad(name).display())).unwrap();
        ingest_binary_fails(list, name);
    }
}

#[test]
fn window_binary_fails_cleanly_on_bad_stores() {
    let out = tempfile::tempdir().unwrap();
    let npy = out.path().join("w.npy");
    for (store, names) in [
        ("chunk_wrong_length.zarr", "c/1/0/0"),
        ("shard_past_end.zarr", "c/0/0/0"),
        ("unknown_codec.zarr", "fancy_wavelet"),
        ("not_json.zarr", "not valid JSON"),
    ] {
        let address = bad(store).join("a");
        let args: Vec<PathBuf> = [
            "window",
            address.to_str().unwrap(),
            "--start",
            "0,0,0",
            "--shape",
            "4,4,4",
            "--out",
            npy.to_str().unwrap(),
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let names = names.to_string();
        watchdog(&names.clone(), move || {
            let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
            assert_clean_failure(env!("CARGO_BIN_EXE_voxload"), &args, &names);
        });
    }
}

// ------------------------------------------------------------------ verify

mod verify {
    use std::path::Path;
    use std::process::Command;

    use voxload::ingest::{compare_source, Ingest};
    use voxload::store::verify::{verify, Report};
    use voxload::{write_array, Encoding};

    use super::bad;
    use crate::ingest_util::{random_volume, write_tile_dataset, TileFormat};
    use crate::util::formula_volume;

    /// A store with a raw, a sharded and a zstd array `raw`, `sharded`, `zstd`, (8, 8, 8) u16.
    fn store() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let volume = formula_volume::<u16>([8, 8, 8]);
        write_array(dir.path(), "raw", &volume, [4, 4, 4], Encoding::Raw).unwrap();
        let sharded = Encoding::ShardedRaw { shard: [8, 8, 8] };
        write_array(dir.path(), "sharded", &volume, [4, 4, 4], sharded).unwrap();
        let zstd = Encoding::Zstd { level: 3 };
        write_array(dir.path(), "zstd", &volume, [4, 4, 4], zstd).unwrap();
        dir
    }

    /// The problems' paths, relative to `root`.
    fn problem_paths(report: &Report, root: &Path) -> Vec<String> {
        report
            .problems()
            .map(|p| {
                let rel = p.path.strip_prefix(root).unwrap_or(&p.path);
                rel.to_string_lossy().into_owned()
            })
            .collect()
    }

    /// Runs `voxload verify ARGS`: success, stdout + stderr.
    fn verify_cmd(args: &[&Path]) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_voxload"))
            .arg("verify")
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code().is_some() && !text.contains("panicked"),
            "{text}"
        );
        (out.status.success(), text)
    }

    #[test]
    fn verify_good_store_is_clean() {
        let dir = store();
        let report = verify(dir.path(), None).unwrap();
        assert!(report.is_clean(), "{report:?}");
        let names: Vec<&str> = report.arrays.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["raw", "sharded", "zstd"]);
        assert_eq!(report.arrays[0].files, 8);
        assert_eq!(report.arrays[1].files, 1);
        // Compressed chunks are not checked, and the report says so.
        assert_eq!(report.arrays[2].files, 0);
        assert!(!report.arrays[2].notes.is_empty());
        let (ok, text) = verify_cmd(&[dir.path()]);
        assert!(ok, "{text}");
    }

    #[test]
    fn verify_absent_chunk_is_fill_not_a_problem() {
        let dir = store();
        std::fs::remove_file(dir.path().join("raw/c/1/1/1")).unwrap();
        let report = verify(dir.path(), Some("raw")).unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!((report.arrays[0].files, report.arrays[0].absent), (7, 1));
    }

    #[test]
    fn verify_truncated_chunk_is_reported_naming_the_file() {
        let dir = store();
        let chunk = dir.path().join("raw/c/1/0/1");
        let bytes = std::fs::read(&chunk).unwrap();
        std::fs::write(&chunk, &bytes[..bytes.len() - 1]).unwrap();
        let report = verify(dir.path(), None).unwrap();
        assert_eq!(problem_paths(&report, dir.path()), ["raw/c/1/0/1"]);
        let reason = &report.problems().next().unwrap().reason;
        assert!(reason.contains("127 bytes, expected 128"), "{reason}");
        let (ok, text) = verify_cmd(&[dir.path()]);
        assert!(!ok);
        assert!(text.contains("raw/c/1/0/1"), "{text}");
        // Problems found: exit code 1 (an error of the command would be 2).
        let run = crate::util::run_bounded(
            "voxload",
            &["verify", dir.path().to_str().unwrap()],
            1024,
            60,
        );
        assert_eq!(run.code, Some(1), "{}", run.text);
    }

    #[test]
    fn verify_shard_with_a_bad_index_checksum_is_reported() {
        let dir = store();
        let shard = dir.path().join("sharded/c/0/0/0");
        let mut bytes = std::fs::read(&shard).unwrap();
        let n = bytes.len();
        bytes[n - 30] ^= 0xFF;
        std::fs::write(&shard, &bytes).unwrap();
        let report = verify(dir.path(), Some("sharded")).unwrap();
        assert_eq!(problem_paths(&report, dir.path()), ["sharded/c/0/0/0"]);
        let reason = &report.problems().next().unwrap().reason;
        assert!(reason.contains("checksum"), "{reason}");
    }

    #[test]
    fn verify_shorter_than_its_index_shard_is_reported() {
        let dir = store();
        std::fs::write(dir.path().join("sharded/c/0/0/0"), b"short").unwrap();
        let report = verify(dir.path(), Some("sharded")).unwrap();
        assert_eq!(problem_paths(&report, dir.path()), ["sharded/c/0/0/0"]);
    }

    #[test]
    fn verify_in_progress_array_is_reported() {
        let dir = store();
        let file = dir.path().join("raw/zarr.json");
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        doc["attributes"]["voxload"]["status"] = "in-progress".into();
        std::fs::write(&file, doc.to_string()).unwrap();
        let report = verify(dir.path(), None).unwrap();
        assert_eq!(problem_paths(&report, dir.path()), ["raw/zarr.json"]);
        assert!(report
            .problems()
            .next()
            .unwrap()
            .reason
            .contains("in-progress"));
        let (ok, text) = verify_cmd(&[dir.path()]);
        assert!(!ok && text.contains("in-progress"), "{text}");
    }

    #[test]
    fn verify_corpus_stores_report_the_bad_file() {
        for (store, file) in [
            ("chunk_wrong_length.zarr", "a/c/1/0/0"),
            ("shard_past_end.zarr", "a/c/0/0/0"),
            ("unknown_codec.zarr", "a/zarr.json"),
            ("not_json.zarr", "a/zarr.json"),
        ] {
            let root = bad(store);
            let report = verify(&root, None).unwrap();
            assert_eq!(problem_paths(&report, &root), [file], "{store}");
            let (ok, text) = verify_cmd(&[&root, Path::new("--array"), Path::new("a")]);
            assert!(!ok && text.contains(file), "{store}: {text}");
        }
    }

    #[test]
    fn verify_missing_array_is_an_error() {
        let dir = store();
        assert!(matches!(
            verify(dir.path(), Some("nope")),
            Err(voxload::Error::NotZarr { .. })
        ));
        let (ok, _) = verify_cmd(&[dir.path(), Path::new("--array"), Path::new("nope")]);
        assert!(!ok);
        // An error of the command, not a problem found: exit code 2.
        let store = dir.path().to_str().unwrap();
        let run =
            crate::util::run_bounded("voxload", &["verify", store, "--array", "nope"], 1024, 60);
        assert_eq!(run.code, Some(2), "{}", run.text);
    }

    #[test]
    fn verify_with_source_finds_a_chunk_rewritten_with_wrong_voxels() {
        let dir = tempfile::tempdir().unwrap();
        let volume = random_volume([5, 30, 30], 256, 3);
        let json = write_tile_dataset(dir.path(), &volume, [16, 16], [0, 0], TileFormat::Png8);
        let out = dir.path().join("out.zarr");
        Ingest::new(&json, &out).chunk([2, 16, 16]).run().unwrap();
        let mut report = verify(&out, Some("image")).unwrap();
        compare_source(&out, "image", &json, false, &mut report.arrays[0]).unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.arrays[0].slabs_compared, 3);
        // Same length, other voxels: only the comparison with the source can see it.
        let chunk = out.join("image/c/1/0/1");
        let mut bytes = std::fs::read(&chunk).unwrap();
        bytes[5] = bytes[5].wrapping_add(1);
        std::fs::write(&chunk, &bytes).unwrap();
        assert!(verify(&out, Some("image")).unwrap().is_clean());
        let (ok, text) = verify_cmd(&[
            &out,
            Path::new("--array"),
            Path::new("image"),
            Path::new("--source"),
            &json,
        ]);
        assert!(!ok, "{text}");
        assert!(
            text.contains("slices [2, 4)") && text.contains("1 voxels differ"),
            "{text}"
        );
    }
}
