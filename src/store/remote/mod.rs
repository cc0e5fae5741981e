//! Zarr stores in object stores and on web servers: `s3://`, `gs://`, `http(s)://`.
//!
//! A remote store is read through a local *mirror*: a folder of voxload's cache
//! ([`cache_dir`]) where every object fetched lands at its key's path, checked and written
//! atomically ([`cache`]). Opening a remote address fetches (or revalidates) the metadata the
//! open needs into the mirror and returns the mirror's path; from there the store is read by
//! the same code as a local one, with each chunk file fetched on first use (`RemoteStore`):
//! raw chunks are then memory-mapped from the cache, compressed and sharded ones read by zarrs
//! through `fetch::FetchingStore`, shards by inner-chunk byte range. Metadata is served from
//! the cache for `VOXLOAD_METADATA_TTL` seconds (default 60), then revalidated with the server
//! (by ETag); with the server unreachable, what is cached still reads, after one warning.
//!
//! ```no_run
//! use voxload::store::MappedArray;
//! // With AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, … in the environment (or none: anonymous).
//! let raw = MappedArray::<u8>::open_address("s3://bucket/data/em.zarr/raw")?;
//! # Ok::<(), voxload::Error>(())
//! ```

mod address;
pub mod cache;
mod client;
pub(crate) mod fetch;
mod metadata;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pub use address::{is_remote, RemoteUrl, Scheme};
pub use cache::{cache_dir, cache_limit, DEFAULT_CACHE_BYTES};
use cache::{DiskCache, Held};
use client::{Client, Got, Settings};

use crate::{Error, Result};

/// A fetched object or range, as a reader uses it.
pub(crate) enum Fetched {
    /// In the mirror, at the path asked for, checked.
    Cached,
    /// Not in the cache (the disk refused it): these bytes.
    Memory(Vec<u8>),
    /// The object does not exist: its chunk reads as the fill value.
    Absent,
}

/// One remote store: its client, its mirror, and what this process has checked.
pub(crate) struct RemoteStore {
    url: RemoteUrl,
    client: Client,
    mirror: PathBuf,
    cache: Arc<DiskCache>,
    /// Ranges checked this process (`(key, start, end)`; whole objects as `(key, 0, MAX)`),
    /// and whether the object exists.
    checked: Mutex<HashMap<(String, u64, u64), bool>>,
    /// Object sizes learnt (for ranged reads), `None` for absent objects.
    sizes: Mutex<HashMap<String, Option<u64>>>,
    offline: AtomicBool,
}

fn registry() -> &'static Mutex<Vec<Arc<RemoteStore>>> {
    static STORES: OnceLock<Mutex<Vec<Arc<RemoteStore>>>> = OnceLock::new();
    STORES.get_or_init(|| Mutex::new(Vec::new()))
}

fn shared_cache() -> Arc<DiskCache> {
    static CACHE: OnceLock<Arc<DiskCache>> = OnceLock::new();
    CACHE
        .get_or_init(|| Arc::new(DiskCache::new(cache_dir(), cache_limit())))
        .clone()
}

/// The local path to read `store` from: `store` itself when it is a local path, else the
/// mirror of the remote store it names, opened (and its root metadata fetched) on first use.
///
/// # Errors
/// [`Error::Remote`] when the store cannot be reached and nothing of it is cached.
pub fn localize(store: &Path) -> Result<PathBuf> {
    let Some(url) = RemoteUrl::from_path(store) else {
        return Ok(store.to_path_buf());
    };
    let file = url.path.split('/').any(|part| {
        let lower = part.to_ascii_lowercase();
        [".h5", ".hdf5", ".hdf", ".tif", ".tiff"]
            .iter()
            .any(|ext| lower.ends_with(ext))
    });
    if file {
        return Err(Error::Remote {
            endpoint: url.display(),
            key: String::new(),
            reason: "HDF5 and TIFF files are read from a local disk only; download the file, or ingest it into a Zarr store and upload that".into(),
        });
    }
    let remote = open(&url)?;
    Ok(remote.mirror.clone())
}

