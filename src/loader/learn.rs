//! Learning targets and loss weights in the workers: after augmentation, from the augmented
//! label (and valid mask), every `MODEL.TARGET_OPT` option's target and its `MODEL.WEIGHT_OPT`
//! weights, cropped to `MODEL.OUTPUT_SIZE`, as batch arrays `target_K` `(C, D, H, W)` and
//! `weight_K_J` (see [`crate::target`]).

use ndarray::{Array3, ArrayD};

use crate::augment::Voxels;
use crate::target::{crop_output, dilate_labels, widen_border, TargetOpt, WeightOpt};
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
        let Some(label) = label else {
            return Err(Error::Config {
                key: "MODEL.TARGET_OPT".into(),
                reason: "targets are computed from a label: set DATASET.LABEL_NAME (or MODEL.TARGET_OPT: [] for none)".into(),
            });
        };
        let ids = as_ids(label);
        let mask = valid_mask.map(as_mask);
        let crop = |a: ndarray::Array4<f32>| match self.output_size {
            Some(size) => crop_output(a, size),
            None => Ok(a),
        };
        let mut out = Vec::new();
        for (k, spec) in self.targets.iter().enumerate() {
            // PyTC erodes, then dilates, a copy of the label for each target; the weights see
            // the label as it is.
            let erosion = self.erosion.get(k).copied().flatten();
            let dilation = self.dilation.get(k).copied().flatten();
            let target = match (erosion, dilation) {
                (None, None) => spec.target.compute(ids.view(), two_d)?,
                _ => {
                    let mut lab = ids.clone();
                    if let Some(e) = erosion {
                        lab = widen_border(lab.view(), e);
                    }
                    if let Some(d) = dilation {
                        lab = dilate_labels(lab.view(), d);
                    }
                    spec.target.compute(lab.view(), two_d)?
                }
            };
            for (j, w) in spec.weights.iter().enumerate() {
                let weight = w
                    .compute(
                        target.view(),
                        mask.as_ref().map(|m| m.view()),
                        ids.view(),
                        two_d,
                    )?
                    .unwrap_or_else(|| ndarray::Array4::ones(target.raw_dim()));
                out.push((format!("weight_{k}_{j}"), crop(weight)?.into_dyn()));
            }
            let at = out.len() - spec.weights.len();
            out.insert(at, (format!("target_{k}"), crop(target)?.into_dyn()));
        }
        Ok(out)
    }
}

/// A label as instance ids (`u64`; float labels truncated, negative ones as 0).
fn as_ids(label: &Voxels) -> Array3<u64> {
    match_dtype!(label, Voxels(a) => a.mapv(|v| {
        let x = crate::Element::to_f64(v);
        if x > 0.0 { x as u64 } else { 0 }
    }))
}

/// A valid mask as 0/1 (`!= 0`, as PyTC binarises it).
fn as_mask(mask: &Voxels) -> Array3<u8> {
    match_dtype!(mask, Voxels(a) => a.mapv(|v| u8::from(crate::Element::to_f64(v) != 0.0)))
}
