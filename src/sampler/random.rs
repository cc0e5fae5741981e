//! Random training windows with rejection sampling (PyTC `REJECT_SAMPLING`, `VALID_RATIO`).
//!
//! A volume is chosen with probability proportional to its number of valid start positions
//! (the volume counts as padded by `PAD_SIZE` on each side, so starts may be negative), and the
//! start is uniform over those positions. A candidate is then tested on the central
//! `input_size` region (offset `floor((sample − input) / 2)`), reading only the label and mask
//! windows: a valid-mask fraction not above `VALID_RATIO` always rejects; fewer than
//! `SIZE_THRES` foreground voxels (or fewer than `DIVERSITY` distinct ids) rejects with
//! probability `P`. After `NUM_TRIAL` rejections in a row the last candidate is taken and
//! counted as forced, or, with `strict`, the draw fails naming the thresholds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::Rng;

use super::{sample_rng, ChunkSchedule, ForegroundIndex};
use crate::store::AnyArray;
use crate::{Bbox, Coord, Error, PadMode, Padding, Result, Shape};

/// Settings under which no candidate can ever pass are refused when `NUM_TRIAL` is above
/// this: every draw would test that many candidates before its forced (or strict) end.
pub const QUICK_TRIALS: u32 = 1000;

/// Rejection settings, named as in PyTC.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rejection {
    /// `SIZE_THRES`: minimum foreground voxels (`-1` = off).
    pub size_thres: i64,
    /// `DIVERSITY`: minimum distinct ids, background included (`-1` = off).
    pub diversity: i64,
    /// `P`: probability of rejecting a candidate below a threshold.
    pub p: f64,
    /// `NUM_TRIAL`: rejections in a row before the last candidate is taken.
    pub num_trial: u32,
    /// `STRICT`: fail instead of taking a forced candidate.
    pub strict: bool,
    /// `VALID_RATIO`: a valid-mask fraction not above this always rejects.
    pub valid_ratio: f64,
}

impl Default for Rejection {
    fn default() -> Self {
        Rejection {
            size_thres: -1,
            diversity: -1,
            p: 0.95,
            num_trial: 50,
            strict: false,
            valid_ratio: 0.5,
        }
    }
}

/// Window geometry: the sample size read per draw, the central input size that rejection looks
/// at, the volume padding (`PAD_SIZE`) and how padded voxels are filled (`PAD_MODE`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowSettings {
    /// The window read per draw (the enlarged size when augmenting).
    pub sample: Shape,
    /// `MODEL.INPUT_SIZE`: the central region the rejection tests look at.
    pub input: Shape,
    /// `DATASET.PAD_SIZE`: how far each volume counts as padded on each side.
    pub pad: Padding,
    /// `DATASET.PAD_MODE`.
    pub pad_mode: PadMode,
}

/// PyTC's `MODEL.INPUT_SIZE` default, `[8, 256, 256]`: the one place this default is written
/// (the config, [`WindowSettings::default`]).
///
/// ```
/// assert_eq!(voxload::sampler::DEFAULT_INPUT_SIZE, [8, 256, 256]);
/// ```
pub const DEFAULT_INPUT_SIZE: Shape = [8, 256, 256];

/// PyTC's `DATASET.PAD_SIZE` default, `[2, 64, 64]`: volumes count as padded by this much on
/// each side. The one place this default is written (the config, the loader builder,
/// [`WindowSettings::default`]).
///
/// ```
/// assert_eq!(voxload::sampler::DEFAULT_PAD_SIZE, [2, 64, 64]);
/// ```
pub const DEFAULT_PAD_SIZE: Coord = [2, 64, 64];

impl Default for WindowSettings {
    /// PyTC's defaults: input and sample [`DEFAULT_INPUT_SIZE`], pad [`DEFAULT_PAD_SIZE`],
    /// reflect.
    fn default() -> Self {
        WindowSettings {
            sample: DEFAULT_INPUT_SIZE,
            input: DEFAULT_INPUT_SIZE,
            pad: Padding::uniform(DEFAULT_PAD_SIZE),
            pad_mode: PadMode::Reflect,
        }
    }
}

