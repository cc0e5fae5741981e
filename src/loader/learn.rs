//! Learning targets and loss weights in the workers: after augmentation, from the augmented
//! label (and valid mask), every `MODEL.TARGET_OPT` option's target and its `MODEL.WEIGHT_OPT`
//! weights, cropped to `MODEL.OUTPUT_SIZE`, as batch arrays `target_K` `(C, D, H, W)` and
//! `weight_K_J` (see [`crate::target`]).
//!
//! Per sample, the label is read as ids in its own integer type (no conversion for
//! `uint8`–`uint64` labels), each target is computed over the window into a buffer of this
//! thread's pool (0/1 targets as one byte per voxel), and targets and weights are written as
//! `float32` over the output crop only, into whatever buffers a [`Sink`] gives: the batch's
//! slots in the loader ([`super::stack::Stacker::push_learning`]), owned arrays for
//! [`Learning::compute`].

use ndarray::ArrayD;

use crate::augment::Voxels;
use crate::recycle;
use crate::target::ids::{match_ids, AsId, Ids};
use crate::target::output::{write_map, write_values, Crop};
use crate::target::{reshape_label, Computed, TargetOpt, TargetSeen, ValidMask, WeightOpt};
use crate::{match_dtype, Error, Result};

/// One learning target and the weights of its loss terms.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSpec {
    /// The target (`MODEL.TARGET_OPT[K]`).
    pub target: TargetOpt,
    /// Its weights (`MODEL.WEIGHT_OPT[K]`).
    pub weights: Vec<WeightOpt>,
}

/// The targets a loader computes, and the output crop.
///
/// ```
/// use voxload::loader::{Learning, TargetSpec};
/// let learning = Learning {
///     targets: vec![TargetSpec { target: "0".parse()?, weights: vec!["1".parse()?] }],
///     ..Learning::default()
/// };
/// assert_eq!(learning.keys(), ["target_0", "weight_0_0"]);
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Learning {
    /// `MODEL.TARGET_OPT` with `MODEL.WEIGHT_OPT`, in order.
    pub targets: Vec<TargetSpec>,
    /// `MODEL.OUTPUT_SIZE` when smaller than the input: targets and weights are centre-cropped
    /// to it.
    pub output_size: Option<[usize; 3]>,
    /// `MODEL.LABEL_EROSION`, per target: the half-size of PyTC's `seg_widen_border` applied
    /// to the label before target `K` is computed (`None`: not eroded).
    pub erosion: Vec<Option<usize>>,
    /// `MODEL.LABEL_DILATION`, per target: the half-size of the per-slice maximum filter
    /// applied (after the erosion) before target `K` is computed.
    pub dilation: Vec<Option<usize>>,
}

