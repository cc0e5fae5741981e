//! Decoding one 2D image file (PNG, or the first page of a TIFF) into a [`Plane`].

use std::path::Path;

use ndarray::Array2;

use super::limits::Reason;
use super::pages::tiff_pages;
use super::plane::first_of_two;
use super::{Limits, Plane};
use crate::error::IngestError;

/// Decodes a PNG or TIFF file (the first page of a TIFF) within [`Limits::default`].
///
/// ```
/// use voxload::image::{decode_file, write_png_u16};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("s.png");
/// write_png_u16(&path, 3, 2, &[0, 1, 2, 3, 4, 5])?;
/// let plane = decode_file(&path)?;
/// assert_eq!((plane.dim(), plane.kind()), ((2, 3), "16-bit grayscale"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`IngestError::Missing`] when the file does not exist, [`IngestError::Decode`] naming the
/// file and the reason otherwise.
pub fn decode_file(path: &Path) -> Result<Plane, IngestError> {
    decode_file_with(path, &Limits::default())
}

/// Decodes a PNG or TIFF file (the first page of a TIFF), refusing it before anything large is
/// allocated when it is larger than `limits` allow (see [`Limits`] for an example).
///
/// # Errors
/// As [`decode_file`]; an image over `limits` is an [`IngestError::Decode`] saying which limit.
pub fn decode_file_with(path: &Path, limits: &Limits) -> Result<Plane, IngestError> {
    // Regular files only (a FIFO would block, /dev/zero be read until memory runs out), of at
    // most the largest image accepted in any encoding.
    let bytes = match crate::file::read_regular(path, limits.max_file_bytes()) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IngestError::Missing { path: path.into() })
        }
        Err(e) => return Err(IngestError::decode(path, e)),
    };
    if bytes.starts_with(b"\x89PNG") {
        decode_png(&bytes, limits).map_err(|e| IngestError::decode(path, e))
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        let mut pages = tiff_pages(std::io::Cursor::new(bytes), 0, limits)
            .map_err(|e| IngestError::decode(path, e))?;
        pages
            .next()
            .unwrap_or_else(|| Err("the TIFF has no page".into()))
            .map_err(|e| IngestError::decode(path, e))
    } else {
        Err(IngestError::decode(path, "neither a PNG nor a TIFF file"))
    }
}

fn decode_png(bytes: &[u8], limits: &Limits) -> Result<Plane, Reason> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    decoder.set_limits(png::Limits {
        bytes: limits.max_buffer(),
    });
    let mut reader = decoder.read_info()?;
    let info = reader.info();
    limits.check_sides(info.width, info.height)?;
    let raw = info.height as u64 * info.raw_row_length() as u64;
    limits.check_declared(info.width, info.height, raw, bytes.len() as u64)?;
    let out_len = reader.output_buffer_size().ok_or("image too large")?;
    limits.check_declared(info.width, info.height, out_len as u64, u64::MAX)?;
    let mut buf = vec![0u8; out_len];
    let frame = reader.next_frame(&mut buf)?;
    let (h, w) = (frame.height as usize, frame.width as usize);
    buf.truncate(frame.buffer_size());
    let channels = frame.color_type.samples();
    let plane = match (frame.bit_depth, channels) {
        (png::BitDepth::Eight, 1) => Plane::Gray(Array2::from_shape_vec((h, w), buf)?.into()),
        (png::BitDepth::Eight, 2) => Plane::Gray(first_of_two(&buf, h, w).into()),
        (png::BitDepth::Eight, c) => Plane::Rgb8(ndarray::Array3::from_shape_vec((h, w, c), buf)?),
        (png::BitDepth::Sixteen, c) => {
            let words: Vec<u16> = buf
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            match c {
                1 => Plane::Gray(Array2::from_shape_vec((h, w), words)?.into()),
                2 => Plane::Gray(first_of_two(&words, h, w).into()),
                _ => Plane::Rgb16(ndarray::Array3::from_shape_vec((h, w, c), words)?),
            }
        }
        (depth, _) => return Err(format!("unsupported PNG bit depth {depth:?}").into()),
    };
    Ok(plane)
}
