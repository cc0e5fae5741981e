//! Learning targets per sample, single thread: affinity, instance boundary, every distance
//! transform (and the diffusion gradients and weights), each beside a plain copy of the label
//! window, on windows `(8, 256, 256)` and `(17, 225, 225)` of random instances.
//!
//! The label is a Voronoi partition of the window into about one cell per 4 000 voxels (z
//! distances counted 4×, as in anisotropic EM), 10 % of the cells background: dense touching
//! objects like a neuron segmentation. Each case runs until it has at least 5 samples and 2 s,
//! and reports the median time per sample and ns per voxel, and the fastest sample.
//!
//! The `learn …` cases time whole `MODEL.TARGET_OPT`/`WEIGHT_OPT` configurations as the
//! loader's workers compute them ([`Learning`]): the label as `uint16` (the demo's type) with a
//! `uint8` valid mask, every array written into buffers reused from the previous sample
//! (`learn bc` is MitoEM's `['0', '4-1-1']` with ratio weights, `learn aff` SNEMI's `'2'` with
//! one); `fill f32` is the floor they stand on, one plain pass of stores over a `float32` array
//! of the window, `stream f32` the same with non-temporal stores (as batch arrays are written).
//!
//! `cargo bench --bench targets` runs every case; `cargo bench --bench targets -- 5-3d` only
//! the options whose string contains `5-3d` (`memcpy` and `edt` name the copy and the bare
//! distance transform, `learn` the configurations).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use voxload::augment::Voxels;
use voxload::loader::{Learning, TargetSpec};
use voxload::target::{distance_transform, TargetOpt, WeightOpt};

const SHAPES: [[usize; 3]; 2] = [[8, 256, 256], [17, 225, 225]];
const TARGETS: [&str; 12] = [
    "2",
    "2-1-3-3-v1",
    "4-1-1",
    "4-1-0",
    "5",
    "5-3d-1-0-5.0-0",
    "5-2d-1-1-5.0-1",
    "6",
    "6-3d-8-50",
    "8-3-5",
    "7",
    "3-100-4-0",
];
const WEIGHTS: [&str; 3] = ["1", "1-1", "2-10-5"];
/// Whole configurations: name, then `(TARGET_OPT[k], WEIGHT_OPT[k])`.
type Config = (
    &'static str,
    &'static [(&'static str, &'static [&'static str])],
);
const LEARNING: [Config; 7] = [
    ("learn bc", &[("0", &["1"]), ("4-1-1", &["1"])]),
    ("learn aff", &[("2", &["1"])]),
    ("learn 0", &[("0", &[])]),
    ("learn 4-1-1", &[("4-1-1", &[])]),
    ("learn 2", &[("2", &[])]),
    ("learn 0 w1", &[("0", &["1"])]),
    ("learn 2 w1-1", &[("2", &["1-1"])]),
];

/// `config` as the loader's learning stage.
fn learning(config: &[(&str, &[&str])]) -> Learning {
    Learning {
        targets: config
            .iter()
            .map(|(t, ws)| TargetSpec {
                target: t.parse().unwrap(),
                weights: ws.iter().map(|w| w.parse().unwrap()).collect(),
            })
            .collect(),
        ..Learning::default()
    }
}

/// Random instances: the nearest of `voxels / 4000` random seeds (z weighted 4×), a tenth of
/// the cells background.
fn random_instances(shape: [usize; 3], seed: u64) -> Array3<u64> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let count = shape.iter().product::<usize>() / 4000;
    let seeds: Vec<([f64; 3], u64)> = (0..count)
        .map(|i| {
            let c = [0, 1, 2].map(|a| rng.random_range(0.0..shape[a] as f64));
            let id = if rng.random_bool(0.1) {
                0
            } else {
                i as u64 + 1
            };
            (c, id)
        })
        .collect();
    Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| {
        let p = [z as f64 * 4.0, y as f64, x as f64];
        seeds
            .iter()
            .map(|(c, id)| {
                let d = (p[0] - c[0] * 4.0).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2);
                (d, *id)
            })
            .fold((f64::INFINITY, 0), |best, cand| {
                if cand.0 < best.0 {
                    cand
                } else {
                    best
                }
            })
            .1
    })
}

