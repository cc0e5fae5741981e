//! Imaging defects of `img` targets: MissingParts, MotionBlur, CutBlur and CutNoise. Masks are
//! never touched; every `img` target gets the same drawn parameters.

use rand::Rng;
use serde_json::{json, Map, Value};

use super::intensity::with_plane;
use super::{params, Sample, SampleRng, Transform};
use crate::Result;

mod cut;
pub use cut::{CutBlur, CutNoise};

/// A straight line across a slice, dilated into a band and filled with the slice mean (PyTC
/// `MissingParts`).
///
/// Draws, in this order: walking the slices `z = 0, 1, …`, `u ~ U(0,1)`; when `u < p` the slice
/// is hit and the next slice is skipped (so no two consecutive slices are hit). For a hit, a
/// fair coin (`U(0,1) < 0.5`) picks a line from the top edge (row 0) to the bottom edge (row
/// `h − 1`) at columns `x0, x1` drawn uniformly from `[1, w − 2)`, else from the left edge to
/// the right edge at rows `y0, y1` drawn from `[1, h − 2)`. The line is rasterised with
/// Bresenham's algorithm; every pixel within Manhattan distance `iterations` of it (PyTC's
/// `iterations` binary dilations with the 4-connected cross) is set to the slice's mean before
/// filling, computed per `img` target. Slices smaller than 4×4 leave the transform skipped.
///
/// Recorded: `{"slices": [{"z": z, "from": [y, x], "to": [y, x]}, …]}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MissingParts {
    /// `P` (default 0.9): the Compose's probability, and the probability per slice.
    pub p: f64,
    /// `ITER` (default 64): the dilation radius.
    pub iterations: usize,
}

impl Default for MissingParts {
    fn default() -> Self {
        MissingParts {
            p: 0.9,
            iterations: 64,
        }
    }
}

impl Transform for MissingParts {
    fn name(&self) -> &'static str {
        "MissingParts"
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [d, h, w] = sample.shape();
        if h < 4 || w < 4 {
            return Ok(params! {"skipped" => format!("slices of {h}×{w} are smaller than 4×4")});
        }
        let mut hits = Vec::new();
        let mut z = 0;
        while z < d {
            if rng.random::<f64>() < self.p {
                let (from, to) = if rng.random::<f64>() < 0.5 {
                    let (x0, x1) = (rng.random_range(1..w - 2), rng.random_range(1..w - 2));
                    ([0, x0], [h - 1, x1])
                } else {
                    let (y0, y1) = (rng.random_range(1..h - 2), rng.random_range(1..h - 2));
                    ([y0, 0], [y1, w - 1])
                };
                hits.push((z, from, to));
                z += 2;
            } else {
                z += 1;
            }
        }
        let bands: Vec<Vec<(usize, usize)>> = hits
            .iter()
            .map(|&(_, from, to)| band_rows(from, to, self.iterations, [h, w]))
            .collect();
        let mut scratch = Vec::new();
        for image in sample.images_mut() {
            for (&(z, _, _), band) in hits.iter().zip(&bands) {
                with_plane(image, z, &mut scratch, |plane| {
                    let mean = plane_mean(plane, w);
                    for (row, &(lo, hi)) in plane.chunks_exact_mut(w).zip(band) {
                        if lo <= hi {
                            row[lo..=hi].fill(mean);
                        }
                    }
                });
            }
        }
        let slices: Vec<Value> = hits
            .iter()
            .map(|(z, from, to)| json!({"z": z, "from": from, "to": to}))
            .collect();
        Ok(params! {"slices" => slices})
    }
}

/// The pixels of the line `from → to` (Bresenham), each as `(y, x)`.
fn bresenham(from: [usize; 2], to: [usize; 2]) -> Vec<(i64, i64)> {
    let (mut y, mut x) = (from[0] as i64, from[1] as i64);
    let (y1, x1) = (to[0] as i64, to[1] as i64);
    let (dy, dx) = ((y1 - y).abs(), (x1 - x).abs());
    let (sy, sx) = ((y1 - y).signum(), (x1 - x).signum());
    let mut err = dx - dy;
    let mut pixels = Vec::with_capacity((dy.max(dx) + 1) as usize);
    loop {
        pixels.push((y, x));
        if y == y1 && x == x1 {
            return pixels;
        }
        let e2 = 2 * err;
        if e2 > -dy {
            err -= dy;
            x += sx;
        }
        if e2 < dx {
            err += dx;
            y += sy;
        }
    }
}

