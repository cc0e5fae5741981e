//! Zoomed arrays: PyTC's `DATASET.IMAGE_SCALE`, `LABEL_SCALE` and `VALID_MASK_SCALE`, computed
//! lazily at read time.
//!
//! PyTC resamples each whole volume once, at load, with `scipy.ndimage.zoom(volume, scale,
//! order)` (order 3 for images, 0 for labels and valid masks, scipy's other defaults), before
//! padding and sampling. A zoomed array ([`MappedArray::zoomed`], [`AnyArray::zoomed`]) gives
//! the same voxels without ever building the zoomed volume: a window of the zoomed grid is
//! computed from the source voxels it needs. The array's [`shape`](MappedArray::shape) is the
//! zoomed shape, and every read, pad, sampler test and foreground index works in the zoomed
//! grid, as PyTC's do. A zoom that keeps the shape is no zoom: the array stays on the stored,
//! zero-copy path.
//!
//! # The mapping
//! For an axis of `n` stored and `m` zoomed voxels:
//! - `m = round(n · scale)`, rounded half to even as Python's `round` does (`5 × 0.5` gives 2);
//!   a zoom that would leave an axis empty is an error.
//! - Zoomed index `k` is source coordinate `c = k · (n − 1) / (m − 1)`, in `f64` as scipy
//!   computes it (`grid_mode=False`: the first and last voxels of both grids coincide); `c = 0`
//!   when `m = 1`. When `m = n` the coordinate is `k` itself and the axis is copied.
//! - Order 0 ([`ZoomOrder::Nearest`]) takes voxel `floor(c + 0.5)` (halves round up), copied
//!   exactly in the stored type.
//! - Order 3 ([`ZoomOrder::Cubic`]) evaluates the volume's cubic B-spline at `c` from the four
//!   coefficients `floor(c) − 1 ..= floor(c) + 2`. The coefficients come from scipy's prefilter
//!   (the exact inverse of B-spline sampling, a recursive filter of pole `√3 − 2`), computed
//!   over the window's source box only: the box reaches 24 voxels past the outermost tap on each
//!   side, where the filter's start-up error has fallen below `2e-11` of the largest voxel value.
//!   The axes are resampled one after another (x, then y, then z), each pass over whole rows.
//! - The result has the stored type, as scipy's `zoom` keeps it: integers become `t + 0.5`
//!   truncated and clipped to the type's range (negative values 0), `float32` the nearest value.
//!
//! # Boundary handling
//! scipy's default mode, `constant` with `cval` 0, which PyTC leaves as it is:
//! - Coordinates stay within `[0, n − 1]`, except that `k · step` may round one ulp past
//!   `n − 1` (4 voxels zoomed to 188: `187 · (3 / 187) = 3.0000000000000004`). scipy then gives
//!   the voxel its `cval`, 0, and so does voxload.
//! - Taps before the first or past the last voxel are mirrored without repeating the edge voxel
//!   (numpy's `reflect`), and the prefilter sees the volume mirrored the same way (scipy
//!   initialises it so for `constant`): the source box is read with [`PadMode::Reflect`].
//! - The read's own pad mode applies to the zoomed grid, after zooming: PyTC pads the zoomed
//!   volume.
//!
//! # Resizes
//! PyTC's `DATASET.ENSURE_MIN_SIZE` resizes a volume smaller than the sample, after its zoom
//! and its padding, with `skimage.transform.resize`: the same machinery with another
//! coordinate mapping (pixel centres, scipy's `mirror` mode), clipping and truncation. A
//! [`Resize`] ([`MappedArray::resized`]) applies on top of the zoom; see the [`resize`]
//! module.
//!
//! # Images
//! PyTC zooms the stored values (or, with `NORMALIZE_RANGE`, the values stretched to `uint8`),
//! rounds them to that type and only then divides by 255;
//! [`AnyArray::read_image_scaled`] does the same, in the same order.
//!
//! # Known differences from scipy
//! - scipy passes every value through an `f64`, so `uint64` ids above `2^53` lose their low
//!   bits (and `2^64 − 1` becomes 0); order 0 here copies ids exactly.
//! - Order 3 sums its 64 products axis by axis, not in scipy's order, and its prefilter is
//!   windowed: values differ from scipy's by about `1e-13` of the voxel range, which changes a
//!   rounded integer only when the value lies that close to a half (never seen in the tests
//!   against scipy).
//!
//! [`AnyArray::zoomed`]: super::AnyArray::zoomed
//! [`AnyArray::read_image_scaled`]: super::AnyArray::read_image_scaled

