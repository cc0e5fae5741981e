//! Section defects that change every target: MissingSection and MisAlignment.

use ndarray::{s, Array3};
use rand::Rng;
use serde_json::{Map, Value};

use super::geometric::Turn;
use super::warp::warp_slices;
use super::{params, Growth, Sample, SampleRng, Transform, Voxels};
use crate::{match_dtype, Result};

/// Removed sections (PyTC `MISSINGSECTION`).
///
/// `num_sections` distinct slices are drawn uniformly, without replacement, from `[1, z − 2]`
/// and deleted from every target, so z shrinks by that many; z of the sample grows by
/// `ceil(num_sections / 2)` on each side. A sample with fewer than `num_sections + 2` slices is
/// left alone (recorded as skipped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MissingSection {
    /// `P` (default 0.5).
    pub p: f64,
    /// `NUM_SECTION` (default 2).
    pub num_sections: usize,
}

impl Default for MissingSection {
    fn default() -> Self {
        MissingSection {
            p: 0.5,
            num_sections: 2,
        }
    }
}

impl Transform for MissingSection {
    fn name(&self) -> &'static str {
        "MissingSection"
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn growth(&self) -> Growth {
        Growth {
            ratio: [1.0; 3],
            add: [self.num_sections.div_ceil(2), 0, 0],
        }
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [d, _, _] = sample.shape();
        if d < self.num_sections + 2 {
            return Ok(
                params! {"skipped" => format!("{d} slices cannot lose {} inner ones", self.num_sections)},
            );
        }
        let mut removed: Vec<usize> = rand::seq::index::sample(rng, d - 2, self.num_sections)
            .into_iter()
            .map(|i| i + 1)
            .collect();
        removed.sort_unstable();
        let kept: Vec<usize> = (0..d)
            .filter(|z| removed.binary_search(z).is_err())
            .collect();
        sample.select_slices(&kept);
        Ok(params! {"removed" => removed})
    }
}

/// Misaligned sections (PyTC `MISALIGNMENT`).
///
/// With probability `rotate_ratio` a rotation, else a translation. Draws, in order: the
/// rotate-or-translate coin; for a translation, offsets `x0, y0, x1, y1` uniform in
/// `[0, displacement)`; a slice index uniform in `[1, z − 2]`; then a fair coin between "slip"
/// (only that slice moves) and "translation" (it and every following slice move).
/// A translation crops every slice to `(h − d, w − d)`, the moved slices at `(y1, x1)`, the
/// others at `(y0, x0)`. A rotation turns the moved slices about the centre by an angle uniform
/// in `±2·asin((d/2) / (((h − d)/2)·1.42))` (drawn before the index), linear for images and
/// nearest for masks, same size. y, x of the sample grow by `ceil(d/2)` on each side. Samples
/// with fewer than 3 slices, or planes not larger than `d`, are left alone (recorded as skipped).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MisAlignment {
    /// `P` (default 0.5).
    pub p: f64,
    /// `DISPLACEMENT` in pixels (default 16).
    pub displacement: usize,
    /// `ROTATE_RATIO` (default 0.5).
    pub rotate_ratio: f64,
}

impl Default for MisAlignment {
    fn default() -> Self {
        MisAlignment {
            p: 0.5,
            displacement: 16,
            rotate_ratio: 0.5,
        }
    }
}

impl MisAlignment {
    /// The largest rotation in degrees for a plane of height `h`.
    #[must_use]
    pub fn max_angle(&self, h: usize) -> f64 {
        let d = self.displacement as f64;
        let ratio = (d / 2.0) / (((h as f64 - d) / 2.0) * 1.42);
        (2.0 * ratio.clamp(-1.0, 1.0).asin()).to_degrees()
    }
}

fn shifted<T: crate::recycle::Recyclable>(
    a: &Array3<T>,
    idx: usize,
    slip: bool,
    [h, w]: [usize; 2],
    [y0, x0, y1, x1]: [usize; 4],
) -> Array3<T> {
    let d = a.dim().0;
    let moved = if slip { idx..idx + 1 } else { idx..d };
    // Each slice copied once, from its own offset.
    let mut data = crate::recycle::take::<T>(d * h * w);
    data.clear();
    for z in 0..d {
        let (y, x) = if moved.contains(&z) {
            (y1, x1)
        } else {
            (y0, x0)
        };
        for row in a.slice(s![z, y..y + h, x..x + w]).rows() {
            match row.as_slice() {
                Some(run) => data.extend_from_slice(run),
                None => data.extend(row.iter().copied()),
            }
        }
    }
    Array3::from_shape_vec((d, h, w), data).expect("d slices of (h, w)")
}

impl Transform for MisAlignment {
    fn name(&self) -> &'static str {
        "MisAlignment"
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn growth(&self) -> Growth {
        let m = self.displacement.div_ceil(2);
        Growth {
            ratio: [1.0; 3],
            add: [0, m, m],
        }
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [depth, h, w] = sample.shape();
        let d = self.displacement;
        if depth < 3 || h <= d || w <= d {
            return Ok(
                params! {"skipped" => format!("sample {:?} too small for displacement {d}", [depth, h, w])},
            );
        }
        if rng.random::<f64>() < self.rotate_ratio {
            let max = self.max_angle(h);
            let angle = (rng.random::<f64>() - 0.5) * 2.0 * max;
            let idx = rng.random_range(1..=depth - 2);
            let slip = rng.random_bool(0.5);
            let zs = if slip { idx..idx + 1 } else { idx..depth };
            warp_slices(sample.targets_mut(), &Turn::new([h, w], angle), zs);
            let mode = if slip { "slip" } else { "translation" };
            return Ok(
                params! {"mode" => mode, "rotate" => true, "angle" => angle, "slice" => idx},
            );
        }
        let offsets: [usize; 4] = std::array::from_fn(|_| rng.random_range(0..d.max(1)));
        let [x0, y0, x1, y1] = offsets;
        let idx = rng.random_range(1..=depth - 2);
        let slip = rng.random_bool(0.5);
        for (_, v) in sample.targets_mut() {
            let moved = match_dtype!(&*v, Voxels(a) => {
                Voxels::from(shifted(a, idx, slip, [h - d, w - d], [y0, x0, y1, x1]))
            });
            std::mem::replace(v, moved).recycle();
        }
        let mode = if slip { "slip" } else { "translation" };
        Ok(params! {
            "mode" => mode, "rotate" => false, "slice" => idx,
            "offset0" => vec![y0, x0], "offset1" => vec![y1, x1],
        })
    }
}
