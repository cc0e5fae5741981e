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

    /// A 2D PNG or TIFF image as a `(1, H, W)` array of the file's own type, decoded on demand
    /// (see [`MappedArray::open_image`]).
    ///
    /// # Errors
    /// As [`MappedArray::open_image`].
    pub fn open_image(path: &Path, label: bool) -> Result<Self> {
        let content = if label {
            crate::ingest::Content::Label
        } else {
            crate::ingest::Content::Image
        };
        let (image, shape) = super::image::ImageFile::probe(path, content)?;
        Ok(match image.dtype {
            DType::U8 => AnyArray::U8(MappedArray::from_image(image, shape)?),
            DType::U16 => AnyArray::U16(MappedArray::from_image(image, shape)?),
            DType::U32 => AnyArray::U32(MappedArray::from_image(image, shape)?),
            DType::U64 => AnyArray::U64(MappedArray::from_image(image, shape)?),
            DType::F32 => AnyArray::F32(MappedArray::from_image(image, shape)?),
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
        each!(self, a => with_window(a, window, pad, count_nonzero))
    }

    /// The number of distinct values in `window` (padded by `pad`), background included.
    ///
    /// # Errors
    /// As [`MappedArray::read`].
    pub fn count_distinct(&self, window: Bbox, pad: PadMode) -> Result<u64> {
        each!(self, a => with_window(a, window, pad, |v| {
            let mut values: Vec<u64> = v.iter().map(|x| crate::Element::to_f64(*x).to_bits()).collect();
            values.sort_unstable();
            values.dedup();
            values.len() as u64
        }))
    }
}

fn count_nonzero<T: crate::Element>(voxels: &[T]) -> u64 {
    let zero = T::default();
    voxels.iter().filter(|v| **v != zero).count() as u64
}

/// Reads `window` into this thread's reusable buffer and applies `f` to its voxels, so tests
/// run for every rejected candidate allocate nothing.
pub(crate) fn with_window<T: crate::Element, R>(
    array: &MappedArray<T>,
    window: Bbox,
    pad: PadMode,
    f: impl FnOnce(&[T]) -> R,
) -> Result<R> {
    thread_local! {
        // u64 words, so the buffer is aligned for every voxel type.
        static BUFFER: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|cell| {
        let mut words = cell.borrow_mut();
        let voxels = window.num_voxels() as usize;
        let need = (voxels * size_of::<T>()).div_ceil(8);
        if words.len() < need {
            words.resize(need, 0);
        }
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut words[..need]);
        let buffer: &mut [T] = bytemuck::cast_slice_mut(&mut bytes[..voxels * size_of::<T>()]);
        array.read_into(window, pad, buffer)?;
        Ok(f(buffer))
    })
}
