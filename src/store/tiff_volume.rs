//! Multi-page TIFF files (tifffile, ImageJ, PyTC's Lucchi `train_im.tif`) as `(pages, H, W)`
//! volumes.
//!
//! [`open`] walks the chain of image directories once, reading tags only (sizes, types,
//! compression, strip and tile offsets), never pixels, so a stack of thousands of pages opens
//! in a moment. Every page must be one single-channel plane of the same size and type.
//!
//! Uncompressed little-endian pages (any byte order for 8-bit samples) whose strips form one
//! run of `H·W` voxels, as tifffile and ImageJ write them, are served zero-copy from a memory
//! mapping: one chunk `(1, H, W)` per page. Uncompressed tiled pages are mapped the same way,
//! one chunk `(1, tile_h, tile_w)` per tile (TIFF tiles are stored full size). Anything else
//! (LZW, Deflate, PackBits, JPEG, predictors, scattered strips, big-endian multi-byte samples)
//! is decoded by the `tiff` crate one page (or one tile) at a time, each decode on its own file
//! handle with a decoder started directly at that page's directory.
//!
//! An ImageJ file of one directory whose description declares `images=N` (ImageJ's layout
//! for stacks over 4 GiB) is read, as tifffile reads it, as `N` planes stored back to back.

use std::io::{Read, Seek, SeekFrom};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tiff::decoder::{ChunkType, Decoder};
use tiff::tags::Tag;

use super::foreign::{ChunkDecoder, ForeignChunks, ForeignVolume};
use crate::image::Limits;
use crate::{DType, Error, Result};

type Reason = Box<dyn std::error::Error + Send + Sync>;

fn refuse(path: &Path, reason: impl Into<String>) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The first bytes of a TIFF: its byte order, and whether offsets are 64-bit (BigTIFF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    start: [u8; 8],
    big_endian: bool,
    bigtiff: bool,
}

impl Header {
    /// The header `start` begins with, if it is a TIFF's.
    fn parse(start: &[u8]) -> Option<Header> {
        let (big_endian, bigtiff) = match start.get(..4)? {
            b"II*\0" => (false, false),
            b"MM\0*" => (true, false),
            b"II+\0" => (false, true),
            b"MM\0+" => (true, true),
            _ => return None,
        };
        let mut first = [0; 8];
        first
            .iter_mut()
            .zip(start)
            .for_each(|(to, from)| *to = *from);
        Some(Header {
            start: first,
            big_endian,
            bigtiff,
        })
    }

    /// This header with its first directory at `ifd` instead.
    fn pointing_at(self, ifd: u64) -> Vec<u8> {
        let width = if self.bigtiff { 8 } else { 4 };
        let mut out = self.start[..width].to_vec();
        let mut offset = ifd.to_le_bytes()[..width].to_vec();
        if self.big_endian {
            offset.reverse();
        }
        out.extend(offset);
        out
    }
}

/// A file seen with its header replaced, so that a decoder's first image is any page: a
/// decoder then starts at that page's directory instead of walking the chain up to it.
struct AtPage<R> {
    inner: R,
    header: Vec<u8>,
    pos: u64,
}