mod axis;
mod cubic;
mod nearest;
pub mod resize;
mod scales;

use axis::Axis;
use resize::ResizeGrid;
pub use resize::{min_size_frame, min_size_resize, Resize};
pub use scales::VolumeScales;

use super::reader::check_output;
use super::MappedArray;
use crate::pad::fold_maps;
use crate::{Bbox, DType, Element, Error, PadMode, Result, Shape};

/// The interpolation of a zoom: scipy's spline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZoomOrder {
    /// Order 0, nearest neighbour: PyTC's zoom of labels and valid masks.
    Nearest,
    /// Order 3, cubic B-spline with scipy's prefilter: PyTC's zoom of images.
    Cubic,
}

impl ZoomOrder {
    /// scipy's `order`: 0 or 3.
    ///
    /// ```
    /// assert_eq!(voxload::store::ZoomOrder::Cubic.spline_order(), 3);
    /// ```
    #[must_use]
    pub const fn spline_order(self) -> u32 {
        match self {
            ZoomOrder::Nearest => 0,
            ZoomOrder::Cubic => 3,
        }
    }
}

/// A zoom: a scale per axis `(z, y, x)` and an order, as
/// `scipy.ndimage.zoom(volume, scale, order=…)` (see the [module documentation](self)).
///
/// ```
/// use voxload::store::{Zoom, ZoomOrder};
/// let zoom = Zoom::new([1.0, 0.5, 0.5], ZoomOrder::Cubic)?;
/// // round(n · scale), halves to even, as Python's round.
/// assert_eq!(zoom.shape([8, 101, 5])?, [8, 50, 2]);
/// assert!(Zoom::new([1.0, 0.0, 1.0], ZoomOrder::Nearest).unwrap_err().to_string().contains("scale 0 on axis y"));
/// assert!(zoom.shape([8, 1, 1]).unwrap_err().to_string().contains("axis y"));
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Zoom {
    scale: [f64; 3],
    order: ZoomOrder,
}

/// The axis names of error messages.
pub(crate) const AXES: [&str; 3] = ["z", "y", "x"];

/// The largest zoomed extent: coordinates stay exact in `f64` and far from `i64` overflow.
const MAX_EXTENT: f64 = (1u64 << 48) as f64;

impl Zoom {
    /// A zoom by `scale` with `order`.
    ///
    /// # Errors
    /// [`Error::Geometry`] naming the value and its axis when a scale is not a positive finite
    /// number.
    pub fn new(scale: [f64; 3], order: ZoomOrder) -> Result<Self> {
        for (a, s) in scale.iter().enumerate() {
            if !(s.is_finite() && *s > 0.0) {
                return Err(Error::Geometry(format!(
                    "zoom scale {s} on axis {} is not a positive finite number",
                    AXES[a]
                )));
            }
        }
        Ok(Zoom { scale, order })
    }

    /// The scale per axis.
    #[must_use]
    pub fn scale(&self) -> [f64; 3] {
        self.scale
    }

    /// The order.
    #[must_use]
    pub fn order(&self) -> ZoomOrder {
        self.order
    }

