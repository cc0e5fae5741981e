//! The loader: sampler, reader and augmentor tied into a stream of batches.
//!
//! One builder, two runners: [`LoaderBuilder::build`] gives a serial iterator (the oracle),
//! [`LoaderBuilder::build_prefetch`] a multithreaded one. Batch `k` is always made of samples
//! `k·B … k·B + B − 1`, and sample `i` depends only on `(seed, epoch, i)` (and the rank), so
//! both yield identical streams for any number of workers. At most `prefetch` batches are made
//! ahead of the consumer, so memory is bounded by the prefetch depth, never by the volume.
//!
//! ```
//! use ndarray::Array3;
//! use voxload::augment::{Compose, TargetKind};
//! use voxload::loader::Loader;
//! use voxload::sampler::{ArrayNames, Volume};
//! use voxload::{write_array, Encoding, OpenOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let image = Array3::from_shape_fn((24, 96, 96), |(z, y, x)| ((z + y + x) % 256) as u8);
//! let label = image.mapv(|v| u16::from(v > 128));
//! write_array(dir.path(), "image", &image, [8, 32, 32], Encoding::Raw)?;
//! write_array(dir.path(), "label", &label, [8, 32, 32], Encoding::Raw)?;
//! let names = ArrayNames::new("image").label("label");
//! let volume = Volume::open(0, dir.path(), &names, &OpenOptions::default())?;
//!
//! let compose = Compose::new(Compose::pytc_defaults(), [4, 32, 32], [("label", TargetKind::Mask)])?;
//! let loader = Loader::builder(vec![volume], compose).batch_size(2).samples(6).seed(7);
//! let serial: Vec<_> = loader.build()?.collect::<Result<_, _>>()?;
//! let threaded: Vec<_> = loader.workers(2).build_prefetch()?.collect::<Result<_, _>>()?;
//! assert_eq!(serial.len(), 3);
//! assert_eq!(serial, threaded);
//! assert_eq!(serial[0].array("image").unwrap().shape(), &[2, 4, 32, 32]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod index;
mod intensity;
mod learn;
mod limits;
mod lookahead;
mod manifest;
mod prefetch;
mod produce;
mod relabel;
mod stack;

pub(crate) use relabel::reads_id_values;

pub use config::pytc_mode;
pub use index::{default_index_cache, CACHE_DIR_VAR};
pub use intensity::{Intensity, MatchAct};
pub use learn::{Learning, TargetSpec};
pub use limits::{check_rank, MAX_WORKERS};
pub use lookahead::DEFAULT_LOOKAHEAD_BYTES;
pub use manifest::{
    sample_stem, Manifest, ManifestSample, ManifestStats, ManifestTransform, SampleInfo,
};
pub use prefetch::Prefetch;
pub use produce::augment_rng;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ndarray::ArrayD;
use serde_json::Value;

use crate::augment::{Compose, TestAugment};
use crate::sampler::{
    ChunkSchedule, ForegroundIndex, Grid, RandomSampler, Rejection, Volume, WindowSettings,
    DEFAULT_PAD_SIZE, DEFAULT_STRIDE,
};
use crate::{Bbox, Error, PadMode, Padding, Result, Shape};
use produce::Producer;

/// Training draws or the inference grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Random windows (rejection sampling, chunk schedule), augmented.
    Train,
    /// The inference grid in order, never augmented.
    Grid,
}

crate::element::dtype_enum! {
    /// A stacked array of one key: `(B, D, H, W)`, or `(B, H, W)` in 2D.
    ///
    /// ```
    /// use voxload::loader::BatchArray;
    /// let a = BatchArray::from(ndarray::ArrayD::<u16>::zeros(vec![2, 4, 4]));
    /// assert_eq!(a.dtype(), voxload::DType::U16);
    /// assert_eq!((a.shape(), a.nbytes()), (&[2, 4, 4][..], 64));
    /// assert!(a.as_typed::<u16>().is_some() && a.as_typed::<f32>().is_none());
    /// ```
    #[derive(Clone, Debug, PartialEq)]
    pub enum BatchArray of ArrayD;
}

