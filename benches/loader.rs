//! The loader end to end: samples/s delivered for `(8, 256, 256)` uint8 → float32 windows.
//!
//! On the sampler bench's store (a (200, 1024, 1024) uint8 image, uint16 labels of blobs), one
//! run measures, side by side:
//! 1. PyTC's default augmentation on 1 and 2 workers (scaling), against the same work done
//!    inline without the loader (draw, read, augment, stack), giving the loader's own overhead;
//! 2. no augmentation on 1 worker, uint8 → float32 included, against raw window reads;
//! 3. rejection sampling (1 % foreground, SIZE_THRES 1000, P 0.95) on the full augmented
//!    pipeline against no rejection: what rejection adds per accepted sample.
//!
//! `cargo bench --bench loader` (prints a table; figures recorded in BENCHMARKS.md).

use std::time::Instant;

use voxload::augment::{Compose, TargetKind};
use voxload::loader::{Loader, LoaderBuilder};
use voxload::sampler::{ArrayNames, Rejection, Volume};
use voxload::{Bbox, MappedArray, OpenOptions, PadMode};

#[path = "common/bench_data.rs"]
mod bench_data;

const INPUT: [usize; 3] = [8, 256, 256];
const LABEL: [(&str, TargetKind); 1] = [("label", TargetKind::Mask)];