    /// The zoomed shape of an array of shape `stored`: `round(n · scale)` per axis, halves to
    /// even (scipy's output shape).
    ///
    /// # Errors
    /// [`Error::Geometry`] naming the axis, its length and its scale when a scale other than 1
    /// would make the axis empty or longer than `2^48` voxels.
    pub fn shape(&self, stored: Shape) -> Result<Shape> {
        let mut shape = [0; 3];
        for a in 0..3 {
            let (n, s) = (stored[a], self.scale[a]);
            if s == 1.0 {
                shape[a] = n; // kept as it is, even when the stored axis is empty
                continue;
            }
            let m = (n as f64 * s).round_ties_even();
            if !(1.0..=MAX_EXTENT).contains(&m) {
                return Err(Error::Geometry(format!(
                    "zoom scale {s} on axis {} makes {m} voxels of the {n} of a {stored:?} array; a zoomed axis holds 1 to 2^48 voxels",
                    AXES[a]
                )));
            }
            shape[a] = m as u64;
        }
        Ok(shape)
    }
}

/// A zoom and a resize resolved for one array: the zoom of the stored voxels, then the resize
/// of the zoomed ones (PyTC's order: `DATA_SCALE`, then `ENSURE_MIN_SIZE`).
#[derive(Debug)]
pub(crate) struct ZoomGrid {
    /// The zoom and its axes, `None` when the stored grid is kept.
    zoom: Option<(Zoom, [Axis; 3])>,
    /// The (zoomed) shape the resize starts from.
    inner: Shape,
    /// The resize of the (zoomed) array, if any.
    resize: Option<ResizeGrid>,
}

impl ZoomGrid {
    /// `zoom` of an array of shape `stored`, or `None` when it keeps the shape.
    fn new(zoom: Zoom, stored: Shape) -> Result<Option<Self>> {
        let shape = zoom.shape(stored)?;
        let axes: [Axis; 3] = std::array::from_fn(|a| Axis::new(stored[a], shape[a]));
        Ok((!axes.iter().all(Axis::is_identity)).then_some(ZoomGrid {
            zoom: Some((zoom, axes)),
            inner: shape,
            resize: None,
        }))
    }

    pub(crate) fn zoom(&self) -> Option<Zoom> {
        self.zoom.as_ref().map(|z| z.0)
    }

    /// The shape reads see.
    pub(crate) fn shape(&self) -> Shape {
        self.resize.as_ref().map_or(self.inner, ResizeGrid::shape)
    }

    /// True when some stage interpolates by order 3: a stretch must then be applied before
    /// resampling ([`ZoomGrid::read_stretched`]), not after.
    pub(crate) fn interpolates(&self) -> bool {
        let cubic = |order: ZoomOrder| order == ZoomOrder::Cubic;
        self.zoom.is_some_and(|z| cubic(z.0.order))
            || self
                .resize
                .as_ref()
                .is_some_and(|r| cubic(r.resize().order()))
    }

    /// Reads `window` of the grid of `array` (padded by `pad`) into `out`.
    pub(crate) fn read_into<T: Element>(
        &self,
        array: &MappedArray<T>,
        window: Bbox,
        pad: PadMode,
        out: &mut [T],
    ) -> Result<()> {
        check_output::<T>(&window, out.len())?;
        let Some(resize) = &self.resize else {
            return self.read_zoomed(array, window, pad, out);
        };
        if out.is_empty() {
            return Ok(());
        }
        let inside = PadMode::Constant(0.0);
        if resize.resize().order() == ZoomOrder::Nearest {
            let read = |b, buf: &mut [T]| self.read_zoomed(array, b, inside, buf);
            return resize.read_nearest(window, pad, read, out);
        }
        let values = |b, buf: &mut [f64]| self.read_values(array, b, None::<fn(f64) -> f64>, buf);
        let constant = |c: Option<f64>| T::from_f64(c.unwrap_or(0.0));
        let inner = constant(resize.resize().pad_mode().constant()).to_f64();
        let range = resize.range(None, inner, values)?;
        let store = |t| resize::truncate::<T>(t, range);
        let fill = (store, constant(pad.constant()));
        resize.read_cubic(window, pad, values, fill, inner, out)
    }

