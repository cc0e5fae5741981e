//! [`AnyArray`]: a [`MappedArray`] of whatever type the store holds, for code that only needs
//! to count voxels (label and mask tests) or to dispatch on the type once.

use std::path::Path;

use super::reader::check_output;
use super::zoom::Resize;
use super::{array_dir, ArrayMeta, MappedArray, OpenOptions, Zoom};
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
        let store = &super::remote::localize(store)?;
        super::remote::prepare_node(store, name)?;
        let dir = array_dir(store, name);
        if let Some(foreign) = super::foreign::ForeignAddress::parse(&dir) {
            let volume = foreign.open()?;
            return Ok(dispatch_dtype!(volume.dtype, T => {
                AnyArray::from(MappedArray::<T>::from_foreign(volume, options.limits)?)
            }));
        }
        let name = &super::ome::resolve(store, name)?;
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

    /// The array's shape: the zoomed shape of a zoomed array (see [`AnyArray::zoomed`]).
    #[must_use]
    pub fn shape(&self) -> Shape {
        match_dtype!(self, AnyArray(a) => a.shape())
    }

    /// The array seen through `zoom` (PyTC's `DATA_SCALE`, as `scipy.ndimage.zoom`), computed
    /// window by window at read time: its shape, reads, padding and counts are those of the
    /// zoomed grid (see [`MappedArray::zoomed`] and the [`zoom`](super::zoom) module). A zoom
    /// that keeps the shape leaves the array as it is.
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::store::{AnyArray, Zoom, ZoomOrder};
    /// use voxload::{write_array, Bbox, Encoding, OpenOptions, PadMode};
    /// let dir = tempfile::tempdir()?;
    /// let data = Array3::from_shape_fn((2, 8, 8), |(_, y, x)| (20 * y + x) as u8);
    /// write_array(dir.path(), "im", &data, [2, 8, 8], Encoding::Raw)?;
    /// let im = AnyArray::open(dir.path(), "im", &OpenOptions::default())?
    ///     .zoomed(Zoom::new([1.0, 0.5, 0.5], ZoomOrder::Cubic)?)?;
    /// assert_eq!(im.shape(), [2, 4, 4]);
    /// // A linear ramp is reproduced by the cubic spline: y = 7/3, x = 14/3.
    /// let mut v = [0u8; 1];
    /// im.as_typed::<u8>().unwrap().read_into(Bbox::new([0, 1, 2], [1, 1, 1]), PadMode::Edge, &mut v)?;
    /// assert_eq!(v[0], 51); // 20 · 7/3 + 14/3 = 51.33, rounded
    /// assert_eq!(im.count_nonzero(Bbox::new([0, -2, -2], [2, 8, 8]), PadMode::Reflect)?, 2 * 64 - 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MappedArray::zoomed`].
    pub fn zoomed(self, zoom: Zoom) -> Result<Self> {
        Ok(match_dtype!(self, AnyArray(a) => AnyArray::from(a.zoomed(zoom)?)))
    }

    /// The zoom reads see the array through, if any.
    #[must_use]
    pub fn zoom(&self) -> Option<Zoom> {
        match_dtype!(self, AnyArray(a) => a.zoom())
    }

    /// The array (as zoomed, if it is) seen through `resize` (PyTC's `ENSURE_MIN_SIZE`, as
    /// `skimage.transform.resize` of the padded volume; see [`MappedArray::resized`]).
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::store::zoom::{min_size_resize, Resize};
    /// use voxload::store::{AnyArray, ZoomOrder};
    /// use voxload::{write_array, Encoding, OpenOptions, PadMode};
    /// let dir = tempfile::tempdir()?;
    /// write_array(dir.path(), "im", &Array3::<u8>::zeros((3, 40, 40)), [3, 40, 40], Encoding::Raw)?;
    /// let im = AnyArray::open(dir.path(), "im", &OpenOptions::default())?;
    /// let to = min_size_resize([3 + 2, 40 + 4, 40 + 4], [9, 32, 32]).unwrap();
    /// let im = im.resized(Resize::new(to, ZoomOrder::Cubic).padded([1, 2, 2], PadMode::Reflect))?;
    /// assert_eq!(im.shape(), [9, 44, 44]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`MappedArray::resized`].
    pub fn resized(self, resize: Resize) -> Result<Self> {
        Ok(match_dtype!(self, AnyArray(a) => AnyArray::from(a.resized(resize)?)))
    }

    /// The resize reads see the array through, if any.
    #[must_use]
    pub fn resize(&self) -> Option<Resize> {
        match_dtype!(self, AnyArray(a) => a.resize())
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
        check_output::<f32>(&window, out.len())?;
        if let AnyArray::F32(a) = self {
            // Already an image: read straight into `out`.
            return a.read_into(window, pad, out);
        }
        match_dtype!(self, AnyArray(a) => with_window(a, window, pad, |v| writes.convert(v, out)))
    }

    /// Reads `window` as a `float32` image scaled by `scale` (see [`ImageScale`]): PyTC's
    /// conversions of `uint8`, other integer and float volumes. A zoomed array is zoomed first,
    /// in its stored type (or, for [`ImageScale::Range`], in the stretched `uint8` values), and
    /// scaled after, as PyTC does.
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::store::{AnyArray, ImageScale};
    /// use voxload::{write_array, Bbox, Encoding, OpenOptions, PadMode};
    /// let dir = tempfile::tempdir()?;
    /// let data = Array3::from_shape_fn((1, 1, 3), |(_, _, x)| [100u16, 600, 1100][x]);
    /// write_array(dir.path(), "im", &data, [1, 1, 3], Encoding::Raw)?;
    /// let im = AnyArray::open(dir.path(), "im", &OpenOptions::default())?;
    /// let mut out = [0f32; 3];
    /// im.read_image_scaled(Bbox::from_shape([1, 1, 3]), PadMode::Edge, &mut out, ImageScale::Range { min: 100.0, max: 1100.0 })?;
    /// assert_eq!(out, [0.0, 127.0 / 255.0, 254.0 / 255.0]); // stretched to uint8, truncated
    /// im.read_image_scaled(Bbox::from_shape([1, 1, 3]), PadMode::Edge, &mut out, ImageScale::Divide255)?;
    /// assert_eq!(out[1], (600.0f64 / 255.0) as f32);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`AnyArray::read_image_into`].
    pub fn read_image_scaled(
        &self,
        window: Bbox,
        pad: PadMode,
        out: &mut [f32],
        scale: ImageScale,
    ) -> Result<()> {
        match (scale, self) {
            (ImageScale::Unit, _) | (_, AnyArray::U8(_)) => self.read_image_into(window, pad, out),
            (ImageScale::Divide255, _) => {
                self.read_mapped(window, pad, out, |v| (v / 255.0) as f32)
            }
            (ImageScale::Range { min, max }, _) => {
                let span = max - min + 1e-6;
                let stretch = |v: f64| ((v - min) / span * 255.0).clamp(0.0, 255.0).trunc();
                // Order 0 commutes with the stretch, order 3 zooms the stretched values.
                let key = [min.to_bits(), max.to_bits()];
                let zoomed = match_dtype!(self, AnyArray(a) => match a.zoom_grid() {
                    Some(g) if g.interpolates() => {
                        Some(g.read_stretched(a, window, pad, (key, stretch), out))
                    }
                    _ => None,
                });
                if let Some(done) = zoomed {
                    return done;
                }
                self.read_mapped(window, pad, out, |v| (stretch(v) / 255.0) as f32)
            }
        }
    }

    fn read_mapped(
        &self,
        window: Bbox,
        pad: PadMode,
        out: &mut [f32],
        f: impl Fn(f64) -> f32,
    ) -> Result<()> {
        check_output::<f32>(&window, out.len())?;
        match_dtype!(self, AnyArray(a) => with_window(a, window, pad, |v| {
            for (o, x) in out.iter_mut().zip(v) {
                *o = f(crate::Element::to_f64(*x));
            }
        }))
    }

    /// The smallest and largest value of the whole array (NaNs ignored), reading it chunk by
    /// chunk on the current rayon pool: memory holds a few chunks, never the volume. `(0, 0)`
    /// for an array without values. The values are the stored ones, before any zoom (PyTC's
    /// `NORMALIZE_RANGE` stretches the volume before zooming it).
    ///
    /// # Errors
    /// As [`MappedArray::read`].
    pub fn value_range(&self) -> Result<(f64, f64)> {
        use rayon::prelude::*;
        let meta = self.meta();
        let chunk = meta.chunk;
        let counts: [u64; 3] = std::array::from_fn(|a| meta.shape[a].div_ceil(chunk[a].max(1)));
        let boxes: Vec<Bbox> = (0..counts.iter().product::<u64>())
            .map(|i| {
                let idx = [
                    i / (counts[1] * counts[2]),
                    (i / counts[2]) % counts[1],
                    i % counts[2],
                ];
                let begin: crate::Coord = std::array::from_fn(|a| (idx[a] * chunk[a]) as i64);
                let shape =
                    std::array::from_fn(|a| chunk[a].min(meta.shape[a] - idx[a] * chunk[a]));
                Bbox::new(begin, shape)
            })
            .collect();
        let ranges: Vec<(f64, f64)> = boxes
            .par_iter()
            .map(|b| {
                match_dtype!(self, AnyArray(a) => {
                    let read = |buf: &mut [_]| a.read_stored_into(*b, PadMode::Edge, buf);
                    with_buffer(b.num_voxels(), read, |v| {
                        v.iter().map(|x| crate::Element::to_f64(*x)).filter(|x| !x.is_nan())
                            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
                    })
                })
            })
            .collect::<Result<_>>()?;
        let (lo, hi) = ranges
            .into_iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (c, d)| {
                (a.min(c), b.max(d))
            });
        Ok(if lo <= hi { (lo, hi) } else { (0.0, 0.0) })
    }

    /// Whether the array is read from a remote store.
    #[must_use]
    pub fn is_remote(&self) -> bool {
        match_dtype!(self, AnyArray(a) => a.is_remote())
    }

    /// Fetches what a read of `window` needs into the local cache (see
    /// [`MappedArray::prefetch`]).
    ///
    /// # Errors
    /// As [`MappedArray::read`].
    pub fn prefetch(&self, window: Bbox, pad: PadMode) -> Result<()> {
        match_dtype!(self, AnyArray(a) => a.prefetch(window, pad))
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

/// How an image volume's voxels become `float32` values.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ImageScale {
    /// `v / MAX` of the voxel type (`uint8 / 255`, `uint16 / 65535`), float volumes as they
    /// are: voxload's plain conversion.
    #[default]
    Unit,
    /// `v / 255` whatever the type: PyTC without `DATASET.NORMALIZE_RANGE` (`uint8` as
    /// [`ImageScale::Unit`]).
    Divide255,
    /// PyTC's `normalize_range` of a non-`uint8` volume: stretched to `uint8` by the volume's
    /// range, `trunc((v − min) / (max − min + 1e−6) · 255)`, then `/ 255` (`uint8` volumes are
    /// left as they are, [`ImageScale::Unit`]).
    Range {
        /// The volume's smallest value.
        min: f64,
        /// The volume's largest value.
        max: f64,
    },
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
    with_buffer(window.num_voxels(), |b| array.read_into(window, pad, b), f)
}

/// Fills `voxels` values of this thread's reusable buffer by `read` and applies `f` to them.
fn with_buffer<T: crate::Element, R>(
    voxels: u64,
    read: impl FnOnce(&mut [T]) -> Result<()>,
    f: impl FnOnce(&[T]) -> R,
) -> Result<R> {
    thread_local! {
        // u64 words, so the buffer is aligned for every voxel type.
        static BUFFER: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|cell| {
        let mut words = cell.borrow_mut();
        let voxels = voxels as usize;
        let need = (voxels * size_of::<T>()).div_ceil(8);
        if words.len() < need {
            words.resize(need, 0);
        }
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut words[..need]);
        let buffer: &mut [T] = bytemuck::cast_slice_mut(&mut bytes[..voxels * size_of::<T>()]);
        read(buffer)?;
        Ok(f(buffer))
    })
}
