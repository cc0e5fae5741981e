//! Decoding one 2D image file (PNG or TIFF, one page of a TIFF) into a plane of voxels.

use std::io::{BufReader, Seek};
use std::path::Path;

use ndarray::Array2;

use super::IngestError;
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
/// use voxload::ingest::{Content, Plane};
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

/// The largest image side accepted, so a hostile header cannot make us allocate without bound.
pub const MAX_SIDE: u32 = 1 << 17;

/// The largest decoded image accepted, in bytes.
pub const MAX_IMAGE_BYTES: u64 = 4 << 30;

/// The largest image file read, in bytes: the largest decoded image, with room for headers
/// and an encoding that expands its data (LZW on noise).
pub const MAX_FILE_BYTES: u64 = 2 * MAX_IMAGE_BYTES;

/// The most bytes one byte of a file can decode to: deflate's limit is about 1032, LZW's
/// (12-bit codes of up to 4096 bytes) about 2731, PackBits' 64. A header declaring more pixels
/// than its file could hold is refused before its buffer is allocated.
const MAX_EXPANSION: u64 = 4096;

/// Refuses a declared image of `bytes` decoded bytes from a file of `file_len` bytes when it is
/// larger than [`MAX_IMAGE_BYTES`] or than the file could possibly hold.
fn check_declared(width: u32, height: u32, bytes: u64, file_len: u64) -> Result<(), Reason> {
    if width == 0 || height == 0 {
        return Err(format!("the header declares an empty {width}x{height} image").into());
    }
    if bytes > MAX_IMAGE_BYTES {
        return Err(format!(
            "the header declares {width}x{height} pixels ({bytes} bytes), more than the limit of {MAX_IMAGE_BYTES} bytes"
        )
        .into());
    }
    if bytes > MAX_EXPANSION.saturating_mul(file_len.max(1)) {
        return Err(format!(
            "the header declares {width}x{height} pixels ({bytes} bytes), more than a {file_len}-byte file can hold; the file is truncated or corrupt"
        )
        .into());
    }
    Ok(())
}

/// Decodes a PNG or TIFF file (the first page of a TIFF).
///
/// # Errors
/// [`IngestError::Missing`] when the file does not exist, [`IngestError::Decode`] naming the
/// file and the reason otherwise.
pub fn decode_file(path: &Path) -> Result<Plane, IngestError> {
    // Regular files only (a FIFO would block, /dev/zero be read until memory runs out), of at
    // most the largest image accepted in any encoding.
    let bytes = match crate::file::read_regular(path, MAX_FILE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IngestError::Missing { path: path.into() })
        }
        Err(e) => return Err(IngestError::decode(path, e)),
    };
    if bytes.starts_with(b"\x89PNG") {
        decode_png(&bytes).map_err(|e| IngestError::decode(path, e))
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        let mut pages =
            tiff_pages(std::io::Cursor::new(bytes), 0).map_err(|e| IngestError::decode(path, e))?;
        pages
            .next()
            .unwrap_or_else(|| Err("the TIFF has no page".into()))
            .map_err(|e| IngestError::decode(path, e))
    } else {
        Err(IngestError::decode(path, "neither a PNG nor a TIFF file"))
    }
}

type Reason = Box<dyn std::error::Error + Send + Sync>;

