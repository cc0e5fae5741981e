//! Where a chunk's voxel bytes come from: a memory-mapped chunk file, an inner chunk of a
//! memory-mapped shard, or a chunk decoded by zarrs.
//!
//! Mapped files are kept in a bounded LRU, so any number of chunk files works within the
//! process's file-descriptor and address-space limits. Decoded chunks are kept in zarrs' own
//! size-bounded LRU of decoded chunks.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use memmap2::Mmap;
use zarrs::array::chunk_cache::{ChunkCache, ChunkCacheDecodedLruSizeLimit};
use zarrs::array::{Array, ArrayBytes};
use zarrs::storage::ReadableStorageTraits;

use super::guard::ReplacementGuard;
use super::meta::{ArrayMeta, Layout};
use super::shard_index::{IndexSpec, InnerLen};
use crate::{Error, Result, Shape};

/// Limits of a reader's caches.
#[derive(Clone, Copy, Debug)]
pub struct CacheLimits {
    /// The most chunk or shard files mapped at once (file descriptors are closed once a file
    /// is mapped, so this bounds memory mappings — Linux allows about 65 530 per process —
    /// not open files).
    pub max_mapped_files: usize,
    /// The most bytes of decoded chunks kept (decoding path only).
    pub max_decoded_bytes: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_mapped_files: 16384,
            max_decoded_bytes: 256 << 20,
        }
    }
}

/// The bytes of one chunk, C order, native (= little) endian, full chunk shape.
pub(crate) enum ChunkData {
    /// The chunk has no data: every voxel is the fill value.
    Fill,
    /// A range of a mapped file.
    Mapped(Arc<MappedFile>, usize),
    /// A chunk decoded by zarrs.
    Decoded(Arc<ArrayBytes<'static>>),
    /// Voxels decoded by voxload: an image file (one chunk), a chunk of a foreign volume.
    Owned(Arc<Vec<u8>>),
}

impl ChunkData {
    /// The chunk's bytes, or `None` for a fill chunk.
    pub(crate) fn bytes(&self, len: usize) -> Option<&[u8]> {
        match self {
            ChunkData::Fill => None,
            ChunkData::Mapped(file, start) => Some(&file.map[*start..*start + len]),
            ChunkData::Owned(bytes) => Some(&bytes[..len]),
            ChunkData::Decoded(bytes) => match bytes.as_ref() {
                ArrayBytes::Fixed(raw) => Some(&raw[..len]),
                _ => None,
            },
        }
    }
}

/// A mapped chunk or shard file, with its parsed shard index.
pub(crate) struct MappedFile {
    map: Mmap,
    /// For shards: the byte offset of each inner chunk, `None` where the inner chunk is absent.
    inner_offsets: Vec<Option<usize>>,
}

/// How chunks are fetched.
pub(crate) enum ChunkSource {
    Mapped {
        /// The array opened by zarrs, used only for chunk keys.
        array: Arc<Array<dyn ReadableStorageTraits>>,
        root: PathBuf,
        files: Mutex<LruCache<[u64; 3], Arc<MappedFile>>>,
        /// Inner chunks per shard along each axis (`[1, 1, 1]` unsharded).
        per_file: [u64; 3],
        /// Files are shards with an index.
        sharded: bool,
        /// Index layout, for shards.
        index_at_start: bool,
        index_crc32c: bool,
        /// Notices a replacement of the array after a file is fetched.
        guard: ReplacementGuard,
        /// The remote store whose mirror `root` is: chunk files are fetched on first use.
        remote: Option<Arc<super::remote::RemoteStore>>,
    },
    Decoded(ChunkCacheDecodedLruSizeLimit),
    /// A 2D image file decoded on demand: the whole array is one chunk.
    Image(super::image::ImageFile),
    /// A foreign volume's file mapped once, its chunks at their offsets
    /// (see [`super::foreign`]): `inner_offsets` holds one offset per chunk of the grid.
    File {
        file: Arc<MappedFile>,
        /// Chunks along each axis.
        per_axis: [u64; 3],
    },
    /// A foreign volume's chunks decoded on demand.
    Foreign(super::foreign::DecodedChunks),
}

impl ChunkSource {
    pub(crate) fn new(
        meta: &ArrayMeta,
        array: Arc<Array<dyn ReadableStorageTraits>>,
        root: PathBuf,
        limits: CacheLimits,
        guard: ReplacementGuard,
        remote: Option<Arc<super::remote::RemoteStore>>,
    ) -> Result<Self> {
        let capacity =
            NonZeroUsize::new(limits.max_mapped_files.max(1)).unwrap_or(NonZeroUsize::MIN);
        let mapped =
            |per_file: [u64; 3], sharded, index_at_start, index_crc32c| ChunkSource::Mapped {
                array: array.clone(),
                root: root.clone(),
                files: Mutex::new(LruCache::new(capacity)),
                per_file,
                sharded,
                index_at_start,
                index_crc32c,
                guard: guard.clone(),
                remote: remote.clone(),
            };
        Ok(match &meta.layout {
            Layout::Raw => mapped([1, 1, 1], false, false, false),
            Layout::ShardedRaw {
                inner,
                index_at_start,
                index_crc32c,
            } => mapped(
                std::array::from_fn(|a| meta.chunk[a] / inner[a]),
                true,
                *index_at_start,
                *index_crc32c,
            ),
            Layout::Decoded { .. } => Self::Decoded(ChunkCacheDecodedLruSizeLimit::new(
                array,
                limits.max_decoded_bytes,
            )),
        })
    }

