//! [`MappedArray`]: padded window reads from a Zarr v3 array.

use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use ndarray::Array3;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::ReadableStorageTraits;

use super::chunks::{chunk_voxels, CacheLimits, ChunkData, ChunkSource};
use super::guard::{GuardedStore, ReplacementGuard};
use super::meta::{ArrayMeta, Layout, Status};
use super::row_fill::RowFill;
use super::zoom::ZoomGrid;
use super::{array_dir, zarrs_path};
use crate::pad::{first_occurrences, fold_maps, source_box};
use crate::{Bbox, ChunkGrid, Element, Error, PadMode, Result, Shape};

/// Options for opening an array.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions {
    /// Read an array that voxload marked in-progress (an unfinished ingest).
    pub allow_incomplete: bool,
    /// Cache bounds.
    pub limits: CacheLimits,
}

/// A Zarr v3 array opened for window reads of element type `T`.
///
/// Raw arrays (the `bytes` codec only) and sharded raw arrays are served from memory-mapped
/// chunk and shard files, copying each row segment straight out of the mapping; every other
/// encoding zarrs knows is decoded through zarrs with a bounded cache of decoded chunks.
/// Reads take `&self` and may run from many threads at once.
///
/// ```
/// use ndarray::Array3;
/// use voxload::{Bbox, Encoding, MappedArray, PadMode, write_array};
///
/// let dir = tempfile::tempdir().unwrap();
/// let volume = Array3::from_shape_fn((4, 5, 6), |(z, y, x)| (z * 100 + y * 10 + x) as u16);
/// write_array(dir.path(), "image", &volume, [2, 4, 4], Encoding::Raw).unwrap();
///
/// let array = MappedArray::<u16>::open(dir.path(), "image").unwrap();
/// // A window hanging one voxel off the low x face, mirrored as numpy's `reflect` would.
/// let w = array.read(Bbox::new([1, 2, -1], [1, 1, 3]), PadMode::Reflect).unwrap();
/// assert_eq!(w.as_slice().unwrap(), &[121, 120, 121]);
/// ```
pub struct MappedArray<T> {
    pub(super) meta: ArrayMeta,
    /// The grid reads are resolved on (inner chunks for sharded arrays).
    pub(super) grid: ChunkGrid,
    pub(super) source: ChunkSource,
    pub(super) fill: T,
    /// The zoom reads see the array through, `None` for the stored grid (see [`super::zoom`]).
    pub(super) zoom: Option<Box<ZoomGrid>>,
    /// Whether chunks come from a remote store (fetched on first use, many at once).
    pub(super) remote: bool,
    pub(super) _type: PhantomData<T>,
}

impl<T: Element> MappedArray<T> {
    /// Opens array `name` of the store at `store` (`""` when the store's root is the array).
    ///
    /// # Errors
    /// [`Error::NotZarr`], [`Error::UnknownCodec`], [`Error::Unsupported`],
    /// [`Error::DtypeMismatch`] when `T` is not the stored type, [`Error::Incomplete`] when the
    /// array is marked in-progress.
    pub fn open(store: impl AsRef<Path>, name: &str) -> Result<Self> {
        Self::open_with(store, name, &OpenOptions::default())
    }

    /// Opens `STORE/ARRAY` written as one path (see [`split_address`](super::split_address)).
    ///
    /// # Errors
    /// As [`MappedArray::open`].
    pub fn open_address(address: impl AsRef<Path>) -> Result<Self> {
        let (store, name) = super::split_address(address.as_ref());
        Self::open(store, &name)
    }

