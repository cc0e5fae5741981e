//! Test-time augmentation (PyTC's `INFERENCE.AUG_MODE` and `AUG_NUM`): the flip and transpose
//! variants of an inference window, how to undo each on a prediction, and how the undone
//! predictions combine.
//!
//! **Variants, in PyTC's order.** With `AUG_NUM` 4 a window is seen unchanged and flipped in x,
//! y and both; 8 adds the y-x transpose of each; 16 (3D only) adds the z flip. The variants are
//! numbered as PyTC enumerates them: x-flip slowest, then y-flip, z-flip, transpose fastest, so
//! variant 0 is always the window itself. A variant flips first, then transposes; undoing a
//! prediction transposes back first, then flips. In 2D (`DO_2D`) `AUG_NUM` is capped at 8, as
//! PyTC caps it. `AUG_NUM` unset (or 0) means the window alone.
//!
//! **Combining.** `mean` sums the undone predictions (in `f64`, so equal predictions average
//! back to exactly themselves; PyTC sums in `float32`) and divides by their number. `min` and
//! `max` follow PyTC exactly, including its starting values: the minimum starts from 1 and the
//! maximum from 0, so `min` never exceeds 1 and `max` is never negative (PyTC's outputs are
//! activations in `[0, 1]`, where this changes nothing).
//!
//! ```
//! use ndarray::{Array3, Array4, Axis};
//! use voxload::augment::{Combine, TestAugment};
//!
//! let tta = TestAugment::new(Some(16), Combine::Mean, false)?;
//! assert_eq!(tta.len(), 16);
//! let window = Array3::from_shape_fn((2, 4, 4), |(z, y, x)| (z * 16 + y * 4 + x) as f32);
//! // An identity "model": every variant's prediction undone is the window itself.
//! for variant in tta.variants() {
//!     let seen = variant.apply(&window);
//!     let undone = variant.undo(seen.insert_axis(Axis(0)).view());
//!     assert_eq!(undone.index_axis(Axis(0), 0), window);
//! }
//! # Ok::<(), voxload::Error>(())
//! ```

use ndarray::{Array3, Array4, ArrayView4, Axis, Zip};
use serde_json::{Map, Value};

use super::flip::{permute, Rule};
use super::{params, Applied, Sample, Voxels};
use crate::{match_dtype, Error, Result};

/// The recorded name of a test-time variant in a sample's transforms.
pub const TEST_AUGMENT: &str = "TestAugment";

/// How the undone predictions of a window's variants combine (`INFERENCE.AUG_MODE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Combine {
    /// The voxel-wise mean (PyTC's default).
    #[default]
    Mean,
    /// The voxel-wise minimum, starting from 1 as PyTC's does.
    Min,
    /// The voxel-wise maximum, starting from 0 as PyTC's does.
    Max,
}

impl Combine {
    /// `mean`, `min` or `max`.
    ///
    /// # Errors
    /// [`Error::Config`] naming `INFERENCE.AUG_MODE` for anything else.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "mean" => Ok(Combine::Mean),
            "min" => Ok(Combine::Min),
            "max" => Ok(Combine::Max),
            other => Err(Error::Config {
                key: "INFERENCE.AUG_MODE".into(),
                reason: format!("{other:?}: expected \"mean\", \"min\" or \"max\""),
            }),
        }
    }

    /// The value a combination starts from.
    fn start(self) -> f32 {
        match self {
            Combine::Mean | Combine::Max => 0.0,
            Combine::Min => 1.0,
        }
    }
}

/// One view of a window: which axes are reversed and whether y and x are swapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    /// Reverse x.
    pub flip_x: bool,
    /// Reverse y.
    pub flip_y: bool,
    /// Reverse z.
    pub flip_z: bool,
    /// Swap y and x (after the flips).
    pub transpose: bool,
}

impl Variant {
    /// Whether this is the window itself.
    #[must_use]
    pub fn is_identity(&self) -> bool {
        *self == Variant::default()
    }

    fn rule(&self) -> Rule {
        Rule {
            flip: [self.flip_z, self.flip_y, self.flip_x],
            transpose_yx: self.transpose,
            transpose_zx: false,
        }
    }

    /// The variant of a `(d, h, w)` window (h and w swap when transposing).
    #[must_use]
    pub fn apply<T: Clone>(&self, window: &Array3<T>) -> Array3<T> {
        permute(window, self.rule())
    }

    /// Applies the variant to every array of `sample` (which has no pending warp: a grid
    /// sample, read and not augmented) and records it as variant number `number`.
    pub(crate) fn apply_sample(&self, number: usize, sample: &mut Sample) {
        if !self.is_identity() {
            for (_, data) in sample.targets_mut() {
                *data = match_dtype!(&*data, Voxels(a) => Voxels::from(self.apply(a)));
            }
        }
        sample.record(TEST_AUGMENT, self.params(number));
    }

