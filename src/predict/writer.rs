//! [`PredictionWriter`]: per-chunk accumulators that are normalised and written as soon as every
//! grid window touching them has been added.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ndarray::ArrayView4;
use serde_json::{json, Map};

use super::output::OutputArray;
use super::weights::AxisSums;
use super::{OutputType, Problem, Weight};
use crate::sampler::grid_starts;
use crate::store::Encoding;
use crate::{Bbox, Coord, Error, Result, Shape};

/// Lock shards of the live-tile map.
const SHARDS: usize = 64;

/// The default output chunk's height and width.
pub const DEFAULT_CHUNK_HW: u64 = 256;

/// The grid's windows and the output's tiles (spatial chunks), in volume coordinates.
#[derive(Clone, Debug)]
struct Geometry {
    volume: Shape,
    window: Shape,
    /// Per axis the window starts, strictly increasing, possibly negative (padding).
    starts: [Vec<i64>; 3],
    /// The spatial chunk shape.
    tile: Shape,
    /// Tiles per axis.
    tiles: Shape,
}

impl Geometry {
    fn new(volume: Shape, window: Shape, stride: Shape, pad: Coord, tile: Shape) -> Self {
        let starts = std::array::from_fn(|a| {
            let padded = (volume[a] as i64 + 2 * pad[a]).max(0) as u64;
            grid_starts(padded, window[a], stride[a])
                .into_iter()
                .map(|s| s - pad[a])
                .collect()
        });
        let tiles = std::array::from_fn(|a| volume[a].div_ceil(tile[a]));
        Geometry {
            volume,
            window,
            starts,
            tile,
            tiles,
        }
    }

    fn counts(&self) -> [u64; 3] {
        std::array::from_fn(|a| self.starts[a].len() as u64)
    }

    fn len(&self) -> u64 {
        self.counts().iter().product()
    }

    /// The per-axis indices of the window starting at `position`.
    fn locate(&self, position: Coord) -> Option<[usize; 3]> {
        let mut idx = [0; 3];
        for a in 0..3 {
            idx[a] = self.starts[a].binary_search(&position[a]).ok()?;
        }
        Some(idx)
    }

    fn index(&self, idx: [usize; 3]) -> u64 {
        let [_, ny, nx] = self.counts();
        (idx[0] as u64 * ny + idx[1] as u64) * nx + idx[2] as u64
    }

    fn window_at(&self, g: u64) -> Bbox {
        let [_, ny, nx] = self.counts();
        let idx = [g / (ny * nx), (g / nx) % ny, g % nx];
        Bbox::new(
            std::array::from_fn(|a| self.starts[a][idx[a] as usize]),
            self.window,
        )
    }

    fn tile_box(&self, t: [u64; 3]) -> Bbox {
        let begin: Coord = std::array::from_fn(|a| (t[a] * self.tile[a]) as i64);
        let shape = std::array::from_fn(|a| self.tile[a].min(self.volume[a] - t[a] * self.tile[a]));
        Bbox::new(begin, shape)
    }

    /// Per axis, the index range of the windows overlapping `bbox`.
    fn window_ranges(&self, bbox: &Bbox) -> [(u64, u64); 3] {
        let end = bbox.end();
        std::array::from_fn(|a| {
            let w = self.window[a] as i64;
            let s = &self.starts[a];
            let lo = s.partition_point(|&v| v + w <= bbox.begin[a]);
            let hi = s.partition_point(|&v| v < end[a]);
            (lo as u64, hi.max(lo) as u64)
        })
    }

    /// Per axis, the range of tiles the window overlaps, or `None` when it lies outside the
    /// volume (wholly in the padding).
    fn tile_ranges(&self, window: &Bbox) -> Option<[(u64, u64); 3]> {
        let inside = window.intersect(&Bbox::from_shape(self.volume))?;
        let end = inside.end();
        Some(std::array::from_fn(|a| {
            (
                inside.begin[a] as u64 / self.tile[a],
                (end[a] as u64 - 1) / self.tile[a] + 1,
            )
        }))
    }

    fn tile_id(&self, t: [u64; 3]) -> u64 {
        (t[0] * self.tiles[1] + t[1]) * self.tiles[2] + t[2]
    }
}

/// One output tile being accumulated.
struct Tile {
    bbox: Bbox,
    /// Per axis the index range of the windows overlapping it.
    ranges: [(u64, u64); 3],
    expected: u64,
    /// How many of its windows have been accumulated (they are accumulated in grid order).
    next: u64,
    /// `Σ prediction · weight`, `(C, tile)` in C order; empty until the first accumulation.
    acc: Vec<f32>,
    /// Windows that arrived ahead of their turn: grid index → the prediction's part inside
    /// this tile, `(C, window ∩ tile)`.
    pending: BTreeMap<u64, Vec<f32>>,
}

