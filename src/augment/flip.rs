//! Flip: axis reversals and transposes, as index permutations copied once.

use ndarray::{Array3, Axis};
use rand::Rng;
use serde_json::{Map, Value};

use super::warp::PlaneMap;
use super::{params, Sample, SampleRng, Transform, Voxels};
use crate::{match_dtype, Error, Result};

/// Flips and transposes (PyTC `FLIP`), applied by the Compose after the centre crop.
///
/// Four fair coins, drawn in this order: flip z, flip y, flip x, transpose y-x (skipped when
/// y and x differ in size, since the output would no longer be the input size); with
/// `do_ztrans` a fifth coin transposes z and x, which needs equal z and x sizes. Every target
/// gets the same permutation, and each target is copied once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flip {
    /// `P` (default 1.0).
    pub p: f64,
    /// `DO_ZTRANS` (default false).
    pub do_ztrans: bool,
}

impl Default for Flip {
    fn default() -> Self {
        Flip {
            p: 1.0,
            do_ztrans: false,
        }
    }
}

/// Which of the permutations to apply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rule {
    pub(crate) flip: [bool; 3],
    pub(crate) transpose_yx: bool,
    pub(crate) transpose_zx: bool,
}

/// `a` with the axes `rule` reverses reversed, then transposed, copied once.
pub(crate) fn permute<T: Clone>(a: &Array3<T>, rule: Rule) -> Array3<T> {
    let mut v = a.view();
    for (axis, &f) in rule.flip.iter().enumerate() {
        if f {
            v.invert_axis(Axis(axis));
        }
    }
    if rule.transpose_yx {
        v.swap_axes(1, 2);
    }
    if rule.transpose_zx {
        v.swap_axes(0, 2);
    }
    v.as_standard_layout().into_owned()
}

/// Output `(i, j)` reads input `(fy(a), fx(b))` with `(a, b) = (j, i)` when transposed, else
/// `(i, j)`; `fy(a) = h − 1 − a` when flipping y (likewise x).
#[derive(Debug)]
struct Mirror {
    size: [usize; 2],
    flip: [bool; 2],
    transpose: bool,
}

impl PlaneMap for Mirror {
    fn input(&self) -> [usize; 2] {
        self.size
    }
    fn output(&self) -> [usize; 2] {
        if self.transpose {
            [self.size[1], self.size[0]]
        } else {
            self.size
        }
    }
    fn map(&self, ys: &mut [f64], xs: &mut [f64]) {
        let [h, w] = self.size.map(|n| n as f64 - 1.0);
        for (y, x) in ys.iter_mut().zip(xs.iter_mut()) {
            let (a, b) = if self.transpose { (*x, *y) } else { (*y, *x) };
            *y = if self.flip[0] { h - a } else { a };
            *x = if self.flip[1] { w - b } else { b };
        }
    }
    fn integral(&self) -> bool {
        true
    }
}

impl Transform for Flip {
    fn name(&self) -> &'static str {
        "Flip"
    }
    fn after_crop(&self) -> bool {
        true
    }
    fn probability(&self) -> f64 {
        self.p
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        let [d, h, w] = sample.shape();
        let flip = [
            rng.random_bool(0.5),
            rng.random_bool(0.5),
            rng.random_bool(0.5),
        ];
        let transpose_yx = rng.random_bool(0.5) && h == w;
        let transpose_zx = self.do_ztrans && rng.random_bool(0.5);
        if transpose_zx && d != w {
            return Err(Error::Augment(format!(
                "Flip with DO_ZTRANS needs equal z and x sizes, the sample is {:?}",
                [d, h, w]
            )));
        }
        let rule = Rule {
            flip,
            transpose_yx,
            transpose_zx,
        };
        if transpose_zx {
            for (_, v) in sample.targets_mut() {
                *v = match_dtype!(&*v, Voxels(a) => Voxels::from(permute(a, rule)));
            }
        } else {
            // In-plane flips and the y-x transpose join any pending warp; the z flip reverses
            // the slice order. Both are carried out with the crop, in one gather.
            sample.push_warp(Box::new(Mirror {
                size: [h, w],
                flip: [flip[1], flip[2]],
                transpose: transpose_yx,
            }));
            if flip[0] {
                let reversed: Vec<usize> = (0..d).rev().collect();
                sample.select_slices(&reversed);
            }
        }
        Ok(params! {
            "flip_z" => flip[0], "flip_y" => flip[1], "flip_x" => flip[2],
            "transpose_yx" => transpose_yx, "transpose_zx" => transpose_zx,
        })
    }
}
