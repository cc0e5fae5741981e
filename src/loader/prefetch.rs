//! The prefetching iterator: worker threads make batches ahead of the consumer, in order.
//!
//! The consumer hands out batch indices in order, each with its own one-slot reply channel,
//! and keeps the replies in a queue: batch `k` is always taken from the `k`-th reply, so the
//! stream is the same for any number of workers, and at most `prefetch` batches are ever made
//! or held ahead of the consumer.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use super::lookahead::LookAhead;
use super::produce::Producer;
use super::{Batch, LoaderStats};
use crate::{Error, Result};

type Reply = Receiver<Result<Batch>>;

/// Batches made by worker threads, delivered in index order. Dropping it stops the workers.
pub struct Prefetch {
    producer: Arc<Producer>,
    jobs: Option<Sender<(u64, Sender<Result<Batch>>)>>,
    replies: VecDeque<Reply>,
    workers: Vec<JoinHandle<()>>,
    stopped: Arc<AtomicBool>,
    next_job: u64,
    depth: usize,
    done: bool,
    waited: Duration,
    started: Instant,
    /// Batches handed to the consumer (the look-ahead stays a budget ahead of it).
    consumed: Arc<AtomicU64>,
    lookahead: Option<LookAhead>,
    /// The remote-cache counters when the loader started.
    cache_at_start: crate::store::remote::CacheCounters,
}

impl Prefetch {
    /// Starts `workers` threads making batches at most `depth` ahead.
    ///
    /// # Errors
    /// [`Error::Worker`] when a thread cannot be started (the ones started are stopped).
    pub(crate) fn start(producer: Arc<Producer>, workers: usize, depth: usize) -> Result<Self> {
        let (jobs, queue) = unbounded::<(u64, Sender<Result<Batch>>)>();
        let stopped = Arc::new(AtomicBool::new(false));
        let workers = (0..workers.max(1))
            .map(|w| {
                let queue = queue.clone();
                let producer = Arc::clone(&producer);
                let stopped = Arc::clone(&stopped);
                std::thread::Builder::new()
                    .name(format!("voxload-worker-{w}"))
                    .spawn(move || {
                        for (k, reply) in queue {
                            if stopped.load(Ordering::Relaxed) {
                                break;
                            }
                            let made = catch_unwind(AssertUnwindSafe(|| producer.batch(k)))
                                .unwrap_or_else(|panic| Err(Error::Worker(panic_message(&panic))));
                            // The consumer may be gone; nothing to do then.
                            let _ = reply.send(made);
                        }
                    })
                    .map_err(|e| Error::Worker(format!("cannot start worker thread {w}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let consumed = Arc::new(AtomicU64::new(0));
        let lookahead = LookAhead::start(&producer, Arc::clone(&consumed), depth as u64);
        let mut prefetch = Prefetch {
            consumed,
            lookahead,
            cache_at_start: crate::store::remote::cache_counters(),
            producer,
            jobs: Some(jobs),
            replies: VecDeque::new(),
            workers,
            stopped,
            next_job: 0,
            depth: depth.max(1),
            done: false,
            waited: Duration::ZERO,
            started: Instant::now(),
        };
        prefetch.fill();
        Ok(prefetch)
    }

    /// Queues batches until `depth` are in flight or the stream is exhausted.
    fn fill(&mut self) {
        let Some(jobs) = &self.jobs else { return };
        while self.replies.len() < self.depth
            && self.producer.batches().is_none_or(|n| self.next_job < n)
        {
            let (tx, rx) = bounded(1);
            if jobs.send((self.next_job, tx)).is_err() {
                break;
            }
            self.replies.push_back(rx);
            self.next_job += 1;
        }
    }

    /// What the loader has done so far.
    #[must_use]
    pub fn stats(&self) -> LoaderStats {
        let mut stats = LoaderStats::collect(&self.producer, self.started.elapsed(), self.waited);
        let now = crate::store::remote::cache_counters();
        stats.cache_hits = now.hits - self.cache_at_start.hits;
        stats.cache_fetches = now.fetches - self.cache_at_start.fetches;
        stats.cache_fetched_bytes = now.fetched_bytes - self.cache_at_start.fetched_bytes;
        stats
    }

    /// What went wrong without stopping the loader (an index not saved in the index cache).
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.producer.warnings
    }

    fn stop(&mut self) {
        self.done = true;
        self.stopped.store(true, Ordering::Relaxed);
        self.lookahead = None;
        self.jobs = None;
        self.replies.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Prefetch {
    /// As [`Iterator::next`], but waits at most `timeout` for the next batch: `None` when it is
    /// not ready yet (ask again; nothing is lost), else what `next` would return. Front ends
    /// that must stay responsive while waiting (Ctrl-C in Python) poll with it.
    ///
    /// ```
    /// # use voxload::augment::Compose;
    /// # use voxload::loader::Loader;
    /// # use voxload::sampler::{ArrayNames, Volume};
    /// # let dir = tempfile::tempdir()?;
    /// # let image = ndarray::Array3::<u8>::zeros((4, 32, 32));
    /// # voxload::write_array(dir.path(), "image", &image, [4, 32, 32], voxload::Encoding::Raw)?;
    /// # let volume = Volume::open(0, dir.path(), &ArrayNames::new("image"), &Default::default())?;
    /// use std::time::Duration;
    /// let compose = Compose::disabled([4, 16, 16], [] as [(&str, _); 0])?;
    /// let mut batches = Loader::builder(vec![volume], compose)
    ///     .batch_size(2)
    ///     .samples(2)
    ///     .build_prefetch()?;
    /// let batch = loop {
    ///     if let Some(next) = batches.next_within(Duration::from_millis(10)) {
    ///         break next.expect("one batch")?;
    ///     }
    /// };
    /// assert_eq!(batch.samples.len(), 2);
    /// assert!(batches.next_within(Duration::from_secs(10)).expect("answered").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_within(&mut self, timeout: Duration) -> Option<Option<Result<Batch>>> {
        if self.done {
            return Some(None);
        }
        self.fill();
        let Some(reply) = self.replies.front() else {
            return Some(None);
        };
        let start = Instant::now();
        let made = match reply.recv_timeout(timeout) {
            Ok(made) => made,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                self.waited += start.elapsed();
                return None;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(Error::Worker(
                "a worker thread ended without a reply".into(),
            )),
        };
        self.replies.pop_front();
        self.consumed.fetch_add(1, Ordering::Relaxed);
        self.waited += start.elapsed();
        Some(Some(self.settle(made)))
    }

    /// The number of batches in the whole stream (`None` when it is endless: train mode without
    /// a sample count); in grid mode, the batches of this rank's block.
    #[must_use]
    pub fn batches(&self) -> Option<u64> {
        self.producer.batches()
    }

    /// After a batch arrived: stop on an error, else queue more work.
    fn settle(&mut self, made: Result<Batch>) -> Result<Batch> {
        if made.is_err() {
            self.stop();
        } else {
            self.fill();
        }
        made
    }
}

impl Iterator for Prefetch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.done {
            return None;
        }
        self.fill();
        let reply = self.replies.pop_front()?;
        self.consumed.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let made = reply.recv().unwrap_or_else(|_| {
            Err(Error::Worker(
                "a worker thread ended without a reply".into(),
            ))
        });
        self.waited += start.elapsed();
        Some(self.settle(made))
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The text of a panic payload.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("a worker panicked: {text}")
}