impl Learning {
    /// The batch keys it adds, in order: `target_K`, then its `weight_K_J`.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for (k, spec) in self.targets.iter().enumerate() {
            keys.push(format!("target_{k}"));
            keys.extend((0..spec.weights.len()).map(|j| format!("weight_{k}_{j}")));
        }
        keys
    }

    /// The targets and weights of one augmented sample, from its `label` and `valid_mask`,
    /// as `(key, (C, D, H, W) float32)` in [`Learning::keys`] order. Weights that an option
    /// leaves out (PyTC's `None`, option `0` without a mask) are all ones.
    ///
    /// # Errors
    /// [`Error::Config`] when the sample has no label; the target options' errors.
    pub fn compute(
        &self,
        label: Option<&Voxels>,
        valid_mask: Option<&Voxels>,
        two_d: bool,
    ) -> Result<Vec<(String, ArrayD<f32>)>> {
        let mut arrays = Vec::new();
        self.compute_reusing(label, valid_mask, two_d, &mut arrays)?;
        Ok(arrays)
    }

    /// As [`Learning::compute`], into `arrays`: the arrays it holds are overwritten where
    /// they have the key and shape wanted (their buffers reused, so a caller computing sample
    /// after sample allocates nothing), replaced elsewhere, and any left over dropped.
    ///
    /// # Errors
    /// As [`Learning::compute`] (the arrays are then left in an unspecified state).
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::augment::Voxels;
    /// use voxload::loader::{Learning, TargetSpec};
    ///
    /// let learning = Learning {
    ///     targets: vec![TargetSpec { target: "4-1-1".parse()?, weights: vec!["1".parse()?] }],
    ///     ..Learning::default()
    /// };
    /// let label = Voxels::from(Array3::from_shape_fn((2, 8, 8), |(_, _, x)| (x / 4 + 1) as u16));
    /// let mut arrays = Vec::new();
    /// learning.compute_reusing(Some(&label), None, false, &mut arrays)?;
    /// let buffer = arrays[0].1.as_ptr();
    /// learning.compute_reusing(Some(&label), None, false, &mut arrays)?;
    /// assert_eq!(arrays[0].1.as_ptr(), buffer);
    /// assert_eq!(arrays, learning.compute(Some(&label), None, false)?);
    /// # Ok::<(), voxload::Error>(())
    /// ```
    pub fn compute_reusing(
        &self,
        label: Option<&Voxels>,
        valid_mask: Option<&Voxels>,
        two_d: bool,
        arrays: &mut Vec<(String, ArrayD<f32>)>,
    ) -> Result<()> {
        let mut sink = Reused { arrays, used: 0 };
        self.compute_into(label, valid_mask, two_d, &mut sink)?;
        let used = sink.used;
        arrays.truncate(used);
        Ok(())
    }

    /// As [`Learning::compute`], each array written into the buffer `sink` gives for it
    /// (learned array `index` in [`Learning::keys`] order), in the label's own id type and
    /// only over the output crop.
    ///
    /// # Errors
    /// As [`Learning::compute`]; the sink's errors.
    pub(crate) fn compute_into(
        &self,
        label: Option<&Voxels>,
        valid_mask: Option<&Voxels>,
        two_d: bool,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let Some(label) = label else {
            return Err(Error::Config {
                key: "MODEL.TARGET_OPT".into(),
                reason: "targets are computed from a label: set DATASET.LABEL_NAME (or MODEL.TARGET_OPT: [] for none)".into(),
            });
        };
        let dims = label.shape();
        let held = LabelIds::of(label);
        let ids = held.ids();
        let weighted = self.targets.iter().any(|t| !t.weights.is_empty());
        let mask = match valid_mask {
            Some(m) if weighted => Some(mask01(m, dims)?),
            _ => None,
        };
        let valid = mask.as_deref().map(ValidMask::new);
        let crop = Crop::centre(dims, self.output_size)?;
        let mut index = 0;
        for (k, spec) in self.targets.iter().enumerate() {
            // PyTC erodes, then dilates, a copy of the label for each target; the weights see
            // the label as it is.
            let erosion = self.erosion.get(k).copied().flatten();
            let dilation = self.dilation.get(k).copied().flatten();
            let target = match (erosion, dilation) {
                (None, None) => match_ids!(ids, s => spec.target.compute_full(s, dims, two_d))?,
                _ => {
                    let lab = reshape_label(ids.wide().into_owned(), dims, erosion, dilation);
                    let target = spec.target.compute_full(&lab, dims, two_d);
                    recycle::give(lab);
                    target?
                }
            };
            let channels = spec.target.channels(two_d);
            let out = sink.slot(index, &format!("target_{k}"), crop.dims(channels))?;
            match &target {
                Computed::Map(map) => write_map(map, channels, &crop, out),
                Computed::Values(values) => write_values(values, channels, &crop, out),
            }
            index += 1;
            if !spec.weights.is_empty() {
                let seen = TargetSeen::of(&target, channels);
                for (j, w) in spec.weights.iter().enumerate() {
                    let shape = crop.dims(w.channels(&seen, valid.is_some()));
                    let out = sink.slot(index, &format!("weight_{k}_{j}"), shape)?;
                    w.write(&seen, valid, ids, two_d, &crop, out)?;
                    index += 1;
                }
                seen.recycle();
            }
            target.recycle();
        }
        held.recycle();
        if let Some(m) = mask {
            recycle::give(m);
        }
        Ok(())
    }
}

/// Where [`Learning::compute_into`] writes a sample's learned arrays.
pub(crate) trait Sink {
    /// The buffer of learned array `index` (`key`, [`Learning::keys`] order), of `shape`
    /// `(C, D, H, W)`; the caller overwrites all of it.
    ///
    /// # Errors
    /// When the array cannot be placed (a batch whose samples differ in shape).
    fn slot(&mut self, index: usize, key: &str, shape: [usize; 4]) -> Result<&mut [f32]>;
}

/// A sink reusing the arrays of a previous sample, for [`Learning::compute_reusing`].
struct Reused<'a> {
    arrays: &'a mut Vec<(String, ArrayD<f32>)>,
    used: usize,
}

impl Sink for Reused<'_> {
    fn slot(&mut self, index: usize, key: &str, shape: [usize; 4]) -> Result<&mut [f32]> {
        let fits = self
            .arrays
            .get(index)
            .is_some_and(|(k, a)| k == key && a.shape() == shape && a.is_standard_layout());
        if !fits {
            let array = ArrayD::zeros(shape.to_vec());
            let entry = (key.to_string(), array);
            if index < self.arrays.len() {
                self.arrays[index] = entry;
            } else {
                self.arrays.push(entry);
            }
        }
        self.used = index + 1;
        let array = &mut self.arrays[index].1;
        Ok(array.as_slice_mut().expect("standard layout"))
    }
}

