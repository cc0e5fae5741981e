//! Creating arrays in a Zarr v3 store and writing their voxels.
//!
//! Metadata and chunk encoding go through zarrs; every file lands through [`AtomicFsStore`], so
//! a chunk or shard file is either absent or whole. An array is marked `in-progress` when it is
//! created and `complete` by [`ArrayWriter::finish`].

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use ndarray::ArrayView3;
use serde_json::{json, Map, Value};
use zarrs::array::codec::{BytesCodec, ZstdCodec};
use zarrs::array::{Array, ArrayBuilder, ArraySubset};
use zarrs::group::GroupBuilder;

use super::atomic::AtomicFsStore;
use super::meta::{ArrayMeta, Layout, Status, ATTRIBUTE};
use super::slot::{ArraySlot, Existing};
use super::{array_dir, zarrs_path};
use crate::{Element, Error, Result, Shape};

/// How an array's chunks are encoded on disk.
///
/// ```
/// use voxload::Encoding;
/// assert_eq!("raw".parse::<Encoding>().unwrap(), Encoding::Raw);
/// assert_eq!("zstd:5".parse::<Encoding>().unwrap(), Encoding::Zstd { level: 5 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The `bytes` codec only: each chunk file is the chunk's voxels, little-endian, C order.
    Raw,
    /// `sharding_indexed` shards of this shape holding raw inner chunks.
    ShardedRaw {
        /// The shard shape, a multiple of the chunk shape on every axis.
        shard: Shape,
    },
    /// Each chunk compressed with zstd at this level.
    Zstd {
        /// The zstd level (1 to 22; 3 is a good default).
        level: i32,
    },
}

impl FromStr for Encoding {
    type Err = Error;
    /// Parses `raw`, `zstd` or `zstd:LEVEL` (sharding is chosen with a shard shape, not here).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "raw" => Ok(Encoding::Raw),
            "zstd" => Ok(Encoding::Zstd { level: 3 }),
            _ => s
                .strip_prefix("zstd:")
                .and_then(|l| l.parse().ok())
                .filter(|l| (1..=22).contains(l))
                .map(|level| Encoding::Zstd { level })
                .ok_or_else(|| Error::Parse {
                    what: "codec",
                    input: s.into(),
                    reason: "expected raw, zstd or zstd:LEVEL with LEVEL in 1..=22".into(),
                }),
        }
    }
}

/// Writes voxels of type `T` into one array of a store.
pub struct ArrayWriter<T> {
    array: Array<AtomicFsStore>,
    dir: PathBuf,
    /// The claimed place: the writer lock, and the swap of a replacement.
    slot: ArraySlot,
    /// The chunk shape when the array is raw (chunks written without zarrs), else `None`.
    raw_chunk: Option<Shape>,
    /// Flush every file to stable storage before marking the array complete.
    durable: bool,
    /// The depth of one layer of the chunk grid (of shards, when sharded).
    layer_depth: u64,
    _type: PhantomData<T>,
}

impl<T: Element> ArrayWriter<T> {
    /// Creates array `name` (nested names like `image/0003` make intermediate groups) of the
    /// given shape, chunk shape and encoding, marked in-progress. `attributes` are stored beside
    /// voxload's own record.
    ///
    /// # Errors
    /// [`Error::Write`] when the array exists and `overwrite` is false, or the shapes are
    /// inconsistent; [`Error::Io`] / [`Error::Zarrs`] when writing fails.
    pub fn create(
        store: &Path,
        name: &str,
        shape: Shape,
        chunk: Shape,
        encoding: Encoding,
        attributes: Map<String, Value>,
        overwrite: bool,
    ) -> Result<Self> {
        let existing = if overwrite {
            Existing::Replace
        } else {
            Existing::Fail
        };
        Self::create_with(store, name, shape, chunk, encoding, attributes, existing)
    }

