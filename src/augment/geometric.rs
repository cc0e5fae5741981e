//! Rotate, Rescale and Elastic: in-plane geometric transforms, queued as coordinate maps and
//! interpolated once (see `warp`).

use rand::Rng;
use serde_json::{Map, Value};

use super::kernel::{floor_i64, gaussian_blur_rect, Rect};
use super::warp::PlaneMap;
use super::{params, Growth, Sample, SampleRng, Transform};
use crate::Result;

/// Rotation in the `(y, x)` plane (PyTC `ROTATE`).
///
/// With `rot90` (the default) `k` is uniform in `{0, 1, 2, 3}` and the planes are turned by
/// `k · 90°` as `numpy.rot90(.., k, axes=(1, 2))` does: an exact index permutation (for planes
/// that are not square, `k` is uniform in `{0, 2}`, since odd turns would change their shape). Otherwise the
/// angle is U(0, 360) degrees about the plane's centre, zero outside, and y, x of the sample grow
/// by a factor 1.42 so the crop never sees the corners.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rotate {
    /// `P` (default 1.0).
    pub p: f64,
    /// `ROT90` (default true).
    pub rot90: bool,
}

impl Default for Rotate {
    fn default() -> Self {
        Rotate {
            p: 1.0,
            rot90: true,
        }
    }
}

impl Transform for Rotate {
    fn name(&self) -> &'static str {
        "Rotate"
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn growth(&self) -> Growth {
        if self.rot90 {
            Growth::NONE
        } else {
            Growth {
                ratio: [1.0, 1.42, 1.42],
                add: [0; 3],
            }
        }
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [_, h, w] = sample.shape();
        if self.rot90 {
            // Odd turns of a non-square plane would change its shape: only k = 0, 2 there.
            let k = if h == w {
                rng.random_range(0..4u8)
            } else {
                2 * rng.random_range(0..2u8)
            };
            if k != 0 {
                sample.push_warp(Box::new(Rot90 { k, input: [h, w] }));
            }
            Ok(params! {"k" => k})
        } else {
            let degrees = rng.random::<f64>() * 360.0;
            sample.push_warp(Box::new(Turn::new([h, w], degrees)));
            Ok(params! {"angle" => degrees})
        }
    }
}

/// `numpy.rot90(plane, k)`: output `(i, j)` reads input `(j, w − 1 − i)` for `k = 1`.
#[derive(Debug)]
struct Rot90 {
    k: u8,
    input: [usize; 2],
}

impl PlaneMap for Rot90 {
    fn input(&self) -> [usize; 2] {
        self.input
    }
    fn output(&self) -> [usize; 2] {
        let [h, w] = self.input;
        if self.k % 2 == 1 {
            [w, h]
        } else {
            [h, w]
        }
    }
    fn map(&self, ys: &mut [f64], xs: &mut [f64]) {
        let (h, w) = (self.input[0] as f64, self.input[1] as f64);
        for (y, x) in ys.iter_mut().zip(xs.iter_mut()) {
            let (i, j) = (*y, *x);
            (*y, *x) = match self.k {
                1 => (j, w - 1.0 - i),
                2 => (h - 1.0 - i, w - 1.0 - j),
                _ => (h - 1.0 - j, i),
            };
        }
    }
    fn integral(&self) -> bool {
        true
    }
}

/// A rotation by `degrees` about the plane's centre, same-size output.
#[derive(Debug)]
pub(crate) struct Turn {
    size: [usize; 2],
    cos: f64,
    sin: f64,
}

impl Turn {
    pub(crate) fn new(size: [usize; 2], degrees: f64) -> Self {
        let r = degrees.to_radians();
        Turn {
            size,
            cos: r.cos(),
            sin: r.sin(),
        }
    }
}

impl PlaneMap for Turn {
    fn input(&self) -> [usize; 2] {
        self.size
    }
    fn output(&self) -> [usize; 2] {
        self.size
    }
    fn map(&self, ys: &mut [f64], xs: &mut [f64]) {
        let cy = (self.size[0] as f64 - 1.0) / 2.0;
        let cx = (self.size[1] as f64 - 1.0) / 2.0;
        turn_positions(ys, xs, [cy, cx], [self.cos, self.sin]);
    }
}

/// Scaling in `(y, x)` (PyTC `RESCALE`).
///
/// Scales `s_y, s_x` are U(`low`, `high`) (one draw for both with `fix_aspect`). Per axis of
/// length `n`, the region of length `L = round(n / s)` is taken — at a uniform random offset in
/// `[0, n − L]` when smaller than the plane, centred and zero-padded when larger — and resized
/// back to `n` (pixel centres aligned as scikit-image's `resize` does). The anti-aliasing
/// Gaussian that scikit-image applies when shrinking has σ = (L/n − 1)/2 ≤ 0.125 px for scales
/// ≥ 0.8, whose neighbour weights are below 1e-13: it is exactly skipped. y, x of the sample grow
/// by `1 / low`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rescale {
    /// `P` (default 0.5).
    pub p: f64,
    /// Lowest scale (default 0.8).
    pub low: f64,
    /// Highest scale (default 1.25).
    pub high: f64,
    /// `FIX_ASPECT` (default false): one scale for y and x.
    pub fix_aspect: bool,
}

