//! [`Limits`]: how large an image a decoder accepts, so a hostile file cannot exhaust memory.

/// The bounds a decoder checks before it allocates a plane, so a hostile or corrupt header
/// cannot make it allocate (or read) without bound. [`Limits::default`] is what every reader
/// uses unless told otherwise: sides up to 131072 pixels, images up to 4 GiB decoded, and no
/// more than 4096 decoded bytes per byte of the file.
///
/// ```
/// use voxload::image::{decode_file_with, Limits};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("s.png");
/// voxload::image::write_png_u16(&path, 64, 64, &[7; 64 * 64])?;
/// let mut small = Limits::default();
/// small.max_bytes = 1024;
/// // 64x64 16-bit pixels are 8192 bytes: refused before the buffer is allocated.
/// assert!(decode_file_with(&path, &small).is_err());
/// assert!(decode_file_with(&path, &Limits::default()).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// The largest width or height accepted, in pixels (default `1 << 17`).
    pub max_side: u32,
    /// The largest decoded image accepted, in bytes (default 4 GiB). A file is read only up
    /// to twice this length ([`Limits::max_file_bytes`]).
    pub max_bytes: u64,
    /// The most bytes one byte of a file may decode to (default 4096): deflate's limit is
    /// about 1032, LZW's (12-bit codes of up to 4096 bytes) about 2731, PackBits' 64. A header
    /// declaring more pixels than its file could hold is refused before its buffer is
    /// allocated.
    pub max_expansion: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_side: 1 << 17,
            max_bytes: 4 << 30,
            max_expansion: 4096,
        }
    }
}

/// Why a decoder gave up, kept as an error value for the caller to wrap with the file's name.
pub(crate) type Reason = Box<dyn std::error::Error + Send + Sync>;

impl Limits {
    /// The largest image file read, in bytes: the largest decoded image, with room for
    /// headers and an encoding that expands its data (LZW on noise).
    #[must_use]
    pub fn max_file_bytes(&self) -> u64 {
        self.max_bytes.saturating_mul(2)
    }

    /// [`Limits::max_bytes`] as a buffer size for the PNG and TIFF decoders' own limits.
    pub(crate) fn max_buffer(&self) -> usize {
        usize::try_from(self.max_bytes).unwrap_or(usize::MAX)
    }

    /// Refuses an image of `width x height` pixels when a side exceeds
    /// [`Limits::max_side`].
    pub(crate) fn check_sides(&self, width: u32, height: u32) -> Result<(), Reason> {
        if width > self.max_side || height > self.max_side {
            return Err(format!(
                "image of {width}x{height} is larger than the limit {}",
                self.max_side
            )
            .into());
        }
        Ok(())
    }

    /// Refuses a declared image of `bytes` decoded bytes from a file of `file_len` bytes when
    /// it is empty, larger than [`Limits::max_bytes`], or larger than the file could possibly
    /// hold ([`Limits::max_expansion`]).
    pub(crate) fn check_declared(
        &self,
        width: u32,
        height: u32,
        bytes: u64,
        file_len: u64,
    ) -> Result<(), Reason> {
        if width == 0 || height == 0 {
            return Err(format!("the header declares an empty {width}x{height} image").into());
        }
        if bytes > self.max_bytes {
            return Err(format!(
                "the header declares {width}x{height} pixels ({bytes} bytes), more than the limit of {} bytes",
                self.max_bytes
            )
            .into());
        }
        if bytes > self.max_expansion.saturating_mul(file_len.max(1)) {
            return Err(format!(
                "the header declares {width}x{height} pixels ({bytes} bytes), more than a {file_len}-byte file can hold; the file is truncated or corrupt"
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_four_gib_and_4096_times_the_file() {
        let limits = Limits::default();
        assert_eq!(limits.max_bytes, 4 << 30);
        assert_eq!(limits.max_file_bytes(), 8 << 30);
        assert!(limits.check_declared(10, 10, 4 << 30, 1 << 20).is_ok());
        assert!(limits
            .check_declared(10, 10, (4 << 30) + 1, 1 << 30)
            .is_err());
        assert!(limits.check_declared(10, 10, 4096 * 100, 100).is_ok());
        assert!(limits.check_declared(10, 10, 4096 * 100 + 1, 100).is_err());
        assert!(limits.check_declared(0, 10, 0, 100).is_err());
        assert!(limits.check_sides(1 << 17, 1).is_ok());
        assert!(limits.check_sides(1, (1 << 17) + 1).is_err());
    }
}
