//! Learning targets and loss weights: PyTorch Connectomics v1's `seg_to_targets` and
//! `seg_to_weights`, computed from a label window as pure functions.
//!
//! A [`TargetOpt`](crate::target::TargetOpt) is one entry of `MODEL.TARGET_OPT`, parsed from PyTC's option string
//! (`"0"`, `"2-1-3-3-v1"`, `"4-1-1"`, `"5-3d-1-0-1.0-0"`, …); [`TargetOpt::compute`](crate::target::TargetOpt::compute) turns a
//! `(D, H, W)` label into a `(C, D, H, W)` `float32` target with PyTC's values. A
//! [`WeightOpt`](crate::target::WeightOpt) is one entry of `MODEL.WEIGHT_OPT` (`"0"`, `"1"`, `"1-1"`, `"2-10-5"`);
//! [`WeightOpt::compute`](crate::target::WeightOpt::compute) gives the weight map for a target, applying the valid mask as PyTC
//! does. [`widen_border`](crate::target::widen_border) and [`dilate_labels`](crate::target::dilate_labels) are `MODEL.LABEL_EROSION` and
//! `MODEL.LABEL_DILATION`, which PyTC applies to the label before each target; [`crop_output`](crate::target::crop_output)
//! centre-crops targets and weights to `MODEL.OUTPUT_SIZE`.
//!
//! With `two_d` (PyTC's `DATASET.DO_2D`), each z slice is one 2D label, as PyTC sees the
//! squeezed `(H, W)` window of a `(1, H, W)` sample. Where PyTC v1 computes something else in
//! 2D (affinities have two channels) this follows it; where PyTC v1 fails on a 2D label
//! (targets `3`, `5`, `8`, weight `2`) this returns an error instead of a target PyTC never
//! produces.
//!
//! Distances are exact Euclidean distance transforms, separable and linear-time
//! ([`distance_transform`](crate::target::distance_transform), [`distance_transform_slices`](crate::target::distance_transform_slices)).
//!
//! ```
//! use ndarray::Array3;
//! use voxload::target::{TargetOpt, WeightOpt};
//!
//! // Two objects side by side.
//! let label = Array3::from_shape_fn((4, 16, 16), |(_, _, x)| if x < 8 { 1u64 } else { 2 });
//! let affinity: TargetOpt = "2".parse()?;
//! let target = affinity.compute(label.view(), false)?;
//! assert_eq!(target.shape(), &[3, 4, 16, 16]);
//! assert_eq!(target[[2, 0, 0, 8]], 0.0); // x affinity across the two objects
//! assert_eq!(target[[2, 0, 0, 7]], 1.0);
//!
//! let weight: WeightOpt = "1".parse()?;
//! let w = weight.compute(target.view(), None, label.view(), false)?.unwrap();
//! assert_eq!(w.shape(), target.shape());
//! # Ok::<(), voxload::Error>(())
//! ```

mod affinity;
mod components;
mod diffusion;
mod edt;
pub(crate) mod ids;
mod instance;
mod morphology;
pub(crate) mod output;
mod parse;
mod semantic;
mod weight;

pub use edt::{distance_transform, distance_transform_slices};
pub use weight::WeightOpt;
pub(crate) use weight::{TargetSeen, ValidMask};

use std::borrow::Cow;

use ndarray::{s, Array3, Array4, ArrayView3};

use crate::{Error, Result};
use ids::Id;

/// A target over the whole label window, before it is written out (cropped) as `float32`.
#[derive(Debug)]
pub(crate) enum Computed {
    /// A target of 0s and 1s (`0`, `1`, `2`, `3`, `4`), one byte per voxel and channel.
    Map(Vec<u8>),
    /// Any other target's values.
    Values(Vec<f32>),
}

impl Computed {
    /// Hands the buffer back to this thread's pool.
    pub(crate) fn recycle(self) {
        match self {
            Computed::Map(m) => crate::recycle::give(m),
            Computed::Values(v) => crate::recycle::give(v),
        }
    }
}