impl WindowSettings {
    /// 2D windows (PyTC `DO_2D`): sample and input `(1, h, w)`, no padding along z, pad
    /// `(0, py, px)` in the plane, reflect. Depth-1 volumes (one image each, as
    /// `ingest --separate` writes them) hold exactly one window position along z.
    ///
    /// ```
    /// use voxload::sampler::{RandomSampler, Rejection, SampleVolume, WindowSettings};
    /// let windows = WindowSettings::two_d([256, 256], [64, 64]);
    /// assert_eq!((windows.sample, windows.pad), ([1, 256, 256], [0, 64, 64].into()));
    /// assert!(windows.is_2d());
    /// // Two images of different sizes, each a volume of depth 1.
    /// let images = vec![SampleVolume::new([1, 300, 400]), SampleVolume::new([1, 512, 512])];
    /// let sampler = RandomSampler::new(images, windows, Rejection::default()).unwrap();
    /// let draw = sampler.draw(0, 0, 0).unwrap();
    /// assert_eq!((draw.window.begin[0], draw.window.shape[0]), (0, 1));
    /// ```
    #[must_use]
    pub fn two_d(input_hw: [u64; 2], pad_hw: [i64; 2]) -> Self {
        WindowSettings {
            sample: [1, input_hw[0], input_hw[1]],
            input: [1, input_hw[0], input_hw[1]],
            pad: Padding::uniform([0, pad_hw[0], pad_hw[1]]),
            pad_mode: PadMode::Reflect,
        }
    }

    /// True for 2D windows: depth 1 and no padding along z.
    #[must_use]
    pub fn is_2d(&self) -> bool {
        self.sample[0] == 1 && self.input[0] == 1 && self.pad.axis(0) == (0, 0)
    }
}

/// The arrays a sampler tests candidates on; the image itself is never read while sampling.
///
/// The arrays are shared (`Arc`), so a [`Volume`](super::Volume) hands them over without
/// copying or reopening anything.
#[derive(Clone)]
pub struct SampleVolume {
    /// The volume's shape (all its arrays share it).
    pub shape: Shape,
    /// The label array, needed by `SIZE_THRES` and `DIVERSITY`.
    pub label: Option<Arc<AnyArray>>,
    /// The valid mask, tested against `VALID_RATIO`.
    pub valid_mask: Option<Arc<AnyArray>>,
}

impl SampleVolume {
    /// A volume of `shape` with neither label nor mask.
    #[must_use]
    pub fn new(shape: Shape) -> Self {
        SampleVolume {
            shape,
            label: None,
            valid_mask: None,
        }
    }
}

/// One accepted draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    /// The volume index.
    pub volume: usize,
    /// The window to read (the sample size), in volume coordinates.
    pub window: Bbox,
    /// Candidates rejected before this one.
    pub rejections: u32,
    /// Taken after `NUM_TRIAL` rejections.
    pub forced: bool,
}

/// Counts of what the sampler did, safe to read while it runs.
#[derive(Debug, Default)]
pub struct SamplerStats {
    /// Candidates drawn.
    pub candidates: AtomicU64,
    /// Samples accepted (forced ones included).
    pub accepted: AtomicU64,
    /// Candidates rejected by the valid mask.
    pub rejected_mask: AtomicU64,
    /// Candidates rejected for too little foreground.
    pub rejected_foreground: AtomicU64,
    /// Candidates rejected for too few distinct ids.
    pub rejected_diversity: AtomicU64,
    /// Samples taken after `NUM_TRIAL` rejections.
    pub forced: AtomicU64,
    /// Foreground tests decided by the foreground index, without reading the label.
    pub decided_by_index: AtomicU64,
}

