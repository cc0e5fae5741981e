//! Making one sample and one batch: draw or grid window, read every target, augment, stack.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ndarray::{Array3, ArrayD, Axis, IxDyn};

use super::{Batch, BatchArray, Mode, SampleInfo};
use crate::augment::{Compose, Sample, Voxels};
use crate::sampler::{sample_rng, GridItem, RandomSampler, Volume};
use crate::store::{with_window, AnyArray};
use crate::{Bbox, Coord, Error, PadMode, Result};

/// Domain separation between the sampler's stream and the augmentor's stream of one sample.
const AUGMENT_STREAM: u64 = 0x5DEE_CE66_D1CE_4E5B;

/// Everything a worker needs to make any batch; shared by all workers.
pub(crate) struct Producer {
    pub volumes: Vec<Volume>,
    pub compose: std::sync::Arc<Compose>,
    pub pad_mode: PadMode,
    pub mode: Mode,
    pub sampler: Option<RandomSampler>,
    pub grid: Vec<GridItem>,
    /// Grid windows are shifted by `−pad` (the grid runs over the padded volume).
    pub grid_pad: Coord,
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

/// One finished sample before stacking.
struct Made {
    info: SampleInfo,
    targets: Vec<(String, Voxels)>,
}

/// Appends `window` of `array`, as an image, to `out`: `float32`, integers scaled to `[0, 1]`
/// by their type's maximum (uint8 / 255, uint16 / 65535, …), floats unchanged. The window is
/// read into a per-thread buffer, so only `out` grows.
fn append_image(array: &AnyArray, window: Bbox, pad: PadMode, out: &mut Vec<f32>) -> Result<()> {
    match array {
        AnyArray::U8(a) => with_window(a, window, pad, |v| {
            out.extend(v.iter().map(|&x| f32::from(x) / 255.0));
        }),
        AnyArray::U16(a) => with_window(a, window, pad, |v| {
            out.extend(v.iter().map(|&x| f32::from(x) / 65535.0));
        }),
        AnyArray::U32(a) => with_window(a, window, pad, |v| {
            out.extend(
                v.iter()
                    .map(|&x| (f64::from(x) / f64::from(u32::MAX)) as f32),
            );
        }),
        AnyArray::U64(a) => with_window(a, window, pad, |v| {
            out.extend(v.iter().map(|&x| (x as f64 / u64::MAX as f64) as f32));
        }),
        AnyArray::F32(a) => with_window(a, window, pad, |v| out.extend_from_slice(v)),
    }
}

/// Reads `window` of `array` as an image (see [`append_image`]).
pub(crate) fn read_image(array: &AnyArray, window: Bbox, pad: PadMode) -> Result<Array3<f32>> {
    let mut out = Vec::with_capacity(window.num_voxels() as usize);
    append_image(array, window, pad, &mut out)?;
    let [d, h, w] = window.shape.map(|v| v as usize);
    Array3::from_shape_vec((d, h, w), out).map_err(|e| Error::Geometry(e.to_string()))
}

/// Reads `window` of `array` in its stored type (masks, labels).
pub(crate) fn read_voxels(array: &AnyArray, window: Bbox, pad: PadMode) -> Result<Voxels> {
    Ok(match array {
        AnyArray::U8(a) => Voxels::U8(a.read(window, pad)?),
        AnyArray::U16(a) => Voxels::U16(a.read(window, pad)?),
        AnyArray::U32(a) => Voxels::U32(a.read(window, pad)?),
        AnyArray::U64(a) => Voxels::U64(a.read(window, pad)?),
        AnyArray::F32(a) => Voxels::F32(a.read(window, pad)?),
    })
}

impl Producer {
    /// The number of batches in the stream (`None`: endless).
    pub(crate) fn batches(&self) -> Option<u64> {
        self.total.map(|n| n.div_ceil(self.batch_size.max(1)))
    }

