//! The record of finished slabs: one empty marker file per slab, written atomically after the
//! slab's chunks, inside the array's directory.
//!
//! Separate files let several processes record disjoint z ranges without racing on a shared
//! file. Resume and completeness rest on these records only, never on which chunk files exist
//! (a chunk equal to the fill value legitimately has no file). The folder is removed once the
//! array is marked complete, so a finished store holds nothing but Zarr.

use std::path::{Path, PathBuf};

use crate::store::atomic::write_atomic;
use crate::{Error, Result};

/// The folder of slab markers inside an array's directory.
pub const PROGRESS_DIR: &str = ".voxload-progress";

/// The finished-slab records of one array.
#[derive(Clone, Debug)]
pub struct ProgressLog {
    dir: PathBuf,
}

impl ProgressLog {
    /// The log of the array in directory `array_dir`.
    #[must_use]
    pub fn new(array_dir: &Path) -> Self {
        ProgressLog {
            dir: array_dir.join(PROGRESS_DIR),
        }
    }

    fn marker(&self, (z0, z1): (u64, u64)) -> PathBuf {
        self.dir.join(format!("slab-{z0:010}-{z1:010}"))
    }

    /// True when slab `[z0, z1)` is recorded as finished.
    #[must_use]
    pub fn is_done(&self, slab: (u64, u64)) -> bool {
        self.marker(slab).is_file()
    }

    /// Records slab `[z0, z1)` as finished.
    ///
    /// # Errors
    /// [`Error::Io`] naming the marker file.
    pub fn record(&self, slab: (u64, u64)) -> Result<()> {
        let path = self.marker(slab);
        write_atomic(&path, b"").map_err(|e| Error::io(path, e))
    }

    /// The number of slabs recorded as finished.
    #[must_use]
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dir).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("slab-"))
                .count()
        })
    }

    /// The slabs of `slabs` not yet recorded.
    #[must_use]
    pub fn missing(&self, slabs: &[(u64, u64)]) -> Vec<(u64, u64)> {
        slabs
            .iter()
            .copied()
            .filter(|s| !self.is_done(*s))
            .collect()
    }

    /// Removes every record (after the array is marked complete).
    ///
    /// # Errors
    /// [`Error::Io`] when the folder exists but cannot be removed.
    pub fn clear(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.dir, e)),
            _ => Ok(()),
        }
    }
}
