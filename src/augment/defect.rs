//! Imaging defects of `img` targets: MissingParts, MotionBlur, CutBlur and CutNoise. Masks are
//! never touched; every `img` target gets the same drawn parameters.

use ndarray::{s, Array3, Axis};
use rand::Rng;
use serde_json::{json, Map, Value};

use super::intensity::{clip_unit, with_plane};
use super::kernel::gaussian_kernel;
use super::{params, Sample, SampleRng, Transform};
use crate::Result;

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

impl Transform for MotionBlur {
    fn name(&self) -> &'static str {
        "MotionBlur"
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
        let (mut plane_scratch, mut blur_scratch) = (Vec::new(), Vec::new());
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

/// The side of a cuboid along an axis of `len`: `int(ratio · len)`, at most `len`.
fn cuboid_side(ratio: f64, len: usize) -> usize {
    ((ratio * len as f64) as usize).min(len)
}

/// A cuboid's range along an axis: start drawn uniformly from `[0, len − side]`.
fn draw_range(rng: &mut SampleRng, len: usize, side: usize) -> [usize; 2] {
    let start = rng.random_range(0..=len - side);
    [start, start + side]
}

/// A low-resolution cuboid (PyTC `CutBlur`, from the CutBlur paper).
///
/// The cuboid has sides `int(length_ratio · L)` in y and x, and in z when `downsample_z` (all
/// of z otherwise). Draws, in this order: the z start (only with `downsample_z`), the y start
/// and the x start, each uniform in `[0, L − side]`; then the down ratio
/// `r = down_ratio_min + (down_ratio_max − down_ratio_min)·U(0,1)` (ratios below 1 count as 1).
/// Each downsampled axis of side `s` becomes `max(1, int(s / r))` long: a Gaussian pre-blur of
/// `σ = (r − 1)/2` (scikit-image's anti-aliasing, which derives σ from the realised factor
/// `s / out` instead; edges mirrored as scipy's `reflect`) followed by linear interpolation at
/// `(j + 0.5)·s/out − 0.5`, both fused into one table of taps per output voxel. The result is
/// upsampled back with nearest neighbour (`out` index `⌊(2i + 1)·out / 2s⌋`). An empty
/// cuboid skips the transform.
///
/// Recorded: `{"z": [z0, z1], "y": [y0, y1], "x": [x0, x1], "down_ratio": r,
/// "down_shape": [dz, dy, dx]}` (half-open ranges).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CutBlur {
    /// `P` (default 0.5).
    pub p: f64,
    /// `LENGTH_RATIO` (default 0.4).
    pub length_ratio: f64,
    /// `DOWN_RATIO_MIN` (default 2).
    pub down_ratio_min: f64,
    /// `DOWN_RATIO_MAX` (default 8).
    pub down_ratio_max: f64,
    /// `DOWNSAMPLE_Z` (default false).
    pub downsample_z: bool,
}

impl Default for CutBlur {
    fn default() -> Self {
        CutBlur {
            p: 0.5,
            length_ratio: 0.4,
            down_ratio_min: 2.0,
            down_ratio_max: 8.0,
            downsample_z: false,
        }
    }
}

impl Transform for CutBlur {
    fn name(&self) -> &'static str {
        "CutBlur"
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [d, h, w] = sample.shape();
        let sz = if self.downsample_z {
            cuboid_side(self.length_ratio, d)
        } else {
            d
        };
        let (sy, sx) = (
            cuboid_side(self.length_ratio, h),
            cuboid_side(self.length_ratio, w),
        );
        if sz * sy * sx == 0 {
            return Ok(params! {"skipped" => "empty cuboid"});
        }
        let zr = if self.downsample_z {
            draw_range(rng, d, sz)
        } else {
            [0, d]
        };
        let yr = draw_range(rng, h, sy);
        let xr = draw_range(rng, w, sx);
        let span = self.down_ratio_max - self.down_ratio_min;
        let ratio = (self.down_ratio_min + span * rng.random::<f64>()).max(1.0);
        let down = |s: usize| ((s as f64 / ratio) as usize).clamp(1, s);
        let sigma = (ratio - 1.0) / 2.0;
        let tz = self
            .downsample_z
            .then(|| Downsample::new(sz, down(sz), sigma));
        let ty = Downsample::new(sy, down(sy), sigma);
        let tx = Downsample::new(sx, down(sx), sigma);
        let oz = tz.as_ref().map_or(sz, |t| t.out);
        for image in sample.images_mut() {
            cut_blur(image, [zr, yr, xr], tz.as_ref(), &ty, &tx);
        }
        Ok(params! {
            "z" => zr.to_vec(), "y" => yr.to_vec(), "x" => xr.to_vec(), "down_ratio" => ratio,
            "down_shape" => vec![oz, ty.out, tx.out],
        })
    }
}

/// Anti-aliased linear downsampling of one axis from `len` to `out`: per output, `taps`
/// input indices (folded inside the axis) and weights.
struct Downsample {
    len: usize,
    out: usize,
    taps: usize,
    index: Vec<usize>,
    weight: Vec<f32>,
}

