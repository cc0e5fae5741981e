//! What can go wrong in an ingest, carried by [`Error::Ingest`](super::Error::Ingest).

use std::path::PathBuf;

use super::LibraryOption;
use crate::DType;

/// What can go wrong in an ingest (`voxload::ingest::Ingest`); every variant names the file,
/// key or settings it is about. Store errors met during an ingest are plain [`super::Error`]s;
/// this enum is what only an ingest reports, inside [`super::Error::Ingest`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A tile or image that does not exist.
    #[error(
        "{path}: missing file; check the path pattern, or set {} to fill missing tiles",
        LibraryOption::AllowMissing
    )]
    Missing {
        /// The expected file.
        path: PathBuf,
    },
    /// A file that cannot be decoded.
    #[error("{path}: cannot decode: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A tile whose size does not fit its place in the slice.
    #[error("{path}: tile is {found:?} (h, w) after resizing, but its place in the slice is {expected:?}")]
    TileSize {
        /// The tile's file.
        path: PathBuf,
        /// Its size.
        found: [u64; 2],
        /// The size of its region.
        expected: [u64; 2],
    },
    /// A tile whose pixel type does not fit the volume's data type without loss.
    #[error("{path}: {found} pixels do not fit a {expected} volume; set the tile JSON's `dtype` (or {} for colour labels)", LibraryOption::Label)]
    TileType {
        /// The tile's file.
        path: PathBuf,
        /// The pixel type found.
        found: &'static str,
        /// The volume's data type.
        expected: DType,
    },
    /// A tile JSON key that is missing, of the wrong type or inconsistent.
    #[error("{path}: key `{key}`: {reason}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// An input that is not one of the recognised forms.
    #[error("{path}: {reason}")]
    Input {
        /// The input.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The output array exists and the job neither replaces nor resumes it; nothing was
    /// written.
    #[error(
        "{path}: the array exists; set {} to replace it, or {} to finish it",
        LibraryOption::Overwrite,
        LibraryOption::Resume
    )]
    Exists {
        /// The array's directory.
        path: PathBuf,
    },
    /// `Ingest::finalize` found slabs that no job has recorded yet.
    #[error("{path}: {missing} of {slabs} slabs are not finished yet (first: z {}..{}); run the remaining {} jobs, or {}", first.0, first.1, LibraryOption::ZRange, LibraryOption::Resume)]
    Unfinished {
        /// The array's directory.
        path: PathBuf,
        /// How many slabs are not recorded.
        missing: u64,
        /// How many slabs the array has.
        slabs: u64,
        /// The first unrecorded slab, `[z0, z1)`.
        first: (u64, u64),
    },
    /// Settings that contradict each other, the input or the store (or a slab that cannot be
    /// allocated for them); nothing was written.
    #[error("{reason}")]
    Options {
        /// The settings involved, the one to change first.
        options: &'static [LibraryOption],
        /// What is wrong and what would work, naming the settings.
        reason: String,
    },
}

impl IngestError {
    /// An [`IngestError::Decode`] for `path`.
    pub(crate) fn decode(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        IngestError::Decode {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    /// An [`IngestError::Options`] about `options`.
    pub(crate) fn invalid(options: &'static [LibraryOption], reason: impl Into<String>) -> Self {
        IngestError::Options {
            options,
            reason: reason.into(),
        }
    }

    /// The library settings this error names (see [`super::Error::options`]).
    #[must_use]
    pub fn options(&self) -> &'static [LibraryOption] {
        match self {
            IngestError::Missing { .. } => &[LibraryOption::AllowMissing],
            IngestError::TileType { .. } => &[LibraryOption::Label],
            IngestError::Exists { .. } => &[LibraryOption::Overwrite, LibraryOption::Resume],
            IngestError::Unfinished { .. } => &[LibraryOption::ZRange, LibraryOption::Resume],
            IngestError::Options { options, .. } => options,
            IngestError::Decode { .. }
            | IngestError::TileSize { .. }
            | IngestError::Json { .. }
            | IngestError::Input { .. } => &[],
        }
    }
}
