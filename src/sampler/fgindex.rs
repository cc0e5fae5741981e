//! A coarse foreground index: the number of non-zero label voxels in each block of a regular
//! grid, so that rejection sampling can decide most candidates without reading the label.
//!
//! The index never changes which windows are drawn. For a candidate's central region it gives a
//! lower and an upper bound on the region's foreground count (padding included): when the upper
//! bound is below `SIZE_THRES` the candidate is certainly below the threshold, when the lower
//! bound reaches it the candidate is certainly not, and only in between is the label read. The
//! sampler then consumes its RNG exactly as without the index, so the same seed gives the same
//! windows, rejections and forced accepts.
//!
//! # Storage
//! [`ForegroundIndex::open_or_build`] stores the index as a small Zarr v3 array of `uint32`
//! counts (one voxel per block, raw chunks) named `LABEL/.voxload-fgindex`, inside the label
//! array's own directory. Zarr clients ignore it when reading the label (an array's directory
//! only holds `zarr.json` and `c/...` chunk keys for them) and can open it directly as an array.
//! Its attribute `voxload_foreground_index` records the block shape, the label's shape and data
//! type, and the length and modification time of the label's `zarr.json`; an index whose record
//! does not match the label is stale and rebuilt. Replacing the label (`ingest --overwrite`)
//! deletes its directory and the index with it; re-ingesting in place rewrites the label's
//! `zarr.json` and so invalidates the index. A tool that rewrites label chunks without
//! rewriting `zarr.json` must delete the index itself.
//!
//! The loader never writes into its input store: it keeps its indexes in a cache directory
//! ([`ForegroundIndex::open_or_build_cached`], [`crate::loader::LoaderBuilder::index_cache`]),
//! as the same arrays keyed by the label array's absolute path and record.

use std::path::Path;
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use serde_json::{json, Map, Value};

use crate::store::{array_dir, AnyArray, ArrayMeta, ArrayWriter, MappedArray, OpenOptions, Status};
use crate::{Bbox, ChunkGrid, Encoding, Error, PadMode, Result, Shape};

/// The block shape used when none is given, chosen by measurement (`benches/sampler.rs`):
/// with `(8, 256, 256)` inputs and `SIZE_THRES` 1000 it leaves about 0.4 label reads per
/// accepted sample on 1 % and 0.1 % blob labels (8 × 64 × 64 blocks leave 1.1 to 1.3, whose
/// lower bound seldom helps since few blocks lie wholly inside an 8-deep region). The index
/// holds one `u64` per block in memory: 1/2048 byte per label voxel. Finer blocks such as
/// `(2, 16, 16)` halve the label reads again for eight times the memory.
pub const DEFAULT_BLOCK: Shape = [4, 32, 32];

/// The name of the index array inside the label array's directory.
pub const INDEX_NAME: &str = ".voxload-fgindex";

/// The attribute holding the index's record.
const ATTRIBUTE: &str = "voxload_foreground_index";

/// A stable 64-bit key (FNV-1a) of some bytes (a path, a zoom), naming an index in a cache
/// directory.
fn key(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The largest chunk of a stored index.
const STORED_CHUNK: Shape = [64, 256, 256];

/// Non-zero voxel counts of a label array per block of a regular grid.
///
/// ```
/// use ndarray::Array3;
/// use voxload::sampler::ForegroundIndex;
/// use voxload::store::AnyArray;
/// use voxload::{write_array, Bbox, Encoding, OpenOptions, PadMode};
///
/// let dir = tempfile::tempdir().unwrap();
/// let label = Array3::from_shape_fn((4, 8, 8), |(z, y, x)| u16::from(z == 1 && y < 2 && x < 3));
/// write_array(dir.path(), "seg", &label, [4, 8, 8], Encoding::Raw).unwrap();
/// let index = ForegroundIndex::open_or_build(dir.path(), "seg", [2, 4, 4], &OpenOptions::default()).unwrap();
/// assert_eq!(index.count([0, 0, 0]), 6);
/// assert_eq!(index.counts().iter().sum::<u32>(), 6);
/// // A region far from the foreground is certainly empty.
/// let b = index.bounds(Bbox::new([2, 4, 4], [2, 4, 4]), PadMode::Reflect);
/// assert_eq!((b.lower, b.upper), (0, 0));
/// // The second call finds the stored index.
/// let again = ForegroundIndex::load(dir.path(), "seg", [2, 4, 4]).unwrap().unwrap();
/// assert_eq!(again.counts(), index.counts());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForegroundIndex {
    grid: ChunkGrid,
    /// The summed-volume table: entry `(z, y, x)` of the `(gz+1, gy+1, gx+1)` table is the sum
    /// of the counts of blocks `[0, z) × [0, y) × [0, x)`, so any box of blocks sums in O(1).
    sums: Vec<u64>,
}

