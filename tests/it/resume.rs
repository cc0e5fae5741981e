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
