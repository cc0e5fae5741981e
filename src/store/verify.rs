//! Checking a store without reading its voxels: metadata, completion mark, the length of every
//! chunk file and every shard index (bounds, crc32c). Comparing the voxels with the ingest input
//! they came from is the ingest's business (`voxload::ingest::compare_source`), which adds its
//! findings to the same [`ArrayReport`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use voxload::store::verify::verify;
//! let dir = tempfile::tempdir()?;
//! let volume = ndarray::Array3::<u8>::from_elem((4, 4, 4), 7);
//! voxload::write_array(dir.path(), "image", &volume, [2, 4, 4], voxload::Encoding::Raw)?;
//! let report = verify(dir.path(), None)?;
//! assert!(report.is_clean());
//! std::fs::write(dir.path().join("image/c/1/0/0"), b"short")?;
//! let report = verify(dir.path(), None)?;
//! assert!(report.problems().any(|p| p.path.ends_with("image/c/1/0/0")));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::ReadableStorageTraits;

use super::bounded::Chain;
use super::meta::{ArrayMeta, Layout, Status};
use super::shard_index::{IndexSpec, InnerLen};
use super::{array_dir, list_arrays, zarrs_path};
use crate::error::LibraryOption;
use crate::{Error, Result, Shape};

/// One thing wrong with a store, naming the file (or array directory) it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The chunk, shard or metadata file, or the array's directory.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// What was checked in one array, and what was found.
#[derive(Clone, Debug, Default)]
pub struct ArrayReport {
    /// The array's name in the store (`""` for an array at the root).
    pub name: String,
    /// The layout, as [`Layout::describe`] gives it (empty when the metadata is unreadable).
    pub layout: String,
    /// Chunk or shard files present and checked.
    pub files: u64,
    /// Chunk or shard positions with no file (legal: they read as the fill value).
    pub absent: u64,
    /// Chunk or shard files of an array decoded by zarrs, checked as the reader checks them
    /// before decoding (file type and size, shard indexes, declared zstd sizes) but not
    /// decoded; not counted in `files`, whose lengths are exact.
    pub decoded: u64,
    /// Slabs compared with the source by `ingest::compare_source` (0 without a source).
    pub slabs_compared: u64,
    /// Everything wrong.
    pub problems: Vec<Problem>,
    /// Things worth knowing that are not errors (an unmarked array, chunks not checkable
    /// without decoding).
    pub notes: Vec<String>,
}

/// The result of [`verify`]: one report per array.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The arrays checked, by name.
    pub arrays: Vec<ArrayReport>,
}

impl Report {
    /// True when no array has a problem.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.arrays.iter().all(|a| a.problems.is_empty())
    }

    /// Every problem of every array.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.arrays.iter().flat_map(|a| a.problems.iter())
    }
}

/// Checks every array of the store at `store` (or only array `name`): its metadata (including
/// zarrs' own validation), its completion mark, and for raw and sharded-raw arrays the length of
/// every chunk file and every shard's index (size, crc32c, each inner chunk's bounds), reading
/// file metadata and shard indexes only, never voxels. Absent chunk files are legal (fill).
///
/// # Errors
/// [`Error::NotZarr`] when `store` holds no Zarr v3 node (or no array `name`); I/O errors while
/// listing the store. Everything wrong inside an array is a [`Problem`] in the report instead.
pub fn verify(store: &Path, name: Option<&str>) -> Result<Report> {
    let arrays = match name {
        Some(name) => {
            let dir = array_dir(store, name);
            // `exists`, not `is_file`: a zarr.json that is a FIFO or a device is a problem to
            // report (ArrayMeta::read names it), not a missing array.
            if !dir.join("zarr.json").exists() {
                return Err(Error::NotZarr {
                    path: dir,
                    reason: "no zarr.json here".into(),
                });
            }
            vec![(name.to_string(), ArrayMeta::read(&dir))]
        }
        None => list_arrays(store)?,
    };
    let mut report = Report::default();
    for (name, meta) in arrays {
        report.arrays.push(verify_array(store, &name, meta));
    }
    Ok(report)
}

fn verify_array(store: &Path, name: &str, meta: Result<ArrayMeta>) -> ArrayReport {
    let dir = array_dir(store, name);
    let mut report = ArrayReport {
        name: name.to_string(),
        ..ArrayReport::default()
    };
    let meta = match meta {
        Ok(meta) => meta,
        Err(e) => {
            report.problems.push(Problem {
                path: dir.join("zarr.json"),
                reason: format!("unusable metadata: {e}"),
            });
            return report;
        }
    };
    report.layout = meta.layout.describe();
    match meta.status {
        Status::Complete => {}
        Status::InProgress => report.problems.push(Problem {
            path: dir.join("zarr.json"),
            reason: format!(
                "marked in-progress: an ingest has not finished (finish it with {}, or `Ingest::finalize` after {} jobs)",
                LibraryOption::Resume,
                LibraryOption::ZRange
            ),
        }),
        Status::Unmarked => report
            .notes
            .push("no voxload completion mark (written by another tool): completeness not known".into()),
    }
    let array = match open_zarrs(store, name) {
        Ok(array) => array,
        Err(e) => {
            report.problems.push(Problem {
                path: dir.join("zarr.json"),
                reason: format!("zarrs refuses the metadata: {e}"),
            });
            return report;
        }
    };
    let Some(check) = FileCheck::new(&meta) else {
        report.problems.push(Problem {
            path: dir.join("zarr.json"),
            reason: "its codecs list cannot be read".into(),
        });
        return report;
    };
    if let FileCheck::Decoded(_) = check {
        report.notes.push(
            "chunks are decoded by zarrs: their files are checked as the reader checks them before decoding (file type and size, shard indexes, declared zstd sizes), their voxels not decoded (`ingest::compare_source` compares voxels)".into(),
        );
    }
    // Walk the files that exist, not every chunk position: a declared shape of 2^62 voxels
    // with a handful of files is checked at once.
    let files = match chunk_files(store, &dir, &array, grid_shape(meta.shape, meta.chunk)) {
        Ok(files) => files,
        Err(e) => {
            report.problems.push(Problem {
                path: dir.clone(),
                reason: format!("cannot list the chunk files: {e}"),
            });
            return report;
        }
    };
    let counter = match check {
        FileCheck::Mapped { .. } => &mut report.files,
        FileCheck::Decoded(_) => &mut report.decoded,
    };
    let mut problems = Vec::new();
    for path in files {
        match check.check(&path) {
            Ok(true) => *counter += 1,
            Ok(false) => {}
            Err(reason) => {
                *counter += 1;
                problems.push(Problem { path, reason });
            }
        }
    }
    let present = *counter;
    report.problems.extend(problems);
    let positions = grid_shape(meta.shape, meta.chunk)
        .iter()
        .try_fold(1u64, |n, &g| n.checked_mul(g))
        .unwrap_or(u64::MAX);
    report.absent = positions.saturating_sub(present);
    report
}