/// Draws training windows.
pub struct RandomSampler {
    volumes: Vec<SampleVolume>,
    /// The foreground index of each volume's label, if any.
    indexes: Vec<Option<Arc<ForegroundIndex>>>,
    sample: Shape,
    input: Shape,
    pad: Padding,
    pad_mode: PadMode,
    rejection: Rejection,
    rank: u64,
    schedule: Option<Schedule>,
    stats: SamplerStats,
}

/// The chunk schedule a training sampler follows.
struct Schedule {
    /// One schedule per volume, of the same chunk counts: a visit's chunk id is the same in
    /// every volume (PyTC's `TileDataset` over several volumes).
    chunks: Vec<ChunkSchedule>,
    /// `DATA_CHUNK_ITER`: iterations (batches) drawn from one chunk.
    iterations: u64,
    /// `SAMPLES_PER_BATCH`.
    batch: u64,
}

impl RandomSampler {
    /// A sampler of `windows.sample`-sized windows (tested on their central `windows.input`
    /// region) over `volumes`, each counted as padded by `windows.pad`.
    ///
    /// # Errors
    /// [`Error::Geometry`] when a volume cannot hold one window even with its padding (naming
    /// the volume and both sizes), a threshold is set without a label (configuration error),
    /// or no candidate can ever pass the tests while `NUM_TRIAL` is above [`QUICK_TRIALS`]
    /// (a `SIZE_THRES` or `DIVERSITY` above the input's voxel count with `P` = 1, or a
    /// `VALID_RATIO` of 1 or more with a valid mask).
    pub fn new(
        volumes: Vec<SampleVolume>,
        windows: WindowSettings,
        rejection: Rejection,
    ) -> Result<Self> {
        let WindowSettings {
            sample,
            input,
            pad,
            pad_mode,
        } = windows;
        if volumes.is_empty() {
            return Err(Error::Geometry("no volume to sample from".into()));
        }
        for (i, v) in volumes.iter().enumerate() {
            let padded = pad.padded(v.shape);
            if (0..3).any(|a| padded[a] < sample[a]) {
                return Err(Error::Geometry(format!(
                    "volume {i} of shape {:?} (padded by {pad}: {padded:?}) cannot hold one window of {sample:?}",
                    v.shape
                )));
            }
            let needs_label = rejection.size_thres > 0 || rejection.diversity > 0;
            if needs_label && v.label.is_none() {
                return Err(Error::Geometry(format!(
                    "REJECT_SAMPLING.SIZE_THRES / DIVERSITY are set but volume {i} has no label (set LABEL_NAME)"
                )));
            }
        }
        if (0..3).any(|a| input[a] > sample[a]) {
            return Err(Error::Geometry(format!(
                "input size {input:?} is larger than the sample size {sample:?}"
            )));
        }
        let sampler = RandomSampler {
            indexes: vec![None; volumes.len()],
            volumes,
            sample,
            input,
            pad,
            pad_mode,
            rejection,
            rank: 0,
            schedule: None,
            stats: SamplerStats::default(),
        };
        sampler.check_satisfiable()?;
        Ok(sampler)
    }

    /// Why no candidate from volume `v` can pass the rejection tests, if that is certain.
    fn never_passes(&self, v: usize) -> Option<String> {
        let r = &self.rejection;
        let volume = &self.volumes[v];
        let voxels = self.input.iter().fold(1u64, |n, &e| n.saturating_mul(e));
        if volume.valid_mask.is_some() && r.valid_ratio >= 1.0 {
            return Some(format!(
                "VALID_RATIO {} rejects every window (a valid fraction is at most 1)",
                r.valid_ratio
            ));
        }
        if r.p < 1.0 || volume.label.is_none() {
            return None;
        }
        if r.size_thres > 0 && r.size_thres as u64 > voxels {
            return Some(format!(
                "SIZE_THRES {} is more than the {voxels} voxels of the input window {:?}",
                r.size_thres, self.input
            ));
        }
        if r.diversity > 0 && r.diversity as u64 > voxels {
            return Some(format!(
                "DIVERSITY {} is more than the {voxels} voxels of the input window {:?}",
                r.diversity, self.input
            ));
        }
        let padded_foreground = self.pad_mode.constant().is_some_and(|c| c != 0.0);
        let empty = self.indexes[v]
            .as_ref()
            .is_some_and(|index| index.counts().iter().all(|&c| c == 0));
        if r.size_thres > 0 && empty && !padded_foreground {
            return Some(format!(
                "SIZE_THRES {}: the label of volume {v} has no foreground voxel at all",
                r.size_thres
            ));
        }
        None
    }