/// The configuration key of target options, named by their errors.
pub(crate) const TARGET_KEY: &str = "MODEL.TARGET_OPT";

/// One learning target of `MODEL.TARGET_OPT`, parsed from PyTC's option string (see
/// [`std::str::FromStr`]; [`std::fmt::Display`] writes it back).
///
/// ```
/// use voxload::target::{Mode, TargetOpt};
///
/// let opt: TargetOpt = "6-3d-8-50".parse()?;
/// assert_eq!(opt, TargetOpt::SemanticDistance { mode: Mode::ThreeD, alpha_fore: 8.0, alpha_back: 50.0 });
/// assert_eq!(opt.to_string(), "6-3d-8.0-50.0");
/// assert!("2-x".parse::<TargetOpt>().is_err());
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum TargetOpt {
    /// `0`: 1 where the label is non-zero; `0-a-b-…`: 1 where it is one of the ids `a`, `b`, ….
    /// One channel.
    Foreground {
        /// The ids counted as foreground (empty: every non-zero id).
        classes: Vec<i64>,
    },
    /// `1`: synaptic polarity, three channels (odd ids, even non-zero ids, non-zero ids);
    /// `1-1`: one channel of classes 0, 1 (odd) and 2 (even non-zero), for cross-entropy.
    Polarity {
        /// `1-1`.
        exclusive: bool,
    },
    /// `2`, `2-z-y-x-v1`, `2-z-y-x-v2`: affinities, channels `(z, y, x)` (`(y, x)` in 2D).
    Affinity(Affinity),
    /// `3-threshold-ratio-d`: 1 on objects smaller than `threshold` pixels in their z slice or
    /// `threshold // ratio` in their y or x plane (8-connected, per plane). One channel; 3D
    /// labels only.
    SmallObjects {
        /// The size threshold in a z slice.
        threshold: i64,
        /// The z / x-y resolution ratio dividing the threshold in the other planes (non-zero).
        z_ratio: i64,
        /// The fourth field, which PyTC reads and does not use.
        unused: i64,
    },
    /// `4-half-background`: instance boundaries, one channel (see [`Self::compute`]).
    Boundary {
        /// The half-size of the square window.
        half: usize,
        /// Whether boundaries with the background count (`1`) or only between ids (`0`).
        background: bool,
    },
    /// `5`, `5-mode-padding-quantize-zres-erosion`: the instance distance transform, one
    /// channel. 3D labels only.
    InstanceDistance(Distance),
    /// `6`, `6-mode-alpha_fore-alpha_back`: `tanh(d_fg / alpha_fore − d_bg / alpha_back)`, one
    /// channel (`6` is `6-2d-8-50`).
    SemanticDistance {
        /// Slice by slice (`2d`), or over the window with sampling `(6, 1, 1)` (`3d`).
        mode: Mode,
        /// The foreground distance's divisor (non-zero).
        alpha_fore: f64,
        /// The background distance's divisor (non-zero).
        alpha_back: f64,
    },
    /// `7`: diffusion gradients `(dy, dx)` per slice (cellpose flows), two channels; `7-0`
    /// adds the foreground as a third.
    Diffusion {
        /// `7-0`.
        with_foreground: bool,
    },
    /// `8-dilation-5…`: the instance distance transform of the label after a maximum filter
    /// of size `dilation` on every axis (skeleton labels made thicker). One channel; 3D
    /// labels only.
    Skeleton {
        /// The maximum filter's size (at least 1).
        dilation: usize,
        /// The distance transform's options (the `5…` part).
        distance: Distance,
    },
    /// `9`, `9-classes`: the class ids themselves, one channel (PyTC's `int64` map, here as
    /// `float32`).
    Semantic {
        /// The number of classes, which PyTC reads and does not use.
        classes: Option<u64>,
    },
}

