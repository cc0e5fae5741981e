//! HDF5 datasets as volumes: `FILE.h5` (its only dataset, or PyTC's choice among several) or
//! `FILE.h5/group/dataset`, described as a [`ForeignVolume`].
//!
//! Libraries, chosen by reading h5py 3.16 fixtures (contiguous, chunked gzip+shuffle, lzf,
//! fletcher32, unfiltered chunks, a fill value over unallocated chunks, big-endian, nested
//! groups, each written with `libver='earliest'` and `'latest'`), both pure Rust so that
//! `pip install ./python` needs no system HDF5:
//! - `rust-hdf5` 0.7.9 (`threadsafe`) lists, describes and decodes. It read every fixture of
//!   both libvers voxel for voxel, and returned errors, never panics, on a truncated file and
//!   twenty byte-flipped ones. It does not expose where raw data lies in the file, and does not
//!   verify fletcher32 checksums (it strips them).
//! - `hdf5-pure` 0.47 only locates raw data (`Layout::Contiguous { address }`, `chunks()`), for
//!   zero-copy mapping, and reads the superblock's end-of-file address to tell a truncated
//!   file. It read the earliest-libver fixtures, but refuses the version-5 layout message that
//!   HDF5 2.0 (h5py 3.16) writes for filtered chunked datasets under `libver='latest'`, so it
//!   cannot be the decoder; where it fails the dataset is decoded by `rust-hdf5` instead.
//!
//! The C binding `hdf5-metno` was not measured: it needs libhdf5 on the user's machine.
//!
//! Library calls run under `catch_unwind`: neither crate promises to be panic-free on corrupt
//! input, and a panic there becomes a typed error naming the file and dataset.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_hdf5::{ByteOrder, DatatypeMessage, FillValue, H5Dataset, H5File, H5FileOptions};

use super::foreign::{ChunkDecoder, ForeignChunks, ForeignVolume};
use crate::{DType, Error, Result, Shape};

/// Filters `rust-hdf5` decodes without optional features: deflate, shuffle, fletcher32, szip,
/// n-bit, scale-offset, lzf.
const DECODABLE_FILTERS: [u16; 7] = [1, 2, 3, 4, 5, 6, 32000];

fn filter_name(id: u16) -> String {
    match id {
        1 => "gzip".into(),
        2 => "shuffle".into(),
        3 => "fletcher32".into(),
        4 => "szip".into(),
        5 => "nbit".into(),
        6 => "scaleoffset".into(),
        32000 => "lzf".into(),
        32001 => "blosc".into(),
        32004 => "lz4".into(),
        32015 => "zstd".into(),
        307 => "bzip2".into(),
        other => format!("filter {other}"),
    }
}

/// Runs a library call, turning a panic into an error about `what`.
fn guarded<T>(file: &Path, what: &str, call: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| {
        Err(unsupported(
            file,
            format!("{what}: the HDF5 reader failed on this file (it is corrupt or truncated)"),
        ))
    })
}

fn unsupported(file: &Path, reason: String) -> Error {
    Error::Unsupported {
        path: file.to_path_buf(),
        reason,
    }
}

/// `name` as HDF5 writes it, with a leading `/`.
fn absolute(name: &str) -> String {
    format!("/{}", name.trim_start_matches('/'))
}

/// An opened file: `rust-hdf5`'s handle, and `hdf5-pure`'s where it could open the file.
struct Opened {
    h5: H5File,
    pure: Option<hdf5_pure::File>,
    names: Vec<String>,
}

fn open_file(file: &Path) -> Result<Opened> {
    let len = crate::file::open_regular(file)
        .map_err(|e| Error::io(file, e))?
        .len;
    let pure = guarded(file, "opening", || {
        Ok(hdf5_pure::File::open_streaming(file).ok())
    })?;
    if let Some(eof) = pure.as_ref().map(|p| p.superblock().eof_address) {
        if eof > len {
            return Err(Error::ChunkSize {
                path: file.to_path_buf(),
                actual: len,
                expected: eof,
            });
        }
    }
    let h5 = guarded(file, "opening", || {
        H5FileOptions::new()
            .best_effort_locking()
            .open(file)
            .map_err(|e| {
                let msg = e.to_string();
                if msg.contains("signature") {
                    unsupported(file, format!("not an HDF5 file ({msg})"))
                } else {
                    unsupported(file, format!("cannot read the HDF5 file: {msg}"))
                }
            })
    })?;
    let mut names: Vec<String> = guarded(file, "listing datasets", || Ok(h5.dataset_names()))?
        .into_iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    // h5py lists a group's members in increasing name order (byte-wise), whatever order they
    // were created in (files written with `track_order=True` aside).
    names.sort();
    names.dedup();
    Ok(Opened { h5, pure, names })
}