    /// Refuses settings no candidate can pass when `NUM_TRIAL` would make each draw spin.
    fn check_satisfiable(&self) -> Result<()> {
        let r = &self.rejection;
        if r.num_trial <= QUICK_TRIALS {
            return Ok(());
        }
        let mut reasons = (0..self.volumes.len()).map(|v| self.never_passes(v));
        match reasons.next().flatten() {
            Some(first) if reasons.all(|r| r.is_some()) => Err(Error::Geometry(format!(
                "REJECT_SAMPLING: no candidate can pass ({first}, P {}), so every draw would test NUM_TRIAL {} candidates; lower the threshold, or NUM_TRIAL to at most {QUICK_TRIALS}",
                r.p, r.num_trial
            ))),
            _ => Ok(()),
        }
    }

    /// Gives this process its own stream among several training processes.
    #[must_use]
    pub fn with_rank(mut self, rank: u64) -> Self {
        self.rank = rank;
        self
    }

    /// Follows a chunk schedule over its one volume (PyTC `DO_CHUNK_TITLE`): sample `i`
    /// belongs to iteration `i / batch`; each chunk serves `iterations` iterations, and windows
    /// lie wholly inside the current padded chunk box.
    ///
    /// # Errors
    /// [`Error::Geometry`] when a padded chunk box cannot hold one window, or there are
    /// several volumes (see [`RandomSampler::with_schedules`]).
    pub fn with_schedule(self, chunks: ChunkSchedule, iterations: u64, batch: u64) -> Result<Self> {
        self.with_schedules(vec![chunks], iterations, batch)
    }

    /// Follows one chunk schedule per volume, all of the same chunk counts, as PyTC's
    /// `TileDataset` loads the same chunk of every volume: each visit's chunk id (drawn by the
    /// first schedule) is cut from every volume, a window's volume is drawn by the number of
    /// start positions in its chunk box, then its start uniformly in that box.
    ///
    /// # Errors
    /// [`Error::Geometry`] when a padded chunk box cannot hold one window, or the schedules do
    /// not match the volumes one to one with the same chunk ids.
    pub fn with_schedules(
        mut self,
        chunks: Vec<ChunkSchedule>,
        iterations: u64,
        batch: u64,
    ) -> Result<Self> {
        let same_ids = chunks
            .windows(2)
            .all(|p| p[0].ids() == p[1].ids() && p[0].len() == p[1].len());
        if chunks.len() != self.volumes.len() || !same_ids {
            return Err(Error::Geometry(format!(
                "DO_CHUNK_TITLE needs one chunk schedule of the same chunks per volume: {} schedules for {} volumes",
                chunks.len(),
                self.volumes.len()
            )));
        }
        for (v, schedule) in chunks.iter().enumerate() {
            for &id in schedule.ids() {
                let b = schedule.chunk_box(id);
                if (0..3).any(|a| b.shape[a] < self.sample[a]) {
                    return Err(Error::Geometry(format!(
                        "chunk {id} box {:?}..{:?} of volume {v} cannot hold one window of {:?}; lower DATA_CHUNK_NUM",
                        b.begin,
                        b.end(),
                        self.sample
                    )));
                }
            }
        }
        self.schedule = Some(Schedule {
            chunks,
            iterations: iterations.max(1),
            batch: batch.max(1),
        });
        Ok(self)
    }

