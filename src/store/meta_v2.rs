//! Zarr v2 arrays and groups (`.zarray`, `.zgroup`, `.zattrs`), as zarr-python 2 and 3 write
//! them: the fields voxload needs, and whether chunks can be memory-mapped.
//!
//! A v2 array whose chunks are raw (`compressor: null`, no filters, C order, little-endian or
//! one-byte voxels) is served from mapped chunk files exactly like a raw v3 array; anything
//! else goes through zarrs' decoding path, which reads v2 metadata itself (chunk keys with `.`
//! or `/` separators, fill values as v2 writes them, `order: "F"` as a transpose).

use std::path::Path;

use serde_json::{Map, Value};

use super::meta::{ArrayMeta, Layout, Status, MAX_METADATA_BYTES};
use crate::{DType, Error, Result, Shape};

/// v2 compressors and filters (numcodecs ids) that zarrs, with voxload's features, decodes.
const KNOWN_CODECS: &[&str] = &[
    "blosc",
    "zstd",
    "gzip",
    "zlib",
    "bz2",
    "shuffle",
    "fletcher32",
    "crc32c",
    "lz4",
];

/// Whether `dir` holds Zarr v2 metadata (an array or a group) and no v3 `zarr.json`.
pub(crate) fn is_v2(dir: &Path) -> bool {
    !dir.join("zarr.json").exists()
        && (dir.join(".zarray").exists() || dir.join(".zgroup").exists())
}

/// Whether `dir` is a Zarr v2 group.
pub(crate) fn is_group(dir: &Path) -> bool {
    !dir.join("zarr.json").exists() && dir.join(".zgroup").exists()
}

/// Reads a v2 JSON document (`.zarray`, `.zattrs`), `None` when the file does not exist.
fn read_doc(dir: &Path, file: &str) -> Result<Option<Value>> {
    let path = dir.join(file);
    let text = match crate::file::read_regular_text(&path, MAX_METADATA_BYTES) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    super::json::parse_unique(&text)
        .map(Some)
        .map_err(|e| not_zarr(dir, &format!("{file} is not valid JSON: {e}")))
}

/// The user attributes of the v2 node in `dir` (`.zattrs`; empty when there is none).
///
/// # Errors
/// As [`read_array`] for an unreadable `.zattrs`.
pub(crate) fn attributes(dir: &Path) -> Result<Map<String, Value>> {
    match read_doc(dir, ".zattrs")? {
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(not_zarr(dir, ".zattrs is not a JSON object")),
        None => Ok(Map::new()),
    }
}

