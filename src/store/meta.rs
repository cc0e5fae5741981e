//! Reading an array's `zarr.json` and deciding how its chunks can be served.
//!
//! voxload parses the few fields it needs itself (shape, data type, chunk grid, codecs, its own
//! attributes) to decide between the memory-mapped paths and the zarrs decoding path; zarrs
//! still validates the whole document when the array is opened.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{DType, Error, Result, Shape};

/// The attribute holding voxload's own record in an array's `zarr.json`.
pub const ATTRIBUTE: &str = "voxload";

/// Whether an array is known to be fully written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Marked complete by voxload: every chunk is written.
    Complete,
    /// Marked in-progress by voxload: a writer started and has not finished.
    InProgress,
    /// Written by another tool, which leaves no mark: read as it is.
    Unmarked,
}

impl Status {
    /// The attribute value, or `None` for [`Status::Unmarked`].
    #[must_use]
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Status::Complete => Some("complete"),
            Status::InProgress => Some("in-progress"),
            Status::Unmarked => None,
        }
    }
}

/// How an array's chunks are laid out on disk, as far as the readers are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One file per chunk holding the chunk's voxels in C order, little-endian.
    Raw,
    /// Shard files (`sharding_indexed`) whose inner chunks are raw little-endian voxels.
    ShardedRaw {
        /// The inner chunk shape.
        inner: Shape,
        /// The index is at the start of the shard file (else at the end).
        index_at_start: bool,
        /// The index is followed by a crc32c checksum.
        index_crc32c: bool,
    },
    /// Anything else zarrs can decode (compression, transposition, big-endian, ...).
    Decoded {
        /// The codec names, outermost first, for display.
        codecs: Vec<String>,
    },
}

impl Layout {
    /// A short human description.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Layout::Raw => "raw (memory-mapped)".into(),
            Layout::ShardedRaw { inner, .. } => {
                format!("sharded raw, inner chunks {inner:?} (memory-mapped)")
            }
            Layout::Decoded { codecs } => format!("decoded by zarrs: {}", codecs.join(" -> ")),
        }
    }
}

/// What voxload needs to know of an array, read from its `zarr.json`.
#[derive(Clone, Debug)]
pub struct ArrayMeta {
    /// The array's directory.
    pub path: PathBuf,
    /// The array's shape `(z, y, x)`.
    pub shape: Shape,
    /// The chunk shape of the chunk grid (the shard shape for sharded arrays).
    pub chunk: Shape,
    /// The stored data type.
    pub dtype: DType,
    /// How chunks are stored.
    pub layout: Layout,
    /// Completeness as marked by voxload.
    pub status: Status,
    /// The array's user attributes.
    pub attributes: serde_json::Map<String, Value>,
}

/// Codec names that zarrs (with voxload's features) decodes.
const KNOWN_CODECS: &[&str] = &[
    "bytes",
    "sharding_indexed",
    "zstd",
    "blosc",
    "gzip",
    "crc32c",
    "transpose",
];

