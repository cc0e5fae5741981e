//! Atomic writes: whole files or none, with or without O_DIRECT.

use voxload::internals::atomic::{remove_stale_temporaries, write_atomic_with, TEMP_MARKER};

#[test]
fn direct_and_buffered_writes_store_exact_bytes_of_any_length() {
    let mut dirs = vec![tempfile::tempdir().unwrap()];
    // tmpfs refuses O_DIRECT: the write must fall back, not fail.
    if std::path::Path::new("/dev/shm").is_dir() {
        dirs.push(tempfile::tempdir_in("/dev/shm").unwrap());
    }
    for dir in &dirs {
        for len in [0usize, 1, 4095, 4096, 4097, 70_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            for direct in [false, true] {
                let path = dir.path().join(format!("sub/f{len}-{direct}"));
                write_atomic_with(&path, &bytes, direct).unwrap();
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    bytes,
                    "len {len} direct {direct}"
                );
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(TEMP_MARKER))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    // A pid that cannot be running (above the kernel's pid_max) and this process's parent.
    let dead = dir.path().join(format!(".c{TEMP_MARKER}4294967-0"));
    let live = dir.path().join(format!(
        ".c{TEMP_MARKER}{}-0",
        std::os::unix::process::parent_id()
    ));
    std::fs::write(&dead, b"x").unwrap();
    std::fs::write(&live, b"x").unwrap();
    assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 1);
    assert!(!dead.exists() && live.exists());
}