fn open_zarrs(store: &Path, name: &str) -> Result<Array<dyn ReadableStorageTraits>> {
    let fs = FilesystemStore::new(store).map_err(|e| Error::zarrs(store, e))?;
    let storage: Arc<dyn ReadableStorageTraits> = Arc::new(fs);
    Array::open(storage, &zarrs_path(name)).map_err(|e| Error::zarrs(array_dir(store, name), e))
}

/// Chunks (or shards) along each axis.
fn grid_shape(shape: Shape, chunk: Shape) -> Shape {
    std::array::from_fn(|a| shape[a].div_ceil(chunk[a]))
}

/// The chunk (or shard) files of the array in `dir`, sorted: every file under it whose key is
/// the key zarrs gives a chunk position inside the grid (other files, such as voxload's
/// progress records, are not chunks). Directories are entered once each, symlinks followed.
fn chunk_files(
    store: &Path,
    dir: &Path,
    array: &Array<dyn ReadableStorageTraits>,
    grid: Shape,
) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut visited = std::collections::HashSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let meta = std::fs::metadata(&d)?;
        if !visited.insert(file_id(&meta)) {
            continue;
        }
        for entry in std::fs::read_dir(&d)?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(key) = path.strip_prefix(store) else {
                continue;
            };
            let key = key
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy();
            let parts: Vec<&str> = rel.split(['/', '.']).collect();
            let parts = match parts.as_slice() {
                ["c", rest @ ..] => rest,
                all => all,
            };
            let index: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
            let Some(index) = index.filter(|i| i.len() == 3 && (0..3).all(|a| i[a] < grid[a]))
            else {
                continue;
            };
            if array.chunk_key(&index).as_str() == key {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A file's identity: `(device, inode)` on Unix.
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

/// What a chunk or shard file must look like.
enum FileCheck {
    /// Memory-mapped layouts: the exact length of a chunk, or of each inner chunk of a shard
    /// with its index.
    Mapped {
        chunk_bytes: u64,
        shard: Option<IndexSpec>,
    },
    /// Decoded by zarrs: the checks the reader makes before decoding.
    Decoded(Chain),
}

impl FileCheck {
    fn new(meta: &ArrayMeta) -> Option<FileCheck> {
        let size = meta.dtype.size() as u64;
        // ArrayMeta::read checked that these products do not overflow.
        let bytes = |s: Shape| s.iter().product::<u64>() * size;
        match &meta.layout {
            Layout::Raw => Some(FileCheck::Mapped {
                chunk_bytes: meta.chunk_bytes(),
                shard: None,
            }),
            Layout::ShardedRaw {
                inner,
                index_at_start,
                index_crc32c,
            } => {
                let count = (0..3).map(|a| meta.chunk[a] / inner[a]).product::<u64>();
                Some(FileCheck::Mapped {
                    chunk_bytes: bytes(*inner),
                    shard: Some(IndexSpec {
                        count: count as usize,
                        at_start: *index_at_start,
                        crc32c: *index_crc32c,
                        big_endian: false,
                    }),
                })
            }
            Layout::Decoded { .. } => Chain::for_array(meta).map(FileCheck::Decoded),
        }
    }

    /// `Ok(false)` when the file is absent, `Ok(true)` when it is whole, else what is wrong.
    fn check(&self, path: &Path) -> std::result::Result<bool, String> {
        let (chunk_bytes, shard) = match self {
            FileCheck::Decoded(chain) => return chain.check_file(path),
            FileCheck::Mapped { chunk_bytes, shard } => (*chunk_bytes, shard),
        };
        let opened = match crate::file::open_regular(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.to_string()),
        };
        let len = opened.len;
        let Some(spec) = shard else {
            if len != chunk_bytes {
                return Err(format!(
                    "chunk file is {len} bytes, expected {chunk_bytes}; truncated or corrupt (re-ingest it: {} redoes unrecorded slabs, {} all of them)",
                    LibraryOption::Resume,
                    LibraryOption::Overwrite
                ));
            }
            return Ok(true);
        };
        let at = spec.locate(len)?;
        let mut index = vec![0u8; spec.len() as usize];
        let mut file = opened.file;
        file.seek(SeekFrom::Start(at.start))
            .and_then(|_| file.read_exact(&mut index))
            .map_err(|e| format!("cannot read the shard index: {e}"))?;
        spec.parse(&index, len, InnerLen::Exactly(chunk_bytes))
            .map_err(|e| format!("shard index: {e}"))?;
        Ok(true)
    }
}
