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

#[cfg(feature = "fault-injection")]
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
    // This ingest makes 28 writes in all; the full set aborts after each of them.
    for n in trials(vec![1, 2, 3, 5, 8, 13, 21, 25], (1..=28).collect()) {
        let out = dir.path().join(format!("cut{n}.zarr"));
        let status = ingest_cmd(&[json, out.to_str().unwrap(), "--chunk", "2,16,16"])
            .env("VOXLOAD_FAULT_AFTER_WRITES", n.to_string())
            .status()
            .unwrap();
        assert!(!status.success(), "n = {n}: the fault hook did not fire");
        assert_incomplete_or_identical(&out, &clean, &format!("abort after write {n}"));
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

/// A normal build (without the `fault-injection` feature) ignores the fault variables: no
/// environment can make a user's ingest fail on purpose.
#[cfg(not(feature = "fault-injection"))]
#[test]
fn a_default_build_ignores_the_fault_variables() {
    let dir = tempfile::tempdir().unwrap();
    let volume = random_volume([9, 30, 30], 256, 4);
    let json = write_tile_dataset(dir.path(), &volume, [16, 16], [0, 0], TileFormat::Png8);
    let json = json.to_str().unwrap();
    let clean = dir.path().join("clean.zarr");
    let args = |out: &std::path::Path| {
        [
            json.to_string(),
            out.display().to_string(),
            "--chunk".into(),
            "2,16,16".into(),
        ]
    };
    assert!(ingest_cmd(&args(&clean).each_ref().map(String::as_str))
        .status()
        .unwrap()
        .success());
    for (var, value) in [
        ("VOXLOAD_FAULT_AFTER_WRITES", "1"),
        ("VOXLOAD_FAULT_ENOSPC_AFTER_WRITES", "0"),
    ] {
        let out = dir.path().join(format!("{var}.zarr"));
        let status = ingest_cmd(&args(&out).each_ref().map(String::as_str))
            .env(var, value)
            .status()
            .unwrap();
        assert!(status.success(), "{var}={value} made the ingest fail");
        assert_eq!(tree(&out), tree(&clean), "{var}={value} changed the store");
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
    // Kill once `k` slabs are recorded, for each `k` of the trials.
    for k in trials(vec![2], (1..=44).step_by(3).collect()) {
        let out = dir.path().join(format!("killed{k}.zarr"));
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
        let progress = out.join("image/.voxload-progress");
        for _ in 0..5000 {
            if progress
                .read_dir()
                .map(|d| d.count() >= k as usize)
                .unwrap_or(false)
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The kill must have landed mid-ingest for the trial to mean anything.
        assert!(
            matches!(
                MappedArray::<u8>::open(&out, "image"),
                Err(voxload::Error::Incomplete { .. })
            ),
            "k = {k}: the ingest finished before it was killed; make the dataset larger"
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
        assert!(status.success(), "k = {k}: resume failed");
        assert_eq!(tree(&out), tree(&clean), "k = {k}: resumed store differs");
    }
}

/// The trials `cargo test` runs (`ci`), or the larger local set (`full`) when
/// `VOXLOAD_RELIABILITY_TRIALS=full` (figures in RELIABILITY.md).
fn trials(ci: Vec<u32>, full: Vec<u32>) -> Vec<u32> {
    if std::env::var("VOXLOAD_RELIABILITY_TRIALS").as_deref() == Ok("full") {
        full
    } else {
        ci
    }
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
    let json = crate::ingest_util::small_dataset(dir.path());
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
#[cfg(feature = "fault-injection")]
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
    for n in trials(vec![0, 1, 4, 9, 17, 24], (0..=32).collect()) {
        let out = dir.path().join(format!("full{n}.zarr"));
        let failed = ingest_cmd(&args(&out).iter().map(String::as_str).collect::<Vec<_>>())
            .env(voxload::internals::atomic::FULL_DISK_ENV, n.to_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&failed.stderr);
        if failed.status.success() {
            // The disk filled only after the last write.
            assert_eq!(tree(&out), tree(&clean), "n = {n}: finished store differs");
            continue;
        }
        assert_eq!(failed.status.code(), Some(2), "n = {n}: {stderr}");
        assert!(
            stderr.matches("No space left on device").count() == 1
                && stderr.contains(out.to_str().unwrap())
                && stderr.contains("--resume"),
            "n = {n}: the error should name the cause (once) and the file, and say to resume: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "n = {n}: {stderr}");
        assert_incomplete_or_identical(&out, &clean, &format!("disk full after write {n}"));
        let leftovers: Vec<_> = walk_files(&out)
            .into_iter()
            .filter(|p| {
                p.to_string_lossy()
                    .contains(voxload::internals::atomic::TEMP_MARKER)
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

/// An interrupted store either does not open as complete, or is exactly the clean one (the
/// interruption came after its last write): never complete and different.
#[cfg(feature = "fault-injection")]
fn assert_incomplete_or_identical(out: &std::path::Path, clean: &std::path::Path, trial: &str) {
    if !out.join("image/zarr.json").exists() {
        return;
    }
    match MappedArray::<u8>::open(out, "image") {
        Err(voxload::Error::Incomplete { .. }) => {}
        Ok(_) => assert_eq!(
            tree(out),
            tree(clean),
            "{trial}: a store that opens as complete differs from a clean ingest"
        ),
        Err(e) => panic!("{trial}: unexpected error opening the store: {e}"),
    }
}

#[cfg(feature = "fault-injection")]
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
