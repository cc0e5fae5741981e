//! PyTC's label conversions before targets: `DATASET.LABEL_BINARY` (a label volume whose
//! maximum is above 1 is integer-divided by 255, as PyTC does at load) and
//! `DATASET.REDUCE_LABEL` (each sample's ids renumbered `1, 2, …` in increasing order, as PyTC's
//! `reduce_label` does on the read window before augmentation).
//!
//! Renumbering keeps the order of ids and changes nothing but their values, so the geometric
//! transforms, erosion and dilation commute with it: the reduction is taken from the window as
//! read and applied to the augmented label, and only for targets that look at id values (the
//! synaptic polarity `1` and the class foreground `0-a-b`; every other target compares ids or
//! tests them against zero). The label batch itself keeps the stored ids.

use crate::augment::Voxels;
use crate::element::Element;
use crate::match_dtype;
use crate::target::TargetOpt;

/// The distinct non-zero ids of a label window, in increasing order.
#[derive(Debug, Default)]
pub(crate) struct Reduction {
    ids: Vec<f64>,
}

impl Reduction {
    /// The ids of `label`.
    pub(crate) fn of(label: &Voxels) -> Self {
        // Labels are runs of equal ids: keep one value per run before sorting.
        let mut ids: Vec<f64> = Vec::new();
        let mut last = 0.0;
        match_dtype!(label, Voxels(a) => {
            for v in a.iter().map(|&v| v.to_f64()) {
                if v != last && v != 0.0 {
                    ids.push(v);
                }
                last = v;
            }
        });
        ids.sort_unstable_by(f64::total_cmp);
        ids.dedup();
        Reduction { ids }
    }

    /// `label` with each id replaced by its rank among the reduction's ids (`1` for the
    /// smallest), in the same type; an all-background window is left as it is (as PyTC does).
    pub(crate) fn apply(&self, label: &Voxels) -> Voxels {
        let rank = |v: f64| {
            if v == 0.0 {
                0.0
            } else {
                (self.ids.partition_point(|&id| id < v) + 1) as f64
            }
        };
        match_dtype!(label, Voxels<T>(a) => Voxels::from(a.mapv(|v| T::from_f64(rank(v.to_f64())))))
    }
}

/// Whether a target's values depend on the label's id values (not only on which voxels share
/// an id or are background).
pub(crate) fn reads_id_values(target: &TargetOpt) -> bool {
    match target {
        TargetOpt::Polarity { .. } => true,
        TargetOpt::Foreground { classes } => !classes.is_empty(),
        _ => false,
    }
}

/// `label` integer-divided by 255 (`LABEL_BINARY` on a volume whose maximum is above 1).
pub(crate) fn binarize(label: &mut Voxels) {
    match_dtype!(label, Voxels<T>(a) => a.mapv_inplace(|v| T::from_f64((v.to_f64() / 255.0).floor())));
}

/// `label` as `float32` `label / mag`, computed in `f64` then rounded as PyTC's
/// `(label / mag).astype(float32)` (`LABEL_MAG`); the integer buffer goes back to the pool.
pub(crate) fn divided(label: Voxels, mag: f64) -> Voxels {
    let mut out = crate::recycle::take::<f32>(label.shape().iter().product());
    match_dtype!(&label, Voxels(a) => {
        out.iter_mut().zip(a.iter()).for_each(|(d, &v)| *d = (v.to_f64() / mag) as f32);
    });
    let shape = label.shape();
    label.recycle();
    Voxels::F32(ndarray::Array3::from_shape_vec(shape, out).expect("one value per voxel"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn reduction_ranks_ids_as_pytc() {
        // PyTC's reduce_label: [0, 2, 3, 9] → [0, 1, 2, 3], whatever the window's shape.
        let read =
            Voxels::from(Array3::from_shape_vec((1, 2, 3), vec![0u16, 9, 3, 2, 9, 0]).unwrap());
        let r = Reduction::of(&read);
        let moved = Voxels::from(Array3::from_shape_vec((1, 1, 3), vec![9u16, 0, 3]).unwrap());
        assert_eq!(r.apply(&moved).to_f64_vec(), vec![3.0, 0.0, 2.0]);
        assert_eq!(r.apply(&read).dtype(), read.dtype());
        let empty = Voxels::from(Array3::<u8>::zeros((1, 1, 2)));
        assert_eq!(Reduction::of(&empty).apply(&empty), empty);
    }

    #[test]
    fn binarize_divides_by_255() {
        let mut l =
            Voxels::from(Array3::from_shape_vec((1, 1, 4), vec![0u8, 255, 254, 1]).unwrap());
        binarize(&mut l);
        assert_eq!(l.to_f64_vec(), vec![0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn only_id_reading_targets_need_the_reduction() {
        for (opt, reads) in [
            ("1", true),
            ("1-1", true),
            ("0-2", true),
            ("0", false),
            ("4-1-1", false),
            ("2", false),
        ] {
            assert_eq!(reads_id_values(&opt.parse().unwrap()), reads, "{opt}");
        }
    }
}
