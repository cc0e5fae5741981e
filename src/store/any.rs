//! [`AnyArray`]: a [`MappedArray`] of whatever type the store holds, for code that only needs
//! to count voxels (label and mask tests) or to dispatch on the type once.

use std::path::Path;

use super::{array_dir, ArrayMeta, MappedArray, OpenOptions};
use crate::{Bbox, DType, PadMode, Result, Shape};

/// A mapped array of any supported data type.
pub enum AnyArray {
    /// `uint8`
    U8(MappedArray<u8>),
    /// `uint16`
    U16(MappedArray<u16>),
    /// `uint32`
    U32(MappedArray<u32>),
    /// `uint64`
    U64(MappedArray<u64>),
    /// `float32`
    F32(MappedArray<f32>),
}

macro_rules! each {
    ($self:expr, $a:ident => $body:expr) => {
        match $self {
            AnyArray::U8($a) => $body,
            AnyArray::U16($a) => $body,
            AnyArray::U32($a) => $body,
            AnyArray::U64($a) => $body,
            AnyArray::F32($a) => $body,
        }
    };
}

impl AnyArray {
    /// Opens array `name` of the store at `store` with its stored type.
    ///
    /// # Errors
    /// As [`MappedArray::open_with`].
    pub fn open(store: &Path, name: &str, options: &OpenOptions) -> Result<Self> {
        let meta = ArrayMeta::read(&array_dir(store, name))?;
        Ok(match meta.dtype {
            DType::U8 => AnyArray::U8(MappedArray::open_with(store, name, options)?),
            DType::U16 => AnyArray::U16(MappedArray::open_with(store, name, options)?),
            DType::U32 => AnyArray::U32(MappedArray::open_with(store, name, options)?),
            DType::U64 => AnyArray::U64(MappedArray::open_with(store, name, options)?),
            DType::F32 => AnyArray::F32(MappedArray::open_with(store, name, options)?),
        })
    }

    /// The array's shape.
    #[must_use]
    pub fn shape(&self) -> Shape {
        each!(self, a => a.shape())
    }

    /// The stored data type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        each!(self, a => a.meta().dtype)
    }

    /// The number of non-zero voxels of `window` (padded by `pad`).
    ///
    /// # Errors
    /// As [`MappedArray::read`].
    pub fn count_nonzero(&self, window: Bbox, pad: PadMode) -> Result<u64> {
        each!(self, a => {
            let w = a.read(window, pad)?;
            Ok(w.iter().filter(|v| crate::Element::to_f64(**v) != 0.0).count() as u64)
        })
    }

    /// The number of distinct values in `window` (padded by `pad`), background included.
    ///
    /// # Errors
    /// As [`MappedArray::read`].
    pub fn count_distinct(&self, window: Bbox, pad: PadMode) -> Result<u64> {
        each!(self, a => {
            let w = a.read(window, pad)?;
            let mut values: Vec<u64> = w.iter().map(|v| crate::Element::to_f64(*v).to_bits()).collect();
            values.sort_unstable();
            values.dedup();
            Ok(values.len() as u64)
        })
    }
}
