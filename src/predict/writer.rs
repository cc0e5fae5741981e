//! [`PredictionWriter`]: per-chunk accumulators that are normalised and written as soon as every
//! grid window touching them has been added.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ndarray::ArrayView4;
use rayon::prelude::*;
use serde_json::json;

use super::geometry::{output_grid, Geometry, TileWindows};
use super::output::{OutputArray, OutputSpec};
use super::rescale::PredictionResize;
use super::share::{GridShare, Pieces};
use super::tile::{Blend, Role, Tile};
use super::weights::AxisSums;
use super::{OutputType, Problem, Weight};
use crate::store::Encoding;
use crate::{Bbox, Coord, Error, Padding, Result, Shape};

/// Lock shards of the live-tile map.
const SHARDS: usize = 64;

/// The default output chunk's height and width.
pub const DEFAULT_CHUNK_HW: u64 = 256;

/// Settings of a [`PredictionWriter`]; [`PredictionBuilder::create`] makes the writer.
#[derive(Clone, Debug)]
pub struct PredictionBuilder {
    volume: Shape,
    window: Shape,
    stride: Shape,
    pad: Padding,
    channels: usize,
    weight: Weight,
    dtype: OutputType,
    encoding: Encoding,
    chunk: Option<Shape>,
    overwrite: bool,
    share: Option<GridShare>,
    output_scale: [f64; 3],
    unpad: bool,
    prediction_size: Option<Shape>,
}

impl PredictionBuilder {
    setter!(/// `DATASET.PAD_SIZE`: the grid runs over the volume padded by this much (a [`Coord`]
        /// on both sides of each axis, a [`Padding`] per side), as the loader's grid mode does,
        /// and the output is cropped back to the volume (PyTC's `INFERENCE.UNPAD`). Default
        /// `[0, 0, 0]`.
        pad: impl Into<Padding> => pad.into());
    setter!(/// Output channels `C` (default 1).
        channels: usize);
    setter!(/// The blending weight (default gaussian).
        weight: Weight);
    setter!(/// The output data type (default float32).
        dtype: OutputType);
    setter!(/// Raw (default) or zstd; sharded is not supported.
        encoding: Encoding);
    setter!(/// Replace an existing array of the same name (default: an error). With a
        /// [`PredictionBuilder::share`], an unfinished array of the same grid and split is
        /// joined, not replaced: it is the other writers' (or an interrupted run's, whose
        /// finished blocks are kept).
        overwrite: bool);

