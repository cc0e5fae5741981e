//! Loss weights (`MODEL.WEIGHT_OPT`, PyTC's `seg_to_weight`): none or the valid mask, the
//! foreground/background ratio, and U-Net's boundary weights.

use std::fmt;
use std::str::FromStr;

use ndarray::{s, Array4, ArrayView3, ArrayView4, Axis};

use super::components::distinct_nonzero;
use super::edt::{self, squared_edt, NoSource};
use super::morphology::plane_max;
use super::parse::{bad, float};
use crate::{Error, Result};

/// The configuration key of weight options, named by their errors.
const WEIGHT_KEY: &str = "MODEL.WEIGHT_OPT";

/// The smallest foreground (or background) fraction the ratio weight balances.
const MIN_RATIO: f64 = 0.05;
/// U-Net weights' σ (PyTC's default; its option string has no field for it).
const SIGMA: f64 = 5.0;

/// One weight option of `MODEL.WEIGHT_OPT` (for one loss of one target), parsed from PyTC's
/// string (`0`, `1`, `1-1`, `2-w0-w1`).
///
/// ```
/// use voxload::target::WeightOpt;
///
/// assert_eq!("1-1".parse::<WeightOpt>()?, WeightOpt::Ratio { dilate: true });
/// assert_eq!("2-10-5".parse::<WeightOpt>()?, WeightOpt::UNet { w0: 10.0, w1: 5.0 });
/// assert_eq!(WeightOpt::UNet { w0: 10.0, w1: 5.0 }.to_string(), "2-10.0-5.0");
/// assert!("2".parse::<WeightOpt>().is_err());
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightOpt {
    /// `0`: no weight map; the valid mask, where there is one.
    None,
    /// `1`: rebalances foreground (non-zero target values) against background by the ratio of
    /// their counts; `1-1` first dilates the foreground by a 3 × 3 square in each slice.
    Ratio {
        /// `1-1`.
        dilate: bool,
    },
    /// `2-w0-w1`: U-Net's weights from the label, per z slice with foreground: `w1` on
    /// objects, `w0 · exp(−(d₁ + d₂)² / 2σ²)` on background (`d₁`, `d₂` the distances to the
    /// nearest two objects, σ 5), clipped to `[1, max(w0, w1)]`; 1 on empty slices.
    UNet {
        /// The boundary weight.
        w0: f64,
        /// The object weight.
        w1: f64,
    },
}

impl FromStr for WeightOpt {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let f: Vec<&str> = s.split('-').collect();
        match f.as_slice() {
            ["0"] => Ok(WeightOpt::None),
            ["1"] => Ok(WeightOpt::Ratio { dilate: false }),
            ["1", "1"] => Ok(WeightOpt::Ratio { dilate: true }),
            ["2", w0, w1] => {
                let w0 = float(WEIGHT_KEY, s, w0, "w0")?;
                let w1 = float(WEIGHT_KEY, s, w1, "w1")?;
                if !(w0.is_finite() && w1.is_finite()) {
                    return Err(bad(WEIGHT_KEY, s, "w0 and w1 must be finite"));
                }
                Ok(WeightOpt::UNet { w0, w1 })
            }
            ["2", ..] => Err(bad(WEIGHT_KEY, s, "expected `2-w0-w1` such as `2-10-5`")),
            _ => Err(bad(WEIGHT_KEY, s, "expected `0`, `1`, `1-1` or `2-w0-w1`")),
        }
    }
}

impl fmt::Display for WeightOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightOpt::None => f.write_str("0"),
            WeightOpt::Ratio { dilate: false } => f.write_str("1"),
            WeightOpt::Ratio { dilate: true } => f.write_str("1-1"),
            WeightOpt::UNet { w0, w1 } => write!(f, "2-{w0:?}-{w1:?}"),
        }
    }
}

