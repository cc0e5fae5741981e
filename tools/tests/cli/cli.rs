//! The `voxload` binary: `info` and error reporting.

use std::process::Command;

use ndarray::Array3;
use voxload::{write_array, Encoding};

fn voxload(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_voxload"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn info_lists_arrays_with_shape_encoding_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    write_array(
        &store,
        "image",
        &Array3::<u16>::zeros((4, 6, 8)),
        [2, 3, 4],
        Encoding::Raw,
    )
    .unwrap();
    let shard = Encoding::ShardedRaw { shard: [4, 6, 8] };
    write_array(
        &store,
        "label/0001",
        &Array3::<u32>::zeros((4, 6, 8)),
        [2, 3, 4],
        shard,
    )
    .unwrap();
    let (ok, stdout, stderr) = voxload(&["info", store.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    for needle in [
        "image",
        "label/0001",
        "[4, 6, 8]",
        "uint16",
        "uint32",
        "raw",
        "sharded",
        "complete",
    ] {
        assert!(
            stdout.contains(needle),
            "`{needle}` missing from:\n{stdout}"
        );
    }
}

#[test]
fn info_marks_foreign_arrays_unmarked() {
    let fixture = crate::util::repo_dir().join("tests/fixtures/zarr_python/store.zarr");
    let (ok, stdout, _) = voxload(&["info", fixture.to_str().unwrap()]);
    assert!(ok);
    assert!(
        stdout.contains("zstd_float32") && stdout.contains("unmarked"),
        "{stdout}"
    );
}

#[test]
fn window_on_a_missing_array_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let address = dir.path().join("none.zarr/image");
    let out = dir.path().join("w.npy");
    let (ok, _, stderr) = voxload(&[
        "window",
        address.to_str().unwrap(),
        "--start=-1,0,0",
        "--shape",
        "1,1,1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("none.zarr") && stderr.contains("not a Zarr"),
        "{stderr}"
    );
}

#[test]
fn bad_pad_mode_is_rejected_with_the_choices() {
    let (ok, _, stderr) = voxload(&[
        "window", "x.zarr/a", "--start", "0,0,0", "--shape", "1,1,1", "--pad", "wrap", "--out",
        "w.npy",
    ]);
    assert!(!ok);
    assert!(stderr.contains("reflect"), "{stderr}");
}

#[test]
fn info_shows_the_progress_of_an_unfinished_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let json = crate::ingest_util::small_dataset(dir.path());
    let store = dir.path().join("p.zarr");
    voxload::ingest::Ingest::new(&json, &store)
        .chunk([2, 8, 8])
        .z_range(Some((0, 2)))
        .run()
        .unwrap();
    let (ok, stdout, _) = voxload(&["info", store.to_str().unwrap()]);
    assert!(ok);
    assert!(
        stdout.contains("IN PROGRESS") && stdout.contains("1 of 2 slabs"),
        "{stdout}"
    );
}

#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    let v = Array3::<u8>::zeros((2, 4, 4));
    for name in ["a", "b", "c"] {
        write_array(&store, name, &v, [2, 4, 4], Encoding::Raw).unwrap();
    }
    // The reader of the pipe (`true`) is gone before voxload writes: every write meets EPIPE.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 0.3; \"{}\" info \"{}\") | true",
            env!("CARGO_BIN_EXE_voxload"),
            store.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
}