/// The remote store whose mirror holds `path`, if any.
pub(crate) fn serving(path: &Path) -> Option<Arc<RemoteStore>> {
    let stores = registry().lock().unwrap_or_else(|p| p.into_inner());
    stores
        .iter()
        .filter(|s| path.starts_with(&s.mirror))
        .max_by_key(|s| s.mirror.as_os_str().len())
        .cloned()
}

fn open(url: &RemoteUrl) -> Result<Arc<RemoteStore>> {
    let mut stores = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = stores.iter().find(|s| &s.url == url) {
        return Ok(found.clone());
    }
    let cache = shared_cache();
    let client = Client::new(url, Settings::from_env())?;
    let store = Arc::new(RemoteStore {
        mirror: mirror_of(cache.root(), url),
        url: url.clone(),
        client,
        cache,
        checked: Mutex::new(HashMap::new()),
        sizes: Mutex::new(HashMap::new()),
        offline: AtomicBool::new(false),
    });
    store.node_metadata("")?;
    stores.push(store.clone());
    Ok(store)
}

/// The mirror folder of the store at `url`: readable (scheme, host, path), with a hash of
/// what else decides which server answers (the S3 endpoint), so two servers' buckets of one
/// name never share a folder.
fn mirror_of(root: &Path, url: &RemoteUrl) -> PathBuf {
    let endpoint = match url.scheme {
        Scheme::S3 => std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let tag = format!("{}|{}|{endpoint}", url.scheme.name(), url.host);
    let host: String = url
        .host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let folder = format!(
        "{}-{host}-{:08x}",
        url.scheme.name(),
        cache::fnv(tag.as_bytes()) as u32
    );
    url.path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| if p == ".." { "%2E%2E" } else { p })
        .fold(root.join(folder), |dir, part| dir.join(part))
}