/// Samples per second over `seconds` after a short warm-up.
fn rate(b: &LoaderBuilder, workers: usize, seconds: f64) -> f64 {
    let mut it = b
        .clone()
        .workers(workers)
        .prefetch(2 * workers)
        .build_prefetch()
        .unwrap();
    for _ in 0..4 {
        it.next().unwrap().unwrap();
    }
    let (t, mut n) = (Instant::now(), 0usize);
    while t.elapsed().as_secs_f64() < seconds {
        n += it.next().unwrap().unwrap().samples.len();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// The serial iterator's rate (same work on the calling thread, no channels).
fn serial_rate(b: &LoaderBuilder, seconds: f64) -> f64 {
    let mut it = b.build().unwrap();
    let (t, mut n) = (Instant::now(), 0usize);
    while t.elapsed().as_secs_f64() < seconds {
        n += it.next().unwrap().unwrap().samples.len();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// The same work as one worker, done inline with no loader at all: draw, read image and label
/// windows, convert, augment — no batching, no channel, no threads.
fn bare_rate(volume: &Volume, compose: &Compose, seconds: f64) -> f64 {
    use voxload::augment::{Sample, Voxels};
    use voxload::sampler::{sample_rng, RandomSampler, WindowSettings};
    use voxload::store::AnyArray;
    let windows = WindowSettings {
        sample: compose.sample_size().map(|v| v as u64),
        input: compose.input_size().map(|v| v as u64),
        ..WindowSettings::default()
    };
    let sampler =
        RandomSampler::new(vec![volume.sample_volume()], windows, Rejection::default()).unwrap();
    let (AnyArray::U8(image), Some(AnyArray::U16(label))) =
        (volume.image().as_ref(), volume.label().map(|l| l.as_ref()))
    else {
        panic!("bench volume: uint8 image, uint16 label");
    };
    let (t, mut n) = (Instant::now(), 0u64);
    while t.elapsed().as_secs_f64() < seconds {
        let d = sampler.draw(0, 0, n).unwrap();
        let im = image
            .read(d.window, PadMode::Reflect)
            .unwrap()
            .mapv(|v| f32::from(v) / 255.0);
        let lb = label.read(d.window, PadMode::Reflect).unwrap();
        let sample = Sample::new(im).with("label", Voxels::U16(lb));
        let out = compose.apply(sample, &mut sample_rng(1, 0, n)).unwrap();
        std::hint::black_box(out.into_parts());
        n += 1;
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    voxload::memory::keep_freed_memory();
    let seconds: f64 = std::env::var("VOXLOAD_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6.0);
    let store = bench_data::store();
    voxload::bench::warm_page_cache(&store.join("image")).unwrap();
    voxload::bench::warm_page_cache(&store.join("label_1pc")).unwrap();
    let volume = |label: bool| {
        let mut names = ArrayNames::new("image");
        if label {
            names = names.label("label_1pc");
        }
        Volume::open(0, &store, &names, &OpenOptions::default()).unwrap()
    };
    let augmented = Loader::builder(
        vec![volume(true)],
        Compose::new(Compose::pytc_defaults(), INPUT, LABEL).unwrap(),
    )
    .batch_size(2);

    // VOXLOAD_BENCH_ONLY_PLAIN=1: only the no-augmentation comparison.
    let only_plain = std::env::var_os("VOXLOAD_BENCH_ONLY_PLAIN").is_some();
    if !only_plain {
        augmented_figures(&augmented, &volume(true), seconds);
    }
    plain_figures(&store, volume(false), seconds);
}

fn augmented_figures(augmented: &LoaderBuilder, volume: &Volume, seconds: f64) {
    let bytes_per_sample = (INPUT.iter().product::<usize>() * 6) as f64; // f32 image + u16 label
    let bare = bare_rate(
        volume,
        &Compose::new(Compose::pytc_defaults(), INPUT, LABEL).unwrap(),
        seconds,
    );
    let serial = serial_rate(augmented, seconds);
    let one = rate(augmented, 1, seconds);
    let two = rate(augmented, 2, seconds);
    println!("augmented (PyTC defaults, image + label), batch 2:");
    println!(
        "  inline, no loader:               {bare:8.1} samples/s (draw, read, convert, augment)"
    );
    println!(
        "  serial iterator (batching):      {serial:8.1} samples/s; overhead {:+.1} % of its time",
        100.0 * (1.0 - serial / bare)
    );
    println!("  prefetch, 1 worker:              {one:8.1} samples/s ({:.0} MB/s); loader overhead {:+.1} % of its time", one * bytes_per_sample / 1e6, 100.0 * (1.0 - one / bare));
    println!(
        "  prefetch, 2 workers:             {two:8.1} samples/s ({:.0} MB/s); {:.2}x 1 worker",
        two * bytes_per_sample / 1e6,
        two / one
    );

    let rejecting = augmented.clone().rejection(Rejection {
        size_thres: 1000,
        p: 0.95,
        ..Rejection::default()
    });
    let mut it = rejecting.clone().workers(1).build_prefetch().unwrap();
    let (t, mut accepted) = (Instant::now(), 0usize);
    while t.elapsed().as_secs_f64() < seconds {
        accepted += it.next().unwrap().unwrap().samples.len();
    }
    let with = accepted as f64 / t.elapsed().as_secs_f64();
    let stats = it.stats();
    println!(
        "rejection (1 % foreground, SIZE_THRES 1000, P 0.95), 1 worker: {with:8.1} accepted samples/s vs {one:.1} without: +{:.1} % time per accepted sample; {:.2} rejected per accepted",
        100.0 * (one / with - 1.0),
        stats.rejected as f64 / stats.samples.max(1) as f64
    );
}

/// Without augmentation against raw window reads, measured in alternating rounds (the VM's
/// speed drifts by tens of percent over seconds): each round times the loader, then raw
/// `MappedArray` reads of the same window size at random positions; the medians are reported.
fn plain_figures(store: &std::path::Path, volume: Volume, seconds: f64) {
    const ROUNDS: usize = 5;
    let plain =
        Loader::builder(vec![volume], Compose::disabled(INPUT, LABEL).unwrap()).batch_size(2);
    let mut it = plain.workers(1).prefetch(2).build_prefetch().unwrap();
    let image = MappedArray::<u8>::open(store, "image").unwrap();
    let mut out = vec![0u8; INPUT.iter().product()];
    let shape = INPUT.map(|v| v as u64);
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let slice = seconds / ROUNDS as f64;
    let (mut loader_rates, mut read_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        // Batches made while the raw reads ran are taken untimed.
        for _ in 0..3 {
            it.next().unwrap().unwrap();
        }
        let (t, mut n) = (Instant::now(), 0usize);
        while t.elapsed().as_secs_f64() < slice {
            n += it.next().unwrap().unwrap().samples.len();
        }
        let loader = n as f64 / t.elapsed().as_secs_f64();
        let (t, mut n) = (Instant::now(), 0u64);
        while t.elapsed().as_secs_f64() < slice {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let begin = [
                (rng % 190) as i64,
                ((rng >> 16) % 760) as i64,
                ((rng >> 32) % 760) as i64,
            ];
            image
                .read_into(Bbox::new(begin, shape), PadMode::Reflect, &mut out)
                .unwrap();
            n += 1;
        }
        let reads = n as f64 / t.elapsed().as_secs_f64();
        loader_rates.push(loader);
        read_rates.push(reads);
        ratios.push(reads / loader);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let spread = format!(
        "{:.2}..{:.2}",
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max)
    );
    let (loader, reads, ratio) = (
        median(&mut loader_rates),
        median(&mut read_rates),
        median(&mut ratios),
    );
    println!("no augmentation, image only, 1 worker: {loader:8.1} samples/s ({:.0} MB/s float32); raw uint8 window reads {reads:8.1}/s; median of {ROUNDS} alternating rounds: {ratio:.2}x slower (rounds {spread})", loader * INPUT.iter().product::<usize>() as f64 * 4.0 / 1e6);
}
