//! Writers lose nothing and write nothing outside their array (issue 13): names are checked
//! before the disk is touched, a replacement is swapped in only once complete, one writer holds
//! an array at a time, and a reader open during a replacement never gets a mix of old and new
//! voxels (nor the old array's removed chunks as fill).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use voxload::ingest::Ingest;
use voxload::store::{ArrayLock, CacheLimits, LockMode, Status};
use voxload::synth::{write_tile_dataset, TileFormat};
use voxload::{Bbox, Error, MappedArray, OpenOptions, PadMode};

use crate::util::{run_bounded, tree_hash};

/// A synthetic PNG tile dataset of `shape` in folder `dir/name`; its tile JSON.
fn tiles(dir: &Path, name: &str, shape: [u64; 3], seed: u64) -> PathBuf {
    write_tile_dataset(&dir.join(name), shape, 32, TileFormat::Png, seed).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_all(store: &Path, name: &str) -> Array3<u8> {
    let a = MappedArray::<u8>::open(store, name).unwrap();
    a.read(Bbox::from_shape(a.shape()), PadMode::default())
        .unwrap()
}

/// `json` ingested afresh into `dir/ref.zarr` with chunks `chunk`, read whole.
fn clean_ingest(dir: &Path, json: &Path, chunk: [u64; 3]) -> Array3<u8> {
    let reference = dir.join("ref.zarr");
    Ingest::new(json, &reference).chunk(chunk).run().unwrap();
    read_all(&reference, "image")
}

/// Every path under `dir` whose name holds voxload's reserved infix (staging copies, locks).
fn leftovers(dir: &Path) -> Vec<String> {
    tree_hash(dir)
        .into_keys()
        .filter(|k| k.contains(".voxload-"))
        .collect()
}

/// Two stores, each with a complete `image`: the one written to and its sibling.
fn two_stores(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let json = tiles(dir, "t1", [4, 48, 48], 1);
    let (a, b) = (dir.join("a.zarr"), dir.join("b.zarr"));
    for store in [&a, &b] {
        Ingest::new(&json, store).chunk([2, 32, 32]).run().unwrap();
    }
    (json, a, b)
}

#[test]
fn bad_array_names_are_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (json, a, _b) = two_stores(dir.path());
    let before = tree_hash(dir.path());
    for name in [
        "",
        ".",
        "..",
        "../b.zarr",
        "./image",
        "image/..",
        "/tmp/abs",
        "a\\b",
        "a//b",
        "image/",
        "__reserved",
        ".image.voxload-new",
    ] {
        let out = run_bounded(
            "ingest",
            &[s(&json), s(&a), "--array", name, "--overwrite", "--quiet"],
            1024,
            60,
        );
        out.assert_clean_error(&["array name"]);
        assert_eq!(
            tree_hash(dir.path()),
            before,
            "--array {name:?} changed the disk"
        );
    }
    // The library refuses the same names (one check, shared).
    let err = Ingest::new(&json, &a)
        .array("..")
        .overwrite(true)
        .run()
        .unwrap_err();
    assert!(err.to_string().contains("array name `..`"), "{err}");
    assert_eq!(tree_hash(dir.path()), before);
}

#[test]
fn stitch_out_naming_no_array_is_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (_json, a, _b) = two_stores(dir.path());
    let before = tree_hash(dir.path());
    let parent = a.join("..");
    for out in [s(&a), s(&parent)] {
        let run = run_bounded(
            "voxload",
            &[
                "stitch",
                s(dir.path()),
                "--config",
                "cfg.json",
                "--out",
                out,
                "--overwrite",
            ],
            1024,
            60,
        );
        run.assert_clean_error(&["--out", "array name"]);
        assert_eq!(
            tree_hash(dir.path()),
            before,
            "--out {out} changed the disk"
        );
    }
}

#[test]
fn a_symlink_leading_out_of_the_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (json, a, b) = two_stores(dir.path());
    std::os::unix::fs::symlink(&b, a.join("link")).unwrap();
    let before = tree_hash(&b);
    let out = run_bounded(
        "ingest",
        &[
            s(&json),
            s(&a),
            "--array",
            "link/image",
            "--overwrite",
            "--quiet",
        ],
        1024,
        60,
    );
    out.assert_clean_error(&["outside the store"]);
    assert_eq!(tree_hash(&b), before, "the sibling store changed");
}