impl BatchArray {
    /// The array's shape.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        crate::match_dtype!(self, BatchArray(a) => a.shape())
    }

    /// Bytes of voxel data.
    #[must_use]
    pub fn nbytes(&self) -> usize {
        self.shape().iter().product::<usize>() * self.dtype().size()
    }
}

/// One batch: per key a stacked array, and per sample its provenance.
///
/// Dropping a batch hands its arrays' buffers back to the loader, whose workers fill them again
/// (take an array out of `arrays` to keep it).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The batch's index in the stream.
    pub index: u64,
    /// Per key (`image`, `label`, `valid_mask`, extra targets) the stacked array.
    pub arrays: Vec<(String, BatchArray)>,
    /// Per sample, in order.
    pub samples: Vec<SampleInfo>,
    recycler: Recycler,
}

/// Where a batch's buffers go when it is dropped (no part of its value: batches compare equal
/// whatever their pools).
#[derive(Clone, Debug, Default)]
struct Recycler(Option<Arc<crate::recycle::Pool>>);

impl PartialEq for Recycler {
    fn eq(&self, _: &Recycler) -> bool {
        true
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(pool) = &self.recycler.0 {
            for (_, array) in self.arrays.drain(..) {
                array.recycle(pool);
            }
        }
    }
}

/// One array of a batch that returns its buffer to the loader's pool when dropped
/// ([`Batch::into_pooled`]).
#[derive(Debug)]
pub struct PooledArray {
    array: Option<BatchArray>,
    recycler: Recycler,
}

impl PooledArray {
    /// The array.
    #[must_use]
    pub fn get(&self) -> &BatchArray {
        self.array.as_ref().expect("present until dropped")
    }
}

impl Drop for PooledArray {
    fn drop(&mut self) {
        if let (Some(pool), Some(array)) = (&self.recycler.0, self.array.take()) {
            array.recycle(pool);
        }
    }
}

impl Batch {
    /// The array of `key`.
    #[must_use]
    pub fn array(&self, key: &str) -> Option<&BatchArray> {
        self.arrays.iter().find(|(k, _)| k == key).map(|(_, a)| a)
    }

    /// The arrays and the sample records, owned (the arrays' buffers then stay with the
    /// caller instead of going back to the loader).
    ///
    /// ```
    /// # use voxload::augment::Compose;
    /// # use voxload::loader::Loader;
    /// # use voxload::sampler::{ArrayNames, Volume};
    /// # let dir = tempfile::tempdir()?;
    /// # let image = ndarray::Array3::<u8>::zeros((4, 32, 32));
    /// # voxload::write_array(dir.path(), "image", &image, [4, 32, 32], voxload::Encoding::Raw)?;
    /// # let volume = Volume::open(0, dir.path(), &ArrayNames::new("image"), &Default::default())?;
    /// let compose = Compose::disabled([4, 16, 16], [] as [(&str, _); 0])?;
    /// let mut loader = Loader::builder(vec![volume], compose).batch_size(3).build()?;
    /// let (arrays, samples) = loader.next().unwrap()?.into_parts();
    /// assert_eq!((arrays[0].0.as_str(), samples.len()), ("image", 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn into_parts(mut self) -> (Vec<(String, BatchArray)>, Vec<SampleInfo>) {
        (
            std::mem::take(&mut self.arrays),
            std::mem::take(&mut self.samples),
        )
    }

    /// The arrays, each going back to the loader's pool on its own when dropped, and the
    /// sample records: for front ends that hand the arrays out one by one (to numpy, without a
    /// copy) and cannot keep the batch whole.
    #[must_use]
    pub fn into_pooled(mut self) -> (Vec<(String, PooledArray)>, Vec<SampleInfo>) {
        let recycler = self.recycler.clone();
        let arrays = std::mem::take(&mut self.arrays)
            .into_iter()
            .map(|(key, array)| {
                let pooled = PooledArray {
                    array: Some(array),
                    recycler: recycler.clone(),
                };
                (key, pooled)
            })
            .collect();
        (arrays, std::mem::take(&mut self.samples))
    }

    /// Bytes of voxel data in the batch.
    #[must_use]
    pub fn nbytes(&self) -> usize {
        self.arrays.iter().map(|(_, a)| a.nbytes()).sum()
    }
}

