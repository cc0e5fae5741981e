//! The writer lock of an array: an advisory file lock (`flock`) on a small file beside it.
//!
//! A writer that creates, resumes or replaces an array holds the lock exclusively, so a second
//! such writer fails at once with a message naming the first; writers of disjoint z ranges
//! (`Ingest::z_range`) share it, and still exclude an exclusive writer. The operating system
//! releases the lock when its process ends in any way, a `SIGKILL` included, so a stale lock
//! cannot exist: the next writer simply takes it. Readers never lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::array_dir;
use super::name::sibling;
use crate::{Error, Result};

/// How a writer holds an array's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// The only writer of the array.
    Exclusive,
    /// One of several writers of disjoint regions.
    Shared,
}

/// A held writer lock; released when dropped.
#[derive(Debug)]
pub struct ArrayLock {
    file: File,
    path: PathBuf,
    mode: LockMode,
}

impl ArrayLock {
    /// Takes the lock of array `name` (a checked name) in the store at `store`, creating the
    /// lock file `.NAME.voxload-lock` beside the array, without waiting.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder when another writer has it; [`Error::Io`] when the
    /// lock file cannot be created.
    pub fn acquire(store: &Path, name: &str, mode: LockMode) -> Result<Self> {
        Self::take(store, name, "lock", mode, false)
    }

    /// Takes, waiting for it as long as it is held, the exclusive lock that writers sharing
    /// array `name` hold while they decide who creates it and who completes it
    /// (`.NAME.voxload-join`). It is held for moments only.
    ///
    /// # Errors
    /// [`Error::Io`] when the lock file cannot be created or locked.
    pub(crate) fn wait_for_join(store: &Path, name: &str) -> Result<Self> {
        Self::take(store, name, "join", LockMode::Exclusive, true)
    }

    fn take(store: &Path, name: &str, suffix: &str, mode: LockMode, wait: bool) -> Result<Self> {
        let path = array_dir(store, &sibling(name, suffix));
        let dir = array_dir(store, name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        // A lock file is unlinked by its exclusive holder when it is done; a writer that opened
        // it just before then may lock the unlinked file, so it checks that the path still
        // names the file it locked, and otherwise tries again on the new one.
        let mut file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            let attempt = match (mode, wait) {
                (LockMode::Exclusive, true) => file.lock().map_err(TryLockError::Error),
                (LockMode::Exclusive, false) => file.try_lock(),
                (LockMode::Shared, _) => file.try_lock_shared(),
            };
            match attempt {
                Ok(()) if same_file(&file, &path) => break file,
                Ok(()) => continue,
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = (&file).read_to_string(&mut holder);
                    let holder = holder.trim();
                    return Err(Error::Locked {
                        path: dir,
                        holder: if holder.is_empty() {
                            "holder unknown".into()
                        } else {
                            holder.to_string()
                        },
                    });
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        };
        // Record who holds it, for the message a refused writer prints.
        let me = format!(
            "held by process {} ({}){}",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" "),
            if mode == LockMode::Shared {
                ", shared with other writers of disjoint parts"
            } else {
                ""
            }
        );
        if mode == LockMode::Exclusive {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = file.write_all(me.as_bytes());
        } else if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            let _ = file.write_all(me.as_bytes());
        }
        Ok(ArrayLock { file, path, mode })
    }

    /// The lock file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ArrayLock {
    fn drop(&mut self) {
        // The only holder removes the file, so a finished store holds nothing but Zarr;
        // shared holders leave it to the last exclusive writer (the finalize step).
        if self.mode == LockMode::Exclusive {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = self.file.unlock();
    }
}

/// Whether `path` still names the open `file` (same device and inode).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_both_and_shared_shares() {
        let dir = tempfile::tempdir().unwrap();
        let a = ArrayLock::acquire(dir.path(), "image", LockMode::Exclusive).unwrap();
        let err = ArrayLock::acquire(dir.path(), "image", LockMode::Exclusive).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        assert!(ArrayLock::acquire(dir.path(), "image", LockMode::Shared).is_err());
        // Another array is independent.
        let _b = ArrayLock::acquire(dir.path(), "label", LockMode::Exclusive).unwrap();
        drop(a);
        let s1 = ArrayLock::acquire(dir.path(), "image", LockMode::Shared).unwrap();
        let _s2 = ArrayLock::acquire(dir.path(), "image", LockMode::Shared).unwrap();
        assert!(ArrayLock::acquire(dir.path(), "image", LockMode::Exclusive).is_err());
        assert!(s1.path().ends_with(".image.voxload-lock"));
    }
}