    /// As [`ArrayWriter::create`], choosing what happens to an existing array of that name.
    /// With [`Existing::Keep`] an existing array must have the same shape, data type, chunking
    /// and encoding, and is written into as it is (resume, or several processes writing
    /// disjoint regions); its metadata is not rewritten.
    ///
    /// # Errors
    /// As [`ArrayWriter::create`], and [`Error::Write`] when a kept array differs.
    pub fn create_with(
        store: &Path,
        name: &str,
        shape: Shape,
        chunk: Shape,
        encoding: Encoding,
        attributes: Map<String, Value>,
        existing: Existing,
    ) -> Result<Self> {
        let slot = ArraySlot::claim(store, name, existing)?;
        Self::create_in(store, shape, chunk, encoding, attributes, slot)
    }

    /// As [`ArrayWriter::create_with`], in a place already claimed.
    pub(crate) fn create_in(
        store: &Path,
        shape: Shape,
        chunk: Shape,
        encoding: Encoding,
        attributes: Map<String, Value>,
        slot: ArraySlot,
    ) -> Result<Self> {
        let dir = slot.write_dir();
        let write_error = |reason: String| Error::Write {
            path: dir.clone(),
            reason,
        };
        if chunk.contains(&0) {
            return Err(write_error(format!(
                "chunk shape {chunk:?} has a zero extent"
            )));
        }
        if slot.kept() {
            let meta = ArrayMeta::read(&dir)?;
            let want = expected_layout(chunk, encoding);
            let grid = match encoding {
                Encoding::ShardedRaw { shard } => shard,
                _ => chunk,
            };
            let same = meta.shape == shape
                && meta.dtype == T::DTYPE
                && meta.chunk == grid
                && want.is_none_or(|l| l == meta.layout);
            if !same {
                return Err(write_error(format!(
                    "the array exists as {:?} {} chunks {:?} ({}), not as requested ({:?} {} chunks {:?}); replace it (overwrite) instead",
                    meta.shape, meta.dtype, meta.chunk, meta.layout.describe(), shape, T::DTYPE, grid
                )));
            }
            return Self::open_slot(store, slot);
        }
        let name = slot.write_name().to_string();
        let name = name.as_str();
        let storage = Arc::new(AtomicFsStore::new(store).map_err(|e| Error::zarrs(store, e))?);
        make_groups(&storage, name)?;
        let grid_chunk = match encoding {
            Encoding::ShardedRaw { shard } => {
                if (0..3).any(|a| shard[a] == 0 || !shard[a].is_multiple_of(chunk[a])) {
                    return Err(write_error(format!(
                        "shard shape {shard:?} must be a multiple of the chunk shape {chunk:?}"
                    )));
                }
                shard
            }
            _ => chunk,
        };
        let mut builder =
            ArrayBuilder::new(shape.to_vec(), grid_chunk.to_vec(), T::DTYPE.name(), 0u8);
        builder.array_to_bytes_codec(Arc::new(BytesCodec::little()));
        match encoding {
            Encoding::Raw => {}
            Encoding::ShardedRaw { .. } => {
                builder.subchunk_shape(chunk.to_vec());
            }
            Encoding::Zstd { level } => {
                builder.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(level, false))]);
            }
        }
        let mut attributes = attributes;
        attributes.insert(ATTRIBUTE.into(), record(Status::InProgress));
        builder.attributes(attributes);
        builder.dimension_names(Some(["z", "y", "x"]));
        let array = builder
            .build(storage, &zarrs_path(name))
            .map_err(|e| Error::zarrs(&dir, e))?;
        array.store_metadata().map_err(|e| Error::zarrs(&dir, e))?;
        Ok(Self::wrap(array, dir, slot))
    }

    fn wrap(array: Array<AtomicFsStore>, dir: PathBuf, slot: ArraySlot) -> Self {
        let meta = ArrayMeta::read(&dir).ok();
        let raw_chunk = meta
            .as_ref()
            .filter(|m| m.layout == Layout::Raw)
            .map(|m| m.chunk);
        ArrayWriter {
            array,
            dir,
            slot,
            raw_chunk,
            durable: true,
            layer_depth: meta.map_or(1, |m| m.chunk[0]),
            _type: PhantomData,
        }
    }

    /// Opens an existing array for writing, as its only writer.
    ///
    /// # Errors
    /// [`Error::NotZarr`] when there is no array, [`Error::DtypeMismatch`] for another type,
    /// [`Error::Locked`] while another writer has it, [`Error::ArrayName`] for a bad name.
    pub fn open(store: &Path, name: &str) -> Result<Self> {
        Self::open_slot(store, ArraySlot::claim(store, name, Existing::Keep)?)
    }

    fn open_slot(store: &Path, slot: ArraySlot) -> Result<Self> {
        let dir = slot.write_dir();
        ArrayMeta::read(&dir)?.expect_dtype(T::DTYPE)?;
        let storage = Arc::new(AtomicFsStore::new(store).map_err(|e| Error::zarrs(store, e))?);
        let array = Array::open(storage, &zarrs_path(slot.write_name()))
            .map_err(|e| Error::zarrs(&dir, e))?;
        Ok(Self::wrap(array, dir, slot))
    }

    /// Writes chunk files with `O_DIRECT` where the filesystem allows it (the atomic store's
    /// `set_direct_io`).
    pub fn set_direct_io(&self, on: bool) {
        self.array.storage().set_direct_io(on);
    }

    /// With durability on (see [`ArrayWriter::set_durable`]), flushes the chunk or shard files
    /// of the grid layer holding slice `z` (the files `c/Z/…` of its slab) and the directories
    /// naming them to stable storage; a writer calls it before recording the slab as done, so
    /// that after a power loss a slab's record never outlives its chunks. Does nothing with
    /// durability off.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file or directory that could not be flushed.
    pub fn sync_layer(&self, z: u64) -> Result<()> {
        if !self.durable {
            return Ok(());
        }
        let layer = z / self.layer_depth.max(1);
        let chunks = self.dir.join("c");
        let slab = chunks.join(layer.to_string());
        if slab.is_dir() {
            super::durable::sync_tree(&slab)?;
        }
        if chunks.is_dir() {
            super::durable::sync_dirs(&[&chunks, &self.dir])?;
        }
        Ok(())
    }

    /// Whether [`ArrayWriter::finish`] first flushes every file of the array to stable storage
    /// (`fsync`), so that an array marked complete survives a power loss (default on; turn it
    /// off for scratch data, where a crash of the machine may then leave a complete-marked
    /// array with chunks missing).
    pub fn set_durable(&mut self, on: bool) {
        self.durable = on;
    }

    /// The directory being written: the array's own, or its staging copy while it replaces an
    /// existing array.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `data` at `begin`. Regions aligned to the chunk (or shard) grid write whole files;
    /// others read, modify and rewrite the files they touch.
    ///
    /// # Errors
    /// [`Error::Write`] when the region leaves the array, [`Error::Zarrs`] when writing fails.
    pub fn write_region(&self, begin: [u64; 3], data: ArrayView3<'_, T>) -> Result<()> {
        let shape = self.array.shape();
        let fits = (0..3).all(|a| begin[a] + data.shape()[a] as u64 <= shape[a]);
        if !fits {
            return Err(Error::Write {
                path: self.dir.clone(),
                reason: format!(
                    "region at {begin:?} of shape {:?} leaves the array of shape {shape:?}",
                    data.shape()
                ),
            });
        }
        if let Some(chunk) = self.raw_chunk {
            if super::raw_writer::write_whole_chunks(&self.array, chunk, begin, data.view())? {
                return Ok(());
            }
        }
        let data = data.as_standard_layout();
        let shape = data.shape().iter().map(|&v| v as u64).collect();
        let subset = ArraySubset::new_with_start_shape(begin.to_vec(), shape)
            .map_err(|e| Error::zarrs(&self.dir, e))?;
        // One encoding thread: zarrs places inner chunks in a shard in the order their encoding
        // finishes, so concurrency would make shard bytes differ between identical writes.
        let options = zarrs::array::CodecOptions::default().with_concurrent_target(1);
        self.array
            .store_array_subset_opt(&subset, &data, &options)
            .map_err(|e| Error::zarrs(&self.dir, e))
    }

    /// Marks the array complete (the last write of an ingest); a replacement is then swapped
    /// into the place of the array it replaces.
    ///
    /// # Errors
    /// [`Error::Zarrs`] when the metadata cannot be written, [`Error::Io`] when the swap fails.
    pub fn finish(mut self) -> Result<()> {
        if self.durable {
            super::durable::sync_tree(&self.dir)?;
        }
        mark_complete(&mut self.array, &self.dir)?;
        if self.durable {
            super::durable::sync_mark(self.array.storage().root(), &self.dir)?;
        }
        self.slot.commit()
    }
}