/// A label as instance ids: borrowed in its own type when it is a contiguous integer array,
/// else converted once to `u64` (float labels truncated, negative ones as 0).
enum LabelIds<'a> {
    Borrowed(Ids<'a>),
    Converted(Vec<u64>),
}

impl<'a> LabelIds<'a> {
    fn of(label: &'a Voxels) -> Self {
        let borrowed = match label {
            Voxels::U8(a) => a.as_slice().map(Ids::U8),
            Voxels::U16(a) => a.as_slice().map(Ids::U16),
            Voxels::U32(a) => a.as_slice().map(Ids::U32),
            Voxels::U64(a) => a.as_slice().map(Ids::U64),
            Voxels::F32(_) => None,
        };
        match borrowed {
            Some(ids) => LabelIds::Borrowed(ids),
            None => LabelIds::Converted(match_dtype!(label, Voxels(a) => {
                let mut out = recycle::take::<u64>(a.len());
                for (o, &v) in out.iter_mut().zip(a.iter()) {
                    *o = v.id();
                }
                out
            })),
        }
    }

    fn ids(&self) -> Ids<'_> {
        match self {
            LabelIds::Borrowed(ids) => *ids,
            LabelIds::Converted(v) => Ids::U64(v),
        }
    }

    fn recycle(self) {
        if let LabelIds::Converted(v) = self {
            recycle::give(v);
        }
    }
}