    /// Opens with explicit options.
    ///
    /// # Errors
    /// As [`MappedArray::open`].
    pub fn open_with(store: impl AsRef<Path>, name: &str, options: &OpenOptions) -> Result<Self> {
        let root = &super::remote::localize(store.as_ref())?;
        super::remote::prepare_node(root, name)?;
        let remote = super::remote::serving(root);
        let dir = array_dir(root, name);
        if let Some(foreign) = super::foreign::ForeignAddress::parse(&dir) {
            return Self::from_foreign(foreign.open()?, options.limits);
        }
        let name = &super::ome::resolve(root, name)?;
        let dir = array_dir(root, name);
        let guard = ReplacementGuard::new(&dir);
        let meta = ArrayMeta::read(&dir)?;
        meta.expect_dtype(T::DTYPE)?;
        if meta.status == Status::InProgress && !options.allow_incomplete {
            return Err(Error::Incomplete { path: dir });
        }
        let fs = FilesystemStore::new(root).map_err(|e| Error::zarrs(root, e))?;
        let guarded = GuardedStore::new(fs, guard.clone());
        // Outermost, so file types and sizes are checked before anything opens the file.
        let bounded = super::bounded::BoundedStore::new(guarded, root, &meta);
        // A remote store's mirror fills on demand: shards by byte range, all else whole.
        let sharded = !matches!(meta.layout, Layout::Raw)
            && super::bounded::Chain::for_array(&meta).is_some_and(|c| c.reads_parts());
        let storage: Arc<dyn ReadableStorageTraits> = match &remote {
            Some(r) => Arc::new(super::remote::fetch::FetchingStore::new(
                bounded,
                r.clone(),
                root.clone(),
                sharded,
            )),
            None => Arc::new(bounded),
        };
        let array = Array::open(storage, &zarrs_path(name)).map_err(|e| Error::zarrs(&dir, e))?;
        let fill = bytemuck::try_pod_read_unaligned::<T>(array.fill_value().as_ne_bytes())
            .map_err(|_| Error::Unsupported {
                path: dir.clone(),
                reason: "fill value does not match the data type".into(),
            })?;
        let array = Arc::new(array);
        // Sharded arrays zarrs decodes are read by inner chunk, through the shard index.
        // So are raw shards of a remote store, fetched by inner chunk rather than mapped whole.
        let subchunks = match &meta.layout {
            Layout::Decoded { .. } => super::subchunks::SubchunkDecoder::new(array.clone()),
            Layout::ShardedRaw { .. } if remote.is_some() => {
                super::subchunks::SubchunkDecoder::new(array.clone())
            }
            _ => None,
        };
        let inner = |a: &Array<dyn ReadableStorageTraits>| {
            let s = zarrs::array::ArrayShardedExt::subchunk_shape(a)?;
            let s: Vec<u64> = s.iter().map(|v| v.get()).collect();
            (s.len() == 3).then(|| [s[0], s[1], s[2]])
        };
        let read_chunk = match &meta.layout {
            Layout::ShardedRaw { inner, .. } if subchunks.is_none() => *inner,
            Layout::ShardedRaw { .. } => inner(&array).unwrap_or(meta.chunk),
            Layout::Decoded { .. } if subchunks.is_some() => inner(&array).unwrap_or(meta.chunk),
            _ => meta.chunk,
        };
        let grid = ChunkGrid::new(meta.shape, read_chunk)?;
        let source = match subchunks {
            Some(decoder) => ChunkSource::Foreign(super::foreign::DecodedChunks::new(
                Arc::new(decoder),
                options.limits.max_decoded_bytes,
            )),
            None => ChunkSource::new(
                &meta,
                array,
                root.to_path_buf(),
                options.limits,
                guard,
                remote.clone(),
            )?,
        };
        Ok(MappedArray {
            meta,
            grid,
            source,
            fill,
            zoom: None,
            remote: remote.is_some(),
            _type: PhantomData,
        })
    }

    /// The array's shape `(z, y, x)`: the zoomed shape of a zoomed array (see
    /// [`MappedArray::zoomed`]), whose stored shape stays in [`MappedArray::meta`].
    #[must_use]
    pub fn shape(&self) -> Shape {
        self.zoom.as_ref().map_or(self.meta.shape, |z| z.shape())
    }

    /// The array's metadata as voxload sees it.
    #[must_use]
    pub fn meta(&self) -> &ArrayMeta {
        &self.meta
    }

    /// The fill value that absent chunks read as.
    #[must_use]
    pub fn fill_value(&self) -> T {
        self.fill
    }

    /// The number of chunk or shard files mapped right now (bounded by
    /// [`CacheLimits::max_mapped_files`]).
    #[must_use]
    pub fn mapped_files(&self) -> usize {
        self.source.mapped_files()
    }