/// Bounds on the foreground count of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The region holds at least this many non-zero voxels.
    pub lower: u64,
    /// The region holds at most this many non-zero voxels.
    pub upper: u64,
}

impl ForegroundIndex {
    /// Counts the non-zero voxels of every `block`-shaped block of `label` (blocks at the far
    /// faces are clipped to the array), in parallel, reading one block at a time.
    ///
    /// # Errors
    /// [`Error::Geometry`] for a zero block extent or a block of more than `u32::MAX` voxels;
    /// read errors of the label.
    pub fn build(label: &AnyArray, block: Shape) -> Result<Self> {
        let grid = Self::grid(label.shape(), block)?;
        let [gz, gy, gx] = grid.grid_shape();
        let counts = (0..gz * gy * gx)
            .into_par_iter()
            .map(|i| {
                let b = grid.chunk_box([i / (gy * gx), i / gx % gy, i % gx]);
                // Blocks lie inside the array, so the pad mode is never used.
                let n = label.count_nonzero(b, PadMode::Constant(0.0))?;
                Ok(n as u32)
            })
            .collect::<Result<Vec<u32>>>()?;
        Ok(Self::from_valid_counts(grid, &counts))
    }

    /// The index of `counts` (one per block of `grid`, z-major).
    fn from_valid_counts(grid: ChunkGrid, counts: &[u32]) -> Self {
        let [gz, gy, gx] = grid.grid_shape().map(|v| v as usize);
        let (sy, sx) = ((gy + 1) * (gx + 1), gx + 1);
        let mut sums = vec![0u64; (gz + 1) * sy];
        for z in 0..gz {
            for y in 0..gy {
                for x in 0..gx {
                    let c = u64::from(counts[(z * gy + y) * gx + x]);
                    let at =
                        |dz: usize, dy: usize, dx: usize| (z + dz) * sy + (y + dy) * sx + x + dx;
                    // Inclusion–exclusion over the seven lower neighbours; the result is exact
                    // and non-negative, so wrapping intermediate steps are harmless.
                    sums[at(1, 1, 1)] = c
                        .wrapping_add(sums[at(0, 1, 1)])
                        .wrapping_add(sums[at(1, 0, 1)])
                        .wrapping_add(sums[at(1, 1, 0)])
                        .wrapping_sub(sums[at(0, 0, 1)])
                        .wrapping_sub(sums[at(0, 1, 0)])
                        .wrapping_sub(sums[at(1, 0, 0)])
                        .wrapping_add(sums[at(0, 0, 0)]);
                }
            }
        }
        ForegroundIndex { grid, sums }
    }

    /// The sum of the counts of blocks `[lo, hi)` (grid positions; empty when `hi <= lo`).
    fn range_sum(&self, lo: [u64; 3], hi: [u64; 3]) -> u64 {
        if (0..3).any(|a| hi[a] <= lo[a]) {
            return 0;
        }
        let [_, gy, gx] = self.grid_shape();
        let (sy, sx) = ((gy + 1) * (gx + 1), gx + 1);
        let at = |z: u64, y: u64, x: u64| self.sums[(z * sy + y * sx + x) as usize];
        let ([z0, y0, x0], [z1, y1, x1]) = (lo, hi);
        // Inclusion–exclusion: the result is exact and non-negative, so wrapping intermediate
        // steps are harmless.
        at(z1, y1, x1)
            .wrapping_sub(at(z0, y1, x1))
            .wrapping_sub(at(z1, y0, x1))
            .wrapping_sub(at(z1, y1, x0))
            .wrapping_add(at(z0, y0, x1))
            .wrapping_add(at(z0, y1, x0))
            .wrapping_add(at(z1, y0, x0))
            .wrapping_sub(at(z0, y0, x0))
    }