/// Writes a whole in-memory volume as array `name` and marks it complete, replacing any array
/// of that name. `chunk` is the chunk shape (the inner chunk shape when sharded).
///
/// # Errors
/// As [`ArrayWriter::create`] and [`ArrayWriter::write_region`].
///
/// ```
/// use ndarray::Array3;
/// use voxload::{Encoding, MappedArray, write_array};
/// let dir = tempfile::tempdir().unwrap();
/// let v = Array3::<u8>::from_elem((3, 4, 5), 9);
/// write_array(dir.path(), "image", &v, [2, 2, 2], Encoding::ShardedRaw { shard: [2, 4, 4] }).unwrap();
/// assert_eq!(MappedArray::<u8>::open(dir.path(), "image").unwrap().shape(), [3, 4, 5]);
/// ```
pub fn write_array<T: Element>(
    store: &Path,
    name: &str,
    volume: &ndarray::Array3<T>,
    chunk: Shape,
    encoding: Encoding,
) -> Result<()> {
    let shape = volume.shape();
    let writer = ArrayWriter::<T>::create(
        store,
        name,
        [shape[0] as u64, shape[1] as u64, shape[2] as u64],
        chunk,
        encoding,
        Map::new(),
        true,
    )?;
    writer.write_region([0, 0, 0], volume.view())?;
    writer.finish()
}

