//! The library's error type.
//!
//! Every variant names the file, key or value it is about and, where it helps, says what to do.
//! Ingest and prediction problems are sub-enums ([`IngestError`], [`PredictionProblem`]) carried
//! by [`Error::Ingest`] and [`Error::Prediction`]. Messages name the library's own settings
//! ([`LibraryOption`], e.g. `Ingest::resume`), never a command-line flag: a front end maps
//! [`Error::options`] to its own spelling of them.

mod ingest;
mod prediction;

use std::fmt;
use std::path::PathBuf;

pub use ingest::IngestError;
pub use prediction::PredictionProblem;

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
    #[error("{path}: chunk file is {actual} bytes, expected {expected}; the file is truncated or corrupt — re-ingest the array ({} redoes the unrecorded slabs, {} all of them)", LibraryOption::Resume, LibraryOption::Overwrite)]
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
    #[error("{path}: array is marked in-progress (an ingest has not finished); finish it with {}, or open it with {} to read it anyway", LibraryOption::Resume, LibraryOption::AllowIncomplete)]
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
    /// An error reported by zarrs for a named array (or store).
    #[error("{path}: {source}")]
    Zarrs {
        /// The array's directory (the store's, for an error opening the store).
        path: PathBuf,
        /// zarrs' error (or, where zarrs panicked or returned data of the wrong size, what
        /// happened).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
    #[error("{path}: the array was replaced or removed while it was open (an ingest with {} or a stitch swapped in a new one); open it again to read the new array", LibraryOption::Overwrite)]
    Replaced {
        /// The array's directory.
        path: PathBuf,
    },
    /// A remote store (S3, GCS, HTTP) could not give what a read needs: the endpoint was
    /// unreachable after its retries, refused the credentials, or sent something that is not
    /// the object asked for. The message names the store's address and the key, never a secret.
    #[error("{endpoint}: `{key}`: {reason}")]
    Remote {
        /// The store's address (`s3://bucket/path/em.zarr`) and, for a custom endpoint, where
        /// its requests went.
        endpoint: String,
        /// The object's key inside the store (`raw/c/0/1/2`), or `""` for the store itself.
        key: String,
        /// What went wrong and what to do.
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
        problem: PredictionProblem,
    },
    /// What only an ingest reports: missing or undecodable inputs, tile JSON keys, settings
    /// the input or the store rules out (store errors met while ingesting are the other
    /// variants).
    #[error(transparent)]
    Ingest(#[from] IngestError),
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

    /// An [`Error::Zarrs`] for `path`, keeping zarrs' error as the source (a `String` or
    /// `&str` where there is no error value to keep).
    pub(crate) fn zarrs(
        path: impl Into<PathBuf>,
        err: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Zarrs {
            path: path.into(),
            source: err.into(),
        }
    }

    /// The library settings this error's message names, the one to change first: a front end
    /// adds its own spelling of each (a command-line flag, a keyword argument); the message
    /// holds each one's [`LibraryOption`] display, so a front end may also put its own spelling
    /// in its place. Empty for errors that name none. ([`Error::Config`] names its setting by
    /// its `key` instead.)
    ///
    /// ```
    /// use voxload::error::{Error, LibraryOption};
    /// let e = Error::Incomplete { path: "out.zarr/image".into() };
    /// assert_eq!(e.options(), [LibraryOption::Resume, LibraryOption::AllowIncomplete]);
    /// assert!(e.to_string().contains("`Ingest::resume`"), "{e}");
    /// ```
    #[must_use]
    pub fn options(&self) -> &'static [LibraryOption] {
        match self {
            Error::ChunkSize { .. } => &[LibraryOption::Resume, LibraryOption::Overwrite],
            Error::Incomplete { .. } => &[LibraryOption::Resume, LibraryOption::AllowIncomplete],
            Error::Replaced { .. } => &[LibraryOption::Overwrite],
            Error::Ingest(e) => e.options(),
            _ => &[],
        }
    }
}