    /// An index from counts already made, in z-major block order (for tests and tools).
    ///
    /// # Errors
    /// [`Error::Geometry`] when the number of counts is not the number of blocks, or a count
    /// exceeds its block's voxels.
    pub fn from_counts(shape: Shape, block: Shape, counts: Vec<u32>) -> Result<Self> {
        let grid = Self::grid(shape, block)?;
        let [gz, gy, gx] = grid.grid_shape();
        if counts.len() as u64 != gz * gy * gx {
            return Err(Error::Geometry(format!(
                "a foreground index of a {shape:?} label in blocks of {block:?} has {} counts, not {}",
                gz * gy * gx,
                counts.len()
            )));
        }
        for (i, &c) in counts.iter().enumerate() {
            let i = i as u64;
            let at = [i / (gy * gx), i / gx % gy, i % gx];
            if u64::from(c) > grid.chunk_box(at).num_voxels() {
                return Err(Error::Geometry(format!(
                    "foreground count {c} of block {at:?} exceeds its voxels"
                )));
            }
        }
        Ok(Self::from_valid_counts(grid, &counts))
    }

    fn grid(shape: Shape, block: Shape) -> Result<ChunkGrid> {
        if block.iter().product::<u64>() > u64::from(u32::MAX) {
            return Err(Error::Geometry(format!(
                "foreground index block {block:?} holds more than u32::MAX voxels"
            )));
        }
        ChunkGrid::new(shape, block)
    }

    /// The label's shape.
    #[must_use]
    pub fn shape(&self) -> Shape {
        self.grid.array_shape()
    }

    /// The block shape.
    #[must_use]
    pub fn block(&self) -> Shape {
        self.grid.chunk_shape()
    }

    /// The number of blocks along each axis.
    #[must_use]
    pub fn grid_shape(&self) -> [u64; 3] {
        self.grid.grid_shape()
    }

    /// All counts, z-major.
    #[must_use]
    pub fn counts(&self) -> Vec<u32> {
        let [gz, gy, gx] = self.grid_shape();
        let mut out = Vec::with_capacity((gz * gy * gx) as usize);
        for z in 0..gz {
            for y in 0..gy {
                for x in 0..gx {
                    out.push(self.count([z, y, x]));
                }
            }
        }
        out
    }

    /// The count of the block at grid position `at` (0 outside the grid).
    #[must_use]
    pub fn count(&self, at: [u64; 3]) -> u32 {
        let [gz, gy, gx] = self.grid_shape();
        if at[0] >= gz || at[1] >= gy || at[2] >= gx {
            return 0;
        }
        // A block's count is at most its voxels, which fit u32.
        self.range_sum(at, at.map(|v| v + 1)) as u32
    }

    /// Bounds on the number of non-zero voxels of `region` read with `pad` (the value
    /// [`AnyArray::count_nonzero`] would return): blocks wholly inside give the lower bound,
    /// blocks the region touches the upper bound (each a constant-time sum), with voxels
    /// outside the array mapped back inside as `pad` folds them.
    #[must_use]
    pub fn bounds(&self, region: Bbox, pad: PadMode) -> Bounds {
        let total = region.num_voxels();
        let all = Bbox::from_shape(self.shape());
        let inside = region.intersect(&all);
        let inside_voxels = inside.map_or(0, |b| b.num_voxels());
        let lower = inside.map_or(0, |b| self.sum_contained(&b));
        let upper = match pad.constant() {
            // Padded voxels take the constant, which is foreground unless it is zero.
            Some(c) => {
                let padded = if c == 0.0 { 0 } else { total - inside_voxels };
                inside.map_or(0, |b| self.sum_touching(&b)) + padded
            }
            None if inside_voxels == total => inside.map_or(0, |b| self.sum_touching(&b)),
            None => self.folded_upper(region, pad).unwrap_or(total),
        };
        Bounds {
            lower,
            upper: upper.min(total).max(lower),
        }
    }