/// The layout readers will see for a new array, where it is fixed by the encoding.
fn expected_layout(chunk: Shape, encoding: Encoding) -> Option<Layout> {
    match encoding {
        Encoding::Raw => Some(Layout::Raw),
        Encoding::ShardedRaw { .. } => Some(Layout::ShardedRaw {
            inner: chunk,
            index_at_start: false,
            index_crc32c: true,
        }),
        Encoding::Zstd { .. } => None,
    }
}

/// voxload's record in an array's attributes: version and status, no time or host.
pub(crate) fn record(status: Status) -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "status": status.as_str(),
    })
}

/// Marks `array` (in directory `dir`) complete: its last write.
pub(crate) fn mark_complete(array: &mut Array<AtomicFsStore>, dir: &Path) -> Result<()> {
    array
        .attributes_mut()
        .insert(ATTRIBUTE.into(), record(Status::Complete));
    array.store_metadata().map_err(|e| Error::zarrs(dir, e))
}

/// Writes group metadata for the store root and every parent of `name` that has none.
pub(crate) fn make_groups(storage: &Arc<AtomicFsStore>, name: &str) -> Result<()> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    for depth in 0..parts.len() {
        let dir = array_dir(storage.root(), &parts[..depth].join("/"));
        if dir.join("zarr.json").exists() {
            continue;
        }
        let group = GroupBuilder::new()
            .build(storage.clone(), &zarrs_path(&parts[..depth].join("/")))
            .map_err(|e| Error::zarrs(&dir, e))?;
        group.store_metadata().map_err(|e| Error::zarrs(&dir, e))?;
    }
    Ok(())
}
