//! [`AnyArray`]: a [`MappedArray`] of whatever type the store holds, for code that only needs
//! to count voxels (label and mask tests) or to dispatch on the type once.

use std::path::Path;

use super::{array_dir, ArrayMeta, MappedArray, OpenOptions};
use crate::{dispatch_dtype, match_dtype, Bbox, PadMode, Result, Shape};

crate::element::dtype_enum! {
    /// A mapped array of any supported data type.
    pub enum AnyArray of MappedArray;
}

impl AnyArray {
    /// Opens array `name` of the store at `store` with its stored type.
    ///
    /// # Errors
    /// As [`MappedArray::open_with`].
    pub fn open(store: &Path, name: &str, options: &OpenOptions) -> Result<Self> {
        let meta = ArrayMeta::read(&array_dir(store, name))?;
        Ok(dispatch_dtype!(meta.dtype, T => {
            AnyArray::from(MappedArray::<T>::open_with(store, name, options)?)
        }))
    }

    /// A 2D PNG or TIFF image as a `(1, H, W)` array of the file's own type, decoded on demand
    /// (see [`MappedArray::open_image`]).
    ///
    /// # Errors
    /// As [`MappedArray::open_image`].
    pub fn open_image(path: &Path, label: bool) -> Result<Self> {
        let content = crate::image::Content::from_label(label);
        let (image, shape) = super::image::ImageFile::probe(path, content)?;
        Ok(dispatch_dtype!(image.dtype, T => {
            AnyArray::from(MappedArray::<T>::from_image(image, shape)?)
        }))
    }

    /// The array's metadata (see [`MappedArray::meta`]).
    #[must_use]
    pub fn meta(&self) -> &ArrayMeta {
        match_dtype!(self, AnyArray(a) => a.meta())
    }

    /// The array's shape.
    #[must_use]
    pub fn shape(&self) -> Shape {
        match_dtype!(self, AnyArray(a) => a.shape())
    }

    /// Reads `window` (padded by `pad`) into `out` as a `float32` image: integers scaled to
    /// `[0, 1]` by their type's maximum (`uint8 / 255`, `uint16 / 65535`, exactly rounded, by the
    /// crate's `convert` module), floats unchanged.
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::store::AnyArray;
    /// use voxload::{write_array, Bbox, Encoding, OpenOptions, PadMode};
    ///
    /// let dir = tempfile::tempdir()?;
    /// write_array(dir.path(), "image", &Array3::from_elem((2, 4, 4), 51u8), [2, 4, 4], Encoding::Raw)?;
    /// let image = AnyArray::open(dir.path(), "image", &OpenOptions::default())?;
    /// let mut out = vec![0.0f32; 2 * 3 * 3];
    /// image.read_image_into(Bbox::new([0, -1, -1], [2, 3, 3]), PadMode::Edge, &mut out)?;
    /// assert!(out.iter().all(|&v| v == 0.2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MappedArray::read`]; [`crate::Error::Geometry`] if `out` does not hold the window.
    pub fn read_image_into(&self, window: Bbox, pad: PadMode, out: &mut [f32]) -> Result<()> {
        self.read_image_with(window, pad, out, Writes::Cached)
    }

    /// [`AnyArray::read_image_into`] with the output written around the caches (see
    /// the crate's `convert::unit_f32_streaming`): for large outputs read much later, such as the
    /// loader's batch arrays. The values are the same.
    ///
    /// # Errors
    /// As [`AnyArray::read_image_into`].
    pub fn read_image_streaming(&self, window: Bbox, pad: PadMode, out: &mut [f32]) -> Result<()> {
        self.read_image_with(window, pad, out, Writes::Streaming)
    }

    fn read_image_with(
        &self,
        window: Bbox,
        pad: PadMode,
        out: &mut [f32],
        writes: Writes,
    ) -> Result<()> {
        if out.len() as u64 != window.num_voxels() {
            return Err(crate::Error::Geometry(format!(
                "output buffer holds {} voxels, window {window:?} needs {}",
                out.len(),
                window.num_voxels()
            )));
        }
        if let AnyArray::F32(a) = self {
            // Already an image: read straight into `out`.
            return a.read_into(window, pad, out);
        }
        match_dtype!(self, AnyArray(a) => with_window(a, window, pad, |v| writes.convert(v, out)))
    }

    /// The number of non-zero voxels of `window` (padded by `pad`).
    ///
    /// # Errors
    /// As [`MappedArray::read`].
    pub fn count_nonzero(&self, window: Bbox, pad: PadMode) -> Result<u64> {
        match_dtype!(self, AnyArray(a) => with_window(a, window, pad, count_nonzero))
    }

    /// The number of distinct values in `window` (padded by `pad`), background included.
    ///
    /// # Errors
    /// As [`MappedArray::read`].
    pub fn count_distinct(&self, window: Bbox, pad: PadMode) -> Result<u64> {
        match_dtype!(self, AnyArray(a) => with_window(a, window, pad, |v| {
            let mut values: Vec<u64> = v.iter().map(|x| crate::Element::to_f64(*x).to_bits()).collect();
            values.sort_unstable();
            values.dedup();
            values.len() as u64
        }))
    }
}

/// How converted images are written.
#[derive(Clone, Copy)]
enum Writes {
    Cached,
    Streaming,
}

impl Writes {
    fn convert<T: crate::convert::UnitScale>(self, src: &[T], dst: &mut [f32]) {
        match self {
            Writes::Cached => crate::convert::unit_f32(src, dst),
            Writes::Streaming => crate::convert::unit_f32_streaming(src, dst),
        }
    }
}

fn count_nonzero<T: crate::Element>(voxels: &[T]) -> u64 {
    let zero = T::default();
    voxels.iter().filter(|v| **v != zero).count() as u64
}

/// Reads `window` into this thread's reusable buffer and applies `f` to its voxels, so tests
/// run for every rejected candidate allocate nothing.
fn with_window<T: crate::Element, R>(
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
