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

/// Rounds of every comparison (`VOXLOAD_BENCH_ROUNDS`, default 5, odd for a true median).
fn rounds() -> usize {
    static ROUNDS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *ROUNDS.get_or_init(|| {
        std::env::var("VOXLOAD_BENCH_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5)
    })
}

/// The seed of every augmented stream here.
const SEED: u64 = 3;

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

/// Runs every case for `seconds / rounds()` in turn, `rounds()` times: `rates[case][round]`.
fn alternate(seconds: f64, cases: &mut [&mut dyn FnMut(f64) -> f64]) -> Vec<Vec<f64>> {
    let mut rates = vec![Vec::new(); cases.len()];
    for _ in 0..rounds() {
        for (case, rates) in cases.iter_mut().zip(&mut rates) {
            rates.push(case(seconds / rounds() as f64));
        }
    }
    rates
}

/// The median of `f(round)` over the rounds, and its range, as text.
fn median_of(f: impl Fn(usize) -> f64) -> (f64, String) {
    let mut v: Vec<f64> = (0..rounds()).map(f).collect();
    v.sort_by(f64::total_cmp);
    (
        v[rounds() / 2],
        format!("{:.2}..{:.2}", v[0], v[rounds() - 1]),
    )
}

/// The same work as one worker, done inline with no loader at all: draw, read image and label
/// windows into pooled buffers, convert, augment, recycle — no batching, no copy into a batch,
/// no channel, no threads.
fn bare_rate(volume: &Volume, compose: &Compose, epoch: u64, samples: u64) -> f64 {
    use ndarray::Array3;
    use voxload::augment::{Sample, Voxels};
    use voxload::internals::recycle;
    use voxload::sampler::{RandomSampler, WindowSettings};
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
    let t = Instant::now();
    for n in 0..samples {
        let d = sampler.draw(SEED, epoch, n).unwrap();
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
        let out = compose
            .apply(sample, &mut voxload::loader::augment_rng(SEED, 0, epoch, n))
            .unwrap();
        for (_, data) in out.into_parts().0 {
            match std::hint::black_box(data) {
                Voxels::F32(a) => recycle::give_array(a),
                Voxels::U16(a) => recycle::give_array(a),
                _ => unreachable!("float32 image, uint16 label"),
            }
        }
    }
    samples as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    voxload::internals::memory::keep_freed_memory();
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

/// Samples/s of a loader making exactly `samples` samples of `epoch`, from its start.
fn stream_rate(b: &LoaderBuilder, epoch: u64, samples: u64, workers: Option<usize>) -> f64 {
    let b = b.clone().epoch(epoch).samples(samples);
    let t = Instant::now();
    let n: usize = match workers {
        None => b.build().unwrap().map(|x| x.unwrap().samples.len()).sum(),
        Some(w) => b
            .workers(w)
            .prefetch(2 * w)
            .build_prefetch()
            .unwrap()
            .map(|x| x.unwrap().samples.len())
            .sum(),
    };
    assert_eq!(n as u64, samples);
    n as f64 / t.elapsed().as_secs_f64()
}

/// Every case makes the same samples in a round (the same draws and transform parameters: the
/// per-sample cost varies a lot with the transforms drawn), a new epoch each round.
fn augmented_figures(volume: &Volume, seconds: f64) {
    let compose = || Compose::new(Compose::pytc_defaults(), INPUT, LABEL).unwrap();
    let augmented = Loader::builder(vec![volume.clone()], compose())
        .batch_size(2)
        .seed(SEED);
    // The foreground index is built once here, not by every loader built below (each round
    // builds new loaders).
    let index = voxload::sampler::ForegroundIndex::build(
        volume.label().expect("a label"),
        voxload::sampler::DEFAULT_BLOCK,
    )
    .unwrap();
    let rejecting = augmented
        .clone()
        .rejection(Rejection {
            size_thres: 1000,
            p: 0.95,
            ..Rejection::default()
        })
        .foreground_index(0, std::sync::Arc::new(index));
    // About `seconds / rounds()` per case and round at ~70 samples/s.
    let samples = ((seconds / rounds() as f64 * 70.0) as u64).max(16) / 2 * 2;
    let bare_compose = compose();
    // Round k of every case is epoch k.
    let epochs: [std::cell::Cell<u64>; 5] = Default::default();
    let next = |case: usize| {
        epochs[case].set(epochs[case].get() + 1);
        epochs[case].get()
    };
    let r = alternate(
        seconds,
        &mut [
            &mut |_| bare_rate(volume, &bare_compose, next(0), samples),
            &mut |_| stream_rate(&augmented, next(1), samples, None),
            &mut |_| stream_rate(&augmented, next(2), samples, Some(1)),
            &mut |_| stream_rate(&augmented, next(3), samples, Some(2)),
            &mut |_| stream_rate(&rejecting, next(4), samples, Some(1)),
        ],
    );
    let rate = |case: usize| median_of(|i| r[case][i]).0;
    let overhead = |case: usize| median_of(|i| 100.0 * (1.0 - r[case][i] / r[0][i]));
    let bytes_per_sample = (INPUT.iter().product::<usize>() * 6) as f64; // f32 image + u16 label
    let mb = |rate: f64| rate * bytes_per_sample / 1e6;
    println!("augmented (PyTC defaults, image + label), batch 2; {samples} samples per case and round, the same in every case; medians of {} rounds:", rounds());
    println!(
        "  inline, no loader:     {:7.1} samples/s (draw, read, convert, augment)",
        rate(0)
    );
    let (o, range) = overhead(1);
    println!(
        "  serial iterator:       {:7.1} samples/s; overhead {o:+.1} % ({range})",
        rate(1)
    );
    let (o, range) = overhead(2);
    println!(
        "  prefetch, 1 worker:    {:7.1} samples/s ({:.0} MB/s); loader overhead {o:+.1} % ({range})",
        rate(2),
        mb(rate(2))
    );
    let (scaling, range) = median_of(|i| r[3][i] / r[2][i]);
    println!(
        "  prefetch, 2 workers:   {:7.1} samples/s ({:.0} MB/s); {scaling:.2}x 1 worker ({range})",
        rate(3),
        mb(rate(3))
    );
    let (extra, range) = median_of(|i| 100.0 * (r[2][i] / r[4][i] - 1.0));
    println!(
        "rejection (1 % foreground, SIZE_THRES 1000, P 0.95), 1 worker: {:7.1} accepted samples/s: {extra:+.1} % time per accepted sample ({range})",
        rate(4)
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
        "no augmentation, image only, 1 worker: {loader:8.1} samples/s ({:.0} MB/s float32); raw uint8 window reads {raw:8.1}/s; {ratio:.2}x slower ({range}); medians of {} alternating rounds",
        loader * INPUT.iter().product::<usize>() as f64 * 4.0 / 1e6,
        rounds()
    );
}
