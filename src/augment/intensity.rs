//! Grayscale: random contrast, brightness and gamma of `img` targets, with the gamma power
//! read from a lookup table instead of a `powf` per voxel.

use ndarray::{Array3, Axis};
use rand::Rng;
use serde_json::{Map, Value};

use super::{params, Sample, SampleRng, Transform};
use crate::{Error, Result};

/// Whether Grayscale draws one set of parameters for the volume or one per slice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GrayscaleMode {
    /// `3d`: one draw for the whole volume.
    ThreeD,
    /// `2d`: one draw per z slice.
    TwoD,
    /// `mix`: `3d` or `2d` with probability 1/2 each (PyTC's `mix` always takes `3d`; that
    /// defect is not copied).
    #[default]
    Mix,
}

impl std::str::FromStr for GrayscaleMode {
    type Err = Error;
    /// PyTC's names: `3d`, `2d` or `mix`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "3d" => Ok(GrayscaleMode::ThreeD),
            "2d" => Ok(GrayscaleMode::TwoD),
            "mix" => Ok(GrayscaleMode::Mix),
            _ => Err(Error::Parse {
                what: "grayscale mode",
                input: s.to_string(),
                reason: "expected `3d`, `2d` or `mix`".into(),
            }),
        }
    }
}

/// Random contrast, brightness and gamma (PyTC `Grayscale`), on `img` targets only.
///
/// Draws, in this order, all `f64` in `[0, 1)` from the sample's RNG: in `Mix` mode first
/// `u`, taking `3d` when `u < 0.5` and `2d` otherwise; then `r1, r2, r3` once (`3d`) or for
/// each slice in z order (`2d`). With `a = 1 + (r1 − 0.5)·contrast`,
/// `b = (r2 − 0.5)·brightness` and `γ = 2^(2·r3 − 1)` (so `γ ∈ [0.5, 2)`), each voxel becomes
/// `clip(a·x + b, 0, 1)^γ`, with `a·x + b` computed in `f32` (`a`, `b` rounded to `f32`; NaN
/// becomes 0). The power is read from a table of 4098 entries spaced 128 per octave over
/// `[2^-32, 1]`, linearly interpolated (linear from 0 below `2^-32`): 0 and 1 are exact and
/// the absolute error is at most [`Grayscale::GAMMA_MAX_ERROR`]. Every `img` target gets the
/// same parameters.
///
/// Recorded: `{"mode": "3d", "contrast": a, "brightness": b, "gamma": γ}`, or for `2d` the
/// same keys holding one value per slice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grayscale {
    /// `P` (default 0.75).
    pub p: f64,
    /// Contrast factor (default 0.3).
    pub contrast_factor: f64,
    /// Brightness factor (default 0.3).
    pub brightness_factor: f64,
    /// `3d`, `2d` or `mix` (default `mix`).
    pub mode: GrayscaleMode,
}

impl Default for Grayscale {
    fn default() -> Self {
        Grayscale {
            p: 0.75,
            contrast_factor: 0.3,
            brightness_factor: 0.3,
            mode: GrayscaleMode::Mix,
        }
    }
}

impl Grayscale {
    /// The largest absolute difference between the table's `y^γ` and the exact power, for
    /// `y ∈ [0, 1]` and `γ ∈ [0.5, 2]` (measured maximum about 4e-6, `f32` rounding included).
    pub const GAMMA_MAX_ERROR: f64 = 1e-5;

    /// Draws `(a, b, γ)` as documented on the type.
    fn draw(&self, rng: &mut SampleRng) -> (f32, f32, f64) {
        let r1 = rng.random::<f64>();
        let r2 = rng.random::<f64>();
        let r3 = rng.random::<f64>();
        let a = (1.0 + (r1 - 0.5) * self.contrast_factor) as f32;
        let b = ((r2 - 0.5) * self.brightness_factor) as f32;
        (a, b, (2.0 * r3 - 1.0).exp2())
    }
}