    /// Whether the array is read from a remote store (`s3://`, `gs://`, `http(s)://`).
    #[must_use]
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Fetches into the local cache every chunk a read of `window` needs, without reading it:
    /// what the loader's look-ahead calls for samples a few batches away. Nothing for a local
    /// store (or a zoomed array, whose reads fetch as they go).
    ///
    /// # Errors
    /// As [`MappedArray::read`].
    pub fn prefetch(&self, window: Bbox, pad: PadMode) -> Result<()> {
        if !self.remote || self.zoom.is_some() {
            return Ok(());
        }
        let maps = fold_maps(pad, &window, self.meta.shape);
        if let Some(source) = source_box(&maps) {
            ChunkTable::resolve(self, &source)?;
        }
        Ok(())
    }

    /// Reads `window`, filling voxels outside the volume by `pad` (numpy `np.pad` semantics).
    ///
    /// # Errors
    /// [`Error::ChunkSize`] or [`Error::ShardIndex`] for a corrupt chunk or shard file,
    /// [`Error::Io`] when a chunk file cannot be read, [`Error::Zarrs`] when decoding fails.
    pub fn read(&self, window: Bbox, pad: PadMode) -> Result<Array3<T>> {
        let voxels = checked_voxels::<T>(&window)?;
        let [d, h, w] = window.shape.map(|v| v as usize);
        let mut out = Vec::new();
        out.try_reserve_exact(voxels).map_err(|e| {
            Error::Geometry(format!("cannot allocate window {:?}: {e}", window.shape))
        })?;
        out.resize(voxels, T::default());
        self.read_into(window, pad, &mut out)?;
        Array3::from_shape_vec((d, h, w), out).map_err(|e| Error::Geometry(e.to_string()))
    }

    /// Reads `window` into `out`, a C-order buffer of exactly the window's voxel count.
    ///
    /// # Errors
    /// As [`MappedArray::read`], and [`Error::Geometry`] when `out` has the wrong length.
    pub fn read_into(&self, window: Bbox, pad: PadMode, out: &mut [T]) -> Result<()> {
        match &self.zoom {
            Some(zoom) => zoom.read_into(self, window, pad, out),
            None => self.read_stored_into(window, pad, out),
        }
    }

    /// [`MappedArray::read_into`] of the stored grid, whatever the zoom.
    pub(crate) fn read_stored_into(&self, window: Bbox, pad: PadMode, out: &mut [T]) -> Result<()> {
        check_output::<T>(&window, out.len())?;
        if out.is_empty() {
            return Ok(());
        }
        let cval = T::from_f64(pad.constant().unwrap_or(0.0));
        let maps = fold_maps(pad, &window, self.meta.shape);
        self.read_maps_into(&maps, Some(window.begin[2]), cval, out)
    }

    /// Fills `out`, the C-order box of the maps' lengths, with the stored voxels
    /// `(maps[0][i], maps[1][j], maps[2][k])` (`cval` where a map gives `None`). `x_begin` is the
    /// window's first x when `maps[2]` is a pad fold ([`fold_maps`]), whose interior rows are
    /// copied straight into `out`; `None` for any other map, gathered voxel by voxel.
    pub(crate) fn read_maps_into(
        &self,
        maps: &[Vec<Option<u64>>; 3],
        x_begin: Option<i64>,
        cval: T,
        out: &mut [T],
    ) -> Result<()> {
        let [h, w] = [maps[1].len(), maps[2].len()];
        let Some(source) = source_box(maps) else {
            out.fill(cval);
            return Ok(());
        };
        let table = ChunkTable::resolve(self, &source)?;
        let slices = table.slices();
        let rows = RowPlan::new(&table, &maps[2], x_begin, self.meta.shape[2], &source);
        let zmin = source.begin[0] as u64;
        let ymin = source.begin[1] as u64;
        let mut z_first = vec![usize::MAX; source.shape[0] as usize];
        let y_first = first_occurrences(&maps[1], ymin, source.shape[1] as usize);
        let scratch_len = if rows.needs_scratch {
            source.shape[2] as usize
        } else {
            0
        };
        let mut scratch = vec![T::default(); scratch_len];
        let plane = h * w;
        let mut first_rows = Vec::with_capacity(h);
        for (oz, sz) in maps[0].iter().enumerate() {
            let plane_at = oz * plane;
            let Some(sz) = *sz else {
                out[plane_at..plane_at + plane].fill(cval);
                continue;
            };
            let first = &mut z_first[(sz - zmin) as usize];
            if *first != usize::MAX {
                out.copy_within(*first * plane..*first * plane + plane, plane_at);
                continue;
            }
            *first = oz;
            let plane_out = &mut out[plane_at..plane_at + plane];
            if !rows.needs_scratch {
                // Interior pieces, one chunk column at a time, so each chunk is read as a
                // strided stream, with software prefetch a few rows ahead.
                first_rows.clear();
                first_rows.extend(maps[1].iter().enumerate().filter_map(|(oy, sy)| {
                    sy.filter(|&sy| y_first[(sy - ymin) as usize] == oy)
                        .map(|sy| (oy, sy))
                }));
                let ahead = table.prefetch_rows();
                for seg in &rows.segments {
                    for (i, &(oy, sy)) in first_rows.iter().enumerate() {
                        if let Some(&(_, sy_ahead)) = first_rows.get(i + ahead) {
                            prefetch(table.piece(&slices, table.row_origin(sz, sy_ahead), seg));
                        }
                        let row = &mut plane_out[oy * w + rows.lo..oy * w + rows.hi];
                        table.copy_segment(&slices, table.row_origin(sz, sy), seg, row);
                    }
                }
            }
            for (oy, sy) in maps[1].iter().enumerate() {
                let row_at = oy * w;
                let Some(sy) = *sy else {
                    plane_out[row_at..row_at + w].fill(cval);
                    continue;
                };
                let fy = y_first[(sy - ymin) as usize];
                if fy < oy {
                    plane_out.copy_within(fy * w..fy * w + w, row_at);
                    continue;
                }
                let row = &mut plane_out[row_at..row_at + w];
                rows.finish_row(&table, &slices, (sz, sy), &maps[2], cval, &mut scratch, row);
            }
        }
        Ok(())
    }
}

