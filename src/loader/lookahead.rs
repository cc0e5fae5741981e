//! Look-ahead fetching for remote stores: a sample's window depends only on
//! `(seed, epoch, index, rank)`, so the chunks of batches the workers have not started yet are
//! known in advance. One thread walks the stream ahead of the workers and has every chunk those
//! batches will read fetched into the local cache, many requests at once, staying at most a
//! byte budget ahead of the consumer (`VOXLOAD_LOOKAHEAD_BYTES`, default 512 MiB; `0` turns it
//! off). The workers then find their chunks cached. A failed fetch is left for the worker that
//! needs the chunk, which reports it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::produce::Producer;

/// The default byte budget of the look-ahead.
pub const DEFAULT_LOOKAHEAD_BYTES: u64 = 512 << 20;

/// The look-ahead's byte budget from `VOXLOAD_LOOKAHEAD_BYTES`.
pub(crate) fn budget() -> u64 {
    std::env::var("VOXLOAD_LOOKAHEAD_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_LOOKAHEAD_BYTES)
}

/// The running look-ahead thread.
pub(crate) struct LookAhead {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl LookAhead {
    /// Starts looking ahead of `consumed` (the batches the consumer has taken) when the
    /// stream reads a remote store; `None` otherwise, or with a zero budget.
    pub(crate) fn start(
        producer: &Arc<Producer>,
        consumed: Arc<AtomicU64>,
        depth: u64,
    ) -> Option<Self> {
        let budget = budget();
        if budget == 0 || !producer.reads_remote() {
            return None;
        }
        let batch_bytes = producer.batch_read_bytes().max(1);
        // Batches in the budget, beyond those the workers are already making.
        let horizon = depth + (budget / batch_bytes).max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let producer = Arc::clone(producer);
        let halt = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("voxload-lookahead".into())
            .spawn(move || run(&producer, &consumed, horizon, &halt))
            .ok()?;
        Some(LookAhead {
            thread: Some(thread),
            stop,
        })
    }
}

fn run(producer: &Producer, consumed: &AtomicU64, horizon: u64, stop: &AtomicBool) {
    let Ok(pool) = crate::store::remote::fetch_pool() else {
        return;
    };
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) && producer.batches().is_none_or(|n| k < n) {
        if k >= consumed.load(Ordering::Relaxed) + horizon {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let samples = producer.batch_samples(k);
        pool.install(|| {
            use rayon::prelude::*;
            samples.into_par_iter().for_each(|i| {
                if !stop.load(Ordering::Relaxed) {
                    producer.prefetch_sample(i);
                }
            });
        });
        k += 1;
    }
}

impl Drop for LookAhead {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
