//! Hot loops shared by the transforms: gathers through precomputed interpolation tables and
//! separable Gaussian smoothing. No allocation per voxel; tables are built once per sample and
//! reused for every slice and every target.

/// Bilinear interpolation from a `(h, w)` plane, zero outside it: per output pixel, the offset
/// of the top-left source voxel of a 2×2 block that lies inside the plane, and the four weights
/// (zero for neighbours outside the plane).
#[derive(Debug, Default)]
pub(crate) struct LinearTable {
    offsets: Vec<u32>,
    weights: Vec<[f32; 4]>,
    stride: usize,
}

/// Nearest-neighbour lookup from a plane: per output pixel, the source offset, or `u32::MAX`
/// for a position outside the plane (read as zero).
#[derive(Debug, Default)]
pub(crate) struct NearestTable {
    offsets: Vec<u32>,
}

const OUTSIDE: u32 = u32::MAX;

/// Splits a coordinate into the start of a 2-long run that lies inside `[0, n)` and the weights
/// of the run's two voxels; voxels outside `[0, n)` get weight 0.
fn axis_weights(c: f64, n: usize) -> (usize, [f32; 2]) {
    let lo = c.floor();
    let frac = (c - lo) as f32;
    let lo = lo as i64;
    let n = n as i64;
    let w_lo = if (0..n).contains(&lo) {
        1.0 - frac
    } else {
        0.0
    };
    let w_hi = if (0..n).contains(&(lo + 1)) {
        frac
    } else {
        0.0
    };
    if n == 1 {
        // One voxel: both weights fall on it (the other is zero by construction).
        return (0, [w_lo + w_hi, 0.0]);
    }
    let base = lo.clamp(0, n - 2);
    // When the run was shifted to stay inside, the weight of the voxel inside moves with it.
    if base == lo {
        (base as usize, [w_lo, w_hi])
    } else if lo < 0 {
        (0, [w_hi, 0.0])
    } else {
        (base as usize, [0.0, w_lo])
    }
}

impl LinearTable {
    /// The table for source positions `(ys[i], xs[i])` in a `(h, w)` plane; `valid[i] == false`
    /// reads zero.
    pub(crate) fn new(ys: &[f64], xs: &[f64], valid: &[bool], [h, w]: [usize; 2]) -> Self {
        let mut offsets = Vec::with_capacity(ys.len());
        let mut weights = Vec::with_capacity(ys.len());
        for i in 0..ys.len() {
            let (by, wy) = axis_weights(ys[i], h);
            let (bx, wx) = axis_weights(xs[i], w);
            let keep = if valid[i] { 1.0 } else { 0.0 };
            offsets.push((by * w + bx) as u32);
            weights.push([
                wy[0] * wx[0] * keep,
                wy[0] * wx[1] * keep,
                wy[1] * wx[0] * keep,
                wy[1] * wx[1] * keep,
            ]);
        }
        LinearTable {
            offsets,
            weights,
            stride: w,
        }
    }

    /// Interpolates `out[i]` from `src`, a `(h, w)` plane in C order.
    pub(crate) fn gather(&self, src: &[f32], out: &mut [f32]) {
        let s = self.stride;
        // A source of width 1 has no right neighbour: its weights are zero, read the voxel itself.
        let right = usize::from(s > 1);
        let h = src.len() / s.max(1);
        let down = if h > 1 { s } else { 0 };
        for ((o, &off), wt) in out.iter_mut().zip(&self.offsets).zip(&self.weights) {
            let i = off as usize;
            *o = src[i] * wt[0]
                + src[i + right] * wt[1]
                + src[i + down] * wt[2]
                + src[i + down + right] * wt[3];
        }
    }
}

impl NearestTable {
    /// The table for source positions rounded to the nearest voxel of a `(h, w)` plane.
    pub(crate) fn new(ys: &[f64], xs: &[f64], valid: &[bool], [h, w]: [usize; 2]) -> Self {
        let offsets = (0..ys.len())
            .map(|i| {
                let y = (ys[i] + 0.5).floor();
                let x = (xs[i] + 0.5).floor();
                let inside = valid[i] && y >= 0.0 && x >= 0.0 && y < h as f64 && x < w as f64;
                if inside {
                    (y as usize * w + x as usize) as u32
                } else {
                    OUTSIDE
                }
            })
            .collect();
        NearestTable { offsets }
    }

