//! A sample: named target arrays of one shape, the transforms applied to them, and any in-plane
//! warp not yet carried out.

use ndarray::Array3;
use serde_json::{Map, Value};

use super::warp::{Crop, PendingWarp, PlaneMap};
use super::{Applied, TargetKind, Voxels};
use crate::{Error, Result};

/// Named arrays of one shape: `image` (`float32`) and any declared `img` or `mask` targets.
///
/// ```
/// use ndarray::Array3;
/// use voxload::augment::{Sample, Voxels};
///
/// let sample = Sample::new(Array3::zeros((4, 8, 8)))
///     .with("label", Voxels::U16(Array3::zeros((4, 8, 8))));
/// assert_eq!(sample.shape(), [4, 8, 8]);
/// assert_eq!(sample.names().collect::<Vec<_>>(), ["image", "label"]);
/// ```
#[derive(Debug)]
pub struct Sample {
    entries: Vec<Entry>,
    warp: PendingWarp,
    applied: Vec<Applied>,
}

#[derive(Debug)]
struct Entry {
    name: String,
    kind: TargetKind,
    data: Voxels,
}

impl Sample {
    /// A sample holding `image`.
    #[must_use]
    pub fn new(image: Array3<f32>) -> Self {
        Sample {
            entries: vec![Entry {
                name: "image".into(),
                kind: TargetKind::Img,
                data: Voxels::F32(image),
            }],
            warp: PendingWarp::default(),
            applied: Vec::new(),
        }
    }

    /// Adds (or replaces) the target `name`; its kind is set by the [`super::Compose`] that
    /// applies to the sample (a mask until then).
    #[must_use]
    pub fn with(mut self, name: &str, data: Voxels) -> Self {
        self.insert(name, data);
        self
    }

    /// Adds (or replaces) the target `name`.
    pub fn insert(&mut self, name: &str, data: Voxels) {
        self.materialize_all();
        match self.entries.iter_mut().find(|e| e.name == name) {
            Some(e) => e.data = data,
            None => self.entries.push(Entry {
                name: name.to_string(),
                kind: TargetKind::Mask,
                data,
            }),
        }
    }

    /// The names of the targets, `image` first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The shape every target has (after any pending warp).
    #[must_use]
    pub fn shape(&self) -> [usize; 3] {
        let [d, h, w] = self.entries[0].data.shape();
        let [h, w] = self.warp.output([h, w]);
        [self.warp.depth(d), h, w]
    }

    /// The target `name`.
    #[must_use]
    pub fn get(&mut self, name: &str) -> Option<&Voxels> {
        self.materialize_all();
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.data)
    }

    /// The image.
    #[must_use]
    pub fn image(&mut self) -> &Array3<f32> {
        self.materialize_all();
        match &self.entries[0].data {
            Voxels::F32(a) => a,
            _ => unreachable!("the image is always float32"),
        }
    }

    /// The transforms applied so far, in the order applied.
    #[must_use]
    pub fn applied(&self) -> &[Applied] {
        &self.applied
    }

    /// Consumes the sample: every target by name, and the applied transforms.
    #[must_use]
    pub fn into_parts(mut self) -> (Vec<(String, Voxels)>, Vec<Applied>) {
        self.materialize_all();
        let targets = self.entries.into_iter().map(|e| (e.name, e.data)).collect();
        (targets, self.applied)
    }

    /// Every `img` target (the image first), for intensity transforms.
    pub fn images_mut(&mut self) -> impl Iterator<Item = &mut Array3<f32>> {
        self.materialize_all();
        self.entries
            .iter_mut()
            .filter_map(|e| match (&mut e.data, e.kind) {
                (Voxels::F32(a), TargetKind::Img) => Some(a),
                _ => None,
            })
    }

    /// Every target with its kind, for transforms that change all of them.
    pub fn targets_mut(&mut self) -> impl Iterator<Item = (TargetKind, &mut Voxels)> {
        self.materialize_all();
        self.entries.iter_mut().map(|e| (e.kind, &mut e.data))
    }

    /// Declares the kinds of the targets, checking names and types.
    pub(crate) fn declare(&mut self, kind_of: impl Fn(&str) -> Option<TargetKind>) -> Result<()> {
        let shape = self.entries[0].data.shape();
        if shape.contains(&0) {
            return Err(Error::Augment(format!(
                "image has an empty shape {shape:?}"
            )));
        }
        for e in &mut self.entries {
            e.kind = kind_of(&e.name).ok_or_else(|| {
                Error::Augment(format!(
                    "sample has a target `{}` that the augmentor does not declare; add it to ADDITIONAL_TARGETS_NAME with its type",
                    e.name
                ))
            })?;
            if e.kind == TargetKind::Img && e.data.dtype() != crate::DType::F32 {
                return Err(Error::Augment(format!(
                    "img target `{}` is {}; img targets are float32 (convert as the loader does: / 255 or / 65535)",
                    e.name,
                    e.data.dtype()
                )));
            }
            if e.data.shape() != shape {
                return Err(Error::Augment(format!(
                    "target `{}` has shape {:?} but image has {shape:?}",
                    e.name,
                    e.data.shape()
                )));
            }
        }
        Ok(())
    }

    /// Queues an in-plane map, applied together with any other queued maps.
    pub(crate) fn push_warp(&mut self, map: Box<dyn PlaneMap>) {
        self.warp.push(map);
    }

    /// Records a transform that was applied.
    pub(crate) fn record(&mut self, name: &'static str, params: Map<String, Value>) {
        self.applied.push(Applied { name, params });
    }

    /// Keeps the centred `size` box of every target (offset `floor((shape − size) / 2)`),
    /// queued like a warp, so that only the box is ever computed.
    pub(crate) fn crop_centre(&mut self, size: [usize; 3]) -> Result<()> {
        let shape = self.shape();
        if (0..3).any(|a| shape[a] < size[a]) {
            return Err(Error::Augment(format!(
                "transformed sample {shape:?} is smaller than the input size {size:?}; the sample read must be at least the Compose's sample size"
            )));
        }
        let off: [usize; 3] = std::array::from_fn(|a| (shape[a] - size[a]) / 2);
        if shape[1..] != size[1..] {
            self.push_warp(Box::new(Crop {
                input: [shape[1], shape[2]],
                output: [size[1], size[2]],
                offset: [off[1], off[2]],
            }));
        }
        if shape[0] != size[0] {
            let pick: Vec<usize> = (off[0]..off[0] + size[0]).collect();
            self.select_slices(&pick);
        }
        Ok(())
    }

    /// Keeps slices `pick` (indices into the current slices, in that order) of every target,
    /// queued like a warp.
    pub(crate) fn select_slices(&mut self, pick: &[usize]) {
        let depth = self.entries[0].data.shape()[0];
        self.warp.select(depth, pick);
    }

    /// Carries out any pending work.
    fn materialize_all(&mut self) {
        if !self.warp.is_empty() {
            self.run_warp();
        }
    }

    fn run_warp(&mut self) {
        let mut targets: Vec<(TargetKind, &mut Voxels)> = self
            .entries
            .iter_mut()
            .map(|e| (e.kind, &mut e.data))
            .collect();
        self.warp.materialize(&mut targets);
    }
}
