//! The storage adapter zarrs reads a remote store's mirror through: every key (or, for
//! shards, every byte range) is fetched into the cache before the inner store — the local
//! reader's chain over the mirror folder — reads it; bytes the disk refused are handed over
//! from memory.

use std::path::PathBuf;
use std::sync::Arc;

use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{Bytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey};

use super::{Fetched, RemoteStore};
use crate::store::bounded::range_within;

/// Fetches what zarrs asks for, then lets `inner` read it from the mirror at `root`.
pub(crate) struct FetchingStore<S> {
    inner: S,
    remote: Arc<RemoteStore>,
    root: PathBuf,
    /// Chunk keys are shards read by byte range (metadata is always read whole).
    ranged: bool,
}

impl<S> FetchingStore<S> {
    pub(crate) fn new(inner: S, remote: Arc<RemoteStore>, root: PathBuf, ranged: bool) -> Self {
        FetchingStore {
            inner,
            remote,
            root,
            ranged,
        }
    }
}

fn storage_error(e: &crate::Error) -> StorageError {
    StorageError::Other(e.to_string())
}

impl<S: ReadableStorageTraits> FetchingStore<S> {
    /// One attempt: fetch what is missing, then read. `Ok(None)` from the inner store after
    /// a fetch means the cache evicted the file meanwhile (the caller tries again).
    fn attempt<'a>(
        &'a self,
        key: &StoreKey,
        path: &std::path::Path,
        ranges: Vec<ByteRange>,
    ) -> Result<Attempt<'a>, StorageError> {
        if !self.ranged || super::cache::is_metadata_key(key.as_str()) {
            return match self.remote.ensure(path).map_err(|e| storage_error(&e))? {
                Fetched::Absent => Ok(Attempt::Done(None)),
                Fetched::Cached => match self
                    .inner
                    .get_partial_many(key, Box::new(ranges.into_iter()))?
                {
                    Some(parts) => Ok(Attempt::Done(Some(parts))),
                    None => Ok(Attempt::Vanished),
                },
                Fetched::Memory(bytes) => {
                    let size = bytes.len() as u64;
                    let parts = ranges
                        .iter()
                        .map(|r| match range_within(r, size) {
                            Some((s, e)) => {
                                Ok(Bytes::copy_from_slice(&bytes[s as usize..e as usize]))
                            }
                            None => Err(StorageError::Other(format!(
                                "{key}: byte range {r:?} outside the object"
                            ))),
                        })
                        .collect::<Vec<_>>();
                    Ok(Attempt::Done(Some(Box::new(parts.into_iter()))))
                }
            };
        }
        let Some(size) = self.remote.size(path).map_err(|e| storage_error(&e))? else {
            return Ok(Attempt::Done(None));
        };
        let mut from_memory = Vec::with_capacity(ranges.len());
        for r in &ranges {
            let (start, end) = range_within(r, size).ok_or_else(|| {
                StorageError::Other(format!(
                    "{key}: byte range {r:?} outside the object of {size} bytes"
                ))
            })?;
            match self
                .remote
                .ensure_range(path, size, start, end)
                .map_err(|e| storage_error(&e))?
            {
                Fetched::Absent => return Ok(Attempt::Done(None)),
                Fetched::Cached => from_memory.push(None),
                Fetched::Memory(bytes) => from_memory.push(Some(Bytes::from(bytes))),
            }
        }
        // Each range from the server's bytes (where the disk refused them) or the mirror.
        let mut parts = Vec::with_capacity(ranges.len());
        for (r, memory) in ranges.into_iter().zip(from_memory) {
            match memory {
                Some(bytes) => parts.push(Ok(bytes)),
                None => match self.inner.get_partial(key, r)? {
                    Some(bytes) => parts.push(Ok(bytes)),
                    None => return Ok(Attempt::Vanished),
                },
            }
        }
        Ok(Attempt::Done(Some(Box::new(parts.into_iter()))))
    }
}

enum Attempt<'a> {
    Done(MaybeBytesIterator<'a>),
    Vanished,
}

impl<S: ReadableStorageTraits> ReadableStorageTraits for FetchingStore<S> {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let path = self.root.join(key.as_str());
        let ranges: Vec<ByteRange> = byte_ranges.collect();
        for _ in 0..4 {
            match self.attempt(key, &path, ranges.clone())? {
                Attempt::Done(parts) => return Ok(parts),
                Attempt::Vanished => self.remote.forget(&path),
            }
        }
        Err(StorageError::Other(format!(
            "{}: `{key}`: the cache evicts it before it can be read; raise VOXLOAD_CACHE_BYTES above what one read needs",
            self.remote.endpoint()
        )))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        let path = self.root.join(key.as_str());
        if self.ranged && !super::cache::is_metadata_key(key.as_str()) {
            return self.remote.size(&path).map_err(|e| storage_error(&e));
        }
        match self.remote.ensure(&path).map_err(|e| storage_error(&e))? {
            Fetched::Absent => Ok(None),
            Fetched::Cached => self.inner.size_key(key),
            Fetched::Memory(bytes) => Ok(Some(bytes.len() as u64)),
        }
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}