#[test]
fn a_failed_overwrite_keeps_the_complete_array_and_a_good_one_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_json, a, b) = two_stores(dir.path());
    let old = read_all(&a, "image");
    let sibling = tree_hash(&b);
    // A new input with a tile missing: the replacement fails part way.
    let broken = tiles(dir.path(), "t2", [4, 48, 48], 2);
    std::fs::remove_file(broken.parent().unwrap().join("0003/1_1.png")).unwrap();
    let out = run_bounded(
        "ingest",
        &[
            s(&broken),
            s(&a),
            "--chunk",
            "2,32,32",
            "--overwrite",
            "--quiet",
        ],
        1024,
        60,
    );
    out.assert_clean_error(&["missing file"]);
    assert_eq!(read_all(&a, "image"), old, "the old array changed");
    let meta = voxload::store::ArrayMeta::read(&a.join("image")).unwrap();
    assert_eq!(meta.status, Status::Complete);
    // The failed copy is hidden from listings, and removed by the next replacement.
    let names: Vec<String> = voxload::store::list_arrays(&a)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["image"]);
    let good = tiles(dir.path(), "t3", [4, 48, 48], 3);
    let out = run_bounded(
        "ingest",
        &[
            s(&good),
            s(&a),
            "--chunk",
            "2,32,32",
            "--overwrite",
            "--quiet",
        ],
        1024,
        60,
    );
    assert_eq!(out.code, Some(0), "{}", out.text);
    assert_eq!(
        read_all(&a, "image"),
        clean_ingest(dir.path(), &good, [2, 32, 32])
    );
    assert_ne!(read_all(&a, "image"), old);
    assert_eq!(leftovers(&a), Vec::<String>::new());
    assert_eq!(tree_hash(&b), sibling, "the sibling store changed");
}

#[test]
fn a_second_writer_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let json = tiles(dir.path(), "t", [4, 48, 48], 1);
    let store = dir.path().join("a.zarr");
    let me = format!("process {}", std::process::id());
    {
        let _writer = ArrayLock::acquire(&store, "image", LockMode::Exclusive).unwrap();
        let before = tree_hash(dir.path());
        for extra in [
            &[][..],
            &["--overwrite"],
            &["--resume"],
            &["--z-range", "0:2"],
        ] {
            let mut args = vec![s(&json), s(&store), "--chunk", "2,32,32", "--quiet"];
            args.extend_from_slice(extra);
            let out = run_bounded("ingest", &args, 1024, 60);
            out.assert_clean_error(&["another writer", &me]);
            assert_eq!(tree_hash(dir.path()), before, "{extra:?} changed the disk");
        }
    }
    {
        // z-range writers share the array, and together still exclude a whole-array writer.
        let _range_writer = ArrayLock::acquire(&store, "image", LockMode::Shared).unwrap();
        let run = |extra: &[&str]| {
            let mut args = vec![s(&json), s(&store), "--chunk", "2,32,32", "--quiet"];
            args.extend_from_slice(extra);
            run_bounded("ingest", &args, 1024, 60)
        };
        let out = run(&["--z-range", "0:2"]);
        assert_eq!(out.code, Some(0), "{}", out.text);
        run(&[]).assert_clean_error(&["another writer"]);
        run_bounded("ingest", &["--finalize", s(&store), "--quiet"], 1024, 60)
            .assert_clean_error(&["another writer"]);
    }
    // With the lock free, the rest of the ranges and the finalize step go through.
    let args = [
        s(&json),
        s(&store),
        "--chunk",
        "2,32,32",
        "--quiet",
        "--z-range",
        "2:4",
    ];
    assert_eq!(run_bounded("ingest", &args, 1024, 60).code, Some(0));
    let out = run_bounded("ingest", &["--finalize", s(&store), "--quiet"], 1024, 60);
    assert_eq!(out.code, Some(0), "{}", out.text);
    assert_eq!(
        read_all(&store, "image"),
        clean_ingest(dir.path(), &json, [2, 32, 32])
    );
    assert_eq!(leftovers(&store), Vec::<String>::new());
}