fn decode_png(bytes: &[u8]) -> Result<Plane, Reason> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    decoder.set_limits(png::Limits { bytes: 4 << 30 });
    let mut reader = decoder.read_info()?;
    let info = reader.info();
    if info.width > MAX_SIDE || info.height > MAX_SIDE {
        return Err(format!(
            "image of {}x{} is larger than the limit {MAX_SIDE}",
            info.width, info.height
        )
        .into());
    }
    let raw = info.height as u64 * info.raw_row_length() as u64;
    check_declared(info.width, info.height, raw, bytes.len() as u64)?;
    let out_len = reader.output_buffer_size().ok_or("image too large")?;
    check_declared(info.width, info.height, out_len as u64, u64::MAX)?;
    let mut buf = vec![0u8; out_len];
    let frame = reader.next_frame(&mut buf)?;
    let (h, w) = (frame.height as usize, frame.width as usize);
    buf.truncate(frame.buffer_size());
    let channels = frame.color_type.samples();
    let plane = match (frame.bit_depth, channels) {
        (png::BitDepth::Eight, 1) => Plane::Gray(Array2::from_shape_vec((h, w), buf)?.into()),
        (png::BitDepth::Eight, 2) => {
            Plane::Gray(Array2::from_shape_fn((h, w), |(y, x)| buf[(y * w + x) * 2]).into())
        }
        (png::BitDepth::Eight, c) => Plane::Rgb8(ndarray::Array3::from_shape_vec((h, w, c), buf)?),
        (png::BitDepth::Sixteen, c) => {
            let words: Vec<u16> = buf
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            match c {
                1 => Plane::Gray(Array2::from_shape_vec((h, w), words)?.into()),
                2 => Plane::Gray(
                    Array2::from_shape_fn((h, w), |(y, x)| words[(y * w + x) * 2]).into(),
                ),
                _ => Plane::Rgb16(ndarray::Array3::from_shape_vec((h, w, c), words)?),
            }
        }
        (depth, _) => return Err(format!("unsupported PNG bit depth {depth:?}").into()),
    };
    Ok(plane)
}

type TiffDecoder<R> = tiff::decoder::Decoder<BufReader<R>>;

/// A TIFF decoder over `reader` with voxload's limits, and the file's length.
fn tiff_decoder<R: std::io::Read + Seek>(mut reader: R) -> Result<(TiffDecoder<R>, u64), Reason> {
    let file_len = reader.seek(std::io::SeekFrom::End(0))?;
    reader.rewind()?;
    let mut limits = tiff::decoder::Limits::default();
    limits.decoding_buffer_size = 4 << 30;
    limits.intermediate_buffer_size = 4 << 30;
    let decoder = tiff::decoder::Decoder::new(BufReader::new(reader))?.with_limits(limits);
    Ok((decoder, file_len))
}

/// The pages of a TIFF from page `start` on, decoded lazily.
pub(crate) fn tiff_pages<R: std::io::Read + Seek>(
    reader: R,
    start: usize,
) -> Result<impl Iterator<Item = Result<Plane, Reason>>, Reason> {
    let (mut decoder, file_len) = tiff_decoder(reader)?;
    if start > 0 {
        decoder.seek_to_image(start)?;
    }
    let mut first = true;
    Ok(std::iter::from_fn(move || {
        if !first {
            if !decoder.more_images() {
                return None;
            }
            if let Err(e) = decoder.next_image() {
                return Some(Err(e.into()));
            }
        }
        first = false;
        Some(tiff_page(&mut decoder, file_len))
    }))
}

/// A multi-page TIFF kept open between slabs: its decoder remembers the offset of every page
/// it has passed, so reading a stack slab by slab costs one directory read per page instead
/// of a walk from page 0 per slab (quadratic: 10^5 pages took minutes).
struct Stack {
    decoder: TiffDecoder<std::fs::File>,
    file_len: u64,
    /// The file's length and modification time when opened: a changed file is reopened.
    stamp: (u64, Option<std::time::SystemTime>),
}

/// Stacks kept open at once (ingest reads one; a few for concurrent callers).
const OPEN_STACKS: usize = 4;

fn open_stacks() -> &'static std::sync::Mutex<lru::LruCache<std::path::PathBuf, Stack>> {
    static STACKS: std::sync::OnceLock<std::sync::Mutex<lru::LruCache<std::path::PathBuf, Stack>>> =
        std::sync::OnceLock::new();
    STACKS.get_or_init(|| {
        let capacity =
            std::num::NonZeroUsize::new(OPEN_STACKS).unwrap_or(std::num::NonZeroUsize::MIN);
        std::sync::Mutex::new(lru::LruCache::new(capacity))
    })
}

