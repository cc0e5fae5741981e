//! PyTC's `INFERENCE.OUTPUT_SCALE`: each window's prediction is resized before it is blended,
//! as PyTC's test augmentor resizes the model's output with `skimage.transform.resize(out,
//! ceil(shape · scale), order=1, preserve_range=True, anti_aliasing=True)`.
//!
//! Per spatial axis of `n` voxels resized to `m = ceil(n · s)` voxels (scikit-image 0.26 and
//! scipy, read from their sources and checked against them in `python/tests/test_output_scale.py`):
//! 1. A Gaussian filter of `σ = max(0, (n / m − 1) / 2)` (skimage's anti-aliasing; none when
//!    the axis grows or keeps its length), as `scipy.ndimage.gaussian_filter1d` computes it:
//!    weights `exp(−x² / 2σ²)` for `|x| ≤ ⌊4σ + 0.5⌋`, normalised to sum 1, the volume
//!    extended by scipy's `mirror` (numpy's `reflect`). The axes are filtered z, y, x in turn,
//!    each pass's result rounded to `float32` as scipy stores it.
//! 2. Linear interpolation at pixel centres (`scipy.ndimage.zoom(order=1, grid_mode=True,
//!    mode="mirror")`): output voxel `k` samples source coordinate `(k + 0.5) · n / m − 0.5`,
//!    taps beyond the ends mirrored.
//!
//! voxload computes each pass in `f64` and rounds to `f32`, so values agree with
//! scikit-image's to a few `float32` ulps (the order of the sums differs). skimage also clips
//! the result to the input's range, which linear interpolation of a normalised filter cannot
//! leave, so voxload does not.

use crate::{PadMode, Shape};

/// One axis of a resize: its anti-aliasing kernel and, per output voxel, its two taps.
#[derive(Clone, Debug)]
struct AxisResize {
    from: usize,
    /// The normalised Gaussian, `2r + 1` weights; empty when the axis is not filtered.
    kernel: Vec<f64>,
    /// Per output voxel: the lower tap, the upper tap and the upper tap's weight.
    taps: Vec<(usize, usize, f64)>,
}

/// scipy's `mirror` extension of index `i` on an axis of `n` voxels.
fn mirror(i: i64, n: usize) -> usize {
    PadMode::Reflect.fold(i, n as u64).unwrap_or(0) as usize
}

impl AxisResize {
    fn new(from: usize, to: usize) -> Self {
        let factor = from as f64 / to as f64;
        let sigma = ((factor - 1.0) / 2.0).max(0.0);
        let kernel = if sigma > 1e-15 {
            crate::augment::gaussian_kernel_f64(sigma)
        } else {
            Vec::new()
        };
        let taps = (0..to)
            .map(|k| {
                let c = (k as f64 + 0.5) * factor - 0.5;
                let low = c.floor();
                let i = low as i64;
                (mirror(i, from), mirror(i + 1, from), c - low)
            })
            .collect();
        AxisResize { from, kernel, taps }
    }

    fn to(&self) -> usize {
        self.taps.len()
    }
}

/// The resize of `(C, d, h, w)` predictions to `(C, d', h', w')` (see the module
/// documentation).
#[derive(Clone, Debug)]
pub(super) struct PredictionResize {
    axes: [AxisResize; 3],
}

/// Applies `f` along axis `axis` of a C-order volume of shape `shape`: every line of that axis,
/// read from `src`, written as `f`'s line (of `out_len` voxels) into the result.
fn along_axis(
    src: &[f32],
    shape: [usize; 3],
    axis: usize,
    out_len: usize,
    mut f: impl FnMut(&[f64], &mut [f64]),
) -> Vec<f32> {
    let mut out_shape = shape;
    out_shape[axis] = out_len;
    let mut out = vec![0.0f32; out_shape.iter().product()];
    let stride_in: [usize; 3] = [shape[1] * shape[2], shape[2], 1];
    let stride_out: [usize; 3] = [out_shape[1] * out_shape[2], out_shape[2], 1];
    let others: Vec<usize> = (0..3).filter(|&a| a != axis).collect();
    let (p, q) = (others[0], others[1]);
    let mut line = vec![0.0f64; shape[axis]];
    let mut result = vec![0.0f64; out_len];
    for i in 0..shape[p] {
        for j in 0..shape[q] {
            let base_in = i * stride_in[p] + j * stride_in[q];
            let base_out = i * stride_out[p] + j * stride_out[q];
            for (k, v) in line.iter_mut().enumerate() {
                *v = f64::from(src[base_in + k * stride_in[axis]]);
            }
            f(&line, &mut result);
            for (k, v) in result.iter().enumerate() {
                out[base_out + k * stride_out[axis]] = *v as f32;
            }
        }
    }
    out
}

