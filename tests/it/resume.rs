//! Interrupted and parallel ingests: the fault hook, real SIGKILLs and disjoint z ranges all
//! end in stores byte-identical to one uninterrupted ingest.

use std::process::Command;

use voxload::ingest::Ingest;
use voxload::MappedArray;

use crate::ingest_util::*;

fn ingest_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ingest"));
    c.args(args).arg("--quiet");
    c
}

#[test]
fn fault_hook_kills_then_resume_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([9, 30, 30], 256, 4);
    let json = write_tile_dataset(dir.path(), &volume, [16, 16], [0, 0], TileFormat::Png8);
    let json = json.to_str().unwrap();
    let clean = dir.path().join("clean.zarr");
    assert!(
        ingest_cmd(&[json, clean.to_str().unwrap(), "--chunk", "2,16,16"])
            .status()
            .unwrap()
            .success()
    );
    // 5 slabs x 4 chunks plus metadata and markers: abort after many different write counts.
    for n in [1u32, 2, 3, 5, 8, 13, 21, 25] {
        let out = dir.path().join(format!("cut{n}.zarr"));
        let status = ingest_cmd(&[json, out.to_str().unwrap(), "--chunk", "2,16,16"])
            .env("VOXLOAD_FAULT_AFTER_WRITES", n.to_string())
            .status()
            .unwrap();
        assert!(!status.success(), "n = {n}: the fault hook did not fire");
        if out.join("image/zarr.json").exists() {
            let opened = MappedArray::<u8>::open(&out, "image");
            assert!(
                matches!(opened, Err(voxload::Error::Incomplete { .. })),
                "n = {n}: an interrupted store opened as complete"
            );
        }
        let status = ingest_cmd(&[
            json,
            out.to_str().unwrap(),
            "--chunk",
            "2,16,16",
            "--resume",
        ])
        .status()
        .unwrap();
        assert!(status.success(), "n = {n}: resume failed");
        assert_eq!(tree(&out), tree(&clean), "n = {n}: resumed store differs");
    }
}

#[test]
fn sigkill_then_resume_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([48, 96, 96], 256, 8);
    let json = write_tile_dataset(dir.path(), &volume, [48, 48], [0, 0], TileFormat::Png8);
    let json = json.to_str().unwrap();
    let clean = dir.path().join("clean.zarr");
    assert!(
        ingest_cmd(&[json, clean.to_str().unwrap(), "--chunk", "1,16,16"])
            .status()
            .unwrap()
            .success()
    );
    let out = dir.path().join("killed.zarr");
    let mut child = ingest_cmd(&[
        json,
        out.to_str().unwrap(),
        "--chunk",
        "1,16,16",
        "--threads",
        "1",
    ])
    .spawn()
    .unwrap();
    // Kill as soon as some slabs are recorded (or the ingest has finished).
    let progress = out.join("image/.voxload-progress");
    for _ in 0..2000 {
        if progress.read_dir().map(|d| d.count() >= 2).unwrap_or(false) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The kill must have landed mid-ingest for the test to mean anything.
    assert!(
        matches!(
            MappedArray::<u8>::open(&out, "image"),
            Err(voxload::Error::Incomplete { .. })
        ),
        "the ingest finished before it was killed; make the dataset larger"
    );
    let status = ingest_cmd(&[
        json,
        out.to_str().unwrap(),
        "--chunk",
        "1,16,16",
        "--resume",
    ])
    .status()
    .unwrap();
    assert!(status.success());
    assert_eq!(tree(&out), tree(&clean));
}