/// Fills `out` with `v` by non-temporal stores (AVX), as the loader writes batch arrays: the
/// memory-bandwidth floor of writing one `float32` array of the window.
fn stream_fill(out: &mut [f32], v: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX, checked just above.
        unsafe { stream_fill_avx(out, v) };
        return;
    }
    out.fill(v);
}

/// [`stream_fill`] with AVX.
///
/// # Safety
/// The CPU must support AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn stream_fill_avx(out: &mut [f32], v: f32) {
    use std::arch::x86_64::{_mm256_set1_ps, _mm256_stream_ps, _mm_sfence};
    let head = out.as_ptr().align_offset(32).min(out.len());
    let (first, rest) = out.split_at_mut(head);
    first.fill(v);
    let mut chunks = rest.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: `c` is 8 floats at a 32-byte aligned address (`head` aligns the first,
        // each is 32 bytes long).
        unsafe { _mm256_stream_ps(c.as_mut_ptr(), _mm256_set1_ps(v)) };
    }
    chunks.into_remainder().fill(v);
    _mm_sfence();
}

/// The median and the fastest seconds per call of `f`, over at least 5 calls and 2 s (on a
/// shared machine the fastest call is the one least disturbed).
fn time(mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm-up
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    println!(
        "{:<18} {:>15} {:>12} {:>10} {:>10} {:>10}",
        "case", "window", "ms/sample", "ns/voxel", "× memcpy", "min ms"
    );
    for shape in SHAPES {
        let label = random_instances(shape, 7);
        let voxels = label.len() as f64;
        let window = format!("{shape:?}");
        let mut copy = vec![0u64; label.len()];
        let source = label.as_slice().expect("standard layout");
        let memcpy = time(|| {
            copy.copy_from_slice(black_box(source));
            black_box(&copy);
        });
        let row = |name: &str, (s, fastest): (f64, f64)| {
            println!(
                "{name:<18} {window:>15} {:>12.3} {:>10.2} {:>10.0} {:>10.3}",
                s * 1e3,
                s * 1e9 / voxels,
                s / memcpy.0,
                fastest * 1e3
            );
        };
        if wanted("memcpy") {
            row("memcpy (u64)", memcpy);
        }
        if wanted("edt") {
            let mask = label.mapv(|v| v != 0);
            row(
                "edt (6,1,1)",
                time(|| {
                    black_box(distance_transform(mask.view(), [6.0, 1.0, 1.0]).unwrap());
                }),
            );
        }
        for opt in TARGETS.iter().filter(|o| wanted(o)) {
            let t: TargetOpt = opt.parse().unwrap();
            row(
                opt,
                time(|| {
                    black_box(t.compute(label.view(), false).unwrap());
                }),
            );
        }
        let label16 = Voxels::from(label.mapv(|v| v as u16));
        let mask = Voxels::from(Array3::from_shape_fn(label.dim(), |(_, _, x)| {
            u8::from(x >= 16)
        }));
        if wanted("fill f32") {
            let mut out = vec![0f32; label.len()];
            row(
                "fill f32",
                time(|| {
                    out.fill(black_box(1.0));
                    black_box(&out);
                }),
            );
        }
        if wanted("stream f32") {
            let mut out = vec![0f32; label.len()];
            row(
                "stream f32",
                time(|| {
                    stream_fill(&mut out, black_box(1.0));
                    black_box(&out);
                }),
            );
        }
        for (name, config) in LEARNING.iter().filter(|(n, _)| wanted(n)) {
            let learning = learning(config);
            let mut arrays = Vec::new();
            row(
                name,
                time(|| {
                    learning
                        .compute_reusing(Some(&label16), Some(&mask), false, &mut arrays)
                        .unwrap();
                    black_box(&arrays);
                }),
            );
        }
        let foreground = "0"
            .parse::<TargetOpt>()
            .unwrap()
            .compute(label.view(), false)
            .unwrap();
        for opt in WEIGHTS.iter().filter(|o| wanted(&format!("weight {o}"))) {
            let w: WeightOpt = opt.parse().unwrap();
            row(
                &format!("weight {opt}"),
                time(|| {
                    black_box(
                        w.compute(foreground.view(), None, label.view(), false)
                            .unwrap(),
                    );
                }),
            );
        }
    }
}
