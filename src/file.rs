//! Opening input files safely: regular files only, read with a bound.
//!
//! Every file voxload reads as input — `zarr.json`, chunk and shard files, tile JSON, images,
//! prediction `.npy` files — is opened through [`open_regular`], so a FIFO, a device such as
//! `/dev/zero`, a socket or a directory in its place is refused at once instead of blocking
//! forever or being read until memory runs out. Symlinks are followed: a link to a regular file
//! is a regular file.
//!
//! ```
//! use voxload::file::{open_regular, read_regular};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("zarr.json");
//! std::fs::write(&path, b"{}")?;
//! assert_eq!(open_regular(&path)?.len, 2);
//! assert_eq!(read_regular(&path, 16)?, b"{}");
//! assert!(read_regular(&path, 1).is_err());
//! assert!(open_regular(dir.path()).is_err());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The largest text input read whole (tile JSON, image lists), in bytes.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// A regular file opened for reading, with its length at the time it was opened.
#[derive(Debug)]
pub struct RegularFile {
    /// The open file.
    pub file: File,
    /// Its length in bytes.
    pub len: u64,
}

/// Opens `path` for reading if it is a regular file (after following symlinks).
///
/// The file is opened without blocking (`O_NONBLOCK`), so even a FIFO swapped in after a
/// check cannot block, and its type is then checked on the open descriptor.
///
/// # Errors
/// The open's own error (`NotFound` stays `NotFound`, so callers can treat an absent file as
/// they wish), or an [`io::ErrorKind::InvalidInput`] error saying what the path is instead
/// (a FIFO, a device, a socket or a directory).
pub fn open_regular(path: &Path) -> io::Result<RegularFile> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    Ok(RegularFile {
        file,
        len: meta.len(),
    })
}

/// The length of the regular file `path` (after following symlinks), `None` when nothing is
/// there, without opening it: for checking a path before another library opens it.
///
/// # Errors
/// The `stat`'s own error, or [`io::ErrorKind::InvalidInput`] as [`open_regular`] when the
/// path is not a regular file.
pub fn regular_len(path: &Path) -> io::Result<Option<u64>> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
        Ok(meta) => Err(not_regular(&meta.file_type())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn not_regular(kind: &std::fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "not a regular file but {}; only regular files (or symlinks to them) are read",
            describe(kind)
        ),
    )
}

/// Reads the whole of the regular file `path`, refusing one longer than `max_bytes` (checked
/// before reading, and again while reading in case the file grows).
///
/// # Errors
/// As [`open_regular`], the read's own error, or [`io::ErrorKind::InvalidData`] when the file
/// holds more than `max_bytes` bytes.
pub fn read_regular(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let RegularFile { file, len } = open_regular(path)?;
    let too_long = |len: u64| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the file is {len} bytes, more than the {max_bytes} bytes such a file may hold"
            ),
        )
    };
    if len > max_bytes {
        return Err(too_long(len));
    }
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(len as usize)
        .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e.to_string()))?;
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_long(bytes.len() as u64));
    }
    Ok(bytes)
}

/// As [`read_regular`], as UTF-8 text.
///
/// # Errors
/// As [`read_regular`], and [`io::ErrorKind::InvalidData`] when the bytes are not UTF-8.
pub fn read_regular_text(path: &Path, max_bytes: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, max_bytes)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// What a non-regular file is, for messages.
fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = open_regular(&fifo).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn device_is_refused() {
        let e = read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
    }

    #[test]
    fn missing_stays_not_found() {
        let e = open_regular(Path::new("/nonexistent/zarr.json")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