impl Downsample {
    fn new(len: usize, out: usize, sigma: f64) -> Self {
        let kernel: Vec<f64> = if sigma > 0.0 {
            gaussian_kernel(sigma).into_iter().map(f64::from).collect()
        } else {
            vec![1.0]
        };
        let r = (kernel.len() / 2) as i64;
        let taps = kernel.len() + 1;
        let (mut index, mut weight) = (
            Vec::with_capacity(out * taps),
            Vec::with_capacity(out * taps),
        );
        for j in 0..out {
            let c = ((j as f64 + 0.5) * len as f64 / out as f64 - 0.5).clamp(0.0, (len - 1) as f64);
            let i0 = c.floor();
            let f = c - i0;
            // (1 − f)·blur[i0] + f·blur[i0 + 1], with blur[i] = Σ_k kernel[k]·x[i + k − r].
            for t in 0..taps {
                let lower = kernel.get(t).map_or(0.0, |k| (1.0 - f) * k);
                let upper = t
                    .checked_sub(1)
                    .and_then(|t| kernel.get(t))
                    .map_or(0.0, |k| f * k);
                index.push(fold_reflect(i0 as i64 + t as i64 - r, len));
                weight.push((lower + upper) as f32);
            }
        }
        Downsample {
            len,
            out,
            taps,
            index,
            weight,
        }
    }

    /// The output index an upsampled position `i` reads (nearest neighbour).
    fn nearest(&self, i: usize) -> usize {
        ((2 * i + 1) * self.out / (2 * self.len)).min(self.out - 1)
    }
}

/// Index `i` folded into `[0, n)` as scipy's `reflect` mode (`b a | a b c | c b`).
fn fold_reflect(i: i64, n: usize) -> usize {
    let n = n as i64;
    let i = i.rem_euclid(2 * n);
    (if i >= n { 2 * n - 1 - i } else { i }) as usize
}

/// Replaces the cuboid `[z, y, x]` of `image` by its downsampled-then-upsampled self.
fn cut_blur(
    image: &mut Array3<f32>,
    [zr, yr, xr]: [[usize; 2]; 3],
    tz: Option<&Downsample>,
    ty: &Downsample,
    tx: &Downsample,
) {
    let (sz, sy, sx) = (zr[1] - zr[0], yr[1] - yr[0], xr[1] - xr[0]);
    let (oy, ox) = (ty.out, tx.out);
    let mut cuboid_plane = Vec::with_capacity(sy * sx);
    let mut yres = vec![0.0f32; oy * sx];
    let mut transposed = vec![0.0f32; sx * oy];
    let mut low2d = Vec::with_capacity(sz * oy * ox);
    let mut row_buf = Vec::with_capacity(sx);
    for z in zr[0]..zr[1] {
        // The cuboid's slice, contiguous.
        cuboid_plane.clear();
        for y in yr[0]..yr[1] {
            let row = image.slice(s![z, y, xr[0]..xr[1]]);
            match row.as_slice() {
                Some(r) => cuboid_plane.extend_from_slice(r),
                None => cuboid_plane.extend(row.iter().copied()),
            }
        }
        // y first, whole rows at a time (vectorised): `oy` rows of `sx`.
        yres.fill(0.0);
        for (j, out) in yres.chunks_exact_mut(sx).enumerate() {
            for t in 0..ty.taps {
                let (i, w) = (ty.index[j * ty.taps + t], ty.weight[j * ty.taps + t]);
                for (o, &v) in out.iter_mut().zip(&cuboid_plane[i * sx..(i + 1) * sx]) {
                    *o += w * v;
                }
            }
        }
        // Then x, on the few remaining rows, transposed so that it vectorises too: the slice's
        // result is stored x-major, `ox` columns of `oy`.
        for (y, row) in yres.chunks_exact(sx).enumerate() {
            for (x, &v) in row.iter().enumerate() {
                transposed[x * oy + y] = v;
            }
        }
        let start = low2d.len();
        low2d.resize(start + ox * oy, 0.0);
        for (j, out) in low2d[start..].chunks_exact_mut(oy).enumerate() {
            for t in 0..tx.taps {
                let (i, w) = (tx.index[j * tx.taps + t], tx.weight[j * tx.taps + t]);
                for (o, &v) in out.iter_mut().zip(&transposed[i * oy..(i + 1) * oy]) {
                    *o += w * v;
                }
            }
        }
    }
    // z, with DOWNSAMPLE_Z: whole planes at a time.
    let plane = oy * ox;
    let low = match tz {
        None => low2d,
        Some(tz) => {
            let mut low = vec![0.0f32; tz.out * plane];
            for (j, out) in low.chunks_exact_mut(plane).enumerate() {
                for t in 0..tz.taps {
                    let (i, w) = (tz.index[j * tz.taps + t], tz.weight[j * tz.taps + t]);
                    for (o, &v) in out.iter_mut().zip(&low2d[i * plane..(i + 1) * plane]) {
                        *o += w * v;
                    }
                }
            }
            low
        }
    };
    // Nearest-neighbour upsampling: build each distinct row once, copy it to its rows.
    let near_x: Vec<usize> = (0..sx).map(|i| tx.nearest(i)).collect();
    let mut last = None;
    for z in 0..sz {
        let lz = tz.map_or(z, |t| t.nearest(z));
        for y in 0..sy {
            let key = (lz, ty.nearest(y));
            if last != Some(key) {
                // Slices of `low` are x-major (`ox` columns of `oy`).
                let src = &low[key.0 * oy * ox..][..oy * ox];
                row_buf.clear();
                row_buf.extend(near_x.iter().map(|&i| src[i * oy + key.1]));
                last = Some(key);
            }
            let mut dst = image.slice_mut(s![zr[0] + z, yr[0] + y, xr[0]..xr[1]]);
            match dst.as_slice_mut() {
                Some(d) => d.copy_from_slice(&row_buf),
                None => dst.iter_mut().zip(&row_buf).for_each(|(d, &v)| *d = v),
            }
        }
    }
}

