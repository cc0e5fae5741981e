//! Soak: the augmented loader streams samples for minutes while its anonymous resident memory
//! (`RssAnon`) is sampled; after warm-up it must stay flat (no leak, no growth with the number
//! of samples), bounded by the prefetch depth.
//!
//! `cargo bench --bench soak` (`VOXLOAD_SOAK_SECONDS`, default 300): PyTC's default
//! augmentation, `(8, 256, 256)` uint8 image + uint16 label, batch 2, 2 workers, prefetch 4,
//! rejection sampling on, on the sampler bench's store. Prints a line every 10 s and a summary
//! (figures recorded in BENCHMARKS.md).

use std::time::Instant;

use voxload::augment::{Compose, TargetKind};
use voxload::internals::memory::rss_anon_kib;
use voxload::loader::Loader;
use voxload::sampler::{ArrayNames, Rejection, Volume};
use voxload::OpenOptions;

#[path = "common/bench_data.rs"]
mod bench_data;

/// Samples after this many seconds count as steady state.
const WARM_UP_SECONDS: f64 = 20.0;

fn main() {
    voxload::internals::memory::keep_freed_memory();
    let seconds: f64 = std::env::var("VOXLOAD_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300.0);
    let store = bench_data::store();
    let names = ArrayNames::new("image").label("label_1pc");
    let volume = Volume::open(0, &store, &names, &OpenOptions::default()).unwrap();
    let compose = Compose::new(
        Compose::pytc_defaults(),
        [8, 256, 256],
        [("label", TargetKind::Mask)],
    )
    .unwrap();
    let mut it = Loader::builder(vec![volume], compose)
        .batch_size(2)
        .rejection(Rejection {
            size_thres: 1000,
            p: 0.95,
            ..Rejection::default()
        })
        .workers(2)
        .prefetch(4)
        .build_prefetch()
        .unwrap();
    let start = Instant::now();
    let (mut samples, mut next_report) = (0u64, 10.0);
    let (mut low, mut high, mut at_warm_up) = (u64::MAX, 0u64, None);
    let rss = || rss_anon_kib().expect("RssAnon in /proc/self/status");
    println!("   s  samples  samples/s  RssAnon MiB");
    while start.elapsed().as_secs_f64() < seconds {
        samples += it.next().unwrap().unwrap().samples.len() as u64;
        let t = start.elapsed().as_secs_f64();
        if t >= WARM_UP_SECONDS {
            let now = rss();
            at_warm_up.get_or_insert(now);
            (low, high) = (low.min(now), high.max(now));
        }
        if t >= next_report {
            println!(
                "{t:4.0} {samples:8} {:10.1} {:12.1}",
                samples as f64 / t,
                rss() as f64 / 1024.0
            );
            next_report += 10.0;
        }
    }
    let stats = it.stats();
    let first = at_warm_up.unwrap_or(0);
    println!(
        "soak: {samples} samples in {:.0} s ({:.1}/s, {:.2} rejected per accepted); RssAnon after {WARM_UP_SECONDS:.0} s warm-up: {:.1} MiB, then min {:.1} / max {:.1} MiB ({:+.1} MiB over the run)",
        start.elapsed().as_secs_f64(),
        samples as f64 / start.elapsed().as_secs_f64(),
        stats.rejected as f64 / stats.samples.max(1) as f64,
        first as f64 / 1024.0,
        low as f64 / 1024.0,
        high as f64 / 1024.0,
        (rss() as f64 - first as f64) / 1024.0
    );
}
