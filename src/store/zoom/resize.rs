//! [`Resize`]: PyTC's `DATASET.ENSURE_MIN_SIZE`, the second mapping of the zoom machinery.
//!
//! PyTC's `_resize2target` resizes a volume smaller than the sample size in some axis, after
//! its zoom and its padding, with `skimage.transform.resize(volume, max(shape, target),
//! order, anti_aliasing=False, preserve_range=True).astype(dtype)` (order 3 for images, 0 for
//! labels and valid masks). In scikit-image 0.26 that is, read from its source and checked
//! against it (`tests/zoom_skimage.rs`):
//! - `scipy.ndimage.zoom(volume, m / n, order, mode="mirror", grid_mode=True)`: skimage's
//!   default `mode="reflect"` becomes scipy's `mirror` (numpy's `reflect`: no repeated edge
//!   voxel). Output index `k` of an axis of `n` source and `m` output voxels is source
//!   coordinate `(k + 0.5) · (n / m) − 0.5`, in `f64`; one before the first voxel's centre is
//!   mirrored to `−c`, one past the last voxel's centre is kept and its taps are mirrored.
//!   Order 0 takes voxel `floor(c + 0.5)`; order 3 the cubic B-spline with scipy's prefilter,
//!   which scipy initialises the same way for `mirror` as for the zoom's `constant`.
//! - Order 3 first converts the volume to `float64` (`float32` stays `float32`), and the
//!   result is clipped to the smallest and largest value of the whole input (skimage's
//!   `clip=True`), then `.astype(dtype)` truncates toward zero: `uint8` `37.9` is 37, not 38 as
//!   the zoom's rounding gives. Order 0 keeps the type and copies voxels.
//! - An axis whose length is kept is mapped to itself (coordinate `k`); voxload copies it.
//!
//! PyTC resizes the padded volume: `P = pad(zoom(volume), PAD_SIZE, PAD_MODE)`, then
//! `R = resize(P, max(P.shape, target))`, and samples `R` without further padding. A resize
//! here has the same inner padding ([`Resize::padded`]): its source is the array (zoomed, if
//! it is) padded as PyTC pads it, its shape is `R`'s, and its index 0 is `R`'s first voxel,
//! which is the padded volume's corner, not the array's. The read's own pad mode applies only
//! beyond `R`.
//!
//! # Known differences from skimage
//! - Order 3 truncates: a value that should be an integer exactly (a region constant over the
//!   spline's reach, or an output voxel that lands on a source voxel, as every third one does
//!   for a threefold resize) comes out of scipy a few `1e-13` above or below it, so skimage
//!   gives it or the integer below as its rounding falls. voxload computes such values within
//!   `1e-10` of the value range of the integer and takes that integer: it then agrees with
//!   skimage whenever scipy's rounding fell on or above the integer, and is one above
//!   skimage's value otherwise (a few percent of such voxels in the tests).
//! - The clipping range is the whole padded volume's, found by reading it once, at the first
//!   order-3 read (and once more for each `NORMALIZE_RANGE` stretch it is read with).
//! - Order 0 copies `uint64` ids exactly, where scipy passes them through an `f64`.

use std::sync::Mutex;

use super::axis::Axis;
use super::cubic::{self, Source};
use super::{ZoomOrder, AXES, MAX_EXTENT};
use crate::pad::{fold_maps, source_box};
use crate::{Bbox, Coord, DType, Element, Error, PadMode, Padding, Result, Shape};

/// A resize to shape `to` by `order`, as `skimage.transform.resize(volume, to, order,
/// anti_aliasing=False, preserve_range=True).astype(volume.dtype)` (see the
/// [module documentation](self)), optionally of the volume padded first.
///
/// ```
/// use voxload::store::zoom::{min_size_resize, Resize, ZoomOrder};
/// use voxload::PadMode;
/// // PyTC: a (9, 100, 100) volume padded by (2, 8, 8) is (13, 116, 116), below a (17, 96, 96)
/// // sample in z: it is resized to (17, 116, 116), padding included.
/// let to = min_size_resize([13, 116, 116], [17, 96, 96]).unwrap();
/// let resize = Resize::new(to, ZoomOrder::Cubic).padded([2, 8, 8], PadMode::Reflect);
/// assert_eq!(resize.source_shape([9, 100, 100]), [13, 116, 116]);
/// assert_eq!(min_size_resize([17, 116, 116], [17, 96, 96]), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resize {
    to: Shape,
    order: ZoomOrder,
    pad: Padding,
    pad_mode: PadMode,
    /// Seen in the volume's frame ([`Resize::in_volume_frame`]).
    framed: bool,
}