impl PredictionResize {
    /// The resize of windows of `from` voxels to `to` voxels.
    pub(super) fn new(from: Shape, to: Shape) -> Self {
        PredictionResize {
            axes: std::array::from_fn(|a| AxisResize::new(from[a] as usize, to[a] as usize)),
        }
    }

    /// `data` (`channels` volumes of `from` voxels, C order) resized.
    pub(super) fn apply(&self, channels: usize, data: &[f32]) -> Vec<f32> {
        let from: [usize; 3] = std::array::from_fn(|a| self.axes[a].from);
        let per = from.iter().product::<usize>();
        let mut out = Vec::new();
        for c in 0..channels {
            let mut volume = data[c * per..(c + 1) * per].to_vec();
            let shape = from;
            for (a, axis) in self.axes.iter().enumerate() {
                if axis.kernel.is_empty() {
                    continue;
                }
                let r = (axis.kernel.len() / 2) as i64;
                volume = along_axis(&volume, shape, a, shape[a], |line, res| {
                    for (k, v) in res.iter_mut().enumerate() {
                        *v = axis
                            .kernel
                            .iter()
                            .enumerate()
                            .map(|(t, w)| w * line[mirror(k as i64 + t as i64 - r, line.len())])
                            .sum();
                    }
                });
            }
            // Linear interpolation of the three axes at once, in f64, as scipy's zoom does.
            let to: [usize; 3] = std::array::from_fn(|a| self.axes[a].to());
            let [_, h, w] = shape;
            out.reserve(to.iter().product());
            for &(z0, z1, fz) in &self.axes[0].taps {
                for &(y0, y1, fy) in &self.axes[1].taps {
                    for &(x0, x1, fx) in &self.axes[2].taps {
                        let at =
                            |z: usize, y: usize, x: usize| f64::from(volume[(z * h + y) * w + x]);
                        let lerp = |a: f64, b: f64, f: f64| a * (1.0 - f) + b * f;
                        let plane = |z| {
                            lerp(
                                lerp(at(z, y0, x0), at(z, y0, x1), fx),
                                lerp(at(z, y1, x0), at(z, y1, x1), fx),
                                fy,
                            )
                        };
                        out.push(lerp(plane(z0), plane(z1), fz) as f32);
                    }
                }
            }
        }
        out
    }
}

/// The output shape of a `scale` resize of `shape`: `ceil(shape · scale)` per axis (PyTC's).
pub(super) fn scaled_len(n: u64, scale: f64) -> u64 {
    (n as f64 * scale).ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_stays_constant_and_a_kept_shape_is_a_copy() {
        let r = PredictionResize::new([2, 8, 8], [2, 4, 4]);
        let out = r.apply(2, &[0.5f32; 256]);
        assert_eq!(out.len(), 2 * 2 * 16);
        assert!(out.iter().all(|&v| (v - 0.5).abs() < 1e-7));
        let data: Vec<f32> = (0..60).map(|v| v as f32).collect();
        assert_eq!(
            PredictionResize::new([3, 4, 5], [3, 4, 5]).apply(1, &data),
            data
        );
    }

    #[test]
    fn doubling_a_line_interpolates_at_pixel_centres() {
        // n = 2 to m = 4: coordinates -0.25, 0.25, 0.75, 1.25; mirrored taps at the ends.
        let r = PredictionResize::new([1, 1, 2], [1, 1, 4]);
        let out = r.apply(1, &[0.0, 1.0]);
        assert_eq!(out, vec![0.25, 0.25, 0.75, 0.75]);
    }
}
