//! Augmentation: PyTorch Connectomics' transform set, applied to an image and its masks at once.
//!
//! A [`Compose`] holds transforms in PyTC's list order. It computes the enlarged **sample size**
//! the sampler must read (`size = ceil(size · ratio) + 2 · add`, transform by transform), applies
//! the transforms drawn by their probability in reverse list order, centre-crops every target to
//! the input size, then applies [`Flip`] and, optionally, label smoothing.
//!
//! A [`Sample`] maps names to arrays: `image` is required, every other name is declared to the
//! Compose as an `img` or a `mask` target ([`TargetKind`]). Geometric transforms move every
//! target identically — `img` targets interpolate linearly, `mask` targets by nearest neighbour,
//! so mask values are never blended. Rotate, Rescale and Elastic are fused: each contributes a
//! coordinate map, and the maps are composed and interpolated once, only over the region that
//! survives the centre crop.
//!
//! Every random decision comes from the [`SampleRng`] passed in (the sample's own RNG), so a
//! sample is reproducible bit for bit; each applied transform and its drawn parameters are
//! recorded on the sample ([`Sample::applied`]).
//!
//! ```
//! use ndarray::Array3;
//! use voxload::augment::{Compose, Sample, TargetKind, Voxels};
//! use voxload::sampler::sample_rng;
//!
//! let compose = Compose::new(Compose::pytc_defaults(), [8, 64, 64], [("label", TargetKind::Mask)])?;
//! let [d, h, w] = compose.sample_size();
//! let image = Array3::from_shape_fn((d, h, w), |(z, y, x)| ((z + y + x) % 7) as f32 / 7.0);
//! let label = Array3::from_shape_fn((d, h, w), |(_, y, _)| (y / 16) as u16);
//! let sample = Sample::new(image).with("label", Voxels::U16(label));
//! let out = compose.apply(sample, &mut sample_rng(0, 0, 3))?;
//! assert_eq!(out.shape(), [8, 64, 64]);
//! assert!(!out.applied().is_empty());
//! # Ok::<(), voxload::Error>(())
//! ```

mod compose;
mod defect;
mod flip;
mod geometric;
mod intensity;
mod kernel;
pub(crate) use kernel::gaussian_kernel_f64;
mod sample;
mod section;
mod smooth;
mod test_time;
mod voxels;
mod warp;

pub use compose::Compose;
pub use defect::{CutBlur, CutNoise, MissingParts, MotionBlur};
pub use flip::Flip;
pub use geometric::{Elastic, Rescale, Rotate};
pub use intensity::{Grayscale, GrayscaleMode};
pub use sample::Sample;
pub use section::{MisAlignment, MissingSection};
pub use smooth::smooth_masks;
pub use test_time::{Combine, TestAugment, Variant, TEST_AUGMENT};
pub use voxels::Voxels;

use serde_json::{Map, Value};

use crate::Result;

/// The RNG every transform draws from: the sample's own (see [`crate::sampler::sample_rng`]).
pub type SampleRng = rand_xoshiro::Xoshiro256PlusPlus;

/// How a target is transformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// An image (`float32`): linear interpolation, changed by intensity transforms.
    Img,
    /// A mask or label: nearest neighbour, never blended, untouched by intensity transforms.
    Mask,
}

impl std::str::FromStr for TargetKind {
    type Err = crate::Error;
    /// PyTC's names: `img` or `mask`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "img" => Ok(TargetKind::Img),
            "mask" => Ok(TargetKind::Mask),
            _ => Err(crate::Error::Parse {
                what: "target type",
                input: s.to_string(),
                reason: "expected `img` or `mask`".into(),
            }),
        }
    }
}

/// How a transform enlarges the sample it needs: `size = ceil(size · ratio) + 2 · add` per axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Growth {
    /// Multiplicative growth per axis `(z, y, x)`.
    pub ratio: [f64; 3],
    /// Voxels added on each side, per axis.
    pub add: [usize; 3],
}

impl Growth {
    /// No growth.
    pub const NONE: Growth = Growth {
        ratio: [1.0; 3],
        add: [0; 3],
    };

    /// Grows `size` as the formula says (saturating at `usize::MAX`).
    #[must_use]
    pub fn grow(&self, size: [usize; 3]) -> [usize; 3] {
        std::array::from_fn(|a| {
            ((size[a] as f64 * self.ratio[a]).ceil() as usize)
                .saturating_add(self.add[a].saturating_mul(2))
        })
    }
}

/// One transform of the set. Implementations draw every random value from the RNG passed to
/// [`Transform::apply`] and return the drawn parameters, which the Compose records.
pub trait Transform: Send + Sync + std::fmt::Debug {
    /// PyTC's class name (`Rotate`, `Elastic`, …), used in records and manifests.
    fn name(&self) -> &'static str;
    /// The probability `P` that the Compose applies the transform to a sample.
    fn probability(&self) -> f64;
    /// How much larger than its output the transform needs its input.
    fn growth(&self) -> Growth {
        Growth::NONE
    }
    /// Whether [`Compose`] takes the transform out of list order and applies it after the
    /// centre crop, as PyTC does with [`Flip`] (default `false`; only Flip says `true`).
    ///
    /// ```
    /// use voxload::augment::{Flip, Rescale, Transform};
    /// assert!(Flip::default().after_crop());
    /// assert!(!Rescale::default().after_crop());
    /// ```
    fn after_crop(&self) -> bool {
        false
    }
    /// Checks the transform's parameters; [`Compose::new`] calls it.
    ///
    /// # Errors
    /// [`crate::Error::Augment`] for a parameter the transform cannot work with (such as a
    /// kernel too large to allocate).
    fn check(&self) -> Result<()> {
        Ok(())
    }
    /// Transforms `sample` in place, returning the drawn parameters as a JSON object.
    ///
    /// # Errors
    /// A sample too small for the transform.
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>>;
}

/// A transform applied to every sample (`P` 1), whatever its own probability: for measuring
/// one transform alone, as `voxload bench augment` does.
///
/// ```
/// use voxload::augment::{Always, Rotate, Transform};
/// let t = Always(Box::new(Rotate::default()));
/// assert_eq!((t.name(), t.probability()), ("Rotate", 1.0));
/// ```
#[derive(Debug)]
pub struct Always(pub Box<dyn Transform>);

impl Transform for Always {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn probability(&self) -> f64 {
        1.0
    }
    fn growth(&self) -> Growth {
        self.0.growth()
    }
    fn after_crop(&self) -> bool {
        self.0.after_crop()
    }
    fn check(&self) -> Result<()> {
        self.0.check()
    }
    fn apply(&self, sample: &mut Sample, rng: &mut SampleRng) -> Result<Map<String, Value>> {
        self.0.apply(sample, rng)
    }
}

/// A transform that was applied, with the parameters it drew (recorded in a manifest as a
/// [`crate::loader::ManifestTransform`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// PyTC's class name.
    pub name: &'static str,
    /// The drawn parameters.
    pub params: Map<String, Value>,
}

/// A JSON object of drawn parameters: `params!{"k" => 3, "angle" => 1.5}`.
macro_rules! params {
    ($($key:literal => $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = serde_json::Map::new();
        $(map.insert($key.to_string(), serde_json::Value::from($value));)*
        map
    }};
}
pub(crate) use params;