impl Transform for Grayscale {
    fn name(&self) -> &'static str {
        "Grayscale"
    }

    fn probability(&self) -> f64 {
        self.p
    }

    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let three_d = match self.mode {
            GrayscaleMode::ThreeD => true,
            GrayscaleMode::TwoD => false,
            GrayscaleMode::Mix => rng.random::<f64>() < 0.5,
        };
        let mut scratch = Vec::new();
        if three_d {
            let (a, b, gamma) = self.draw(rng);
            let lut = GammaLut::new(gamma);
            for image in sample.images_mut() {
                for_each_plane(image, &mut scratch, |_, plane| lut.apply(plane, a, b));
            }
            return Ok(params! {
                "mode" => "3d", "contrast" => f64::from(a), "brightness" => f64::from(b), "gamma" => gamma,
            });
        }
        let depth = sample.shape()[0];
        let draws: Vec<(f32, f32, f64)> = (0..depth).map(|_| self.draw(rng)).collect();
        let luts: Vec<GammaLut> = draws.iter().map(|d| GammaLut::new(d.2)).collect();
        for image in sample.images_mut() {
            for_each_plane(image, &mut scratch, |z, plane| {
                luts[z].apply(plane, draws[z].0, draws[z].1);
            });
        }
        Ok(params! {
            "mode" => "2d",
            "contrast" => draws.iter().map(|d| f64::from(d.0)).collect::<Vec<_>>(),
            "brightness" => draws.iter().map(|d| f64::from(d.1)).collect::<Vec<_>>(),
            "gamma" => draws.iter().map(|d| d.2).collect::<Vec<_>>(),
        })
    }
}

/// Runs `f(z, plane)` on every z slice of `a` (see [`with_plane`]).
pub(super) fn for_each_plane(
    a: &mut Array3<f32>,
    scratch: &mut Vec<f32>,
    mut f: impl FnMut(usize, &mut [f32]),
) {
    for z in 0..a.len_of(Axis(0)) {
        with_plane(a, z, scratch, |plane| f(z, plane));
    }
}

/// Runs `f` on slice `z` of `a` as a C-order `(y, x)` slice: in place when the slice is
/// contiguous, else through `scratch` (copied in and back).
pub(super) fn with_plane(
    a: &mut Array3<f32>,
    z: usize,
    scratch: &mut Vec<f32>,
    f: impl FnOnce(&mut [f32]),
) {
    let mut plane = a.index_axis_mut(Axis(0), z);
    if let Some(s) = plane.as_slice_mut() {
        f(s);
    } else {
        scratch.clear();
        scratch.extend(plane.iter().copied());
        f(scratch);
        for (v, &s) in plane.iter_mut().zip(scratch.iter()) {
            *v = s;
        }
    }
}

/// `v` clipped to `[0, 1]`, NaN becoming 0 (`f32::clamp` would keep NaN, which the gamma table
/// must not see).
#[allow(clippy::manual_clamp)]
#[inline(always)]
pub(super) fn clip_unit(v: f32) -> f32 {
    v.max(0.0).min(1.0)
}

/// Octaves of `[2^-32, 1)` the table covers, and entries per octave.
const OCTAVES: i32 = 32;
const STEPS_LOG2: i32 = 7;
/// Entry 0 is the linear piece from 0 to `2^-32`; entries `1..` the octaves; the last is 1.
const ENTRIES: usize = ((OCTAVES << STEPS_LOG2) + 2) as usize;
/// The bits of `2^-32`.
const BASE_BITS: i32 = (127 - OCTAVES) << 23;
/// Mantissa bits below the table index (the interpolation fraction).
const FRAC_BITS: i32 = 23 - STEPS_LOG2;
/// Voxels per pass of [`GammaLut::apply`]: indices are computed for a chunk (vectorised), then
/// the table is read.
const CHUNK: usize = 512;

/// `y^γ` for `y ∈ [0, 1]`: entries at `2^(k−32)·(1 + m/128)`, each stored with the step to the
/// next one, so a lookup is one load and one multiply-add. The index is the `f32`'s exponent
/// and top 7 mantissa bits, the fraction its remaining 16 bits; below `2^-32` the first entry
/// interpolates linearly from 0.
pub(super) struct GammaLut {
    /// Always `Some` until dropped (then it goes back to the thread's tables).
    table: Option<Box<[[f32; 2]; ENTRIES]>>,
}

/// Tables kept per thread for the next ones (2D mode holds one per slice at once).
const KEPT_TABLES: usize = 64;

