//! Pad modes: what a read returns for voxels outside the volume.
//!
//! The semantics are exactly those of `numpy.pad` applied to the whole volume with pads large
//! enough to contain the window. For `reflect` and `symmetric` a coordinate far outside folds back
//! repeatedly (the padded signal is periodic with period `2(n-1)` and `2n`); an axis of length 1
//! with `reflect` repeats its single voxel, as numpy does.

use std::fmt;
use std::str::FromStr;

use crate::{Bbox, DType, Error, Shape};

/// How voxels outside the volume are filled.
///
/// ```
/// use voxload::PadMode;
/// let mode: PadMode = "reflect".parse().unwrap();
/// // A volume of length 4 along the axis: index -1 mirrors to 1, index 4 mirrors to 2.
/// assert_eq!(mode.fold(-1, 4), Some(1));
/// assert_eq!(mode.fold(4, 4), Some(2));
/// assert_eq!("constant:7".parse::<PadMode>().unwrap(), PadMode::Constant(7.0));
/// assert_eq!(PadMode::Constant(0.0).fold(-1, 4), None);
/// // Constants must be finite numbers: NaN or infinity would become 0 (or a type's maximum)
/// // when converted to an array's type, so they are refused.
/// assert!("constant:NaN".parse::<PadMode>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant value (numpy `constant`, `constant_values=v`).
    Constant(f64),
    /// Mirror without repeating the edge voxel (numpy `reflect`, PyTC's default).
    Reflect,
    /// Mirror repeating the edge voxel (numpy `symmetric`).
    Symmetric,
    /// Repeat the edge voxel (numpy `edge`).
    Edge,
}

impl Default for PadMode {
    fn default() -> Self {
        PadMode::Constant(0.0)
    }
}

impl PadMode {
    /// The in-volume index that supplies coordinate `i` on an axis of length `n`, or `None` when
    /// the voxel takes the constant value (constant mode outside the volume, or an empty axis).
    #[must_use]
    pub fn fold(&self, i: i64, n: u64) -> Option<u64> {
        let len = n as i64;
        if (0..len).contains(&i) {
            return Some(i as u64);
        }
        if n == 0 {
            return None;
        }
        match self {
            PadMode::Constant(_) => None,
            PadMode::Edge => Some(i.clamp(0, len - 1) as u64),
            PadMode::Reflect if n == 1 => Some(0),
            PadMode::Reflect => {
                let period = 2 * (len - 1);
                let m = i.rem_euclid(period);
                Some(if m < len { m } else { period - m } as u64)
            }
            PadMode::Symmetric => {
                let period = 2 * len;
                let m = i.rem_euclid(period);
                Some(if m < len { m } else { period - 1 - m } as u64)
            }
        }
    }

    /// The fill value of constant mode, `None` for the other modes.
    #[must_use]
    pub fn constant(&self) -> Option<f64> {
        match self {
            PadMode::Constant(v) => Some(*v),
            _ => None,
        }
    }
}

impl FromStr for PadMode {
    type Err = Error;

    /// Parses `constant`, `constant:V` (a finite number), `reflect`, `symmetric` or `edge`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Parse {
            what: "pad mode",
            input: s.to_string(),
            reason,
        };
        match s.trim() {
            "constant" => Ok(PadMode::Constant(0.0)),
            "reflect" => Ok(PadMode::Reflect),
            "symmetric" => Ok(PadMode::Symmetric),
            "edge" => Ok(PadMode::Edge),
            other => match other.strip_prefix("constant:") {
                Some(v) => match v.parse::<f64>() {
                    Ok(c) if c.is_finite() => Ok(PadMode::Constant(c)),
                    Ok(c) => Err(bad(format!(
                        "constant value {c} is not a finite number (it cannot be stored in an integer array); give a finite value such as constant:0"
                    ))),
                    Err(e) => Err(bad(format!("constant value `{v}`: {e}"))),
                },
                None => Err(bad(
                    "expected constant, constant:V, reflect, symmetric or edge".into(),
                )),
            },
        }
    }
}

impl fmt::Display for PadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PadMode::Constant(v) => write!(f, "constant:{v}"),
            PadMode::Reflect => f.write_str("reflect"),
            PadMode::Symmetric => f.write_str("symmetric"),
            PadMode::Edge => f.write_str("edge"),
        }
    }
}

/// Checks that `value` is stored in a `dtype` array as it is (a pad constant or a fill value):
/// for integer types a finite integer within the type's range; for `float32` NaN, an infinity
/// or a finite value within `float32`'s range. The error says why not.
///
/// ```
/// use voxload::{pad::representable, DType};
/// assert!(representable(255.0, DType::U8).is_ok());
/// assert!(representable(f64::NAN, DType::F32).is_ok());
/// assert!(representable(f64::NAN, DType::U8).unwrap_err().contains("uint8"));
/// assert!(representable(256.0, DType::U8).is_err());
/// assert!(representable(0.5, DType::U16).is_err());
/// ```
///
/// # Errors
/// A message naming the value and the type when the value would change on conversion.
pub fn representable(value: f64, dtype: DType) -> Result<(), String> {
    let max = match dtype {
        DType::U8 => f64::from(u8::MAX),
        DType::U16 => f64::from(u16::MAX),
        DType::U32 => f64::from(u32::MAX),
        // The largest f64 below 2^64: every integral f64 up to it converts exactly.
        DType::U64 => 18_446_744_073_709_549_568.0,
        DType::F32 if value.is_finite() && value.abs() > f64::from(f32::MAX) => {
            return Err(format!("{value} is outside the range of {dtype}"));
        }
        DType::F32 => return Ok(()),
    };
    if !value.is_finite() || value.fract() != 0.0 || !(0.0..=max).contains(&value) {
        return Err(format!(
            "{value} is not a {dtype} value ({dtype} holds the integers 0 to {max})"
        ));
    }
    Ok(())
}

/// For each axis of `window`, the in-volume index each position folds to under `pad` (`None`
/// where a constant is padded), for a volume of `shape`.
pub(crate) fn fold_maps(pad: PadMode, window: &Bbox, shape: Shape) -> [Vec<Option<u64>>; 3] {
    std::array::from_fn(|a| {
        (0..window.shape[a] as i64)
            .map(|i| pad.fold(window.begin[a] + i, shape[a]))
            .collect()
    })
}

/// The box of in-volume voxels that a window's folded coordinates touch, or `None` when the
/// window takes no voxel from the volume.
pub(crate) fn source_box(maps: &[Vec<Option<u64>>; 3]) -> Option<Bbox> {
    let mut begin = [0i64; 3];
    let mut end = [0i64; 3];
    for a in 0..3 {
        let lo = maps[a].iter().flatten().min()?;
        let hi = maps[a].iter().flatten().max()?;
        begin[a] = *lo as i64;
        end[a] = *hi as i64 + 1;
    }
    Bbox::from_bounds(begin, end).ok()
}

/// For each source index `min + k`, the first output index that maps to it.
pub(crate) fn first_occurrences(map: &[Option<u64>], min: u64, len: usize) -> Vec<usize> {
    let mut first = vec![usize::MAX; len];
    for (o, s) in map.iter().enumerate() {
        if let Some(s) = s {
            let f = &mut first[(s - min) as usize];
            *f = (*f).min(o);
        }
    }
    first
}