/// A dataset's volume shape and voxel type, or why it is not a volume voxload reads.
pub(crate) type Described = Result<(Shape, DType)>;

/// Every dataset of `file` (paths without the leading `/`, sorted), each with its volume shape
/// and type or why it cannot be read as a volume.
///
/// # Errors
/// When the file cannot be opened (missing, not HDF5, truncated).
pub(crate) fn list_datasets(file: &Path) -> Result<Vec<(String, Described)>> {
    let opened = open_file(file)?;
    Ok(opened
        .names
        .iter()
        .map(|name| {
            let described = guarded(file, &format!("dataset `{}`", absolute(name)), || {
                let ds = dataset(&opened.h5, file, name)?;
                Ok((
                    volume_shape(file, name, &ds.shape())?,
                    dtype(file, name, &ds)?,
                ))
            });
            (name.clone(), described)
        })
        .collect())
}

fn dataset(h5: &H5File, file: &Path, name: &str) -> Result<H5Dataset> {
    h5.dataset(name).map_err(|e| {
        unsupported(
            file,
            format!("HDF5 dataset `{}` cannot be opened: {e}", absolute(name)),
        )
    })
}

/// The `(z, y, x)` shape of a dataset of shape `dims`: 2D as `(1, H, W)`, 3D as is.
fn volume_shape(file: &Path, name: &str, dims: &[usize]) -> Result<Shape> {
    match *dims {
        [h, w] => Ok([1, h as u64, w as u64]),
        [z, y, x] => Ok([z as u64, y as u64, x as u64]),
        _ => Err(unsupported(
            file,
            format!(
                "HDF5 dataset `{}` has shape {dims:?} ({}D); only 2D (y, x) and 3D (z, y, x) \
                 datasets are volumes — select one channel or slice it to 3D first",
                absolute(name),
                dims.len()
            ),
        )),
    }
}

/// The voxel type of a dataset, and whether it is stored big-endian.
fn dtype_and_order(file: &Path, name: &str, ds: &H5Dataset) -> Result<(DType, bool)> {
    let dt = ds
        .datatype()
        .map_err(|e| unsupported(file, format!("HDF5 dataset `{}`: {e}", absolute(name))))?;
    let refuse = |what: String| {
        unsupported(
            file,
            format!(
                "HDF5 dataset `{}` holds {what}; voxload reads uint8, uint16, uint32, uint64 \
                 and float32 — convert it first (e.g. labels with `astype(np.uint32)`)",
                absolute(name)
            ),
        )
    };
    let (found, order) = match &dt {
        DatatypeMessage::FixedPoint {
            size,
            signed: false,
            byte_order,
            ..
        } => (
            match size {
                1 => Some(DType::U8),
                2 => Some(DType::U16),
                4 => Some(DType::U32),
                8 => Some(DType::U64),
                _ => None,
            },
            byte_order,
        ),
        DatatypeMessage::FixedPoint {
            size, signed: true, ..
        } => {
            return Err(refuse(format!(
                "int{} (signed integers are not supported yet)",
                size * 8
            )))
        }
        DatatypeMessage::FloatingPoint {
            size, byte_order, ..
        } => ((*size == 4).then_some(DType::F32), byte_order),
        other => return Err(refuse(format!("HDF5 type {other}"))),
    };
    let dtype = found.ok_or_else(|| refuse(format!("HDF5 type {dt}")))?;
    Ok((dtype, matches!(order, ByteOrder::BigEndian)))
}

fn dtype(file: &Path, name: &str, ds: &H5Dataset) -> Result<DType> {
    dtype_and_order(file, name, ds).map(|(d, _)| d)
}

/// The dataset `dataset == ""` names: the only one, or the one PyTC's `readh5` reads — the
/// first member of the root group in h5py's (name) order, which must be a dataset.
fn default_dataset(file: &Path, names: &[String]) -> Result<String> {
    match names {
        [] => Err(unsupported(file, "the HDF5 file holds no dataset".into())),
        [only] => Ok(only.clone()),
        _ => {
            let first = names
                .iter()
                .map(|n| n.split('/').next().unwrap_or(n))
                .min()
                .unwrap_or_default();
            if names.iter().any(|n| n == first) {
                Ok(first.to_string())
            } else {
                Err(unsupported(
                    file,
                    format!(
                        "the HDF5 file holds several datasets and its first member `/{first}` \
                         (the one PyTC reads) is a group; name a dataset: {}",
                        listing(file, names)
                    ),
                ))
            }
        }
    }
}

