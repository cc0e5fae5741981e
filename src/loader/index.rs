//! The loader's foreground indexes: given ones, else from the index cache, else built in
//! memory (see [`LoaderBuilder::index_cache`]).

use std::path::PathBuf;
use std::sync::Arc;

use super::LoaderBuilder;
use crate::sampler::{ForegroundIndex, RandomSampler, DEFAULT_BLOCK};
use crate::Result;

/// The environment variable that names the loader's index cache directory (see
/// [`default_index_cache`]).
pub const CACHE_DIR_VAR: &str = "VOXLOAD_CACHE_DIR";

/// The index cache [`LoaderBuilder::from_config`] uses unless told otherwise:
/// `$VOXLOAD_CACHE_DIR` when it is set; else `None`, and indexes are built in memory — voxload
/// writes nothing the user did not name (set the variable, or [`LoaderBuilder::index_cache`],
/// to keep indexes between runs: a large label's index then costs one pass over it, once).
///
/// ```
/// if let Some(dir) = voxload::loader::default_index_cache() {
///     assert_eq!(Some(dir.into_os_string()), std::env::var_os("VOXLOAD_CACHE_DIR"));
/// }
/// ```
#[must_use]
pub fn default_index_cache() -> Option<PathBuf> {
    std::env::var_os(CACHE_DIR_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl LoaderBuilder {
    /// Gives the sampler a foreground index for every labelled volume; returns it with a
    /// message for each index that could not be saved in the cache (it is used all the same).
    pub(super) fn attach_indexes(
        &self,
        mut sampler: RandomSampler,
    ) -> Result<(RandomSampler, Vec<String>)> {
        let mut warnings = Vec::new();
        for (v, volume) in self.volumes.iter().enumerate() {
            let Some(label) = volume.label() else {
                continue;
            };
            let given = self
                .indexes
                .iter()
                .find(|(i, _)| *i == v)
                .map(|(_, x)| x.clone());
            let index = match (given, &self.index_cache) {
                (Some(index), _) => index,
                (None, None) => Arc::new(ForegroundIndex::build(label, DEFAULT_BLOCK)?),
                (None, Some(cache)) => {
                    let (index, failed) =
                        ForegroundIndex::open_or_build_cached(label, DEFAULT_BLOCK, cache)?;
                    if let Some(e) = failed {
                        warnings.push(format!(
                            "the foreground index of volume {v} was not saved in the index cache {}: {e}",
                            cache.display()
                        ));
                    }
                    Arc::new(index)
                }
            };
            sampler = sampler.with_foreground_index(v, index)?;
        }
        Ok((sampler, warnings))
    }
}