    /// PyTC's `INFERENCE.OUTPUT_SCALE` (default `[1, 1, 1]`): every prediction is resized by
    /// it before it is blended, as PyTC resizes the model's output (see the `rescale` notes in
    /// the [module documentation](super)), into an output of `ceil((n + 2p) · s) − 2 ⌊p · s⌋`
    /// voxels per axis. Predictions are still added at the window's shape and start.
    ///
    /// ```
    /// use ndarray::Array4;
    /// use voxload::predict::{read_prediction, PredictionWriter};
    /// let dir = tempfile::tempdir()?;
    /// let writer = PredictionWriter::builder([4, 40, 40], [4, 16, 16], [4, 8, 8])
    ///     .output_scale([1.0, 0.5, 0.5])
    ///     .create(dir.path(), "half")?;
    /// let positions: Vec<_> = writer.positions().collect();
    /// for p in positions {
    ///     writer.add(p, Array4::from_elem((1, 4, 16, 16), 0.5).view())?;
    /// }
    /// writer.finish()?;
    /// assert_eq!(read_prediction(dir.path(), "half")?.shape(), &[1, 4, 20, 20]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn output_scale(mut self, scale: [f64; 3]) -> Self {
        self.output_scale = scale;
        self
    }

    /// PyTC's test-mode `MODEL.OUTPUT_SIZE` (`INFERENCE.OUTPUT_SIZE`) when the model's output
    /// is smaller than its input (default `None`: predictions are whole windows): every
    /// prediction is a block of this size, placed at its window's first voxel as PyTC's
    /// `test()` places it (not centred), and blended with a weight of its size. Voxels no block
    /// covers have no weight: NaN in `float32` (PyTC's `0 / 0`), 0 in `uint8`.
    ///
    /// ```
    /// use ndarray::Array4;
    /// use voxload::predict::{read_prediction, PredictionWriter};
    /// let dir = tempfile::tempdir()?;
    /// let writer = PredictionWriter::builder([4, 32, 32], [4, 16, 16], [4, 16, 16])
    ///     .prediction_size(Some([4, 8, 8]))
    ///     .create(dir.path(), "blocks")?;
    /// let positions: Vec<_> = writer.positions().collect();
    /// for p in positions {
    ///     writer.add(p, Array4::from_elem((1, 4, 8, 8), 0.5).view())?;
    /// }
    /// writer.finish()?;
    /// let out = read_prediction(dir.path(), "blocks")?;
    /// assert_eq!((out[[0, 0, 0, 0]], out[[0, 0, 16, 20]]), (0.5, 0.5));
    /// assert!(out[[0, 0, 8, 8]].is_nan()); // behind the first block, before the next window
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn prediction_size(mut self, size: Option<Shape>) -> Self {
        self.prediction_size = size;
        self
    }

    /// PyTC's `INFERENCE.UNPAD` (default true): the output is the volume, the padded grid
    /// cropped back to it. Off, the output is the padded volume (`n + 2p` voxels per axis,
    /// scaled by [`PredictionBuilder::output_scale`]), its voxel `p` the volume's first.
    ///
    /// ```
    /// use voxload::predict::{read_prediction, PredictionWriter};
    /// let dir = tempfile::tempdir()?;
    /// let writer = PredictionWriter::builder([4, 40, 40], [4, 16, 16], [4, 8, 8])
    ///     .pad([0, 4, 4])
    ///     .unpad(false)
    ///     .create(dir.path(), "padded")?;
    /// let positions: Vec<_> = writer.positions().collect();
    /// for p in positions {
    ///     writer.add(p, ndarray::Array4::from_elem((1, 4, 16, 16), 0.5).view())?;
    /// }
    /// writer.finish()?;
    /// assert_eq!(read_prediction(dir.path(), "padded")?.shape(), &[1, 4, 48, 48]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn unpad(mut self, unpad: bool) -> Self {
        self.unpad = unpad;
        self
    }

    /// The spatial chunk shape `(cz, cy, cx)`; output chunks are `(1, cz, cy, cx)`. Default:
    /// `(window depth, 256, 256)`, each clamped to the volume (the output's, when scaled).
    #[must_use]
    pub fn chunk(mut self, chunk: Shape) -> Self {
        self.chunk = Some(chunk);
        self
    }

    /// Writes one block of the grid into an array that other writers (ranks, jobs) write the
    /// other blocks of ([`GridShare`]); the first creates the array, the others join it, and the
    /// last to [`PredictionWriter::finish`] completes it. The result is bit-identical to one
    /// writer adding every window. This writer accepts only the windows of its block.
    #[must_use]
    pub fn share(mut self, share: GridShare) -> Self {
        self.share = Some(share);
        self
    }

    /// Creates the output array `name` in the store at `store` (nested names make groups),
    /// marked in-progress until [`PredictionWriter::finish`]; with a
    /// [`PredictionBuilder::share`], creates or joins it.
    ///
    /// # Errors
    /// [`Error::Geometry`] for a zero extent in the volume, window, stride, chunk or channels,
    /// a negative padding, or a share whose last bound is not the grid's window count;
    /// [`Error::Write`] when the array exists (and cannot be joined) and `overwrite` is off or
    /// the encoding is sharded; [`Error::Io`] / [`Error::Zarrs`] when writing fails.
    pub fn create(&self, store: &Path, name: &str) -> Result<PredictionWriter> {
        let zero = |s: &Shape| s.contains(&0);
        let invalid = |chunk: Option<Shape>| {
            Error::Geometry(format!(
                "prediction writer: volume {:?}, window {:?}, stride {:?}, chunk {} and {} channels must be positive, padding {} not negative",
                self.volume,
                self.window,
                self.stride,
                chunk.map_or_else(|| "(default)".into(), |c| format!("{c:?}")),
                self.channels,
                self.pad
            ))
        };
        if zero(&self.volume)
            || zero(&self.window)
            || zero(&self.stride)
            || self.chunk.as_ref().is_some_and(zero)
            || self.channels == 0
            || !self.pad.is_non_negative()
        {
            return Err(invalid(self.chunk));
        }
        let scale = self.output_scale;
        if scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::Geometry(format!(
                "prediction writer: output scale {scale:?} must be positive"
            )));
        }
        let predicted = self.prediction_size.unwrap_or(self.window);
        if zero(&predicted) || (0..3).any(|a| predicted[a] > self.window[a]) {
            return Err(Error::Geometry(format!(
                "prediction writer: the prediction size {predicted:?} (MODEL.OUTPUT_SIZE) must be positive and at most the window {:?}",
                self.window
            )));
        }
        let output = output_grid(
            self.volume,
            (self.window, predicted),
            (self.stride, self.pad),
            (scale, self.unpad),
        );
        if let Some(a) = (0..3).find(|&a| output.starts[a].windows(2).any(|p| p[0] >= p[1])) {
            return Err(Error::Geometry(format!(
                "prediction writer: an output scale of {} on axis {} puts two windows {} voxels apart at the same output voxel; the scale times the stride must be at least 1",
                scale[a], crate::store::zoom::AXES[a], self.stride[a]
            )));
        }
        if zero(&output.volume) {
            return Err(Error::Geometry(format!(
                "prediction writer: an output scale of {scale:?} leaves no voxel of the volume {:?}",
                self.volume
            )));
        }
        let chunk = self.chunk.unwrap_or_else(|| {
            let d = [output.window[0], DEFAULT_CHUNK_HW, DEFAULT_CHUNK_HW];
            std::array::from_fn(|a| d[a].min(output.volume[a]).max(1))
        });
        let geometry = Geometry::new(output, predicted, chunk);
        let (volume, window) = (geometry.volume, geometry.window);
        let windows = geometry.len();
        if let Some(share) = &self.share {
            if share.bounds().last() != Some(&windows) {
                return Err(Error::Geometry(format!(
                    "prediction writer: the share's bounds {:?} do not end at the grid's {windows} windows",
                    share.bounds()
                )));
            }
        }
        let c = self.channels as u64;
        let mut prediction = json!({
            "weight": self.weight.name(),
            "window": self.window,
            "stride": self.stride,
            "pad": self.pad.pytc_values(),
        });
        if predicted != self.window {
            prediction["prediction_size"] = json!(predicted);
        }
        if scale != [1.0; 3] {
            prediction["output_scale"] = json!(scale);
        }
        if !self.unpad {
            prediction["unpad"] = json!(false);
        }
        if let Some(share) = &self.share {
            prediction["blocks"] = json!(share.bounds());
            prediction["dtype"] = json!(self.dtype.name());
            prediction["chunk"] = json!(chunk);
            prediction["shape"] = json!([c, volume[0], volume[1], volume[2]]);
        }
        let spec = OutputSpec {
            shape: [c, volume[0], volume[1], volume[2]],
            chunk,
            dtype: self.dtype,
            encoding: self.encoding,
            prediction,
        };
        let out = match &self.share {
            None => OutputArray::create(store, name, &spec, self.overwrite)?,
            Some(_) => OutputArray::create_joint(store, name, &spec, self.overwrite)?,
        };
        let sums = AxisSums::new(self.weight, volume, window, &geometry.starts);
        let words = windows.div_ceil(64) as usize;
        let own = self.share.as_ref().map_or((0, windows), GridShare::range);
        let pieces = Pieces::new(out.path());
        let tiles_to_finish = (0..geometry.tile_count())
            .filter(|&id| {
                let bbox = geometry.tile_box(geometry.tile_of(id));
                let w = TileWindows::new(&geometry, &bbox);
                w.count_below(own.1) > w.count_below(own.0)
            })
            .count() as u64;
        Ok(PredictionWriter {
            weights: self.weight.matrix(window).into_raw_vec_and_offset().0,
            resize: (scale != [1.0; 3]).then(|| PredictionResize::new(predicted, window)),
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
            share: self.share.clone(),
            own,
            tiles_to_finish,
            pieces,
        })
    }
}