    /// Uses `index` (of volume `volume`'s label) to decide foreground tests without reading
    /// the label where its bounds are conclusive. The draws are exactly those without it.
    ///
    /// # Errors
    /// [`Error::Geometry`] when there is no such volume, it has no label, the index was made
    /// for a label of another shape, or (as in [`RandomSampler::new`]) the index shows that no
    /// candidate can pass `SIZE_THRES` in any volume while `NUM_TRIAL` is above
    /// [`QUICK_TRIALS`].
    pub fn with_foreground_index(
        mut self,
        volume: usize,
        index: impl Into<Arc<ForegroundIndex>>,
    ) -> Result<Self> {
        let index = index.into();
        let Some(v) = self.volumes.get(volume) else {
            return Err(Error::Geometry(format!(
                "no volume {volume} for a foreground index ({} volumes)",
                self.volumes.len()
            )));
        };
        if v.label.is_none() || index.shape() != v.shape {
            return Err(Error::Geometry(format!(
                "the foreground index of a {:?} label does not fit volume {volume} of shape {:?}{}",
                index.shape(),
                v.shape,
                if v.label.is_none() {
                    " (which has no label)"
                } else {
                    ""
                }
            )));
        }
        self.indexes[volume] = Some(index);
        self.check_satisfiable()?;
        Ok(self)
    }

    /// True when the central region `centre` of a candidate in volume `volume` has fewer than
    /// `SIZE_THRES` foreground voxels, asking the index first and reading the label only when
    /// its bounds do not decide.
    fn below_size(&self, volume: usize, label: &AnyArray, centre: Bbox) -> Result<bool> {
        let thres = self.rejection.size_thres as u64;
        if let Some(index) = &self.indexes[volume] {
            let b = index.bounds(centre, self.pad_mode);
            if b.upper < thres || b.lower >= thres {
                self.stats.decided_by_index.fetch_add(1, Ordering::Relaxed);
                return Ok(b.upper < thres);
            }
        }
        Ok(label.count_nonzero(centre, self.pad_mode)? < thres)
    }

    /// What the sampler has done so far.
    #[must_use]
    pub fn stats(&self) -> &SamplerStats {
        &self.stats
    }

    /// The number of valid start positions of volume `v`.
    #[must_use]
    pub fn positions(&self, v: usize) -> u64 {
        (0..3)
            .map(|a| {
                (self.volumes[v].shape[a] as i64 + self.pad.total()[a] - self.sample[a] as i64 + 1)
                    as u64
            })
            .product()
    }

    /// A uniformly placed candidate: volume by position count, then a uniform start.
    pub fn candidate(&self, rng: &mut impl Rng) -> (usize, Bbox) {
        let total: u64 = (0..self.volumes.len()).map(|v| self.positions(v)).sum();
        let mut pick = rng.random_range(0..total);
        let mut volume = 0;
        while pick >= self.positions(volume) {
            pick -= self.positions(volume);
            volume += 1;
        }
        let shape = self.volumes[volume].shape;
        let begin: Coord = std::array::from_fn(|a| {
            let last = shape[a] as i64 + self.pad.after[a] - self.sample[a] as i64;
            rng.random_range(-self.pad.before[a]..=last)
        });
        (volume, Bbox::new(begin, self.sample))
    }

    /// A window in one of `regions` (one per volume): the volume by the start positions its
    /// region holds (no draw with one volume), then a uniform start in it.
    fn candidate_in_regions(&self, regions: &[Bbox], rng: &mut impl Rng) -> (usize, Bbox) {
        if regions.len() == 1 {
            return (0, self.candidate_in(&regions[0], rng));
        }
        let positions = |b: &Bbox| -> u64 {
            (0..3)
                .map(|a| b.shape[a].saturating_sub(self.sample[a]) + 1)
                .product()
        };
        let total: u64 = regions.iter().map(positions).sum();
        let mut pick = rng.random_range(0..total);
        let mut volume = 0;
        while pick >= positions(&regions[volume]) {
            pick -= positions(&regions[volume]);
            volume += 1;
        }
        (volume, self.candidate_in(&regions[volume], rng))
    }

