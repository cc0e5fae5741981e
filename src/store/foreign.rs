//! Volumes kept outside Zarr — HDF5 datasets, multi-page TIFF files — described once, when
//! they are opened, as a regular chunk grid over one file. Each chunk is either a byte range
//! of the file holding raw voxels (served from one memory mapping of the file, like a raw Zarr
//! chunk) or decoded on demand by the format's [`ChunkDecoder`] into a cache bounded in bytes.
//!
//! A format module (`hdf5`, `tiff_volume`) only has to describe its file as a
//! [`ForeignVolume`]; padding, windows, zoom and every consumer then work unchanged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use memmap2::Mmap;

use std::marker::PhantomData;

use super::chunks::{CacheLimits, ChunkSource};
use super::meta::{ArrayMeta, Layout, Status};
use super::MappedArray;
use crate::{ChunkGrid, DType, Element, Error, Result, Shape};

/// A volume in a file that is not a Zarr store, as the readers see it.
pub(crate) struct ForeignVolume {
    /// The file.
    pub path: PathBuf,
    /// What the file holds and how, for `voxload info` (e.g. `HDF5 dataset /raw, contiguous`).
    pub format: String,
    /// The shape `(z, y, x)`.
    pub shape: Shape,
    /// The chunk shape of the grid the chunks are numbered on.
    pub chunk: Shape,
    /// The voxels' type.
    pub dtype: DType,
    /// The little-endian bytes of one voxel of the value chunks without stored data read as
    /// (`dtype.size()` bytes; zeros when the format has no fill value).
    pub fill: Vec<u8>,
    /// Where the chunks' voxels come from.
    pub chunks: ForeignChunks,
    /// Metadata worth showing (attributes, voxel size), as JSON.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// Where the voxels of a [`ForeignVolume`]'s chunks come from.
pub(crate) enum ForeignChunks {
    /// Chunk `i` (chunks numbered in C order over the grid: `(cz · ny + cy) · nx + cx`) is at
    /// byte `offsets[i]` of the file: the full chunk shape's voxels in C order, little-endian.
    /// `None` for a chunk with no storage (every voxel is the fill value).
    Mapped(Vec<Option<u64>>),
    /// Chunks decoded on demand.
    Decoded(Arc<dyn ChunkDecoder>),
}

/// Decodes one chunk of a [`ForeignVolume`].
pub(crate) trait ChunkDecoder: Send + Sync {
    /// The voxels of the chunk at grid index `chunk`: the full chunk shape in C order,
    /// little-endian (voxels past the volume's edge may hold anything), or `None` when the
    /// chunk has no stored data and reads as the fill value.
    ///
    /// # Errors
    /// A typed error naming the file and the chunk (or page) that cannot be read.
    fn decode(&self, chunk: [u64; 3]) -> Result<Option<Vec<u8>>>;
}

impl<T: Element> MappedArray<T> {
    /// The array of a foreign volume (an HDF5 dataset, a TIFF file; see [`super::foreign`]).
    pub(crate) fn from_foreign(volume: ForeignVolume, limits: CacheLimits) -> Result<Self> {
        if volume.dtype != T::DTYPE {
            return Err(Error::DtypeMismatch {
                path: volume.path.clone(),
                stored: volume.dtype.to_string(),
                requested: T::DTYPE.to_string(),
            });
        }
        let fill = bytemuck::try_pod_read_unaligned::<T>(&volume.fill).map_err(|_| {
            Error::Unsupported {
                path: volume.path.clone(),
                reason: "fill value does not match the data type".into(),
            }
        })?;
        let source = ChunkSource::foreign(&volume, limits)?;
        let layout = match volume.chunks {
            ForeignChunks::Mapped(_) => Layout::Raw,
            ForeignChunks::Decoded(_) => Layout::Decoded {
                codecs: vec![volume.format.clone()],
            },
        };
        let meta = ArrayMeta {
            path: volume.path,
            shape: volume.shape,
            chunk: volume.chunk,
            dtype: volume.dtype,
            layout,
            status: Status::Unmarked,
            attributes: volume.attributes,
        };
        Ok(MappedArray {
            grid: ChunkGrid::new(meta.shape, meta.chunk)?,
            meta,
            source,
            fill,
            zoom: None,
            remote: false,
            _type: PhantomData,
        })
    }
}

/// Maps `path` read-only, after checking that every chunk of `chunk_bytes` bytes at its
/// offset lies inside the file; returns the mapping and the offsets as `usize`.
pub(crate) fn map_volume_file(
    path: &Path,
    offsets: &[Option<u64>],
    chunk_bytes: u64,
) -> Result<(Mmap, Vec<Option<usize>>)> {
    let opened = crate::file::open_regular(path).map_err(|e| Error::io(path, e))?;
    let len = opened.len;
    let checked = offsets
        .iter()
        .map(|offset| {
            let Some(o) = offset else { return Ok(None) };
            let end = o.checked_add(chunk_bytes).unwrap_or(u64::MAX);
            let truncated = || Error::ChunkSize {
                path: path.to_path_buf(),
                actual: len,
                expected: end,
            };
            if end > len {
                return Err(truncated());
            }
            usize::try_from(*o).map(Some).map_err(|_| truncated())
        })
        .collect::<Result<Vec<_>>>()?;
    // SAFETY: the file was opened read-only and every chunk's range checked against its
    // length above. As for Zarr chunk files (SPEC section 1), only another process truncating
    // the file while it is read could invalidate the mapping.
    let map = unsafe { Mmap::map(&opened.file) }.map_err(|e| Error::io(path, e))?;
    Ok((map, checked))
}

/// Decoded chunks of one foreign volume, bounded in bytes (least recently used evicted).
pub(crate) struct DecodedChunks {
    decoder: Arc<dyn ChunkDecoder>,
    cache: Mutex<Cache>,
    limit: u64,
}

struct Cache {
    chunks: LruCache<[u64; 3], Option<Arc<Vec<u8>>>>,
    bytes: u64,
}

impl DecodedChunks {
    pub(crate) fn new(decoder: Arc<dyn ChunkDecoder>, limit: u64) -> Self {
        DecodedChunks {
            decoder,
            cache: Mutex::new(Cache {
                chunks: LruCache::unbounded(),
                bytes: 0,
            }),
            limit,
        }
    }