/// The neighbourhood of an affinity target.
///
/// ```
/// use voxload::target::{Affinity, TargetOpt};
/// assert_eq!("2".parse::<TargetOpt>()?, TargetOpt::Affinity(Affinity::Nearest));
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Affinity {
    /// `2`: each voxel and its predecessor on each axis.
    Nearest,
    /// `2-z-y-x-version`: long-range affinities with an offset per axis.
    Long {
        /// The offsets `(z, y, x)`; y and x at least 1, z at least 1 for a 3D label (a 2D
        /// label ignores it).
        offsets: [i64; 3],
        /// `v1` or `v2`.
        version: AffinityVersion,
    },
}

/// How a long-range affinity pairs voxels.
///
/// ```
/// use voxload::target::{Affinity, AffinityVersion, TargetOpt};
///
/// let opt: TargetOpt = "2-1-3-3-v2".parse()?;
/// let want = Affinity::Long { offsets: [1, 3, 3], version: AffinityVersion::V2 };
/// assert_eq!(opt, TargetOpt::Affinity(want));
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityVersion {
    /// `v1`: voxel `p` and `p − d` (the first `d` planes compare with the first plane).
    V1,
    /// `v2`: voxels `p − d` and `p + d` (clamped to the window), `p` itself left out.
    V2,
}

/// 2D (slice by slice) or 3D (over the whole window).
///
/// ```
/// use voxload::target::{Mode, TargetOpt};
/// let opt: TargetOpt = "6".parse()?;
/// assert!(matches!(opt, TargetOpt::SemanticDistance { mode: Mode::TwoD, .. }));
/// assert_eq!(Mode::ThreeD.to_string(), "3d");
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `2d`.
    TwoD,
    /// `3d`.
    ThreeD,
}

/// The options of the instance distance transform (targets `5` and `8`).
///
/// ```
/// use voxload::target::{Distance, Mode, TargetOpt};
///
/// let opt: TargetOpt = "5-3d-1-0-2.0-1".parse()?;
/// let want = Distance { mode: Mode::ThreeD, padding: true, quantize: false, z_resolution: 2.0, erosion: 1 };
/// assert_eq!(opt, TargetOpt::InstanceDistance(want));
/// assert_eq!("5".parse::<TargetOpt>()?, TargetOpt::InstanceDistance(Distance::default()));
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distance {
    /// Each z slice alone (`2d`, unit sampling) or the whole window (`3d`).
    pub mode: Mode,
    /// Whether the window's border counts as background (2 voxels of padding, removed after).
    pub padding: bool,
    /// Whether energies become PyTC's 11 levels: 0 for background, then 1–10 for `[0, 0.1)`,
    /// …, `[0.9, 1]`.
    pub quantize: bool,
    /// The z sampling of mode `3d` (y and x are 1), between 10⁻³ and 10³.
    pub z_resolution: f64,
    /// The radius of the disk (`2d`) or ball (`3d`) each object is eroded by first.
    pub erosion: u64,
}

impl Default for Distance {
    /// PyTC's `5`: `5-2d-0-0-5.0-0`.
    fn default() -> Self {
        Distance {
            mode: Mode::TwoD,
            padding: false,
            quantize: false,
            z_resolution: 5.0,
            erosion: 0,
        }
    }
}

impl TargetOpt {
    /// The number of channels of the target (`two_d` matters for affinities only).
    ///
    /// ```
    /// use voxload::target::TargetOpt;
    /// let opt: TargetOpt = "2".parse()?;
    /// assert_eq!((opt.channels(false), opt.channels(true)), (3, 2));
    /// assert_eq!("1".parse::<TargetOpt>()?.channels(false), 3);
    /// # Ok::<(), voxload::Error>(())
    /// ```
    #[must_use]
    pub fn channels(&self, two_d: bool) -> usize {
        match self {
            TargetOpt::Polarity { exclusive: false } => 3,
            TargetOpt::Affinity(_) if two_d => 2,
            TargetOpt::Affinity(_) => 3,
            TargetOpt::Diffusion { with_foreground } => 2 + usize::from(*with_foreground),
            _ => 1,
        }
    }