    /// Copies `out[i] = src[offset[i]]`, zero where the position was outside.
    pub(crate) fn gather<T: Copy + Default>(&self, src: &[T], out: &mut [T]) {
        for (o, &off) in out.iter_mut().zip(&self.offsets) {
            *o = if off == OUTSIDE {
                T::default()
            } else {
                src[off as usize]
            };
        }
    }
}

/// The normalised 1D Gaussian kernel of scipy's `gaussian_filter` (radius `int(4σ + 0.5)`).
#[must_use]
pub(crate) fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / sum) as f32).collect()
}

/// Index `i` (possibly outside `[0, n)`) folded back as scipy's `reflect` mode does
/// (`d c b a | a b c d | d c b a`).
fn fold_symmetric(mut i: i64, n: i64) -> usize {
    let period = 2 * n;
    i = i.rem_euclid(period);
    if i >= n {
        i = period - 1 - i;
    }
    i as usize
}

/// Smooths a `(h, w)` plane in place with a separable Gaussian of `sigma`, edges mirrored as
/// scipy's `gaussian_filter` (mode `reflect`) does. `scratch` is reused between calls.
pub(crate) fn gaussian_blur_2d(
    plane: &mut [f32],
    [h, w]: [usize; 2],
    sigma: f64,
    scratch: &mut Vec<f32>,
) {
    if sigma <= 0.0 || plane.is_empty() {
        return;
    }
    let kernel = gaussian_kernel(sigma);
    let r = (kernel.len() / 2) as i64;
    // Rows: copy each into a mirrored, padded line, then accumulate tap by tap (vectorises).
    let padded_w = w + 2 * r as usize;
    scratch.clear();
    scratch.resize(padded_w + w, 0.0);
    let (line, acc) = scratch.split_at_mut(padded_w);
    for row in plane.chunks_exact_mut(w) {
        for (j, v) in line.iter_mut().enumerate() {
            *v = row[fold_symmetric(j as i64 - r, w as i64)];
        }
        acc.fill(0.0);
        for (k, &kw) in kernel.iter().enumerate() {
            for (a, &v) in acc.iter_mut().zip(&line[k..k + w]) {
                *a += kw * v;
            }
        }
        row.copy_from_slice(acc);
    }
    // Columns: accumulate whole rows scaled by each tap.
    let source = plane.to_vec();
    for y in 0..h {
        let out = &mut plane[y * w..(y + 1) * w];
        out.fill(0.0);
        for (k, &kw) in kernel.iter().enumerate() {
            let sy = fold_symmetric(y as i64 + k as i64 - r, h as i64);
            for (o, &v) in out.iter_mut().zip(&source[sy * w..(sy + 1) * w]) {
                *o += kw * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_weights_keep_inside_voxels() {
        assert_eq!(axis_weights(2.25, 5), (2, [0.75, 0.25]));
        assert_eq!(axis_weights(-0.5, 5), (0, [0.5, 0.0]));
        assert_eq!(axis_weights(4.5, 5), (3, [0.0, 0.5]));
        assert_eq!(axis_weights(-2.0, 5), (0, [0.0, 0.0]));
        assert_eq!(axis_weights(0.3, 1), (0, [0.7, 0.0]));
    }

    #[test]
    fn fold_symmetric_matches_scipy_reflect() {
        let folded: Vec<usize> = (-4..8).map(|i| fold_symmetric(i, 4)).collect();
        assert_eq!(folded, [3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0]);
    }

    #[test]
    fn gaussian_blur_keeps_constants_and_mass() {
        let mut plane = vec![0.5_f32; 12 * 9];
        gaussian_blur_2d(&mut plane, [12, 9], 2.0, &mut Vec::new());
        assert!(plane.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }
}