    /// The chunk's voxels (decoded now unless cached), at least `len` bytes, or `None` for a
    /// fill chunk.
    pub(crate) fn chunk(&self, chunk: [u64; 3], len: usize) -> Result<Option<Arc<Vec<u8>>>> {
        if let Some(hit) = self.lock()?.chunks.get(&chunk).cloned() {
            return Ok(hit);
        }
        let decoded = self.decoder.decode(chunk)?.map(Arc::new);
        if let Some(d) = &decoded {
            if d.len() < len {
                return Err(Error::Geometry(format!(
                    "chunk {chunk:?} decoded to {} bytes where {len} were expected",
                    d.len()
                )));
            }
        }
        let size = decoded.as_ref().map_or(0, |d| d.len() as u64);
        let mut cache = self.lock()?;
        if cache.chunks.put(chunk, decoded.clone()).is_none() {
            cache.bytes += size;
        }
        while cache.bytes > self.limit && cache.chunks.len() > 1 {
            match cache.chunks.pop_lru() {
                Some((_, Some(old))) => cache.bytes -= old.len() as u64,
                Some((_, None)) => {}
                None => break,
            }
        }
        Ok(decoded)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Cache>> {
        self.cache
            .lock()
            .map_err(|_| Error::Geometry("a reader panicked while holding a chunk cache".into()))
    }
}

/// The least number of chunks that cover `shape` along each axis.
pub(crate) fn chunks_per_axis(shape: Shape, chunk: Shape) -> [u64; 3] {
    std::array::from_fn(|a| shape[a].div_ceil(chunk[a].max(1)))
}

/// A path that names a foreign volume rather than a Zarr node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ForeignAddress {
    /// `FILE.h5` (its only dataset, or PyTC's choice among several) or `FILE.h5/group/dataset`,
    /// split after the last component ending in `.h5`, `.hdf5` or `.hdf`.
    Hdf5 { file: PathBuf, dataset: String },
    /// A (multi-page) TIFF file, `.tif` or `.tiff`.
    Tiff(PathBuf),
}

fn has_extension(component: &str, extensions: &[&str]) -> bool {
    let lower = component.to_ascii_lowercase();
    extensions.iter().any(|e| lower.ends_with(e))
}

impl ForeignAddress {
    /// What `path` names, if it is a foreign volume: an HDF5 file (with a dataset path after
    /// it) or a TIFF file. A path inside a `.zarr` store never is.
    pub(crate) fn parse(path: &Path) -> Option<ForeignAddress> {
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let last_zarr = parts.iter().rposition(|p| p.ends_with(".zarr"));
        let h5 = parts
            .iter()
            .rposition(|p| has_extension(p, &[".h5", ".hdf5", ".hdf"]));
        if let Some(i) = h5.filter(|&i| last_zarr.is_none_or(|z| z < i)) {
            let file: PathBuf = path.components().take(i + 1).collect();
            if file.is_dir() {
                return None;
            }
            return Some(ForeignAddress::Hdf5 {
                file,
                dataset: parts[i + 1..].join("/"),
            });
        }
        let last = parts.last()?;
        (has_extension(last, &[".tif", ".tiff"]) && !path.is_dir())
            .then(|| ForeignAddress::Tiff(path.to_path_buf()))
    }

