//! Bad stores give typed errors that name the file, never a panic.

use std::path::Path;

use ndarray::Array3;
use voxload::{write_array, Bbox, Encoding, Error, MappedArray, OpenOptions, PadMode};

use crate::util::formula_volume;

fn store_with(encoding: Encoding) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let volume = formula_volume::<u16>([8, 8, 8]);
    write_array(dir.path(), "a", &volume, [4, 4, 4], encoding).unwrap();
    dir
}

fn read_all(dir: &Path) -> voxload::Result<Array3<u16>> {
    MappedArray::<u16>::open(dir, "a")?.read(Bbox::from_shape([8, 8, 8]), PadMode::default())
}

fn edit_metadata(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let file = dir.join("a/zarr.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(&file, doc.to_string()).unwrap();
}

#[test]
fn truncated_chunk_file_is_a_chunk_size_error_naming_it() {
    let dir = store_with(Encoding::Raw);
    let chunk = dir.path().join("a/c/1/0/1");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() - 3]).unwrap();
    match read_all(dir.path()) {
        Err(Error::ChunkSize {
            path,
            actual,
            expected,
        }) => {
            assert_eq!(path, chunk);
            assert_eq!((actual, expected), (125, 128));
        }
        other => panic!("expected ChunkSize, got {other:?}"),
    }
}

#[test]
fn empty_chunk_file_is_a_chunk_size_error() {
    let dir = store_with(Encoding::Raw);
    std::fs::write(dir.path().join("a/c/0/0/0"), b"").unwrap();
    assert!(matches!(
        read_all(dir.path()),
        Err(Error::ChunkSize { actual: 0, .. })
    ));
}

#[test]
fn truncated_shard_is_an_error() {
    let dir = store_with(Encoding::ShardedRaw { shard: [8, 8, 8] });
    let shard = dir.path().join("a/c/0/0/0");
    std::fs::write(&shard, b"short").unwrap();
    match read_all(dir.path()) {
        Err(Error::ChunkSize { path, .. }) => assert_eq!(path, shard),
        other => panic!("expected ChunkSize, got {other:?}"),
    }
}

#[test]
fn shard_index_pointing_past_the_end_is_an_error() {
    let dir = store_with(Encoding::ShardedRaw { shard: [8, 8, 8] });
    let shard = dir.path().join("a/c/0/0/0");
    let mut bytes = std::fs::read(&shard).unwrap();
    let n = bytes.len();
    // The index (8 entries of 16 bytes, then a crc32c) is at the end: move entry 0 past the end
    // and re-seal the checksum, so only the bounds check can catch it.
    let index_at = n - (8 * 16 + 4);
    bytes[index_at..index_at + 8].copy_from_slice(&(n as u64).to_le_bytes());
    let crc = crc32c::crc32c(&bytes[index_at..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&shard, &bytes).unwrap();
    match read_all(dir.path()) {
        Err(Error::ShardIndex { path, reason }) => {
            assert_eq!(path, shard);
            assert!(reason.contains("past the end"), "{reason}");
        }
        other => panic!("expected ShardIndex, got {other:?}"),
    }
}

#[test]
fn shard_index_checksum_mismatch_is_an_error() {
    let dir = store_with(Encoding::ShardedRaw { shard: [8, 8, 8] });
    let shard = dir.path().join("a/c/0/0/0");
    let mut bytes = std::fs::read(&shard).unwrap();
    let n = bytes.len();
    bytes[n - 30] ^= 0xFF;
    std::fs::write(&shard, &bytes).unwrap();
    assert!(
        matches!(read_all(dir.path()), Err(Error::ShardIndex { reason, .. }) if reason.contains("checksum"))
    );
}

#[test]
fn missing_metadata_is_not_zarr() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    assert!(matches!(read_all(dir.path()), Err(Error::NotZarr { .. })));
}

#[test]
fn invalid_zarr_v2_metadata_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("a/.zarray"), "{}").unwrap();
    match read_all(dir.path()) {
        Err(Error::NotZarr { reason, .. }) => {
            assert!(
                reason.contains("Zarr v2") && reason.contains(".zarray"),
                "{reason}"
            )
        }
        other => panic!("expected NotZarr, got {other:?}"),
    }
}

#[test]
fn opening_a_group_as_an_array_is_not_zarr() {
    let dir = store_with(Encoding::Raw);
    let err = MappedArray::<u16>::open(dir.path(), "").err().unwrap();
    assert!(
        matches!(err, Error::NotZarr { ref reason, .. } if reason.contains("group")),
        "{err}"
    );
}

#[test]
fn wrong_dtype_is_a_dtype_mismatch() {
    let dir = store_with(Encoding::Raw);
    match MappedArray::<u8>::open(dir.path(), "a") {
        Err(Error::DtypeMismatch {
            stored, requested, ..
        }) => {
            assert_eq!((stored.as_str(), requested.as_str()), ("uint16", "uint8"));
        }
        other => panic!("expected DtypeMismatch, got {:?}", other.err()),
    }
}

#[test]
fn unknown_codec_is_named() {
    let dir = store_with(Encoding::Raw);
    edit_metadata(dir.path(), |doc| {
        doc["codecs"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"name": "fancy_wavelet", "configuration": {}}));
    });
    match read_all(dir.path()) {
        Err(Error::UnknownCodec { codec, .. }) => assert_eq!(codec, "fancy_wavelet"),
        other => panic!("expected UnknownCodec, got {other:?}"),
    }
}

#[test]
fn in_progress_array_is_refused_unless_allowed() {
    let dir = store_with(Encoding::Raw);
    edit_metadata(dir.path(), |doc| {
        doc["attributes"]["voxload"]["status"] = "in-progress".into();
    });
    assert!(matches!(
        read_all(dir.path()),
        Err(Error::Incomplete { .. })
    ));
    let options = OpenOptions {
        allow_incomplete: true,
        ..OpenOptions::default()
    };
    let array = MappedArray::<u16>::open_with(dir.path(), "a", &options).unwrap();
    assert_eq!(array.shape(), [8, 8, 8]);
}

#[test]
fn two_dimensional_array_is_unsupported() {
    let dir = store_with(Encoding::Raw);
    edit_metadata(dir.path(), |doc| doc["shape"] = serde_json::json!([8, 8]));
    assert!(matches!(
        read_all(dir.path()),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn wrong_output_buffer_length_is_an_error() {
    let dir = store_with(Encoding::Raw);
    let array = MappedArray::<u16>::open(dir.path(), "a").unwrap();
    let mut out = vec![0u16; 5];
    let err = array.read_into(Bbox::new([0, 0, 0], [2, 2, 2]), PadMode::Edge, &mut out);
    assert!(matches!(err, Err(Error::Geometry(_))));
}

#[test]
fn absurd_windows_are_errors_not_aborts() {
    let dir = store_with(Encoding::Raw);
    let array = MappedArray::<u16>::open(dir.path(), "a").unwrap();
    let huge = Bbox::new([0, 0, 0], [u64::MAX / 2, 4, 4]);
    assert!(matches!(
        array.read(huge, PadMode::Edge),
        Err(Error::Geometry(_))
    ));
    let overflow = Bbox::new([i64::MAX - 1, 0, 0], [4, 1, 1]);
    assert!(matches!(
        array.read(overflow, PadMode::Reflect),
        Err(Error::Geometry(_))
    ));
}