impl RemoteStore {
    /// The key of the mirror path `path`.
    fn key_of(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.mirror).ok()?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(parts.join("/"))
    }

    fn path_of(&self, key: &str) -> PathBuf {
        crate::store::array_dir(&self.mirror, key)
    }

    fn remote_error(&self, key: &str, reason: String) -> Error {
        Error::Remote {
            endpoint: self.client.endpoint.clone(),
            key: key.to_string(),
            reason,
        }
    }

    /// Notes that the server did not answer; warns once per store.
    fn went_offline(&self, e: &Error) {
        if !self.offline.swap(true, Ordering::Relaxed) {
            eprintln!(
                "voxload: warning: {} is unreachable ({e}); reading what is cached in {}",
                self.client.endpoint,
                self.mirror.display()
            );
        }
    }

    /// The whole object at mirror path `path`, fetched if the cache does not hold it.
    ///
    /// # Errors
    /// [`Error::Remote`] naming the key when the fetch fails after its retries.
    pub(crate) fn ensure(&self, path: &Path) -> Result<Fetched> {
        let key = self.key_of(path).ok_or_else(|| {
            self.remote_error(
                "",
                format!("{} is outside the store's mirror", path.display()),
            )
        })?;
        let mark = (key.clone(), 0, u64::MAX);
        match self.checked_as(&mark) {
            Some(false) => return Ok(Fetched::Absent),
            // Unless the cache evicted it meanwhile (then it is fetched again).
            Some(true) if path.exists() => return Ok(Fetched::Cached),
            _ => {}
        }
        match self.cache.held(path, None) {
            Held::Bytes => return Ok(self.checked(mark, Fetched::Cached)),
            Held::Absent => return Ok(self.checked(mark, Fetched::Absent)),
            Held::Nothing => {}
        }
        let _lock = self
            .cache
            .lock(path)
            .map_err(|e| Error::io(self.cache.root(), e))?;
        // Another thread or process may have fetched it while this one waited.
        match self.cache.held(path, None) {
            Held::Bytes => return Ok(self.checked(mark, Fetched::Cached)),
            Held::Absent => return Ok(self.checked(mark, Fetched::Absent)),
            Held::Nothing => {}
        }
        match self.client.get(&key, None)? {
            Got::Bytes(bytes, _) => {
                if self.cache.put_whole(path, &bytes) {
                    Ok(self.checked(mark, Fetched::Cached))
                } else {
                    Ok(Fetched::Memory(bytes))
                }
            }
            Got::Missing | Got::NotModified => {
                self.cache.put_absent(path);
                Ok(self.checked(mark, Fetched::Absent))
            }
        }
    }

    /// The size of the object at mirror path `path`, `None` when it does not exist.
    ///
    /// # Errors
    /// As [`RemoteStore::ensure`].
    pub(crate) fn size(&self, path: &Path) -> Result<Option<u64>> {
        let key = self.key_of(path).unwrap_or_default();
        if let Some(size) = self
            .sizes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(*size);
        }
        let local = match std::fs::metadata(path) {
            Ok(m) if cache::record_path(path).exists() => Some(Some(m.len())),
            _ if self.cache.held(path, None) == Held::Absent => Some(None),
            _ => None,
        };
        let size = match local {
            Some(size) => size,
            None => {
                let size = self.client.size(&key)?;
                if size.is_none() {
                    self.cache.put_absent(path);
                }
                size
            }
        };
        self.sizes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, size);
        Ok(size)
    }

    /// Bytes `start..end` of the object at mirror path `path` (an object of `size` bytes).
    ///
    /// # Errors
    /// As [`RemoteStore::ensure`].
    pub(crate) fn ensure_range(
        &self,
        path: &Path,
        size: u64,
        start: u64,
        end: u64,
    ) -> Result<Fetched> {
        let key = self.key_of(path).unwrap_or_default();
        let mark = (key.clone(), start, end);
        if self.checked_as(&mark) == Some(true) && path.exists() {
            return Ok(Fetched::Cached);
        }
        if self.cache.held(path, Some((start, end))) == Held::Bytes {
            return Ok(self.checked(mark, Fetched::Cached));
        }
        let _lock = self
            .cache
            .lock(path)
            .map_err(|e| Error::io(self.cache.root(), e))?;
        if self.cache.held(path, Some((start, end))) == Held::Bytes {
            return Ok(self.checked(mark, Fetched::Cached));
        }
        let Some(bytes) = self.client.get_range(&key, start..end)? else {
            return Ok(Fetched::Absent);
        };
        if self.cache.put_range(path, size, start, &bytes) {
            Ok(self.checked(mark, Fetched::Cached))
        } else {
            Ok(Fetched::Memory(bytes))
        }
    }

    fn checked_as(&self, mark: &(String, u64, u64)) -> Option<bool> {
        self.checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(mark)
            .copied()
    }

    fn is_checked(&self, mark: &(String, u64, u64)) -> bool {
        self.checked_as(mark).is_some()
    }

    fn checked(&self, mark: (String, u64, u64), fetched: Fetched) -> Fetched {
        let present = !matches!(fetched, Fetched::Absent);
        self.checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mark, present);
        fetched
    }

    /// Forgets what this process checked of the object at `path`: a reader found it gone
    /// (evicted between the check and the read), so the next use fetches it again.
    pub(crate) fn forget(&self, path: &Path) {
        let Some(key) = self.key_of(path) else { return };
        self.checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(k, _, _), _| *k != key);
        self.sizes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    /// The store's address, for messages.
    pub(crate) fn endpoint(&self) -> &str {
        &self.client.endpoint
    }
}