/// What a loader has done.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoaderStats {
    /// Samples delivered.
    pub samples: u64,
    /// Bytes of voxel data delivered.
    pub bytes: u64,
    /// Wall time since the loader started.
    pub elapsed: Duration,
    /// Time the consumer spent waiting for batches.
    pub waited: Duration,
    /// Time workers spent making batches (summed over workers).
    pub busy: Duration,
    /// Candidates drawn by the sampler.
    pub candidates: u64,
    /// Candidates rejected (all reasons).
    pub rejected: u64,
    /// Samples taken after `NUM_TRIAL` rejections.
    pub forced: u64,
    /// Foreground indexes that could not be saved in the index cache (used all the same; the
    /// reasons are in `warnings()` of the iterator).
    pub index_cache_failures: u64,
    /// Remote stores: chunks (or shard ranges) served from the local cache, each counted at
    /// its first use in this process (later uses are mapped and not counted).
    pub cache_hits: u64,
    /// Remote stores: chunks (or ranges) fetched from the server, by the workers or the
    /// look-ahead.
    pub cache_fetches: u64,
    /// Remote stores: bytes fetched.
    pub cache_fetched_bytes: u64,
}

impl LoaderStats {
    fn collect(p: &Producer, elapsed: Duration, waited: Duration) -> Self {
        let (candidates, rejected, forced) = p.sampler.as_ref().map_or((0, 0, 0), |s| {
            let st = s.stats();
            let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let rejected =
                get(&st.rejected_mask) + get(&st.rejected_foreground) + get(&st.rejected_diversity);
            (get(&st.candidates), rejected, get(&st.forced))
        });
        LoaderStats {
            samples: p.samples_made.load(Ordering::Relaxed),
            bytes: p.bytes_made.load(Ordering::Relaxed),
            elapsed,
            waited,
            busy: Duration::from_nanos(p.busy_nanos.load(Ordering::Relaxed)),
            candidates,
            rejected,
            forced,
            index_cache_failures: p.warnings.len() as u64,
            cache_hits: 0,
            cache_fetches: 0,
            cache_fetched_bytes: 0,
        }
    }

