//! Making one sample and one batch: draw or grid window, read every target, augment, stack.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ndarray::Array3;

use super::relabel::Reduction;
use super::stack::Stacker;
use super::{Batch, Mode, Recycler, SampleInfo};
use super::{Intensity, Learning};
use crate::augment::{Compose, Sample, TestAugment, Voxels};
use crate::recycle::{self, Pool};
use crate::sampler::{sample_rng, GridItem, RandomSampler, Volume};
use crate::store::{AnyArray, ImageScale};
use crate::{match_dtype, Bbox, Coord, Error, PadMode, Result};

/// No normalisation (additional image targets are not normalised, as in PyTC).
const IDENTITY: Intensity = Intensity::plain();

/// Domain separation between the sampler's stream and the augmentor's stream of one sample.
const AUGMENT_STREAM: u64 = 0x5DEE_CE66_D1CE_4E5B;

/// The random stream that augments sample `index` of a training stream (`seed`, `rank`,
/// `epoch`): with the sampler's draw of the same sample, it reproduces the sample outside the
/// loader.
///
/// ```
/// use rand::Rng;
/// use voxload::loader::augment_rng;
/// let a: u64 = augment_rng(7, 0, 1, 42).random();
/// assert_eq!(a, augment_rng(7, 0, 1, 42).random::<u64>());
/// assert_ne!(a, augment_rng(7, 1, 1, 42).random::<u64>()); // another rank
/// ```
#[must_use]
pub fn augment_rng(seed: u64, rank: u64, epoch: u64, index: u64) -> crate::augment::SampleRng {
    sample_rng(
        seed ^ rank.wrapping_mul(0xA24B_AED4_963E_E407) ^ AUGMENT_STREAM,
        epoch,
        index,
    )
}

/// Everything a worker needs to make any batch; shared by all workers.
pub(crate) struct Producer {
    /// How each volume's image windows become `[0, 1]` values.
    pub scales: Vec<ImageScale>,
    /// The image normalisation after augmentation.
    pub intensity: Intensity,
    /// Learning targets and weights computed from each sample's label, if any.
    pub learning: Option<std::sync::Arc<Learning>>,
    /// `REDUCE_LABEL` for targets that read id values: they see each sample's ids renumbered.
    pub reduce_label: bool,
    /// `uint16`/`uint32` arrays stacked one width wider ([`super::LoaderBuilder::widen_integers`]).
    pub widen_integers: bool,
    /// Per volume, `LABEL_BINARY` on a label whose maximum is above 1: windows divided by 255.
    pub label_binary: Vec<bool>,
    /// `LABEL_MAG`: the `label` column is `float32` `label / mag`.
    pub label_mag: Option<f64>,
    pub volumes: Vec<Volume>,
    pub compose: std::sync::Arc<Compose>,
    pub pad_mode: PadMode,
    pub mode: Mode,
    pub sampler: Option<RandomSampler>,
    pub grid: Vec<GridItem>,
    /// Grid windows are shifted by `−pad` (the padding ahead of each axis: the grid runs over
    /// the padded volume).
    pub grid_pad: Coord,
    /// The grid's test-time variants: each batch of windows is delivered once per variant.
    pub test_augment: TestAugment,
    pub batch_size: u64,
    pub seed: u64,
    pub epoch: u64,
    pub rank: u64,
    pub two_d: bool,
    /// Samples in the stream (`None`: endless).
    pub total: Option<u64>,
    pub samples_made: AtomicU64,
    pub bytes_made: AtomicU64,
    pub busy_nanos: AtomicU64,
    /// Foreground indexes not saved in the index cache, and why.
    pub warnings: Vec<String>,
    /// Buffers of dropped batches, for the next ones.
    pub batch_buffers: Arc<Pool>,
}

/// Where a sample comes from.
struct Located {
    /// Its index in the stream (training) or in the whole grid.
    index: u64,
    volume: usize,
    window: Bbox,
    rejections: u32,
    forced: bool,
}

impl Located {
    fn info(&self, transforms: Vec<crate::augment::Applied>) -> SampleInfo {
        SampleInfo {
            index: self.index,
            volume: self.volume,
            start: self.window.begin,
            shape: self.window.shape,
            rejections: self.rejections,
            forced: self.forced,
            transforms,
        }
    }
}

