//! Label smoothing (PyTC `smooth_edge`, `AUGMENTOR.SMOOTH`): each object's outline in each
//! slice is smoothed by Gaussian blurring and thresholding its binary mask.

use std::collections::BTreeMap;

use ndarray::{Array3, Axis};

use super::kernel::{gaussian_blur_2d, gaussian_kernel};
use super::{Sample, TargetKind, Voxels};
use crate::match_dtype;

/// The Gaussian's σ and the threshold a blurred mask must exceed, as PyTC.
const SIGMA: f64 = 2.0;
const THRESHOLD: f32 = 0.5;

/// Smooths every `mask` target of `sample` in place (`img` targets are left alone).
///
/// Per z slice, for each non-zero id present in the slice, in ascending order (of the bit
/// pattern for float masks): the binary mask of the pixels that hold the id *now* (earlier
/// ids may have taken some) is blurred with a Gaussian of σ 2 (radius 8, edges mirrored as
/// scipy's `reflect`; PyTC's scikit-image call uses `nearest`, which differs only within
/// 8 pixels of the slice edge) and kept where it exceeds 0.5, twice. The id's pixels are then
/// cleared to 0 and the smoothed mask is written with the id. So where two ids' smoothed masks
/// overlap the later id wins, and a pixel no id keeps becomes background 0, as in PyTC.
///
/// Each id is computed in a window of its bounding box grown by 16 pixels (twice the radius),
/// which gives exactly the whole-slice result since the blurred mask is zero beyond it.
pub fn smooth_masks(sample: &mut Sample) {
    for (kind, voxels) in sample.targets_mut() {
        if kind == TargetKind::Mask {
            match_dtype!(voxels, Voxels(a) => smooth_labels(a));
        }
    }
}

/// A voxel type of a mask: ids compared by a `u64` key, background is `default()`.
trait Label: Copy + PartialEq + Default {
    fn key(self) -> u64;
}

macro_rules! impl_label {
    ($($t:ty),*) => {$(
        impl Label for $t {
            fn key(self) -> u64 {
                self as u64
            }
        }
    )*};
}
impl_label!(u8, u16, u32, u64);

impl Label for f32 {
    fn key(self) -> u64 {
        u64::from(self.to_bits())
    }
}

fn smooth_labels<T: Label>(a: &mut Array3<T>) {
    let (_, h, w) = a.dim();
    if h == 0 || w == 0 {
        return;
    }
    let mut work = Work::default();
    let mut copy = Vec::new();
    for mut plane in a.axis_iter_mut(Axis(0)) {
        if let Some(s) = plane.as_slice_mut() {
            smooth_plane(s, [h, w], &mut work);
        } else {
            copy.clear();
            copy.extend(plane.iter().copied());
            smooth_plane(&mut copy, [h, w], &mut work);
            plane.iter_mut().zip(&copy).for_each(|(v, &c)| *v = c);
        }
    }
}

/// Buffers reused across slices and ids.
#[derive(Default)]
struct Work {
    window: Vec<f32>,
    scratch: Vec<f32>,
}

/// Smooths one `(h, w)` slice in C order.
fn smooth_plane<T: Label>(plane: &mut [T], [h, w]: [usize; 2], work: &mut Work) {
    // Each id's bounding box `[y0, y1, x0, x1]` (inclusive), ids in ascending key order.
    let mut boxes: BTreeMap<u64, (T, [usize; 4])> = BTreeMap::new();
    for (y, row) in plane.chunks_exact(w).enumerate() {
        let mut x = 0;
        while x < w {
            let v = row[x];
            let start = x;
            while x < w && row[x].key() == v.key() {
                x += 1;
            }
            if v != T::default() {
                let b = &mut boxes.entry(v.key()).or_insert((v, [y, y, start, x - 1])).1;
                *b = [b[0].min(y), b[1].max(y), b[2].min(start), b[3].max(x - 1)];
            }
        }
    }
    let margin = 2 * (gaussian_kernel(SIGMA).len() / 2);
    for (key, (id, [y0, y1, x0, x1])) in boxes {
        let (wy0, wy1) = (y0.saturating_sub(margin), (y1 + margin).min(h - 1));
        let (wx0, wx1) = (x0.saturating_sub(margin), (x1 + margin).min(w - 1));
        let (wh, ww) = (wy1 - wy0 + 1, wx1 - wx0 + 1);
        let window = &mut work.window;
        window.clear();
        for row in plane[wy0 * w..(wy1 + 1) * w].chunks_exact(w) {
            window.extend(
                row[wx0..=wx1]
                    .iter()
                    .map(|v| f32::from(u8::from(v.key() == key))),
            );
        }
        for _ in 0..2 {
            gaussian_blur_2d(window, [wh, ww], SIGMA, &mut work.scratch);
            for v in window.iter_mut() {
                *v = if *v > THRESHOLD { 1.0 } else { 0.0 };
            }
        }
        for (row, kept) in plane[wy0 * w..(wy1 + 1) * w]
            .chunks_exact_mut(w)
            .zip(window.chunks_exact(ww))
        {
            for (v, &k) in row[wx0..=wx1].iter_mut().zip(kept) {
                if k > 0.0 {
                    *v = id;
                } else if v.key() == key {
                    *v = T::default();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_equals_whole_slice() {
        let (h, w) = (60, 70);
        let base: Vec<u16> = (0..h * w)
            .map(|i| {
                let (y, x) = (i / w, i % w);
                if (20..34).contains(&y) && (25..41).contains(&x) {
                    3
                } else if (y as i64 - 45).pow(2) + (x as i64 - 10).pow(2) < 60 {
                    7
                } else {
                    0
                }
            })
            .collect();
        let mut windowed = base.clone();
        smooth_plane(&mut windowed, [h, w], &mut Work::default());
        // Whole-slice reference: same steps without windows.
        let mut whole = base.clone();
        for id in [3u16, 7] {
            let mut m: Vec<f32> = whole
                .iter()
                .map(|&v| f32::from(u8::from(v == id)))
                .collect();
            for _ in 0..2 {
                gaussian_blur_2d(&mut m, [h, w], SIGMA, &mut Vec::new());
                m.iter_mut()
                    .for_each(|v| *v = if *v > THRESHOLD { 1.0 } else { 0.0 });
            }
            for (v, &k) in whole.iter_mut().zip(&m) {
                if k > 0.0 {
                    *v = id;
                } else if *v == id {
                    *v = 0;
                }
            }
        }
        assert_eq!(windowed, whole);
        assert!(windowed.contains(&3) && windowed.contains(&7));
    }
}