impl Tile {
    /// The grid index of the `k`-th window (in grid order) overlapping the tile.
    fn expected_at(&self, k: u64, counts: [u64; 3]) -> u64 {
        let n: [u64; 3] = std::array::from_fn(|a| self.ranges[a].1 - self.ranges[a].0);
        let i = [k / (n[1] * n[2]), (k / n[2]) % n[1], k % n[2]];
        let idx: [u64; 3] = std::array::from_fn(|a| self.ranges[a].0 + i[a]);
        (idx[0] * counts[1] + idx[1]) * counts[2] + idx[2]
    }
}

/// Settings of a [`PredictionWriter`]; [`PredictionBuilder::create`] makes the writer.
#[derive(Clone, Debug)]
pub struct PredictionBuilder {
    volume: Shape,
    window: Shape,
    stride: Shape,
    pad: Coord,
    channels: usize,
    weight: Weight,
    dtype: OutputType,
    encoding: Encoding,
    chunk: Option<Shape>,
    overwrite: bool,
}

impl PredictionBuilder {
    setter!(/// `DATASET.PAD_SIZE`: the grid runs over the volume padded by this much on each side
        /// (as the loader's grid mode does), and the output is cropped back to the volume
        /// (PyTC's `INFERENCE.UNPAD`). Default `[0, 0, 0]`.
        pad: Coord);
    setter!(/// Output channels `C` (default 1).
        channels: usize);
    setter!(/// The blending weight (default gaussian).
        weight: Weight);
    setter!(/// The output data type (default float32).
        dtype: OutputType);
    setter!(/// Raw (default) or zstd; sharded is not supported.
        encoding: Encoding);
    setter!(/// Replace an existing array of the same name (default: an error).
        overwrite: bool);

    /// The spatial chunk shape `(cz, cy, cx)`; output chunks are `(1, cz, cy, cx)`. Default:
    /// `(window depth, 256, 256)`, each clamped to the volume.
    #[must_use]
    pub fn chunk(mut self, chunk: Shape) -> Self {
        self.chunk = Some(chunk);
        self
    }

    /// Creates the output array `name` in the store at `store` (nested names make groups),
    /// marked in-progress until [`PredictionWriter::finish`].
    ///
    /// # Errors
    /// [`Error::Geometry`] for a zero extent in the volume, window, stride, chunk or channels,
    /// or a negative padding; [`Error::Write`] when the array exists and `overwrite` is off or
    /// the encoding is sharded; [`Error::Io`] / [`Error::Zarrs`] when writing fails.
    pub fn create(&self, store: &Path, name: &str) -> Result<PredictionWriter> {
        let chunk = self.chunk.unwrap_or_else(|| {
            let d = [self.window[0], DEFAULT_CHUNK_HW, DEFAULT_CHUNK_HW];
            std::array::from_fn(|a| d[a].min(self.volume[a]).max(1))
        });
        let zero = |s: &Shape| s.contains(&0);
        if zero(&self.volume)
            || zero(&self.window)
            || zero(&self.stride)
            || zero(&chunk)
            || self.channels == 0
            || self.pad.iter().any(|&p| p < 0)
        {
            return Err(Error::Geometry(format!(
                "prediction writer: volume {:?}, window {:?}, stride {:?}, chunk {chunk:?} and {} channels must be positive, padding {:?} not negative",
                self.volume, self.window, self.stride, self.channels, self.pad
            )));
        }
        let geometry = Geometry::new(self.volume, self.window, self.stride, self.pad, chunk);
        let attributes = Map::from_iter([(
            "prediction".to_string(),
            json!({
                "weight": self.weight.name(),
                "window": self.window,
                "stride": self.stride,
                "pad": self.pad,
            }),
        )]);
        let c = self.channels as u64;
        let shape = [c, self.volume[0], self.volume[1], self.volume[2]];
        let out = OutputArray::create(
            store,
            name,
            shape,
            chunk,
            self.dtype,
            self.encoding,
            attributes,
            self.overwrite,
        )?;
        let sums = AxisSums::new(self.weight, self.volume, self.window, &geometry.starts);
        let words = geometry.len().div_ceil(64) as usize;
        Ok(PredictionWriter {
            weights: self.weight.matrix(self.window).into_raw_vec_and_offset().0,
            sums,
            channels: self.channels,
            dtype: self.dtype,
            received: (0..words).map(|_| AtomicU64::new(0)).collect(),
            added: AtomicU64::new(0),
            written: AtomicU64::new(0),
            live: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            geometry,
            out,
        })
    }
}