    /// Samples per second of wall time.
    #[must_use]
    pub fn samples_per_s(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Bytes per second of wall time.
    #[must_use]
    pub fn bytes_per_s(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Rejected candidates per candidate.
    #[must_use]
    pub fn rejection_rate(&self) -> f64 {
        self.rejected as f64 / (self.candidates.max(1)) as f64
    }

    /// The figures as one JSON object: their [`ManifestStats`] as JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        ManifestStats::from(self).to_json()
    }
}

/// Entry point: `Loader::builder(volumes, compose)`.
pub struct Loader;

impl Loader {
    /// A builder over `volumes`, augmenting with `compose` (use [`Compose::disabled`] for no
    /// augmentation; its input size is the model's input size in both cases).
    #[must_use]
    pub fn builder(volumes: Vec<Volume>, compose: Compose) -> LoaderBuilder {
        LoaderBuilder {
            volumes,
            compose: Arc::new(compose),
            pad: Padding::uniform(DEFAULT_PAD_SIZE),
            pad_mode: PadMode::Reflect,
            rejection: Rejection::default(),
            schedule: None,
            mode: Mode::Train,
            stride: DEFAULT_STRIDE,
            workers: 1,
            prefetch: 4,
            batch_size: 2,
            seed: 0,
            epoch: 0,
            rank: 0,
            world_size: 1,
            samples: None,
            two_d: false,
            foreground: true,
            indexes: Vec::new(),
            index_cache: None,
            intensity: Intensity::plain(),
            learning: None,
            test_augment: TestAugment::default(),
            reduce_label: false,
            label_binary: false,
            label_mag: None,
            widen_integers: false,
            visited: None,
            chunk_limits: (None, None),
        }
    }
}

/// Settings of a loader; build a serial or a prefetching iterator from it.
#[derive(Clone)]
pub struct LoaderBuilder {
    volumes: Vec<Volume>,
    compose: Arc<Compose>,
    pad: Padding,
    pad_mode: PadMode,
    rejection: Rejection,
    schedule: Option<(Shape, bool, u64)>,
    mode: Mode,
    stride: Shape,
    workers: usize,
    prefetch: usize,
    batch_size: u64,
    seed: u64,
    epoch: u64,
    rank: u64,
    world_size: u64,
    samples: Option<u64>,
    two_d: bool,
    foreground: bool,
    indexes: Vec<(usize, Arc<ForegroundIndex>)>,
    index_cache: Option<PathBuf>,
    intensity: Intensity,
    learning: Option<Arc<Learning>>,
    test_augment: TestAugment,
    reduce_label: bool,
    label_binary: bool,
    label_mag: Option<f64>,
    widen_integers: bool,
    visited: Option<Vec<bool>>,
    chunk_limits: (Option<Bbox>, Option<Vec<u64>>),
}

impl LoaderBuilder {
    setter!(/// `DATASET.PAD_SIZE` (default [`DEFAULT_PAD_SIZE`], `[2, 64, 64]`): a [`Coord`](crate::Coord) pads both
        /// sides of each axis alike, a [`Padding`] each side by its own amount.
        pad: impl Into<Padding> => pad.into());
    setter!(/// `DATASET.PAD_MODE` (default reflect).
        pad_mode: PadMode);
    setter!(/// `DATASET.REJECT_SAMPLING` and `VALID_RATIO`.
        rejection: Rejection);
    setter!(/// Training draws or the inference grid (default train).
        mode: Mode);
    setter!(/// `INFERENCE.STRIDE` (default [`DEFAULT_STRIDE`], `[4, 128, 128]`).
        stride: Shape);

    /// In grid mode, only the volumes whose entry is true (see [`Grid::visiting`]; PyTC's
    /// `DO_SINGLY_START_INDEX` and `DO_SINGLY_STEP`). Default: every volume.
    #[must_use]
    pub fn visit(mut self, visited: Vec<bool>) -> Self {
        self.visited = Some(visited);
        self
    }
    setter!(/// Worker threads of the prefetching iterator (default 1).
        workers: usize);
    setter!(/// Batches made ahead of the consumer (default 4).
        prefetch: usize);
    setter!(/// `SOLVER.SAMPLES_PER_BATCH` (default 2).
        batch_size: u64);
    setter!(/// The seed of every sample (default 0).
        seed: u64);
    setter!(/// The epoch, mixed into every sample's seed (default 0).
        epoch: u64);
    setter!(/// How image windows are converted and normalised (default [`Intensity::plain`];
        /// [`LoaderBuilder::from_config`] uses PyTC's, [`Intensity::pytc`]).
        intensity: Intensity);
    /// Learning targets and weights to compute from each sample's label after augmentation
    /// (batch keys `target_K`, `weight_K_J`); none by default ([`LoaderBuilder::from_config`]
    /// takes `MODEL.TARGET_OPT`/`WEIGHT_OPT`). An empty target list computes nothing.
    #[must_use]
    pub fn learning(mut self, learning: Learning) -> Self {
        self.learning = (!learning.targets.is_empty()).then(|| Arc::new(learning));
        self
    }