impl<R: Read + Seek> Read for AtPage<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(rest) = self
            .header
            .get(self.pos as usize..)
            .filter(|r| !r.is_empty())
        {
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n as u64;
            self.inner.seek(SeekFrom::Start(self.pos))?;
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for AtPage<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

/// What one page's directory says.
#[derive(Clone, Debug, PartialEq)]
struct Page {
    ifd: u64,
    height: u32,
    width: u32,
    dtype: DType,
    compression: u16,
    predictor: u16,
    /// Photometric `WhiteIsZero` (the decoder inverts such samples; tifffile does not).
    white_is_zero: bool,
    /// `(tile_h, tile_w)` for a tiled page.
    tile: Option<[u32; 2]>,
    /// Where the page's raw voxels are, when it is mapped: one run of strips (one offset), or
    /// full-size tiles (one offset per tile, row by row).
    raw: Option<Vec<u64>>,
}

/// The voxel type of samples of TIFF `SampleFormat` `format` and `bits` bits.
fn dtype_of(format: u16, bits: u16) -> std::result::Result<DType, String> {
    match (format, bits) {
        (1, 8) => Ok(DType::U8),
        (1, 16) => Ok(DType::U16),
        (1, 32) => Ok(DType::U32),
        (1, 64) => Ok(DType::U64),
        (3, 32) => Ok(DType::F32),
        (1, b) => Err(format!("{b}-bit unsigned samples are not supported")),
        (2, b) => Err(format!("signed int{b} samples are not supported")),
        (3, b) => Err(format!("{b}-bit float samples are not supported")),
        (f, b) => Err(format!("{b}-bit samples of format {f} are not supported")),
    }
}

/// The offset of the strips when they are one run of exactly `bytes` bytes.
fn contiguous_run(offsets: &[u64], counts: &[u64], bytes: u64) -> Option<u64> {
    let start = *offsets.first()?;
    let mut end = start;
    for (&o, &c) in offsets.iter().zip(counts) {
        if o != end {
            return None;
        }
        end = o.checked_add(c)?;
    }
    (end - start == bytes).then_some(start)
}

/// The end of the first chunk of `(offset, count)` that ends past `len`.
fn past_end(offsets: &[u64], counts: &[u64], len: u64) -> Option<u64> {
    offsets
        .iter()
        .zip(counts)
        .map(|(&o, &c)| o.saturating_add(c))
        .find(|&end| end > len)
}

/// A name for TIFF `Compression` code `code`, and whether the `tiff` crate decodes it.
fn compression(code: u16) -> (String, bool) {
    let (name, decoded) = match code {
        1 => ("uncompressed", true),
        4 => ("CCITT Group 4", true),
        5 => ("LZW", true),
        7 => ("JPEG", true),
        8 | 32946 => ("Deflate", true),
        32773 => ("PackBits", true),
        6 => ("old-style JPEG", false),
        34925 => ("LZMA", false),
        50000 => ("Zstandard", false),
        50001 => ("WebP", false),
        _ => return (format!("compression {code}"), false),
    };
    (name.into(), decoded)
}

/// The `key=value` lines of an ImageJ description.
fn imagej_entries(description: &str) -> Option<Vec<(&str, &str)>> {
    description.starts_with("ImageJ=").then(|| {
        description
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect()
    })
}

/// Reads the current page of `dec` (a file of `len` bytes) without decoding it.
fn read_page<R: Read + Seek>(dec: &mut Decoder<R>, len: u64) -> std::result::Result<Page, Reason> {
    let (width, height) = dec.dimensions()?;
    let samples = dec.find_tag_unsigned::<u16>(Tag::SamplesPerPixel)?;
    if let Some(s @ 2..) = samples {
        let e =
            format!("{s} samples per pixel (RGB, or alpha); only one-channel pages are volumes");
        return Err(e.into());
    }
    let mut first = |tag| -> std::result::Result<Option<u16>, Reason> {
        Ok(dec
            .find_tag_unsigned_vec::<u16>(tag)?
            .and_then(|v| v.first().copied()))
    };
    let bits = first(Tag::BitsPerSample)?.unwrap_or(1);
    let dtype = dtype_of(first(Tag::SampleFormat)?.unwrap_or(1), bits)?;
    let compression = dec.find_tag_unsigned(Tag::Compression)?.unwrap_or(1);
    let predictor = dec.find_tag_unsigned(Tag::Predictor)?.unwrap_or(1);
    let white_is_zero = dec.find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)? == Some(0);
    if white_is_zero && dtype == DType::F32 {
        return Err("float samples with WhiteIsZero photometric are not supported".into());
    }
    let tile = match dec.get_chunk_type() {
        ChunkType::Tile => Some([
            dec.get_tag_u32(Tag::TileLength)?,
            dec.get_tag_u32(Tag::TileWidth)?,
        ]),
        ChunkType::Strip => None,
    };
    let (offsets, counts) = match tile {
        Some(_) => (Tag::TileOffsets, Tag::TileByteCounts),
        None => (Tag::StripOffsets, Tag::StripByteCounts),
    };
    let offsets = dec.get_tag_u64_vec(offsets)?;
    let counts = dec.get_tag_u64_vec(counts)?;
    if offsets.len() != counts.len() {
        return Err("its data offsets and byte counts differ in number".into());
    }
    if let Some(end) = past_end(&offsets, &counts, len) {
        let e = format!("its data ends at byte {end}, past the end of the {len}-byte file");
        return Err(format!("{e}: the file is truncated").into());
    }
    let size = dtype.size() as u64;
    let (h, w) = (u64::from(height), u64::from(width));
    let raw = match tile {
        None => contiguous_run(&offsets, &counts, h * w * size).map(|o| vec![o]),
        Some([th, tw]) => {
            let (th, tw) = (u64::from(th.max(1)), u64::from(tw.max(1)));
            let tiles = h.div_ceil(th) * w.div_ceil(tw);
            let full = counts.iter().all(|&c| c >= th * tw * size);
            (offsets.len() as u64 == tiles && full).then_some(offsets)
        }
    };
    let ifd = dec.ifd_pointer().ok_or("no directory")?.0;
    Ok(Page {
        ifd,
        height,
        width,
        dtype,
        compression,
        predictor,
        white_is_zero,
        tile,
        raw,
    })
}