/// Uniform noise in a random cuboid (PyTC `CutNoise`).
///
/// The cuboid has sides `int(length_ratio · L)` in z, y and x (a sample of one slice keeps its
/// slice, as PyTC). Draws, in this order: the z, y and x starts, each uniform in
/// `[0, L − side]`; then one `u = random::<f32>()` per voxel of the cuboid in C order, the
/// noise being `scale·(2u − 1)` (so in `[−scale, scale)`). Each voxel of the cuboid becomes
/// `clip(x + noise, 0, 1)`; every `img` target gets the same noise. An empty cuboid skips the
/// transform.
///
/// Recorded: `{"z": [z0, z1], "y": [y0, y1], "x": [x0, x1]}` (half-open ranges).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CutNoise {
    /// `P` (default 0.75).
    pub p: f64,
    /// `LENGTH_RATIO` (default 0.4).
    pub length_ratio: f64,
    /// `SCALE` (default 0.3).
    pub scale: f64,
}

impl Default for CutNoise {
    fn default() -> Self {
        CutNoise {
            p: 0.75,
            length_ratio: 0.4,
            scale: 0.3,
        }
    }
}

impl Transform for CutNoise {
    fn name(&self) -> &'static str {
        "CutNoise"
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [d, h, w] = sample.shape();
        let sz = if d == 1 {
            1
        } else {
            cuboid_side(self.length_ratio, d)
        };
        let (sy, sx) = (
            cuboid_side(self.length_ratio, h),
            cuboid_side(self.length_ratio, w),
        );
        if sz * sy * sx == 0 {
            return Ok(params! {"skipped" => "empty cuboid"});
        }
        let zr = draw_range(rng, d, sz);
        let yr = draw_range(rng, h, sy);
        let xr = draw_range(rng, w, sx);
        let scale = self.scale as f32;
        let noise: Vec<f32> = (0..sz * sy * sx)
            .map(|_| scale * (2.0 * rng.random::<f32>() - 1.0))
            .collect();
        for image in sample.images_mut() {
            let mut cuboid = image.slice_mut(s![zr[0]..zr[1], yr[0]..yr[1], xr[0]..xr[1]]);
            for (mut row, n) in cuboid
                .lanes_mut(Axis(2))
                .into_iter()
                .zip(noise.chunks_exact(sx))
            {
                let add = |v: &mut f32, &n: &f32| *v = clip_unit(*v + n);
                match row.as_slice_mut() {
                    Some(r) => r.iter_mut().zip(n).for_each(|(v, n)| add(v, n)),
                    None => row.iter_mut().zip(n).for_each(|(v, n)| add(v, n)),
                }
            }
        }
        Ok(params! {"z" => zr.to_vec(), "y" => yr.to_vec(), "x" => xr.to_vec()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_match_opencv_and_scipy() {
        let f101: Vec<usize> = (-4..8).map(|i| fold_reflect_101(i, 4)).collect();
        assert_eq!(f101, [2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        let f: Vec<usize> = (-4..8).map(|i| fold_reflect(i, 4)).collect();
        assert_eq!(f, [3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0]);
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

    #[test]
    fn downsample_matches_blur_then_interpolate() {
        use super::super::kernel::gaussian_blur_2d;
        let (len, out, sigma) = (23, 5, 1.7);
        let x: Vec<f32> = (0..len).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
        // A 1-row plane blurred along x by the shared kernel, then interpolated by hand.
        let mut blurred = x.clone();
        gaussian_blur_2d(&mut blurred, [1, len], sigma, &mut Vec::new());
        let t = Downsample::new(len, out, sigma);
        for j in 0..out {
            let c = (j as f64 + 0.5) * len as f64 / out as f64 - 0.5;
            let (i0, f) = (c.floor() as usize, (c - c.floor()) as f32);
            let expect = (1.0 - f) * blurred[i0] + f * blurred[(i0 + 1).min(len - 1)];
            let got: f32 = (0..t.taps)
                .map(|k| t.weight[j * t.taps + k] * x[t.index[j * t.taps + k]])
                .sum();
            assert!((got - expect).abs() < 1e-5, "{j}: {got} vs {expect}");
        }
    }
}
