//! Rejection sampling cost: rejected draws per accepted sample, and time per accepted sample
//! with and without rejection (window reads alone), on a (200, 1024, 1024) uint8 image with a
//! uint16 label of spherical blobs (radius 10–40) covering about 1 % (and 0.1 %) of voxels.
//! Input (8, 256, 256), SIZE_THRES 1000, P 0.95, one thread. With rejection, once with plain
//! rejection (every candidate's label window read) and once with the coarse foreground index
//! (blocks of `DEFAULT_BLOCK`, 4 × 32 × 32, built once and stored beside the label), which decides most tests
//! without reading the label; the bench checks that both give exactly the same draws.
//!
//! `cargo bench --bench sampler` (writes its stores once under `target/bench-data/`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use voxload::sampler::{
    ForegroundIndex, RandomSampler, Rejection, SampleVolume, WindowSettings, DEFAULT_BLOCK,
};
use voxload::store::AnyArray;
use voxload::{MappedArray, OpenOptions, PadMode};

#[path = "common/bench_data.rs"]
mod bench_data;
use bench_data::{store, SHAPE};

/// One configuration's figures.
struct Figures {
    rejected: u64,
    forced: u64,
    label_reads: u64,
    draw_seconds: f64,
    total_seconds: f64,
    draws: Vec<voxload::sampler::Draw>,
}

fn run(sampler: &RandomSampler, image: &MappedArray<u8>, n: u64, size_thres: i64) -> Figures {
    let mut out = vec![0u8; 8 * 256 * 256];
    let (mut rejected, mut forced, mut draw_seconds) = (0u64, 0u64, 0.0);
    let mut draws = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let d = sampler.draw(1, 0, i).unwrap();
        draw_seconds += t.elapsed().as_secs_f64();
        rejected += u64::from(d.rejections);
        forced += u64::from(d.forced);
        image
            .read_into(d.window, PadMode::Reflect, &mut out)
            .unwrap();
        draws.push(d);
    }
    let total_seconds = start.elapsed().as_secs_f64();
    let stats = sampler.stats();
    let label_reads = if size_thres > 0 {
        stats.candidates.load(Ordering::Relaxed) - stats.decided_by_index.load(Ordering::Relaxed)
    } else {
        0
    };
    Figures {
        rejected,
        forced,
        label_reads,
        draw_seconds,
        total_seconds,
        draws,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--test") {
        return; // `cargo test --benches` runs nothing heavy
    }
    // VOXLOAD_FG_BLOCK=Z,Y,X tries another block shape for the index.
    let block = std::env::var("VOXLOAD_FG_BLOCK").map_or(DEFAULT_BLOCK, |b| {
        voxload::geometry::parse_triple::<u64>(&b).expect("VOXLOAD_FG_BLOCK=Z,Y,X")
    });
    let store = store();
    let image = MappedArray::<u8>::open(&store, "image").unwrap();
    let n = 400u64;
    println!("| label | rejection | foreground index | accepted | rejected per accepted | label reads per accepted | forced | µs per accepted sample (draw only) | µs per accepted sample (draw + image read) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for label_name in ["label_1pc", "label_01pc"] {
        let t = Instant::now();
        let reused = ForegroundIndex::load(&store, label_name, block)
            .unwrap()
            .is_some();
        let index = Arc::new(
            ForegroundIndex::open_or_build(&store, label_name, block, &OpenOptions::default())
                .unwrap(),
        );
        eprintln!(
            "{label_name}: foreground index in blocks of {block:?} {} in {:.2} s",
            if reused { "loaded" } else { "built and stored" },
            t.elapsed().as_secs_f64()
        );
        let mut plain_draws = None;
        for (size_thres, use_index) in [(-1i64, false), (1000, false), (1000, true)] {
            // Page-cache warm, as the read benchmark (this machine reclaims idle cache).
            for name in ["image", label_name] {
                voxload::bench::warm_page_cache(&store.join(name)).unwrap();
            }
            let label = AnyArray::open(&store, label_name, &OpenOptions::default()).unwrap();
            let volume = SampleVolume {
                shape: SHAPE.map(|v| v as u64),
                label: Some(label.into()),
                valid_mask: None,
            };
            let rejection = Rejection {
                size_thres,
                p: 0.95,
                ..Rejection::default()
            };
            let mut sampler = RandomSampler::new(
                vec![volume],
                WindowSettings {
                    pad_mode: PadMode::Reflect,
                    ..WindowSettings::default()
                },
                rejection,
            )
            .unwrap();
            if use_index {
                sampler = sampler.with_foreground_index(0, index.clone()).unwrap();
            }
            let f = run(&sampler, &image, n, size_thres);
            // The index must not change a single draw.
            if size_thres > 0 {
                match &plain_draws {
                    None => plain_draws = Some(f.draws.clone()),
                    Some(plain) => assert_eq!(plain, &f.draws, "the index changed the draws"),
                }
            }
            let mode = if size_thres > 0 {
                "SIZE_THRES 1000, P 0.95"
            } else {
                "off"
            };
            let per = |s: f64| s / n as f64 * 1e6;
            println!(
                "| {label_name} | {mode} | {} | {n} | {:.2} | {:.2} | {} | {:.0} | {:.0} |",
                if use_index { "yes" } else { "no" },
                f.rejected as f64 / n as f64,
                f.label_reads as f64 / n as f64,
                f.forced,
                per(f.draw_seconds),
                per(f.total_seconds),
            );
        }
    }
}