impl Resize {
    /// A resize of the array to `to` by `order`, without padding.
    #[must_use]
    pub fn new(to: Shape, order: ZoomOrder) -> Self {
        Resize {
            to,
            order,
            pad: Padding::uniform([0; 3]),
            pad_mode: PadMode::Reflect,
            framed: false,
        }
    }

    /// The resize of the array padded by `pad` voxels on each side of each axis with `mode`
    /// (PyTC's `PAD_SIZE` and `PAD_MODE`, which it applies before resizing).
    #[must_use]
    pub fn padded(self, pad: Shape, mode: PadMode) -> Self {
        self.padded_by(Padding::uniform(pad.map(|p| p as i64)), mode)
    }

    /// The resize of the array padded by `pad` (each side of each axis by its own amount,
    /// PyTC's six-value `PAD_SIZE`) with `mode`; negative amounts count as 0.
    ///
    /// ```
    /// use voxload::store::zoom::{Resize, ZoomOrder};
    /// use voxload::{PadMode, Padding};
    /// let pad = Padding::new([2, 0, 8], [1, 4, 8]);
    /// let r = Resize::new([17, 116, 116], ZoomOrder::Cubic).padded_by(pad, PadMode::Reflect);
    /// assert_eq!(r.source_shape([9, 100, 100]), [12, 104, 116]);
    /// assert_eq!(r.in_volume_frame().shape(), [14, 112, 100]);
    /// ```
    #[must_use]
    pub fn padded_by(mut self, pad: Padding, mode: PadMode) -> Self {
        let at_least_0 = |c: Coord| c.map(|p| p.max(0));
        self.pad = Padding::new(at_least_0(pad.before), at_least_0(pad.after));
        self.pad_mode = mode;
        self
    }

    /// The resized grid seen in the volume's frame, as a loader that pads by [`Resize::pad`]
    /// itself needs it (PyTC's `ENSURE_MIN_SIZE` under `PAD_SIZE`): the padded volume's corner,
    /// the resized grid's first voxel, is at `−before`, and the array's shape is `to − before −
    /// after`, so the box `[−before, shape + after)` is exactly the resized grid. Reads beyond it are padded by
    /// their own mode, against the resized grid's faces.
    ///
    /// ```
    /// use voxload::store::zoom::{Resize, ZoomOrder};
    /// use voxload::PadMode;
    /// let r = Resize::new([17, 116, 116], ZoomOrder::Cubic).padded([2, 8, 8], PadMode::Reflect);
    /// assert_eq!(r.shape(), [17, 116, 116]);
    /// assert_eq!(r.in_volume_frame().shape(), [13, 100, 100]);
    /// ```
    #[must_use]
    pub fn in_volume_frame(mut self) -> Self {
        self.framed = true;
        self
    }

    /// The resized shape.
    #[must_use]
    pub fn to(&self) -> Shape {
        self.to
    }

    /// The shape the array has when read through this resize: [`Resize::to`], or `to − before −
    /// after`
    /// [`in the volume's frame`](Resize::in_volume_frame).
    #[must_use]
    pub fn shape(&self) -> Shape {
        if self.framed {
            std::array::from_fn(|a| self.to[a].saturating_sub(self.pad.total()[a] as u64))
        } else {
            self.to
        }
    }

    /// Where the resized grid's first voxel is in the array's coordinates.
    fn origin(&self) -> Coord {
        if self.framed {
            self.pad.before.map(|p| -p)
        } else {
            [0; 3]
        }
    }

    /// The order.
    #[must_use]
    pub fn order(&self) -> ZoomOrder {
        self.order
    }

    /// The padding applied before the resize, per axis and side.
    #[must_use]
    pub fn pad(&self) -> Padding {
        self.pad
    }

    /// The pad mode applied before the resize.
    #[must_use]
    pub fn pad_mode(&self) -> PadMode {
        self.pad_mode
    }

    /// The shape the resize starts from, for an array of shape `shape`: `shape + before + after`.
    #[must_use]
    pub fn source_shape(&self, shape: Shape) -> Shape {
        std::array::from_fn(|a| shape[a].saturating_add(self.pad.total()[a] as u64))
    }
}

