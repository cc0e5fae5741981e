//! Per-voxel targets (`0` foreground, `1` synaptic polarity, `9` class ids) and the semantic
//! distance transform (`6`, PyTC's `edt_semantic`).

use super::edt::{self, squared_edt, NoSource};
use super::ids::Id;

/// Target `0` as 0/1 into `out`: 1 where the label is non-zero (no `classes`), or equals one
/// of `classes`.
pub(crate) fn foreground<T: Id>(label: &[T], classes: &[i64], out: &mut [u8]) {
    if classes.is_empty() {
        for (o, &v) in out.iter_mut().zip(label) {
            *o = u8::from(!v.is_zero());
        }
        return;
    }
    let wanted: Vec<u64> = classes
        .iter()
        .filter_map(|&c| u64::try_from(c).ok())
        .collect();
    for (o, &v) in out.iter_mut().zip(label) {
        *o = u8::from(wanted.contains(&v.wide()));
    }
}

/// A voxel's synaptic class: 0 (background), 1 (odd id) or 2 (even non-zero id).
fn class<T: Id>(v: T) -> u8 {
    match v.wide() {
        0 => 0,
        v if v % 2 == 1 => 1,
        _ => 2,
    }
}

/// Target `1` as 0/1 into `out` (three channels): odd (pre-synaptic), even non-zero
/// (post-synaptic) and non-zero.
pub(crate) fn polarity<T: Id>(label: &[T], out: &mut [u8]) {
    let voxels = label.len();
    for (c, wanted) in [1u8, 2].into_iter().enumerate() {
        for (o, &v) in out[c * voxels..].iter_mut().zip(label) {
            *o = u8::from(class(v) == wanted);
        }
    }
    for (o, &v) in out[2 * voxels..].iter_mut().zip(label) {
        *o = u8::from(!v.is_zero());
    }
}

/// Target `1-1`: one channel holding 0, 1 (odd) or 2 (even non-zero).
pub(crate) fn polarity_classes<T: Id>(label: &[T]) -> Vec<f32> {
    label.iter().map(|&v| f32::from(class(v))).collect()
}

/// Target `9`: the class ids themselves (rounded to `f32`, as PyTC's `float32` labels are).
pub(crate) fn class_ids<T: Id>(label: &[T]) -> Vec<f32> {
    label.iter().map(|&v| v.wide() as f32).collect()
}

/// What `_edt_binary_mask` gives a mask with no background: a constant 5 (`tanh(5) ≈ 1`).
const SATURATED: f64 = 5.0;

/// Target `6`: `tanh(d_fg / alpha_fore − d_bg / alpha_back)`, with `d_fg` each foreground
/// voxel's distance to the background and `d_bg` each background voxel's distance to the
/// foreground. Over the whole window with sampling `(6, 1, 1)` when `volume`, else slice by
/// slice with unit sampling. A mask (foreground or background) covering the whole image
/// contributes the constant 5 instead of its scaled distances.
pub(crate) fn semantic_distance(
    label: &[u64],
    dims: [usize; 3],
    volume: bool,
    alpha_fore: f64,
    alpha_back: f64,
) -> Vec<f32> {
    let mut work = edt::Work::default();
    let mut out = Vec::with_capacity(label.len());
    let mut run = |part: &[u64], d: [usize; 3], weights: [f64; 3]| {
        let side = |fore: bool, alpha: f64, work: &mut edt::Work| -> Vec<f64> {
            let mut f: Vec<f64> = part
                .iter()
                .map(|&v| edt::source((v != 0) == fore))
                .collect();
            if !f.contains(&0.0) {
                return vec![SATURATED; f.len()];
            }
            squared_edt(&mut f, d, weights, NoSource::Infinite, work);
            f.iter().map(|&v| v.sqrt() / alpha).collect()
        };
        let fore = side(true, alpha_fore, &mut work);
        let back = side(false, alpha_back, &mut work);
        out.extend(fore.iter().zip(&back).map(|(&a, &b)| (a - b).tanh() as f32));
    };
    let [_, h, w] = dims;
    if volume {
        run(label, dims, [36.0, 1.0, 1.0]);
    } else if h * w > 0 {
        for slice in label.chunks_exact(h * w) {
            run(slice, [1, h, w], [1.0; 3]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_distance_of_a_row() {
        let label = [0u64, 4, 4, 4, 0, 0];
        let out = semantic_distance(&label, [1, 1, 6], false, 8.0, 50.0);
        let want = [
            -1.0 / 50.0,
            1.0 / 8.0,
            2.0 / 8.0,
            1.0 / 8.0,
            -1.0 / 50.0,
            -2.0 / 50.0,
        ];
        for (o, w) in out.iter().zip(want) {
            assert_eq!(*o, f64::tanh(w) as f32);
        }
        // All foreground: tanh(5) everywhere.
        let out = semantic_distance(&[1, 2], [1, 1, 2], true, 8.0, 50.0);
        assert_eq!(out, [5f64.tanh() as f32; 2]);
    }
}