/// A setting of the library's API that an error message names (see [`Error::options`]);
/// displayed as its Rust path in backticks, e.g. `` `Ingest::resume` ``. The settings are
/// methods of `voxload::ingest::Ingest` and fields of `voxload::OpenOptions` (named, not
/// linked: `error` is a base module and refers to no module above it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LibraryOption {
    /// `Ingest::overwrite`: replace an existing array.
    Overwrite,
    /// `Ingest::resume`: finish an array, skipping recorded slabs.
    Resume,
    /// `Ingest::allow_missing`: fill missing tiles.
    AllowMissing,
    /// `Ingest::label`: the input is labels.
    Label,
    /// `Ingest::separate`: one array per image.
    Separate,
    /// `Ingest::z_range`: only some slices, other jobs fill the rest.
    ZRange,
    /// `Ingest::chunk`: the chunk shape.
    Chunk,
    /// `Ingest::shard`: the shard shape.
    Shard,
    /// `Ingest::max_chunk_bytes`: the limit on one chunk or shard file.
    MaxChunkBytes,
    /// `Ingest::threads`: decoding threads.
    Threads,
    /// `OpenOptions::allow_incomplete`: read an array still being written.
    AllowIncomplete,
}

impl LibraryOption {
    /// The setting's Rust path, e.g. `Ingest::resume`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            LibraryOption::Overwrite => "Ingest::overwrite",
            LibraryOption::Resume => "Ingest::resume",
            LibraryOption::AllowMissing => "Ingest::allow_missing",
            LibraryOption::Label => "Ingest::label",
            LibraryOption::Separate => "Ingest::separate",
            LibraryOption::ZRange => "Ingest::z_range",
            LibraryOption::Chunk => "Ingest::chunk",
            LibraryOption::Shard => "Ingest::shard",
            LibraryOption::MaxChunkBytes => "Ingest::max_chunk_bytes",
            LibraryOption::Threads => "Ingest::threads",
            LibraryOption::AllowIncomplete => "OpenOptions::allow_incomplete",
        }
    }
}

impl fmt::Display for LibraryOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.name())
    }
}

/// The message of `error` followed by its causes, each cause left out when the text before it
/// already says it (variants such as [`Error::Io`] and [`Error::Zarrs`] show their source in
/// their own message).
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

/// Levenshtein distance between two strings, by characters: how "did you mean" suggestions
/// (config keys, HDF5 dataset names) pick the nearest name.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("PAD_SZE", "PAD_SIZE"), 1);
        assert_eq!(edit_distance("", "ABC"), 3);
        assert_eq!(edit_distance("KITTEN", "SITTING"), 3);
        assert_eq!(edit_distance("raw", "rwa"), 2);
        assert_eq!(edit_distance("SAME", "SAME"), 0);
    }
    use std::error::Error as _;
    use zarrs::storage::StorageError;

    fn full_disk() -> StorageError {
        StorageError::from(std::sync::Arc::new(std::io::Error::from_raw_os_error(28)))
    }

    #[test]
    fn zarrs_error_is_kept_as_the_source() {
        let e = Error::zarrs("out.zarr/image", full_disk());
        let source = e.source().expect("a source");
        assert!(
            source.downcast_ref::<StorageError>().is_some(),
            "{source:?}"
        );
        let text = report(&e);
        assert!(text.starts_with("out.zarr/image: "), "{text}");
        assert_eq!(text.matches("No space left on device").count(), 1, "{text}");
        assert!(is_disk_full(&e));
    }

    #[test]
    fn zarrs_message_without_an_error_value_is_its_own_source() {
        let e = Error::zarrs("a.zarr/x", "decoded chunk has an unexpected size");
        assert_eq!(report(&e), "a.zarr/x: decoded chunk has an unexpected size");
        assert!(!is_disk_full(&e));
    }

    #[test]
    fn ingest_error_is_carried_with_its_options() {
        let e = Error::from(IngestError::Exists {
            path: "o.zarr/image".into(),
        });
        assert_eq!(
            e.options(),
            [LibraryOption::Overwrite, LibraryOption::Resume]
        );
        let text = e.to_string();
        assert!(text.starts_with("o.zarr/image: "), "{text}");
        for option in e.options() {
            assert!(text.contains(&option.to_string()), "{text}");
        }
        assert!(!text.contains("--"), "{text}");
    }
}