/// Blends overlapping grid predictions into a Zarr v3 array `(C, D, H, W)`; see the
/// [module documentation](super) for the blend, the memory bound and exactness.
pub struct PredictionWriter {
    geometry: Geometry,
    out: OutputArray,
    /// The window's weights, `(d, h, w)` in C order.
    weights: Vec<f32>,
    sums: AxisSums,
    channels: usize,
    dtype: OutputType,
    /// One bit per grid window: added.
    received: Vec<AtomicU64>,
    added: AtomicU64,
    written: AtomicU64,
    /// Bytes held in accumulators and pending window parts, now and at most.
    live: AtomicU64,
    peak: AtomicU64,
    shards: Vec<Mutex<HashMap<u64, Arc<Mutex<Tile>>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PredictionWriter {
    /// Settings for a grid of `window`-shaped windows at `stride` over a volume of `volume`
    /// voxels.
    #[must_use]
    pub fn builder(volume: Shape, window: Shape, stride: Shape) -> PredictionBuilder {
        PredictionBuilder {
            volume,
            window,
            stride,
            pad: [0, 0, 0],
            channels: 1,
            weight: Weight::Gaussian,
            dtype: OutputType::F32,
            encoding: Encoding::Raw,
            chunk: None,
            overwrite: false,
        }
    }

    /// The output array's directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.out.path()
    }

