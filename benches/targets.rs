//! Learning targets per sample, single thread: affinity, instance boundary, every distance
//! transform (and the diffusion gradients and weights), each beside a plain copy of the label
//! window, on windows `(8, 256, 256)` and `(17, 225, 225)` of random instances.
//!
//! The label is a Voronoi partition of the window into about one cell per 4 000 voxels (z
//! distances counted 4×, as in anisotropic EM), 10 % of the cells background: dense touching
//! objects like a neuron segmentation. Each case runs until it has at least 5 samples and 2 s,
//! and reports the median time per sample and ns per voxel.
//!
//! `cargo bench --bench targets` runs every case; `cargo bench --bench targets -- 5-3d` only
//! the options whose string contains `5-3d` (`memcpy` and `edt` name the copy and the bare
//! distance transform).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ndarray::Array3;
use rand::{Rng, SeedableRng};
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

/// Median seconds per call of `f`, over at least 5 calls and 2 s.
fn time(mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed() < Duration::from_secs(2) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    println!(
        "{:<18} {:>15} {:>12} {:>10} {:>10}",
        "case", "window", "ms/sample", "ns/voxel", "× memcpy"
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
        let row = |name: &str, s: f64| {
            println!(
                "{name:<18} {window:>15} {:>12.3} {:>10.2} {:>10.0}",
                s * 1e3,
                s * 1e9 / voxels,
                s / memcpy
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
