//! Flip: axis reversals and transposes, as index permutations copied once.

use ndarray::{Array3, Axis};
use rand::Rng;
use serde_json::{Map, Value};

use super::voxels::map_voxels;
use super::{params, Sample, SampleRng, Transform};
use crate::{Error, Result};

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
struct Rule {
    flip: [bool; 3],
    transpose_yx: bool,
    transpose_zx: bool,
}

fn permute<T: Clone>(a: &Array3<T>, rule: Rule) -> Array3<T> {
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

impl Transform for Flip {
    fn name(&self) -> &'static str {
        "Flip"
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
        for (_, v) in sample.targets_mut() {
            *v = map_voxels!(&*v, a => permute(a, rule));
        }
        Ok(params! {
            "flip_z" => flip[0], "flip_y" => flip[1], "flip_x" => flip[2],
            "transpose_yx" => transpose_yx, "transpose_zx" => transpose_zx,
        })
    }
}
