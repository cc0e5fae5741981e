//! The cuboid defects of `img` targets: CutBlur and CutNoise.

use ndarray::{s, Array3, Axis};
use rand::Rng;
use serde_json::{Map, Value};

use super::super::intensity::clip_unit;
use super::super::kernel::gaussian_kernel;
use super::super::{params, Sample, SampleRng, Transform};
use crate::Result;

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
    use crate::recycle::{give, take, take_filled};
    // Buffers from this thread's pool: cleared where they are appended to, zeroed where summed.
    let empty = |capacity: usize| {
        let mut v = take::<f32>(capacity);
        v.clear();
        v
    };
    let mut cuboid_plane = empty(sy * sx);
    let mut yres = take::<f32>(oy * sx);
    let mut transposed = take::<f32>(sx * oy);
    let mut low2d = empty(sz * oy * ox);
    let mut row_buf = empty(sx);
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
            let mut low = take_filled(tz.out * plane, 0.0f32);
            for (j, out) in low.chunks_exact_mut(plane).enumerate() {
                for t in 0..tz.taps {
                    let (i, w) = (tz.index[j * tz.taps + t], tz.weight[j * tz.taps + t]);
                    for (o, &v) in out.iter_mut().zip(&low2d[i * plane..(i + 1) * plane]) {
                        *o += w * v;
                    }
                }
            }
            give(std::mem::take(&mut low2d));
            low
        }
    };
    give(cuboid_plane);
    give(yres);
    give(transposed);
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
    give(low);
    give(row_buf);
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
        let mut noise = crate::recycle::take::<f32>(sz * sy * sx);
        for v in &mut noise {
            *v = scale * (2.0 * rng.random::<f32>() - 1.0);
        }
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
        crate::recycle::give(noise);
        Ok(params! {"z" => zr.to_vec(), "y" => yr.to_vec(), "x" => xr.to_vec()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_matches_scipy_reflect() {
        let f: Vec<usize> = (-4..8).map(|i| fold_reflect(i, 4)).collect();
        assert_eq!(f, [3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0]);
    }

    #[test]
    fn downsample_matches_blur_then_interpolate() {
        use super::super::super::kernel::gaussian_blur_2d;
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