/// Reads `window` of `array` as an image (see [`AnyArray::read_image_into`]) into a buffer
/// from this thread's pool.
fn read_image(
    array: &AnyArray,
    window: Bbox,
    pad: PadMode,
    scale: ImageScale,
) -> Result<Array3<f32>> {
    let mut data = recycle::take(window.num_voxels() as usize);
    array.read_image_scaled(window, pad, &mut data, scale)?;
    let [d, h, w] = window.shape.map(|v| v as usize);
    Array3::from_shape_vec((d, h, w), data).map_err(|e| Error::Geometry(e.to_string()))
}

/// Reads `window` of `array` in its stored type (masks, labels) into a buffer from this
/// thread's pool.
fn read_voxels(array: &AnyArray, window: Bbox, pad: PadMode) -> Result<Voxels> {
    let [d, h, w] = window.shape.map(|v| v as usize);
    Ok(match_dtype!(array, AnyArray<T>(a) => {
        let mut data = recycle::take::<T>(d * h * w);
        a.read_into(window, pad, &mut data)?;
        Voxels::from(
            Array3::from_shape_vec((d, h, w), data).map_err(|e| Error::Geometry(e.to_string()))?,
        )
    }))
}

impl Producer {
    /// The number of batches in the stream (`None`: endless).
    pub(crate) fn batches(&self) -> Option<u64> {
        let variants = self.variants() as u64;
        self.total
            .map(|n| n.div_ceil(self.batch_size.max(1)) * variants)
    }

    /// Whether any array of the stream is read from a remote store.
    pub(crate) fn reads_remote(&self) -> bool {
        self.volumes
            .iter()
            .any(|v| v.keyed().iter().any(|(_, a)| a.is_remote()))
    }

    /// About how many stored bytes one batch reads (its windows, every array).
    pub(crate) fn batch_read_bytes(&self) -> u64 {
        let window = self.compose.input_size().iter().product::<usize>() as u64;
        let per_voxel: u64 = self.volumes.first().map_or(1, |v| {
            v.keyed()
                .iter()
                .map(|(_, a)| a.meta().dtype.size() as u64)
                .sum()
        });
        window * per_voxel * self.batch_size.max(1)
    }

    /// The samples of batch `k`.
    pub(crate) fn batch_samples(&self, k: u64) -> std::ops::Range<u64> {
        let first = k / self.variants() as u64 * self.batch_size;
        let last = match self.total {
            Some(n) => (first + self.batch_size).min(n),
            None => first + self.batch_size,
        };
        first..last.max(first)
    }

    /// Fetches what sample `i` will read into the local cache; errors are left for the worker
    /// that reads the sample.
    pub(crate) fn prefetch_sample(&self, i: u64) {
        let Ok(at) = self.locate(i) else { return };
        for (_, array) in self.volumes[at.volume].keyed() {
            let _ = array.prefetch(at.window, self.pad_mode);
        }
    }

    /// Test-time variants of each grid batch (1 in training).
    fn variants(&self) -> usize {
        match self.mode {
            Mode::Train => 1,
            Mode::Grid => self.test_augment.len(),
        }
    }

    /// Batch `k`: samples `k·B … k·B + B − 1` (fewer at the end of a finite stream). With
    /// `V` test-time variants, batch `k` is variant `k mod V` of the windows of batch `k / V`.
    pub(crate) fn batch(&self, k: u64) -> Result<Batch> {
        let start = Instant::now();
        let variants = self.variants() as u64;
        let (group, variant) = (k / variants, (k % variants) as usize);
        let first = group * self.batch_size;
        let last = match self.total {
            Some(n) => (first + self.batch_size).min(n),
            None => first + self.batch_size,
        };
        let count = (last - first) as usize;
        let mut stack = Stacker::new(
            Arc::clone(&self.batch_buffers),
            count,
            self.compose.input_size(),
            self.two_d,
        )
        .widening(self.widen_integers);
        let mut samples = Vec::with_capacity(count);
        let full = self.compose.is_enabled()
            || self.learning.is_some()
            || variants > 1
            || self.label_binary.iter().any(|&b| b)
            || self.label_mag.is_some();
        for (slot, i) in (first..last).enumerate() {
            samples.push(if full {
                self.augmented(i, variant, slot, &mut stack)?
            } else {
                self.direct(i, slot, &mut stack)?
            });
        }
        let batch = Batch {
            index: k,
            arrays: stack.finish(),
            samples,
            recycler: Recycler(Some(Arc::clone(&self.batch_buffers))),
        };
        self.samples_made.fetch_add(last - first, Ordering::Relaxed);
        self.bytes_made
            .fetch_add(batch.nbytes() as u64, Ordering::Relaxed);
        self.busy_nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(batch)
    }