/// Every page of the TIFF `file` (`len` bytes) and the first page's description.
fn walk(path: &Path, file: std::fs::File, len: u64) -> Result<(Vec<Page>, Option<String>)> {
    let at = |page: usize, e: &dyn std::fmt::Display| refuse(path, format!("page {page}: {e}"));
    let unreadable = |page, e: Reason| {
        let e = format!("cannot read its directory ({e}); the file is truncated or corrupt");
        at(page, &e)
    };
    let (mut dec, _) =
        crate::image::tiff_decoder(file, &Limits::default()).map_err(|e| unreadable(0, e))?;
    let description = dec
        .find_tag(Tag::ImageDescription)
        .ok()
        .flatten()
        .and_then(|v| v.into_string().ok());
    let mut pages: Vec<Page> = Vec::new();
    loop {
        let n = pages.len();
        let page = read_page(&mut dec, len).map_err(|e| at(n, &e))?;
        if let Some(p0) = pages.first() {
            let kind = |p: &Page| format!("{}x{} {}", p.width, p.height, p.dtype);
            if kind(&page) != kind(p0) {
                let (this, first) = (kind(&page), kind(p0));
                let e = format!("{this} where page 0 is {first}; all pages must be alike");
                return Err(at(n, &e));
            }
        }
        pages.push(page);
        if !dec.more_images() {
            return Ok((pages, description));
        }
        dec.next_image().map_err(|e| unreadable(n + 1, e.into()))?;
    }
}

/// Opens the TIFF file `file` as a `(pages, H, W)` volume (a single page is `(1, H, W)`):
/// mapped when its pages are stored raw, else decoded page by page (or tile by tile).
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened, [`Error::Unsupported`] naming the file (and
/// the page) when it is not a TIFF, is truncated, has pages of other sizes or types than the
/// first, multi-channel pages, sample types other than `uint8/16/32/64` and `float32`, or a
/// compression the `tiff` crate cannot decode.
pub(crate) fn open(file: &Path) -> Result<ForeignVolume> {
    let mut opened = crate::file::open_regular(file).map_err(|e| Error::io(file, e))?;
    let mut start = Vec::with_capacity(16);
    let read = (&mut opened.file).take(16).read_to_end(&mut start);
    read.map_err(|e| Error::io(file, e))?;
    let not_tiff = || {
        refuse(
            file,
            "not a TIFF file (it does not begin with a TIFF header)",
        )
    };
    let header = Header::parse(&start).ok_or_else(not_tiff)?;
    let len = opened.len;
    let walked = std::panic::catch_unwind(AssertUnwindSafe(|| walk(file, opened.file, len)));
    let panicked = "the TIFF reader panicked on its directories; the file is corrupt";
    let (mut pages, description) = walked.map_err(|_| refuse(file, panicked))??;
    let imagej = description.as_deref().and_then(imagej_entries);
    let imagej = imagej.unwrap_or_default();
    let get = |key: &str| imagej.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);

    let p0 = pages[0].clone();
    let (h, w) = (u64::from(p0.height), u64::from(p0.width));
    let size = p0.dtype.size() as u64;
    let page_bytes = h * w * size;
    let mappable =
        |p: &Page| p.compression == 1 && p.predictor == 1 && (!header.big_endian || size == 1);
    // ImageJ's stacks over 4 GiB: one directory, then every plane back to back.
    let images = get("images").and_then(|v| v.parse::<u64>().ok());
    let images = images.unwrap_or(1);
    let one = (
        pages.len(),
        images,
        mappable(&p0),
        p0.tile,
        p0.raw.as_deref(),
    );
    if let (1, 2.., true, None, Some(&[o])) = one {
        let end = o.saturating_add(page_bytes.saturating_mul(images));
        if end > len {
            let whole = len.saturating_sub(o) / page_bytes.max(1);
            let e = format!("page {whole}: ImageJ declares {images} planes ending at byte {end}, past the end of the {len}-byte file: the file is truncated");
            return Err(refuse(file, e));
        }
        let run = |i| Page {
            raw: Some(vec![o + i * page_bytes]),
            ..p0.clone()
        };
        pages = (0..images).map(run).collect();
    }
    for (page, p) in pages.iter().enumerate() {
        if let (name, false) = compression(p.compression) {
            return Err(refuse(
                file,
                format!("page {page}: {name} cannot be decoded"),
            ));
        }
    }

    let n = pages.len();
    let tile = p0.tile.filter(|t| pages.iter().all(|p| p.tile == Some(*t)));
    let raw = pages.iter().all(mappable);
    let offsets = raw.then(|| mapped_offsets(&pages, tile)).flatten();
    let mut what = match pages.iter().all(|p| p.compression == p0.compression) {
        true => compression(p0.compression).0,
        false => "mixed compression".into(),
    };
    for (on, note) in [
        (p0.predictor != 1, ", with predictor"),
        (header.big_endian, ", big-endian"),
    ] {
        what.extend(on.then_some(note));
    }
    let format = format!(
        "TIFF, {n} page{}{}, {what} ({})",
        if n == 1 { "" } else { "s" },
        tile.map_or(String::new(), |[th, tw]| format!(" of {th}x{tw} tiles")),
        match (&offsets, tile) {
            (Some(_), _) => "memory-mapped",
            (None, Some(_)) => "decoded per tile",
            (None, None) => "decoded per page",
        }
    );
    let chunks = match offsets {
        Some(offsets) => ForeignChunks::Mapped(offsets),
        None => {
            let limits = Limits::default();
            let fits = limits.check_sides(p0.width, p0.height);
            fits.and_then(|()| limits.check_declared(p0.width, p0.height, page_bytes, len))
                .map_err(|e| refuse(file, format!("page 0: {e}")))?;
            ForeignChunks::Decoded(Arc::new(PageDecoder {
                path: file.to_path_buf(),
                header,
                pages: pages.iter().map(|p| (p.ifd, p.white_is_zero)).collect(),
                tile,
                size: size as usize,
                limits,
            }))
        }
    };
    let mut attributes = serde_json::Map::new();
    if let Some(spacing) = get("spacing").and_then(|v| v.parse::<f64>().ok()) {
        attributes.insert("imagej_spacing".into(), spacing.into());
    }
    if let Some(unit) = get("unit") {
        attributes.insert("imagej_unit".into(), unit.into());
    }
    Ok(ForeignVolume {
        path: file.to_path_buf(),
        format,
        shape: [n as u64, h, w],
        chunk: tile.map_or([1, h, w], |[th, tw]| [1, th.into(), tw.into()]),
        dtype: p0.dtype,
        fill: vec![0; size as usize],
        chunks,
        attributes,
    })
}

