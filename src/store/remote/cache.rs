//! The local cache of remote objects: one folder per store (its *mirror*), holding each fetched
//! object at its key's path, so raw chunks are memory-mapped from it like a local store's.
//!
//! Beside each cached object `KEY` lies its record `KEY.vxl`: a list of 24-byte entries, one
//! per byte range the cache holds (`start`, `length`, crc32c of those bytes, and a tag saying
//! "these bytes" or "no such object"). A range is served only after its checksum matches,
//! once per process; anything that does not match is fetched again. Whole objects are written
//! to a temporary file and renamed into place, then their record likewise; ranges of a large
//! object (shards read by inner chunk) are written into a sparse file of the object's length,
//! and their entry appended to the record after the bytes are written, so a range is never
//! listed before it is complete. Fetches of one entry are serialised across threads and
//! processes by a lock file (one of [`LOCK_STRIPES`]), so two workers or two processes wanting
//! the same chunk fetch it once. The cache's size is bounded: past the limit, the objects used
//! longest ago (by their record's modification time, touched at each first use per process)
//! are removed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

/// How many lock files serialise fetches (entries share a lock by the hash of their path).
pub const LOCK_STRIPES: u64 = 4096;

const TAG_BYTES: u32 = u32::from_le_bytes(*b"VXC1");
const TAG_ABSENT: u32 = u32::from_le_bytes(*b"VXA0");
const RECORD: usize = 24;
/// The suffix of an object's record.
pub(crate) const RECORD_SUFFIX: &str = ".vxl";

/// What the cache holds for a byte range of an object.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// The bytes are in the object's file, checked.
    Bytes,
    /// The object does not exist at the server.
    Absent,
    /// Nothing usable (never fetched, or corrupt).
    Nothing,
}

/// The cache folder, its size limit and its counters.
pub(crate) struct DiskCache {
    root: PathBuf,
    limit: u64,
    used: Mutex<Option<u64>>,
    warned: AtomicBool,
    /// Ranges served from the cache and ranges fetched, since the process started.
    pub(crate) hits: AtomicU64,
    pub(crate) fetches: AtomicU64,
    pub(crate) fetched_bytes: AtomicU64,
}

/// The cache's default size limit: 10 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 10 << 30;