fn listing(file: &Path, names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{}/{n}", file.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `wanted` names no dataset: a group (its datasets listed) or nothing (all listed).
fn not_a_dataset(file: &Path, wanted: &str, names: &[String]) -> Error {
    let prefix = format!("{wanted}/");
    let inside: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with(&prefix))
        .cloned()
        .collect();
    if !inside.is_empty() {
        let described: Vec<String> = list_datasets(file)
            .unwrap_or_default()
            .into_iter()
            .filter(|(n, _)| inside.contains(n))
            .map(|(n, d)| match d {
                Ok((shape, dtype)) => format!("{}/{n} {shape:?} {dtype}", file.display()),
                Err(_) => format!("{}/{n} (not a volume)", file.display()),
            })
            .collect();
        return unsupported(
            file,
            format!(
                "`{}` is an HDF5 group, not a dataset; it holds {}",
                absolute(wanted),
                described.join(", ")
            ),
        );
    }
    let guess = names
        .iter()
        .min_by_key(|n| crate::error::edit_distance(&n.to_lowercase(), &wanted.to_lowercase()))
        .map(|n| format!("did you mean `{}/{n}`? ", file.display()))
        .unwrap_or_default();
    unsupported(
        file,
        format!(
            "the HDF5 file has no dataset `{}`; {guess}it holds {}",
            absolute(wanted),
            if names.is_empty() {
                "none".into()
            } else {
                listing(file, names)
            }
        ),
    )
}

/// Opens dataset `dataset` of the HDF5 file `file` (`""`: see the module documentation).
///
/// # Errors
/// [`Error::Io`] for a missing file, [`Error::ChunkSize`] for a truncated one, and
/// [`Error::Unsupported`] naming the file and dataset for anything else it cannot read.
pub(crate) fn open(file: &Path, dataset: &str) -> Result<ForeignVolume> {
    let opened = open_file(file)?;
    let name = match dataset.trim_matches('/') {
        "" => default_dataset(file, &opened.names)?,
        given if opened.names.iter().any(|n| n == given) => given.to_string(),
        given => return Err(not_a_dataset(file, given, &opened.names)),
    };
    guarded(file, &format!("HDF5 dataset `{}`", absolute(&name)), || {
        describe(file, &name, opened)
    })
}

fn describe(file: &Path, name: &str, opened: Opened) -> Result<ForeignVolume> {
    let ds = dataset(&opened.h5, file, name)?;
    let dims = ds.shape();
    let shape = volume_shape(file, name, &dims)?;
    let (dtype, big_endian) = dtype_and_order(file, name, &ds)?;
    let size = dtype.size();
    let fill = match ds.fill_value() {
        Ok(FillValue::UserDefined(mut bytes)) if bytes.len() == size => {
            if big_endian {
                bytes.reverse();
            }
            bytes
        }
        _ => vec![0; size],
    };
    let filters: Vec<u16> = ds
        .filters()
        .map_err(|e| unsupported(file, format!("HDF5 dataset `{}`: {e}", absolute(name))))?
        .iter()
        .map(|f| f.id)
        .collect();
    if let Some(bad) = filters.iter().find(|f| !DECODABLE_FILTERS.contains(f)) {
        return Err(unsupported(
            file,
            format!(
                "HDF5 dataset `{}` is compressed with {}, which voxload cannot decode; \
                 rewrite it with gzip or lzf",
                absolute(name),
                filter_name(*bad)
            ),
        ));
    }
    let chunk_dims = ds.chunk_dims();
    let volume_bytes = shape.iter().product::<u64>() * size as u64;
    let located = opened
        .pure
        .as_ref()
        .and_then(|p| p.dataset(name).ok())
        .filter(|_| !big_endian && filters.is_empty());
    let (chunk, chunks, how) = match &chunk_dims {
        None => match located.as_ref().and_then(|d| d.layout().ok()) {
            Some(hdf5_pure::Layout::Contiguous { address, size: len }) if len == volume_bytes => (
                shape,
                ForeignChunks::Mapped(vec![address]),
                "contiguous, memory-mapped".to_string(),
            ),
            _ => {
                // Decoded a z-slice at a time, so no read ever needs the whole volume.
                let slab = [1, shape[1], shape[2]];
                let order = if big_endian { "big-endian, " } else { "" };
                (
                    slab,
                    decoder(file, name, ds, shape, slab, size),
                    format!("contiguous, {order}decoded by z-slice"),
                )
            }
        },
        Some(c) => {
            let chunk = volume_shape(file, name, c)?;
            let grid = super::foreign::chunks_per_axis(shape, chunk);
            let chunk_bytes = chunk.iter().product::<u64>() * size as u64;
            let mapped = located
                .as_ref()
                .and_then(|d| chunk_offsets(d, shape.len() - dims.len(), chunk, grid, chunk_bytes));
            let how = if filters.is_empty() {
                "uncompressed".to_string()
            } else {
                filters
                    .iter()
                    .rev()
                    .map(|f| filter_name(*f))
                    .collect::<Vec<_>>()
                    .join("+")
            };
            match mapped {
                Some(offsets) => (
                    chunk,
                    ForeignChunks::Mapped(offsets),
                    format!("chunked {chunk:?}, memory-mapped"),
                ),
                None => (
                    chunk,
                    decoder(file, name, ds, shape, chunk, size),
                    format!("chunked {chunk:?}, {how}"),
                ),
            }
        }
    };
    Ok(ForeignVolume {
        path: file.to_path_buf(),
        format: format!("HDF5 dataset {} ({how})", absolute(name)),
        shape,
        chunk,
        dtype,
        fill,
        chunks,
        attributes: attributes(&opened.h5, name),
    })
}