    /// Reads `window` of the zoomed grid (before any resize) of `array` into `out`.
    fn read_zoomed<T: Element>(
        &self,
        array: &MappedArray<T>,
        window: Bbox,
        pad: PadMode,
        out: &mut [T],
    ) -> Result<()> {
        let Some((zoom, axes)) = &self.zoom else {
            return array.read_stored_into(window, pad, out);
        };
        if zoom.order == ZoomOrder::Nearest {
            return nearest::read(array, axes, window, pad, out);
        }
        check_output::<T>(&window, out.len())?;
        let cval = quantise(T::from_f64(pad.constant().unwrap_or(0.0)).to_f64());
        let folds = fold_maps(pad, &window, self.inner);
        cubic::read(
            axes,
            &folds,
            stored(array, T::to_f64),
            quantise::<T>,
            cval,
            out,
        )
    }

    /// The values of `window` (inside the zoomed grid) as the resize interpolates them: the
    /// zoomed voxels, or with `stretch` the voxels stretched to `uint8` before the zoom, as
    /// PyTC's `NORMALIZE_RANGE` does.
    fn read_values<T: Element>(
        &self,
        array: &MappedArray<T>,
        window: Bbox,
        stretch: Option<impl Fn(f64) -> f64>,
        out: &mut [f64],
    ) -> Result<()> {
        if let (Some(stretch), Some((zoom, axes))) = (&stretch, &self.zoom) {
            if zoom.order == ZoomOrder::Cubic {
                let folds = fold_maps(PadMode::Constant(0.0), &window, self.inner);
                let load = |v: T| stretch(v.to_f64());
                let store = |t| f64::from(quantise::<u8>(t));
                return cubic::read(axes, &folds, stored(array, load), store, 0.0, out);
            }
        }
        let mut voxels = vec![T::default(); out.len()];
        self.read_zoomed(array, window, PadMode::Constant(0.0), &mut voxels)?;
        for (o, v) in out.iter_mut().zip(voxels) {
            *o = stretch.as_ref().map_or(v.to_f64(), |s| s(v.to_f64()));
        }
        Ok(())
    }

    /// Reads `window` as a `float32` image of the volume `stretch`ed to `uint8` before the
    /// zoom (PyTC's `NORMALIZE_RANGE`, by the volume's range `key`, the bits of its smallest and
    /// largest value): the resampled values are stored as `uint8` (rounded by a zoom, truncated
    /// by a resize), then divided by 255. Stages of order 0, which commute with `stretch`, are
    /// read first and stretched after.
    pub(crate) fn read_stretched<T: Element>(
        &self,
        array: &MappedArray<T>,
        window: Bbox,
        pad: PadMode,
        (key, stretch): ([u64; 2], impl Fn(f64) -> f64),
        out: &mut [f32],
    ) -> Result<()> {
        check_output::<f32>(&window, out.len())?;
        let image = |v: u8| (f64::from(v) / 255.0) as f32;
        let stretched = |c: Option<f64>| stretch(T::from_f64(c.unwrap_or(0.0)).to_f64());
        match &self.resize {
            Some(resize) if resize.resize().order() == ZoomOrder::Cubic => {
                let values = |b, buf: &mut [f64]| self.read_values(array, b, Some(&stretch), buf);
                let inner = f64::from(u8::from_f64(
                    resize.resize().pad_mode().constant().unwrap_or(0.0),
                ));
                let range = resize.range(Some(key), inner, values)?;
                let store = |t| image(resize::truncate::<u8>(t, range));
                let fill = (store, image(u8::from_f64(stretched(pad.constant()))));
                resize.read_cubic(window, pad, values, fill, inner, out)
            }
            None if self.interpolates() => {
                let (_, axes) = self.zoom.as_ref().expect("an interpolating zoom");
                let load = |v: T| stretch(v.to_f64());
                let store = |t| image(quantise::<u8>(t));
                let cval = store(stretched(pad.constant()));
                let folds = fold_maps(pad, &window, self.inner);
                cubic::read(axes, &folds, stored(array, load), store, cval, out)
            }
            _ => {
                let mut voxels = vec![T::default(); out.len()];
                self.read_into(array, window, pad, &mut voxels)?;
                for (o, v) in out.iter_mut().zip(voxels) {
                    *o = image(u8::from_f64(stretch(v.to_f64())));
                }
                Ok(())
            }
        }
    }
}