/// The folder of voxload's cache of remote objects: `$VOXLOAD_CACHE_DIR/remote`, else
/// `$XDG_CACHE_HOME/voxload/remote`, else `~/.cache/voxload/remote`.
///
/// ```
/// let dir = voxload::store::remote::cache_dir();
/// assert!(dir.ends_with("remote"));
/// ```
#[must_use]
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os(crate::loader::CACHE_DIR_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(|d| PathBuf::from(d).join("voxload"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/voxload")))
        .unwrap_or_else(|| std::env::temp_dir().join("voxload-cache"));
    base.join("remote")
}

/// The cache's size limit in bytes: `$VOXLOAD_CACHE_BYTES`, else [`DEFAULT_CACHE_BYTES`].
#[must_use]
pub fn cache_limit() -> u64 {
    std::env::var("VOXLOAD_CACHE_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CACHE_BYTES)
}

impl DiskCache {
    pub(crate) fn new(root: PathBuf, limit: u64) -> Self {
        DiskCache {
            root,
            limit,
            used: Mutex::new(None),
            warned: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            fetched_bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// What the cache holds of bytes `range` of the object at `path` (`None`: the whole
    /// object), checking the bytes' checksum.
    pub(crate) fn held(&self, path: &Path, range: Option<(u64, u64)>) -> Held {
        let Ok(records) = read_records(&record_path(path)) else {
            return Held::Nothing;
        };
        if records.iter().any(|r| r.tag == TAG_ABSENT) {
            return Held::Absent;
        }
        let Ok(file) = File::open(path) else {
            return Held::Nothing;
        };
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return Held::Nothing;
        };
        let (start, end) = range.unwrap_or((0, len));
        // The newest entry covering the range wins; a whole object's entry spans the file.
        let covering = records.iter().rev().find(|r| {
            r.start <= start
                && r.start + r.len >= end
                && r.start + r.len <= len
                && (range.is_some() || (r.start == 0 && r.len == len))
        });
        let Some(entry) = covering else {
            return Held::Nothing;
        };
        let mut bytes = vec![0u8; entry.len as usize];
        if file.read_exact_at(&mut bytes, entry.start).is_err()
            || crc32c::crc32c(&bytes) != entry.crc
        {
            return Held::Nothing;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        touch(&record_path(path));
        Held::Bytes
    }

    /// Takes the lock of the entry at `path` (held until the guard drops).
    pub(crate) fn lock(&self, path: &Path) -> io::Result<File> {
        let dir = self.root.join(".locks");
        std::fs::create_dir_all(&dir)?;
        let stripe = fnv(path.as_os_str().as_encoded_bytes()) % LOCK_STRIPES;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{stripe:04}")))?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(file)
    }

    /// Stores a whole object's bytes; `false` (after one warning) when the disk refused them,
    /// and the caller serves them from memory.
    pub(crate) fn put_whole(&self, path: &Path, bytes: &[u8]) -> bool {
        self.count_fetch(bytes.len());
        let written = (|| {
            write_atomic(path, bytes)?;
            write_atomic(
                &record_path(path),
                &encode(&[Record {
                    start: 0,
                    len: bytes.len() as u64,
                    crc: crc32c::crc32c(bytes),
                    tag: TAG_BYTES,
                }]),
            )
        })();
        self.after_write(path, written, bytes.len() as u64)
    }

    /// Records that the object at `path` does not exist.
    pub(crate) fn put_absent(&self, path: &Path) -> bool {
        self.count_fetch(0);
        let _ = std::fs::remove_file(path);
        let record = Record {
            start: 0,
            len: 0,
            crc: 0,
            tag: TAG_ABSENT,
        };
        let written = write_atomic(&record_path(path), &encode(&[record]));
        self.after_write(path, written, 0)
    }

    /// Stores bytes `start..` of an object of `size` bytes (a sparse file of that length).
    pub(crate) fn put_range(&self, path: &Path, size: u64, start: u64, bytes: &[u8]) -> bool {
        self.count_fetch(bytes.len());
        let written = (|| {
            let file = match OpenOptions::new().write(true).open(path) {
                Ok(f) if f.metadata()?.len() == size => f,
                _ => {
                    write_atomic_with(path, |f| f.set_len(size))?;
                    let _ = std::fs::remove_file(record_path(path));
                    OpenOptions::new().write(true).open(path)?
                }
            };
            file.write_all_at(bytes, start)?;
            let record = Record {
                start,
                len: bytes.len() as u64,
                crc: crc32c::crc32c(bytes),
                tag: TAG_BYTES,
            };
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(record_path(path))?;
            log.write_all(&encode(&[record]))
        })();
        self.after_write(path, written, bytes.len() as u64)
    }

    /// Forgets what the cache holds of the object at `path` (a corrupt entry).
    pub(crate) fn forget(&self, path: &Path) {
        let _ = std::fs::remove_file(record_path(path));
        let _ = std::fs::remove_file(path);
    }

    fn count_fetch(&self, bytes: usize) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.fetched_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn after_write(&self, path: &Path, written: io::Result<()>, bytes: u64) -> bool {
        match written {
            Ok(()) => {
                self.account(bytes);
                true
            }
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "voxload: warning: cannot write to the cache at {} ({e}); reading from memory, uncached (free some space, or set VOXLOAD_CACHE_DIR)",
                        self.root.display()
                    );
                }
                let _ = path;
                false
            }
        }
    }

    /// Adds `bytes` to the cache's size and evicts past the limit.
    fn account(&self, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let now = match *used {
            Some(u) => u + bytes,
            None => scan(&self.root).iter().map(|e| e.bytes).sum(),
        };
        *used = Some(if now > self.limit { self.evict() } else { now });
    }

    /// Removes the entries used longest ago until the cache holds at most 90 % of its limit;
    /// returns the size left. Metadata is kept (it is small, and lets a store open offline).
    fn evict(&self) -> u64 {
        let Ok(_lock) = self.lock(&self.root.join(".evict")) else {
            return 0;
        };
        let mut entries = scan(&self.root);
        entries.sort_by_key(|e| e.used);
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        let target = self.limit / 10 * 9;
        for e in &entries {
            if total <= target {
                break;
            }
            if e.metadata {
                continue;
            }
            self.forget(&e.path);
            total = total.saturating_sub(e.bytes);
        }
        total
    }
}

/// One cached object found by a scan.
pub(crate) struct Entry {
    /// The object's file in the mirror.
    pub(crate) path: PathBuf,
    /// Bytes on disk (a sparse file counts what it holds).
    pub(crate) bytes: u64,
    /// When it was last used.
    pub(crate) used: SystemTime,
    /// Whether it is Zarr or OME metadata.
    pub(crate) metadata: bool,
}

/// Every cached object under `root`.
pub(crate) fn scan(root: &Path) -> Vec<Entry> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(listing) = std::fs::read_dir(&dir) else {
            continue;
        };
        for item in listing.flatten() {
            let path = item.path();
            let Ok(kind) = item.file_type() else { continue };
            if kind.is_dir() {
                dirs.push(path);
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(object) = name.strip_suffix(RECORD_SUFFIX) else {
                continue;
            };
            let data = path.with_file_name(object);
            let used = item
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let bytes = std::fs::metadata(&data).map_or(0, |m| m.blocks() * 512);
            found.push(Entry {
                metadata: is_metadata_key(object),
                path: data,
                bytes,
                used,
            });
        }
    }
    found
}

/// Whether a key's last component names Zarr or OME metadata.
pub(crate) fn is_metadata_key(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    matches!(
        name,
        "zarr.json" | ".zarray" | ".zgroup" | ".zattrs" | ".zmetadata"
    )
}

/// The record of the object at `path`.
pub(crate) fn record_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(RECORD_SUFFIX);
    path.with_file_name(name)
}

