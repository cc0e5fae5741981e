//! The place a writer fills: a checked array name, the writer lock, and — when an existing
//! array is being replaced — a staging copy beside it that is swapped in once complete.
//!
//! What a reader of `NAME` sees while a writer replaces it:
//! - until the new array is complete, the old one, untouched (the writer fills
//!   `.NAME.voxload-new` beside it, which listings leave out);
//! - then, in one atomic directory exchange (`renameat2(RENAME_EXCHANGE)`; where the filesystem
//!   lacks it, two renames with a moment in which `NAME` does not exist and opening it fails),
//!   the new complete array;
//! - a reader that opened the old array before the exchange keeps every chunk it had already
//!   mapped; its next chunk fetch notices that `NAME` is another directory now and fails with
//!   [`Error::Replaced`] — it never mixes old and new chunks, nor reads removed ones as fill.
//!
//! A replacement that fails or is killed leaves the old array as it was, plus the staging copy,
//! which the next replacement removes.

use std::path::{Path, PathBuf};

use super::array_dir;
use super::lock::{ArrayLock, LockMode};
use super::name::{check_array_name, checked_array_dir, sibling};
use crate::{Error, Result};

/// What a writer does with an existing array of the name it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Fail with an error.
    Fail,
    /// Build a new array beside it and swap it in once complete.
    Replace,
    /// Keep it and write into it, if it matches (resume), as its only writer.
    Keep,
    /// Keep it and write into it as one of several writers of disjoint regions (z ranges).
    Share,
}

/// A claimed place for array `name`: the lock is held while this lives.
#[derive(Debug)]
pub(crate) struct ArraySlot {
    store: PathBuf,
    name: String,
    /// The name the writer writes: `name`, or its staging sibling when replacing.
    write_name: String,
    /// Whether an array of this name existed and is kept (written into).
    kept: bool,
    _lock: ArrayLock,
}

impl ArraySlot {
    /// Checks `name`, takes the lock and decides where the writer writes.
    ///
    /// # Errors
    /// [`Error::ArrayName`], [`Error::Locked`]; [`Error::Write`] when the array exists and
    /// `existing` is [`Existing::Fail`]; I/O errors removing a stale staging copy.
    pub fn claim(store: &Path, name: &str, existing: Existing) -> Result<Self> {
        let dir = checked_array_dir(store, name)?;
        Self::claim_at(store, name, dir, existing)
    }

    /// A slot for array `leaf` (one name component) inside the group this slot writes: inside
    /// a staging copy, the child is written in place and swapped in with its group.
    ///
    /// # Errors
    /// As [`ArraySlot::claim`].
    pub fn child(&self, leaf: &str, existing: Existing) -> Result<Self> {
        check_array_name(leaf)?;
        if leaf.contains('/') {
            return Err(Error::ArrayName {
                name: leaf.into(),
                reason: "a child array's name is one component".into(),
            });
        }
        let name = format!("{}/{leaf}", self.write_name);
        let dir = array_dir(&self.store, &name);
        Self::claim_at(&self.store, &name, dir, existing)
    }

    fn claim_at(store: &Path, name: &str, dir: PathBuf, existing: Existing) -> Result<Self> {
        let mode = match existing {
            Existing::Share => LockMode::Shared,
            _ => LockMode::Exclusive,
        };
        let lock = ArrayLock::acquire(store, name, mode)?;
        let exists = dir.join("zarr.json").exists();
        let mut slot = ArraySlot {
            store: store.to_path_buf(),
            name: name.to_string(),
            write_name: name.to_string(),
            kept: false,
            _lock: lock,
        };
        match existing {
            Existing::Fail if exists => Err(Error::Write {
                path: dir,
                reason: "the array already exists; replace it (overwrite) or finish it (resume)"
                    .into(),
            }),
            Existing::Replace if exists || dir.exists() => {
                slot.write_name = sibling(name, "new");
                let staging = slot.write_dir();
                // We hold the lock: a staging copy left here is a failed replacement's.
                remove_tree(&staging)?;
                Ok(slot)
            }
            Existing::Keep | Existing::Share => {
                slot.kept = exists;
                Ok(slot)
            }
            _ => Ok(slot),
        }
    }

