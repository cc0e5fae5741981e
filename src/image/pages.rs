//! TIFF pages: the first page of a file, or any run of pages of a multi-page stack.

use std::io::{BufReader, Seek};
use std::path::Path;

use ndarray::Array2;

use super::limits::Reason;
use super::plane::first_of_two;
use super::{Limits, Plane};
use crate::error::IngestError;

type TiffDecoder<R> = tiff::decoder::Decoder<BufReader<R>>;

/// A TIFF decoder over `reader` bounded by `limits`, and the file's length.
pub(crate) fn tiff_decoder<R: std::io::Read + Seek>(
    mut reader: R,
    limits: &Limits,
) -> Result<(TiffDecoder<R>, u64), Reason> {
    let file_len = reader.seek(std::io::SeekFrom::End(0))?;
    reader.rewind()?;
    let mut bounds = tiff::decoder::Limits::default();
    bounds.decoding_buffer_size = limits.max_buffer();
    bounds.intermediate_buffer_size = limits.max_buffer();
    let decoder = tiff::decoder::Decoder::new(BufReader::new(reader))?.with_limits(bounds);
    Ok((decoder, file_len))
}

/// The pages of a TIFF from page `start` on, decoded lazily, each within `limits`.
pub(crate) fn tiff_pages<R: std::io::Read + Seek>(
    reader: R,
    start: usize,
    limits: &Limits,
) -> Result<impl Iterator<Item = Result<Plane, Reason>>, Reason> {
    let limits = *limits;
    let (mut decoder, file_len) = tiff_decoder(reader, &limits)?;
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
        Some(tiff_page(&mut decoder, file_len, &limits))
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
    /// The limits its decoder was opened with: a caller with other limits reopens it.
    limits: Limits,
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

/// Decodes pages `[z0, z1)` of the TIFF stack at `path` (a regular file), each within `limits`.
///
/// # Errors
/// [`IngestError::Missing`] when the file does not exist, [`IngestError::Decode`] naming it
/// otherwise (not a regular file, not a TIFF, fewer pages than asked, a bad page).
pub(crate) fn read_stack(
    path: &Path,
    z0: usize,
    z1: usize,
    limits: &Limits,
) -> Result<Vec<Plane>, IngestError> {
    let fail = |e: Reason| IngestError::decode(path, e);
    let stamp_of = |m: &std::fs::Metadata| (m.len(), m.modified().ok());
    let cached = open_stacks().lock().ok().and_then(|mut c| c.pop(path));
    let now = std::fs::metadata(path).ok().map(|m| stamp_of(&m));
    let mut stack = match cached.filter(|s| Some(s.stamp) == now && s.limits == *limits) {
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
            let (decoder, file_len) = tiff_decoder(opened.file, limits).map_err(fail)?;
            Stack {
                decoder,
                file_len,
                stamp,
                limits: *limits,
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
        planes.push(tiff_page(&mut stack.decoder, stack.file_len, limits).map_err(fail)?);
    }
    if let Ok(mut c) = open_stacks().lock() {
        c.put(path.to_path_buf(), stack);
    }
    Ok(planes)
}

/// The current page of `decoder` (a file of `file_len` bytes), refused before its buffer is
/// allocated when its header declares more than `limits` allow.
fn tiff_page<R: std::io::Read + Seek>(
    decoder: &mut tiff::decoder::Decoder<R>,
    file_len: u64,
    limits: &Limits,
) -> Result<Plane, Reason> {
    use tiff::decoder::DecodingResult as D;
    let (w, h) = decoder.dimensions()?;
    limits.check_sides(w, h)?;
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
    limits.check_declared(w as u32, h as u32, declared, file_len)?;
    Ok(match (decoder.read_image()?, channels) {
        (D::U8(v), 1) => Plane::Gray(Array2::from_shape_vec((h, w), v)?.into()),
        (D::U16(v), 1) => Plane::Gray(Array2::from_shape_vec((h, w), v)?.into()),
        (D::U32(v), 1) => Plane::Gray(Array2::from_shape_vec((h, w), v)?.into()),
        (D::F32(v), 1) => Plane::Gray(Array2::from_shape_vec((h, w), v)?.into()),
        (D::U8(v), 2) => Plane::Gray(first_of_two(&v, h, w).into()),
        (D::U16(v), 2) => Plane::Gray(first_of_two(&v, h, w).into()),
        (D::U8(v), c) => Plane::Rgb8(ndarray::Array3::from_shape_vec((h, w, c), v)?),
        (D::U16(v), c) => Plane::Rgb16(ndarray::Array3::from_shape_vec((h, w, c), v)?),
        _ => return Err("unsupported TIFF sample format".into()),
    })
}
