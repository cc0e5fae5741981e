//! Checking a store without reading its voxels: metadata, completion mark, the length of every
//! chunk file and every shard index (bounds, crc32c); and, on request, the voxels against the
//! ingest input they came from.
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

use super::meta::{ArrayMeta, Layout, Status};
use super::{array_dir, list_arrays, zarrs_path, MappedArray, OpenOptions};
use crate::ingest::{Content, Ingest, Input};
use crate::{Bbox, DType, Element, Error, PadMode, Result, Shape};

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
    /// Slabs compared with the source (0 without a source).
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
            if !dir.join("zarr.json").is_file() {
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
            reason: "marked in-progress: an ingest has not finished (finish it with ingest --resume, or ingest --finalize after --z-range jobs)".into(),
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
    let files = FileCheck::new(&meta);
    match &files {
        None => report.notes.push(
            "chunks are decoded by zarrs: their lengths cannot be checked without decoding (use --source to compare voxels)".into(),
        ),
        Some(check) => {
            for_each_index(grid_shape(meta.shape, meta.chunk), |index| {
                let path = store.join(array.chunk_key(&index).as_str());
                match check.check(&path) {
                    Ok(true) => report.files += 1,
                    Ok(false) => report.absent += 1,
                    Err(reason) => {
                        report.files += 1;
                        report.problems.push(Problem { path, reason });
                    }
                }
            });
        }
    }
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

fn for_each_index(grid: Shape, mut f: impl FnMut(Vec<u64>)) {
    for z in 0..grid[0] {
        for y in 0..grid[1] {
            for x in 0..grid[2] {
                f(vec![z, y, x]);
            }
        }
    }
}

/// What a chunk or shard file of a memory-mappable array must look like.
struct FileCheck {
    /// Bytes of one (inner) chunk.
    chunk_bytes: u64,
    /// For shards: inner chunks per shard, index at the start, crc32c after the index.
    shard: Option<(usize, bool, bool)>,
}

impl FileCheck {
    fn new(meta: &ArrayMeta) -> Option<FileCheck> {
        let size = meta.dtype.size() as u64;
        match &meta.layout {
            Layout::Raw => Some(FileCheck {
                chunk_bytes: meta.chunk.iter().product::<u64>() * size,
                shard: None,
            }),
            Layout::ShardedRaw {
                inner,
                index_at_start,
                index_crc32c,
            } => {
                let count = (0..3).map(|a| meta.chunk[a] / inner[a]).product::<u64>();
                Some(FileCheck {
                    chunk_bytes: inner.iter().product::<u64>() * size,
                    shard: Some((count as usize, *index_at_start, *index_crc32c)),
                })
            }
            Layout::Decoded { .. } => None,
        }
    }

    /// `Ok(false)` when the file is absent, `Ok(true)` when it is whole, else what is wrong.
    fn check(&self, path: &Path) -> std::result::Result<bool, String> {
        let len = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Err("not a regular file".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.to_string()),
        };
        let Some((count, at_start, crc)) = self.shard else {
            if len != self.chunk_bytes {
                return Err(format!(
                    "chunk file is {len} bytes, expected {}; truncated or corrupt (re-ingest it: ingest --resume redoes unrecorded slabs, --overwrite redoes all)",
                    self.chunk_bytes
                ));
            }
            return Ok(true);
        };
        let index_len = 16 * count as u64 + if crc { 4 } else { 0 };
        if len < index_len {
            return Err(format!(
                "shard file is {len} bytes, shorter than its {index_len}-byte index"
            ));
        }
        let index_at = if at_start { 0 } else { len - index_len };
        let mut index = vec![0u8; index_len as usize];
        let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        file.seek(SeekFrom::Start(index_at))
            .and_then(|_| file.read_exact(&mut index))
            .map_err(|e| format!("cannot read the shard index: {e}"))?;
        let entries = 16 * count;
        if crc {
            let stored = u32::from_le_bytes(index[entries..].try_into().unwrap_or([0; 4]));
            let computed = crc32c::crc32c(&index[..entries]);
            if stored != computed {
                return Err(format!(
                    "shard index checksum {stored:#010x} does not match the computed {computed:#010x}"
                ));
            }
        }
        let data = if at_start {
            index_len..len
        } else {
            0..len - index_len
        };
        let word =
            |i: usize| u64::from_le_bytes(index[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
        for i in 0..count {
            let (offset, nbytes) = (word(2 * i), word(2 * i + 1));
            if offset == u64::MAX && nbytes == u64::MAX {
                continue;
            }
            if nbytes != self.chunk_bytes {
                return Err(format!(
                    "shard index: inner chunk {i} is {nbytes} bytes, expected {}",
                    self.chunk_bytes
                ));
            }
            match offset.checked_add(nbytes) {
                Some(end) if offset >= data.start && end <= data.end => {}
                _ => {
                    return Err(format!(
                        "shard index: inner chunk {i} at [{offset}, {offset} + {nbytes}) lies outside the shard's data [{}, {}) (past the end of the {len}-byte file, or over its index)",
                        data.start, data.end
                    ))
                }
            }
        }
        Ok(true)
    }
}

/// Compares array `name` of `store`, slab by slab (one chunk or shard depth at a time, so memory
/// holds two slabs), with the ingest input `source` decoded as [`Ingest`] would (`label` as
/// `ingest --label`); appends a [`Problem`] per slab that differs or cannot be read, naming the
/// first differing voxel, to the array's report.
///
/// # Errors
/// The source cannot be recognised or probed ([`crate::ingest::IngestError`], as an
/// [`Error::Parse`] naming the input), or the array's metadata is unusable.
pub fn compare_source(
    store: &Path,
    name: &str,
    source: &Path,
    label: bool,
    report: &mut ArrayReport,
) -> Result<()> {
    let source_error = |e: crate::ingest::IngestError| Error::Parse {
        what: "ingest input",
        input: source.display().to_string(),
        reason: e.to_string(),
    };
    let (input, content, shape, _) = Ingest::new(source, store)
        .label(label)
        .plan()
        .map_err(source_error)?;
    let dir = array_dir(store, name);
    let meta = ArrayMeta::read(&dir)?;
    if shape != meta.shape {
        report.problems.push(Problem {
            path: dir,
            reason: format!(
                "the array is {:?}, but the source {} is {shape:?}",
                meta.shape,
                source.display()
            ),
        });
        return Ok(());
    }
    let job = Compare {
        store,
        name,
        input: &input,
        content,
        shape,
        depth: meta.chunk[0],
    };
    match meta.dtype {
        DType::U8 => job.run::<u8>(report),
        DType::U16 => job.run::<u16>(report),
        DType::U32 => job.run::<u32>(report),
        DType::U64 => job.run::<u64>(report),
        DType::F32 => job.run::<f32>(report),
    }
}

struct Compare<'a> {
    store: &'a Path,
    name: &'a str,
    input: &'a Input,
    content: Content,
    shape: Shape,
    depth: u64,
}

impl Compare<'_> {
    fn run<T: Element>(&self, report: &mut ArrayReport) -> Result<()> {
        let dir = array_dir(self.store, self.name);
        let options = OpenOptions {
            allow_incomplete: true,
            ..OpenOptions::default()
        };
        let array = MappedArray::<T>::open_with(self.store, self.name, &options)?;
        let [d, h, w] = self.shape;
        let mut z0 = 0;
        while z0 < d {
            let z1 = (z0 + self.depth).min(d);
            let window = Bbox::new([z0 as i64, 0, 0], [z1 - z0, h, w]);
            let problem = |reason: String| Problem {
                path: dir.clone(),
                reason: format!("slices [{z0}, {z1}): {reason}"),
            };
            let expected = self
                .input
                .read_slab::<T>(self.shape, (z0, z1), self.content, None);
            let stored = array.read(window, PadMode::default());
            report.slabs_compared += 1;
            match (expected, stored) {
                (Err(e), _) => report.problems.push(problem(format!("source: {e}"))),
                (_, Err(e)) => report.problems.push(problem(format!("store: {e}"))),
                (Ok((expected, _)), Ok(stored)) => {
                    let differ = expected
                        .indexed_iter()
                        .zip(stored.iter())
                        .filter(|((_, a), b)| bytemuck::bytes_of(*a) != bytemuck::bytes_of(*b));
                    let mut count = 0u64;
                    let mut first = None;
                    for (((z, y, x), a), b) in differ {
                        count += 1;
                        first.get_or_insert(([z as u64 + z0, y as u64, x as u64], *a, *b));
                    }
                    if let Some((at, a, b)) = first {
                        report.problems.push(problem(format!(
                            "{count} voxels differ from the source; the first at (z, y, x) = {at:?}: source {a:?}, store {b:?}"
                        )));
                    }
                }
            }
            z0 = z1;
        }
        Ok(())
    }
}