    /// The arrays of the file, as [`super::list_arrays`] lists a store's: every dataset of an
    /// HDF5 file, or the one array a dataset address or a TIFF file names (named `""`).
    ///
    /// # Errors
    /// As the format's reader, for the file itself; each array's own error is in its entry.
    pub(crate) fn list(&self) -> Result<Vec<(String, Result<super::ArrayMeta>)>> {
        let meta = |address: ForeignAddress| {
            let volume = address.open()?;
            crate::dispatch_dtype!(volume.dtype, T => {
                Ok(super::MappedArray::<T>::from_foreign(volume, Default::default())?.meta().clone())
            })
        };
        match self {
            ForeignAddress::Hdf5 { file, dataset } if dataset.is_empty() => {
                Ok(super::hdf5::list_datasets(file)?
                    .into_iter()
                    .map(|(name, _)| {
                        let address = ForeignAddress::Hdf5 {
                            file: file.clone(),
                            dataset: name.clone(),
                        };
                        (name, meta(address))
                    })
                    .collect())
            }
            // A named dataset, or a TIFF, is the address's one array, named `""` as the root
            // array of a Zarr store is.
            ForeignAddress::Hdf5 { .. } | ForeignAddress::Tiff(_) => {
                Ok(vec![(String::new(), meta(self.clone()))])
            }
        }
    }

    /// Opens the volume the address names.
    ///
    /// # Errors
    /// As the format's reader: a typed error naming the file (and the dataset or page).
    pub(crate) fn open(&self) -> Result<ForeignVolume> {
        match self {
            ForeignAddress::Hdf5 { file, dataset } => super::hdf5::open(file, dataset),
            ForeignAddress::Tiff(file) => super::tiff_volume::open(file),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_after_the_hdf5_file_and_name_tiff_files() {
        let parse = |p: &str| ForeignAddress::parse(Path::new(p));
        assert_eq!(
            parse("data/vol.h5/group/raw"),
            Some(ForeignAddress::Hdf5 {
                file: "data/vol.h5".into(),
                dataset: "group/raw".into()
            })
        );
        assert_eq!(
            parse("/d/x.HDF5"),
            Some(ForeignAddress::Hdf5 {
                file: "/d/x.HDF5".into(),
                dataset: String::new()
            })
        );
        assert_eq!(
            parse("lucchi/train_im.tif"),
            Some(ForeignAddress::Tiff("lucchi/train_im.tif".into()))
        );
        assert_eq!(parse("em.zarr/image"), None);
        assert_eq!(parse("a.h5/b.zarr/c"), None);
        // A directory (a Zarr array or group) is never a foreign file, whatever its name.
        let dir = tempfile::tempdir().unwrap();
        let zarr_named_tif = dir.path().join("scan.tif");
        std::fs::create_dir(&zarr_named_tif).unwrap();
        assert_eq!(ForeignAddress::parse(&zarr_named_tif), None);
    }
}

/// The kind of foreign file a path names (see [`ForeignAddress`]), for code outside the store
/// that only needs to recognise one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForeignKind {
    /// An HDF5 file, or a dataset inside one.
    Hdf5,
    /// A TIFF file.
    Tiff,
}

/// What kind of foreign volume `path` names, if any (an HDF5 file or dataset, a TIFF file).
///
/// ```
/// use std::path::Path;
/// use voxload::store::{foreign_address, ForeignKind};
/// assert_eq!(foreign_address(Path::new("data/vol.h5/raw")), Some(ForeignKind::Hdf5));
/// assert_eq!(foreign_address(Path::new("train_im.tif")), Some(ForeignKind::Tiff));
/// assert_eq!(foreign_address(Path::new("em.zarr/image")), None);
/// ```
#[must_use]
pub fn foreign_address(path: &Path) -> Option<ForeignKind> {
    ForeignAddress::parse(path).map(|a| match a {
        ForeignAddress::Hdf5 { .. } => ForeignKind::Hdf5,
        ForeignAddress::Tiff(_) => ForeignKind::Tiff,
    })
}