    /// The target of `label`, `(C, D, H, W)`, with PyTC v1's values (`float32`; class maps
    /// and quantised levels as their numbers). `two_d` treats each z slice as a 2D label.
    ///
    /// Instance boundaries (`4-half-background`), per slice: with `background`, a pixel is an
    /// edge where its two neighbours along y, or its two along x, hold different ids (the
    /// window's edge repeating), and edges are dilated by the `(2·half + 1)²` square; without,
    /// a pixel is boundary where its `(2·half + 1)²` window holds two or more distinct
    /// non-zero ids. Ids are compared exactly (PyTC's are `float32`, so ids from 2²⁴ on may
    /// differ; its loader relabels windows to small ids).
    ///
    /// # Errors
    /// - [`Error::Config`] (key `MODEL.TARGET_OPT`) for a target PyTC v1 cannot produce for
    ///   this label: `3`, `5` and `8` of a 2D label, a zero z offset of a 3D affinity.
    /// - [`Error::Geometry`] for a window of 2³² voxels or more, or a `7` target of a window
    ///   less than 2 pixels high or wide (PyTC squeezes it to fewer dimensions).
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::target::TargetOpt;
    ///
    /// let label = Array3::from_shape_fn((1, 3, 3), |(_, y, x)| u64::from(y == 1 && x == 1) * 4);
    /// let boundary: TargetOpt = "4-0-1".parse()?;
    /// let t = boundary.compute(label.view(), true)?;
    /// // The centre's row and column neighbours are equal; its edge neighbours see it.
    /// assert_eq!(t.into_raw_vec_and_offset().0, [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    /// # Ok::<(), voxload::Error>(())
    /// ```
    pub fn compute(&self, label: ArrayView3<'_, u64>, two_d: bool) -> Result<Array4<f32>> {
        let (d, h, w) = label.dim();
        let channels = self.channels(two_d);
        let flat: Cow<'_, [u64]> = match label.as_slice() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(label.iter().copied().collect()),
        };
        let data = match self.compute_full(&flat, [d, h, w], two_d)? {
            Computed::Map(map) => {
                let values = map.iter().map(|&m| f32::from(m)).collect();
                crate::recycle::give(map);
                values
            }
            Computed::Values(values) => values,
        };
        Ok(Array4::from_shape_vec((channels, d, h, w), data).expect("target size matches"))
    }

    /// The target of `label` (shape `dims`, C order) over the whole window, as
    /// [`Self::compute`] gives it: 0/1 targets as a map, others as values, in buffers from
    /// this thread's pool where they are made here.
    ///
    /// # Errors
    /// As [`Self::compute`].
    pub(crate) fn compute_full<T: Id>(
        &self,
        label: &[T],
        dims: [usize; 3],
        two_d: bool,
    ) -> Result<Computed> {
        let voxels = label.len();
        debug_assert_eq!(voxels, dims.iter().product::<usize>());
        if voxels >= u32::MAX as usize {
            return Err(Error::Geometry(format!(
                "label window {dims:?}: targets need fewer than 2^32 voxels"
            )));
        }
        let channels = self.channels(two_d);
        let map = |fill: &dyn Fn(&mut [u8])| {
            let mut map = crate::recycle::take::<u8>(channels * voxels);
            fill(&mut map);
            Computed::Map(map)
        };
        if voxels == 0 {
            return Ok(Computed::Values(Vec::new()));
        }
        let only_3d = |what: &str| {
            if two_d {
                Err(self.unusable(&format!(
                    "{what} of a 2D label fails in PyTC v1 (its code needs a 3D label)"
                )))
            } else {
                Ok(())
            }
        };
        // The targets that need ids as `u64` (components, distances, diffusion).
        let wide = |f: &dyn Fn(&[u64]) -> Result<Computed>| {
            let wide = T::wide_slice(label);
            let out = f(&wide);
            ids::recycle_wide(wide);
            out
        };
        Ok(match self {
            TargetOpt::Foreground { classes } => map(&|m| semantic::foreground(label, classes, m)),
            TargetOpt::Polarity { exclusive: false } => map(&|m| semantic::polarity(label, m)),
            TargetOpt::Polarity { exclusive: true } => {
                Computed::Values(semantic::polarity_classes(label))
            }
            TargetOpt::Affinity(a) => {
                let (offsets, symmetric) = match *a {
                    Affinity::Nearest => ([1; 3], false),
                    Affinity::Long { offsets, version } => {
                        if !two_d && offsets[0] < 1 {
                            return Err(self.unusable(
                                "a 3D affinity needs a z offset of at least 1 (PyTC v1 fails)",
                            ));
                        }
                        let off = offsets.map(|o| usize::try_from(o.max(1)).unwrap_or(usize::MAX));
                        (off, version == AffinityVersion::V2)
                    }
                };
                map(&|m| affinity::affinity(label, dims, offsets, symmetric, two_d, m))
            }
            TargetOpt::SmallObjects {
                threshold, z_ratio, ..
            } => {
                only_3d("the small-object mask")?;
                wide(&|label| {
                    Ok(map(&|m| {
                        morphology::small_objects(label, dims, *threshold, *z_ratio, m);
                    }))
                })?
            }
            TargetOpt::Boundary { half, background } => {
                map(&|m| morphology::instance_boundary(label, dims, *half, *background, m))
            }
            TargetOpt::InstanceDistance(opt) => {
                only_3d("the instance distance transform")?;
                wide(&|label| {
                    Ok(Computed::Values(instance::instance_distance(
                        label, dims, opt,
                    )))
                })?
            }
            TargetOpt::SemanticDistance {
                mode,
                alpha_fore,
                alpha_back,
            } => {
                let volume = *mode == Mode::ThreeD && !two_d;
                wide(&|label| {
                    Ok(Computed::Values(semantic::semantic_distance(
                        label,
                        dims,
                        volume,
                        *alpha_fore,
                        *alpha_back,
                    )))
                })?
            }
            TargetOpt::Diffusion { with_foreground } => wide(&|label| {
                diffusion_target(label, dims, *with_foreground).map(Computed::Values)
            })?,
            TargetOpt::Skeleton { dilation, distance } => {
                only_3d("the skeleton distance transform")?;
                let mut thick = ids::widen(label);
                let (before, after) = (dilation / 2, dilation - 1 - dilation / 2);
                for axis in [2, 1, 0] {
                    morphology::sliding_axis(&mut thick, dims, axis, (before, after), |a, b| a > b);
                }
                let out = instance::instance_distance(&thick, dims, distance);
                crate::recycle::give(thick);
                Computed::Values(out)
            }
            TargetOpt::Semantic { .. } => Computed::Values(semantic::class_ids(label)),
        })
    }

    /// An [`Error::Config`] saying this option cannot be computed, and why.
    fn unusable(&self, reason: &str) -> Error {
        Error::Config {
            key: TARGET_KEY.into(),
            reason: format!("`{self}`: {reason}"),
        }
    }
}