/// Decodes pages `[z0, z1)` of the TIFF stack at `path` (a regular file).
///
/// # Errors
/// [`IngestError::Missing`] when the file does not exist, [`IngestError::Decode`] naming it
/// otherwise (not a regular file, not a TIFF, fewer pages than asked, a bad page).
pub(crate) fn read_stack(path: &Path, z0: usize, z1: usize) -> Result<Vec<Plane>, IngestError> {
    let fail = |e: Reason| IngestError::decode(path, e);
    let stamp_of = |m: &std::fs::Metadata| (m.len(), m.modified().ok());
    let cached = open_stacks().lock().ok().and_then(|mut c| c.pop(path));
    let now = std::fs::metadata(path).ok().map(|m| stamp_of(&m));
    let mut stack = match cached.filter(|s| Some(s.stamp) == now) {
        Some(stack) => stack,
        None => {
            let opened = crate::file::open_regular(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => IngestError::Missing { path: path.into() },
                _ => IngestError::decode(path, e),
            })?;
            let stamp = opened
                .file
                .metadata()
                .map(|m| stamp_of(&m))
                .map_err(|e| fail(e.into()))?;
            let (decoder, file_len) = tiff_decoder(opened.file).map_err(fail)?;
            Stack {
                decoder,
                file_len,
                stamp,
            }
        }
    };
    let mut planes = Vec::with_capacity(z1.saturating_sub(z0));
    for z in z0..z1 {
        let moved = if z == z0 {
            stack.decoder.seek_to_image(z)
        } else {
            stack.decoder.next_image()
        };
        moved.map_err(|e| fail(format!("page {z}: {e}").into()))?;
        planes.push(tiff_page(&mut stack.decoder, stack.file_len).map_err(fail)?);
    }
    if let Ok(mut c) = open_stacks().lock() {
        c.put(path.to_path_buf(), stack);
    }
    Ok(planes)
}

fn tiff_page<R: std::io::Read + Seek>(
    decoder: &mut tiff::decoder::Decoder<R>,
    file_len: u64,
) -> Result<Plane, Reason> {
    use tiff::decoder::DecodingResult as D;
    let (w, h) = decoder.dimensions()?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!("image of {w}x{h} is larger than the limit {MAX_SIDE}").into());
    }
    let (h, w) = (h as usize, w as usize);
    let channels = match decoder.colortype()? {
        tiff::ColorType::Gray(_) => 1,
        tiff::ColorType::GrayA(_) => 2,
        tiff::ColorType::RGB(_) => 3,
        tiff::ColorType::RGBA(_) => 4,
        other => return Err(format!("unsupported TIFF colour type {other:?}").into()),
    };
    let bits = match decoder.colortype()? {
        tiff::ColorType::Gray(b)
        | tiff::ColorType::GrayA(b)
        | tiff::ColorType::RGB(b)
        | tiff::ColorType::RGBA(b) => u64::from(b),
        _ => 8,
    };
    let declared = (h * w) as u64 * channels as u64 * bits.div_ceil(8);
    check_declared(w as u32, h as u32, declared, file_len)?;
    Ok(match (decoder.read_image()?, channels) {
        (D::U8(v), 1) => Plane::Gray(Array2::from_shape_vec((h, w), v)?.into()),
        (D::U16(v), 1) => Plane::Gray(Array2::from_shape_vec((h, w), v)?.into()),
        (D::U32(v), 1) => Plane::Gray(Array2::from_shape_vec((h, w), v)?.into()),
        (D::F32(v), 1) => Plane::Gray(Array2::from_shape_vec((h, w), v)?.into()),
        (D::U8(v), 2) => {
            Plane::Gray(Array2::from_shape_fn((h, w), |(y, x)| v[(y * w + x) * 2]).into())
        }
        (D::U16(v), 2) => {
            Plane::Gray(Array2::from_shape_fn((h, w), |(y, x)| v[(y * w + x) * 2]).into())
        }
        (D::U8(v), c) => Plane::Rgb8(ndarray::Array3::from_shape_vec((h, w, c), v)?),
        (D::U16(v), c) => Plane::Rgb16(ndarray::Array3::from_shape_vec((h, w, c), v)?),
        _ => return Err("unsupported TIFF sample format".into()),
    })
}