/// PyTC's `ENSURE_MIN_SIZE` target: `max(shape, target)` per axis when `shape` (the padded
/// volume's, in PyTC) is smaller than `target` (the sample size) on some axis, else `None`
/// (the volume is left as it is).
///
/// ```
/// use voxload::store::zoom::min_size_resize;
/// assert_eq!(min_size_resize([8, 300, 90], [17, 129, 129]), Some([17, 300, 129]));
/// assert_eq!(min_size_resize([17, 129, 129], [17, 129, 129]), None);
/// ```
#[must_use]
pub fn min_size_resize(shape: Shape, target: Shape) -> Option<Shape> {
    (0..3)
        .any(|a| shape[a] < target[a])
        .then(|| std::array::from_fn(|a| shape[a].max(target[a])))
}

/// PyTC's `ENSURE_MIN_SIZE` for a volume of `shape` that a loader pads by `pad` with `mode`:
/// the resize by `order` of the padded volume up to `sample`, seen in the volume's frame
/// ([`Resize::in_volume_frame`]), or `None` when the padded volume is large enough.
///
/// ```
/// use voxload::store::zoom::{min_size_frame, ZoomOrder};
/// use voxload::PadMode;
/// let r = min_size_frame([3, 40, 40], [9, 32, 32], [1, 2, 2], PadMode::Reflect, ZoomOrder::Cubic);
/// assert_eq!(r.unwrap().shape(), [7, 40, 40]);
/// assert!(min_size_frame([9, 40, 40], [9, 32, 32], [1, 2, 2], PadMode::Reflect, ZoomOrder::Cubic).is_none());
/// ```
#[must_use]
pub fn min_size_frame(
    shape: Shape,
    sample: Shape,
    pad: impl Into<Padding>,
    mode: PadMode,
    order: ZoomOrder,
) -> Option<Resize> {
    let pad = pad.into();
    min_size_resize(pad.padded(shape), sample).map(|to| {
        Resize::new(to, order)
            .padded_by(pad, mode)
            .in_volume_frame()
    })
}

/// Values within this fraction of the value range of an integer are that integer (see the
/// module documentation).
const SNAP: f64 = 1e-10;

/// Source voxels converted per slab when the clipping range is found.
const SCAN_VOXELS: u64 = 1 << 22;

/// The clipping ranges found so far, by the stretch they were found for (`None`: the values as
/// they are; else the bits of the stretch's smallest and largest value).
type Ranges = Vec<(Option<[u64; 2]>, (f64, f64))>;

/// How a resized voxel's value is found along one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tap {
    /// Beyond the resized grid, under a constant pad of the read: the read's constant.
    Outside,
    /// In the inner padding, under a constant `PAD_MODE`: the inner constant.
    Padded,
    /// The source (zoomed) array's index.
    At(u64),
}

/// A resize resolved for one array of (zoomed) shape `inner`.
#[derive(Debug)]
pub(crate) struct ResizeGrid {
    resize: Resize,
    inner: Shape,
    axes: [Axis; 3],
    /// The clipping ranges found so far.
    ranges: Mutex<Ranges>,
}

impl ResizeGrid {
    /// `resize` of an array of (zoomed) shape `inner`; `None` when it changes nothing.
    pub(crate) fn new(resize: Resize, inner: Shape) -> Result<Option<Self>> {
        let source = resize.source_shape(inner);
        for a in 0..3 {
            let to = resize.to[a];
            let framed_empty = resize.framed && to <= resize.pad.total()[a] as u64;
            if inner[a] == 0 || framed_empty || !(1.0..=MAX_EXTENT).contains(&(to as f64)) {
                return Err(Error::Geometry(format!(
                    "a resize of a {inner:?} array padded by {} to {:?}: axis {} resizes {} voxels to {to}; both hold 1 to 2^48 voxels",
                    resize.pad, resize.to, AXES[a], source[a]
                )));
            }
        }
        if resize.pad.total() == [0; 3] && resize.to == inner {
            return Ok(None);
        }
        Ok(Some(ResizeGrid {
            resize,
            inner,
            axes: std::array::from_fn(|a| Axis::centred(source[a], resize.to[a])),
            ranges: Mutex::new(Vec::new()),
        }))
    }

    pub(crate) fn resize(&self) -> Resize {
        self.resize
    }

    /// The shape reads see (see [`Resize::shape`]).
    pub(crate) fn shape(&self) -> Shape {
        self.resize.shape()
    }