#[derive(Clone, Copy, Debug)]
struct Record {
    start: u64,
    len: u64,
    crc: u32,
    tag: u32,
}

fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * RECORD);
    for r in records {
        out.extend_from_slice(&r.start.to_le_bytes());
        out.extend_from_slice(&r.len.to_le_bytes());
        out.extend_from_slice(&r.crc.to_le_bytes());
        out.extend_from_slice(&r.tag.to_le_bytes());
    }
    out
}

/// The complete entries of a record file (a torn last entry is ignored).
fn read_records(path: &Path) -> io::Result<Vec<Record>> {
    let bytes = crate::file::read_regular(path, 64 << 20)?;
    Ok(bytes
        .chunks_exact(RECORD)
        .map(|c| Record {
            start: u64::from_le_bytes(c[0..8].try_into().unwrap_or_default()),
            len: u64::from_le_bytes(c[8..16].try_into().unwrap_or_default()),
            crc: u32::from_le_bytes(c[16..20].try_into().unwrap_or_default()),
            tag: u32::from_le_bytes(c[20..24].try_into().unwrap_or_default()),
        })
        .filter(|r| r.tag == TAG_BYTES || r.tag == TAG_ABSENT)
        .filter(|r| r.start.checked_add(r.len).is_some())
        .collect())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Writes a temporary file beside `path` with `fill`, then renames it over `path`.
fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = File::create(&temp)?;
        fill(&mut file)?;
        file.flush()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn touch(path: &Path) {
    if let Ok(f) = OpenOptions::new().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// FNV-1a, 64 bits: a stable hash for lock stripes and mirror names.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_objects_round_trip_and_corruption_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_path_buf(), 1 << 30);
        let path = dir.path().join("s/raw/c/0/0/0");
        assert_eq!(cache.held(&path, None), Held::Nothing);
        assert!(cache.put_whole(&path, b"voxels"));
        assert_eq!(cache.held(&path, None), Held::Bytes);
        assert_eq!(std::fs::read(&path).unwrap(), b"voxels");
        std::fs::write(&path, b"voxelz").unwrap();
        assert_eq!(cache.held(&path, None), Held::Nothing);
        std::fs::write(&path, b"vox").unwrap();
        assert_eq!(cache.held(&path, None), Held::Nothing);
        let gone = dir.path().join("s/raw/c/0/0/1");
        assert!(cache.put_absent(&gone));
        assert_eq!(cache.held(&gone, None), Held::Absent);
    }

    #[test]
    fn ranges_of_a_sparse_object() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_path_buf(), 1 << 30);
        let path = dir.path().join("shard");
        assert!(cache.put_range(&path, 1000, 100, &[7; 50]));
        assert_eq!(cache.held(&path, Some((100, 150))), Held::Bytes);
        assert_eq!(cache.held(&path, Some((110, 120))), Held::Bytes);
        assert_eq!(cache.held(&path, Some((90, 120))), Held::Nothing);
        assert_eq!(cache.held(&path, Some((500, 520))), Held::Nothing);
        assert!(cache.put_range(&path, 1000, 500, &[9; 20]));
        assert_eq!(cache.held(&path, Some((500, 520))), Held::Bytes);
        assert_eq!(cache.held(&path, Some((100, 150))), Held::Bytes);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1000);
    }

    #[test]
    fn eviction_keeps_metadata_and_recent_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path().to_path_buf(), 64 << 10);
        let meta = dir.path().join("s/zarr.json");
        assert!(cache.put_whole(&meta, &[1; 8192]));
        for i in 0..40 {
            let p = dir.path().join(format!("s/c/{i}"));
            assert!(cache.put_whole(&p, &[i as u8; 4096]));
        }
        let left: u64 = scan(dir.path()).iter().map(|e| e.bytes).sum();
        assert!(left <= 64 << 10, "{left}");
        assert_eq!(cache.held(&meta, None), Held::Bytes);
        assert_eq!(cache.held(&dir.path().join("s/c/39"), None), Held::Bytes);
        assert_eq!(cache.held(&dir.path().join("s/c/0"), None), Held::Nothing);
    }
}
