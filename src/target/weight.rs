//! Loss weights (`MODEL.WEIGHT_OPT`, PyTC's `seg_to_weight`): none or the valid mask, the
//! foreground/background ratio, and U-Net's boundary weights.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use ndarray::{Array4, ArrayView3, ArrayView4};

use super::components::distinct_nonzero;
use super::edt::{self, squared_edt, NoSource};
use super::ids::{self, Ids};
use super::morphology::plane_max;
use super::output::{fill, write_map, write_rows, write_values, Crop};
use super::parse::{bad, float};
use super::Computed;
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
        let mask: Option<Vec<u8>> =
            valid_mask.map(|m| m.iter().map(|&v| u8::from(v != 0)).collect());
        if *self == WeightOpt::None && mask.is_none() {
            return Ok(None);
        }
        let values: Cow<'_, [f32]> = match target.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(target.iter().copied().collect()),
        };
        let seen = TargetSeen::of_values(&values, c);
        let label: Cow<'_, [u64]> = match label.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(label.iter().copied().collect()),
        };
        let crop = Crop::whole([d, h, w]);
        let channels = self.channels(&seen, mask.is_some());
        let mut out = vec![0f32; channels * d * h * w];
        self.write(
            &seen,
            mask.as_deref().map(ValidMask::new),
            Ids::U64(&label),
            two_d,
            &crop,
            &mut out,
        )?;
        Ok(Some(
            Array4::from_shape_vec((channels, d, h, w), out).expect("weight size matches"),
        ))
    }

    /// The number of channels of the weight map of `target` (with a valid mask or not), as
    /// [`Self::compute`] shapes it; a [`WeightOpt::None`] without a mask counts as ones of
    /// the target's shape.
    pub(crate) fn channels(&self, target: &TargetSeen<'_>, masked: bool) -> usize {
        match self {
            WeightOpt::None if masked => 1,
            WeightOpt::UNet { .. } => 1,
            _ => target.channels,
        }
    }

    /// Writes the weight map of `target` over `crop`'s region into `out` (of
    /// [`Self::channels`] channels), given the window's `mask` (0/1, where there is one) and
    /// `label`; as [`Self::compute`], with ones for a [`WeightOpt::None`] without a mask.
    ///
    /// # Errors
    /// As [`Self::compute`], for U-Net weights of a 2D label.
    pub(crate) fn write(
        &self,
        target: &TargetSeen<'_>,
        mask: Option<ValidMask<'_>>,
        label: Ids<'_>,
        two_d: bool,
        crop: &Crop,
        out: &mut [f32],
    ) -> Result<()> {
        match (*self, mask) {
            (WeightOpt::None, Some(m)) => write_map(m.map, 1, crop, out),
            (WeightOpt::None, None) => fill(out, 1.0),
            // PyTC gives the mask's one channel here (`mask[np.newaxis]`), a shape no batch of
            // C-channel weights can stack it with (its own collate fails); the mask repeated per
            // channel is the same weight under the loss's broadcasting.
            (WeightOpt::Ratio { .. }, Some(m)) if target.uniform => {
                write_rows(out, crop, target.channels, |_, start, run| {
                    let n = run.len();
                    for (o, &v) in run.iter_mut().zip(&m.map[start..][..n]) {
                        *o = f32::from(v);
                    }
                });
            }
            (WeightOpt::Ratio { .. }, None) if target.uniform => fill(out, 1.0),
            (WeightOpt::Ratio { dilate }, _) => ratio(target, mask, dilate, crop, out),
            (WeightOpt::UNet { w0, w1 }, _) => {
                if two_d {
                    return Err(bad(WEIGHT_KEY, &self.to_string(), "U-Net weights of a 2D label fail in PyTC v1 (weight_unet3d needs a 3D label)"));
                }
                let label = label.wide();
                let weights = unet(&label, crop.full, w0, w1);
                ids::recycle_wide(label);
                write_values(&weights, 1, crop, out);
            }
        }
        Ok(())
    }
}

/// What a weight sees of its target over the whole window.
#[derive(Debug)]
pub(crate) struct TargetSeen<'a> {
    /// 1 where the target is non-zero, 0 elsewhere (`channels` channels, C order).
    pub(crate) fg: Cow<'a, [u8]>,
    /// The target's channels.
    pub(crate) channels: usize,
    /// Whether every value of the target is the same (or it has none).
    pub(crate) uniform: bool,
}

impl<'a> TargetSeen<'a> {
    /// What the weights of `target` (of `channels` channels) see: a 0/1 target is its own
    /// foreground; other values are tested against 0 into a buffer from this thread's pool.
    pub(crate) fn of(target: &'a Computed, channels: usize) -> Self {
        match target {
            Computed::Map(map) => TargetSeen {
                fg: Cow::Borrowed(map),
                channels,
                uniform: uniform(map),
            },
            Computed::Values(values) => TargetSeen::of_values(values, channels),
        }
    }

    /// What the weights of a target of `values` see (its foreground in a buffer from this
    /// thread's pool).
    fn of_values(values: &[f32], channels: usize) -> Self {
        let mut fg = crate::recycle::take::<u8>(values.len());
        for (f, &v) in fg.iter_mut().zip(values) {
            *f = u8::from(v != 0.0);
        }
        TargetSeen {
            fg: Cow::Owned(fg),
            channels,
            uniform: uniform(values),
        }
    }

    /// Hands a foreground made here back to this thread's pool.
    pub(crate) fn recycle(self) {
        if let Cow::Owned(fg) = self.fg {
            crate::recycle::give(fg);
        }
    }
}

/// Whether all values are the same, stopping at the first that differs.
fn uniform<T: PartialEq + Copy>(values: &[T]) -> bool {
    values
        .first()
        .is_none_or(|&f| values.iter().all(|&v| v == f))
}