/// The stored voxels of `array` as a resampling source, mirrored beyond the volume, each
/// converted by `load`.
fn stored<T: Element, L: Fn(T) -> f64>(
    array: &MappedArray<T>,
    load: L,
) -> cubic::Source<impl FnOnce(Bbox, &mut [T]) -> Result<()> + '_, L> {
    cubic::Source {
        read: move |b, raw: &mut [T]| array.read_stored_into(b, PadMode::Reflect, raw),
        load,
    }
}

impl<T: Element> MappedArray<T> {
    /// The array seen through `zoom`, as `scipy.ndimage.zoom(volume, zoom.scale(), order)`
    /// would resample it, computed lazily window by window: [`MappedArray::shape`] becomes the
    /// zoomed shape and every read ([`MappedArray::read`], [`MappedArray::read_into`], padding
    /// included) is of the zoomed grid. A zoom that leaves the shape unchanged is no zoom at
    /// all (scipy's mapping is then the identity): the array stays on the stored, zero-copy
    /// path. A zoom replaces any earlier one, and any resize; it applies to the stored voxels.
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::store::{Zoom, ZoomOrder};
    /// use voxload::{write_array, Bbox, Encoding, MappedArray, PadMode};
    /// let dir = tempfile::tempdir()?;
    /// let data = Array3::from_shape_fn((1, 2, 3), |(_, y, x)| (10 * y + x) as u16);
    /// write_array(dir.path(), "seg", &data, [1, 2, 3], Encoding::Raw)?;
    /// let seg = MappedArray::<u16>::open(dir.path(), "seg")?
    ///     .zoomed(Zoom::new([1.0, 1.0, 5.0 / 3.0], ZoomOrder::Nearest)?)?;
    /// assert_eq!((seg.shape(), seg.meta().shape), ([1, 2, 5], [1, 2, 3]));
    /// let row = seg.read(Bbox::new([0, 1, -1], [1, 1, 7]), PadMode::Reflect)?;
    /// assert_eq!(row.as_slice().unwrap(), &[11, 10, 11, 11, 12, 12, 12]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Geometry`] naming the axis when the zoomed shape is empty or too large (see
    /// [`Zoom::shape`]).
    pub fn zoomed(mut self, zoom: Zoom) -> Result<Self> {
        self.zoom = ZoomGrid::new(zoom, self.meta().shape)?.map(Box::new);
        Ok(self)
    }

