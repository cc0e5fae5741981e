//! The output array `(C, D, H, W)`: creating it, writing its chunks, marking it complete, and
//! reading it back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::Array4;
use serde_json::{json, Map, Value};
use zarrs::array::codec::{BytesCodec, ZstdCodec};
use zarrs::array::{Array, ArrayBuilder, ArraySubset, CodecOptions};

use super::OutputType;
use crate::store::atomic::AtomicFsStore;
use crate::store::meta::{read_node, Status, ATTRIBUTE};
use crate::store::{array_dir, zarrs_path, ArraySlot, Encoding, Existing};
use crate::store::{make_groups, mark_complete, record};
use crate::{Error, Result, Shape};

/// The output array and how its chunks are written.
pub(crate) struct OutputArray {
    array: Array<AtomicFsStore>,
    dir: PathBuf,
    /// The claimed place (writer lock; the swap of a replacement), until finished.
    slot: Option<ArraySlot>,
    options: CodecOptions,
}

/// What the output array is: shape `(C, D, H, W)`, chunks `(1, chunk)`, type, codec, and the
/// `prediction` attribute describing the grid it blends (writers sharing an array must agree
/// on all of it).
pub(crate) struct OutputSpec {
    pub shape: [u64; 4],
    pub chunk: Shape,
    pub dtype: OutputType,
    pub encoding: Encoding,
    pub prediction: Value,
}

impl OutputArray {
    /// Creates array `name` marked in-progress; an existing array is replaced when `overwrite`
    /// is set, else an error.
    pub fn create(store: &Path, name: &str, spec: &OutputSpec, overwrite: bool) -> Result<Self> {
        let existing = if overwrite {
            Existing::Replace
        } else {
            Existing::Fail
        };
        let slot = ArraySlot::claim(store, name, existing)?;
        Self::build(store, slot, spec)
    }

    /// Creates or joins array `name` as one of several writers (see [`ArraySlot::claim_joint`]):
    /// an unfinished array with the same `prediction` attribute is joined.
    pub fn create_joint(
        store: &Path,
        name: &str,
        spec: &OutputSpec,
        overwrite: bool,
    ) -> Result<Self> {
        let joinable = |dir: &Path| {
            read_node(dir).is_ok_and(|doc| {
                doc.pointer(&format!("/attributes/{ATTRIBUTE}/status"))
                    == Some(&json!("in-progress"))
                    && doc.pointer("/attributes/prediction") == Some(&spec.prediction)
            })
        };
        let (slot, fresh, _join) = ArraySlot::claim_joint(store, name, overwrite, &joinable)?;
        if fresh {
            return Self::build(store, slot, spec);
        }
        let dir = slot.write_dir();
        let storage = Self::storage(store)?;
        let array = Array::open(storage, &zarrs_path(slot.write_name()))
            .map_err(|e| Error::zarrs(&dir, e))?;
        Ok(OutputArray {
            array,
            dir,
            slot: Some(slot),
            options: CodecOptions::default().with_concurrent_target(1),
        })
    }

    fn storage(store: &Path) -> Result<Arc<AtomicFsStore>> {
        let storage = Arc::new(AtomicFsStore::new(store).map_err(|e| Error::zarrs(store, e))?);
        // Chunks are written once and not read back soon: bypass the page cache where the
        // filesystem allows (buffered writes into fresh page-cache memory cost more here).
        storage.set_direct_io(true);
        Ok(storage)
    }