/// A valid mask as weights see it: 0/1 per voxel, and the number of ones.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ValidMask<'a> {
    /// 1 where valid (C order).
    pub(crate) map: &'a [u8],
    /// The number of valid voxels.
    pub(crate) valid: usize,
}

impl<'a> ValidMask<'a> {
    /// The mask of `map` (0s and 1s).
    pub(crate) fn new(map: &'a [u8]) -> Self {
        ValidMask {
            map,
            valid: ones(map),
        }
    }
}

/// The number of ones in a map of 0s and 1s.
fn ones(map: &[u8]) -> usize {
    byte_sums(map, map, |a, _| a)
}

/// The number of voxels that are 1 in both maps of 0s and 1s.
fn ones_in_both(a: &[u8], b: &[u8]) -> usize {
    byte_sums(a, b, |x, y| x & y)
}

/// The sum of `join(a[i], b[i])` over bytes 0 or 1: added in 32 byte lanes at a time, 255
/// rounds per block so no lane overflows (the loops vectorise), each block's lanes summed once.
fn byte_sums(a: &[u8], b: &[u8], join: impl Fn(u8, u8) -> u8) -> usize {
    const LANES: usize = 32;
    const BLOCK: usize = LANES * 255;
    let mut total = 0;
    for (a, b) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let mut acc = [0u8; LANES];
        for (x, y) in (&mut ca).zip(&mut cb) {
            for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
                *s += join(x, y);
            }
        }
        total += acc.iter().map(|&s| usize::from(s)).sum::<usize>();
        for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
            total += usize::from(join(x, y));
        }
    }
    total
}

/// The ratio weight of a target with at least two distinct values.
fn ratio(
    target: &TargetSeen<'_>,
    mask: Option<ValidMask<'_>>,
    dilate: bool,
    crop: &Crop,
    out: &mut [f32],
) {
    let fg = &target.fg[..];
    let voxels = crop.full_voxels();
    let ww = match mask {
        Some(m) => {
            if m.valid == 0 {
                fill(out, 0.0);
                return;
            }
            let hits: usize = fg
                .chunks_exact(voxels)
                .map(|ch| ones_in_both(ch, m.map))
                .sum();
            hits as f64 / m.valid as f64
        }
        None => ones(fg) as f64 / fg.len() as f64,
    };
    let ww = ww.clamp(MIN_RATIO, 1.0 - MIN_RATIO);
    let factor = (ww.max(1.0 - ww) / ww.min(1.0 - ww)) as f32;
    let heavy = u8::from(ww <= 1.0 - ww);
    let dilated = dilate.then(|| {
        let mut d = crate::recycle::take::<u8>(fg.len());
        d.copy_from_slice(fg);
        let [depth, h, w] = crop.full;
        plane_max(&mut d, [target.channels * depth, h, w], 1);
        d
    });
    let fg = dilated.as_deref().unwrap_or(fg);
    let values = Picks {
        heavy,
        rare: factor.to_bits(),
        common: 1f32.to_bits(),
    };
    write_rows(out, crop, target.channels, |c, start, run| {
        let f = &fg[c * voxels + start..][..run.len()];
        values.write(f, mask.map(|m| &m.map[start..][..run.len()]), run);
    });
    if let Some(d) = dilated {
        crate::recycle::give(d);
    }
}

/// A ratio weight's values as bits: `rare` where a voxel's target is `heavy`, else `common`,
/// and 0 outside the mask.
#[derive(Clone, Copy)]
struct Picks {
    heavy: u8,
    rare: u32,
    common: u32,
}

impl Picks {
    /// The weights of the voxels whose targets are `fg` (and mask `mask`) into `out`, chosen
    /// with integer masks rather than branches, so the loops vectorise.
    fn write(self, fg: &[u8], mask: Option<&[u8]>, out: &mut [f32]) {
        let Picks {
            heavy,
            rare,
            common,
        } = self;
        let pick = |f: u8| common ^ ((common ^ rare) & 0u32.wrapping_sub(u32::from(f == heavy)));
        match mask {
            Some(m) => {
                for ((o, &f), &m) in out.iter_mut().zip(fg).zip(m) {
                    *o = f32::from_bits(pick(f) & 0u32.wrapping_sub(u32::from(m)));
                }
            }
            None => {
                for (o, &f) in out.iter_mut().zip(fg) {
                    *o = f32::from_bits(pick(f));
                }
            }
        }
    }
}

/// U-Net weights of `label` (shape `dims`, C order), one per voxel: per z slice with
/// foreground [`unet_slice`], 1 on empty slices.
fn unet(label: &[u64], [d, h, w]: [usize; 3], w0: f64, w1: f64) -> Vec<f32> {
    let mut out = vec![1f32; d * h * w];
    let mut work = UNetWork::default();
    if h * w == 0 {
        return out;
    }
    for (slice, o) in label.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
        if slice.iter().all(|&v| v == 0) {
            continue;
        }
        o.copy_from_slice(&unet_slice(slice, [h, w], w0, w1, &mut work));
    }
    out
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
    fn byte_sums_count_every_block_and_tail() {
        for n in [0usize, 7, 8, 2039, 2040, 2041, 10_000] {
            let a: Vec<u8> = (0..n).map(|i| u8::from(i % 3 != 1)).collect();
            let b: Vec<u8> = (0..n).map(|i| u8::from(i % 5 < 2)).collect();
            let both = a.iter().zip(&b).filter(|(&x, &y)| x == 1 && y == 1).count();
            assert_eq!(ones(&a), a.iter().filter(|&&x| x == 1).count(), "{n}");
            assert_eq!(ones_in_both(&a, &b), both, "{n}");
        }
        assert_eq!(ones(&[1; 4096]), 4096);
    }

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
