//! `Compose`: the sample size, the order transforms run in, the centre crop and the final flip.

use std::collections::BTreeMap;

use rand::Rng;

use super::{
    smooth_masks, CutBlur, CutNoise, Elastic, Flip, Grayscale, Growth, MisAlignment, MissingParts,
    MissingSection, MotionBlur, Rescale, Rotate, Sample, SampleRng, TargetKind, Transform,
};
use crate::{Error, Result};

/// A list of transforms in PyTC's order, with the targets they apply to.
///
/// See the [module docs](super) for the order of operations and an example.
#[derive(Debug)]
pub struct Compose {
    transforms: Vec<Box<dyn Transform>>,
    flip: Option<Box<dyn Transform>>,
    input: [usize; 3],
    sample: [usize; 3],
    targets: BTreeMap<String, TargetKind>,
    smooth: bool,
    enabled: bool,
}

impl Compose {
    /// A Compose of `transforms` (list order) producing `input_size` outputs, with
    /// `additional_targets` besides `image` (PyTC's `ADDITIONAL_TARGETS_NAME` / `_TYPE`).
    ///
    /// A [`Flip`] in the list is taken out and applied after the crop, as PyTC does. With an
    /// input depth of 1 (`DO_2D`) the sample stays one slice deep: transforms that need
    /// several slices (MissingSection, MisAlignment) then leave the sample alone.
    ///
    /// ```
    /// use voxload::augment::{Compose, TargetKind};
    /// let c = Compose::new(Compose::pytc_defaults(), [8, 256, 256], [("label", TargetKind::Mask)])?;
    /// assert_eq!(c.sample_size(), [10, 370, 370]);
    /// let mito = Compose::new(Compose::pytc_defaults(), [17, 225, 225], [("label", TargetKind::Mask)])?;
    /// assert_eq!(mito.sample_size(), [19, 332, 332]);
    /// # Ok::<(), voxload::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Augment`] for a zero input extent, a target named `image` or declared twice, a
    /// probability outside `[0, 1]`, or parameters a transform refuses ([`Transform::check`]).
    pub fn new<S: AsRef<str>>(
        transforms: Vec<Box<dyn Transform>>,
        input_size: [usize; 3],
        additional_targets: impl IntoIterator<Item = (S, TargetKind)>,
    ) -> Result<Self> {
        if input_size.contains(&0) {
            return Err(Error::Augment(format!(
                "input size {input_size:?} has a zero extent"
            )));
        }
        let mut targets = BTreeMap::from([("image".to_string(), TargetKind::Img)]);
        for (name, kind) in additional_targets {
            let name = name.as_ref();
            if targets.insert(name.to_string(), kind).is_some() {
                return Err(Error::Augment(format!(
                    "target `{name}` is declared twice (`image` is always present)"
                )));
            }
        }
        let mut sample = input_size;
        let two_d = input_size[0] == 1;
        for t in &transforms {
            let p = t.probability();
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::Augment(format!(
                    "{}: P = {p} is not a probability in [0, 1]",
                    t.name()
                )));
            }
            t.check()?;
            sample = t.growth().grow(sample);
            if two_d {
                // 2D samples stay one slice deep; z-only transforms skip themselves.
                sample[0] = 1;
            }
        }
        let (flips, transforms): (Vec<_>, Vec<_>) =
            transforms.into_iter().partition(|t| t.after_crop());
        Ok(Compose {
            transforms,
            flip: flips.into_iter().last(),
            input: input_size,
            sample,
            targets,
            smooth: false,
            enabled: true,
        })
    }

    /// `AUGMENTOR.ENABLED: false`: nothing is applied and the sample size is `input_size`.
    ///
    /// # Errors
    /// As [`Compose::new`].
    pub fn disabled<S: AsRef<str>>(
        input_size: [usize; 3],
        additional_targets: impl IntoIterator<Item = (S, TargetKind)>,
    ) -> Result<Self> {
        let mut c = Compose::new(Vec::new(), input_size, additional_targets)?;
        c.enabled = false;
        Ok(c)
    }

    /// PyTC's default transform set with its default parameters, in its list order: Rotate,
    /// Rescale, Flip, Elastic, Grayscale, MissingParts, MissingSection, MisAlignment,
    /// MotionBlur, CutBlur, CutNoise.
    #[must_use]
    pub fn pytc_defaults() -> Vec<Box<dyn Transform>> {
        vec![
            Box::new(Rotate::default()),
            Box::new(Rescale::default()),
            Box::new(Flip::default()),
            Box::new(Elastic::default()),
            Box::new(Grayscale::default()),
            Box::new(MissingParts::default()),
            Box::new(MissingSection::default()),
            Box::new(MisAlignment::default()),
            Box::new(MotionBlur::default()),
            Box::new(CutBlur::default()),
            Box::new(CutNoise::default()),
        ]
    }

    /// Label smoothing of mask targets after the crop (`AUGMENTOR.SMOOTH`).
    #[must_use]
    pub fn with_smoothing(mut self, smooth: bool) -> Self {
        self.smooth = smooth;
        self
    }

    /// The size of the window the sampler must read for each target.
    #[must_use]
    pub fn sample_size(&self) -> [usize; 3] {
        if self.enabled {
            self.sample
        } else {
            self.input
        }
    }

    /// The output size, `MODEL.INPUT_SIZE`.
    #[must_use]
    pub fn input_size(&self) -> [usize; 3] {
        self.input
    }

    /// The declared targets and their kinds, `image` included.
    #[must_use]
    pub fn targets(&self) -> &BTreeMap<String, TargetKind> {
        &self.targets
    }

    /// Whether any transform is applied (`AUGMENTOR.ENABLED`).
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Augments `sample` with randomness from `rng`: the transforms drawn by their `P`, in
    /// reverse list order, then the centre crop to the input size, then Flip, then smoothing.
    ///
    /// # Errors
    /// [`Error::Augment`] for a target that is not declared, an `img` target that is not
    /// `float32`, targets of different shapes, or a sample smaller than needed.
    pub fn apply(&self, mut sample: Sample, rng: &mut SampleRng) -> Result<Sample> {
        sample.declare(|name| self.targets.get(name).copied())?;
        if self.enabled {
            for t in self.transforms.iter().rev() {
                if rng.random::<f64>() < t.probability() {
                    let params = t.apply(&mut sample, rng)?;
                    sample.record(t.name(), params);
                }
            }
        }
        sample.crop_centre(self.input)?;
        if let Some(flip) = self.flip.as_ref().filter(|_| self.enabled) {
            if rng.random::<f64>() < flip.probability() {
                let params = flip.apply(&mut sample, rng)?;
                sample.record(flip.name(), params);
            }
        }
        if self.enabled && self.smooth {
            smooth_masks(&mut sample);
        }
        Ok(sample)
    }
}

impl Default for Growth {
    fn default() -> Self {
        Growth::NONE
    }
}