    /// Batch `k`: samples `k·B … k·B + B − 1` (fewer at the end of a finite stream).
    pub(crate) fn batch(&self, k: u64) -> Result<Batch> {
        let start = Instant::now();
        let first = k * self.batch_size;
        let last = match self.total {
            Some(n) => (first + self.batch_size).min(n),
            None => first + self.batch_size,
        };
        let batch = if self.compose.is_enabled() {
            let made = (first..last)
                .map(|i| self.sample(i))
                .collect::<Result<Vec<_>>>()?;
            self.stack(k, made)?
        } else {
            self.direct(k, first..last)?
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

    /// Sample `i` of the stream, read and augmented.
    fn sample(&self, i: u64) -> Result<Made> {
        let at = self.locate(i)?;
        let mut arrays = self.volumes[at.volume].keyed().into_iter();
        let (_, image) = arrays.next().expect("a volume has an image");
        let mut sample = Sample::new(read_image(image, at.window, self.pad_mode)?);
        for (key, array) in arrays {
            let data = if self.is_image(key) {
                Voxels::F32(read_image(array, at.window, self.pad_mode)?)
            } else {
                read_voxels(array, at.window, self.pad_mode)?
            };
            sample.insert(key, data);
        }
        let sample = match self.mode {
            Mode::Train => {
                let seed =
                    self.seed ^ self.rank.wrapping_mul(0xA24B_AED4_963E_E407) ^ AUGMENT_STREAM;
                self.compose
                    .apply(sample, &mut sample_rng(seed, self.epoch, i))?
            }
            Mode::Grid => sample,
        };
        let (targets, applied) = sample.into_parts();
        Ok(Made {
            info: at.info(applied),
            targets,
        })
    }

    /// Without augmentation: every window read straight into its batch array (images converted
    /// on the way), no per-sample arrays.
    fn direct(&self, index: u64, range: std::ops::Range<u64>) -> Result<Batch> {
        let mut columns: Vec<(String, Column)> = Vec::new();
        let mut samples = Vec::with_capacity((range.end - range.start) as usize);
        let batch_voxels = (range.end - range.start) as usize
            * self.compose.input_size().iter().product::<usize>();
        for i in range {
            let at = self.locate(i)?;
            for (k, (key, array)) in self.volumes[at.volume].keyed().into_iter().enumerate() {
                let image = self.is_image(key);
                if columns.len() <= k {
                    columns.push((
                        key.to_string(),
                        Column::for_array(array, image, batch_voxels),
                    ));
                }
                columns[k]
                    .1
                    .append(array, at.window, self.pad_mode, image)?;
            }
            samples.push(at.info(Vec::new()));
        }
        let [d, h, w] = self.compose.input_size();
        let mut shape = vec![samples.len(), d, h, w];
        if self.two_d && d == 1 {
            shape.remove(1);
        }
        let arrays = columns
            .into_iter()
            .map(|(name, c)| Ok((name, c.into_array(&shape)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Batch {
            index,
            arrays,
            samples,
        })
    }

    /// Stacks samples into `(B, D, H, W)` arrays per key (`(B, H, W)` in 2D).
    fn stack(&self, index: u64, made: Vec<Made>) -> Result<Batch> {
        let Some(first) = made.first() else {
            return Err(Error::Geometry(format!("batch {index} has no samples")));
        };
        let names: Vec<String> = first.targets.iter().map(|(n, _)| n.clone()).collect();
        let mut columns: Vec<Vec<Voxels>> = names.iter().map(|_| Vec::new()).collect();
        let mut samples = Vec::with_capacity(made.len());
        for m in made {
            for (column, (_, data)) in columns.iter_mut().zip(m.targets) {
                column.push(data);
            }
            samples.push(m.info);
        }
        let arrays = names
            .into_iter()
            .zip(columns)
            .map(|(name, column)| Ok((name, stack_column(column, self.two_d)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Batch {
            index,
            arrays,
            samples,
        })
    }
}

/// Stacks same-typed arrays along a new first axis, dropping z in 2D.
fn stack_column(column: Vec<Voxels>, two_d: bool) -> Result<BatchArray> {
    macro_rules! stack {
        ($variant:ident) => {{
            let arrays: Vec<_> = column
                .into_iter()
                .map(|v| match v {
                    Voxels::$variant(a) => Ok(a),
                    other => Err(Error::Geometry(format!(
                        "samples of one batch hold different types ({})",
                        other.dtype()
                    ))),
                })
                .collect::<Result<_>>()?;
            BatchArray::$variant(stack_arrays(arrays, two_d)?)
        }};
    }
    Ok(match column.first() {
        Some(Voxels::F32(_)) => stack!(F32),
        Some(Voxels::U8(_)) => stack!(U8),
        Some(Voxels::U16(_)) => stack!(U16),
        Some(Voxels::U32(_)) => stack!(U32),
        Some(Voxels::U64(_)) | None => stack!(U64),
    })
}

fn stack_arrays<T: Clone>(arrays: Vec<Array3<T>>, two_d: bool) -> Result<ArrayD<T>> {
    let views: Vec<_> = arrays.iter().map(|a| a.view()).collect();
    let stacked = ndarray::stack(Axis(0), &views)
        .map_err(|e| Error::Geometry(format!("samples of one batch have different shapes: {e}")))?;
    let stacked = stacked.into_dyn();
    if two_d && stacked.shape()[1] == 1 {
        let shape: Vec<usize> = [0, 2, 3].iter().map(|&a| stacked.shape()[a]).collect();
        return stacked
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| Error::Geometry(e.to_string()));
    }
    Ok(stacked)
}

/// One key's voxels of a batch, appended sample by sample.
enum Column {
    F32(Vec<f32>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
}

impl Column {
    /// An empty column with room for `voxels` values.
    fn for_array(array: &AnyArray, image: bool, voxels: usize) -> Column {
        match array {
            _ if image => Column::F32(Vec::with_capacity(voxels)),
            AnyArray::U8(_) => Column::U8(Vec::with_capacity(voxels)),
            AnyArray::U16(_) => Column::U16(Vec::with_capacity(voxels)),
            AnyArray::U32(_) => Column::U32(Vec::with_capacity(voxels)),
            AnyArray::U64(_) => Column::U64(Vec::with_capacity(voxels)),
            AnyArray::F32(_) => Column::F32(Vec::with_capacity(voxels)),
        }
    }

    fn append(&mut self, array: &AnyArray, window: Bbox, pad: PadMode, image: bool) -> Result<()> {
        match (self, array) {
            (Column::F32(out), a) if image => append_image(a, window, pad, out),
            (Column::U8(out), AnyArray::U8(a)) => {
                with_window(a, window, pad, |v| out.extend_from_slice(v))
            }
            (Column::U16(out), AnyArray::U16(a)) => {
                with_window(a, window, pad, |v| out.extend_from_slice(v))
            }
            (Column::U32(out), AnyArray::U32(a)) => {
                with_window(a, window, pad, |v| out.extend_from_slice(v))
            }
            (Column::U64(out), AnyArray::U64(a)) => {
                with_window(a, window, pad, |v| out.extend_from_slice(v))
            }
            (Column::F32(out), AnyArray::F32(a)) => {
                with_window(a, window, pad, |v| out.extend_from_slice(v))
            }
            (_, a) => Err(Error::Geometry(format!(
                "volumes of one loader hold different types for one key ({})",
                a.dtype()
            ))),
        }
    }

    fn into_array(self, shape: &[usize]) -> Result<BatchArray> {
        let shape = IxDyn(shape);
        let bad = |e: ndarray::ShapeError| Error::Geometry(e.to_string());
        Ok(match self {
            Column::F32(v) => BatchArray::F32(ArrayD::from_shape_vec(shape, v).map_err(bad)?),
            Column::U8(v) => BatchArray::U8(ArrayD::from_shape_vec(shape, v).map_err(bad)?),
            Column::U16(v) => BatchArray::U16(ArrayD::from_shape_vec(shape, v).map_err(bad)?),
            Column::U32(v) => BatchArray::U32(ArrayD::from_shape_vec(shape, v).map_err(bad)?),
            Column::U64(v) => BatchArray::U64(ArrayD::from_shape_vec(shape, v).map_err(bad)?),
        })
    }
}