/// Checks that an output buffer of `len` voxels of `T` holds `window` (see [`checked_voxels`]).
pub(super) fn check_output<T>(window: &Bbox, len: usize) -> Result<()> {
    let voxels = checked_voxels::<T>(window)?;
    if len != voxels {
        return Err(Error::Geometry(format!(
            "output buffer holds {len} voxels, window {:?} needs {voxels}",
            window.shape,
        )));
    }
    Ok(())
}

/// The window's voxel count, or an error when it cannot be held in memory or its coordinates
/// overflow (hostile or mistyped arguments must not abort the process).
pub(super) fn checked_voxels<T>(window: &Bbox) -> Result<usize> {
    let too_big = || Error::Geometry(format!("window {window:?} is too large to read"));
    let voxels = window
        .shape
        .iter()
        .try_fold(1u64, |n, &s| n.checked_mul(s))
        .filter(|&n| {
            n.checked_mul(size_of::<T>() as u64)
                .is_some_and(|b| b <= isize::MAX as u64 / 2)
        })
        .ok_or_else(too_big)?;
    let fits = (0..3).all(|a| {
        i64::try_from(window.shape[a]).is_ok_and(|s| window.begin[a].checked_add(s).is_some())
    });
    if !fits {
        return Err(too_big());
    }
    usize::try_from(voxels).map_err(|_| too_big())
}

/// The chunks a read needs, fetched once per read.
struct ChunkTable<'a, T> {
    array: &'a MappedArray<T>,
    first: [u64; 3],
    chunks: Vec<ChunkData>,
    chunk_bytes: usize,
    /// Per source z (from the source box's first z): the table offset of its chunk plane and
    /// its byte offset within the chunk.
    z_origin: Vec<RowOrigin>,
    /// The same per source y.
    y_origin: Vec<RowOrigin>,
    /// The source box's first z and y.
    z0: u64,
    y0: u64,
}