    setter!(/// `DATASET.DO_2D`: windows of depth 1, batches `(B, H, W)`.
        two_d: bool);
    setter!(/// Test-time augmentation of the grid (`INFERENCE.AUG_NUM`, `AUG_MODE`; default
        /// none): each batch of windows is delivered once per variant, in PyTC's order (batch
        /// `k` is variant `k mod V` of window batch `k / V`), each sample's `transforms`
        /// naming its variant ([`crate::augment::TEST_AUGMENT`]). Variants that transpose need
        /// windows of equal height and width. Training ignores it.
        test_augment: TestAugment);
    setter!(/// `DATASET.REDUCE_LABEL` (default false; PyTC's default, true, with
        /// [`LoaderBuilder::from_config`]): targets that read id values (synaptic polarity,
        /// class foreground) see each sample's ids renumbered `1, 2, …` in increasing order, as
        /// PyTC renumbers the window it reads. The `label` batch keeps the stored ids.
        reduce_label: bool);
    setter!(/// `DATASET.LABEL_BINARY` (default false): a label volume whose largest value is above
        /// 1 is read integer-divided by 255 (its range is computed once and kept in the
        /// [`LoaderBuilder::index_cache`]). Rejection sampling still counts its stored non-zero
        /// voxels, which is the same for masks of 0 and 255.
        label_binary: bool);
    setter!(/// `DATASET.LABEL_MAG` (default `None`): the `label` batch array is `float32`
        /// `label / mag`, as PyTC divides its labels at load. Targets are computed from the
        /// undivided ids, which gives PyTC's targets for every option that depends only on which
        /// voxels share an id or are background (ids below 2^24, where `float32` keeps them
        /// apart); [`crate::Config`] refuses it with targets that read id values.
        label_mag: Option<f64>);
    setter!(/// Stack `uint16` arrays (labels, masks) as `uint32` and `uint32` ones as `uint64`
        /// (default false), so that every integer batch array reads exactly as the signed type
        /// of its width (`int32`, `int64`: the types torch computes with, as a zero-copy view).
        /// The widening is done by the workers as they fill the batch; `uint8`, `uint64` and
        /// `float32` arrays are as stored. `voxload.torch` turns it on.
        widen_integers: bool);
    setter!(/// With `SIZE_THRES` set, decide most foreground tests from a coarse foreground index
        /// of each label instead of reading the label (default true; the draws are identical).
        /// Indexes not given with [`LoaderBuilder::foreground_index`] are loaded from the
        /// [`LoaderBuilder::index_cache`] or built when the loader is, reading each label once.
        foreground: bool);
    setter!(/// Where the foreground indexes not given with [`LoaderBuilder::foreground_index`] are
        /// kept between runs: `None` (the default of [`Loader::builder`]) builds them in memory;
        /// a directory (the default of [`LoaderBuilder::from_config`] is
        /// [`default_index_cache`]) holds them as small Zarr arrays keyed by each label array's
        /// absolute path and metadata (see [`ForegroundIndex::open_or_build_cached`]). The input
        /// store is never written. An index that cannot be saved is used all the same, counted
        /// in [`LoaderStats::index_cache_failures`] and explained by `warnings()` of the iterator.
        ///
        /// ```
        /// use ndarray::Array3;
        /// use voxload::augment::Compose;
        /// use voxload::loader::Loader;
        /// use voxload::sampler::{ArrayNames, Rejection, Volume};
        /// use voxload::{write_array, Encoding, OpenOptions};
        ///
        /// let (store, cache) = (tempfile::tempdir()?, tempfile::tempdir()?);
        /// let image = Array3::from_shape_fn((8, 64, 64), |(z, y, x)| ((z + y + x) % 256) as u8);
        /// write_array(store.path(), "image", &image, [8, 32, 32], Encoding::Raw)?;
        /// write_array(store.path(), "label", &image.mapv(|v| u16::from(v > 60)), [8, 32, 32], Encoding::Raw)?;
        /// let names = ArrayNames::new("image").label("label");
        /// let volume = Volume::open(0, store.path(), &names, &OpenOptions::default())?;
        /// let rejection = Rejection { size_thres: 100, ..Rejection::default() };
        /// let loader = Loader::builder(vec![volume], Compose::disabled([4, 32, 32], [("label", voxload::augment::TargetKind::Mask)])?)
        ///     .rejection(rejection)
        ///     .index_cache(Some(cache.path().to_path_buf()))
        ///     .samples(2);
        /// let serial = loader.build()?;
        /// assert_eq!((serial.stats().index_cache_failures, serial.warnings().len()), (0, 0));
        /// assert!(cache.path().join("fgindex").is_dir());
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        index_cache: Option<PathBuf>);