    /// The recorded parameters: `variant` (its number) and the four switches.
    fn params(&self, number: usize) -> Map<String, Value> {
        params! {
            "variant" => number, "flip_x" => self.flip_x, "flip_y" => self.flip_y,
            "flip_z" => self.flip_z, "transpose" => self.transpose,
        }
    }

    /// The variant number and variant a sample's recorded transforms name, if any (the
    /// parameters [`Variant`] records under [`TEST_AUGMENT`]).
    #[must_use]
    pub fn recorded<'a>(
        transforms: impl IntoIterator<Item = (&'a str, &'a Map<String, Value>)>,
    ) -> Option<(usize, Variant)> {
        let (_, p) = transforms.into_iter().find(|(n, _)| *n == TEST_AUGMENT)?;
        let flag = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
        let number = p.get("variant")?.as_u64()? as usize;
        Some((
            number,
            Variant {
                flip_x: flag("flip_x"),
                flip_y: flag("flip_y"),
                flip_z: flag("flip_z"),
                transpose: flag("transpose"),
            },
        ))
    }

    /// A prediction `(C, d, h', w')` of this variant, brought back to the window's own
    /// orientation: transposed back, then flipped back.
    #[must_use]
    pub fn undo(&self, prediction: ArrayView4<'_, f32>) -> Array4<f32> {
        let mut v = prediction;
        if self.transpose {
            v.swap_axes(2, 3);
        }
        for (axis, flip) in [(1, self.flip_z), (2, self.flip_y), (3, self.flip_x)] {
            if flip {
                v.invert_axis(Axis(axis));
            }
        }
        v.as_standard_layout().into_owned()
    }
}

/// The variants of every window and how their predictions combine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestAugment {
    combine: Combine,
    variants: Vec<Variant>,
}

impl Default for TestAugment {
    /// No test-time augmentation: the window alone.
    fn default() -> Self {
        TestAugment {
            combine: Combine::Mean,
            variants: vec![Variant::default()],
        }
    }
}

impl TestAugment {
    /// PyTC's variants for `AUG_NUM` `num` (`None` or 0: the window alone; 4, 8 or 16; in 2D
    /// at most 8).
    ///
    /// # Errors
    /// [`Error::Config`] naming `INFERENCE.AUG_NUM` for any other number.
    pub fn new(num: Option<u32>, combine: Combine, two_d: bool) -> Result<Self> {
        let num = match num {
            None | Some(0) => 1,
            Some(n @ (4 | 8 | 16)) if two_d => n.min(8),
            Some(n @ (4 | 8 | 16)) => n,
            Some(n) => {
                return Err(Error::Config {
                    key: "INFERENCE.AUG_NUM".into(),
                    reason: format!("{n}: expected 4, 8 or 16 (or none)"),
                })
            }
        };
        let both = [false, true];
        let (z, t): (&[bool], &[bool]) = match num {
            1 | 4 => (&both[..1], &both[..1]),
            8 => (&both[..1], &both),
            _ => (&both, &both),
        };
        let xy: &[bool] = if num == 1 { &both[..1] } else { &both };
        let mut variants = Vec::with_capacity(num as usize);
        for &flip_x in xy {
            for &flip_y in xy {
                for &flip_z in z {
                    for &transpose in t {
                        variants.push(Variant {
                            flip_x,
                            flip_y,
                            flip_z,
                            transpose,
                        });
                    }
                }
            }
        }
        Ok(TestAugment { combine, variants })
    }

    /// The variants, in PyTC's order (the first is the window itself).
    #[must_use]
    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    /// The number of variants (at least 1).
    #[must_use]
    pub fn len(&self) -> usize {
        self.variants.len()
    }

    /// Never: there is always the window itself.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// How predictions combine.
    #[must_use]
    pub fn combine(&self) -> Combine {
        self.combine
    }

    /// Whether any variant transposes y and x.
    #[must_use]
    pub fn transposes(&self) -> bool {
        self.variants.iter().any(|v| v.transpose)
    }

    /// A fresh combination of predictions of shape `(C, d, h, w)`, summed in `f64` (so the
    /// mean of equal predictions is exactly that prediction).
    #[must_use]
    pub fn start(&self, shape: [usize; 4]) -> Array4<f64> {
        Array4::from_elem(shape, f64::from(self.combine.start()))
    }

    /// Folds one undone prediction into `into`.
    ///
    /// # Errors
    /// [`Error::Geometry`] when the shapes differ.
    pub fn fold(&self, into: &mut Array4<f64>, undone: ArrayView4<'_, f32>) -> Result<()> {
        if into.shape() != undone.shape() {
            return Err(Error::Geometry(format!(
                "test-time variant prediction of shape {:?}, expected {:?}",
                undone.shape(),
                into.shape()
            )));
        }
        let zip = Zip::from(into).and(&undone);
        match self.combine {
            Combine::Mean => zip.for_each(|a, &b| *a += f64::from(b)),
            Combine::Min => zip.for_each(|a, &b| *a = a.min(f64::from(b))),
            Combine::Max => zip.for_each(|a, &b| *a = a.max(f64::from(b))),
        }
        Ok(())
    }