impl<'a, T: Element> ChunkTable<'a, T> {
    fn resolve(array: &'a MappedArray<T>, source: &Bbox) -> Result<Self> {
        let range = array
            .grid
            .chunk_range(source)
            .ok_or_else(|| Error::Geometry("source box outside the volume".into()))?;
        let chunk_bytes = chunk_voxels(array.grid.chunk_shape()) * size_of::<T>();
        let first = range.begin.map(|v| v as u64);
        let count = range.shape;
        let indices: Vec<[u64; 3]> = (0..count[0])
            .flat_map(|i| (0..count[1]).flat_map(move |j| (0..count[2]).map(move |k| [i, j, k])))
            .map(|[i, j, k]| [first[0] + i, first[1] + j, first[2] + k])
            .collect();
        // Chunks that must be decoded are decoded in parallel on rayon's pool (threads that
        // are busy elsewhere simply take no part); mapped chunks cost nothing to resolve.
        let chunks = if array.remote && indices.len() > 1 {
            // Chunks of a remote store may each wait on the network: fetched all at once, on
            // the pool sized for requests in flight.
            use rayon::prelude::*;
            super::remote::fetch_pool()?.install(|| {
                indices
                    .par_iter()
                    .map(|&index| array.source.chunk(index, chunk_bytes))
                    .collect::<Result<Vec<_>>>()
            })?
        } else if array.source.decodes() && indices.len() > 1 {
            use rayon::prelude::*;
            indices
                .par_iter()
                .map(|&index| array.source.chunk(index, chunk_bytes))
                .collect::<Result<Vec<_>>>()?
        } else {
            indices
                .iter()
                .map(|&index| array.source.chunk(index, chunk_bytes))
                .collect::<Result<Vec<_>>>()?
        };
        let c = array.grid.chunk_shape();
        let origins = |axis: usize, table_stride: u64, byte_stride: u64| -> Vec<RowOrigin> {
            let begin = source.begin[axis] as u64;
            (begin..begin + source.shape[axis])
                .map(|v| RowOrigin {
                    chunk: ((v / c[axis] - first[axis]) * table_stride) as usize,
                    offset: ((v % c[axis]) * byte_stride) as usize * size_of::<T>(),
                })
                .collect()
        };
        let z_origin = origins(0, count[1] * count[2], c[1] * c[2]);
        let y_origin = origins(1, count[2], c[2]);
        Ok(ChunkTable {
            array,
            first,
            chunks,
            chunk_bytes,
            z_origin,
            y_origin,
            z0: source.begin[0] as u64,
            y0: source.begin[1] as u64,
        })
    }

    /// Each chunk's bytes (`None` for fill chunks), in table order.
    fn slices(&self) -> Vec<Option<&[u8]>> {
        self.chunks
            .iter()
            .map(|c| c.bytes(self.chunk_bytes))
            .collect()
    }

    /// The pieces of source row x-range `[x0, x0 + len)`, one per chunk it crosses.
    fn segments(&self, x0: u64, len: usize) -> Vec<Segment> {
        let cx = self.array.grid.chunk_shape()[2];
        let mut segments = Vec::new();
        let mut done = 0;
        while done < len {
            let x = x0 + done as u64;
            let lx = (x % cx) as usize;
            let n = (cx as usize - lx).min(len - done);
            segments.push(Segment {
                chunk: (x / cx - self.first[2]) as usize,
                src: lx * size_of::<T>(),
                dst: done,
                len: n,
            });
            done += n;
        }
        segments
    }

    /// How many rows ahead to prefetch: a fixed distance in bytes of the chunk's rows.
    fn prefetch_rows(&self) -> usize {
        let row_bytes = self.array.grid.chunk_shape()[2] as usize * size_of::<T>();
        (PREFETCH_BYTES / row_bytes).max(1)
    }

    /// Where source row `(z, y)` starts: its first chunk in the table and its byte offset in
    /// that chunk.
    #[inline]
    fn row_origin(&self, z: u64, y: u64) -> RowOrigin {
        let zo = self.z_origin[(z - self.z0) as usize];
        let yo = self.y_origin[(y - self.y0) as usize];
        RowOrigin {
            chunk: zo.chunk + yo.chunk,
            offset: zo.offset + yo.offset,
        }
    }

    /// The bytes of one piece of a source row, or `None` when its chunk is fill.
    #[inline]
    fn piece<'s>(
        &self,
        slices: &[Option<&'s [u8]>],
        origin: RowOrigin,
        seg: &Segment,
    ) -> Option<&'s [u8]> {
        let src = origin.offset + seg.src;
        slices[origin.chunk + seg.chunk].map(|bytes| &bytes[src..src + seg.len * size_of::<T>()])
    }

    /// Copies one piece of a source row into `dst` (the destination row, to which the
    /// piece's offset is relative).
    #[inline]
    fn copy_segment(
        &self,
        slices: &[Option<&[u8]>],
        origin: RowOrigin,
        seg: &Segment,
        dst: &mut [T],
    ) {
        let part = &mut dst[seg.dst..seg.dst + seg.len];
        match self.piece(slices, origin, seg) {
            Some(bytes) => bytemuck::cast_slice_mut::<T, u8>(part).copy_from_slice(bytes),
            None => part.fill(self.array.fill),
        }
    }
}