/// Per row, the inclusive column range `(lo, hi)` of pixels within Manhattan distance `radius`
/// of the line `from → to` (`lo > hi` for none).
///
/// Each row's set is one interval, `min/max over line rows s` of `x(s) ∓ (radius − |r − s|)`,
/// because the line is 8-connected and monotone. Along the line, `x_min(s) + |r − s|` (and
/// `x_max(s) − |r − s|`) is monotone on each side of `r` — a steep line moves at most one
/// column per row, a flat one at least one — so only the nearest line row and the two ends of
/// the window `[r − radius, r + radius]` need looking at: O(1) per row.
fn band_rows(
    from: [usize; 2],
    to: [usize; 2],
    radius: usize,
    [h, w]: [usize; 2],
) -> Vec<(usize, usize)> {
    let line = bresenham(from, to);
    let top = line.iter().map(|p| p.0).min().unwrap_or(0);
    let bottom = line.iter().map(|p| p.0).max().unwrap_or(0);
    let rows = (bottom - top + 1) as usize;
    let (mut xmin, mut xmax) = (vec![i64::MAX; rows], vec![i64::MIN; rows]);
    for &(y, x) in &line {
        let i = (y - top) as usize;
        xmin[i] = xmin[i].min(x);
        xmax[i] = xmax[i].max(x);
    }
    let r = radius as i64;
    (0..h as i64)
        .map(|row| {
            let (a, b) = ((row - r).max(top), (row + r).min(bottom));
            if a > b {
                return (1, 0);
            }
            let (mut lo, mut hi) = (i64::MAX, i64::MIN);
            for s in [a, b, row.clamp(a, b)] {
                let reach = r - (row - s).abs();
                lo = lo.min(xmin[(s - top) as usize] - reach);
                hi = hi.max(xmax[(s - top) as usize] + reach);
            }
            (lo.max(0) as usize, hi.min(w as i64 - 1) as usize)
        })
        .collect()
}

/// The mean of a slice: rows summed in eight `f32` lanes (vectorised), rows added in `f64`.
fn plane_mean(plane: &[f32], w: usize) -> f32 {
    let total: f64 = plane
        .chunks_exact(w)
        .map(|row| {
            let mut lanes = [0.0f32; 8];
            let mut chunks = row.chunks_exact(8);
            for c in &mut chunks {
                for (l, &v) in lanes.iter_mut().zip(c) {
                    *l += v;
                }
            }
            let rest: f64 = chunks.remainder().iter().map(|&v| f64::from(v)).sum();
            lanes.iter().map(|&l| f64::from(l)).sum::<f64>() + rest
        })
        .sum();
    (total / plane.len() as f64) as f32
}

/// A horizontal or vertical line blur of a few slices (PyTC `MotionBlur`).
///
/// Draws, in this order: a fair coin (`U(0,1) < 0.5`: horizontal, else vertical), shared by
/// every slice blurred; then `min(sections, z)` distinct slices (a partial Fisher–Yates
/// shuffle, `random_range(i..z)` for the `i`-th). Each is correlated with a line of
/// `kernel_size` taps of weight `1/kernel_size` at offsets `−⌊k/2⌋ ..= k − 1 − ⌊k/2⌋` (OpenCV's
/// anchor), edges mirrored as OpenCV's `BORDER_REFLECT_101` (`c b | a b c | b a`). PyTC's even
/// kernels are also shifted one pixel across the line; that is not copied. A `kernel_size` or
/// `sections` of 0 skips the transform.
///
/// Recorded: `{"direction": "horizontal" | "vertical", "slices": [z, …]}`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MotionBlur {
    /// `P` (default 0.5).
    pub p: f64,
    /// `SECTIONS` (default 2): slices blurred.
    pub sections: usize,
    /// `KERNEL_SIZE` (default 11): taps of the line kernel.
    pub kernel_size: usize,
}

impl Default for MotionBlur {
    fn default() -> Self {
        MotionBlur {
            p: 0.5,
            sections: 2,
            kernel_size: 11,
        }
    }
}

impl MotionBlur {
    /// The largest `kernel_size` (taps of the line kernel).
    pub const MAX_KERNEL_SIZE: usize = 4096;
}

