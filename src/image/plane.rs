//! Decoded 2D images: [`Plane`] holds one image's pixels in the file's own type.

use ndarray::Array2;

use crate::{match_dtype, DType, Element};

crate::element::dtype_enum! {
    /// A grayscale plane in the file's own pixel type (PNG: `uint8`, `uint16`; TIFF also
    /// `uint32`, `float32`).
    #[derive(Clone, Debug, PartialEq)]
    pub enum GrayPlane of Array2;
}

/// The pixels of one decoded image, in the file's own type.
///
/// ```
/// use ndarray::Array2;
/// use voxload::image::{Content, Plane};
///
/// let plane = Plane::Gray(Array2::<u8>::from_elem((2, 3), 7).into());
/// assert_eq!((plane.dim(), plane.kind()), ((2, 3), "8-bit grayscale"));
/// assert_eq!(plane.to_voxels::<u16>(Content::Image), Some(Array2::from_elem((2, 3), 7)));
/// assert_eq!(plane.to_voxels::<u8>(Content::Image), Some(Array2::from_elem((2, 3), 7)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Plane {
    /// Grayscale.
    Gray(GrayPlane),
    /// 8-bit colour, `(h, w, channels)` with 3 or 4 channels.
    Rgb8(ndarray::Array3<u8>),
    /// 16-bit colour, `(h, w, channels)` with 3 or 4 channels.
    Rgb16(ndarray::Array3<u16>),
}

/// How colour and resizing are interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// Intensities: RGB takes channel 0; resizing is linear.
    Image,
    /// Segment ids: RGB is `R·65536 + G·256 + B` (VAST); resizing is nearest-neighbour.
    Label,
}

impl Content {
    /// [`Content::Label`] when `label` is set, else [`Content::Image`].
    #[must_use]
    pub fn from_label(label: bool) -> Content {
        if label {
            Content::Label
        } else {
            Content::Image
        }
    }
}

impl Plane {
    /// `(height, width)`.
    #[must_use]
    pub fn dim(&self) -> (usize, usize) {
        match self {
            Plane::Gray(g) => match_dtype!(g, GrayPlane(a) => a.dim()),
            Plane::Rgb8(a) => (a.dim().0, a.dim().1),
            Plane::Rgb16(a) => (a.dim().0, a.dim().1),
        }
    }

    /// The pixel type's name, for messages.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Plane::Gray(g) => match g.dtype() {
                DType::U8 => "8-bit grayscale",
                DType::U16 => "16-bit grayscale",
                DType::U32 => "32-bit grayscale",
                DType::U64 => "64-bit grayscale",
                DType::F32 => "float32 grayscale",
            },
            Plane::Rgb8(_) => "8-bit RGB",
            Plane::Rgb16(_) => "16-bit RGB",
        }
    }

    /// The data type a volume of such planes gets when nothing else says (labels in colour
    /// need 32 bits).
    #[must_use]
    pub fn natural_dtype(&self, content: Content) -> DType {
        match (self, content) {
            (Plane::Gray(g), _) => g.dtype(),
            (Plane::Rgb8(_), Content::Image) => DType::U8,
            (Plane::Rgb16(_), Content::Image) => DType::U16,
            (Plane::Rgb8(_), Content::Label) => DType::U32,
            (Plane::Rgb16(_), Content::Label) => DType::U64,
        }
    }

    /// The plane as voxels of type `T`: lossless conversions only (a narrower integer type
    /// widens; colour becomes channel 0 for images and a packed id for labels).
    ///
    /// # Errors
    /// `None` when the pixel type does not fit `T` without loss; the caller names the file.
    #[must_use]
    pub fn to_voxels<T: Element>(&self, content: Content) -> Option<Array2<T>> {
        let target = T::DTYPE;
        let widen = |from: DType| -> bool {
            from == target
                || matches!(
                    (from, target),
                    (DType::U8, DType::U16 | DType::U32 | DType::U64 | DType::F32)
                        | (DType::U16, DType::U32 | DType::U64 | DType::F32)
                        | (DType::U32, DType::U64)
                )
        };
        if let Some(same) = self.same_type::<T>() {
            return Some(same);
        }
        match self {
            Plane::Gray(g) if widen(g.dtype()) => {
                Some(match_dtype!(g, GrayPlane(a) => a.mapv(|v| T::from_f64(v.to_f64()))))
            }
            Plane::Rgb8(a) => match content {
                Content::Image if widen(DType::U8) => Some(
                    a.index_axis(ndarray::Axis(2), 0)
                        .mapv(|v| T::from_f64(f64::from(v))),
                ),
                Content::Label if widen(DType::U32) => Some(pack(a, 8)),
                _ => None,
            },
            Plane::Rgb16(a) => match content {
                Content::Image if widen(DType::U16) => Some(
                    a.index_axis(ndarray::Axis(2), 0)
                        .mapv(|v| T::from_f64(f64::from(v))),
                ),
                Content::Label if target == DType::U64 => Some(pack(a, 16)),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Plane {
    /// The plane's voxels as `T`, without copying, when it already holds `T` voxels.
    #[must_use]
    pub fn view_as<T: Element>(&self) -> Option<ndarray::ArrayView2<'_, T>> {
        match self {
            Plane::Gray(g) => g
                .as_typed::<T>()
                .filter(|a| a.is_standard_layout())
                .map(|a| a.view()),
            _ => None,
        }
    }

    /// The plane as `T` when it already holds `T` voxels: a plain copy, no conversion.
    fn same_type<T: Element>(&self) -> Option<Array2<T>> {
        self.view_as::<T>().map(|v| v.to_owned())
    }
}

/// Packs RGB channels into one id, `R << 2b | G << b | B` for `b`-bit channels.
fn pack<C: Copy + Into<u64>, T: Element>(rgb: &ndarray::Array3<C>, bits: u32) -> Array2<T> {
    let (h, w, _) = rgb.dim();
    Array2::from_shape_fn((h, w), |(y, x)| {
        let id = (rgb[[y, x, 0]].into() << (2 * bits))
            | (rgb[[y, x, 1]].into() << bits)
            | rgb[[y, x, 2]].into();
        T::from_f64(id as f64)
    })
}

/// The first channel of two-channel (gray and alpha) pixels, `h x w` of them interleaved.
pub(super) fn first_of_two<T: Copy>(pixels: &[T], h: usize, w: usize) -> Array2<T> {
    Array2::from_shape_fn((h, w), |(y, x)| pixels[(y * w + x) * 2])
}