/// Target `7`: `dy`, `dx` (and the foreground) per slice.
fn diffusion_target(
    label: &[u64],
    [d, h, w]: [usize; 3],
    with_foreground: bool,
) -> Result<Vec<f32>> {
    if h < 2 || w < 2 {
        return Err(Error::Geometry(format!(
            "target 7 of a ({d}, {h}, {w}) window: PyTC v1 squeezes windows less than 2 pixels \
             high or wide to fewer dimensions; diffusion gradients need at least 2 × 2 slices"
        )));
    }
    let (mut dy, mut dx) = (
        Vec::with_capacity(label.len()),
        Vec::with_capacity(label.len()),
    );
    for slice in label.chunks_exact(h * w) {
        diffusion::gradients(slice, [h, w], &mut dy, &mut dx);
    }
    dy.extend_from_slice(&dx);
    if with_foreground {
        dy.extend(label.iter().map(|&v| f32::from(u8::from(v != 0))));
    }
    Ok(dy)
}

/// PyTC's `seg_widen_border` (`MODEL.LABEL_EROSION`): per z slice, a voxel keeps its id only
/// where its `(2·half + 1)²` window (clipped to the slice) holds at most one distinct non-zero
/// id; elsewhere it becomes 0, so touching objects are separated by background.
///
/// ```
/// use ndarray::Array3;
/// use voxload::target::widen_border;
///
/// let label = Array3::from_shape_fn((1, 1, 4), |(_, _, x)| if x < 2 { 1u64 } else { 2 });
/// assert_eq!(widen_border(label.view(), 1).into_raw_vec_and_offset().0, [1, 0, 0, 2]);
/// ```
#[must_use]
pub fn widen_border(label: ArrayView3<'_, u64>, half: usize) -> Array3<u64> {
    let dims = label.dim();
    let flat: Vec<u64> = label.iter().copied().collect();
    let out = morphology::widen_border(&flat, [dims.0, dims.1, dims.2], half);
    Array3::from_shape_vec(dims, out).expect("same size")
}