impl Transform for MotionBlur {
    fn name(&self) -> &'static str {
        "MotionBlur"
    }
    fn check(&self) -> Result<()> {
        if self.kernel_size > Self::MAX_KERNEL_SIZE {
            return Err(crate::Error::Augment(format!(
                "MotionBlur: kernel_size {} is above the limit of {} taps",
                self.kernel_size,
                Self::MAX_KERNEL_SIZE
            )));
        }
        Ok(())
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [d, h, w] = sample.shape();
        if self.kernel_size == 0 || self.sections == 0 || d * h * w == 0 {
            return Ok(params! {"skipped" => "no slice or no tap to blur"});
        }
        let horizontal = rng.random::<f64>() < 0.5;
        let mut order: Vec<usize> = (0..d).collect();
        let n = self.sections.min(d);
        for i in 0..n {
            let j = rng.random_range(i..d);
            order.swap(i, j);
        }
        order.truncate(n);
        let empty = || {
            let mut v = crate::recycle::take::<f32>(h * w);
            v.clear();
            v
        };
        let (mut plane_scratch, mut blur_scratch) = (empty(), empty());
        for image in sample.images_mut() {
            for &z in &order {
                with_plane(image, z, &mut plane_scratch, |plane| {
                    line_blur(
                        plane,
                        [h, w],
                        self.kernel_size,
                        horizontal,
                        &mut blur_scratch,
                    );
                });
            }
        }
        crate::recycle::give(plane_scratch);
        crate::recycle::give(blur_scratch);
        Ok(params! {
            "direction" => if horizontal { "horizontal" } else { "vertical" },
            "slices" => order,
        })
    }
}

/// Index `i` folded into `[0, n)` as OpenCV's `BORDER_REFLECT_101` (numpy `reflect`).
fn fold_reflect_101(i: i64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let i = i.rem_euclid(period);
    (if i >= n as i64 { period - i } else { i }) as usize
}

crate::simd::dispatched! {
    /// Correlates a `(h, w)` plane with a normalised line of `k` taps along x (`horizontal`) or y.
    fn line_blur(
        plane: &mut [f32],
        [h, w]: [usize; 2],
        k: usize,
        horizontal: bool,
        scratch: &mut Vec<f32>,
    ) {
        let before = (k / 2) as i64;
        let scale = 1.0 / k as f32;
        if horizontal {
            // Each row goes into a mirrored line of `w + k − 1`; taps are shifted slices of it.
            let padded = w + k - 1;
            scratch.clear();
            scratch.resize(padded + w, 0.0);
            let (line, acc) = scratch.split_at_mut(padded);
            let before = before as usize;
            for row in plane.chunks_exact_mut(w) {
                for (j, v) in line[..before].iter_mut().enumerate() {
                    *v = row[fold_reflect_101(j as i64 - before as i64, w)];
                }
                line[before..before + w].copy_from_slice(row);
                for (j, v) in line.iter_mut().enumerate().skip(before + w) {
                    *v = row[fold_reflect_101(j as i64 - before as i64, w)];
                }
                acc.copy_from_slice(&line[..w]);
                for t in 1..k {
                    for (a, &v) in acc.iter_mut().zip(&line[t..t + w]) {
                        *a += v;
                    }
                }
                for (r, &a) in row.iter_mut().zip(acc.iter()) {
                    *r = a * scale;
                }
            }
        } else {
            scratch.clear();
            scratch.extend_from_slice(plane);
            let source = &scratch[..];
            for (y, out) in plane.chunks_exact_mut(w).enumerate() {
                let row = |t: usize| {
                    let sy = fold_reflect_101(y as i64 + t as i64 - before, h);
                    &source[sy * w..(sy + 1) * w]
                };
                out.copy_from_slice(row(0));
                for t in 1..k {
                    for (o, &v) in out.iter_mut().zip(row(t)) {
                        *o += v;
                    }
                }
                for o in out.iter_mut() {
                    *o *= scale;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_matches_opencv() {
        let f101: Vec<usize> = (-4..8).map(|i| fold_reflect_101(i, 4)).collect();
        assert_eq!(f101, [2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        assert_eq!(fold_reflect_101(-7, 1), 0);
    }

    #[test]
    fn band_covers_manhattan_ball_of_line() {
        let (h, w) = (13, 17);
        let ends = [
            [0, 3],
            [12, 9],
            [5, 0],
            [7, 16],
            [0, 15],
            [12, 1],
            [6, 16],
            [4, 0],
        ];
        for (i, &from) in ends.iter().enumerate() {
            for &to in &ends[i + 1..] {
                let line = bresenham(from, to);
                for radius in [0, 1, 2, 5, 20] {
                    let band = band_rows(from, to, radius, [h, w]);
                    for (y, &(lo, hi)) in band.iter().enumerate() {
                        for x in 0..w as i64 {
                            let d = |&(ly, lx): &(i64, i64)| (ly - y as i64).abs() + (lx - x).abs();
                            let near = line.iter().any(|p| d(p) <= radius as i64);
                            let inside = (lo as i64..=hi as i64).contains(&x);
                            assert_eq!(near, inside, "{from:?}→{to:?} r {radius} at ({y}, {x})");
                        }
                    }
                }
            }
        }
    }
}