    /// The upper bound of a region partly outside the array under a mirroring or edge mode:
    /// every voxel comes from the box spanned by the folded coordinates, each in-array voxel
    /// at most `m_z · m_y · m_x` times (the largest multiplicity of a folded coordinate).
    fn folded_upper(&self, region: Bbox, pad: PadMode) -> Option<u64> {
        let shape = self.shape();
        let mut begin = [0i64; 3];
        let mut extent = [0u64; 3];
        let mut multiplicity = 1u64;
        for a in 0..3 {
            let coords = region.begin[a]..region.end()[a];
            let mut lo = u64::MAX;
            let mut hi = 0;
            for i in coords.clone() {
                let f = pad.fold(i, shape[a])?;
                lo = lo.min(f);
                hi = hi.max(f);
            }
            let mut seen = vec![0u64; (hi - lo + 1) as usize];
            for i in coords {
                seen[(pad.fold(i, shape[a])? - lo) as usize] += 1;
            }
            multiplicity *= seen.iter().copied().max().unwrap_or(1);
            begin[a] = lo as i64;
            extent[a] = hi - lo + 1;
        }
        Some(multiplicity * self.sum_touching(&Bbox::new(begin, extent)))
    }

    /// The sum of the counts of the blocks that `b` (inside the array) touches.
    fn sum_touching(&self, b: &Bbox) -> u64 {
        let block = self.block();
        let end = b.end();
        let lo: [u64; 3] = std::array::from_fn(|a| b.begin[a] as u64 / block[a]);
        let hi: [u64; 3] = std::array::from_fn(|a| (end[a] as u64).div_ceil(block[a]));
        self.range_sum(lo, hi)
    }

    /// The sum of the counts of the blocks wholly inside `b` (inside the array); the last block
    /// of an axis ends at the array's face.
    fn sum_contained(&self, b: &Bbox) -> u64 {
        let (block, shape, grid) = (self.block(), self.shape(), self.grid_shape());
        let end = b.end();
        let lo: [u64; 3] = std::array::from_fn(|a| (b.begin[a] as u64).div_ceil(block[a]));
        let hi: [u64; 3] = std::array::from_fn(|a| {
            if end[a] as u64 == shape[a] {
                grid[a]
            } else {
                end[a] as u64 / block[a]
            }
        });
        self.range_sum(lo, hi)
    }

    /// The array name of the index of label `label` in its store.
    ///
    /// ```
    /// assert_eq!(voxload::sampler::ForegroundIndex::array_name("seg/0003"), "seg/0003/.voxload-fgindex");
    /// assert_eq!(voxload::sampler::ForegroundIndex::array_name(""), ".voxload-fgindex");
    /// ```
    #[must_use]
    pub fn array_name(label: &str) -> String {
        let label = label.trim_matches('/');
        if label.is_empty() {
            INDEX_NAME.to_string()
        } else {
            format!("{label}/{INDEX_NAME}")
        }
    }

    /// The record that ties an index to the current state of the label array in `dir`.
    fn record(dir: &Path, block: Shape) -> Result<Value> {
        let meta = ArrayMeta::read(dir)?;
        let file = dir.join("zarr.json");
        let stat = std::fs::metadata(&file).map_err(|e| Error::io(&file, e))?;
        let modified = stat
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(json!({
            "format": 1,
            "block": block,
            "label_shape": meta.shape,
            "label_dtype": meta.dtype.to_string(),
            "label_zarr_json": { "bytes": stat.len(), "modified_ns": modified },
        }))
    }