    /// A place for one of several writers of array `name` (see `predict::GridShare`): the
    /// writer lock shared with them, and the array they write together. Under the join lock
    /// (held by the returned [`ArrayLock`] until the caller has created the array or dropped
    /// it) it picks, in order: `name` when `joinable` accepts it (an unfinished array of the
    /// same kind: another writer's); `name` when no array is there; when `overwrite` is set,
    /// the staging sibling — joined when `joinable` accepts it, else made anew. The flag is
    /// true when the caller must create the array.
    ///
    /// # Errors
    /// [`Error::ArrayName`], [`Error::Locked`] (an exclusive writer has it); [`Error::Write`]
    /// when an array that cannot be joined exists and `overwrite` is off.
    pub fn claim_joint(
        store: &Path,
        name: &str,
        overwrite: bool,
        joinable: &dyn Fn(&Path) -> bool,
    ) -> Result<(Self, bool, ArrayLock)> {
        let dir = checked_array_dir(store, name)?;
        let lock = ArrayLock::acquire(store, name, LockMode::Shared)?;
        let join = ArrayLock::wait_for_join(store, name)?;
        let mut slot = ArraySlot {
            store: store.to_path_buf(),
            name: name.to_string(),
            write_name: name.to_string(),
            kept: false,
            _lock: lock,
        };
        if joinable(&dir) {
            slot.kept = true;
            return Ok((slot, false, join));
        }
        if !dir.join("zarr.json").exists() {
            return Ok((slot, true, join));
        }
        if !overwrite {
            return Err(Error::Write {
                path: dir,
                reason: "the array already exists (complete, or being written for another grid); replace it (overwrite)".into(),
            });
        }
        slot.write_name = sibling(name, "new");
        let staging = slot.write_dir();
        if joinable(&staging) {
            slot.kept = true;
            return Ok((slot, false, join));
        }
        remove_tree(&staging)?;
        Ok((slot, true, join))
    }

    /// Takes the join lock of the array (see [`ArraySlot::claim_joint`]), waiting for it.
    ///
    /// # Errors
    /// [`Error::Io`] when the lock file cannot be created or locked.
    pub fn join_lock(&self) -> Result<ArrayLock> {
        ArrayLock::wait_for_join(&self.store, &self.name)
    }

    /// The array name the writer writes into.
    pub fn write_name(&self) -> &str {
        &self.write_name
    }

    /// The directory the writer writes into.
    pub fn write_dir(&self) -> PathBuf {
        array_dir(&self.store, &self.write_name)
    }

    /// Whether an existing array is kept and written into.
    pub fn kept(&self) -> bool {
        self.kept
    }

    /// Puts the written array in its place (for a replacement: swaps it in, then removes the
    /// old one). Call after the array is marked complete.
    ///
    /// # Errors
    /// [`Error::Io`] when the swap fails (the old array is then still in place).
    pub fn commit(self) -> Result<()> {
        if self.write_name == self.name {
            return Ok(());
        }
        let staging = self.write_dir();
        let dir = array_dir(&self.store, &self.name);
        exchange(&staging, &dir)?;
        // The swap itself on stable storage: the entries of the parent directory.
        if let Some(parent) = dir.parent() {
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(parent, e))?;
        }
        // `staging` now holds the old array.
        remove_tree(&staging)
    }
}

/// Swaps directories `a` and `b` atomically where the filesystem allows, else by two renames
/// (`b` aside, `a` into its place).
fn exchange(a: &Path, b: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let (ca, cb) = (
            CString::new(a.as_os_str().as_bytes()).map_err(|e| Error::io(a, e.into()))?,
            CString::new(b.as_os_str().as_bytes()).map_err(|e| Error::io(b, e.into()))?,
        );
        // SAFETY: both arguments are valid NUL-terminated paths that outlive the call;
        // `renameat2` only reads them.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if !matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(Error::io(b, err));
        }
    }
    let aside = b.with_file_name(format!(
        "{}.voxload-old",
        b.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    remove_tree(&aside)?;
    std::fs::rename(b, &aside).map_err(|e| Error::io(b, e))?;
    std::fs::rename(a, b).map_err(|e| Error::io(a, e))?;
    std::fs::rename(&aside, a).map_err(|e| Error::io(&aside, e))
}

/// Removes a directory tree if it exists.
fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(dir, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_swaps_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("x"), "new").unwrap();
        std::fs::write(b.join("x"), "old").unwrap();
        exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(b.join("x")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(a.join("x")).unwrap(), "old");
    }
}
