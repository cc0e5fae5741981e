//! [`PredictionWriter`]: per-chunk accumulators that are normalised and written as soon as every
//! grid window touching them has been added.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ndarray::ArrayView4;
use rayon::prelude::*;

use super::geometry::{Geometry, TileWindows};
use super::output::OutputArray;
use super::rescale::PredictionResize;
use super::share::{GridShare, Pieces};
use super::tile::{Blend, Role, Tile};
use super::weights::AxisSums;
use super::{OutputType, PredictionBuilder, Problem};
use crate::{Bbox, Coord, Error, Result, Shape};

/// Lock shards of the live-tile map.
pub(super) const SHARDS: usize = 64;

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
    pub(super) geometry: Geometry,
    pub(super) out: OutputArray,
    /// The window's weights, `(d, h, w)` in C order.
    pub(super) weights: Vec<f32>,
    /// The resize of every prediction (`INFERENCE.OUTPUT_SCALE`), if any.
    pub(super) resize: Option<PredictionResize>,
    pub(super) sums: AxisSums,
    pub(super) channels: usize,
    pub(super) dtype: OutputType,
    /// One bit per grid window: added.
    pub(super) received: Vec<AtomicU64>,
    pub(super) added: AtomicU64,
    /// Tiles finished (written, or their pieces saved).
    pub(super) written: AtomicU64,
    /// Bytes held in accumulators and pending window parts, now and at most.
    pub(super) live: AtomicU64,
    pub(super) peak: AtomicU64,
    pub(super) shards: Vec<Mutex<HashMap<u64, Arc<Mutex<Tile>>>>>,
    pub(super) share: Option<GridShare>,
    /// This writer's windows, `[lo, hi)` in grid order.
    pub(super) own: (u64, u64),
    /// Tiles with at least one window of this writer.
    pub(super) tiles_to_finish: u64,
    pub(super) pieces: Pieces,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PredictionWriter {
    /// Settings for a grid of `window`-shaped windows at `stride` over a volume of `volume`
    /// voxels.
    #[must_use]
    pub fn builder(volume: Shape, window: Shape, stride: Shape) -> PredictionBuilder {
        PredictionBuilder::new(volume, window, stride)
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