    /// Stores the index beside label `label` of the store at `store` (see the module
    /// documentation), replacing any index there.
    ///
    /// # Errors
    /// [`Error::Geometry`] when the index does not fit the label's shape; errors reading the
    /// label's metadata or writing the index array.
    pub fn save(&self, store: &Path, label: &str) -> Result<()> {
        let record = Self::record(&array_dir(store, label), self.block())?;
        if record["label_shape"] != json!(self.shape()) {
            return Err(Error::Geometry(format!(
                "a foreground index of a {:?} label cannot be stored beside label `{label}` of shape {}",
                self.shape(),
                record["label_shape"]
            )));
        }
        self.write(store, &Self::array_name(label), record)
    }

    /// Writes the index as array `name` of `store`, with `record` as its attribute.
    fn write(&self, store: &Path, name: &str, record: Value) -> Result<()> {
        let grid = self.grid_shape();
        let chunk: Shape = std::array::from_fn(|a| grid[a].clamp(1, STORED_CHUNK[a]));
        let mut attributes = Map::new();
        attributes.insert(ATTRIBUTE.into(), record);
        let writer =
            ArrayWriter::<u32>::create(store, name, grid, chunk, Encoding::Raw, attributes, true)?;
        let [gz, gy, gx] = grid.map(|v| v as usize);
        let counts = self.counts();
        let view = ndarray::ArrayView3::from_shape((gz, gy, gx), &counts)
            .map_err(|e| Error::Geometry(e.to_string()))?;
        writer.write_region([0, 0, 0], view)?;
        writer.finish()
    }

    /// The stored index of label `label` in blocks of `block`, or `None` when there is none,
    /// it has another block shape, or it is stale (the label changed since it was made).
    ///
    /// # Errors
    /// Errors reading the label's metadata; read errors of a stored index that is current.
    pub fn load(store: &Path, label: &str, block: Shape) -> Result<Option<Self>> {
        let record = Self::record(&array_dir(store, label), block)?;
        Self::read(store, &Self::array_name(label), &record, block)
    }

    /// The index stored as array `name` of `store` if its attribute is `record`.
    fn read(store: &Path, name: &str, record: &Value, block: Shape) -> Result<Option<Self>> {
        let Ok(meta) = ArrayMeta::read(&array_dir(store, name)) else {
            return Ok(None);
        };
        if meta.attributes.get(ATTRIBUTE) != Some(record) {
            return Ok(None);
        }
        let Ok(array) = MappedArray::<u32>::open(store, name) else {
            return Ok(None);
        };
        let counts = array.read(Bbox::from_shape(array.shape()), PadMode::Constant(0.0))?;
        let shape = meta.attributes[ATTRIBUTE]["label_shape"]
            .as_array()
            .and_then(|v| {
                let v: Vec<u64> = v.iter().filter_map(Value::as_u64).collect();
                <[u64; 3]>::try_from(v).ok()
            });
        let Some(shape) = shape else { return Ok(None) };
        Ok(Self::from_counts(shape, block, counts.into_raw_vec_and_offset().0).ok())
    }

    /// The stored index of label `label` if it is current, else a new one built and stored.
    /// The index of a label still being written (opened with `allow_incomplete`) is built but
    /// never stored.
    ///
    /// # Errors
    /// As [`ForegroundIndex::build`], [`ForegroundIndex::load`] and [`ForegroundIndex::save`]
    /// (a store that cannot be written is an error: use [`ForegroundIndex::build`] for
    /// read-only stores); [`Error::Incomplete`] for a label still being written, unless
    /// `options.allow_incomplete`.
    pub fn open_or_build(
        store: &Path,
        label: &str,
        block: Shape,
        options: &OpenOptions,
    ) -> Result<Self> {
        if let Some(index) = Self::load(store, label, block)? {
            return Ok(index);
        }
        let array = AnyArray::open(store, label, options)?;
        let index = Self::build(&array, block)?;
        if ArrayMeta::read(&array_dir(store, label))?.status != Status::InProgress {
            index.save(store, label)?;
        }
        Ok(index)
    }

