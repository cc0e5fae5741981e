//! The Zarr v3 store: metadata, atomic writers and memory-mapped readers.

mod any;
pub(crate) mod atomic;
mod bounded;
mod chunks;
pub(crate) mod durable;
mod foreign;
mod guard;
mod hdf5;
mod image;
mod json;
mod lock;
mod lz4;
pub(crate) mod meta;
mod meta_v2;
mod name;
pub mod ome;
pub mod pyramid;
mod raw_writer;
mod reader;
pub mod remote;
mod row_fill;
mod shard_index;
mod slot;
mod subchunks;
mod tiff_volume;
pub mod verify;
mod writer;
pub mod zoom;

use std::path::{Path, PathBuf};

use remote::RemoteUrl;

pub use any::{AnyArray, ImageScale};
pub use chunks::CacheLimits;
pub use foreign::{foreign_address, ForeignKind};
pub use lock::{ArrayLock, LockMode};
pub use meta::{
    ArrayMeta, Layout, Status, MAX_DECODED_CHUNK_BYTES, MAX_INNER_CHUNKS, MAX_METADATA_BYTES,
};
pub use name::check_array_name;
pub use reader::{MappedArray, OpenOptions};
pub(crate) use slot::ArraySlot;
pub use slot::Existing;
pub(crate) use writer::{make_groups, mark_complete, record};
pub use writer::{write_array, ArrayWriter, Encoding};
pub use zoom::{min_size_resize, Resize, VolumeScales, Zoom, ZoomOrder};

use crate::{Result, Shape};

/// The default chunk shape `(z, y, x)`, chosen by measurement: random `(8, 256, 256)` windows
/// read from a page-cached 1 GiB raw store are about 25 % faster from chunks whose rows span
/// 1024 voxels than from `(32, 256, 256)` chunks, because most window rows then lie in one
/// chunk (`benches/chunk_sweep.sh`; figures in `BENCHMARKS.md`).
pub const DEFAULT_CHUNK: Shape = [16, 256, 1024];

/// Splits a `STORE/ARRAY` path after its last component ending in `.zarr`.
///
/// A path with no `.zarr` component is itself the array (a store whose root is an array),
/// returned with an empty array name.
///
/// ```
/// use std::path::Path;
/// use voxload::store::split_address;
/// let (store, array) = split_address(Path::new("data/em.zarr/image/0003"));
/// assert_eq!((store.as_path(), array.as_str()), (Path::new("data/em.zarr"), "image/0003"));
/// let (store, array) = split_address(Path::new("/scratch/volume"));
/// assert_eq!((store.as_path(), array.as_str()), (Path::new("/scratch/volume"), ""));
/// let (store, array) = split_address(Path::new("s3://bucket/data/em.zarr/raw"));
/// assert_eq!((store.as_path(), array.as_str()), (Path::new("s3://bucket/data/em.zarr"), "raw"));
/// ```
#[must_use]
pub fn split_address(address: &Path) -> (PathBuf, String) {
    if let Some(url) = remote::RemoteUrl::from_path(address) {
        // A remote address keeps its spelling (`s3://bucket/…`), split the same way.
        let parts: Vec<&str> = url.path.split('/').filter(|p| !p.is_empty()).collect();
        let cut = parts
            .iter()
            .rposition(|p| p.ends_with(".zarr"))
            .map_or(parts.len(), |i| i + 1);
        let store = RemoteUrl {
            path: parts[..cut].join("/"),
            ..url
        };
        return (PathBuf::from(store.display()), parts[cut..].join("/"));
    }
    let parts: Vec<_> = address.components().collect();
    let last_zarr = parts
        .iter()
        .rposition(|c| c.as_os_str().to_string_lossy().ends_with(".zarr"));
    match last_zarr {
        None => (address.to_path_buf(), String::new()),
        Some(i) => {
            let store: PathBuf = parts[..=i].iter().collect();
            let array: Vec<String> = parts[i + 1..]
                .iter()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            (store, array.join("/"))
        }
    }
}

/// The directory of array `name` in the store at `root`.
#[must_use]
pub fn array_dir(root: &Path, name: &str) -> PathBuf {
    name.split('/')
        .filter(|p| !p.is_empty())
        .fold(root.to_path_buf(), |dir, part| dir.join(part))
}

/// The zarrs node path (`/a/b`) of array `name`.
pub(crate) fn zarrs_path(name: &str) -> String {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// Every array in the store at `root`, by name, sorted; an array at the root is named `""`.
///
/// Symlinks are followed, but no directory is entered twice (a symlink loop, or two links to
/// one group, lists each array once). A directory whose `zarr.json` exists but is not a regular
/// file is listed, with the error that makes it unreadable.
///
/// # Errors
/// [`crate::Error::NotZarr`] when `root` holds no Zarr v3 node; I/O errors while walking.
pub fn list_arrays(root: &Path) -> Result<Vec<(String, Result<ArrayMeta>)>> {
    let mut found = Vec::new();
    let root = &remote::localize(root)?;
    remote::discover(root)?;
    if let Some(foreign) = foreign::ForeignAddress::parse(root) {
        return foreign.list();
    }
    let is_array = if meta_v2::is_v2(root) {
        !meta_v2::is_group(root)
    } else {
        let doc = meta::read_node(root)?;
        doc.get("node_type").and_then(|v| v.as_str()) == Some("array")
    };
    if is_array {
        found.push((String::new(), ArrayMeta::read(root)));
        return Ok(found);
    }
    let mut visited = std::collections::HashSet::new();
    visited.insert(dir_id(root)?);
    walk(root, "", &mut visited, &mut found)?;
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// A directory's identity after following symlinks: `(device, inode)` on Unix.
fn dir_id(dir: &Path) -> Result<(u64, u64)> {
    let meta = std::fs::metadata(dir).map_err(|e| crate::Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        let canonical = std::fs::canonicalize(dir).map_err(|e| crate::Error::io(dir, e))?;
        let mut hash = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&canonical, &mut hash);
        Ok((0, std::hash::Hasher::finish(&hash)))
    }
}

fn walk(
    dir: &Path,
    prefix: &str,
    visited: &mut std::collections::HashSet<(u64, u64)>,
    found: &mut Vec<(String, Result<ArrayMeta>)>,
) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| crate::Error::io(dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        // `exists` rather than `is_file`: a zarr.json that is a FIFO or a device is an array
        // to report as unreadable, not a directory to skip.
        let is_node = ["zarr.json", ".zarray", ".zgroup"]
            .iter()
            .any(|f| path.join(f).exists());
        if !path.is_dir() || !is_node {
            continue;
        }
        if !dir_id(&path).is_ok_and(|id| visited.insert(id)) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name::is_writer_sibling(&name) {
            continue; // a writer's staging copy of a replacement, not an array of the store
        }
        let full = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if meta_v2::is_v2(&path) {
            if meta_v2::is_group(&path) {
                walk(&path, &full, visited, found)?;
            } else {
                found.push((full, ArrayMeta::read(&path)));
            }
            continue;
        }
        match meta::read_node(&path) {
            Ok(doc) if doc.get("node_type").and_then(|v| v.as_str()) == Some("group") => {
                walk(&path, &full, visited, found)?;
            }
            _ => found.push((full, ArrayMeta::read(&path))),
        }
    }
    Ok(())
}
