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
    /// An array name a writer refuses (empty, absolute, `..`, reserved, or resolving outside the
    /// store); nothing was written.
    #[error("array name `{name}`: {reason}")]
    ArrayName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: String,
    },
    /// Another writer holds the array's lock.
    #[error("{path}: another writer is using this array ({holder}); wait for it to finish, or stop it — a killed writer's lock is released by the system, so a rerun then proceeds")]
    Locked {
        /// The array's directory.
        path: PathBuf,
        /// Who holds the lock, as that writer recorded it.
        holder: String,
    },
    /// The array was replaced or removed while this reader had it open.
    #[error("{path}: the array was replaced or removed while it was open (an --overwrite ingest or stitch swapped in a new one); open it again to read the new array")]
    Replaced {
        /// The array's directory.
        path: PathBuf,
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

/// The message of `error` followed by its causes, each cause left out when the text before it
/// already says it (variants such as [`Error::Io`] show their source in their own message).
///
/// ```
/// let io = std::io::Error::from_raw_os_error(28);
/// let e = voxload::Error::Io { path: "out.zarr/c/0/0/1".into(), source: io };
/// let text = voxload::error::report(&e);
/// assert_eq!(text.matches("No space left on device").count(), 1);
/// assert!(text.starts_with("out.zarr/c/0/0/1: "));
/// ```
#[must_use]
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// Whether `error` or one of its causes is the operating system's "no space left on device"
/// (also when a layer in between kept only the message, as zarrs' storage errors do).
///
/// ```
/// let e = voxload::Error::Io { path: "x".into(), source: std::io::Error::from_raw_os_error(28) };
/// assert!(voxload::error::is_disk_full(&e));
/// let missing = voxload::Error::Io { path: "x".into(), source: std::io::Error::from_raw_os_error(2) };
/// assert!(!voxload::error::is_disk_full(&missing));
/// ```
#[must_use]
pub fn is_disk_full(error: &(dyn std::error::Error + 'static)) -> bool {
    const ENOSPC: i32 = 28;
    let message = std::io::Error::from_raw_os_error(ENOSPC).to_string();
    let mut cause = Some(error);
    while let Some(c) = cause {
        let io = c.downcast_ref::<std::io::Error>();
        if io.is_some_and(|io| io.raw_os_error() == Some(ENOSPC))
            || c.to_string().contains(&message)
        {
            return true;
        }
        cause = c.source();
    }
    false
}
