//! Making an array durable before it is marked complete.
//!
//! Writers put every file in place by rename, so a killed process never leaves a torn chunk; a
//! power loss is another matter: the kernel may not yet have written a renamed file's data, or
//! the directory entry naming it. Before an array is marked `complete`, [`sync_tree`] flushes
//! every file and directory of it (`fsync`), and after the mark [`sync_mark`] flushes the mark
//! and the directories above it, so an array marked complete survives a power loss with every
//! chunk it depends on.

use std::fs::File;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::{Error, Result};

/// Flushes every regular file under `dir` (in parallel) and then every directory, `dir` itself
/// included, to stable storage.
///
/// # Errors
/// [`Error::Io`] naming the first file or directory that could not be flushed.
pub(crate) fn sync_tree(dir: &Path) -> Result<()> {
    let (files, dirs) = walk(dir)?;
    // A file listed and gone by the time it is opened was another writer's temporary, renamed
    // into place (that writer flushes its own files): nothing to flush.
    files
        .par_iter()
        .try_for_each(|f| match sync_path(f, false) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(())
            }
            other => other,
        })?;
    dirs.iter().try_for_each(|d| sync_path(d, true))
}

/// After the completion mark (`dir/zarr.json`) is written: flushes it, `dir`, and each
/// directory from `dir`'s parent up to `store` (the entries that name the array), so the mark
/// is on stable storage before the writer reports success.
///
/// # Errors
/// [`Error::Io`] naming the file or directory that could not be flushed.
pub(crate) fn sync_mark(store: &Path, dir: &Path) -> Result<()> {
    sync_path(&dir.join("zarr.json"), false)?;
    let mut at = Some(dir);
    while let Some(d) = at {
        sync_path(d, true)?;
        if d == store {
            break;
        }
        at = d.parent().filter(|p| p.starts_with(store));
    }
    Ok(())
}

/// Flushes each directory of `dirs` (their entries: files created or renamed in them).
///
/// # Errors
/// [`Error::Io`] naming the directory that could not be flushed.
pub(crate) fn sync_dirs(dirs: &[&Path]) -> Result<()> {
    dirs.iter().try_for_each(|d| sync_path(d, true))
}

/// `fsync` of one file or directory.
fn sync_path(path: &Path, is_dir: bool) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let synced = if is_dir {
        file.sync_all()
    } else {
        file.sync_data()
    };
    synced.map_err(|e| Error::io(path, e))
}

/// The regular files and the directories under `dir` (directories deepest first).
fn walk(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut files, mut dirs) = (Vec::new(), vec![dir.to_path_buf()]);
    let mut next = 0;
    while next < dirs.len() {
        let d = dirs[next].clone();
        next += 1;
        for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    dirs.reverse();
    Ok((files, dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_every_file_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a/c/0");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join("1"), b"x").unwrap();
        std::fs::write(dir.path().join("a/zarr.json"), b"{}").unwrap();
        let (files, dirs) = walk(&dir.path().join("a")).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(dirs.len(), 3);
        assert_eq!(dirs.last().unwrap(), &dir.path().join("a"));
        sync_tree(&dir.path().join("a")).unwrap();
        sync_mark(dir.path(), &dir.path().join("a")).unwrap();
        assert!(sync_tree(&dir.path().join("missing")).is_err());
    }
}
