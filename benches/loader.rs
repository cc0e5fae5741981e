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
//! The VM's speed drifts by tens of percent over seconds, so every comparison is measured in
//! alternating rounds (each case for a slice of time, in turn, five times) and the medians of
//! the per-round ratios are reported, with their range.
//!
//! `cargo bench --bench loader` (prints a table; figures recorded in BENCHMARKS.md;
//! `VOXLOAD_BENCH_SECONDS` per case, default 6; `VOXLOAD_BENCH_ONLY_PLAIN=1` for part 2 only).

use std::time::Instant;

use voxload::loader::Batch;

use voxload::augment::{Compose, TargetKind};
use voxload::loader::{Loader, LoaderBuilder};
use voxload::sampler::{ArrayNames, Rejection, Volume};
use voxload::{Bbox, MappedArray, OpenOptions, PadMode};

#[path = "common/bench_data.rs"]
mod bench_data;

const INPUT: [usize; 3] = [8, 256, 256];
const LABEL: [(&str, TargetKind); 1] = [("label", TargetKind::Mask)];

const ROUNDS: usize = 5;

/// Samples per second delivered by `it` over `seconds`, after taking `untimed` batches (those
/// made ahead while other cases ran).
fn rate(
    it: &mut impl Iterator<Item = voxload::Result<Batch>>,
    untimed: usize,
    seconds: f64,
) -> f64 {
    for _ in 0..untimed {
        it.next().unwrap().unwrap();
    }
    let (t, mut n) = (Instant::now(), 0usize);
    while t.elapsed().as_secs_f64() < seconds {
        n += it.next().unwrap().unwrap().samples.len();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// Runs every case for `seconds / ROUNDS` in turn, `ROUNDS` times: `rates[case][round]`.
fn alternate(seconds: f64, cases: &mut [&mut dyn FnMut(f64) -> f64]) -> Vec<Vec<f64>> {
    let mut rates = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (case, rates) in cases.iter_mut().zip(&mut rates) {
            rates.push(case(seconds / ROUNDS as f64));
        }
    }
    rates
}

/// The median of `f(round)` over the rounds, and its range, as text.
fn median_of(f: impl Fn(usize) -> f64) -> (f64, String) {
    let mut v: Vec<f64> = (0..ROUNDS).map(f).collect();
    v.sort_by(f64::total_cmp);
    (v[ROUNDS / 2], format!("{:.2}..{:.2}", v[0], v[ROUNDS - 1]))
}

/// The same work as one worker, done inline with no loader at all: draw, read image and label
/// windows into pooled buffers, convert, augment, recycle — no batching, no copy into a batch,
/// no channel, no threads.
fn bare_rate(volume: &Volume, compose: &Compose, n: &mut u64, seconds: f64) -> f64 {
    use ndarray::Array3;
    use voxload::augment::{Sample, Voxels};
    use voxload::recycle;
    use voxload::sampler::{sample_rng, RandomSampler, WindowSettings};
    use voxload::store::AnyArray;
    let windows = WindowSettings {
        sample: compose.sample_size().map(|v| v as u64),
        input: compose.input_size().map(|v| v as u64),
        ..WindowSettings::default()
    };
    let sampler =
        RandomSampler::new(vec![volume.sample_volume()], windows, Rejection::default()).unwrap();
    let (image, Some(AnyArray::U16(label))) =
        (volume.image().as_ref(), volume.label().map(|l| l.as_ref()))
    else {
        panic!("bench volume: uint8 image, uint16 label");
    };
    // The same buffers the loader's workers use: the thread's pools.
    let (t, first) = (Instant::now(), *n);
    while t.elapsed().as_secs_f64() < seconds {
        let d = sampler.draw(0, 0, *n).unwrap();
        let [z, y, x] = d.window.shape.map(|v| v as usize);
        let mut im = recycle::take::<f32>(z * y * x);
        image
            .read_image_into(d.window, PadMode::Reflect, &mut im)
            .unwrap();
        let mut lb = recycle::take::<u16>(z * y * x);
        label
            .read_into(d.window, PadMode::Reflect, &mut lb)
            .unwrap();
        let sample = Sample::new(Array3::from_shape_vec((z, y, x), im).unwrap()).with(
            "label",
            Voxels::U16(Array3::from_shape_vec((z, y, x), lb).unwrap()),
        );
        let out = compose.apply(sample, &mut sample_rng(1, 0, *n)).unwrap();
        for (_, data) in out.into_parts().0 {
            match std::hint::black_box(data) {
                Voxels::F32(a) => recycle::give_array(a),
                Voxels::U16(a) => recycle::give_array(a),
                _ => unreachable!("float32 image, uint16 label"),
            }
        }
        *n += 1;
    }
    (*n - first) as f64 / t.elapsed().as_secs_f64()
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
    if std::env::var_os("VOXLOAD_BENCH_ONLY_PLAIN").is_none() {
        augmented_figures(&volume(true), seconds);
    }
    plain_figures(&store, volume(false), seconds);
}

fn augmented_figures(volume: &Volume, seconds: f64) {
    let compose = || Compose::new(Compose::pytc_defaults(), INPUT, LABEL).unwrap();
    let augmented = Loader::builder(vec![volume.clone()], compose()).batch_size(2);
    let rejecting = augmented.clone().rejection(Rejection {
        size_thres: 1000,
        p: 0.95,
        ..Rejection::default()
    });
    let prefetch = |b: &LoaderBuilder, workers: usize| {
        b.clone()
            .workers(workers)
            .prefetch(2 * workers)
            .build_prefetch()
            .unwrap()
    };
    let bare_compose = compose();
    let mut serial = augmented.build().unwrap();
    let (mut one, mut two) = (prefetch(&augmented, 1), prefetch(&augmented, 2));
    let mut rejecting = prefetch(&rejecting, 1);
    let mut n = 0u64;
    let r = alternate(
        seconds,
        &mut [
            &mut |s| bare_rate(volume, &bare_compose, &mut n, s),
            &mut |s| rate(&mut serial, 0, s),
            &mut |s| rate(&mut one, 2, s),
            &mut |s| rate(&mut two, 4, s),
            &mut |s| rate(&mut rejecting, 2, s),
        ],
    );
    let (bare, serial_rate, one_rate, two_rate, rej_rate) = (
        median_of(|i| r[0][i]).0,
        median_of(|i| r[1][i]).0,
        median_of(|i| r[2][i]).0,
        median_of(|i| r[3][i]).0,
        median_of(|i| r[4][i]).0,
    );
    let overhead = |case: usize| median_of(|i| 100.0 * (1.0 - r[case][i] / r[0][i]));
    let bytes_per_sample = (INPUT.iter().product::<usize>() * 6) as f64; // f32 image + u16 label
    let mb = |rate: f64| rate * bytes_per_sample / 1e6;
    println!("augmented (PyTC defaults, image + label), batch 2; medians of {ROUNDS} alternating rounds:");
    println!("  inline, no loader:     {bare:7.1} samples/s (draw, read, convert, augment)");
    let (o, range) = overhead(1);
    println!("  serial iterator:       {serial_rate:7.1} samples/s; overhead {o:+.1} % ({range})");
    let (o, range) = overhead(2);
    println!(
        "  prefetch, 1 worker:    {one_rate:7.1} samples/s ({:.0} MB/s); loader overhead {o:+.1} % ({range})",
        mb(one_rate)
    );
    let (scaling, range) = median_of(|i| r[3][i] / r[2][i]);
    println!(
        "  prefetch, 2 workers:   {two_rate:7.1} samples/s ({:.0} MB/s); {scaling:.2}x 1 worker ({range})",
        mb(two_rate)
    );
    let (extra, range) = median_of(|i| 100.0 * (r[2][i] / r[4][i] - 1.0));
    let stats = rejecting.stats();
    println!(
        "rejection (1 % foreground, SIZE_THRES 1000, P 0.95), 1 worker: {rej_rate:7.1} accepted samples/s: {extra:+.1} % time per accepted sample ({range}); {:.2} rejected per accepted",
        stats.rejected as f64 / stats.samples.max(1) as f64
    );
}

fn plain_figures(store: &std::path::Path, volume: Volume, seconds: f64) {
    let plain =
        Loader::builder(vec![volume], Compose::disabled(INPUT, LABEL).unwrap()).batch_size(2);
    let mut it = plain.workers(1).prefetch(2).build_prefetch().unwrap();
    let image = MappedArray::<u8>::open(store, "image").unwrap();
    let mut out = vec![0u8; INPUT.iter().product()];
    let shape = INPUT.map(|v| v as u64);
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut reads = |slice: f64| {
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
        n as f64 / t.elapsed().as_secs_f64()
    };
    let r = alternate(seconds, &mut [&mut |s| rate(&mut it, 3, s), &mut reads]);
    let (loader, raw) = (median_of(|i| r[0][i]).0, median_of(|i| r[1][i]).0);
    let (ratio, range) = median_of(|i| r[1][i] / r[0][i]);
    println!(
        "no augmentation, image only, 1 worker: {loader:8.1} samples/s ({:.0} MB/s float32); raw uint8 window reads {raw:8.1}/s; {ratio:.2}x slower ({range}); medians of {ROUNDS} alternating rounds",
        loader * INPUT.iter().product::<usize>() as f64 * 4.0 / 1e6
    );
}