impl WeightOpt {
    /// The weight map for `target` (`(C, D, H, W)`), given the window's valid mask (non-zero
    /// where annotated) and its label (both `(D, H, W)`), as PyTC v1's `seg_to_weight`:
    ///
    /// - [`WeightOpt::None`]: `(1, D, H, W)`, 1 where valid, with a mask; `None` without one (PyTC's
    ///   placeholder for "no weight").
    /// - [`WeightOpt::Ratio`]: a target with one value everywhere gets the mask as `(1, D, H, W)`,
    ///   or ones like the target without a mask. Otherwise, with `ww` the foreground count
    ///   (over all channels, within the mask) divided by the mask's count (one channel's worth;
    ///   without a mask, by the target's size), clipped to `[0.05, 0.95]`: the rarer class gets
    ///   `max(ww, 1 − ww) / min(ww, 1 − ww)`, the other 1, times the mask; `(C, D, H, W)`.
    /// - [`WeightOpt::UNet`]: `(1, D, H, W)` from the label; the valid mask is not applied.
    ///
    /// `two_d` says the label is 2D, as in [`super::TargetOpt::compute`].
    ///
    /// One difference from PyTC: a ratio weight with a valid mask that is 0 everywhere is 0
    /// everywhere (PyTC divides by zero there and gives NaN on the foreground).
    ///
    /// # Errors
    /// - [`Error::Geometry`] when the mask's or the label's shape is not the target's spatial
    ///   shape.
    /// - [`Error::Config`] (key `MODEL.WEIGHT_OPT`) for U-Net weights of a 2D label, which
    ///   PyTC v1 fails on.
    ///
    /// ```
    /// use ndarray::{Array3, Array4};
    /// use voxload::target::WeightOpt;
    ///
    /// // 1 foreground voxel in 8: it gets weight 7, the rest 1.
    /// let target = Array4::from_shape_fn((1, 2, 2, 2), |(_, z, y, x)| f32::from(u8::from(z + y + x == 0)));
    /// let label = Array3::<u64>::zeros((2, 2, 2));
    /// let w = WeightOpt::Ratio { dilate: false }.compute(target.view(), None, label.view(), false)?.unwrap();
    /// assert_eq!((w[[0, 0, 0, 0]], w[[0, 1, 1, 1]]), (7.0, 1.0));
    /// assert!(WeightOpt::None.compute(target.view(), None, label.view(), false)?.is_none());
    /// # Ok::<(), voxload::Error>(())
    /// ```
    pub fn compute(
        &self,
        target: ArrayView4<'_, f32>,
        valid_mask: Option<ArrayView3<'_, u8>>,
        label: ArrayView3<'_, u64>,
        two_d: bool,
    ) -> Result<Option<Array4<f32>>> {
        let (c, d, h, w) = target.dim();
        let spatial = (d, h, w);
        for (what, dim) in [
            ("valid mask", valid_mask.map(|m| m.dim())),
            ("label", Some(label.dim())),
        ] {
            if let Some(dim) = dim.filter(|&dim| dim != spatial) {
                return Err(Error::Geometry(format!(
                    "weight: the {what} is {dim:?}, the target's spatial shape is {spatial:?}"
                )));
            }
        }
        let mask_map = || {
            valid_mask.map(|m| {
                m.mapv(|v| f32::from(u8::from(v != 0)))
                    .insert_axis(Axis(0))
                    .as_standard_layout()
                    .into_owned()
            })
        };
        match *self {
            WeightOpt::None => Ok(mask_map()),
            WeightOpt::Ratio { dilate } => {
                let first = target.iter().next().copied();
                let uniform = first.is_some_and(|f| target.iter().all(|&v| v == f));
                if uniform || first.is_none() {
                    return Ok(Some(
                        mask_map().unwrap_or_else(|| Array4::ones((c, d, h, w))),
                    ));
                }
                Ok(Some(ratio(target, valid_mask, dilate)))
            }
            WeightOpt::UNet { w0, w1 } => {
                if two_d {
                    return Err(bad(WEIGHT_KEY, &self.to_string(), "U-Net weights of a 2D label fail in PyTC v1 (weight_unet3d needs a 3D label)"));
                }
                let mut out = Array4::<f32>::ones((1, d, h, w));
                let mut work = UNetWork::default();
                for (z, slice) in label.outer_iter().enumerate() {
                    let flat: Vec<u64> = slice.iter().copied().collect();
                    if flat.iter().all(|&v| v == 0) {
                        continue;
                    }
                    let weights = unet_slice(&flat, [h, w], w0, w1, &mut work);
                    for (o, v) in out.slice_mut(s![0, z, .., ..]).iter_mut().zip(weights) {
                        *o = v;
                    }
                }
                Ok(Some(out))
            }
        }
    }
}

/// The ratio weight of a target with at least two distinct values.
fn ratio(
    target: ArrayView4<'_, f32>,
    valid_mask: Option<ArrayView3<'_, u8>>,
    dilate: bool,
) -> Array4<f32> {
    let (c, d, h, w) = target.dim();
    let mut fg: Vec<u8> = target.iter().map(|&v| u8::from(v != 0.0)).collect();
    let mask: Option<Vec<bool>> = valid_mask.map(|m| m.iter().map(|&v| v != 0).collect());
    let voxels = d * h * w;
    let ww = match &mask {
        Some(m) => {
            let valid = m.iter().filter(|&&v| v).count();
            if valid == 0 {
                return Array4::zeros((c, d, h, w));
            }
            let hits = fg
                .chunks_exact(voxels)
                .flat_map(|ch| ch.iter().zip(m))
                .filter(|(&f, &v)| f != 0 && v)
                .count();
            hits as f64 / valid as f64
        }
        None => fg.iter().filter(|&&f| f != 0).count() as f64 / fg.len() as f64,
    };
    let ww = ww.clamp(MIN_RATIO, 1.0 - MIN_RATIO);
    let factor = (ww.max(1.0 - ww) / ww.min(1.0 - ww)) as f32;
    if dilate {
        plane_max(&mut fg, [c * d, h, w], 1);
    }
    let heavy = u8::from(ww <= 1.0 - ww);
    let data: Vec<f32> = fg
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let v = if f == heavy { factor } else { 1.0 };
            match &mask {
                Some(m) if !m[i % voxels] => 0.0,
                _ => v,
            }
        })
        .collect();
    Array4::from_shape_vec((c, d, h, w), data).expect("same size")
}