    /// The result of a combination of all [`TestAugment::len`] variants (the mean divides),
    /// rounded to `f32`.
    #[must_use]
    pub fn finish(&self, combined: &Array4<f64>) -> Array4<f32> {
        let n = match self.combine {
            Combine::Mean => self.len() as f64,
            Combine::Min | Combine::Max => 1.0,
        };
        combined.mapv(|v| (v / n) as f32)
    }

    /// The record of variant `number` (for tests and manifests).
    #[must_use]
    pub fn applied(&self, number: usize) -> Option<Applied> {
        self.variants.get(number).map(|v| Applied {
            name: TEST_AUGMENT,
            params: v.params(number),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytc_order() {
        let v = TestAugment::new(Some(8), Combine::Mean, false).unwrap();
        let bits: Vec<[bool; 4]> = v
            .variants()
            .iter()
            .map(|v| [v.flip_x, v.flip_y, v.flip_z, v.transpose])
            .collect();
        assert_eq!(bits[0], [false; 4]);
        assert_eq!(bits[1], [false, false, false, true]);
        assert_eq!(bits[2], [false, true, false, false]);
        assert_eq!(bits[4], [true, false, false, false]);
        assert_eq!(bits.len(), 8);
        let s = TestAugment::new(Some(16), Combine::Mean, false).unwrap();
        assert_eq!(
            s.variants()[2],
            Variant {
                flip_z: true,
                ..Variant::default()
            }
        );
        assert_eq!(
            TestAugment::new(Some(16), Combine::Min, true)
                .unwrap()
                .len(),
            8
        );
        assert_eq!(
            TestAugment::new(Some(4), Combine::Max, false)
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            TestAugment::new(None, Combine::Max, false).unwrap().len(),
            1
        );
        assert!(TestAugment::new(Some(5), Combine::Max, false)
            .unwrap_err()
            .to_string()
            .contains("INFERENCE.AUG_NUM"));
        assert!(Combine::parse("median").is_err());
    }

    #[test]
    fn undo_inverts_apply_on_rectangles() {
        let w = Array3::from_shape_fn((3, 4, 5), |(z, y, x)| (z * 100 + y * 10 + x) as f32);
        for v in TestAugment::new(Some(16), Combine::Mean, false)
            .unwrap()
            .variants()
        {
            let seen = v.apply(&w);
            if v.transpose {
                assert_eq!(seen.shape(), &[3, 5, 4]);
            }
            // Spot-check the forward definition against indices.
            let (z, y, x) = (1usize, 2usize, 3usize);
            let (sy, sx) = (
                if v.flip_y { 3 - y } else { y },
                if v.flip_x { 4 - x } else { x },
            );
            let sz = if v.flip_z { 2 - z } else { z };
            let got = if v.transpose {
                seen[[sz, sx, sy]]
            } else {
                seen[[sz, sy, sx]]
            };
            assert_eq!(got, w[[z, y, x]], "{v:?}");
            let undone = v.undo(seen.insert_axis(Axis(0)).view());
            assert_eq!(undone.index_axis(Axis(0), 0), w);
        }
    }

    #[test]
    fn combining_follows_pytc_starts() {
        for (mode, expect) in [
            (Combine::Mean, 0.5f32),
            (Combine::Min, -1.0),
            (Combine::Max, 2.0),
        ] {
            let t = TestAugment::new(Some(4), mode, false).unwrap();
            let mut c = t.start([1, 1, 1, 2]);
            for p in [2.0f32, -1.0, 0.5, 0.5] {
                t.fold(&mut c, Array4::from_elem((1, 1, 1, 2), p).view())
                    .unwrap();
            }
            assert_eq!(t.finish(&c)[[0, 0, 0, 0]], expect, "{mode:?}");
        }
        // The starting values: min never above 1, max never below 0.
        let t = TestAugment::new(Some(4), Combine::Min, false).unwrap();
        let mut c = t.start([1, 1, 1, 1]);
        t.fold(&mut c, Array4::from_elem((1, 1, 1, 1), 3.0).view())
            .unwrap();
        assert_eq!(t.finish(&c)[[0, 0, 0, 0]], 1.0);
        // Sixteen equal predictions average back to exactly that prediction.
        let t = TestAugment::new(Some(16), Combine::Mean, false).unwrap();
        let mut c = t.start([1, 1, 1, 1]);
        for _ in 0..16 {
            t.fold(&mut c, Array4::from_elem((1, 1, 1, 1), 0.074_509_81).view())
                .unwrap();
        }
        assert_eq!(t.finish(&c)[[0, 0, 0, 0]], 0.074_509_81);
    }
}
