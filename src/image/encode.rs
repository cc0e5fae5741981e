//! Encoding PNG files: grayscale (8- or 16-bit) and 8-bit RGB.

use std::io;
use std::path::Path;

/// Row-major pixels for [`write_png`], in one of the forms it writes.
#[derive(Clone, Copy, Debug)]
pub enum PngPixels<'a> {
    /// 8-bit grayscale, one sample per pixel.
    Gray8(&'a [u8]),
    /// 16-bit grayscale, one sample per pixel.
    Gray16(&'a [u16]),
    /// 8-bit RGB, three samples per pixel.
    Rgb8(&'a [u8]),
}

/// Writes a `width x height` PNG of `pixels` to `path` (created or truncated).
///
/// ```
/// use voxload::image::{decode_file, write_png, PngPixels};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("rgb.png");
/// write_png(&path, 2, 1, PngPixels::Rgb8(&[255, 0, 0, 0, 0, 255]))?;
/// assert_eq!(decode_file(&path)?.kind(), "8-bit RGB");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// I/O errors, and encoding errors (such as a pixel count that is not `width x height`
/// times the samples per pixel) as [`io::Error::other`].
pub fn write_png(path: &Path, width: u32, height: u32, pixels: PngPixels<'_>) -> io::Result<()> {
    let file = io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, width, height);
    let (color, depth) = match pixels {
        PngPixels::Gray8(_) => (png::ColorType::Grayscale, png::BitDepth::Eight),
        PngPixels::Gray16(_) => (png::ColorType::Grayscale, png::BitDepth::Sixteen),
        PngPixels::Rgb8(_) => (png::ColorType::Rgb, png::BitDepth::Eight),
    };
    encoder.set_color(color);
    encoder.set_depth(depth);
    let words: Vec<u8>;
    let bytes = match pixels {
        PngPixels::Gray8(b) | PngPixels::Rgb8(b) => b,
        PngPixels::Gray16(w) => {
            words = w.iter().flat_map(|v| v.to_be_bytes()).collect();
            &words
        }
    };
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(bytes))
        .map_err(io::Error::other)
}

/// Writes a 16-bit grayscale PNG (`width x height`, row-major pixels): handy for test data.
///
/// # Errors
/// As [`write_png`].
pub fn write_png_u16(path: &Path, width: u32, height: u32, pixels: &[u16]) -> io::Result<()> {
    write_png(path, width, height, PngPixels::Gray16(pixels))
}