    /// The chunk at grid index `chunk` of the read grid (inner chunks for sharded arrays), whose
    /// byte length is `chunk_bytes`.
    pub(crate) fn chunk(&self, chunk: [u64; 3], chunk_bytes: usize) -> Result<ChunkData> {
        match self {
            ChunkSource::Image(image) => Ok(ChunkData::Owned(image.bytes(chunk_bytes)?)),
            ChunkSource::File { file, per_axis } => {
                let n = per_axis;
                let i = ((chunk[0] * n[1] + chunk[1]) * n[2] + chunk[2]) as usize;
                Ok(match file.inner_offsets.get(i).copied().flatten() {
                    Some(offset) => ChunkData::Mapped(file.clone(), offset),
                    None => ChunkData::Fill,
                })
            }
            ChunkSource::Foreign(cache) => Ok(match cache.chunk(chunk, chunk_bytes)? {
                Some(bytes) => ChunkData::Owned(bytes),
                None => ChunkData::Fill,
            }),
            ChunkSource::Decoded(cache) => {
                // What zarrs is given is checked first (store/bounded.rs); a panic inside zarrs
                // is still caught here, as a last resort, and becomes an error naming the chunk.
                let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    cache.retrieve_chunk_bytes(&chunk, &zarrs::array::CodecOptions::default())
                }));
                let bytes = match fetched {
                    Ok(result) => {
                        result.map_err(|e| Error::zarrs(cache.array().path().as_str(), e))?
                    }
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        return Err(Error::zarrs(
                            cache.array().path().as_str(),
                            format!(
                                "chunk `{}` could not be decoded (zarrs failed: {what}); the chunk file is corrupt",
                                cache.array().chunk_key(&chunk).as_str()
                            ),
                        ));
                    }
                };
                match bytes.as_ref() {
                    ArrayBytes::Fixed(raw) if raw.len() >= chunk_bytes => {
                        Ok(ChunkData::Decoded(bytes))
                    }
                    _ => Err(Error::zarrs(
                        cache.array().path().as_str(),
                        "decoded chunk has an unexpected size",
                    )),
                }
            }
            ChunkSource::Mapped {
                array,
                root,
                files,
                per_file,
                sharded,
                index_at_start,
                index_crc32c,
                guard,
                remote,
            } => {
                let file_index: [u64; 3] = std::array::from_fn(|a| chunk[a] / per_file[a]);
                let cached = files
                    .lock()
                    .map_err(|_| poisoned())?
                    .get(&file_index)
                    .cloned();
                let file = match cached {
                    Some(f) => f,
                    None => {
                        let path = root.join(array.chunk_key(&file_index).as_str());
                        let inner_count = per_file.iter().product::<u64>() as usize;
                        let layout = FileLayout {
                            inner_bytes: chunk_bytes,
                            inner_count,
                            sharded: *sharded,
                            index_at_start: *index_at_start,
                            index_crc32c: *index_crc32c,
                        };
                        let mapped = match remote {
                            None => map_file(&path, &layout),
                            Some(remote) => match map_remote(remote, &path, &layout)? {
                                Remote::Mapped(m) => Ok(m),
                                Remote::Done(data) => return Ok(data),
                            },
                        };
                        // Whatever was fetched, it must be this array's, not a replacement's.
                        guard.check()?;
                        let Some(f) = mapped? else {
                            return Ok(ChunkData::Fill);
                        };
                        let f = Arc::new(f);
                        files
                            .lock()
                            .map_err(|_| poisoned())?
                            .put(file_index, f.clone());
                        f
                    }
                };
                let local: [u64; 3] = std::array::from_fn(|a| chunk[a] % per_file[a]);
                let inner = ((local[0] * per_file[1] + local[1]) * per_file[2] + local[2]) as usize;
                Ok(match file.inner_offsets[inner] {
                    Some(offset) => ChunkData::Mapped(file, offset),
                    None => ChunkData::Fill,
                })
            }
        }
    }

    /// Whether fetching a chunk may decode it (worth doing in parallel).
    pub(crate) fn decodes(&self) -> bool {
        matches!(self, ChunkSource::Decoded(_) | ChunkSource::Foreign(_))
    }

    /// The number of files currently mapped (0 on the decoding path).
    pub(crate) fn mapped_files(&self) -> usize {
        match self {
            ChunkSource::Mapped { files, .. } => files.lock().map(|f| f.len()).unwrap_or(0),
            ChunkSource::File { .. } => 1,
            ChunkSource::Decoded(_) | ChunkSource::Image(_) | ChunkSource::Foreign(_) => 0,
        }
    }
}