    /// Where sample `i` comes from.
    fn locate(&self, i: u64) -> Result<Located> {
        Ok(match self.mode {
            Mode::Train => {
                let sampler = self.sampler.as_ref().expect("train mode has a sampler");
                let d = sampler.draw(self.seed, self.epoch, i)?;
                Located {
                    index: i,
                    volume: d.volume,
                    window: d.window,
                    rejections: d.rejections,
                    forced: d.forced,
                }
            }
            // Grid items keep their index in the whole grid, whatever the rank.
            Mode::Grid => {
                let item = self.grid[i as usize];
                Located {
                    index: item.index,
                    volume: item.volume,
                    window: item.window.shift(self.grid_pad.map(|p| -p)),
                    rejections: 0,
                    forced: false,
                }
            }
        })
    }

    fn is_image(&self, key: &str) -> bool {
        self.compose.targets().get(key) == Some(&crate::augment::TargetKind::Img)
    }

    /// Sample `i` of the stream, read, augmented (or, in the grid, seen as test-time variant
    /// `variant`) and copied into batch slot `slot`.
    fn augmented(
        &self,
        i: u64,
        variant: usize,
        slot: usize,
        stack: &mut Stacker,
    ) -> Result<SampleInfo> {
        let at = self.locate(i)?;
        let mut arrays = self.volumes[at.volume].keyed().into_iter();
        let (_, image) = arrays.next().expect("a volume has an image");
        let scale = self.scales[at.volume];
        let mut sample = Sample::new(read_image(image, at.window, self.pad_mode, scale)?);
        let mut reduction = None;
        for (key, array) in arrays {
            let data = if self.is_image(key) {
                Voxels::F32(read_image(
                    array,
                    at.window,
                    self.pad_mode,
                    ImageScale::Unit,
                )?)
            } else {
                read_voxels(array, at.window, self.pad_mode)?
            };
            let data = if key == "label" {
                let mut data = data;
                if self.label_binary[at.volume] {
                    super::relabel::binarize(&mut data);
                }
                if self.reduce_label {
                    reduction = Some(Reduction::of(&data));
                }
                data
            } else {
                data
            };
            sample.insert(key, data);
        }
        let sample = match self.mode {
            Mode::Train => self.compose.apply(
                sample,
                &mut augment_rng(self.seed, self.rank, self.epoch, i),
            )?,
            Mode::Grid if self.test_augment.len() > 1 => {
                let mut sample = sample;
                self.test_augment.variants()[variant].apply_sample(variant, &mut sample);
                sample
            }
            Mode::Grid => sample,
        };
        let (targets, applied) = sample.into_parts();
        if let Some(learning) = &self.learning {
            // Straight into the batch's learned arrays (after every other column).
            let find = |name: &str| targets.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let reduced = reduction.zip(find("label")).map(|(r, l)| r.apply(l));
            let label = reduced.as_ref().or(find("label"));
            stack.push_learning(learning, slot, (label, find("valid_mask")), self.two_d)?;
        }
        for (k, (key, mut data)) in targets.into_iter().enumerate() {
            if let (Some(mag), "label") = (self.label_mag, key.as_str()) {
                data = super::relabel::divided(data, mag);
            }
            if k == 0 {
                if let Voxels::F32(image) = &mut data {
                    if let Some(x) = image.as_slice_mut() {
                        self.intensity.normalize(x);
                    }
                }
            }
            stack.push((k, &key), slot, data)?;
        }
        Ok(at.info(applied))
    }

    /// Sample `i` without augmentation: every window read straight into batch slot `slot`
    /// (images converted on the way).
    fn direct(&self, i: u64, slot: usize, stack: &mut Stacker) -> Result<SampleInfo> {
        let at = self.locate(i)?;
        for (k, (key, array)) in self.volumes[at.volume].keyed().into_iter().enumerate() {
            let image = match (k, self.is_image(key)) {
                (0, _) => Some((self.scales[at.volume], &self.intensity)),
                (_, true) => Some((ImageScale::Unit, &IDENTITY)),
                _ => None,
            };
            stack.read((k, key), slot, (array, at.window, self.pad_mode), image)?;
        }
        Ok(at.info(Vec::new()))
    }
}