/// Where a source row starts in a [`ChunkTable`].
#[derive(Clone, Copy)]
struct RowOrigin {
    /// The table index of the row's first chunk (x offset 0 of the table).
    chunk: usize,
    /// The row's byte offset inside each of its chunks.
    offset: usize,
}

/// How far ahead (in bytes of a chunk's rows) the interior copy prefetches into L2: measured on
/// `(8, 256, 256)` windows, 16 KiB beat 4, 8 and 32 KiB, and L2 beat L1 (BENCHMARKS.md).
const PREFETCH_BYTES: usize = 16384;

/// Asks the CPU to start loading `bytes` into cache (a hint; no effect on results).
#[inline]
fn prefetch(bytes: Option<&[u8]>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(bytes) = bytes {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        for line in bytes.chunks(64) {
            // SAFETY: prefetching is a hint that never faults, and the pointer comes from a
            // live slice.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(line.as_ptr().cast()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// A piece of a row that lies in one chunk.
struct Segment {
    /// The chunk's x offset in the table.
    chunk: usize,
    /// Byte offset of the piece in the chunk's row.
    src: usize,
    /// Voxel offset of the piece in the destination row.
    dst: usize,
    /// Voxels in the piece.
    len: usize,
}

/// How one output row is made from one source row, the same for every row of a read.
struct RowPlan {
    /// Output positions `[lo, hi)` that lie inside the volume.
    lo: usize,
    hi: usize,
    /// Some padded position folds outside `[lo, hi)`, so the source row is staged in a scratch
    /// buffer first.
    needs_scratch: bool,
    /// The source x range staged in scratch starts here.
    src_min: u64,
    /// The row pieces to copy: into scratch, or straight into `[lo, hi)` of the output row.
    segments: Vec<Segment>,
    /// Without scratch: how padded positions are filled from the row's interior.
    fill: RowFill,
}

impl RowPlan {
    /// The plan of `xmap`: a pad fold of a window starting at x = `fold_begin`, or any other
    /// map (`fold_begin` = `None`), which is always gathered through scratch.
    fn new<T: Element>(
        table: &ChunkTable<'_, T>,
        xmap: &[Option<u64>],
        fold_begin: Option<i64>,
        dim: u64,
        source: &Bbox,
    ) -> Self {
        let begin = fold_begin.unwrap_or(0);
        let w = xmap.len() as i64;
        let lo = (-begin).clamp(0, w) as usize;
        let hi = (dim as i64 - begin).clamp(lo as i64, w) as usize;
        let inside = |x: u64| lo < hi && (lo..hi).contains(&((x as i64 - begin) as usize));
        let needs_scratch = fold_begin.is_none() || xmap.iter().flatten().any(|&x| !inside(x));
        let src_min = source.begin[2] as u64;
        let (segments, fill) = if needs_scratch {
            let segments = table.segments(src_min, source.shape[2] as usize);
            (segments, RowFill::default())
        } else {
            let fill = RowFill::plan((0..lo).chain(hi..xmap.len()), |o| {
                xmap[o].map(|x| (x as i64 - begin) as usize)
            });
            (table.segments((begin + lo as i64) as u64, hi - lo), fill)
        };
        RowPlan {
            lo,
            hi,
            needs_scratch,
            src_min,
            segments,
            fill,
        }
    }

    /// Completes output row `dst` for source row `(z, y)`: with scratch, copies the source row
    /// and gathers every position; otherwise the interior is already copied and only the
    /// padded positions are filled, from the row itself.
    #[allow(clippy::too_many_arguments)]
    fn finish_row<T: Element>(
        &self,
        table: &ChunkTable<'_, T>,
        slices: &[Option<&[u8]>],
        zy: (u64, u64),
        xmap: &[Option<u64>],
        cval: T,
        scratch: &mut [T],
        dst: &mut [T],
    ) {
        if self.needs_scratch {
            let origin = table.row_origin(zy.0, zy.1);
            for seg in &self.segments {
                table.copy_segment(slices, origin, seg, scratch);
            }
            for (o, x) in dst.iter_mut().zip(xmap) {
                *o = x.map_or(cval, |x| scratch[(x - self.src_min) as usize]);
            }
            return;
        }
        self.fill.apply(dst, cval);
    }
}