#[test]
fn disjoint_z_ranges_then_finalize_equal_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([7, 20, 20], 256, 6);
    let json = write_tile_dataset(dir.path(), &volume, [10, 10], [0, 0], TileFormat::Png8);
    let json = json.to_str().unwrap();
    let one = dir.path().join("one.zarr");
    assert!(
        ingest_cmd(&[json, one.to_str().unwrap(), "--chunk", "2,8,8"])
            .status()
            .unwrap()
            .success()
    );
    let split = dir.path().join("split.zarr");
    let s = split.to_str().unwrap();
    let mut a = ingest_cmd(&[json, s, "--chunk", "2,8,8", "--z-range", "0:4"])
        .spawn()
        .unwrap();
    let mut b = ingest_cmd(&[json, s, "--chunk", "2,8,8", "--z-range", "4:7"])
        .spawn()
        .unwrap();
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    assert!(matches!(
        MappedArray::<u8>::open(&split, "image"),
        Err(voxload::Error::Incomplete { .. })
    ));
    assert!(
        !ingest_cmd(&["--z-range", "1:3", json, s, "--chunk", "2,8,8"])
            .status()
            .unwrap()
            .success(),
        "unaligned range accepted"
    );
    assert!(Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(["--finalize", s])
        .status()
        .unwrap()
        .success());
    assert_eq!(tree(&split), tree(&one));
}

#[test]
fn finalize_before_every_range_is_done_fails() {
    let dir = tempfile::tempdir().unwrap();
    let json = crate::ingest::small_dataset(dir.path());
    let store = dir.path().join("o.zarr");
    Ingest::new(&json, &store)
        .chunk([2, 8, 8])
        .z_range(Some((0, 2)))
        .run()
        .unwrap();
    let err = Ingest::finalize(&store, "image").unwrap_err();
    assert!(err.to_string().contains("not finished"), "{err}");
}

/// A disk that fills up part way: the ingest stops with an error that names the file and the
/// cause (no abort, no panic), the store never opens as complete, no temporary file is left,
/// and once space is back `--resume` finishes a store byte-identical to a clean ingest.
#[test]
fn a_full_disk_fails_clearly_then_resume_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([9, 30, 30], 256, 5);
    let json = write_tile_dataset(dir.path(), &volume, [16, 16], [0, 0], TileFormat::Png8);
    let json = json.to_str().unwrap();
    let clean = dir.path().join("clean.zarr");
    let args = |out: &std::path::Path| {
        vec![
            json.to_string(),
            out.display().to_string(),
            "--chunk".into(),
            "2,16,16".into(),
        ]
    };
    let run = |args: Vec<String>| {
        ingest_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .output()
            .unwrap()
    };
    assert!(run(args(&clean)).status.success());
    for n in full_disk_trials() {
        let out = dir.path().join(format!("full{n}.zarr"));
        let failed = ingest_cmd(&args(&out).iter().map(String::as_str).collect::<Vec<_>>())
            .env(voxload::store::atomic::FULL_DISK_ENV, n.to_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(1), "n = {n}: {stderr}");
        assert!(
            stderr.matches("No space left on device").count() == 1
                && stderr.contains(out.to_str().unwrap())
                && stderr.contains("--resume"),
            "n = {n}: the error should name the cause (once) and the file, and say to resume: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "n = {n}: {stderr}");
        if out.join("image/zarr.json").exists() {
            assert!(
                matches!(
                    MappedArray::<u8>::open(&out, "image"),
                    Err(voxload::Error::Incomplete { .. })
                ),
                "n = {n}: a store cut by a full disk opened as complete"
            );
        }
        let leftovers: Vec<_> = walk_files(&out)
            .into_iter()
            .filter(|p| {
                p.to_string_lossy()
                    .contains(voxload::store::atomic::TEMP_MARKER)
            })
            .collect();
        assert!(
            leftovers.is_empty(),
            "n = {n}: temporary files left: {leftovers:?}"
        );
        let mut resume = args(&out);
        resume.push("--resume".into());
        let resumed = run(resume);
        assert!(
            resumed.status.success(),
            "n = {n}: resume failed: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        assert_eq!(tree(&out), tree(&clean), "n = {n}: resumed store differs");
    }
}

/// The write counts at which the disk fills: a few in `cargo test`, every one from the first
/// to past the last write with `VOXLOAD_RELIABILITY_TRIALS=full`.
fn full_disk_trials() -> Vec<u32> {
    if std::env::var("VOXLOAD_RELIABILITY_TRIALS").as_deref() == Ok("full") {
        (0..=32).collect()
    } else {
        vec![0, 1, 4, 9, 17, 24]
    }
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}