fn poisoned() -> Error {
    Error::Geometry("a reader thread panicked while holding the mapping cache".into())
}

struct FileLayout {
    inner_bytes: usize,
    inner_count: usize,
    sharded: bool,
    index_at_start: bool,
    index_crc32c: bool,
}

impl ChunkSource {
    /// The source of a foreign volume's chunks: its file mapped once, or its decoder behind a
    /// cache of `limits.max_decoded_bytes`.
    pub(crate) fn foreign(
        volume: &super::foreign::ForeignVolume,
        limits: CacheLimits,
    ) -> Result<Self> {
        use super::foreign::{map_volume_file, ForeignChunks};
        match &volume.chunks {
            ForeignChunks::Mapped(offsets) => {
                let chunk_bytes = chunk_voxels(volume.chunk) as u64 * volume.dtype.size() as u64;
                let (map, inner_offsets) = map_volume_file(&volume.path, offsets, chunk_bytes)?;
                Ok(ChunkSource::File {
                    file: Arc::new(MappedFile { map, inner_offsets }),
                    per_axis: super::foreign::chunks_per_axis(volume.shape, volume.chunk),
                })
            }
            ForeignChunks::Decoded(decoder) => Ok(ChunkSource::Foreign(
                super::foreign::DecodedChunks::new(decoder.clone(), limits.max_decoded_bytes),
            )),
        }
    }
}