/// A valid mask as 0/1 (`!= 0`, as PyTC binarises it), in a buffer from this thread's pool.
///
/// # Errors
/// [`Error::Geometry`] when the mask's shape is not the label's `dims`.
fn mask01(mask: &Voxels, dims: [usize; 3]) -> Result<Vec<u8>> {
    if mask.shape() != dims {
        return Err(Error::Geometry(format!(
            "weight: the valid mask is {:?}, the target's spatial shape is {:?}",
            mask.shape(),
            dims
        )));
    }
    Ok(match_dtype!(mask, Voxels<T>(a) => {
        let mut out = recycle::take::<u8>(a.len());
        let set = |v: &T| u8::from(*v != T::default());
        match a.as_slice() {
            Some(s) => out.iter_mut().zip(s).for_each(|(o, v)| *o = set(v)),
            None => out.iter_mut().zip(a.iter()).for_each(|(o, v)| *o = set(v)),
        }
        out
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ndarray::{Array3, Array4, Axis};

    use super::super::stack::Stacker;
    use super::*;
    use crate::recycle::Pool;
    use crate::target::crop_output;

    /// Touching blocks of ids, background stripes, a few large ids.
    fn label(shape: (usize, usize, usize)) -> Array3<u64> {
        Array3::from_shape_fn(shape, |(z, y, x)| {
            let id = (z / 2) * 100 + (y / 5) * 10 + (x + y / 3) / 4 + 1;
            if (x + 2 * y + z) % 11 < 2 {
                0
            } else {
                id as u64
            }
        })
    }

    fn mask(shape: (usize, usize, usize)) -> Array3<u8> {
        Array3::from_shape_fn(
            shape,
            |(z, y, x)| if (x + y + z) % 7 == 0 { 0 } else { 255 },
        )
    }

    fn learning(opts: &[(&str, &[&str])], output: Option<[usize; 3]>) -> Learning {
        Learning {
            targets: opts
                .iter()
                .map(|(t, ws)| TargetSpec {
                    target: t.parse().unwrap(),
                    weights: ws.iter().map(|w| w.parse().unwrap()).collect(),
                })
                .collect(),
            output_size: output,
            ..Learning::default()
        }
    }

    /// The arrays as the public target and weight functions give them, cropped after.
    fn reference(
        learning: &Learning,
        label: &Array3<u64>,
        mask: Option<&Array3<u8>>,
        two_d: bool,
    ) -> Vec<(String, ArrayD<f32>)> {
        let crop = |a: Array4<f32>| match learning.output_size {
            Some(size) => crop_output(a, size).unwrap().into_dyn(),
            None => a.into_dyn(),
        };
        let mut out = Vec::new();
        for (k, spec) in learning.targets.iter().enumerate() {
            let lab = crate::target::widen_border(label.view(), learning.erosion[k].unwrap_or(0));
            let lab = crate::target::dilate_labels(lab.view(), learning.dilation[k].unwrap_or(0));
            let target = spec.target.compute(lab.view(), two_d).unwrap();
            out.push((format!("target_{k}"), crop(target.clone())));
            for (j, w) in spec.weights.iter().enumerate() {
                let weight = w
                    .compute(target.view(), mask.map(|m| m.view()), label.view(), two_d)
                    .unwrap()
                    .unwrap_or_else(|| Array4::ones(target.raw_dim()));
                out.push((format!("weight_{k}_{j}"), crop(weight)));
            }
        }
        out
    }

    const OPTIONS: [(&str, &[&str]); 12] = [
        ("0", &["1", "0"]),
        ("0-3-105", &["1-1"]),
        ("1", &["1"]),
        ("1-1", &["1", "0"]),
        ("2", &["1"]),
        ("2-1-3-3-v2", &["1-1", "0"]),
        ("3-20-2-0", &["1"]),
        ("4-1-1", &["1", "0"]),
        ("4-2-0", &["1-1"]),
        ("6", &["1"]),
        ("9", &["0"]),
        ("5-3d-1-0-2.0-0", &["1", "2-10-5"]),
    ];

    #[test]
    fn learned_arrays_equal_the_target_functions_for_every_label_type() {
        let shape = (4, 21, 26);
        let ids = label(shape);
        let valid = mask(shape);
        let labels = [
            Voxels::from(ids.mapv(|v| v as u8)),
            Voxels::from(ids.mapv(|v| v as u16)),
            Voxels::from(ids.mapv(|v| v as u32 + u32::from(v != 0) * 70_000)),
            Voxels::from(ids.mapv(|v| v + u64::from(v != 0) * (1 << 40))),
            Voxels::from(ids.mapv(|v| v as f32 - 0.25)),
            // Not in standard layout.
            Voxels::from({
                let t = Array3::from_shape_fn((4, 26, 21), |(z, x, y)| ids[[z, y, x]] as u16);
                t.permuted_axes([0, 2, 1])
            }),
        ];
        for (opts, output, two_d) in [
            (&OPTIONS[..], None, false),
            (&OPTIONS[..], Some([2, 15, 20]), false),
            (&OPTIONS[..11], Some([4, 20, 25]), true),
        ] {
            let opts: Vec<_> = opts
                .iter()
                .filter(|(t, _)| !(two_d && t.starts_with('3')))
                .copied()
                .collect();
            let mut learning = learning(&opts, output);
            learning.erosion = (0..opts.len()).map(|k| (k % 4 == 1).then_some(1)).collect();
            learning.dilation = (0..opts.len()).map(|k| (k % 5 == 2).then_some(1)).collect();
            for label in &labels {
                let as_ids = match_dtype!(label, Voxels(a) => a.mapv(|v| v.id()));
                for m in [None, Some(&valid)] {
                    let mv = m.map(|m| Voxels::from(m.clone()));
                    let got = learning.compute(Some(label), mv.as_ref(), two_d).unwrap();
                    let want = reference(&learning, &as_ids, m, two_d);
                    assert_eq!(got.len(), want.len());
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(
                            g,
                            w,
                            "{:?} {output:?} 2D {two_d} mask {}",
                            label.dtype(),
                            m.is_some()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn batch_slots_hold_each_samples_computed_arrays() {
        for (input, two_d) in [([4, 21, 26], false), ([1, 21, 26], true)] {
            let shape = (input[0], input[1], input[2]);
            let opts: Vec<_> = OPTIONS[..11]
                .iter()
                .filter(|(t, _)| !(two_d && t.starts_with('3')))
                .copied()
                .collect();
            let learning = learning(&opts, Some([input[0], 17, 20]));
            let samples: Vec<(Voxels, Voxels)> = (0..2)
                .map(|i| {
                    let l = label(shape).mapv(|v| (v * (i + 1)) as u16);
                    (Voxels::from(l), Voxels::from(mask(shape)))
                })
                .collect();
            // Pooled buffers hold old values: fill the pool with NaNs, so a voxel the
            // targets leave unwritten shows.
            let pool = Arc::new(Pool::new(64));
            for _ in 0..64 {
                pool.give(vec![f32::NAN; 3 * 2 * shape.0 * shape.1 * shape.2]);
            }
            let mut stack = Stacker::new(pool, 2, input, two_d);
            for (i, (l, m)) in samples.iter().enumerate() {
                stack
                    .push_learning(&learning, i, (Some(l), Some(m)), two_d)
                    .unwrap();
            }
            let columns = stack.finish();
            let keys: Vec<&str> = columns.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, learning.keys());
            for (i, (l, m)) in samples.iter().enumerate() {
                let want = learning.compute(Some(l), Some(m), two_d).unwrap();
                for ((key, column), (wkey, w)) in columns.iter().zip(&want) {
                    assert_eq!(key, wkey);
                    let got = column.as_typed::<f32>().unwrap().index_axis(Axis(0), i);
                    assert_eq!(
                        got.iter().copied().collect::<Vec<_>>(),
                        w.iter().copied().collect::<Vec<_>>()
                    );
                    let spatial = if two_d {
                        &w.shape()[2..]
                    } else {
                        &w.shape()[1..]
                    };
                    assert_eq!(&got.shape()[1..], spatial, "{key}");
                }
            }
        }
    }
}