/// The file offset of every chunk of an unfiltered chunked dataset (C order over `grid`), from
/// `hdf5-pure`'s chunk index; `None` when it cannot say or a chunk is not a full raw chunk.
fn chunk_offsets(
    ds: &hdf5_pure::Dataset,
    added_axes: usize,
    chunk: Shape,
    grid: [u64; 3],
    chunk_bytes: u64,
) -> Option<Vec<Option<u64>>> {
    let mut offsets = vec![None; grid.iter().product::<u64>() as usize];
    for c in ds.chunks().ok()? {
        let mut at = [0u64; 3];
        for (a, v) in c.offset.iter().enumerate() {
            at[a + added_axes] = v / chunk[a + added_axes];
        }
        let slot = offsets.get_mut(((at[0] * grid[1] + at[1]) * grid[2] + at[2]) as usize)?;
        if c.storage_size != chunk_bytes
            || slot.is_some()
            || at.iter().zip(grid).any(|(i, n)| *i >= n)
        {
            return None;
        }
        *slot = Some(c.address);
    }
    Some(offsets)
}

fn decoder(
    file: &Path,
    name: &str,
    ds: H5Dataset,
    shape: Shape,
    chunk: Shape,
    size: usize,
) -> ForeignChunks {
    ForeignChunks::Decoded(Arc::new(Hdf5Chunks {
        path: file.to_path_buf(),
        name: absolute(name),
        ds,
        shape,
        chunk,
        size,
    }))
}

/// The dataset's numeric and string attributes, as JSON.
fn attributes(h5: &H5File, name: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let Ok(ds) = h5.dataset(name) else { return out };
    for key in ds.attr_names().unwrap_or_default() {
        let Ok(attr) = ds.attr(&key) else { continue };
        use serde_json::Value;
        let json = |values: Vec<Value>| match <[_; 1]>::try_from(values) {
            Ok([one]) => one,
            Err(many) => Value::Array(many),
        };
        // `read_numeric_as` converts within integers or within floats only.
        let value = match attr.datatype() {
            Ok(DatatypeMessage::FixedPoint { signed: true, .. }) => attr
                .read_numeric_as::<i64>()
                .map(|v| json(v.into_iter().map(Value::from).collect())),
            Ok(DatatypeMessage::FixedPoint { .. }) => attr
                .read_numeric_as::<u64>()
                .map(|v| json(v.into_iter().map(Value::from).collect())),
            Ok(DatatypeMessage::FloatingPoint { .. }) => attr
                .read_numeric_as::<f64>()
                .map(|v| json(v.into_iter().map(Value::from).collect())),
            Ok(DatatypeMessage::FixedString { .. } | DatatypeMessage::VarLenString { .. }) => {
                attr.read_string().map(Value::String)
            }
            _ => continue,
        };
        let Ok(value) = value else { continue };
        out.insert(key, value);
    }
    out
}

/// Chunks (or z-slices) of one dataset, decoded by `rust-hdf5`.
struct Hdf5Chunks {
    path: PathBuf,
    name: String,
    ds: H5Dataset,
    shape: Shape,
    chunk: Shape,
    size: usize,
}

