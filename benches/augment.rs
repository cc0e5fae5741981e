//! Augmentation per sample, single thread: every PyTC transform alone (`P` 1, plus the centre
//! crop), PyTC's full default chain (default probabilities), and the Elastic + Rotate (angle) +
//! Rescale combination that `benches/run_augment_bench.sh` compares with batchgenerators'
//! `SpatialTransform`. Outputs `(8, 256, 256)` and `(32, 256, 256)` with one `uint16` mask
//! target; each input is the Compose's sample size, prepared outside the timed region
//! (criterion's `iter_batched`, one input per iteration: freshly written, as the loader's window
//! is), and every iteration draws from a fresh sample RNG, so the
//! figures average over the random parameters.
//!
//! `cargo bench --bench augment` prints, after criterion's own report, a table of the median
//! time per sample and ns per output voxel (`Throughput::Elements` is the output voxels).
//! `cargo bench --bench augment -- full` runs only the full chains.

use std::cell::Cell;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use ndarray::Array3;
use voxload::augment::{
    Compose, CutBlur, CutNoise, Elastic, Flip, Grayscale, MisAlignment, MissingParts,
    MissingSection, MotionBlur, Rescale, Rotate, Sample, TargetKind, Transform, Voxels,
};
use voxload::sampler::sample_rng;

const OUTPUTS: [[usize; 3]; 2] = [[8, 256, 256], [32, 256, 256]];
const LABEL: [(&str, TargetKind); 1] = [("label", TargetKind::Mask)];
const GROUP: &str = "augment";

/// Every transform of the set with `P` 1 and PyTC's other defaults.
fn single_transforms() -> Vec<(&'static str, Vec<Box<dyn Transform>>)> {
    let one = |t: Box<dyn Transform>| vec![t];
    vec![
        (
            "Rotate90",
            one(Box::new(Rotate {
                p: 1.0,
                rot90: true,
            })),
        ),
        (
            "RotateAngle",
            one(Box::new(Rotate {
                p: 1.0,
                rot90: false,
            })),
        ),
        (
            "Rescale",
            one(Box::new(Rescale {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "Flip",
            one(Box::new(Flip {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "Elastic",
            one(Box::new(Elastic {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "Grayscale",
            one(Box::new(Grayscale {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "MissingParts",
            one(Box::new(MissingParts {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "MissingSection",
            one(Box::new(MissingSection {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "MisAlignment",
            one(Box::new(MisAlignment {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "MotionBlur",
            one(Box::new(MotionBlur {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "CutBlur",
            one(Box::new(CutBlur {
                p: 1.0,
                ..Default::default()
            })),
        ),
        (
            "CutNoise",
            one(Box::new(CutNoise {
                p: 1.0,
                ..Default::default()
            })),
        ),
    ]
}

/// Rotate (any angle), Rescale and Elastic, `P` 1, in PyTC's list order: the work of
/// batchgenerators' `SpatialTransform` (rotation, scaling, elastic deformation).
pub fn spatial() -> Vec<Box<dyn Transform>> {
    vec![
        Box::new(Rotate {
            p: 1.0,
            rot90: false,
        }),
        Box::new(Rescale {
            p: 1.0,
            ..Default::default()
        }),
        Box::new(Elastic {
            p: 1.0,
            ..Default::default()
        }),
    ]
}

/// An EM-like image and a label of 20-voxel blocks, of `shape`.
fn inputs([d, h, w]: [usize; 3]) -> (Array3<f32>, Array3<u16>) {
    let image = Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        ((z * 31 + y * 7 + x * 3 + (y * x) % 13) % 251) as f32 / 250.0
    });
    let label = Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        ((z / 3) * 100 + (y / 20) * 10 + x / 20) as u16
    });
    (image, label)
}

fn case(c: &mut Criterion, id: &str, transforms: Vec<Box<dyn Transform>>, out: [usize; 3]) {
    let compose = Compose::new(transforms, out, LABEL).unwrap();
    let (image, label) = inputs(compose.sample_size());
    let voxels = out.iter().product::<usize>() as u64;
    let mut group = c.benchmark_group(GROUP);
    group
        .throughput(Throughput::Elements(voxels))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200));
    let k = Cell::new(0u64);
    let param = format!("{}x{}x{}", out[0], out[1], out[2]);
    group.bench_with_input(BenchmarkId::new(id, &param), &compose, |b, compose| {
        b.iter_batched(
            || {
                k.set(k.get() + 1);
                let sample = Sample::new(image.clone()).with("label", Voxels::U16(label.clone()));
                (sample, sample_rng(17, 0, k.get()))
            },
            |(sample, mut rng)| compose.apply(sample, &mut rng).unwrap().into_parts(),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// The median of criterion's estimate for `id/param`, in ns per sample.
fn median_ns(id: &str, param: &str, since: std::time::SystemTime) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    );
    let path = dir.join(format!("criterion/{GROUP}/{id}/{param}/new/estimates.json"));
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None; // not run this time (filtered out)
    }
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn main() {
    voxload::internals::memory::keep_freed_memory();
    let start = std::time::SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    let mut ids = Vec::new();
    for out in OUTPUTS {
        for (name, transforms) in single_transforms() {
            case(&mut c, name, transforms, out);
            ids.push((name.to_string(), out));
        }
        case(&mut c, "Spatial(Rotate+Rescale+Elastic)", spatial(), out);
        ids.push(("Spatial(Rotate+Rescale+Elastic)".into(), out));
        case(&mut c, "PyTC-full-chain", Compose::pytc_defaults(), out);
        ids.push(("PyTC-full-chain".into(), out));
    }
    c.final_summary();
    println!("\n| case (single transforms P 1, + crop) | output | ms/sample (median) | ns/output voxel |");
    println!("|---|---|---:|---:|");
    for (name, out) in ids {
        let param = format!("{}x{}x{}", out[0], out[1], out[2]);
        if let Some(ns) = median_ns(&name, &param, start) {
            let per_voxel = ns / out.iter().product::<usize>() as f64;
            println!("| {name} | {param} | {:.3} | {per_voxel:.2} |", ns / 1e6);
        }
    }
}
