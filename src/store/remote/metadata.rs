//! A remote store's metadata in its mirror: each node's documents fetched on first need,
//! served from the cache while fresh (`VOXLOAD_METADATA_TTL` seconds, default 60), then
//! revalidated by ETag; consolidated metadata (Zarr v3 `consolidated_metadata`, Zarr v2
//! `.zmetadata`) written out as the documents it holds; OME-Zarr images' levels fetched with
//! the image; object stores listed node by node to find every array.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::cache::Held;
use super::client::Got;
use super::RemoteStore;
use crate::Result;

/// The suffix of a metadata document's validation stamp (its ETag, written when the server
/// last confirmed it).
const STAMP_SUFFIX: &str = ".vxe";
/// The marker of a finished listing of a store.
const LISTED: &str = ".vxlisted";

fn ttl() -> Duration {
    let seconds = std::env::var("VOXLOAD_METADATA_TTL")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(60.0);
    Duration::from_secs_f64(seconds)
}

fn fresh(stamp: &Path) -> bool {
    std::fs::metadata(stamp)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age < ttl())
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

impl RemoteStore {
    /// Makes the metadata document `key` current in the mirror: `true` when it exists.
    fn document(&self, key: &str) -> Result<bool> {
        let path = self.path_of(key);
        let stamp = with_suffix(&path, STAMP_SUFFIX);
        let mark = (key.to_string(), 0, u64::MAX);
        let held = self.cache.held(&path, None);
        if held != Held::Nothing && (self.is_checked(&mark) || fresh(&stamp)) {
            self.checked(mark, super::Fetched::Cached);
            return Ok(held == Held::Bytes);
        }
        let etag = match held {
            Held::Bytes => std::fs::read_to_string(&stamp)
                .ok()
                .filter(|e| !e.is_empty()),
            _ => None,
        };
        let got =
            if self.offline.load(std::sync::atomic::Ordering::Relaxed) && held != Held::Nothing {
                Got::NotModified
            } else {
                match self.client.get(key, etag.as_deref()) {
                    Ok(got) => got,
                    Err(e) if held != Held::Nothing => {
                        self.went_offline(&e);
                        Got::NotModified
                    }
                    Err(e) => return Err(e),
                }
            };
        let exists = match got {
            Got::NotModified => held == Held::Bytes,
            Got::Bytes(bytes, etag) => {
                if bytes.len() as u64 > crate::store::MAX_METADATA_BYTES {
                    return Err(self.remote_error(
                        key,
                        format!(
                            "the document is {} bytes, more than metadata can be",
                            bytes.len()
                        ),
                    ));
                }
                self.cache.put_whole(&path, &bytes);
                let _ = std::fs::write(&stamp, etag.unwrap_or_default());
                self.consolidated(key, &bytes)?;
                true
            }
            Got::Missing => {
                self.cache.put_absent(&path);
                let _ = std::fs::write(&stamp, "");
                false
            }
        };
        if !self.offline.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = std::fs::File::options()
                .append(true)
                .open(&stamp)
                .and_then(|f| f.set_modified(SystemTime::now()));
        }
        self.checked(mark, super::Fetched::Cached);
        Ok(exists)
    }

    /// Fetches node `prefix`'s documents: `zarr.json`, else Zarr v2's `.zarray`/`.zgroup`
    /// and `.zattrs` (and `.zmetadata` at the store's root).
    pub(super) fn node_metadata(&self, prefix: &str) -> Result<()> {
        if self.document(&join(prefix, "zarr.json"))? {
            return Ok(());
        }
        let array = self.document(&join(prefix, ".zarray"))?;
        if !array {
            self.document(&join(prefix, ".zgroup"))?;
        }
        self.document(&join(prefix, ".zattrs"))?;
        if prefix.is_empty() {
            self.document(".zmetadata")?;
        }
        Ok(())
    }

    /// Writes out the documents a consolidated-metadata document holds.
    fn consolidated(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
        let Ok(doc) = serde_json::from_slice::<Value>(bytes) else {
            return Ok(());
        };
        let entries: Vec<(String, Value)> = match name {
            "zarr.json" => doc
                .pointer("/consolidated_metadata/metadata")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(node, v)| (join(&join(prefix, node), "zarr.json"), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            ".zmetadata" => doc
                .get("metadata")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (join(prefix, k), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        for (child, value) in entries {
            if child.split('/').any(|p| p == ".." || p.is_empty()) {
                continue;
            }
            let path = self.path_of(&child);
            let text =
                serde_json::to_vec(&value).map_err(|e| self.remote_error(key, e.to_string()))?;
            self.cache.put_whole(&path, &text);
            let _ = std::fs::write(with_suffix(&path, STAMP_SUFFIX), "");
        }
        Ok(())
    }

    /// Fetches the levels' metadata when node `prefix` is an OME-Zarr image.
    pub(super) fn image_levels(&self, prefix: &str) -> Result<()> {
        let dir = self.path_of(prefix);
        let Ok(Some(multiscale)) = crate::store::ome::Multiscale::read(&dir) else {
            return Ok(());
        };
        for level in &multiscale.levels {
            self.node_metadata(&join(prefix, &level.path))?;
        }
        Ok(())
    }

    fn is_array_node(&self, prefix: &str) -> bool {
        let dir = self.path_of(prefix);
        if dir.join(".zarray").is_file() {
            return true;
        }
        crate::store::meta::read_node(&dir)
            .ok()
            .and_then(|doc| {
                doc.get("node_type")
                    .and_then(Value::as_str)
                    .map(|t| t == "array")
            })
            .unwrap_or(false)
    }

    /// Fetches every node's metadata under `base` (see [`super::discover`]).
    pub(super) fn discover(&self, base: &str) -> Result<()> {
        let marker = self.path_of(base).join(LISTED);
        if fresh(&marker) {
            return Ok(());
        }
        if !self.client.lists() {
            self.node_metadata(base)?;
            return self.image_levels(base);
        }
        let mut pending = vec![base.to_string()];
        while let Some(prefix) = pending.pop() {
            self.node_metadata(&prefix)?;
            if self.is_array_node(&prefix) {
                continue;
            }
            let (_, children) = match self.client.list_dir(&prefix) {
                Ok(listed) => listed,
                Err(e)
                    if self
                        .cache
                        .held(&self.path_of(&join(&prefix, "zarr.json")), None)
                        != Held::Nothing =>
                {
                    self.went_offline(&e);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            pending.extend(
                children
                    .into_iter()
                    .filter(|c| !c.ends_with("/c") && c != "c"),
            );
        }
        let _ = std::fs::create_dir_all(self.path_of(base));
        let _ = std::fs::write(&marker, b"");
        Ok(())
    }
}
