//! A storage adapter in front of zarrs that hands it only what it can decode safely.
//!
//! zarrs trusts the stores it reads: it opens whatever file a key names (a FIFO blocks it
//! forever), sizes its decode buffer from the zstd frame header (a frame declaring 2^60 bytes
//! aborts the process), decompresses frames that declare no size until they end (a 96 KB
//! "bomb" grows to gigabytes), and slices shards by their index unchecked (an offset near
//! `u64::MAX` panics). [`BoundedStore`] checks each value before zarrs sees it: the key must
//! name a regular file no longer than its encoding allows, a shard's index must lie inside
//! the shard, and zstd data must decode to no more than the chunk's declared size.

use std::path::{Path, PathBuf};

use serde_json::Value;
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey};

use super::meta::{ArrayMeta, MAX_METADATA_BYTES};
use super::shard_index::{IndexSpec, InnerLen};
use crate::Shape;

/// How a chunk value was encoded, as far as its size can be checked.
#[derive(Debug)]
pub(crate) struct Chain {
    level: Level,
    /// The bytes-to-bytes codecs, in encoding order (the last is the outermost).
    outer: Vec<Outer>,
}

/// The array-to-bytes codec.
#[derive(Debug)]
enum Level {
    /// `bytes`: exactly this many bytes.
    Bytes(u64),
    /// `sharding_indexed`.
    Shard { inner: Box<Chain>, spec: IndexSpec },
    /// Anything else: not checked.
    Unknown,
}

/// A bytes-to-bytes codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outer {
    Crc32c,
    Zstd,
    /// A codec whose output cannot be checked without decoding (gzip, blosc).
    Other,
}