impl Hdf5Chunks {
    /// The voxels of the box at `start` of `count`, little-endian, C order.
    fn read(&self, start: Shape, count: Shape) -> rust_hdf5::Result<Vec<u8>> {
        let skip = usize::from(self.ds.ndims() == 2);
        let starts: Vec<usize> = start[skip..].iter().map(|&v| v as usize).collect();
        let counts: Vec<usize> = count[skip..].iter().map(|&v| v as usize).collect();
        // `read_slice` converts to the host's (little-endian) byte order; only the element
        // size has to match.
        Ok(match self.size {
            1 => self.ds.read_slice::<u8>(&starts, &counts)?,
            2 => bytemuck::cast_slice(&self.ds.read_slice::<u16>(&starts, &counts)?).to_vec(),
            4 => bytemuck::cast_slice(&self.ds.read_slice::<u32>(&starts, &counts)?).to_vec(),
            _ => bytemuck::cast_slice(&self.ds.read_slice::<u64>(&starts, &counts)?).to_vec(),
        })
    }
}

impl ChunkDecoder for Hdf5Chunks {
    fn decode(&self, chunk: [u64; 3]) -> Result<Option<Vec<u8>>> {
        let start: Shape = std::array::from_fn(|a| chunk[a] * self.chunk[a]);
        if (0..3).any(|a| start[a] >= self.shape[a]) {
            return Err(Error::Geometry(format!(
                "{}: chunk {chunk:?} of HDF5 dataset `{}` is outside its grid",
                self.path.display(),
                self.name
            )));
        }
        let count: Shape = std::array::from_fn(|a| self.chunk[a].min(self.shape[a] - start[a]));
        let what = format!("HDF5 dataset `{}`, chunk {chunk:?}", self.name);
        let part = guarded(&self.path, &what, || {
            self.read(start, count)
                .map_err(|e| unsupported(&self.path, format!("{what} cannot be decoded: {e}")))
        })?;
        Ok(Some(place(&part, count, self.chunk, self.size)))
    }
}

/// The box of `count` voxels (C order) at the origin of a zeroed full chunk of `chunk`.
fn place(part: &[u8], count: Shape, chunk: Shape, size: usize) -> Vec<u8> {
    if count == chunk {
        return part.to_vec();
    }
    let mut full = vec![0u8; chunk.iter().product::<u64>() as usize * size];
    let row = count[2] as usize * size;
    for (i, src) in part.chunks_exact(row.max(1)).enumerate() {
        let (z, y) = (i / count[1] as usize, i % count[1] as usize);
        let at = ((z * chunk[1] as usize + y) * chunk[2] as usize) * size;
        full[at..at + row].copy_from_slice(src);
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_chunks_land_at_the_origin_of_a_full_chunk() {
        // A 1×2×2 box of u16 inside a 2×3×3 chunk.
        let part: Vec<u8> = (1..=8).collect();
        let full = place(&part, [1, 2, 2], [2, 3, 3], 2);
        assert_eq!(full.len(), 2 * 3 * 3 * 2);
        assert_eq!(&full[0..4], &[1, 2, 3, 4]);
        assert_eq!(&full[4..6], &[0, 0]);
        assert_eq!(&full[6..10], &[5, 6, 7, 8]);
        assert!(full[10..].iter().all(|&b| b == 0));
        assert_eq!(place(&part, [1, 2, 2], [1, 2, 2], 2), part);
    }

    #[test]
    fn the_default_dataset_is_the_only_one_or_the_first_root_member() {
        let file = Path::new("v.h5");
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(default_dataset(file, &names(&["g/raw"])).unwrap(), "g/raw");
        assert_eq!(
            default_dataset(file, &names(&["label", "main", "z/x"])).unwrap(),
            "label"
        );
        let err = default_dataset(file, &names(&["a/raw", "b"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`/a`") && err.contains("v.h5/b"), "{err}");
        assert!(default_dataset(file, &[]).is_err());
    }

    #[test]
    fn shapes_of_two_and_three_axes_are_volumes_and_others_are_refused() {
        let file = Path::new("v.h5");
        assert_eq!(volume_shape(file, "a", &[4, 5]).unwrap(), [1, 4, 5]);
        assert_eq!(volume_shape(file, "a", &[3, 4, 5]).unwrap(), [3, 4, 5]);
        let err = volume_shape(file, "g/a", &[2, 3, 4, 5])
            .unwrap_err()
            .to_string();
        assert!(err.contains("v.h5") && err.contains("/g/a") && err.contains("[2, 3, 4, 5]"));
        assert!(volume_shape(file, "a", &[7]).is_err());
    }
}