    /// Every grid window's start, in grid order (z, y, x with x fastest), in volume
    /// coordinates: the positions [`PredictionWriter::add`] expects.
    pub fn positions(&self) -> impl Iterator<Item = Coord> + '_ {
        (0..self.geometry.len()).map(|g| self.geometry.window_at(g).begin)
    }

    /// The number of grid windows.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.geometry.len()
    }

    /// True when the grid has no window (never: every axis has at least one).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Windows added so far.
    #[must_use]
    pub fn added(&self) -> u64 {
        self.added.load(Ordering::Relaxed)
    }

    /// The spatial chunk shape `(cz, cy, cx)`.
    #[must_use]
    pub fn chunk(&self) -> Shape {
        self.geometry.tile
    }

    /// The most bytes held at once in accumulators and out-of-order window parts.
    #[must_use]
    pub fn peak_bytes(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn grow(&self, bytes: usize) {
        let now = self.live.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn shrink(&self, bytes: usize) {
        self.live.fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    fn error(&self, position: Coord, problem: Problem) -> Error {
        Error::Prediction {
            path: self.out.path().to_path_buf(),
            position,
            problem,
        }
    }

    /// Adds one window's prediction `(C, d, h, w)`; `position` is the window's first voxel in
    /// volume coordinates (negative in the padding), as the loader's `SampleInfo::start` gives
    /// it. Each output chunk is normalised and written by the call that adds its last window.
    /// Safe to call from many threads at once, in any order.
    ///
    /// # Errors
    /// [`Error::Prediction`] for a prediction of the wrong shape ([`Problem::Shape`]), a
    /// position that is not a window of the grid ([`Problem::NotOnGrid`]) or a window added
    /// before ([`Problem::Duplicate`]); [`Error::Zarrs`] / [`Error::Io`] when writing a
    /// completed chunk fails.
    pub fn add(&self, position: Coord, prediction: ArrayView4<'_, f32>) -> Result<()> {
        let [d, h, w] = self.geometry.window.map(|v| v as usize);
        let expected = [self.channels, d, h, w];
        if prediction.shape() != expected {
            let actual = prediction.shape().to_vec();
            return Err(self.error(position, Problem::Shape { expected, actual }));
        }
        let idx = self
            .geometry
            .locate(position)
            .ok_or_else(|| self.error(position, Problem::NotOnGrid))?;
        let g = self.geometry.index(idx);
        let bit = 1u64 << (g % 64);
        if self.received[(g / 64) as usize].fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Err(self.error(position, Problem::Duplicate { index: g }));
        }
        let standard = prediction.as_standard_layout();
        let data = standard.as_slice().unwrap_or_default();
        let window = Bbox::new(position, self.geometry.window);
        if let Some([rz, ry, rx]) = self.geometry.tile_ranges(&window) {
            for tz in rz.0..rz.1 {
                for ty in ry.0..ry.1 {
                    for tx in rx.0..rx.1 {
                        self.offer([tz, ty, tx], g, &window, data)?;
                    }
                }
            }
        }
        self.added.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Gives window `g` to tile `t`: accumulated now if it is the tile's next window in grid
    /// order (then any pending successors too), else kept until its turn. Writes the tile
    /// when this was its last window.
    fn offer(&self, t: [u64; 3], g: u64, window: &Bbox, data: &[f32]) -> Result<()> {
        let id = self.geometry.tile_id(t);
        let shard = &self.shards[(id % SHARDS as u64) as usize];
        let tile = lock(shard)
            .entry(id)
            .or_insert_with(|| {
                let bbox = self.geometry.tile_box(t);
                let ranges = self.geometry.window_ranges(&bbox);
                let expected = ranges.iter().map(|r| r.1 - r.0).product();
                Arc::new(Mutex::new(Tile {
                    bbox,
                    ranges,
                    expected,
                    next: 0,
                    acc: Vec::new(),
                    pending: BTreeMap::new(),
                }))
            })
            .clone();
        let counts = self.geometry.counts();
        let finished = {
            let mut tile = lock(&tile);
            if g == tile.expected_at(tile.next, counts) {
                self.accumulate(&mut tile, window, window, data);
                tile.next += 1;
                loop {
                    let want = tile.expected_at(tile.next, counts);
                    let Some(part) = tile.pending.remove(&want) else {
                        break;
                    };
                    let w = self.geometry.window_at(want);
                    let region = w.intersect(&tile.bbox).unwrap_or(tile.bbox);
                    self.accumulate(&mut tile, &w, &region, &part);
                    self.shrink(part.len() * 4);
                    tile.next += 1;
                }
            } else {
                let region = window.intersect(&tile.bbox).unwrap_or(tile.bbox);
                let part = self.copy_part(window, &region, data);
                self.grow(part.len() * 4);
                tile.pending.insert(g, part);
            }
            (tile.next == tile.expected).then(|| (tile.bbox, std::mem::take(&mut tile.acc)))
        };
        if let Some((bbox, acc)) = finished {
            lock(shard).remove(&id);
            let result = self.write_tile(t, &bbox, &acc);
            self.shrink(acc.len() * 4);
            result?;
            self.written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The part of a window's prediction inside `region`, `(C, region)` in C order.
    fn copy_part(&self, window: &Bbox, region: &Bbox, data: &[f32]) -> Vec<f32> {
        let [d, h, w] = window.shape.map(|v| v as usize);
        let [rd, rh, rw] = region.shape.map(|v| v as usize);
        let o: [usize; 3] = std::array::from_fn(|a| (region.begin[a] - window.begin[a]) as usize);
        let mut out = Vec::with_capacity(self.channels * rd * rh * rw);
        for c in 0..self.channels {
            for z in 0..rd {
                for y in 0..rh {
                    let src = ((c * d + o[0] + z) * h + o[1] + y) * w + o[2];
                    out.extend_from_slice(&data[src..src + rw]);
                }
            }
        }
        out
    }

    /// `acc += data · weight` over `window ∩ tile`, where `data` holds `(C, data_box)`.
    fn accumulate(&self, tile: &mut Tile, window: &Bbox, data_box: &Bbox, data: &[f32]) {
        let Some(region) = window.intersect(&tile.bbox) else {
            return;
        };
        let [tz, ty, tx] = tile.bbox.shape.map(|v| v as usize);
        if tile.acc.is_empty() {
            tile.acc = vec![0.0; self.channels * tz * ty * tx];
            self.grow(tile.acc.len() * 4);
        }
        let [_, wh, ww] = window.shape.map(|v| v as usize);
        let [dd, dh, dw] = data_box.shape.map(|v| v as usize);
        let [rd, rh, rw] = region.shape.map(|v| v as usize);
        let off = |b: &Bbox, a: usize| (region.begin[a] - b.begin[a]) as usize;
        let (wo, dof, to) = (
            [off(window, 0), off(window, 1), off(window, 2)],
            [off(data_box, 0), off(data_box, 1), off(data_box, 2)],
            [off(&tile.bbox, 0), off(&tile.bbox, 1), off(&tile.bbox, 2)],
        );
        for c in 0..self.channels {
            for z in 0..rd {
                for y in 0..rh {
                    let wi = ((wo[0] + z) * wh + wo[1] + y) * ww + wo[2];
                    let di = ((c * dd + dof[0] + z) * dh + dof[1] + y) * dw + dof[2];
                    let ai = ((c * tz + to[0] + z) * ty + to[1] + y) * tx + to[2];
                    let acc = &mut tile.acc[ai..ai + rw];
                    let src = &data[di..di + rw];
                    let weight = &self.weights[wi..wi + rw];
                    for ((a, &p), &q) in acc.iter_mut().zip(src).zip(weight) {
                        *a += p * q;
                    }
                }
            }
        }
    }

    /// Normalises a completed tile (`acc / Σ weight`) and writes its chunk of every channel.
    fn write_tile(&self, t: [u64; 3], bbox: &Bbox, acc: &[f32]) -> Result<()> {
        match self.dtype {
            OutputType::F32 => self.write_tile_as(t, bbox, acc, |v| v as f32),
            OutputType::U8 => self.write_tile_as(t, bbox, acc, to_u8),
        }
    }

    fn write_tile_as<T: zarrs::array::Element + Copy + Default>(
        &self,
        t: [u64; 3],
        bbox: &Bbox,
        acc: &[f32],
        convert: impl Fn(f64) -> T,
    ) -> Result<()> {
        let [tz, ty, tx] = bbox.shape.map(|v| v as usize);
        let [cz, cy, cx] = self.geometry.tile.map(|v| v as usize);
        let chunk_len = cz * cy * cx;
        let s = &self.sums;
        let b = bbox.begin.map(|v| v as usize);
        let mut values = vec![T::default(); chunk_len];
        let mut inverse = vec![0f64; ty * tx];
        // The inverse weight sums of the tile, one z slice at a time, shared by the channels.
        for c in 0..self.channels {
            for z in 0..tz {
                let gz = b[0] + z;
                for y in 0..ty {
                    let gy = b[1] + y;
                    let row = &mut inverse[y * tx..(y + 1) * tx];
                    if c == 0 || tz > 1 {
                        let n = s.epsilon * s.count[0][gz] * s.count[1][gy];
                        let g = s.sum[0][gz] * s.sum[1][gy];
                        for (x, inv) in row.iter_mut().enumerate() {
                            let gx = b[2] + x;
                            *inv = 1.0 / (n * s.count[2][gx] + g * s.sum[2][gx]);
                        }
                    }
                    let ai = ((c * tz + z) * ty + y) * tx;
                    let oi = (z * cy + y) * cx;
                    for ((o, &a), &inv) in values[oi..oi + tx]
                        .iter_mut()
                        .zip(&acc[ai..ai + tx])
                        .zip(row.iter())
                    {
                        *o = convert(f64::from(a) * inv);
                    }
                }
            }
            self.out
                .write_chunk([c as u64, t[0], t[1], t[2]], &values)?;
        }
        Ok(())
    }

    /// Checks that every window was added and marks the array complete.
    ///
    /// # Errors
    /// [`Error::Prediction`] with [`Problem::Incomplete`] (naming the first missing window)
    /// when windows are missing or a chunk failed to write; [`Error::Zarrs`] when the metadata
    /// cannot be written.
    pub fn finish(mut self) -> Result<()> {
        let total = self.geometry.len();
        let added = self.added();
        if added < total {
            let first = (0..total)
                .find(|&g| {
                    self.received[(g / 64) as usize].load(Ordering::Relaxed) & (1 << (g % 64)) == 0
                })
                .unwrap_or(0);
            let position = self.geometry.window_at(first).begin;
            return Err(self.error(
                position,
                Problem::Incomplete {
                    missing: total - added,
                },
            ));
        }
        let tiles: u64 = self.geometry.tiles.iter().product();
        if self.written.load(Ordering::Relaxed) < tiles {
            return Err(self.error(
                [0, 0, 0],
                Problem::Incomplete {
                    missing: tiles - self.written.load(Ordering::Relaxed),
                },
            ));
        }
        self.out.finish()
    }
}

/// A blended value in `[0, 1]` as uint8: `× 255`, rounded to nearest, clipped to `[0, 255]`
/// (NaN gives 0).
///
/// ```
/// use voxload::predict::to_u8;
/// assert_eq!(to_u8(1.0), 255);
/// assert_eq!(to_u8(0.5), 128);
/// assert_eq!(to_u8(128.0 / 255.0 - 1e-6), 128);
/// assert_eq!(to_u8(1.7), 255);
/// assert_eq!(to_u8(-0.2), 0);
/// assert_eq!(to_u8(f64::NAN), 0);
/// ```
#[must_use]
pub fn to_u8(v: f64) -> u8 {
    // `as` saturates to [0, 255] and maps NaN to 0.
    (v * 255.0).round() as u8
}