    /// The read's padding of `window` (in the array's coordinates) against the resized grid.
    fn folds(&self, pad: PadMode, window: &Bbox) -> [Vec<Option<u64>>; 3] {
        fold_maps(
            pad,
            &window.relative_to(self.resize.origin()),
            self.resize.to,
        )
    }

    /// The inner pad's constant, `None` when the inner pad mirrors or repeats.
    fn inner_constant(&self) -> Option<f64> {
        self.resize.pad_mode.constant()
    }

    /// The (zoomed) array's index of padded-volume index `i` on axis `a`.
    fn unpad(&self, a: usize, i: u64) -> Tap {
        let at = i as i64 - self.resize.pad.before[a];
        self.resize
            .pad_mode
            .fold(at, self.inner[a])
            .map_or(Tap::Padded, Tap::At)
    }

    /// Reads `window` (padded by `pad`) by order 0: `read_inner` reads a box of the (zoomed)
    /// array, which lies inside it.
    pub(crate) fn read_nearest<T: Element>(
        &self,
        window: Bbox,
        pad: PadMode,
        read_inner: impl FnOnce(Bbox, &mut [T]) -> Result<()>,
        out: &mut [T],
    ) -> Result<()> {
        let folds = self.folds(pad, &window);
        let taps: [Vec<Tap>; 3] = std::array::from_fn(|a| {
            let tap = |k: Option<u64>| {
                k.and_then(|k| self.axes[a].nearest(k))
                    .map_or(Tap::Outside, |i| self.unpad(a, i))
            };
            folds[a].iter().map(|&k| tap(k)).collect()
        });
        let fill = [pad.constant(), self.inner_constant()].map(|c| T::from_f64(c.unwrap_or(0.0)));
        fetch(&taps, read_inner, fill, out)
    }

    /// Reads `window` (padded by `pad`) by order 3: `read_inner` gives the (zoomed) array's
    /// values, as they are resampled, for a box inside it; `store` gets each value clipped to
    /// `range` (see [`ResizeGrid::range`]); the read's constant becomes `cval`, the inner pad's
    /// constant `inner`.
    pub(crate) fn read_cubic<Q: Copy>(
        &self,
        window: Bbox,
        pad: PadMode,
        read_inner: impl Fn(Bbox, &mut [f64]) -> Result<()>,
        (store, cval): (impl Fn(f64) -> Q, Q),
        inner: f64,
        out: &mut [Q],
    ) -> Result<()> {
        let folds = self.folds(pad, &window);
        let padded = self.resize.source_shape(self.inner);
        let read = |b: Bbox, raw: &mut [f64]| {
            // The box of the padded volume, mirrored beyond it as scipy's `mirror` does.
            let taps: [Vec<Tap>; 3] = std::array::from_fn(|a| {
                (0..b.shape[a] as i64)
                    .map(|i| {
                        PadMode::Reflect
                            .fold(b.begin[a] + i, padded[a])
                            .map_or(Tap::Padded, |p| self.unpad(a, p))
                    })
                    .collect()
            });
            fetch(&taps, &read_inner, [inner, inner], raw)
        };
        let load = |v: f64| v;
        cubic::read(&self.axes, &folds, Source { read, load }, store, cval, out)
    }

    /// The smallest and largest value of the padded volume, NaNs ignored (skimage's clipping
    /// range), found by reading the (zoomed) array once with `read_inner` and kept for `key`
    /// (the stretch the values are read with).
    pub(crate) fn range(
        &self,
        key: Option<[u64; 2]>,
        inner: f64,
        read_inner: impl Fn(Bbox, &mut [f64]) -> Result<()>,
    ) -> Result<(f64, f64)> {
        let cached = |ranges: &Ranges| ranges.iter().find(|(k, _)| *k == key).map(|(_, r)| *r);
        if let Some(r) = cached(&self.ranges.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(r);
        }
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        if self.inner_constant().is_some() && self.resize.pad.total() != [0; 3] {
            (lo, hi) = (inner, inner);
        }
        let [d, h, w] = self.inner;
        let rows = (SCAN_VOXELS / w).clamp(1, h);
        let planes = (SCAN_VOXELS / (h * w)).clamp(1, d);
        let mut buffer = Vec::new();
        for z in (0..d).step_by(planes as usize) {
            for y in (0..h).step_by(rows as usize) {
                let slab = Bbox::new(
                    [z as i64, y as i64, 0],
                    [planes.min(d - z), rows.min(h - y), w],
                );
                buffer.resize(slab.num_voxels() as usize, 0.0);
                read_inner(slab, &mut buffer)?;
                for &v in buffer.iter().filter(|v| !v.is_nan()) {
                    (lo, hi) = (lo.min(v), hi.max(v));
                }
            }
        }
        let range = if lo <= hi { (lo, hi) } else { (0.0, 0.0) };
        let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        if cached(&ranges).is_none() {
            ranges.push((key, range));
        }
        Ok(range)
    }
}