impl Default for Rescale {
    fn default() -> Self {
        Rescale {
            p: 0.5,
            low: 0.8,
            high: 1.25,
            fix_aspect: false,
        }
    }
}

impl Transform for Rescale {
    fn name(&self) -> &'static str {
        "Rescale"
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn growth(&self) -> Growth {
        let r = 1.0 / self.low;
        Growth {
            ratio: [1.0, r, r],
            add: [0; 3],
        }
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [_, h, w] = sample.shape();
        let sy = rng.random_range(self.low..=self.high);
        let sx = if self.fix_aspect {
            sy
        } else {
            rng.random_range(self.low..=self.high)
        };
        let mut axis = |n: usize, s: f64| {
            let region = ((n as f64 / s).round() as usize).max(1);
            let offset = if region <= n {
                rng.random_range(0..=n - region) as f64
            } else {
                -(((region - n) / 2) as f64)
            };
            (region, offset)
        };
        let (ry, oy) = axis(h, sy);
        let (rx, ox) = axis(w, sx);
        sample.push_warp(Box::new(Scale {
            size: [h, w],
            step: [ry as f64 / h as f64, rx as f64 / w as f64],
            offset: [oy, ox],
        }));
        Ok(
            params! {"scale_y" => sy, "scale_x" => sx, "region" => vec![ry, rx], "offset" => vec![oy, ox]},
        )
    }
}

/// Output `q` reads input `(q + 0.5) · step − 0.5 + offset`, per axis.
#[derive(Debug)]
struct Scale {
    size: [usize; 2],
    step: [f64; 2],
    offset: [f64; 2],
}

impl PlaneMap for Scale {
    fn input(&self) -> [usize; 2] {
        self.size
    }
    fn output(&self) -> [usize; 2] {
        self.size
    }
    fn map(&self, ys: &mut [f64], xs: &mut [f64]) {
        scale_positions(ys, self.step[0], self.offset[0]);
        scale_positions(xs, self.step[1], self.offset[1]);
    }
}

crate::simd::dispatched! {
    /// [`Turn`]'s rotation of positions about the plane's centre `(cy, cx)`.
    fn turn_positions(ys: &mut [f64], xs: &mut [f64], [cy, cx]: [f64; 2], [cos, sin]: [f64; 2]) {
        for (y, x) in ys.iter_mut().zip(xs.iter_mut()) {
            let (dy, dx) = (*y - cy, *x - cx);
            *y = cy + sin * dx + cos * dy;
            *x = cx + cos * dx - sin * dy;
        }
    }
}

crate::simd::dispatched! {
    /// [`Scale`]'s map along one axis: pixel centres aligned, then shifted by `offset`.
    fn scale_positions(c: &mut [f64], step: f64, offset: f64) {
        for v in c.iter_mut() {
            *v = (*v + 0.5) * step - 0.5 + offset;
        }
    }
}

/// Elastic deformation (PyTC `ELASTIC`): one 2D displacement field for all slices.
///
/// `dy` and `dx` are fields of U(−1, 1) values (x's drawn first), each smoothed by a Gaussian of
/// `sigma` (scipy's `gaussian_filter`, mirrored edges) and multiplied by `alpha`; output `(y, x)`
/// reads input `(y + dy, x + dx)`, zero outside. y, x of the sample grow by `int(alpha) + 1` on
/// each side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elastic {
    /// `P` (default 0.75).
    pub p: f64,
    /// `ALPHA`: displacement scale in pixels (default 16).
    pub alpha: f64,
    /// `SIGMA`: smoothing of the field in pixels (default 4).
    pub sigma: f64,
}

impl Default for Elastic {
    fn default() -> Self {
        Elastic {
            p: 0.75,
            alpha: 16.0,
            sigma: 4.0,
        }
    }
}

impl Elastic {
    /// The largest `sigma`, in pixels: the smoothing kernel has `8σ + 1` taps.
    pub const MAX_SIGMA: f64 = 1024.0;
}