    /// Uses a stored foreground index (see [`ForegroundIndex::open_or_build`]) for volume
    /// `volume`'s label.
    #[must_use]
    pub fn foreground_index(mut self, volume: usize, index: Arc<ForegroundIndex>) -> Self {
        self.indexes.push((volume, index));
        self
    }

    /// This process's rank among `world_size` (training: its own stream; grid: its block).
    /// Building fails unless `rank < world_size` (see [`check_rank`]).
    #[must_use]
    pub fn rank(mut self, rank: u64, world_size: u64) -> Self {
        self.rank = rank;
        self.world_size = world_size;
        self
    }

    /// Stops after `n` samples (training streams are endless otherwise; the grid stops at its
    /// end).
    #[must_use]
    pub fn samples(mut self, n: u64) -> Self {
        self.samples = Some(n);
        self
    }

    /// `DO_CHUNK_TITLE`: `DATA_CHUNK_NUM`, `DATA_CHUNK_STRIDE` and `DATA_CHUNK_ITER`.
    #[must_use]
    pub fn chunk_schedule(mut self, num: Shape, stride: bool, iterations: u64) -> Self {
        self.schedule = Some((num, stride, iterations));
        self
    }

    /// The chunk schedule's chunks cut from `region` of the volume (`DATA_COORD_RANGE`, see
    /// [`ChunkSchedule::within`]) and, with `ids`, only those chunks visited (`DATA_CHUNK_IND`
    /// and `CHUNK_IND_SPLIT`, see [`ChunkSchedule::only`]).
    #[must_use]
    pub fn chunk_limits(mut self, region: Option<Bbox>, ids: Option<Vec<u64>>) -> Self {
        self.chunk_limits = (region, ids);
        self
    }

    /// The shared batch maker; `in_flight` batches may exist at once (made, queued or held).
    fn producer(&self, in_flight: usize) -> Result<Producer> {
        if self.batch_size == 0 {
            return Err(Error::Geometry(
                "SAMPLES_PER_BATCH must be at least 1".into(),
            ));
        }
        check_rank(self.rank, self.world_size)?;
        self.check_sizes()?;
        let [_, h, w] = self.compose.input_size();
        if self.mode == Mode::Grid && self.test_augment.transposes() && h != w {
            return Err(Error::Config {
                key: "INFERENCE.AUG_NUM".into(),
                reason: format!(
                    "{} test-time variants transpose y and x, which needs windows of equal height and width; MODEL.INPUT_SIZE is {:?} (use AUG_NUM 4)",
                    self.test_augment.len(),
                    self.compose.input_size()
                ),
            });
        }
        let input = self.compose.input_size().map(|v| v as u64);
        let sample = self.compose.sample_size().map(|v| v as u64);
        let compose = Arc::clone(&self.compose);
        let mut warnings = Vec::new();
        let (sampler, grid, total) = match self.mode {
            Mode::Train => {
                let windows = WindowSettings {
                    sample,
                    input,
                    pad: self.pad,
                    pad_mode: self.pad_mode,
                };
                let volumes = self.volumes.iter().map(Volume::sample_volume).collect();
                let mut sampler =
                    RandomSampler::new(volumes, windows, self.rejection)?.with_rank(self.rank);
                if self.foreground && self.rejection.size_thres > 0 {
                    (sampler, warnings) = self.attach_indexes(sampler)?;
                }
                if let Some((num, stride, iterations)) = self.schedule {
                    let mut schedules = Vec::new();
                    for volume in &self.volumes {
                        let (region, ids) = self.chunk_limits.clone();
                        let chunks = ChunkSchedule::new(volume.shape(), num, stride, self.pad)?;
                        schedules.push(chunks.limited(region, ids)?);
                    }
                    sampler = sampler.with_schedules(schedules, iterations, self.batch_size)?;
                }
                (Some(sampler), Vec::new(), self.samples)
            }
            Mode::Grid => {
                let padded = self
                    .volumes
                    .iter()
                    .map(|v| self.pad.padded(v.shape()))
                    .collect();
                let mut grid = Grid::new(padded, input, self.stride)?;
                if let Some(visited) = &self.visited {
                    grid = grid.visiting(visited.clone());
                }
                let items = grid.rank_items(self.rank, self.world_size)?;
                let n = self
                    .samples
                    .map_or(items.len() as u64, |s| s.min(items.len() as u64));
                (None, items, Some(n))
            }
        };
        let cache = self.index_cache.as_deref();
        let scales = self
            .volumes
            .iter()
            .map(|v| {
                let (_, image) = v.keyed().into_iter().next().expect("a volume has an image");
                self.intensity.scale_for(image, cache)
            })
            .collect::<Result<Vec<_>>>()?;
        let label_binary = self
            .volumes
            .iter()
            .map(|v| match (self.label_binary, v.label()) {
                (true, Some(label)) => Ok(intensity::cached_range(label, cache)?.1 > 1.0),
                _ => Ok(false),
            })
            .collect::<Result<Vec<_>>>()?;
        let reduce_label = self.reduce_label
            && self.learning.as_ref().is_some_and(|l| {
                l.targets
                    .iter()
                    .any(|t| relabel::reads_id_values(&t.target))
            });
        Ok(Producer {
            reduce_label,
            label_binary,
            label_mag: self.label_mag,
            widen_integers: self.widen_integers,
            learning: self.learning.clone(),
            scales,
            intensity: self.intensity,
            volumes: self.volumes.clone(),
            compose,
            pad_mode: self.pad_mode,
            mode: self.mode,
            sampler,
            grid,
            grid_pad: self.pad.before,
            test_augment: self.test_augment.clone(),
            batch_size: self.batch_size,
            seed: self.seed,
            epoch: self.epoch,
            rank: self.rank,
            two_d: self.two_d,
            total,
            samples_made: AtomicU64::new(0),
            bytes_made: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            warnings,
            // One buffer per array of a batch in flight: the volume's arrays, then every
            // learning target and weight.
            batch_buffers: Arc::new(crate::recycle::Pool::new(
                (in_flight + 1)
                    * (self.volumes.first().map_or(1, |v| v.keyed().len())
                        + self
                            .learning
                            .as_ref()
                            .map_or(0, |l| l.targets.iter().map(|t| 1 + t.weights.len()).sum())),
            )),
        })
    }