    /// The index of `label` in blocks of `block`, kept in the cache directory `cache` rather
    /// than in the label's store, which is never written: an index saved there for this label
    /// array (its absolute path, shape, data type, and the length and modification time of its
    /// `zarr.json`, so a changed label is never served a stale index) is loaded, else one is
    /// built and saved there as a small Zarr array `cache/fgindex/<key>`.
    ///
    /// Returns the index and, when saving it failed, why (the index is good either way). A
    /// label that is not a complete array of a store (a decoded image, an array still being
    /// written) is built and not saved. The index of a zoomed label (see
    /// [`AnyArray::zoomed`]) or resized one ([`AnyArray::resized`]) is of that grid and kept
    /// apart, its record naming the zoom or resize.
    /// The loader uses this (see [`crate::loader::LoaderBuilder::index_cache`]).
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::sampler::ForegroundIndex;
    /// use voxload::store::AnyArray;
    /// use voxload::{write_array, Encoding, OpenOptions};
    ///
    /// let (store, cache) = (tempfile::tempdir()?, tempfile::tempdir()?);
    /// let label = Array3::from_shape_fn((4, 8, 8), |(z, y, _)| u16::from(z == 1 && y < 2));
    /// write_array(store.path(), "seg", &label, [4, 8, 8], Encoding::Raw)?;
    /// let seg = AnyArray::open(store.path(), "seg", &OpenOptions::default())?;
    /// let (index, failed) = ForegroundIndex::open_or_build_cached(&seg, [2, 4, 4], cache.path())?;
    /// assert!(failed.is_none());
    /// assert_eq!(index.counts().iter().sum::<u32>(), 16);
    /// // Saved in the cache, not beside the label; the next call loads it.
    /// assert!(!store.path().join("seg").join(voxload::sampler::INDEX_NAME).exists());
    /// assert!(cache.path().join("fgindex").is_dir());
    /// assert_eq!(ForegroundIndex::open_or_build_cached(&seg, [2, 4, 4], cache.path())?.0, index);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`ForegroundIndex::build`]. An unreadable cached index counts as absent.
    pub fn open_or_build_cached(
        label: &AnyArray,
        block: Shape,
        cache: &Path,
    ) -> Result<(Self, Option<Error>)> {
        let path = &label.meta().path;
        let dir = std::fs::canonicalize(path).or_else(|_| std::path::absolute(path));
        let stored = dir.ok().and_then(|dir| {
            let mut record = Self::record(&dir, block).ok()?;
            record["label_path"] = json!(dir.to_string_lossy());
            let [bz, by, bx] = block;
            let mut name = format!(
                "fgindex/{:016x}-{bz}x{by}x{bx}",
                key(dir.as_os_str().as_encoded_bytes())
            );
            if let Some(zoom) = label.zoom() {
                let (scale, order) = (zoom.scale(), zoom.order().spline_order());
                record["label_shape"] = json!(label.shape());
                record["zoom"] = json!({ "scale": scale, "order": order });
                let bits: Vec<u8> = scale
                    .iter()
                    .flat_map(|s| s.to_bits().to_le_bytes())
                    .collect();
                name.push_str(&format!("-zoom{:016x}o{order}", key(&bits)));
            }
            if let Some(resize) = label.resize() {
                // ENSURE_MIN_SIZE: the index is of the resized grid, kept apart too.
                let text = format!("{resize:?}");
                record["label_shape"] = json!(label.shape());
                record["resize"] = json!(text);
                name.push_str(&format!("-resize{:016x}", key(text.as_bytes())));
            }
            Some((name, record))
        });
        let Some((name, record)) = stored else {
            return Ok((Self::build(label, block)?, None));
        };
        if let Ok(Some(index)) = Self::read(cache, &name, &record, block) {
            return Ok((index, None));
        }
        let index = Self::build(label, block)?;
        if label.meta().status == Status::InProgress {
            return Ok((index, None));
        }
        let failed = index.write(cache, &name, record).err();
        Ok((index, failed))
    }
}