    /// A uniform window wholly inside `region`.
    fn candidate_in(&self, region: &Bbox, rng: &mut impl Rng) -> Bbox {
        let end = region.end();
        let begin: Coord = std::array::from_fn(|a| {
            rng.random_range(region.begin[a]..=end[a] - self.sample[a] as i64)
        });
        Bbox::new(begin, self.sample)
    }

    /// Draws sample `index` of `epoch`: a function of `(seed, epoch, index, rank)` alone.
    ///
    /// # Errors
    /// Read errors of the label or mask; with `strict`, an error naming the thresholds when
    /// `NUM_TRIAL` candidates in a row are rejected.
    pub fn draw(&self, seed: u64, epoch: u64, index: u64) -> Result<Draw> {
        let seed = seed ^ self.rank.wrapping_mul(0xA24B_AED4_963E_E407);
        let mut rng = sample_rng(seed, epoch, index);
        let regions: Option<Vec<Bbox>> = self.schedule.as_ref().map(|s| {
            let visit = index / s.batch / s.iterations;
            let id = s.chunks[0].visit(seed, epoch, visit);
            s.chunks.iter().map(|c| c.chunk_box(id)).collect()
        });
        let r = &self.rejection;
        let offset: Coord = std::array::from_fn(|a| ((self.sample[a] - self.input[a]) / 2) as i64);
        let mut rejections = 0;
        loop {
            let (volume, window) = match &regions {
                Some(regions) => self.candidate_in_regions(regions, &mut rng),
                None => self.candidate(&mut rng),
            };
            self.stats.candidates.fetch_add(1, Ordering::Relaxed);
            let centre = Bbox::new(window.begin, self.input).shift(offset);
            let v = &self.volumes[volume];
            let voxels = self.input.iter().product::<u64>() as f64;
            let mut rejected = None;
            if let Some(mask) = &v.valid_mask {
                let valid = mask.count_nonzero(centre, self.pad_mode)? as f64 / voxels;
                if valid <= r.valid_ratio {
                    rejected = Some(&self.stats.rejected_mask);
                }
            }
            if rejected.is_none() && r.size_thres > 0 {
                if let Some(label) = &v.label {
                    if self.below_size(volume, label, centre)?
                        && rng.random_bool(r.p.clamp(0.0, 1.0))
                    {
                        rejected = Some(&self.stats.rejected_foreground);
                    }
                }
            }
            if rejected.is_none() && r.diversity > 0 {
                if let Some(label) = &v.label {
                    let ids = label.count_distinct(centre, self.pad_mode)?;
                    if (ids as i64) < r.diversity && rng.random_bool(r.p.clamp(0.0, 1.0)) {
                        rejected = Some(&self.stats.rejected_diversity);
                    }
                }
            }
            let Some(counter) = rejected else {
                self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                return Ok(Draw {
                    volume,
                    window,
                    rejections,
                    forced: false,
                });
            };
            counter.fetch_add(1, Ordering::Relaxed);
            rejections += 1;
            if rejections >= r.num_trial.max(1) {
                if r.strict {
                    return Err(Error::Geometry(format!(
                        "REJECT_SAMPLING.STRICT: {rejections} candidates in a row rejected (SIZE_THRES {}, DIVERSITY {}, P {}, VALID_RATIO {}); lower the thresholds or check the label and mask",
                        r.size_thres, r.diversity, r.p, r.valid_ratio
                    )));
                }
                self.stats.forced.fetch_add(1, Ordering::Relaxed);
                self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                return Ok(Draw {
                    volume,
                    window,
                    rejections,
                    forced: true,
                });
            }
        }
    }
}
