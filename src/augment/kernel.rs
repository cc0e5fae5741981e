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

/// `v.floor()` as an integer, without the libm call that baseline x86-64 makes of `floor`.
#[inline]
pub(crate) fn floor_i64(v: f64) -> i64 {
    let i = v as i64;
    i - i64::from(v < i as f64)
}

/// Splits a coordinate into the start of a 2-long run that lies inside `[0, n)` and the weights
/// of the run's two voxels; voxels outside `[0, n)` get weight 0.
fn axis_weights(c: f64, n: usize) -> (usize, [f32; 2]) {
    let lo = floor_i64(c);
    let frac = (c - lo as f64) as f32;
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

    /// Appends the interpolated output plane to `out`, from `src`, a `(h, w)` plane in C order.
    pub(crate) fn gather(&self, src: &[f32], out: &mut Vec<f32>) {
        let s = self.stride;
        // A source of width 1 has no right neighbour: its weights are zero, read the voxel itself.
        let right = usize::from(s > 1);
        let h = src.len() / s.max(1);
        let down = if h > 1 { s } else { 0 };
        out.extend(self.offsets.iter().zip(&self.weights).map(|(&off, wt)| {
            let i = off as usize;
            src[i] * wt[0]
                + src[i + right] * wt[1]
                + src[i + down] * wt[2]
                + src[i + down + right] * wt[3]
        }));
    }
}

impl NearestTable {
    /// The table for source positions rounded to the nearest voxel of a `(h, w)` plane.
    pub(crate) fn new(ys: &[f64], xs: &[f64], valid: &[bool], [h, w]: [usize; 2]) -> Self {
        let offsets = (0..ys.len())
            .map(|i| {
                let y = floor_i64(ys[i] + 0.5);
                let x = floor_i64(xs[i] + 0.5);
                let inside = valid[i] && y >= 0 && x >= 0 && y < h as i64 && x < w as i64;
                if inside {
                    (y as usize * w + x as usize) as u32
                } else {
                    OUTSIDE
                }
            })
            .collect();
        NearestTable { offsets }
    }

    /// Appends `src[offset[i]]` for every output pixel to `out`, zero where the position was
    /// outside.
    pub(crate) fn gather<T: Copy + Default>(&self, src: &[T], out: &mut Vec<T>) {
        out.extend(self.offsets.iter().map(|&off| {
            if off == OUTSIDE {
                T::default()
            } else {
                src[off as usize]
            }
        }));
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

/// Rows `y0..y1`, columns `x0..x1` of a plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
}

/// The `rect` part of a `(h, w)` plane smoothed by a separable Gaussian of `sigma`, edges
/// mirrored as scipy's `gaussian_filter` (mode `reflect`) does, in C order. Only the rows and
/// columns the part depends on are filtered.
pub(crate) fn gaussian_blur_rect(
    plane: &[f32],
    [h, w]: [usize; 2],
    sigma: f64,
    rect: Rect,
) -> Vec<f32> {
    let (rh, rw) = (rect.y1 - rect.y0, rect.x1 - rect.x0);
    if sigma <= 0.0 {
        return (rect.y0..rect.y1)
            .flat_map(|y| plane[y * w + rect.x0..y * w + rect.x1].iter().copied())
            .collect();
    }
    let kernel = gaussian_kernel(sigma);
    let r = kernel.len() / 2;
    // Rows y0 − r .. y1 + r (folded back into the plane), filtered along x over the rect's columns.
    let mut line = vec![0.0_f32; rw + 2 * r];
    let mut rows = vec![0.0_f32; (rh + 2 * r) * rw];
    for (k, out) in rows.chunks_exact_mut(rw).enumerate() {
        let sy = fold_symmetric(rect.y0 as i64 + k as i64 - r as i64, h as i64);
        let row = &plane[sy * w..(sy + 1) * w];
        for (j, v) in line.iter_mut().enumerate() {
            *v = row[fold_symmetric(rect.x0 as i64 + j as i64 - r as i64, w as i64)];
        }
        for (t, &kw) in kernel.iter().enumerate() {
            for (o, &v) in out.iter_mut().zip(&line[t..t + rw]) {
                *o += kw * v;
            }
        }
    }
    // Then along y.
    let mut out = vec![0.0_f32; rh * rw];
    for (y, o) in out.chunks_exact_mut(rw).enumerate() {
        for (t, &kw) in kernel.iter().enumerate() {
            let src = &rows[(y + t) * rw..(y + t + 1) * rw];
            for (a, &v) in o.iter_mut().zip(src) {
                *a += kw * v;
            }
        }
    }
    out
}

/// Smooths a whole `(h, w)` plane in place (see [`gaussian_blur_rect`]); `scratch` keeps the
/// smoothed copy between calls.
pub(crate) fn gaussian_blur_2d(
    plane: &mut [f32],
    [h, w]: [usize; 2],
    sigma: f64,
    scratch: &mut Vec<f32>,
) {
    if plane.is_empty() {
        return;
    }
    let full = Rect {
        y0: 0,
        y1: h,
        x0: 0,
        x1: w,
    };
    *scratch = gaussian_blur_rect(plane, [h, w], sigma, full);
    plane.copy_from_slice(scratch);
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

    #[test]
    fn gaussian_blur_rect_is_the_same_part_of_the_whole() {
        let (h, w) = (23, 17);
        let plane: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 11) as f32).collect();
        let mut whole = plane.clone();
        gaussian_blur_2d(&mut whole, [h, w], 1.5, &mut Vec::new());
        let rect = Rect {
            y0: 3,
            y1: 20,
            x0: 5,
            x1: 9,
        };
        let part = gaussian_blur_rect(&plane, [h, w], 1.5, rect);
        for y in rect.y0..rect.y1 {
            for x in rect.x0..rect.x1 {
                let a = part[(y - rect.y0) * 4 + x - rect.x0];
                assert!((a - whole[y * w + x]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn gaussian_blur_matches_direct_2d_convolution() {
        let (h, w) = (9, 7);
        let plane: Vec<f32> = (0..h * w).map(|i| ((i * 13) % 5) as f32).collect();
        let mut fast = plane.clone();
        gaussian_blur_2d(&mut fast, [h, w], 1.0, &mut Vec::new());
        let k = gaussian_kernel(1.0);
        let r = (k.len() / 2) as i64;
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let mut sum = 0.0_f64;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let sy = fold_symmetric(y + dy, h as i64);
                        let sx = fold_symmetric(x + dx, w as i64);
                        sum += f64::from(k[(dy + r) as usize] * k[(dx + r) as usize])
                            * f64::from(plane[sy * w + sx]);
                    }
                }
                assert!((sum - f64::from(fast[y as usize * w + x as usize])).abs() < 1e-4);
            }
        }
    }
}