/// How [`PredictionWriter::finish`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finished {
    /// The array is complete.
    Complete,
    /// This writer's block is done; the array is completed by the last of the other writers,
    /// of which `waiting` have not finished yet.
    Waiting {
        /// Blocks not finished yet.
        waiting: usize,
    },
}

/// Blends overlapping grid predictions into a Zarr v3 array `(C, D, H, W)`; see the
/// [module documentation](super) for the blend, the memory bound and exactness.
pub struct PredictionWriter {
    geometry: Geometry,
    out: OutputArray,
    /// The window's weights, `(d, h, w)` in C order.
    weights: Vec<f32>,
    /// The resize of every prediction (`INFERENCE.OUTPUT_SCALE`), if any.
    resize: Option<PredictionResize>,
    sums: AxisSums,
    channels: usize,
    dtype: OutputType,
    /// One bit per grid window: added.
    received: Vec<AtomicU64>,
    added: AtomicU64,
    /// Tiles finished (written, or their pieces saved).
    written: AtomicU64,
    /// Bytes held in accumulators and pending window parts, now and at most.
    live: AtomicU64,
    peak: AtomicU64,
    shards: Vec<Mutex<HashMap<u64, Arc<Mutex<Tile>>>>>,
    share: Option<GridShare>,
    /// This writer's windows, `[lo, hi)` in grid order.
    own: (u64, u64),
    /// Tiles with at least one window of this writer.
    tiles_to_finish: u64,
    pieces: Pieces,
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
            pad: Padding::uniform([0, 0, 0]),
            channels: 1,
            weight: Weight::Gaussian,
            dtype: OutputType::F32,
            encoding: Encoding::Raw,
            chunk: None,
            overwrite: false,
            share: None,
            output_scale: [1.0; 3],
            unpad: true,
            prediction_size: None,
        }
    }

    /// The output array's directory (while shared writers work: the staging copy when they
    /// replace an array).
    #[must_use]
    pub fn path(&self) -> &Path {
        self.out.path()
    }

    /// Every grid window's start, in grid order (z, y, x with x fastest), in volume
    /// coordinates: the positions [`PredictionWriter::add`] expects (with a share, only those
    /// of its block are accepted).
    pub fn positions(&self) -> impl Iterator<Item = Coord> + '_ {
        (0..self.geometry.len()).map(|g| self.geometry.position(g))
    }

    /// The number of grid windows (of the whole grid, not only this writer's block).
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

    /// This writer's windows, `[lo, hi)` in grid order (the whole grid without a share).
    #[must_use]
    pub fn own_windows(&self) -> (u64, u64) {
        self.own
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

    fn blend(&self) -> Blend<'_> {
        Blend {
            weights: &self.weights,
            channels: self.channels,
        }
    }

    /// Adds one window's prediction `(C, d, h, w)`; `position` is the window's first voxel in
    /// volume coordinates (negative in the padding), as the loader's `SampleInfo::start` gives
    /// it. Each output chunk is normalised and written by the call that adds its last window.
    /// Safe to call from many threads at once, in any order.
    ///
    /// # Errors
    /// [`Error::Prediction`] for a prediction of the wrong shape ([`Problem::Shape`]), a
    /// position that is not a window of the grid ([`Problem::NotOnGrid`]) or of this writer's
    /// block ([`Problem::NotInShare`]), or a window added before ([`Problem::Duplicate`]);
    /// [`Error::Zarrs`] / [`Error::Io`] when writing a completed chunk fails.
    pub fn add(&self, position: Coord, prediction: ArrayView4<'_, f32>) -> Result<()> {
        let [d, h, w] = self.geometry.input_window.map(|v| v as usize);
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
        if !(self.own.0..self.own.1).contains(&g) {
            let (lo, hi) = self.own;
            return Err(self.error(position, Problem::NotInShare { index: g, lo, hi }));
        }
        let bit = 1u64 << (g % 64);
        if self.received[(g / 64) as usize].fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Err(self.error(position, Problem::Duplicate { index: g }));
        }
        let standard = prediction.as_standard_layout();
        let mut data = standard.as_slice().unwrap_or_default();
        let resized;
        if let Some(resize) = &self.resize {
            resized = resize.apply(self.channels, data);
            data = &resized;
        }
        let window = self.geometry.window_at(g);
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

    /// Gives window `g` to tile `t`: taken now if it is the tile's next window in grid order
    /// (then any pending successors too), else kept until its turn. Finishes the tile when this
    /// was the last of this writer's windows of it.
    fn offer(&self, t: [u64; 3], g: u64, window: &Bbox, data: &[f32]) -> Result<()> {
        let id = self.geometry.tile_id(t);
        let shard = &self.shards[(id % SHARDS as u64) as usize];
        let tile = lock(shard)
            .entry(id)
            .or_insert_with(|| Arc::new(Mutex::new(Tile::new(&self.geometry, t, self.own))))
            .clone();
        let blend = self.blend();
        let finished = {
            let mut tile = lock(&tile);
            if g == tile.wanted() {
                self.take(&mut tile, window, window, data);
                while !tile.done() {
                    let want = tile.wanted();
                    let Some(part) = tile.pending.remove(&want) else {
                        break;
                    };
                    let w = self.geometry.window_at(want);
                    let region = w.intersect(&tile.bbox).unwrap_or(tile.bbox);
                    self.take(&mut tile, &w, &region, &part);
                    self.shrink(part.len() * 4);
                }
            } else {
                let region = window.intersect(&tile.bbox).unwrap_or(tile.bbox);
                let part = blend.copy_part(window, &region, data);
                self.grow(part.len() * 4);
                tile.pending.insert(g, part);
            }
            tile.done().then(|| {
                let acc = std::mem::take(&mut tile.acc);
                let parts = std::mem::take(&mut tile.parts);
                (tile.bbox, tile.role, acc, parts)
            })
        };
        if let Some((bbox, role, acc, parts)) = finished {
            lock(shard).remove(&id);
            let part = self.share.as_ref().map_or(0, GridShare::part);
            let result = match role {
                Role::Whole => self.write_tile(t, &bbox, &acc),
                Role::Prefix => self.pieces.save(id, part, &acc),
                Role::Continuation => self.pieces.save(id, part, &parts),
            };
            self.shrink((acc.len() + parts.len()) * 4);
            result?;
            self.written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Takes the tile's next window, whose values inside `data_box` are `data`: summed into the
    /// accumulator, or (continuing another writer's sum) kept as a part.
    fn take(&self, tile: &mut Tile, window: &Bbox, data_box: &Bbox, data: &[f32]) {
        if tile.role == Role::Continuation {
            let before = tile.parts.capacity();
            if data_box == window {
                let region = window.intersect(&tile.bbox).unwrap_or(tile.bbox);
                let part = self.blend().copy_part(window, &region, data);
                tile.parts.extend_from_slice(&part);
            } else {
                tile.parts.extend_from_slice(data);
            }
            self.grow((tile.parts.capacity() - before) * 4);
        } else {
            let grown = self.blend().accumulate(tile, window, data_box, data);
            self.grow(grown);
        }
        tile.next += 1;
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

    /// Checks that every window (of this writer's block) was added and marks the array
    /// complete; with a share, records the block as done, and the writer that finds every
    /// block done completes the shared tiles and the array.
    ///
    /// # Errors
    /// [`Error::Prediction`] with [`Problem::Incomplete`] (naming the first missing window)
    /// when windows are missing or a chunk failed to write; [`Error::Write`] when a saved piece
    /// of another block is missing or damaged; [`Error::Zarrs`] when the metadata cannot be
    /// written.
    pub fn finish(mut self) -> Result<Finished> {
        let (lo, hi) = self.own;
        let added = self.added();
        if added < hi - lo {
            let first = (lo..hi)
                .find(|&g| {
                    self.received[(g / 64) as usize].load(Ordering::Relaxed) & (1 << (g % 64)) == 0
                })
                .unwrap_or(lo);
            let position = self.geometry.position(first);
            let missing = hi - lo - added;
            return Err(self.error(position, Problem::Incomplete { missing }));
        }
        let written = self.written.load(Ordering::Relaxed);
        if written < self.tiles_to_finish {
            let missing = self.tiles_to_finish - written;
            return Err(self.error([0, 0, 0], Problem::Incomplete { missing }));
        }
        let Some(share) = self.share.clone() else {
            self.out.finish()?;
            return Ok(Finished::Complete);
        };
        // This block's chunks and pieces reach stable storage before its done mark.
        crate::store::durable::sync_tree(self.out.path())?;
        let _join = self.out.join_lock()?;
        self.pieces.mark_done(share.part())?;
        let waiting = self.pieces.missing(share.parts()).len();
        if waiting > 0 {
            return Ok(Finished::Waiting { waiting });
        }
        self.complete_shared_tiles(&share)?;
        self.out.finish()?;
        self.pieces.remove()?;
        Ok(Finished::Complete)
    }

    /// Replays every tile shared between blocks: the first block's saved sum, then the later
    /// blocks' parts in grid order, and writes it.
    fn complete_shared_tiles(&self, share: &GridShare) -> Result<()> {
        let shared: Vec<u64> = (0..self.geometry.tile_count())
            .filter(|&id| {
                let w = self.tile_windows(id);
                share.part_of(w.at(0)) != share.part_of(w.at(w.len() - 1))
            })
            .collect();
        shared.par_iter().try_for_each(|&id| {
            let t = self.geometry.tile_of(id);
            let windows = self.tile_windows(id);
            let mut tile = Tile::new(&self.geometry, t, (0, self.geometry.len()));
            let first = share.part_of(windows.at(0));
            let len = self.channels * tile.bbox.shape.iter().product::<u64>() as usize;
            tile.acc = self.pieces.load(id, first, len)?;
            let blend = self.blend();
            for p in first + 1..share.parts() {
                let (b0, b1) = share.block(p);
                let (k0, k1) = (windows.count_below(b0), windows.count_below(b1));
                if k0 == k1 {
                    continue;
                }
                let boxes: Vec<Bbox> = (k0..k1)
                    .map(|k| self.geometry.window_at(windows.at(k)))
                    .collect();
                let total = boxes.iter().map(|w| blend.part_len(w, &tile.bbox)).sum();
                let parts = self.pieces.load(id, p, total)?;
                let mut at = 0;
                for w in &boxes {
                    let region = w.intersect(&tile.bbox).unwrap_or(tile.bbox);
                    let n = blend.part_len(w, &tile.bbox);
                    blend.accumulate(&mut tile, w, &region, &parts[at..at + n]);
                    at += n;
                }
            }
            self.write_tile(t, &tile.bbox, &tile.acc)
        })
    }

    fn tile_windows(&self, id: u64) -> TileWindows {
        let bbox = self.geometry.tile_box(self.geometry.tile_of(id));
        TileWindows::new(&self.geometry, &bbox)
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