/// PyTC's label dilation (`MODEL.LABEL_DILATION`): per z slice, each voxel takes the largest
/// id in its `(2·half + 1)²` window (clipped to the slice).
///
/// ```
/// use ndarray::Array3;
/// use voxload::target::dilate_labels;
///
/// let label = Array3::from_shape_fn((1, 1, 5), |(_, _, x)| if x == 2 { 3u64 } else { 0 });
/// assert_eq!(dilate_labels(label.view(), 1).into_raw_vec_and_offset().0, [0, 3, 3, 3, 0]);
/// ```
#[must_use]
pub fn dilate_labels(label: ArrayView3<'_, u64>, half: usize) -> Array3<u64> {
    let dims = label.dim();
    let mut flat: Vec<u64> = label.iter().copied().collect();
    morphology::plane_max(&mut flat, [dims.0, dims.1, dims.2], half);
    Array3::from_shape_vec(dims, flat).expect("same size")
}

/// `MODEL.LABEL_EROSION` then `MODEL.LABEL_DILATION` of a label (shape `dims`, C order), as
/// [`widen_border`] and [`dilate_labels`] do them, for one target.
pub(crate) fn reshape_label(
    label: Vec<u64>,
    dims: [usize; 3],
    erosion: Option<usize>,
    dilation: Option<usize>,
) -> Vec<u64> {
    let mut label = match erosion {
        Some(half) => morphology::widen_border(&label, dims, half),
        None => label,
    };
    if let Some(half) = dilation {
        morphology::plane_max(&mut label, dims, half);
    }
    label
}

/// Centre-crops the spatial axes of a `(C, D, H, W)` target or weight to `output_size`
/// (`MODEL.OUTPUT_SIZE`): on each axis the crop starts at `(size − output) / 2`, rounded down,
/// the rule of PyTC's centre crop (its augmentor's `center_crop`). An axis already of the
/// output size is kept whole, and an array needing no crop is returned as it is.
///
/// # Errors
/// [`Error::Geometry`] when `output_size` is larger than the array on some axis.
///
/// ```
/// use ndarray::Array4;
/// use voxload::target::crop_output;
///
/// let a = Array4::from_shape_fn((1, 1, 1, 5), |(_, _, _, x)| x as f32);
/// let c = crop_output(a, [1, 1, 2])?;
/// assert_eq!(c.into_raw_vec_and_offset().0, [1.0, 2.0]);
/// # Ok::<(), voxload::Error>(())
/// ```
pub fn crop_output(array: Array4<f32>, output_size: [usize; 3]) -> Result<Array4<f32>> {
    let (_, d, h, w) = array.dim();
    let crop = output::Crop::centre([d, h, w], Some(output_size))?;
    if crop.is_whole() {
        return Ok(array);
    }
    let (lo, hi): ([usize; 3], [usize; 3]) =
        (crop.lo, std::array::from_fn(|a| crop.lo[a] + crop.shape[a]));
    Ok(array
        .slice(s![.., lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]])
        .to_owned())
}