/// One offset per chunk (C order over pages, then tile rows, then tiles) when every page is
/// raw, and every page is strips (`tile` `None`) or every page tiles of `tile`.
fn mapped_offsets(pages: &[Page], tile: Option<[u32; 2]>) -> Option<Vec<Option<u64>>> {
    let raw = pages
        .iter()
        .map(|p| p.raw.as_ref().filter(|_| p.tile == tile));
    let all = raw.collect::<Option<Vec<_>>>()?;
    Some(all.into_iter().flatten().map(|&o| Some(o)).collect())
}

/// Decodes one page, or one tile of a page, with a decoder of its own started at the page.
struct PageDecoder {
    path: PathBuf,
    header: Header,
    /// The offset of each page's directory, and whether its samples are `WhiteIsZero`.
    pages: Vec<(u64, bool)>,
    /// `(tile_h, tile_w)` when chunks are tiles, else chunks are whole pages.
    tile: Option<[u32; 2]>,
    size: usize,
    limits: Limits,
}

impl PageDecoder {
    fn decode_at(
        &self,
        page: (u64, bool),
        [cy, cx]: [u64; 2],
    ) -> std::result::Result<Vec<u8>, Reason> {
        let (ifd, white_is_zero) = page;
        let opened = crate::file::open_regular(&self.path)?;
        let reader = AtPage {
            inner: opened.file,
            header: self.header.pointing_at(ifd),
            pos: 0,
        };
        let (mut dec, _) = crate::image::tiff_decoder(reader, &self.limits)?;
        let (width, height) = dec.dimensions()?;
        let mut out = match self.tile {
            None => {
                let mut page = vec![0; height as usize * width as usize * self.size];
                dec.read_image_bytes(&mut page)?;
                page
            }
            Some([th, tw]) => {
                let (th, tw) = (th as usize, tw as usize);
                let index = cy * u64::from(width.div_ceil(tw as u32)) + cx;
                let index = u32::try_from(index)?;
                let (dw, dh) = dec.chunk_data_dimensions(index);
                let (dw, dh) = (dw as usize, dh as usize);
                let mut data = vec![0; dw * dh * self.size];
                dec.read_chunk_bytes(index, &mut data)?;
                let mut tile = vec![0; th * tw * self.size];
                for (row, from) in data.chunks_exact(dw * self.size).enumerate().take(th) {
                    let at = row * tw * self.size;
                    tile[at..at + from.len()].copy_from_slice(from);
                }
                tile
            }
        };
        if white_is_zero {
            // The decoder inverted the stored integers; tifffile and the mapped path do not.
            out.iter_mut().for_each(|b| *b = !*b);
        }
        Ok(out)
    }
}