fn not_zarr(dir: &Path, reason: &str) -> Error {
    Error::NotZarr {
        path: dir.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The voxel type of a v2 `dtype` string (`|u1`, `<u2`, `>u4`, `<f4`, ...) and whether it is
/// big-endian.
fn parse_dtype(name: &str) -> Option<(DType, bool)> {
    let (order, kind) = name.split_at_checked(1)?;
    let big = match order {
        ">" => true,
        "<" | "|" | "=" => false,
        _ => return None,
    };
    let dtype = match kind {
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "f4" => DType::F32,
        _ => return None,
    };
    Some((dtype, big && dtype.size() > 1))
}

/// The id of a v2 codec object.
fn codec_id(codec: &Value) -> String {
    codec
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

/// Reads the v2 array in `dir` (`.zarray`, `.zattrs`).
///
/// # Errors
/// [`Error::NotZarr`] when `.zarray` is missing or not valid v2 metadata,
/// [`Error::UnknownCodec`] naming a compressor or filter zarrs cannot decode,
/// [`Error::Unsupported`] for arrays that are not 3D (2D arrays read as depth 1) or whose data
/// type voxload does not handle.
pub(crate) fn read_array(dir: &Path) -> Result<ArrayMeta> {
    super::lz4::register();
    let doc = read_doc(dir, ".zarray")?.ok_or_else(|| {
        let reason = if dir.join(".zgroup").exists() {
            "this is a group, not an array; name an array inside it (STORE/ARRAY)"
        } else {
            "no .zarray here"
        };
        not_zarr(dir, reason)
    })?;
    if doc.get("zarr_format").and_then(Value::as_u64) != Some(2) {
        return Err(not_zarr(
            dir,
            ".zarray (Zarr v2 metadata) does not say zarr_format 2",
        ));
    }
    let unsupported = |reason: String| Error::Unsupported {
        path: dir.to_path_buf(),
        reason,
    };
    let dims = |key: &str| -> Option<Vec<u64>> {
        doc.get(key)?
            .as_array()?
            .iter()
            .map(Value::as_u64)
            .collect()
    };
    let (shape, chunks) = match (dims("shape"), dims("chunks")) {
        (Some(s), Some(c)) if s.len() == c.len() => (s, c),
        _ => return Err(not_zarr(dir, ".zarray has no valid shape and chunks")),
    };
    if shape.len() != 3 {
        return Err(unsupported(format!(
            "only 3D arrays (z, y, x) are supported; this one has shape {shape:?}"
        )));
    }
    let triple = |v: &[u64]| -> Shape { [v[0], v[1], v[2]] };
    let (shape, chunk) = (triple(&shape), triple(&chunks));
    if chunk.contains(&0) {
        return Err(unsupported("chunks must be three positive integers".into()));
    }
    let dtype_name = doc.get("dtype").and_then(Value::as_str).unwrap_or("?");
    let (dtype, big_endian) = parse_dtype(dtype_name).ok_or_else(|| {
        unsupported(format!(
            "data type `{dtype_name}` (supported: |u1, <u2, <u4, <u8, <f4 and their big-endian forms)"
        ))
    })?;
    let compressor = doc.get("compressor").filter(|c| !c.is_null());
    let filters: Vec<&Value> = doc
        .get("filters")
        .and_then(Value::as_array)
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    let mut codecs: Vec<String> = filters.iter().map(|f| codec_id(f)).collect();
    codecs.extend(compressor.map(codec_id));
    if let Some(unknown) = codecs.iter().find(|c| !KNOWN_CODECS.contains(&c.as_str())) {
        return Err(Error::UnknownCodec {
            path: dir.to_path_buf(),
            codec: unknown.clone(),
        });
    }
    let order_f = doc.get("order").and_then(Value::as_str) == Some("F");
    let layout = if codecs.is_empty() && !order_f && !big_endian {
        Layout::Raw
    } else {
        let mut names = Vec::new();
        if order_f {
            names.push("transpose (order F)".to_string());
        }
        names.push(
            if big_endian {
                "bytes (big-endian)"
            } else {
                "bytes"
            }
            .to_string(),
        );
        names.extend(codecs);
        Layout::Decoded { codecs: names }
    };
    let meta = ArrayMeta {
        path: dir.to_path_buf(),
        shape,
        chunk,
        dtype,
        layout,
        status: Status::Unmarked,
        attributes: attributes(dir)?,
    };
    meta.check_sizes(&[]).map_err(unsupported)?;
    Ok(meta)
}

/// The v3 codec chain equivalent to the v2 array in `dir`, as far as chunk sizes can be
/// checked before decoding (`bytes`, then the compressor).
pub(crate) fn equivalent_codecs(dir: &Path) -> Option<Vec<Value>> {
    let doc = read_doc(dir, ".zarray").ok()??;
    let mut codecs = vec![serde_json::json!({"name": "bytes"})];
    let filters = doc.get("filters").and_then(Value::as_array);
    if filters.is_some_and(|f| !f.is_empty()) {
        return None; // filters may change the size; leave the check to zarrs
    }
    if let Some(c) = doc.get("compressor").filter(|c| !c.is_null()) {
        codecs.push(serde_json::json!({"name": codec_id(c)}));
    }
    Some(codecs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_parse_with_their_byte_order() {
        assert_eq!(parse_dtype("|u1"), Some((DType::U8, false)));
        assert_eq!(parse_dtype(">u1"), Some((DType::U8, false)));
        assert_eq!(parse_dtype("<u2"), Some((DType::U16, false)));
        assert_eq!(parse_dtype(">u8"), Some((DType::U64, true)));
        assert_eq!(parse_dtype("<f4"), Some((DType::F32, false)));
        assert_eq!(parse_dtype("<i4"), None);
        assert_eq!(parse_dtype(""), None);
    }

    fn write(dir: &Path, zarray: &str) {
        std::fs::write(dir.join(".zarray"), zarray).unwrap();
    }

    #[test]
    fn raw_little_endian_c_order_arrays_are_mapped_and_others_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let base = |compressor: &str, order: &str, dtype: &str| {
            format!(
                r#"{{"zarr_format": 2, "shape": [4, 5, 6], "chunks": [2, 4, 4], "dtype": "{dtype}",
                "compressor": {compressor}, "fill_value": 7, "order": "{order}", "filters": null}}"#
            )
        };
        write(dir.path(), &base("null", "C", "<u2"));
        let meta = read_array(dir.path()).unwrap();
        assert_eq!(
            (meta.shape, meta.chunk, meta.dtype),
            ([4, 5, 6], [2, 4, 4], DType::U16)
        );
        assert_eq!(meta.layout, Layout::Raw);
        write(dir.path(), &base("null", "F", "<u2"));
        assert!(matches!(
            read_array(dir.path()).unwrap().layout,
            Layout::Decoded { .. }
        ));
        write(dir.path(), &base("null", "C", ">u2"));
        assert!(matches!(
            read_array(dir.path()).unwrap().layout,
            Layout::Decoded { .. }
        ));
        write(
            dir.path(),
            &base(r#"{"id": "zstd", "level": 1}"#, "C", "|u1"),
        );
        let Layout::Decoded { codecs } = read_array(dir.path()).unwrap().layout else {
            panic!("a compressed array is decoded")
        };
        assert_eq!(codecs, ["bytes", "zstd"]);
        write(dir.path(), &base(r#"{"id": "lzma"}"#, "C", "|u1"));
        let err = read_array(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::UnknownCodec { ref codec, .. } if codec == "lzma"),
            "{err}"
        );
        write(dir.path(), &base("null", "C", "<i4"));
        assert!(read_array(dir.path())
            .unwrap_err()
            .to_string()
            .contains("<i4"));
    }
}
