//! Sharded arrays that zarrs decodes (compressed inner chunks) read by inner chunk: each
//! inner chunk a window touches is located through the shard's index (kept by zarrs per shard)
//! and decoded alone, so a small window into a large shard never decodes the whole shard.

use std::sync::Arc;

use zarrs::array::{Array, ArrayBytes, ArrayShardedReadableExt, ArrayShardedReadableExtCache};
use zarrs::storage::ReadableStorageTraits;

use super::foreign::ChunkDecoder;
use crate::{Error, Result};

/// Decodes inner chunks of a sharded array through zarrs, with its cache of shard indexes.
pub(crate) struct SubchunkDecoder {
    array: Arc<Array<dyn ReadableStorageTraits>>,
    indexes: ArrayShardedReadableExtCache,
}

impl SubchunkDecoder {
    /// The decoder of `array`'s inner chunks, or `None` when `array` is not sharded.
    pub(crate) fn new(array: Arc<Array<dyn ReadableStorageTraits>>) -> Option<Self> {
        let indexes = ArrayShardedReadableExtCache::new(&array);
        indexes
            .array_is_exclusively_sharded()
            .then_some(SubchunkDecoder { array, indexes })
    }
}

impl ChunkDecoder for SubchunkDecoder {
    fn decode(&self, chunk: [u64; 3]) -> Result<Option<Vec<u8>>> {
        let fail = |e: String| {
            Error::zarrs(
                self.array.path().as_str(),
                format!("inner chunk {chunk:?}: {e}"),
            )
        };
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.array.retrieve_subchunk_opt::<ArrayBytes<'static>>(
                &self.indexes,
                &chunk,
                &zarrs::array::CodecOptions::default(),
            )
        }))
        .map_err(|_| fail("zarrs failed while decoding it; the shard is corrupt".into()))?
        .map_err(|e| fail(e.to_string()))?;
        match decoded {
            ArrayBytes::Fixed(bytes) => Ok(Some(bytes.into_owned())),
            _ => Err(fail("decoded to variable-length bytes".into())),
        }
    }
}