impl ArrayMeta {
    /// Reads `DIR/zarr.json` (or a Zarr v2 array's `.zarray` and `.zattrs`) for the array in `dir`.
    ///
    /// # Errors
    /// [`Error::NotZarr`] when there is no Zarr v3 array there (or `zarr.json` is not valid
    /// JSON, or repeats a key), [`Error::Io`] when `zarr.json` is not a regular file (a FIFO, a
    /// device) or is larger than [`MAX_METADATA_BYTES`], [`Error::UnknownCodec`] for a codec
    /// zarrs cannot decode, [`Error::Unsupported`] for arrays that are not 3D, whose data type or
    /// chunk grid voxload does not handle, or whose sizes overflow or exceed the limits
    /// ([`MAX_DECODED_CHUNK_BYTES`], [`MAX_INNER_CHUNKS`]).
    pub fn read(dir: &Path) -> Result<ArrayMeta> {
        if super::meta_v2::is_v2(dir) {
            return super::meta_v2::read_array(dir);
        }
        let doc = read_node(dir)?;
        let node_type = doc.get("node_type").and_then(Value::as_str);
        if node_type == Some("group") {
            return Err(Error::NotZarr {
                path: dir.to_path_buf(),
                reason: "this is a group, not an array; name an array inside it (STORE/ARRAY)"
                    .into(),
            });
        }
        if node_type != Some("array") {
            return Err(not_zarr(dir, "zarr.json has no node_type \"array\""));
        }
        let unsupported = |reason: String| Error::Unsupported {
            path: dir.to_path_buf(),
            reason,
        };
        let shape = triple(doc.get("shape"))
            .ok_or_else(|| unsupported("only 3D arrays (z, y, x) are supported".into()))?;
        let dtype_name = doc.get("data_type").and_then(Value::as_str).unwrap_or("?");
        let dtype: DType = dtype_name.parse().map_err(|_| {
            unsupported(format!(
                "data type `{dtype_name}` (supported: uint8, uint16, uint32, uint64, float32)"
            ))
        })?;
        let grid = doc.get("chunk_grid").unwrap_or(&Value::Null);
        if grid.get("name").and_then(Value::as_str) != Some("regular") {
            return Err(unsupported(
                "only the `regular` chunk grid is supported".into(),
            ));
        }
        let chunk = triple(grid.pointer("/configuration/chunk_shape"))
            .filter(|c| !c.contains(&0))
            .ok_or_else(|| unsupported("chunk_shape must be three positive integers".into()))?;
        let codecs = doc.get("codecs").and_then(Value::as_array);
        let codecs = codecs.ok_or_else(|| not_zarr(dir, "zarr.json has no codecs list"))?;
        check_known(dir, codecs)?;
        let has_transformers = doc
            .get("storage_transformers")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty());
        let layout = if has_transformers {
            Layout::Decoded {
                codecs: names(codecs),
            }
        } else {
            detect_layout(codecs, chunk)
        };
        let attributes = doc
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let status = match attributes.get(ATTRIBUTE).and_then(|v| v.get("status")) {
            Some(Value::String(s)) if s == "complete" => Status::Complete,
            Some(_) => Status::InProgress,
            None => Status::Unmarked,
        };
        let meta = ArrayMeta {
            path: dir.to_path_buf(),
            shape,
            chunk,
            dtype,
            layout,
            status,
            attributes,
        };
        meta.check_sizes(codecs).map_err(unsupported)?;
        Ok(meta)
    }

    /// The bytes of one chunk of the chunk grid (one shard for sharded arrays); never
    /// overflows for metadata that [`ArrayMeta::read`] accepted.
    #[must_use]
    pub fn chunk_bytes(&self) -> u64 {
        bytes_of(self.chunk, self.dtype).unwrap_or(u64::MAX)
    }

    /// Checks, with overflow-safe arithmetic, that every size derived from the metadata can be
    /// used: coordinates fit `i64`, the volume's and a chunk's bytes fit `u64` (a chunk's fit
    /// the address space), a decoded chunk fits [`MAX_DECODED_CHUNK_BYTES`] and a shard
    /// indexes at most [`MAX_INNER_CHUNKS`] inner chunks.
    pub(super) fn check_sizes(&self, codecs: &[Value]) -> std::result::Result<(), String> {
        let (shape, chunk, dtype) = (self.shape, self.chunk, self.dtype);
        if shape.iter().any(|&s| i64::try_from(s).is_err()) {
            return Err(format!(
                "shape {shape:?} has a side longer than 2^63 - 1 voxels"
            ));
        }
        if bytes_of(shape, dtype).is_none() {
            return Err(format!(
                "shape {shape:?} of {dtype} holds more than 2^64 bytes"
            ));
        }
        let chunk_bytes = bytes_of(chunk, dtype)
            .filter(|&b| usize::try_from(b).is_ok_and(|b| b <= isize::MAX as usize))
            .ok_or_else(|| {
                format!("chunk shape {chunk:?} of {dtype} is larger than the address space")
            })?;
        let inner = match &self.layout {
            Layout::Raw => None,
            Layout::ShardedRaw { inner, .. } => Some(*inner),
            Layout::Decoded { .. } => {
                // Sharded arrays are decoded by inner chunk: those are what must fit.
                let decoded_bytes = sharding_inner(codecs)
                    .and_then(|inner| bytes_of(inner, dtype))
                    .unwrap_or(chunk_bytes);
                if decoded_bytes > MAX_DECODED_CHUNK_BYTES {
                    return Err(format!(
                        "a decoded chunk of shape {chunk:?} of {dtype} is {chunk_bytes} bytes, more than the limit of {MAX_DECODED_CHUNK_BYTES} bytes voxload decodes at once; re-chunk the array (smaller chunks or shards)"
                    ));
                }
                sharding_inner(codecs)
            }
        };
        if let Some(inner) = inner.filter(|i| !i.contains(&0)) {
            let count = (0..3)
                .map(|a| chunk[a].div_ceil(inner[a]))
                .try_fold(1u64, u64::checked_mul);
            if count.is_none_or(|c| c > MAX_INNER_CHUNKS) {
                return Err(format!(
                    "shards of {chunk:?} hold {} inner chunks of {inner:?}, more than the limit of {MAX_INNER_CHUNKS}; re-shard with larger inner chunks",
                    count.map_or("over 2^64".into(), |c| c.to_string())
                ));
            }
        }
        Ok(())
    }
}

/// The largest decoded chunk voxload has zarrs decode, in bytes (for sharded arrays decoded by
/// zarrs: the largest shard). zarrs holds a whole decoded chunk in memory, so metadata asking
/// for more is refused before any chunk is read.
pub const MAX_DECODED_CHUNK_BYTES: u64 = 1 << 30;

/// The most inner chunks one shard may index (its index is `16 ×` this many bytes).
pub const MAX_INNER_CHUNKS: u64 = 1 << 22;

/// The largest `zarr.json` read, in bytes.
pub const MAX_METADATA_BYTES: u64 = 64 << 20;