    /// The array (as zoomed, if it is) seen through `resize`, as
    /// `skimage.transform.resize(volume, resize.to(), order, anti_aliasing=False,
    /// preserve_range=True).astype(dtype)` would resize it after padding it by
    /// [`Resize::pad`] (PyTC's `ENSURE_MIN_SIZE`; see the [`resize`](self::resize) module):
    /// [`MappedArray::shape`] becomes [`Resize::to`], index 0 is the padded volume's corner, and
    /// the read's pad mode applies beyond the resized grid. A resize that neither pads nor
    /// changes the shape changes nothing. A resize replaces any earlier one.
    ///
    /// ```
    /// use ndarray::Array3;
    /// use voxload::store::zoom::{Resize, ZoomOrder};
    /// use voxload::{write_array, Bbox, Encoding, MappedArray, PadMode};
    /// let dir = tempfile::tempdir()?;
    /// let data = Array3::from_shape_fn((1, 1, 2), |(_, _, x)| [10u8, 20][x]);
    /// write_array(dir.path(), "seg", &data, [1, 1, 2], Encoding::Raw)?;
    /// let seg = MappedArray::<u8>::open(dir.path(), "seg")?
    ///     .resized(Resize::new([1, 1, 5], ZoomOrder::Nearest))?;
    /// // Pixel centres: x = (k + 0.5) · 2 / 5 − 0.5 = −0.3, 0.1, 0.5, 0.9, 1.3.
    /// let row = seg.read(Bbox::new([0, 0, 0], [1, 1, 5]), PadMode::Reflect)?;
    /// assert_eq!(row.as_slice().unwrap(), &[10, 10, 20, 20, 20]);
    /// // Padded first by one voxel (reflect: 20 10 20 20... of 4 voxels), then resized.
    /// let padded = MappedArray::<u8>::open(dir.path(), "seg")?
    ///     .resized(Resize::new([1, 1, 8], ZoomOrder::Nearest).padded([0, 0, 1], PadMode::Reflect))?;
    /// let row = padded.read(Bbox::from_shape([1, 1, 8]), PadMode::Reflect)?;
    /// assert_eq!(row.as_slice().unwrap(), &[20, 20, 10, 10, 20, 20, 10, 10]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Geometry`] naming the axis when the array or the resized shape has an empty
    /// axis, or the resized shape one longer than `2^48` voxels.
    pub fn resized(mut self, resize: Resize) -> Result<Self> {
        let inner = self.shape();
        let grid = self.zoom.take().map_or(
            ZoomGrid {
                zoom: None,
                inner,
                resize: None,
            },
            |g| *g,
        );
        let grid = ZoomGrid {
            resize: ResizeGrid::new(resize, inner)?,
            ..grid
        };
        self.zoom = (grid.zoom.is_some() || grid.resize.is_some()).then(|| Box::new(grid));
        Ok(self)
    }

    /// The zoom reads see the array through, if any (see [`MappedArray::zoomed`]).
    #[must_use]
    pub fn zoom(&self) -> Option<Zoom> {
        self.zoom.as_ref().and_then(|z| z.zoom())
    }

    /// The resize reads see the array through, if any (see [`MappedArray::resized`]).
    #[must_use]
    pub fn resize(&self) -> Option<Resize> {
        self.zoom
            .as_ref()
            .and_then(|z| z.resize.as_ref())
            .map(ResizeGrid::resize)
    }

    /// The zoom's resolved grid, for the readers that resample on their own.
    pub(crate) fn zoom_grid(&self) -> Option<&ZoomGrid> {
        self.zoom.as_deref()
    }
}

/// An interpolated value stored as scipy stores it in type `T`: integers `t + 0.5` truncated
/// and clipped to `[0, MAX]` (values below 0 become 0), `float32` rounded to nearest.
fn quantise<T: Element>(t: f64) -> T {
    if T::DTYPE == DType::F32 {
        T::from_f64(t)
    } else {
        // `as` casts saturate at the type's range, which is scipy's clip.
        T::from_f64(if t > 0.0 { t + 0.5 } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantise_rounds_halves_up_and_clips() {
        assert_eq!(quantise::<u8>(2.5), 3);
        assert_eq!(quantise::<u8>(2.4999), 2);
        assert_eq!(quantise::<u8>(-3.0), 0);
        assert_eq!(quantise::<u8>(262.9), 255);
        assert_eq!(quantise::<u16>(f64::NAN), 0);
        assert_eq!(quantise::<f32>(0.1), 0.1f32);
    }

    #[test]
    fn shape_rounds_halves_to_even() {
        let zoom = Zoom::new([0.5, 0.5, 0.5], ZoomOrder::Nearest).unwrap();
        assert_eq!(zoom.shape([5, 3, 9]).unwrap(), [2, 2, 4]);
        assert!(zoom.shape([1, 4, 4]).is_err());
        // A unit scale keeps even an empty axis.
        let keep_z = Zoom::new([1.0, 0.5, 0.5], ZoomOrder::Nearest).unwrap();
        assert_eq!(keep_z.shape([0, 4, 4]).unwrap(), [0, 2, 2]);
    }

    #[test]
    fn bad_scales_name_the_value() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = Zoom::new([1.0, 1.0, bad], ZoomOrder::Cubic).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{bad} on axis x")),
                "{err}"
            );
        }
    }
}
