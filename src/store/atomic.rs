//! A filesystem store whose every write is atomic: a write-to-temporary-then-rename.
//!
//! zarrs' `FilesystemStore` writes a key's file in place, so a process killed mid-write leaves a
//! file that exists but is short or mixed. Wrapping it, this store writes each value to a hidden
//! temporary file beside its destination and renames it into place, so a reader (or a resumed
//! ingest) sees either the old file, no file, or the whole new file — never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

/// The marker in temporary file names; such files are never valid chunks.
pub const TEMP_MARKER: &str = ".voxload-tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The environment variable of the fault hook: when set to `N`, the process aborts right after
/// its `N`-th atomic write, as a crash would (used by the kill-and-resume tests). Read only in
/// builds with the `fault-injection` feature.
pub const FAULT_ENV: &str = "VOXLOAD_FAULT_AFTER_WRITES";

/// The environment variable of the full-disk hook: when set to `N`, every atomic write after
/// the process's `N`-th fails with `ENOSPC` ("No space left on device") part way through its
/// temporary file, as on a disk that has filled up (used by the full-disk tests). Read only in
/// builds with the `fault-injection` feature.
pub const FULL_DISK_ENV: &str = "VOXLOAD_FAULT_ENOSPC_AFTER_WRITES";

/// The write-fault hooks: compiled only with the `fault-injection` feature, so a normal build
/// cannot be made to fail by its environment.
#[cfg(feature = "fault-injection")]
mod hooks {
    use std::io::Write;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// Successful atomic writes so far (counted only when a hook is set).
    static WRITES: AtomicU64 = AtomicU64::new(0);

    fn hook(env: &'static str, cell: &'static OnceLock<Option<u64>>) -> Option<u64> {
        *cell.get_or_init(|| std::env::var(env).ok().and_then(|v| v.parse().ok()))
    }

    fn fault_after() -> Option<u64> {
        static AFTER: OnceLock<Option<u64>> = OnceLock::new();
        hook(super::FAULT_ENV, &AFTER)
    }

    fn disk_full_after() -> Option<u64> {
        static AFTER: OnceLock<Option<u64>> = OnceLock::new();
        hook(super::FULL_DISK_ENV, &AFTER)
    }

    /// Before a write to `tmp`: on a "full disk", writes half of `bytes` and fails.
    pub(super) fn before_write(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if disk_full_after().is_some_and(|n| WRITES.load(Ordering::SeqCst) >= n) {
            std::fs::File::create(tmp)?.write_all(&bytes[..bytes.len() / 2])?;
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }

    /// After a successful write: counts it, and aborts once the fault hook's count is reached.
    pub(super) fn after_write() {
        if fault_after().is_some() || disk_full_after().is_some() {
            let done = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
            if fault_after().is_some_and(|after| done >= after) {
                std::process::abort();
            }
        }
    }
}

/// Without the `fault-injection` feature the hooks do nothing.
#[cfg(not(feature = "fault-injection"))]
mod hooks {
    use std::path::Path;

    #[inline]
    pub(super) fn before_write(_tmp: &Path, _bytes: &[u8]) -> std::io::Result<()> {
        Ok(())
    }