impl Chain {
    /// The chain of `codecs` for chunks of `shape` voxels of `size` bytes.
    pub(crate) fn parse(codecs: &[Value], shape: Shape, size: u64) -> Chain {
        let name = |c: &Value| {
            c.get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        let mut level = Level::Unknown;
        let mut outer = Vec::new();
        let voxels = shape.iter().try_fold(size, |n, &s| n.checked_mul(s));
        for codec in codecs {
            match name(codec).as_str() {
                "transpose" => {}
                "bytes" => level = voxels.map_or(Level::Unknown, Level::Bytes),
                "sharding_indexed" => level = shard_level(codec, shape, size),
                "crc32c" => outer.push(Outer::Crc32c),
                "zstd" => outer.push(Outer::Zstd),
                _ => outer.push(Outer::Other),
            }
        }
        Chain { level, outer }
    }

    /// The chain of the array of `meta` (read from its `zarr.json`), `None` when unreadable.
    pub(crate) fn for_array(meta: &ArrayMeta) -> Option<Chain> {
        let size = meta.dtype.size() as u64;
        if super::meta_v2::is_v2(&meta.path) {
            let codecs = super::meta_v2::equivalent_codecs(&meta.path)?;
            return Some(Chain::parse(&codecs, meta.chunk, size));
        }
        let doc = super::meta::read_node(&meta.path).ok()?;
        let codecs = doc.get("codecs").and_then(Value::as_array)?;
        Some(Chain::parse(codecs, meta.chunk, size))
    }

    /// Checks the chunk or shard file at `path` as the reader would before decoding it:
    /// `Ok(false)` when it is absent, `Ok(true)` when it passes, else what is wrong.
    pub(crate) fn check_file(&self, path: &Path) -> Result<bool, String> {
        let max = self.encoded_bound(self.outer.len());
        let value = match crate::file::read_regular(path, max) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.to_string()),
        };
        self.check(&value, self.outer.len())?;
        Ok(true)
    }

    /// The most bytes a value encoded by the `layers` innermost bytes-to-bytes codecs can hold:
    /// exact for `bytes` and checksums, generous for compressors.
    fn encoded_bound(&self, layers: usize) -> u64 {
        let base = match &self.level {
            Level::Bytes(n) => *n,
            Level::Shard { inner, spec } => (spec.count as u64)
                .saturating_mul(inner.encoded_bound(inner.outer.len()))
                .saturating_add(spec.len()),
            Level::Unknown => u64::MAX,
        };
        self.outer[..layers].iter().fold(base, |n, c| match c {
            Outer::Crc32c => n.saturating_add(4),
            Outer::Zstd | Outer::Other => n.saturating_add(n / 64).saturating_add(4096),
        })
    }

    /// Checks an encoded value with its `layers` outermost codecs still applied.
    fn check(&self, value: &[u8], layers: usize) -> Result<(), String> {
        let Some(layer) = layers.checked_sub(1).map(|i| self.outer[i]) else {
            return self.check_level(value);
        };
        match layer {
            Outer::Crc32c => {
                let Some(inner) = value.len().checked_sub(4) else {
                    return Err("shorter than its 4-byte crc32c checksum".into());
                };
                self.check(&value[..inner], layers - 1)
            }
            Outer::Zstd => check_zstd(value, self.encoded_bound(layers - 1)),
            Outer::Other => Ok(()),
        }
    }

    /// Whether values may be read in parts, each checked alone: shards (with no codec around
    /// them), read by inner chunk through their index.
    pub(crate) fn reads_parts(&self) -> bool {
        self.outer.is_empty() && matches!(self.level, Level::Shard { .. })
    }

    /// Checks one part of a shard of `file_len` bytes read in parts, the bytes `at` of the
    /// file: the shard's index (every entry must lie inside the file) or an inner chunk.
    fn check_part(&self, part: &[u8], at: (u64, u64), file_len: u64) -> Result<(), String> {
        let Level::Shard { inner, spec } = &self.level else {
            return Ok(());
        };
        let index = spec.locate(file_len)?;
        if at == (index.start, index.end) {
            let bound = inner.encoded_bound(inner.outer.len());
            spec.parse(part, file_len, InnerLen::AtMost(bound))
                .map_err(|e| format!("corrupt shard index: {e}"))?;
            return Ok(());
        }
        inner.check(part, inner.outer.len())
    }

    fn check_level(&self, value: &[u8]) -> Result<(), String> {
        let len = value.len() as u64;
        match &self.level {
            Level::Bytes(n) if len != *n => Err(format!(
                "the chunk's data is {len} bytes, expected {n}; the chunk is truncated or corrupt"
            )),
            Level::Shard { inner, spec } => {
                let at = spec.locate(len)?;
                let index = &value[at.start as usize..at.end as usize];
                let bound = inner.encoded_bound(inner.outer.len());
                let entries = spec
                    .parse(index, len, InnerLen::AtMost(bound))
                    .map_err(|e| format!("corrupt shard index: {e}"))?;
                for (i, (offset, nbytes)) in entries.into_iter().flatten().enumerate() {
                    let chunk = &value[offset as usize..(offset + nbytes) as usize];
                    inner
                        .check(chunk, inner.outer.len())
                        .map_err(|e| format!("inner chunk {i}: {e}"))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The level of a `sharding_indexed` codec for shards of `shape`.
fn shard_level(codec: &Value, shape: Shape, size: u64) -> Level {
    let config = codec.get("configuration").unwrap_or(&Value::Null);
    let inner_shape = config
        .get("chunk_shape")
        .and_then(Value::as_array)
        .filter(|v| v.len() == 3)
        .and_then(|v| v.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        .filter(|v| !v.contains(&0));
    let Some(inner_shape) = inner_shape else {
        return Level::Unknown;
    };
    let inner_shape: Shape = [inner_shape[0], inner_shape[1], inner_shape[2]];
    let count = (0..3)
        .map(|a| shape[a].div_ceil(inner_shape[a]))
        .try_fold(1u64, u64::checked_mul)
        .and_then(|c| usize::try_from(c).ok());
    let list = |key: &str| {
        config
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let index = list("index_codecs");
    let names: Vec<&str> = index
        .iter()
        .map(|c| c.get("name").and_then(Value::as_str).unwrap_or("?"))
        .collect();
    let crc32c = match names.as_slice() {
        ["bytes"] => false,
        ["bytes", "crc32c"] => true,
        _ => return Level::Unknown,
    };
    let big_endian = index[0]
        .pointer("/configuration/endian")
        .and_then(Value::as_str)
        == Some("big");
    let Some(count) = count else {
        return Level::Unknown;
    };
    let spec = IndexSpec {
        count,
        at_start: config.get("index_location").and_then(Value::as_str) == Some("start"),
        crc32c,
        big_endian,
    };
    let inner = Box::new(Chain::parse(&list("codecs"), inner_shape, size));
    Level::Shard { inner, spec }
}

/// Refuses zstd data (one or more frames) that would decode to more than `bound` bytes:
/// frames declaring their size are summed; a frame that does not is decoded into nothing, at
/// most `bound + 1` bytes of it, to learn its size.
fn check_zstd(mut data: &[u8], bound: u64) -> Result<(), String> {
    use zstd::zstd_safe;
    let mut total = 0u64;
    while !data.is_empty() {
        let frame_len = zstd_safe::find_frame_compressed_size(data)
            .map_err(|code| format!("not valid zstd data ({})", zstd_safe::get_error_name(code)))?;
        let frame = &data[..frame_len.min(data.len())];
        let size = match zstd_safe::get_frame_content_size(frame) {
            Ok(Some(n)) => n,
            Ok(None) => bounded_decode(frame, bound.saturating_sub(total).saturating_add(1))?,
            Err(_) => return Err("not a valid zstd frame".into()),
        };
        total = total.saturating_add(size);
        if total > bound {
            return Err(format!(
                "its zstd data decodes to more than {bound} bytes (at least {total}), more than the chunk holds; the chunk is corrupt or hostile"
            ));
        }
        data = &data[frame.len()..];
    }
    Ok(())
}

/// The decoded length of one zstd frame, reading at most `limit` bytes of its output.
fn bounded_decode(frame: &[u8], limit: u64) -> Result<u64, String> {
    let decoder = zstd::stream::read::Decoder::with_buffer(frame)
        .map_err(|e| format!("not valid zstd data ({e})"))?;
    let mut limited = std::io::Read::take(decoder.single_frame(), limit);
    std::io::copy(&mut limited, &mut std::io::sink())
        .map_err(|e| format!("not valid zstd data ({e})"))
}

/// A read-only store that checks every value before handing it on (see the module docs).
pub(crate) struct BoundedStore<S> {
    inner: S,
    root: PathBuf,
    chain: Option<Chain>,
}

impl<S> BoundedStore<S> {
    /// Checks what `inner` (a store rooted at `root`) returns for the array of `meta`.
    pub(crate) fn new(inner: S, root: &Path, meta: &ArrayMeta) -> Self {
        BoundedStore {
            inner,
            root: root.to_path_buf(),
            chain: Chain::for_array(meta),
        }
    }

    /// Checks that `key` names a regular file (or nothing) no longer than its value may be.
    fn check_file(&self, key: &StoreKey) -> Result<(), StorageError> {
        let path = self.root.join(key.as_str());
        let fail = |reason: String| StorageError::Other(format!("{}: {reason}", path.display()));
        let len = match crate::file::regular_len(&path) {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(()),
            Err(e) => return Err(fail(e.to_string())),
        };
        let max = if is_metadata(key) {
            MAX_METADATA_BYTES
        } else {
            self.chain
                .as_ref()
                .map_or(u64::MAX, |c| c.encoded_bound(c.outer.len()))
        };
        if len > max {
            return Err(fail(format!(
                "the file is {len} bytes, more than the {max} bytes its encoding can take; it is corrupt"
            )));
        }
        Ok(())
    }
}

/// The `[start, end)` of `range` in a value of `len` bytes, `None` when it does not lie inside
/// (computed without overflow, whatever a corrupt index asks for).
pub(crate) fn range_within(range: &ByteRange, len: u64) -> Option<(u64, u64)> {
    let (start, end) = match *range {
        ByteRange::FromStart(offset, None) => (offset, len),
        ByteRange::FromStart(offset, Some(n)) => (offset, offset.checked_add(n)?),
        ByteRange::Suffix(n) => (len.checked_sub(n)?, len),
    };
    (start <= end && end <= len).then_some((start, end))
}

fn is_metadata(key: &StoreKey) -> bool {
    let name = key.as_str().rsplit('/').next().unwrap_or("");
    name == "zarr.json" || name.starts_with(".z")
}

impl<S: ReadableStorageTraits> ReadableStorageTraits for BoundedStore<S> {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        self.check_file(key)?;
        let chain = match &self.chain {
            Some(chain) if !is_metadata(key) => chain,
            _ => return self.inner.get_partial_many(key, byte_ranges),
        };
        if chain.reads_parts() {
            // A shard read by inner chunk: each range (an inner chunk, or the index) is checked
            // against the file's length first and its bytes as they arrive, so a small read
            // never loads the whole shard.
            let path = self.root.join(key.as_str());
            let fail =
                |reason: String| StorageError::Other(format!("{}: {reason}", path.display()));
            let Some(len) = crate::file::regular_len(&path).map_err(|e| fail(e.to_string()))?
            else {
                return Ok(None);
            };
            let ranges: Vec<ByteRange> = byte_ranges.collect();
            let mut spans = Vec::with_capacity(ranges.len());
            for r in &ranges {
                spans.push(range_within(r, len).ok_or_else(|| {
                    fail(format!(
                        "a byte range ({r:?}) its shard index points to lies past the end of the {len}-byte file; the shard is corrupt"
                    ))
                })?);
            }
            let Some(parts) = self
                .inner
                .get_partial_many(key, Box::new(ranges.into_iter()))?
            else {
                return Ok(None);
            };
            let checked = parts.zip(spans).map(move |(part, at)| {
                let part = part?;
                chain.check_part(&part, at, len).map_err(|reason| {
                    StorageError::Other(format!("{}: {reason}", path.display()))
                })?;
                Ok(part)
            });
            return Ok(Some(Box::new(checked)));
        }
        // Chunk values are checked whole, then the ranges asked for are cut from them.
        let Some(value) = self.inner.get(key)? else {
            return Ok(None);
        };
        chain.check(&value, chain.outer.len()).map_err(|reason| {
            StorageError::Other(format!(
                "{}: {reason}",
                self.root.join(key.as_str()).display()
            ))
        })?;
        let len = value.len() as u64;
        let ranges: Vec<_> = byte_ranges
            .map(|r| match range_within(&r, len) {
                Some((start, end)) => Ok(value.slice(start as usize..end as usize)),
                None => Err(StorageError::Other(format!(
                    "{}: byte range {r:?} lies past the end of the {len}-byte value",
                    self.root.join(key.as_str()).display()
                ))),
            })
            .collect();
        Ok(Some(Box::new(ranges.into_iter())))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.check_file(key)?;
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.chain.as_ref().is_some_and(Chain::reads_parts)
    }
}
