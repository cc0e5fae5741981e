//! The loader's limits: ranks, worker counts, and batch and sample sizes checked before any
//! thread or buffer is made.

use super::LoaderBuilder;
use crate::{Error, Result};

/// The most worker threads, and the most batches made ahead, a loader takes
/// (`SYSTEM.NUM_CPUS`, `--workers`, [`LoaderBuilder::prefetch`]).
pub const MAX_WORKERS: usize = 1024;

/// Checks that `rank` is one of `world_size` processes (`0 <= rank < world_size`).
///
/// ```
/// assert!(voxload::loader::check_rank(1, 2).is_ok());
/// assert!(voxload::loader::check_rank(0, 0).unwrap_err().to_string().contains("world_size"));
/// assert!(voxload::loader::check_rank(2, 2).is_err());
/// ```
///
/// # Errors
/// [`Error::Config`] naming `world_size` when it is 0, or `rank` when it is not below it.
pub fn check_rank(rank: u64, world_size: u64) -> Result<()> {
    if world_size == 0 {
        return Err(Error::Config {
            key: "world_size".into(),
            reason: "is 0; the work is shared by at least 1 process (`LoaderBuilder::rank`)".into(),
        });
    }
    if rank >= world_size {
        return Err(Error::Config {
            key: "rank".into(),
            reason: format!(
                "{rank} is not below world_size {world_size}: ranks are 0 to {} (`LoaderBuilder::rank`)",
                world_size - 1
            ),
        });
    }
    Ok(())
}

impl LoaderBuilder {
    /// Refuses worker counts, prefetch depths and batch or sample sizes that cannot be
    /// allocated, before any thread or buffer is made.
    pub(super) fn check_sizes(&self) -> Result<()> {
        for (key, what, n) in [
            (
                "SYSTEM.NUM_CPUS",
                "worker threads (`LoaderBuilder::workers`)",
                self.workers,
            ),
            ("prefetch", "batches made ahead", self.prefetch),
        ] {
            if n > MAX_WORKERS {
                return Err(Error::Config {
                    key: key.into(),
                    reason: format!("{n} {what} is above the limit of {MAX_WORKERS}"),
                });
            }
        }
        let [d, h, w] = self.compose.input_size().map(|v| v as u64);
        let batch = [self.batch_size, d, h.saturating_mul(w)];
        crate::geometry::check_allocation("SOLVER.SAMPLES_PER_BATCH x MODEL.INPUT_SIZE", batch, 4)
            .map_err(|e| Error::Config {
                key: "SOLVER.SAMPLES_PER_BATCH".into(),
                reason: format!(
                    "{} samples of MODEL.INPUT_SIZE {:?} make a batch too large: {e}",
                    self.batch_size,
                    self.compose.input_size()
                ),
            })?;
        let sample = self.compose.sample_size().map(|v| v as u64);
        crate::geometry::check_allocation("sample size", sample, 4).map_err(|e| Error::Config {
            key: "MODEL.INPUT_SIZE".into(),
            reason: format!("the augmentor reads samples of {sample:?}, too large: {e}"),
        })?;
        Ok(())
    }
}