impl ChunkDecoder for PageDecoder {
    fn decode(&self, chunk: [u64; 3]) -> Result<Option<Vec<u8>>> {
        let [page, cy, cx] = chunk;
        let at = *usize::try_from(page)
            .ok()
            .and_then(|p| self.pages.get(p))
            .ok_or_else(|| refuse(&self.path, format!("no page {page}")))?;
        let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| self.decode_at(at, [cy, cx])));
        let tile = self
            .tile
            .map_or(String::new(), |_| format!(", tile ({cy}, {cx})"));
        let why = match decoded {
            Ok(Ok(bytes)) => return Ok(Some(bytes)),
            Ok(Err(e)) => format!("cannot decode ({e}); the file is truncated or corrupt"),
            Err(_) => "the TIFF decoder panicked; the file is corrupt".into(),
        };
        Err(refuse(&self.path, format!("page {page}{tile}: {why}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_recognised_and_rewritten_to_point_at_a_page() {
        let le = Header::parse(b"II*\0\x08\0\0\0").unwrap();
        assert!(!le.big_endian && !le.bigtiff);
        assert_eq!(le.pointing_at(0x0102_0304), b"II*\0\x04\x03\x02\x01");
        let big = Header::parse(b"MM\0+\0\x08\0\0\0\0\0\0\0\0\0\x10").unwrap();
        assert!(big.big_endian && big.bigtiff);
        assert_eq!(big.pointing_at(5), b"MM\0+\0\x08\0\0\0\0\0\0\0\0\0\x05");
        assert_eq!(Header::parse(b"\x89PNG"), None);
        assert_eq!(Header::parse(b"II"), None);
    }

    #[test]
    fn a_file_at_a_page_reads_the_new_header_then_the_file() {
        let file: Vec<u8> = (0..32).collect();
        let mut r = AtPage {
            inner: std::io::Cursor::new(file),
            header: b"II*\0\x10\0\0\0".to_vec(),
            pos: 0,
        };
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(&all[..8], b"II*\0\x10\0\0\0");
        assert_eq!(all[8..], (8..32).collect::<Vec<u8>>());
        r.seek(SeekFrom::Start(2)).unwrap();
        let mut two = [0; 4];
        r.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"*\0\x10\0");
        r.seek(SeekFrom::Start(20)).unwrap();
        r.read_exact(&mut two).unwrap();
        assert_eq!(two, [20, 21, 22, 23]);
    }

    #[test]
    fn strips_are_one_run_only_when_adjacent_and_exactly_one_page() {
        assert_eq!(
            contiguous_run(&[100, 110, 120], &[10, 10, 5], 25),
            Some(100)
        );
        assert_eq!(contiguous_run(&[100, 111, 120], &[10, 10, 5], 25), None);
        assert_eq!(contiguous_run(&[100], &[24], 25), None);
        assert_eq!(contiguous_run(&[], &[], 0), None);
        assert_eq!(contiguous_run(&[u64::MAX], &[2], 2), None);
        assert_eq!(past_end(&[0, 90], &[10, 20], 100), Some(110));
        assert_eq!(past_end(&[0, 90], &[10, 10], 100), None);
    }

    #[test]
    fn sample_types_map_to_voxel_types_or_are_named() {
        assert_eq!(dtype_of(1, 8), Ok(DType::U8));
        assert_eq!(dtype_of(1, 64), Ok(DType::U64));
        assert_eq!(dtype_of(3, 32), Ok(DType::F32));
        assert!(dtype_of(2, 16).unwrap_err().contains("int16"));
        assert!(dtype_of(3, 64).unwrap_err().contains("64-bit float"));
        assert!(dtype_of(1, 12).unwrap_err().contains("12-bit"));
        assert_eq!(compression(5), ("LZW".into(), true));
        assert!(!compression(50000).1);
        assert_eq!(compression(9999).0, "compression 9999");
    }

    #[test]
    fn imagej_descriptions_give_their_entries() {
        let d = "ImageJ=1.11a\nimages=165\nslices=165\nspacing=0.5\nunit=micron\n";
        let e = imagej_entries(d).unwrap();
        assert!(e.contains(&("images", "165")) && e.contains(&("spacing", "0.5")));
        assert_eq!(imagej_entries("{\"shape\": [3, 4]}"), None);
    }
}
