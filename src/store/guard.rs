//! Noticing that an open array was replaced: a reader remembers which directory it opened, and
//! checks after fetching a chunk that the array's path still names that directory.
//!
//! Writers replace an array by swapping a complete new directory into its place (see
//! [`super::slot`]); a reader that fetched a chunk after the swap would otherwise mix the new
//! array's chunks with the old one's, or read the old array's removed chunks as fill. The check
//! is one `stat` per chunk file fetched (not per window: mapped files are cached).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey};

use crate::{Error, Result};

/// The identity of an array's directory when it was opened.
#[derive(Clone, Debug)]
pub(crate) struct ReplacementGuard {
    dir: PathBuf,
    id: Option<(u64, u64)>,
}

impl ReplacementGuard {
    /// Remembers which directory `dir` is now (call before reading its metadata).
    pub fn new(dir: &Path) -> Self {
        ReplacementGuard {
            dir: dir.to_path_buf(),
            id: identity(dir),
        }
    }

    /// Whether `dir` still names the directory that was opened.
    pub fn is_current(&self) -> bool {
        self.id.is_some() && identity(&self.dir) == self.id
    }

    /// [`Error::Replaced`] unless the directory is still the one opened.
    pub fn check(&self) -> Result<()> {
        if self.is_current() {
            Ok(())
        } else {
            Err(Error::Replaced {
                path: self.dir.clone(),
            })
        }
    }
}

fn identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// A read-only store that fails every fetch made after its array was replaced.
pub(crate) struct GuardedStore<S> {
    inner: S,
    guard: ReplacementGuard,
}

impl<S> GuardedStore<S> {
    pub fn new(inner: S, guard: ReplacementGuard) -> Self {
        GuardedStore { inner, guard }
    }

    fn checked<R>(&self, result: Result<R, StorageError>) -> Result<R, StorageError> {
        let value = result?;
        self.guard
            .check()
            .map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(value)
    }
}

impl<S: ReadableStorageTraits> ReadableStorageTraits for GuardedStore<S> {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        // The iterator reads lazily on some stores; the filesystem store reads eagerly, so the
        // bytes are in hand when the check runs.
        let result = self.inner.get_partial_many(key, byte_ranges);
        self.checked(result)
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        let result = self.inner.size_key(key);
        self.checked(result)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swapped_directory_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let guard = ReplacementGuard::new(&a);
        assert!(guard.check().is_ok());
        std::fs::rename(&a, dir.path().join("old")).unwrap();
        assert!(matches!(guard.check(), Err(Error::Replaced { .. })));
        std::fs::rename(&b, &a).unwrap();
        assert!(!guard.is_current());
    }
}