    fn build(store: &Path, slot: ArraySlot, spec: &OutputSpec) -> Result<Self> {
        let dir = slot.write_dir();
        let name = slot.write_name().to_string();
        let name = name.as_str();
        let storage = Self::storage(store)?;
        make_groups(&storage, name)?;
        let chunk = spec.chunk;
        let chunk4 = vec![1, chunk[0], chunk[1], chunk[2]];
        let mut builder = ArrayBuilder::new(spec.shape.to_vec(), chunk4, spec.dtype.name(), 0u8);
        builder.array_to_bytes_codec(Arc::new(BytesCodec::little()));
        match spec.encoding {
            Encoding::Raw => {}
            Encoding::Zstd { level } => {
                builder.bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(level, false))]);
            }
            Encoding::ShardedRaw { .. } => {
                return Err(Error::Write {
                    path: dir,
                    reason: "predictions are written raw or zstd, not sharded".into(),
                })
            }
        }
        let attributes = Map::from_iter([
            ("prediction".to_string(), spec.prediction.clone()),
            (ATTRIBUTE.to_string(), record(Status::InProgress)),
        ]);
        builder.attributes(attributes);
        builder.dimension_names(Some(["c", "z", "y", "x"]));
        let array = builder
            .build(storage, &zarrs_path(name))
            .map_err(|e| Error::zarrs(&dir, e))?;
        array.store_metadata().map_err(|e| Error::zarrs(&dir, e))?;
        Ok(OutputArray {
            array,
            dir,
            slot: Some(slot),
            options: CodecOptions::default().with_concurrent_target(1),
        })
    }

    /// Takes the join lock of a shared array (see [`ArraySlot::claim_joint`]).
    pub fn join_lock(&self) -> Result<crate::store::ArrayLock> {
        match &self.slot {
            Some(slot) => slot.join_lock(),
            None => Err(Error::Write {
                path: self.dir.clone(),
                reason: "the array is already finished".into(),
            }),
        }
    }

    /// The array's directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes one whole chunk `(1, cz, cy, cx)` (edge chunks padded with zeros).
    pub fn write_chunk<T: zarrs::array::Element>(&self, index: [u64; 4], data: &[T]) -> Result<()> {
        self.array
            .store_chunk_opt(&index, data, &self.options)
            .map_err(|e| Error::zarrs(&self.dir, e))
    }

    /// Marks the array complete; a replacement is then swapped into place.
    pub fn finish(&mut self) -> Result<()> {
        crate::store::durable::sync_tree(&self.dir)?;
        mark_complete(&mut self.array, &self.dir)?;
        crate::store::durable::sync_mark(self.array.storage().root(), &self.dir)?;
        self.slot.take().map_or(Ok(()), ArraySlot::commit)
    }
}

/// Whether array `name` of the store exists and is marked complete by a prediction writer
/// (or any voxload writer). `DO_SINGLY` runs skip such arrays.
///
/// # Errors
/// [`Error::NotZarr`] when `zarr.json` exists but is not Zarr v3; I/O errors reading it. A
/// missing array is `Ok(false)`.
pub fn is_complete(store: &Path, name: &str) -> Result<bool> {
    let dir = array_dir(store, name);
    if !dir.join("zarr.json").exists() {
        return Ok(false);
    }
    let doc = read_node(&dir)?;
    Ok(doc.pointer(&format!("/attributes/{ATTRIBUTE}/status")) == Some(&json!("complete")))
}

/// The array of input volume (image) `index` under `base` when each gets its own array
/// (`DO_SINGLY`, or several volumes): `base/0000`, `base/0001`, …
///
/// ```
/// assert_eq!(voxload::predict::singly_name("pred", 3), "pred/0003");
/// ```
#[must_use]
pub fn singly_name(base: &str, index: usize) -> String {
    let base = base.trim_end_matches('/');
    if base.is_empty() {
        format!("{index:04}")
    } else {
        format!("{base}/{index:04}")
    }
}

/// Reads a whole prediction array `(C, D, H, W)` into memory, as `float32` (uint8 arrays give
/// their stored values 0–255). For checking small outputs; large ones are read with any Zarr
/// client.
///
/// # Errors
/// [`Error::Zarrs`] when the array cannot be opened or decoded, [`Error::Unsupported`] when it
/// is not a 4D `uint8` or `float32` array.
pub fn read_prediction(store: &Path, name: &str) -> Result<Array4<f32>> {
    let dir = array_dir(store, name);
    let storage = Arc::new(AtomicFsStore::new(store).map_err(|e| Error::zarrs(store, e))?);
    let array = Array::open(storage, &zarrs_path(name)).map_err(|e| Error::zarrs(&dir, e))?;
    let shape = array.shape().to_vec();
    let unsupported = |reason: String| Error::Unsupported {
        path: dir.clone(),
        reason,
    };
    let [c, d, h, w] = <[u64; 4]>::try_from(shape.as_slice())
        .map_err(|_| unsupported(format!("shape {shape:?} is not (C, D, H, W)")))?
        .map(|v| v as usize);
    let subset = ArraySubset::new_with_shape(shape.clone());
    let doc = read_node(&dir)?;
    let values: Vec<f32> = match doc.get("data_type").and_then(Value::as_str).unwrap_or("?") {
        "float32" => array
            .retrieve_array_subset::<Vec<f32>>(&subset)
            .map_err(|e| Error::zarrs(&dir, e))?,
        "uint8" => array
            .retrieve_array_subset::<Vec<u8>>(&subset)
            .map_err(|e| Error::zarrs(&dir, e))?
            .into_iter()
            .map(f32::from)
            .collect(),
        other => return Err(unsupported(format!("data type {other}"))),
    };
    Array4::from_shape_vec((c, d, h, w), values).map_err(|e| unsupported(e.to_string()))
}
