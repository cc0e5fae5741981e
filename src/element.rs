//! The voxel types voxload stores and reads.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A stored data type, named as in Zarr v3 metadata.
///
/// ```
/// use voxload::DType;
/// let d: DType = "uint16".parse().unwrap();
/// assert_eq!(d.size(), 2);
/// assert_eq!(d.to_string(), "uint16");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// `uint8`
    U8,
    /// `uint16`
    U16,
    /// `uint32`
    U32,
    /// `uint64`
    U64,
    /// `float32`
    F32,
}

impl DType {
    /// All supported types.
    pub const ALL: [DType; 5] = [DType::U8, DType::U16, DType::U32, DType::U64, DType::F32];

    /// Bytes per voxel.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::U16 => 2,
            DType::U32 | DType::F32 => 4,
            DType::U64 => 8,
        }
    }

    /// The Zarr v3 name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F32 => "float32",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        DType::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| Error::Parse {
                what: "data type",
                input: s.to_string(),
                reason: "expected uint8, uint16, uint32, uint64 or float32".into(),
            })
    }
}

/// A voxel type: plain old data that zarrs can store.
///
/// Implemented for `u8`, `u16`, `u32`, `u64` and `f32`.
pub trait Element:
    bytemuck::Pod
    + Default
    + PartialEq
    + fmt::Debug
    + Send
    + Sync
    + zarrs::array::Element
    + zarrs::array::ElementOwned
    + 'static
{
    /// The matching stored type.
    const DTYPE: DType;
    /// The value nearest to `v` (saturating for integers, as `as` casts do).
    fn from_f64(v: f64) -> Self;
    /// The value as `f64` (exact for all but the largest `u64`).
    fn to_f64(self) -> f64;
}

macro_rules! impl_element {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}
impl_element!(u8, DType::U8);
impl_element!(u16, DType::U16);
impl_element!(u32, DType::U32);
impl_element!(u64, DType::U64);
impl_element!(f32, DType::F32);