/// A resized value as skimage stores it in `T` after clipping it to `range`: `float32` the
/// nearest value, integers truncated toward zero, values within [`SNAP`] of the range of an
/// integer taken as that integer.
pub(crate) fn truncate<T: Element>(t: f64, (lo, hi): (f64, f64)) -> T {
    let clipped = if t.is_nan() { t } else { t.max(lo).min(hi) };
    if T::DTYPE == DType::F32 {
        return T::from_f64(clipped);
    }
    let near = clipped.round();
    let tolerance = SNAP * lo.abs().max(hi.abs()).max(1.0);
    T::from_f64(if (near - clipped).abs() <= tolerance {
        near
    } else {
        clipped
    })
}

/// Fills `out` (the C-order box of the taps' lengths) from the (zoomed) array: `read_inner`
/// reads the box of the indices the taps take, `fill` gives the value of an
/// [`Tap::Outside`] and a [`Tap::Padded`] voxel (the first one found wins).
fn fetch<V: Copy + Default>(
    taps: &[Vec<Tap>; 3],
    read_inner: impl FnOnce(Bbox, &mut [V]) -> Result<()>,
    [outside, padded]: [V; 2],
    out: &mut [V],
) -> Result<()> {
    let maps: [Vec<Option<u64>>; 3] = std::array::from_fn(|a| {
        taps[a]
            .iter()
            .map(|t| match t {
                Tap::At(i) => Some(*i),
                _ => None,
            })
            .collect()
    });
    let mut values = Vec::new();
    let inner = source_box(&maps);
    if let Some(b) = inner {
        values.resize(b.num_voxels() as usize, V::default());
        read_inner(b, &mut values)?;
    }
    let origin = inner.map_or([0; 3], |b| b.begin.map(|v| v as u64));
    let [bh, bw] = inner.map_or([0; 2], |b| [b.shape[1], b.shape[2]]);
    let mut voxels = out.iter_mut();
    for tz in &taps[0] {
        for ty in &taps[1] {
            for tx in &taps[2] {
                let v = voxels.next().expect("one voxel per tap triple");
                let axes = [tz, ty, tx];
                *v = if axes.contains(&&Tap::Outside) {
                    outside
                } else if let [Tap::At(z), Tap::At(y), Tap::At(x)] = axes {
                    let [z, y, x] = [z - origin[0], y - origin[1], x - origin[2]];
                    values[((z * bh + y) * bw + x) as usize]
                } else {
                    padded
                };
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_clips_truncates_and_snaps() {
        assert_eq!(truncate::<u8>(37.9, (0.0, 255.0)), 37);
        assert_eq!(truncate::<u8>(299.0, (3.0, 250.0)), 250);
        assert_eq!(truncate::<u8>(-2.0, (3.0, 250.0)), 3);
        assert_eq!(truncate::<u8>(99.999_999_999_99, (0.0, 255.0)), 100);
        assert_eq!(truncate::<u8>(99.999_99, (0.0, 255.0)), 99);
        assert_eq!(truncate::<f32>(0.1, (0.0, 1.0)), 0.1f32);
        assert!(truncate::<f32>(f64::NAN, (0.0, 1.0)).is_nan());
    }

    #[test]
    fn min_size_keeps_large_volumes() {
        assert_eq!(min_size_resize([5, 5, 5], [5, 5, 5]), None);
        assert_eq!(min_size_resize([4, 9, 5], [5, 5, 5]), Some([5, 9, 5]));
    }

    #[test]
    fn bad_resizes_name_the_axis() {
        let err =
            ResizeGrid::new(Resize::new([4, 0, 4], ZoomOrder::Nearest), [4, 4, 4]).unwrap_err();
        assert!(err.to_string().contains("axis y"), "{err}");
        assert!(
            ResizeGrid::new(Resize::new([4, 4, 4], ZoomOrder::Cubic), [4, 4, 4])
                .unwrap()
                .is_none()
        );
    }
}