/// Fetches (or revalidates) the metadata of node `name` of the store at `root` and of every
/// group above it, when `root` is a remote store's mirror; nothing for a local store.
///
/// # Errors
/// [`Error::Remote`] when a needed document cannot be fetched and is not cached.
pub(crate) fn prepare_node(root: &Path, name: &str) -> Result<()> {
    let Some(remote) = serving(root) else {
        return Ok(());
    };
    let base = remote.key_of(root).unwrap_or_default();
    let full = [base.as_str(), name.trim_matches('/')]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let parts: Vec<&str> = full.split('/').filter(|p| !p.is_empty()).collect();
    for depth in 1..=parts.len() {
        remote.node_metadata(&parts[..depth].join("/"))?;
    }
    remote.image_levels(&full)
}

/// Fetches the metadata of node `name` (an array, group or OME-Zarr image) of the store at
/// `store` when it is remote: what a store that cannot be listed (a web server without
/// consolidated metadata) needs before `name` shows in [`list_arrays`](crate::store::list_arrays).
/// Nothing for a local store.
///
/// # Errors
/// [`Error::Remote`] when the documents cannot be fetched and are not cached.
pub fn prepare(store: &Path, name: &str) -> Result<()> {
    let root = localize(store)?;
    prepare_node(&root, name)
}

/// Fetches the metadata of every node of the store at `root`, when it is a remote store that
/// can be listed (an object store); a web server's stores list what their consolidated
/// metadata or OME-Zarr images name.
///
/// # Errors
/// [`Error::Remote`] when listing fails and nothing is cached.
pub(crate) fn discover(root: &Path) -> Result<()> {
    let Some(remote) = serving(root) else {
        return Ok(());
    };
    let base = remote.key_of(root).unwrap_or_default();
    remote.discover(&base)
}

/// The threads that fetch a window's chunks at once: as many as requests may be in flight
/// (`VOXLOAD_REMOTE_REQUESTS`, default 32); they wait on the network, not on the CPU.
pub(crate) fn fetch_pool() -> Result<&'static rayon::ThreadPool> {
    static POOL: OnceLock<std::result::Result<rayon::ThreadPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(Settings::from_env().in_flight)
            .thread_name(|i| format!("voxload-fetch-{i}"))
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| client::startup_failure("the fetching threads", e))
}

/// What the cache of remote objects holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    /// The cache's folder.
    pub dir: PathBuf,
    /// Objects (or objects' ranges) held.
    pub entries: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// The size limit.
    pub limit: u64,
}

/// What the cache holds now (see [`cache_dir`]).
///
/// ```
/// let info = voxload::store::remote::cache_info();
/// assert_eq!(info.dir, voxload::store::remote::cache_dir());
/// ```
#[must_use]
pub fn cache_info() -> CacheInfo {
    let dir = cache_dir();
    let entries = cache::scan(&dir);
    CacheInfo {
        entries: entries.len() as u64,
        bytes: entries.iter().map(|e| e.bytes).sum(),
        limit: cache_limit(),
        dir,
    }
}

/// Removes everything the cache holds; returns the bytes freed.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be removed.
pub fn clear_cache() -> Result<u64> {
    let info = cache_info();
    match std::fs::remove_dir_all(&info.dir) {
        Ok(()) => Ok(info.bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(&info.dir, e)),
    }
}

/// Requests made and ranges served from the cache by this process, over every remote store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Objects or ranges served from the cache (each counted at its first use per process).
    pub hits: u64,
    /// Objects or ranges fetched from the server.
    pub fetches: u64,
    /// Bytes fetched.
    pub fetched_bytes: u64,
}

/// This process's counters (zero until a remote store is opened).
#[must_use]
pub fn cache_counters() -> CacheCounters {
    let cache = shared_cache();
    CacheCounters {
        hits: cache.hits.load(Ordering::Relaxed),
        fetches: cache.fetches.load(Ordering::Relaxed),
        fetched_bytes: cache.fetched_bytes.load(Ordering::Relaxed),
    }
}