#[test]
fn a_killed_writers_lock_does_not_block_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let json = tiles(dir.path(), "t", [48, 256, 256], 5);
    let store = dir.path().join("a.zarr");
    let lock = store.join(".image.voxload-lock");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args([
            s(&json),
            s(&store),
            "--chunk",
            "1,256,256",
            "--threads",
            "1",
            "--quiet",
        ])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !lock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up runs
    let status = child.wait().unwrap();
    assert!(
        lock.exists(),
        "the writer finished before it could be killed ({status})"
    );
    let out = run_bounded(
        "ingest",
        &[
            s(&json),
            s(&store),
            "--chunk",
            "1,256,256",
            "--resume",
            "--quiet",
        ],
        2048,
        120,
    );
    assert_eq!(out.code, Some(0), "{}", out.text);
    assert_eq!(
        read_all(&store, "image"),
        clean_ingest(dir.path(), &json, [1, 256, 256])
    );
    assert_eq!(leftovers(&store), Vec::<String>::new());
}

/// What readers saw while an array was replaced.
#[derive(Default)]
struct Seen {
    old: AtomicU64,
    new: AtomicU64,
    refused: AtomicU64,
}

#[test]
fn readers_during_an_overwrite_get_old_or_new_voxels_or_an_error_never_a_mix() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [32u64, 128, 128];
    let (old_json, new_json) = (
        tiles(dir.path(), "old", shape, 11),
        tiles(dir.path(), "new", shape, 12),
    );
    let store = dir.path().join("a.zarr");
    let chunk = [2, 32, 32];
    Ingest::new(&old_json, &store).chunk(chunk).run().unwrap();
    let reference = dir.path().join("new.zarr");
    Ingest::new(&new_json, &reference)
        .chunk(chunk)
        .run()
        .unwrap();
    let (old, new) = (read_all(&store, "image"), read_all(&reference, "image"));
    assert_ne!(old, new);
    let options = OpenOptions {
        limits: CacheLimits {
            max_mapped_files: 1, // every chunk fetched again: the guard runs on each
            ..CacheLimits::default()
        },
        ..OpenOptions::default()
    };
    let seen = Arc::new(Seen::default());
    let done = Arc::new(AtomicBool::new(false));
    let opened_before = Arc::new(MappedArray::<u8>::open_with(&store, "image", &options).unwrap());
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let (store, seen, done) = (store.clone(), seen.clone(), done.clone());
            let (old, new) = (old.clone(), new.clone());
            let mut early = (t == 0).then(|| opened_before.clone());
            std::thread::spawn(move || {
                let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(t);
                while !done.load(Ordering::SeqCst) {
                    // Thread 0 keeps the reader opened before the overwrite; thread 1 reopens.
                    let using_early = early.is_some();
                    let array = match early.clone() {
                        Some(a) => a,
                        None => match MappedArray::<u8>::open_with(&store, "image", &options) {
                            Ok(a) => Arc::new(a),
                            Err(_) => {
                                seen.refused.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        },
                    };
                    let begin = [
                        rng.random_range(0..28),
                        rng.random_range(0..96),
                        rng.random_range(0..96),
                    ];
                    let window = Bbox::new(begin, [4, 32, 32]);
                    let [z, y, x] = begin.map(|v| v as usize);
                    let cut = |v: &Array3<u8>| {
                        v.slice(ndarray::s![z..z + 4, y..y + 32, x..x + 32]).to_owned()
                    };
                    match array.read(window, PadMode::default()) {
                        Ok(w) if w == cut(&old) => seen.old.fetch_add(1, Ordering::Relaxed),
                        Ok(w) if w == cut(&new) && !using_early => {
                            seen.new.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(_) => panic!("reader {t} got a window at {begin:?} that is neither the old nor the new array"),
                        Err(Error::Replaced { .. }) => {
                            early = None; // as a user would: open it again
                            seen.refused.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => panic!("reader {t}: unexpected error {e}"),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(50));
    for json in [&new_json, &old_json, &new_json] {
        Ingest::new(json, &store)
            .chunk(chunk)
            .overwrite(true)
            .run()
            .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    done.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    let (o, n, r) = (
        seen.old.load(Ordering::Relaxed),
        seen.new.load(Ordering::Relaxed),
        seen.refused.load(Ordering::Relaxed),
    );
    assert!(o > 0 && n > 0, "old {o}, new {n}, refused {r}");
    assert!(
        r > 0,
        "the reader opened before never noticed the replacement"
    );
    assert_eq!(read_all(&store, "image"), new);
    assert_eq!(leftovers(&store), Vec::<String>::new());
}
