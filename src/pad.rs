//! Pad modes: what a read returns for voxels outside the volume.
//!
//! The semantics are exactly those of `numpy.pad` applied to the whole volume with pads large
//! enough to contain the window. For `reflect` and `symmetric` a coordinate far outside folds back
//! repeatedly (the padded signal is periodic with period `2(n-1)` and `2n`); an axis of length 1
//! with `reflect` repeats its single voxel, as numpy does.

use std::fmt;
use std::str::FromStr;

use crate::Error;

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

    /// Parses `constant`, `constant:V`, `reflect`, `symmetric` or `edge`.
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
                Some(v) => v
                    .parse::<f64>()
                    .map(PadMode::Constant)
                    .map_err(|e| bad(format!("constant value `{v}`: {e}"))),
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