/// Buffers reused between slices and objects.
#[derive(Default)]
struct UNetWork {
    f: Vec<f64>,
    edt: edt::Work,
}

/// One slice's U-Net weights (PyTC's `weight_unet2d`).
fn unet_slice(
    slice: &[u64],
    [h, w]: [usize; 2],
    w0: f64,
    w1: f64,
    work: &mut UNetWork,
) -> Vec<f32> {
    let (lo, hi) = (1.0f64, w0.max(w1));
    let clip = |v: f64| v.max(lo).min(hi) as f32;
    let ids = distinct_nonzero(slice);
    // PyTC splits a slice of one value into one mask of ones.
    if ids.len() < 2 {
        return slice
            .iter()
            .map(|&v| clip(if v != 0 { w1 } else { 0.0 }))
            .collect();
    }
    let mut d1 = vec![f64::INFINITY; slice.len()];
    let mut d2 = vec![f64::INFINITY; slice.len()];
    if w0 > 1.0 {
        // Beyond this distance from both of its nearest objects a pixel's weight is below 1,
        // so clipped to 1 whatever the distances: each object is measured in its bounding box
        // grown by this margin.
        let reach = (2.0 * SIGMA * SIGMA * w0.ln()).sqrt();
        let margin = (reach.ceil() as usize).saturating_add(1).min(h + w);
        let mut boxes = vec![[usize::MAX, 0, usize::MAX, 0]; ids.len()];
        let mut index = Vec::new();
        super::components::dense_indices(slice, &ids, &mut index);
        for (i, &k) in index.iter().enumerate() {
            if k != 0 {
                let b = &mut boxes[k as usize - 1];
                let (y, x) = (i / w, i % w);
                *b = [b[0].min(y), b[1].max(y), b[2].min(x), b[3].max(x)];
            }
        }
        for (k, b) in boxes.iter().enumerate() {
            let (y0, y1) = (b[0].saturating_sub(margin), (b[1] + margin).min(h - 1));
            let (x0, x1) = (b[2].saturating_sub(margin), (b[3] + margin).min(w - 1));
            let (bh, bw) = (y1 - y0 + 1, x1 - x0 + 1);
            work.f.clear();
            for y in y0..=y1 {
                work.f.extend(
                    index[y * w + x0..=y * w + x1]
                        .iter()
                        .map(|&l| edt::source(l as usize != k + 1)),
                );
            }
            squared_edt(
                &mut work.f,
                [1, bh, bw],
                [1.0; 3],
                NoSource::Infinite,
                &mut work.edt,
            );
            for y in 0..bh {
                for x in 0..bw {
                    let i = (y + y0) * w + x + x0;
                    let d = work.f[y * bw + x].sqrt();
                    if d < d1[i] {
                        d2[i] = d1[i];
                        d1[i] = d;
                    } else if d < d2[i] {
                        d2[i] = d;
                    }
                }
            }
        }
    }
    slice
        .iter()
        .zip(d1.iter().zip(&d2))
        .map(|(&v, (&a, &b))| {
            if v != 0 {
                clip(w1)
            } else {
                let s = a + b;
                clip(w0 * (-(s * s) / (2.0 * SIGMA * SIGMA)).exp())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unet_margin_gives_the_whole_slice_answer() {
        // Two objects far apart and two close: background between the close ones is weighted.
        let (h, w) = (40, 60);
        let slice: Vec<u64> = (0..h * w)
            .map(|i| {
                let (y, x) = (i / w, i % w);
                match (y, x) {
                    (5..=8, 5..=8) => 1,
                    (5..=8, 10..=13) => 2,
                    (30..=35, 50..=55) => 3,
                    _ => 0,
                }
            })
            .collect();
        let got = unet_slice(&slice, [h, w], 10.0, 5.0, &mut UNetWork::default());
        // Between objects 1 and 2 (one pixel apart): d1 + d2 = 2 at x = 9.
        let at = |y: usize, x: usize| got[y * w + x];
        assert_eq!(at(6, 9), (10.0 * (-4.0f64 / 50.0).exp()) as f32);
        assert_eq!(at(6, 6), 5.0);
        assert_eq!(at(20, 30), 1.0);
    }
}