    /// The serial iterator: batches made on the calling thread, the oracle of the prefetching one.
    ///
    /// # Errors
    /// [`Error::Config`] for a `rank` not below `world_size`, more than [`MAX_WORKERS`] workers
    /// or prefetched batches, or a batch or sample that cannot be allocated; a volume too small
    /// for one window, a rejection threshold without a label, a chunk
    /// schedule that cannot hold a window, or a zero batch size.
    pub fn build(&self) -> Result<Serial> {
        Ok(Serial {
            producer: self.producer(1)?,
            next: 0,
            done: false,
            started: Instant::now(),
        })
    }

    /// The prefetching iterator: `workers` threads, at most `prefetch` batches ahead.
    ///
    /// # Errors
    /// As [`LoaderBuilder::build`].
    pub fn build_prefetch(&self) -> Result<Prefetch> {
        Prefetch::start(
            Arc::new(self.producer(self.prefetch + self.workers)?),
            self.workers,
            self.prefetch,
        )
    }
}

/// Batches made on the calling thread, in order.
pub struct Serial {
    producer: Producer,
    next: u64,
    done: bool,
    started: Instant,
}

impl Serial {
    /// What the loader has done so far (waiting time is zero: the consumer makes the batches).
    #[must_use]
    pub fn stats(&self) -> LoaderStats {
        LoaderStats::collect(&self.producer, self.started.elapsed(), Duration::ZERO)
    }

    /// What went wrong without stopping the loader (an index not saved in the index cache).
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.producer.warnings
    }
}

impl Iterator for Serial {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Result<Batch>> {
        if self.done || self.producer.batches().is_some_and(|n| self.next >= n) {
            return None;
        }
        let made = self.producer.batch(self.next);
        self.next += 1;
        self.done = made.is_err();
        Some(made)
    }
}