impl Transform for Elastic {
    fn name(&self) -> &'static str {
        "Elastic"
    }
    fn check(&self) -> Result<()> {
        // A sigma of 0 leaves the field unsmoothed.
        if !(0.0..=Self::MAX_SIGMA).contains(&self.sigma) {
            return Err(crate::Error::Augment(format!(
                "Elastic: sigma {} must be in [0, {}] (a Gaussian kernel of {:.0} taps)",
                self.sigma,
                Self::MAX_SIGMA,
                8.0 * self.sigma + 1.0
            )));
        }
        if !(0.0..=1.0e6).contains(&self.alpha) {
            return Err(crate::Error::Augment(format!(
                "Elastic: alpha {} must be in [0, 1000000]",
                self.alpha
            )));
        }
        Ok(())
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn growth(&self) -> Growth {
        let m = self.alpha as usize + 1;
        Growth {
            ratio: [1.0; 3],
            add: [0, m, m],
        }
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [_, h, w] = sample.shape();
        // Smoothing is linear, so the noise is scaled by alpha first; the fields are smoothed
        // only where the composed warp reads them (see `Displacement::map`).
        let alpha = self.alpha as f32;
        let mut noise = || -> Vec<f32> {
            let mut field = crate::recycle::take(h * w);
            for v in &mut field {
                *v = (rng.random::<f32>() * 2.0 - 1.0) * alpha;
            }
            field
        };
        let dx = noise();
        let dy = noise();
        sample.push_warp(Box::new(Displacement {
            size: [h, w],
            sigma: self.sigma,
            dy,
            dx,
        }));
        Ok(params! {"alpha" => self.alpha, "sigma" => self.sigma})
    }
}

/// The noise goes back to this thread's pool once the warp has run.
impl Drop for Displacement {
    fn drop(&mut self) {
        crate::recycle::give(std::mem::take(&mut self.dy));
        crate::recycle::give(std::mem::take(&mut self.dx));
    }
}

/// Output `(y, x)` reads `(y + dy(y, x), x + dx(y, x))`, the smoothed fields interpolated
/// bilinearly (clamped at the plane's edges).
#[derive(Debug)]
struct Displacement {
    size: [usize; 2],
    sigma: f64,
    /// Unsmoothed noise, already scaled by alpha.
    dy: Vec<f32>,
    dx: Vec<f32>,
}

impl PlaneMap for Displacement {
    fn input(&self) -> [usize; 2] {
        self.size
    }
    fn output(&self) -> [usize; 2] {
        self.size
    }
    fn map(&self, ys: &mut [f64], xs: &mut [f64]) {
        let [h, w] = self.size;
        let clamp = |v: f64, n: usize| v.clamp(0.0, (n - 1) as f64);
        // The rectangle of the plane the positions read, one more for bilinear reads.
        let bounds = |c: &[f64], n: usize| {
            let (lo, hi) = c
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let lo = floor_i64(clamp(lo, n)) as usize;
            let hi = (floor_i64(clamp(hi, n)) as usize + 2).min(n);
            (lo, hi)
        };
        if ys.is_empty() {
            return;
        }
        let (y0, y1) = bounds(ys, h);
        let (x0, x1) = bounds(xs, w);
        let rect = Rect { y0, y1, x0, x1 };
        let dy = gaussian_blur_rect(&self.dy, self.size, self.sigma, rect);
        let dx = gaussian_blur_rect(&self.dx, self.size, self.sigma, rect);
        // Both fields side by side: one bounds check and one cache line per corner.
        let mut field = crate::recycle::take::<[f32; 2]>(dy.len());
        for ((f, &a), &b) in field.iter_mut().zip(&dy).zip(&dx) {
            *f = [a, b];
        }
        crate::recycle::give(dy);
        crate::recycle::give(dx);
        displace(ys, xs, &field, [h, w], rect);
        crate::recycle::give(field);
    }
}

crate::simd::dispatched! {
    /// Adds to each position the displacement `field` (the smoothed `[dy, dx]` over `rect` of
    /// an `[h, w]` plane) interpolated bilinearly there, clamped to the plane.
    fn displace(ys: &mut [f64], xs: &mut [f64], field: &[[f32; 2]], [h, w]: [usize; 2], rect: Rect) {
        let Rect { y0, y1, x0, x1 } = rect;
        let rw = x1 - x0;
        let (hm, wm) = ((h - 1) as f64, (w - 1) as f64);
        for (y, x) in ys.iter_mut().zip(xs.iter_mut()) {
            // Clamped to the plane, so truncation is the floor.
            let (cy, cx) = (y.clamp(0.0, hm), x.clamp(0.0, wm));
            let (iy, ix) = (cy as usize, cx as usize);
            let (fy, fx) = ((cy - iy as f64) as f32, (cx - ix as f64) as f32);
            let down = if iy + 1 < y1 { rw } else { 0 };
            let right = usize::from(ix + 1 < x1);
            let at = (iy - y0) * rw + (ix - x0);
            let (a, b) = (field[at], field[at + right]);
            let (c, d) = (field[at + down], field[at + down + right]);
            *y += bilinear([a[0], b[0], c[0], d[0]], fy, fx);
            *x += bilinear([a[1], b[1], c[1], d[1]], fy, fx);
        }
    }
}

/// `lerp(lerp(a, b, fx), lerp(c, d, fx), fy)` (a function, not a closure, so that it is inlined
/// into every instruction-set version of [`displace`]).
#[inline(always)]
fn bilinear([a, b, c, d]: [f32; 4], fy: f32, fx: f32) -> f64 {
    let top = a + (b - a) * fx;
    let bottom = c + (d - c) * fx;
    f64::from(top + (bottom - top) * fy)
}