/// What a remote chunk became: a mapping of its cached file, or data to use as it is.
enum Remote {
    Mapped(Option<MappedFile>),
    Done(ChunkData),
}

/// Fetches the chunk file at `path` of a remote store's mirror and maps it. A file the cache
/// evicted between the fetch and the mapping is fetched again (it never reads as fill).
fn map_remote(
    remote: &super::remote::RemoteStore,
    path: &std::path::Path,
    layout: &FileLayout,
) -> Result<Remote> {
    use super::remote::Fetched;
    for _ in 0..4 {
        match remote.ensure(path)? {
            Fetched::Cached => {}
            Fetched::Absent => return Ok(Remote::Done(ChunkData::Fill)),
            Fetched::Memory(bytes) if !layout.sharded && bytes.len() == layout.inner_bytes => {
                return Ok(Remote::Done(ChunkData::Owned(Arc::new(bytes))))
            }
            Fetched::Memory(bytes) => {
                return Err(Error::ChunkSize {
                    path: path.to_path_buf(),
                    actual: bytes.len() as u64,
                    expected: layout.inner_bytes as u64,
                })
            }
        }
        if let Some(mapped) = map_file(path, layout)? {
            return Ok(Remote::Mapped(Some(mapped)));
        }
        remote.forget(path);
    }
    Err(Error::Remote {
        endpoint: remote.endpoint().to_string(),
        key: path.display().to_string(),
        reason: "the cache evicts the chunk before it can be read; raise VOXLOAD_CACHE_BYTES above what one read needs".into(),
    })
}

/// Maps a chunk or shard file after checking that it is a regular file and its length against
/// the metadata; `None` when the file does not exist (the chunk reads as fill).
fn map_file(path: &std::path::Path, layout: &FileLayout) -> Result<Option<MappedFile>> {
    let (file, len) = match crate::file::open_regular(path) {
        Ok(f) => (f.file, f.len),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let spec = IndexSpec {
        count: layout.inner_count,
        at_start: layout.index_at_start,
        crc32c: layout.index_crc32c,
        big_endian: false,
    };
    let size_error = |expected| Error::ChunkSize {
        path: path.to_path_buf(),
        actual: len,
        expected,
    };
    if !layout.sharded && len != layout.inner_bytes as u64 {
        return Err(size_error(layout.inner_bytes as u64));
    }
    if layout.sharded && len < spec.len() {
        return Err(size_error(spec.len()));
    }
    // SAFETY: the file was opened read-only and its length checked above. The mapping stays
    // valid as long as no other process truncates the file; voxload's writers never rewrite a
    // file in place (they write a new file and rename it over the old one, which leaves this
    // mapping on the old inode), so only a foreign process truncating chunk files of an array
    // being read could invalidate it — the one case mmap cannot defend against (SPEC section 1).
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    // Large chunk files may then be mapped with huge pages where the kernel and filesystem
    // allow it, saving TLB misses on every row; a refusal changes nothing.
    #[cfg(target_os = "linux")]
    let _ = map.advise(memmap2::Advice::HugePage);
    if !layout.sharded {
        return Ok(Some(MappedFile {
            map,
            inner_offsets: vec![Some(0)],
        }));
    }
    let shard_error = |reason: String| Error::ShardIndex {
        path: path.to_path_buf(),
        reason,
    };
    let at = spec.locate(len).map_err(shard_error)?;
    let index = &map[at.start as usize..at.end as usize];
    let entries = spec
        .parse(index, len, InnerLen::Exactly(layout.inner_bytes as u64))
        .map_err(shard_error)?;
    let inner_offsets = entries
        .into_iter()
        .map(|e| e.map(|(offset, _)| offset as usize))
        .collect();
    Ok(Some(MappedFile { map, inner_offsets }))
}

/// The voxels of one chunk of the read grid.
pub(crate) fn chunk_voxels(shape: Shape) -> usize {
    shape.iter().product::<u64>() as usize
}