    #[inline]
    pub(super) fn after_write() {}
}

/// A zarrs filesystem store that writes atomically (temporary file, then rename).
#[derive(Debug)]
pub struct AtomicFsStore {
    inner: FilesystemStore,
    root: PathBuf,
    direct_io: std::sync::atomic::AtomicBool,
}

impl AtomicFsStore {
    /// A store rooted at `root` (created if missing).
    ///
    /// # Errors
    /// Propagates zarrs' error when the directory cannot be created or used.
    pub fn new(root: &Path) -> Result<Self, StorageError> {
        let inner = FilesystemStore::new(root).map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(AtomicFsStore {
            inner,
            root: root.to_path_buf(),
            direct_io: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Writes values with `O_DIRECT` (bypassing the page cache) where the filesystem allows it,
    /// falling back to buffered writes where it does not. Bulk writers (ingest) use it: their
    /// bytes are not read back soon, and filling fresh page-cache memory can cost more than
    /// the write itself.
    pub fn set_direct_io(&self, on: bool) {
        self.direct_io.store(on, Ordering::Relaxed);
    }

    /// Whether writes use `O_DIRECT` (see [`AtomicFsStore::set_direct_io`]).
    #[must_use]
    pub fn direct_io(&self) -> bool {
        self.direct_io.load(Ordering::Relaxed)
    }

    /// The file that holds `key`.
    #[must_use]
    pub fn path_of(&self, key: &StoreKey) -> PathBuf {
        self.inner.key_to_fspath(key)
    }

    /// The store's root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Writes `bytes` to `dest` atomically: a unique temporary file in the same directory, then a
/// rename over `dest`. Creates the parent directories.
///
/// # Errors
/// Any I/O error; the temporary file is removed on failure.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(dest, bytes, false)
}

/// As [`write_atomic`], with `O_DIRECT` when `direct` is set and the filesystem supports it.
///
/// # Errors
/// Any I/O error; the temporary file is removed on failure.
pub fn write_atomic_with(dest: &Path, bytes: &[u8], direct: bool) -> std::io::Result<()> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = parent.join(format!(
        ".{name}{TEMP_MARKER}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        hooks::before_write(&tmp, bytes)?;
        if !(direct && write_direct(&tmp, bytes)?) {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
        }
        std::fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else {
        hooks::after_write();
    }
    result
}

/// Writes `bytes` to a new file `path` with `O_DIRECT` from a page-aligned buffer (padded,
/// then truncated to length). Returns `Ok(false)` when the filesystem refuses `O_DIRECT`, so
/// the caller writes normally.
#[cfg(target_os = "linux")]
fn write_direct(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    use std::cell::RefCell;
    use std::os::unix::fs::OpenOptionsExt;
    const ALIGN: usize = 4096;
    thread_local! {
        static BUFFER: RefCell<Option<memmap2::MmapMut>> = const { RefCell::new(None) };
    }
    let padded = bytes.len().div_ceil(ALIGN).max(1) * ALIGN;
    let file = match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(false),
        Err(e) => return Err(e),
    };
    BUFFER.with(|cell| -> std::io::Result<bool> {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|b| b.len() < padded) {
            *slot = Some(memmap2::MmapMut::map_anon(padded)?);
        }
        let buffer = slot.as_mut().map(|b| &mut b[..padded]).unwrap_or_default();
        buffer[..bytes.len()].copy_from_slice(bytes);
        buffer[bytes.len()..].fill(0);
        let mut file = file;
        match file.write_all(buffer) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                drop(file);
                std::fs::remove_file(path)?;
                return Ok(false);
            }
            other => other?,
        }
        file.set_len(bytes.len() as u64)?;
        Ok(true)
    })
}

#[cfg(not(target_os = "linux"))]
fn write_direct(_path: &Path, _bytes: &[u8]) -> std::io::Result<bool> {
    Ok(false)
}

/// Removes temporary files left under `dir` by writers that no longer run (a killed ingest),
/// keeping those of live processes on this machine; returns how many were removed.
///
/// # Errors
/// The first I/O error other than a file vanishing meanwhile.
pub fn remove_stale_temporaries(dir: &Path) -> std::io::Result<u64> {
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if let Some((_, rest)) = name.split_once(TEMP_MARKER) {
                let pid = rest.split('-').next().unwrap_or("");
                let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
                if !alive || pid == std::process::id().to_string() {
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                        _ => removed += 1,
                    }
                }
            }
        }
    }
    Ok(removed)
}

impl ReadableStorageTraits for AtomicFsStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        self.inner.get_partial_many(key, byte_ranges)
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

impl WritableStorageTraits for AtomicFsStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        let direct = self.direct_io.load(Ordering::Relaxed);
        Ok(write_atomic_with(&self.path_of(key), &value, direct)?)
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        // Only reached if a caller ignores `supports_set_partial`; stay atomic by rewriting whole.
        let mut whole = self.inner.get(key)?.map(|b| b.to_vec()).unwrap_or_default();
        for (offset, value) in offset_values {
            let start = offset as usize;
            let end = start + value.len();
            if whole.len() < end {
                whole.resize(end, 0);
            }
            whole[start..end].copy_from_slice(&value);
        }
        self.set(key, Bytes::from(whole))
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.inner.erase(key)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.inner.erase_prefix(prefix)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ListableStorageTraits for AtomicFsStore {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        self.inner.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.inner.list_prefix(prefix)
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.inner.list_dir(prefix)
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.inner.size_prefix(prefix)
    }
}
