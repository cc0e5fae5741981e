//! The library's error type.
//!
//! Every variant names the file, key or value it is about and, where it helps, says what to do.

use std::path::PathBuf;

/// Everything that can go wrong in voxload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a named file or directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is not a Zarr v3 store or array.
    #[error("{path}: not a Zarr v3 store or array ({reason})")]
    NotZarr {
        /// The directory that was opened.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The array exists but its metadata cannot be used.
    #[error("{path}: unsupported array metadata: {reason}")]
    Unsupported {
        /// The array's directory.
        path: PathBuf,
        /// What is unsupported.
        reason: String,
    },
    /// The array uses a codec that zarrs cannot decode.
    #[error("{path}: codec `{codec}` is not supported by zarrs; re-encode the array with a supported codec (bytes, zstd, blosc, gzip, sharding_indexed, transpose, crc32c)")]
    UnknownCodec {
        /// The array's directory.
        path: PathBuf,
        /// The codec's name as written in the metadata.
        codec: String,
    },
    /// The caller asked for a different element type than the array stores.
    #[error("{path}: array holds {stored}, but {requested} was requested")]
    DtypeMismatch {
        /// The array's directory.
        path: PathBuf,
        /// The stored data type.
        stored: String,
        /// The requested data type.
        requested: String,
    },
    /// A chunk or shard file whose length is not what the metadata implies.
    #[error("{path}: chunk file is {actual} bytes, expected {expected}; the file is truncated or corrupt — re-ingest it (ingest --resume)")]
    ChunkSize {
        /// The chunk or shard file.
        path: PathBuf,
        /// Its length on disk.
        actual: u64,
        /// The length the metadata implies.
        expected: u64,
    },
    /// A shard index that is inconsistent with its shard file.
    #[error("{path}: corrupt shard index: {reason}")]
    ShardIndex {
        /// The shard file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An array marked as still being written.
    #[error("{path}: array is marked in-progress (an ingest has not finished); finish it with `ingest --resume`, or open with allow_incomplete to read it anyway")]
    Incomplete {
        /// The array's directory.
        path: PathBuf,
    },
    /// A window or shape argument that cannot be served.
    #[error("invalid geometry: {0}")]
    Geometry(String),
    /// A value that could not be parsed (command-line or configuration syntax).
    #[error("cannot parse {what} from `{input}`: {reason}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// The offending text.
        input: String,
        /// Why it failed.
        reason: String,
    },
    /// An error reported by zarrs for a named array.
    #[error("{path}: {message}")]
    Zarrs {
        /// The array's directory.
        path: PathBuf,
        /// zarrs' message.
        message: String,
    },
    /// A loader worker failed (a panic in a transform, or a worker that ended early).
    #[error("loader: {0}")]
    Worker(String),
    /// A sample or transform setting the augmentor cannot use.
    #[error("augmentation: {0}")]
    Augment(String),
    /// Data handed to a writer that does not fit the array.
    #[error("{path}: {reason}")]
    Write {
        /// The array's directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A configuration key that is unknown, of the wrong type or out of range.
    #[error("configuration key {key}: {reason}")]
    Config {
        /// The full dotted key (`DATASET.PAD_SIZE`).
        key: String,
        /// What is wrong, and what would be right.
        reason: String,
    },
    /// A window handed to a prediction writer that does not fit its grid, or a grid left
    /// incomplete.
    #[error("{path}: prediction window at {position:?}: {problem}")]
    Prediction {
        /// The output array's directory.
        path: PathBuf,
        /// The window's start, in volume coordinates.
        position: [i64; 3],
        /// What is wrong.
        problem: crate::predict::Problem,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Zarrs`] for `path`, from any zarrs error.
    pub(crate) fn zarrs(path: impl Into<PathBuf>, err: impl std::fmt::Display) -> Self {
        Error::Zarrs {
            path: path.into(),
            message: err.to_string(),
        }
    }
}