/// The bytes of a box of `shape` voxels of `dtype`, or `None` when they overflow `u64`.
fn bytes_of(shape: Shape, dtype: DType) -> Option<u64> {
    shape
        .iter()
        .try_fold(dtype.size() as u64, |n, &s| n.checked_mul(s))
}

/// The inner chunk shape of a top-level `sharding_indexed` codec, if there is one.
fn sharding_inner(codecs: &[Value]) -> Option<Shape> {
    codecs
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some("sharding_indexed"))
        .and_then(|c| triple(c.pointer("/configuration/chunk_shape")))
}

impl ArrayMeta {
    /// Fails unless the array stores `requested`.
    ///
    /// # Errors
    /// [`Error::DtypeMismatch`] naming both types.
    pub fn expect_dtype(&self, requested: DType) -> Result<()> {
        if self.dtype == requested {
            return Ok(());
        }
        Err(Error::DtypeMismatch {
            path: self.path.clone(),
            stored: self.dtype.to_string(),
            requested: requested.to_string(),
        })
    }
}

/// Reads and parses `DIR/zarr.json`.
pub(crate) fn read_node(dir: &Path) -> Result<Value> {
    let file = dir.join("zarr.json");
    let text = match crate::file::read_regular_text(&file, MAX_METADATA_BYTES) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_zarr(
                dir,
                "no zarr.json (Zarr v3) or .zarray (Zarr v2) here",
            ));
        }
        Err(e) => return Err(Error::io(file, e)),
    };
    let doc = super::json::parse_unique(&text)
        .map_err(|e| not_zarr(dir, &format!("zarr.json is not valid JSON: {e}")))?;
    if doc.get("zarr_format").and_then(Value::as_u64) != Some(3) {
        return Err(not_zarr(dir, "zarr.json does not say zarr_format 3"));
    }
    Ok(doc)
}

fn not_zarr(dir: &Path, reason: &str) -> Error {
    Error::NotZarr {
        path: dir.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn triple(v: Option<&Value>) -> Option<Shape> {
    let items = v?.as_array()?;
    if items.len() != 3 {
        return None;
    }
    let mut out = [0u64; 3];
    for (o, item) in out.iter_mut().zip(items) {
        *o = item.as_u64()?;
    }
    Some(out)
}

fn names(codecs: &[Value]) -> Vec<String> {
    codecs
        .iter()
        .map(|c| {
            c.get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// Fails with the first codec (at any nesting depth) that zarrs cannot decode.
fn check_known(dir: &Path, codecs: &[Value]) -> Result<()> {
    for codec in codecs {
        let name = codec.get("name").and_then(Value::as_str).unwrap_or("?");
        if !KNOWN_CODECS.contains(&name) {
            return Err(Error::UnknownCodec {
                path: dir.to_path_buf(),
                codec: name.to_string(),
            });
        }
        for nested in ["codecs", "index_codecs"] {
            if let Some(inner) = codec
                .pointer(&format!("/configuration/{nested}"))
                .and_then(Value::as_array)
            {
                check_known(dir, inner)?;
            }
        }
    }
    Ok(())
}

/// True for a `bytes` codec that stores little-endian voxels (no `endian` means one-byte types).
fn is_raw_bytes(codec: &Value) -> bool {
    codec.get("name").and_then(Value::as_str) == Some("bytes")
        && matches!(
            codec
                .pointer("/configuration/endian")
                .and_then(Value::as_str),
            None | Some("little")
        )
}

fn detect_layout(codecs: &[Value], chunk: Shape) -> Layout {
    let decoded = || Layout::Decoded {
        codecs: names(codecs),
    };
    match codecs {
        [c] if is_raw_bytes(c) => Layout::Raw,
        [c] if c.get("name").and_then(Value::as_str) == Some("sharding_indexed") => {
            let Some(inner) = triple(c.pointer("/configuration/chunk_shape")) else {
                return decoded();
            };
            let inner_ok = c
                .pointer("/configuration/codecs")
                .and_then(Value::as_array)
                .is_some_and(|v| v.len() == 1 && is_raw_bytes(&v[0]));
            let index = c
                .pointer("/configuration/index_codecs")
                .and_then(Value::as_array);
            let index_crc32c = match index.map(Vec::as_slice) {
                Some([b]) if is_raw_bytes(b) => false,
                Some([b, crc])
                    if is_raw_bytes(b)
                        && crc.get("name").and_then(Value::as_str) == Some("crc32c") =>
                {
                    true
                }
                _ => return decoded(),
            };
            let divides = (0..3).all(|a| inner[a] > 0 && chunk[a].is_multiple_of(inner[a]));
            if !inner_ok || !divides {
                return decoded();
            }
            let index_at_start = c
                .pointer("/configuration/index_location")
                .and_then(Value::as_str)
                == Some("start");
            Layout::ShardedRaw {
                inner,
                index_at_start,
                index_crc32c,
            }
        }
        _ => decoded(),
    }
}
