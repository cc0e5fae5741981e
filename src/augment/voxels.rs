//! An array of any voxel type, as a sample's target holds it.

use ndarray::Array3;

use crate::DType;

/// One target's array: `float32` for images, the stored integer type for masks.
#[derive(Clone, Debug, PartialEq)]
pub enum Voxels {
    /// `float32` (images, and float masks).
    F32(Array3<f32>),
    /// `uint8`.
    U8(Array3<u8>),
    /// `uint16`.
    U16(Array3<u16>),
    /// `uint32`.
    U32(Array3<u32>),
    /// `uint64`.
    U64(Array3<u64>),
}

/// Runs `$body` with `$a` bound to the inner array, whatever its type.
macro_rules! each_voxels {
    ($v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::augment::Voxels::F32($a) => $body,
            $crate::augment::Voxels::U8($a) => $body,
            $crate::augment::Voxels::U16($a) => $body,
            $crate::augment::Voxels::U32($a) => $body,
            $crate::augment::Voxels::U64($a) => $body,
        }
    };
}
pub(crate) use each_voxels;

/// Like [`each_voxels`], rebuilding the same variant from the body's array.
macro_rules! map_voxels {
    ($v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::augment::Voxels::F32($a) => $crate::augment::Voxels::F32($body),
            $crate::augment::Voxels::U8($a) => $crate::augment::Voxels::U8($body),
            $crate::augment::Voxels::U16($a) => $crate::augment::Voxels::U16($body),
            $crate::augment::Voxels::U32($a) => $crate::augment::Voxels::U32($body),
            $crate::augment::Voxels::U64($a) => $crate::augment::Voxels::U64($body),
        }
    };
}
pub(crate) use map_voxels;

impl Voxels {
    /// Hands the array's buffer to this thread's pool ([`crate::recycle`]).
    pub(crate) fn recycle(self) {
        each_voxels!(self, a => crate::recycle::give_array(a));
    }

    /// The array's shape `(z, y, x)`.
    #[must_use]
    pub fn shape(&self) -> [usize; 3] {
        each_voxels!(self, a => {
            let (d, h, w) = a.dim();
            [d, h, w]
        })
    }

    /// The voxel type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        match self {
            Voxels::F32(_) => DType::F32,
            Voxels::U8(_) => DType::U8,
            Voxels::U16(_) => DType::U16,
            Voxels::U32(_) => DType::U32,
            Voxels::U64(_) => DType::U64,
        }
    }

    /// The `float32` array, if this is one.
    #[must_use]
    pub fn as_f32(&self) -> Option<&Array3<f32>> {
        match self {
            Voxels::F32(a) => Some(a),
            _ => None,
        }
    }

    /// Every voxel as `f64`, in C order (for tests and diagnostics).
    #[must_use]
    pub fn to_f64_vec(&self) -> Vec<f64> {
        each_voxels!(self, a => a.iter().map(|&v| v as f64).collect())
    }
}
