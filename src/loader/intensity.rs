//! What the model receives as `image`: PyTC's conversion of the volume to `[0, 1]`
//! (`DATASET.NORMALIZE_RANGE`) and its normalisation after augmentation (`DATASET.MEAN`,
//! `STD`, `MATCH_ACT`).
//!
//! PyTC divides every window by 255 (whatever the volume's type), stretching non-`uint8`
//! volumes to `uint8` by their range first when `NORMALIZE_RANGE` is set; voxload does the
//! same per window, from the volume's range computed once (chunk by chunk, never loading the
//! volume) and kept in the index cache when there is one. After augmentation the image becomes
//! `(x − MEAN) / STD` (`float32` arithmetic, as numpy does it), `2x − 1` with `MATCH_ACT: tanh`,
//! or stays in `[0, 1]` with `sigmoid`.

use std::path::Path;
use std::str::FromStr;

use serde_json::json;

use crate::store::{AnyArray, ImageScale};
use crate::{DType, Error, Result};

/// `DATASET.MATCH_ACT`: the output activation the image range is matched to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatchAct {
    /// `(x − MEAN) / STD` (PyTC's `none`, the default).
    #[default]
    None,
    /// `[0, 1]` as it is.
    Sigmoid,
    /// `2x − 1`, into `[−1, 1]`.
    Tanh,
}

impl FromStr for MatchAct {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(MatchAct::None),
            "sigmoid" => Ok(MatchAct::Sigmoid),
            "tanh" => Ok(MatchAct::Tanh),
            other => Err(Error::Config {
                key: "DATASET.MATCH_ACT".into(),
                reason: format!("`{other}`: expected none, sigmoid or tanh"),
            }),
        }
    }
}

/// How image windows are converted and normalised.
///
/// ```
/// use voxload::loader::{Intensity, MatchAct};
/// let pytc = Intensity::pytc(0.5, 0.5, MatchAct::None, true);
/// let mut x = [0.0f32, 0.5, 1.0];
/// pytc.normalize(&mut x);
/// assert_eq!(x, [-1.0, 0.0, 1.0]);
/// let mut y = [0.25f32];
/// Intensity::plain().normalize(&mut y);
/// assert_eq!(y, [0.25]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intensity {
    /// `DATASET.MEAN` (as `float32`, as numpy uses it on a `float32` image).
    pub mean: f32,
    /// `DATASET.STD`.
    pub std: f32,
    /// `DATASET.MATCH_ACT`.
    pub match_act: MatchAct,
    /// `DATASET.NORMALIZE_RANGE`.
    pub normalize_range: bool,
    /// voxload's plain conversion: `v / MAX` of the voxel type, no normalisation.
    plain: bool,
}

impl Default for Intensity {
    /// [`Intensity::plain`].
    fn default() -> Self {
        Intensity::plain()
    }
}

impl Intensity {
    /// voxload's own conversion (the default of [`crate::loader::Loader::builder`]): `uint8 /
    /// 255`, `uint16 / 65535`, float volumes as they are; no normalisation.
    #[must_use]
    pub const fn plain() -> Self {
        Intensity {
            mean: 0.0,
            std: 1.0,
            match_act: MatchAct::Sigmoid,
            normalize_range: false,
            plain: true,
        }
    }

    /// PyTC's conversion and normalisation (the default of a configuration: `0.5`, `0.5`,
    /// `none`, `true`).
    #[must_use]
    pub fn pytc(mean: f64, std: f64, match_act: MatchAct, normalize_range: bool) -> Self {
        Intensity {
            mean: mean as f32,
            std: std as f32,
            match_act,
            normalize_range,
            plain: false,
        }
    }

    /// Whether [`Intensity::normalize`] changes nothing.
    #[must_use]
    pub fn is_identity(&self) -> bool {
        self.match_act == MatchAct::Sigmoid
    }

    /// Normalises an augmented image in place.
    pub fn normalize(&self, image: &mut [f32]) {
        match self.match_act {
            MatchAct::Sigmoid => {}
            MatchAct::Tanh => image.iter_mut().for_each(|x| *x = *x * 2.0 - 1.0),
            MatchAct::None => {
                let (m, s) = (self.mean, self.std);
                image.iter_mut().for_each(|x| *x = (*x - m) / s);
            }
        }
    }

    /// How volume `image`'s windows become `[0, 1]` values; its range is computed (chunk by
    /// chunk) when needed, or read from `cache` where an earlier run left it.
    ///
    /// # Errors
    /// Errors reading the array.
    pub fn scale_for(&self, image: &AnyArray, cache: Option<&Path>) -> Result<ImageScale> {
        if self.plain || image.dtype() == DType::U8 {
            return Ok(ImageScale::Unit);
        }
        if !self.normalize_range {
            return Ok(ImageScale::Divide255);
        }
        let (min, max) = cached_range(image, cache)?;
        Ok(ImageScale::Range { min, max })
    }
}

/// The array's value range, from `cache/range/` when a run saved it for the same array
/// (path, shape, type, metadata file size and time), else computed and saved there.
pub(crate) fn cached_range(image: &AnyArray, cache: Option<&Path>) -> Result<(f64, f64)> {
    let meta = image.meta();
    let file = cache.and_then(|c| {
        let dir = std::fs::canonicalize(&meta.path).ok()?;
        let stat = std::fs::metadata(dir.join("zarr.json")).ok()?;
        let modified = stat
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        let key = json!({
            "array": dir.to_string_lossy(),
            "shape": meta.shape,
            "dtype": meta.dtype.to_string(),
            "zarr_json": [stat.len(), modified.as_nanos() as u64],
        });
        let hash = key
            .to_string()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Some((c.join("range").join(format!("{hash:016x}.json")), key))
    });
    if let Some((path, key)) = &file {
        let saved = crate::file::read_regular_text(path, 1 << 16)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        if let Some(saved) = saved.filter(|s| s["key"] == *key) {
            if let (Some(lo), Some(hi)) = (saved["min"].as_f64(), saved["max"].as_f64()) {
                return Ok((lo, hi));
            }
        }
    }
    let (min, max) = image.value_range()?;
    let complete = meta.status != crate::store::meta::Status::InProgress;
    if let Some((path, key)) = file.filter(|_| complete) {
        let text = json!({"key": key, "min": min, "max": max}).to_string();
        // A range that cannot be saved is computed again next time; nothing else depends on it.
        let _ = crate::store::atomic::write_atomic(&path, text.as_bytes());
    }
    Ok((min, max))
}