thread_local! {
    static TABLES: std::cell::RefCell<Vec<Box<[[f32; 2]; ENTRIES]>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for GammaLut {
    fn drop(&mut self) {
        if let Some(table) = self.table.take() {
            TABLES.with_borrow_mut(|kept| {
                if kept.len() < KEPT_TABLES {
                    kept.push(table);
                }
            });
        }
    }
}

impl GammaLut {
    fn entries(&self) -> &[[f32; 2]; ENTRIES] {
        self.table.as_deref().expect("a table until dropped")
    }

    /// The table for `gamma`, from 33 powers of two and 128 mantissa powers.
    pub(super) fn new(gamma: f64) -> Self {
        let steps = 1usize << STEPS_LOG2;
        let mantissa: Vec<f64> = (0..steps)
            .map(|m| (1.0 + m as f64 / steps as f64).powf(gamma))
            .collect();
        let mut values = crate::recycle::take::<f64>(ENTRIES);
        values[0] = 0.0;
        for (k, octave) in values[1..].chunks_mut(steps).enumerate() {
            let scale = ((k as f64 - f64::from(OCTAVES)) * gamma).exp2();
            for (v, m) in octave.iter_mut().zip(&mantissa) {
                *v = scale * m;
            }
        }
        values[ENTRIES - 1] = 1.0;
        // Every entry is written below.
        let mut table = TABLES
            .with_borrow_mut(Vec::pop)
            .unwrap_or_else(|| Box::new([[0.0f32; 2]; ENTRIES]));
        for i in 0..ENTRIES {
            let next = values.get(i + 1).copied().unwrap_or(values[i]);
            table[i] = [values[i] as f32, (next - values[i]) as f32];
        }
        crate::recycle::give(values);
        GammaLut { table: Some(table) }
    }

    /// The table entry and interpolation fraction of `y ∈ [0, 1]` (sign ignored).
    #[inline(always)]
    fn locate(y: f32) -> (u32, f32) {
        let bits = (y.to_bits() & 0x7fff_ffff) as i32;
        let rel = bits - BASE_BITS;
        let small = rel < 0;
        let index = if small { 0 } else { (rel >> FRAC_BITS) + 1 };
        let frac = if small {
            y * 4_294_967_296.0 // y / 2^-32
        } else {
            (rel & ((1 << FRAC_BITS) - 1)) as f32 * (1.0 / (1 << FRAC_BITS) as f32)
        };
        (index as u32, frac)
    }

    /// `y^γ` for `y ∈ [0, 1]`.
    #[cfg(test)]
    fn power(&self, y: f32) -> f32 {
        let (i, f) = Self::locate(y);
        let [v, step] = self.entries()[(i as usize).min(ENTRIES - 1)];
        v + f * step
    }

    /// `x ← clip(a·x + b, 0, 1)^γ` over `plane`.
    pub(super) fn apply(&self, plane: &mut [f32], a: f32, b: f32) {
        gamma_curve(self.entries(), plane, a, b);
    }
}

crate::simd::dispatched! {
    /// [`GammaLut::apply`] through `table`: indices and fractions for a chunk of voxels
    /// (vectorised), then the table reads.
    fn gamma_curve(table: &[[f32; 2]; ENTRIES], plane: &mut [f32], a: f32, b: f32) {
        let mut index = [0u32; CHUNK];
        let mut frac = [0.0f32; CHUNK];
        for chunk in plane.chunks_mut(CHUNK) {
            let n = chunk.len();
            for ((v, i), f) in chunk.iter().zip(&mut index[..n]).zip(&mut frac[..n]) {
                (*i, *f) = GammaLut::locate(clip_unit(*v * a + b));
            }
            for ((v, &i), &f) in chunk.iter_mut().zip(&index[..n]).zip(&frac[..n]) {
                let [t, step] = table[(i as usize).min(ENTRIES - 1)];
                *v = t + f * step;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_lut_error_is_within_the_documented_bound() {
        let mut worst = 0.0f64;
        for gi in 0..=60 {
            let gamma = 0.5 + 1.5 * f64::from(gi) / 60.0;
            let lut = GammaLut::new(gamma);
            let mut check = |y: f32| {
                let err = (f64::from(lut.power(y)) - f64::from(y).powf(gamma)).abs();
                worst = worst.max(err);
            };
            for i in 0..=20_000 {
                check(i as f32 / 20_000.0);
            }
            for e in 1..60 {
                for m in [1.0f32, 1.003, 1.37, 1.5, 1.999] {
                    check(m * (-(e as f32)).exp2());
                }
            }
            check(0.0);
            check(f32::MIN_POSITIVE);
            check(1.0);
            assert_eq!(lut.power(0.0), 0.0);
            assert_eq!(lut.power(1.0), 1.0);
        }
        println!("worst gamma table error {worst:e}");
        assert!(worst <= Grayscale::GAMMA_MAX_ERROR, "worst {worst}");
        assert!(worst > 0.0);
    }

    #[test]
    fn apply_clips_and_maps_nan_to_zero() {
        let lut = GammaLut::new(1.0);
        let mut plane = [-1.0, 0.25, 2.0, f32::NAN, -0.0];
        lut.apply(&mut plane, 1.0, 0.0);
        assert_eq!(plane, [0.0, 0.25, 1.0, 0.0, 0.0]);
    }
}
