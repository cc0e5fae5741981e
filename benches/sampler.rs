//! Rejection sampling cost: rejected draws per accepted sample, and time per accepted sample
//! with and without rejection (window reads alone), on a (200, 1024, 1024) uint8 image with a
//! uint16 label of spherical blobs (radius 10–40) covering about 1 % (and 0.1 %) of voxels.
//! Input (8, 256, 256), SIZE_THRES 1000, P 0.95, one thread.
//!
//! `cargo bench --bench sampler` (writes its stores once under `target/bench-data/`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use voxload::sampler::{RandomSampler, Rejection, SampleVolume, WindowSettings};
use voxload::store::AnyArray;
use voxload::{Encoding, MappedArray, OpenOptions, PadMode};

const SHAPE: [usize; 3] = [200, 1024, 1024];

/// A label volume of random spheres until `fraction` of the voxels are foreground.
fn blobs(fraction: f64, seed: u64) -> Array3<u16> {
    let mut label = Array3::<u16>::zeros(SHAPE);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let target = (fraction * SHAPE.iter().product::<usize>() as f64) as usize;
    let (mut filled, mut id) = (0usize, 1u16);
    while filled < target {
        let r: i64 = rng.random_range(10..=40);
        let c = [0, 1, 2].map(|a| rng.random_range(0..SHAPE[a] as i64));
        for z in (c[0] - r).max(0)..(c[0] + r + 1).min(SHAPE[0] as i64) {
            for y in (c[1] - r).max(0)..(c[1] + r + 1).min(SHAPE[1] as i64) {
                for x in (c[2] - r).max(0)..(c[2] + r + 1).min(SHAPE[2] as i64) {
                    let d2 = (z - c[0]).pow(2) + (y - c[1]).pow(2) + (x - c[2]).pow(2);
                    let v = &mut label[[z as usize, y as usize, x as usize]];
                    if d2 <= r * r && *v == 0 {
                        *v = id;
                        filled += 1;
                    }
                }
            }
        }
        id = id.wrapping_add(1).max(1);
    }
    label
}

fn store() -> PathBuf {
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/sampler.zarr");
    let complete = |name: &str| AnyArray::open(&store, name, &OpenOptions::default()).is_ok();
    if !complete("image") {
        let shape = SHAPE.map(|v| v as u64);
        voxload::synth::write_volume(
            &store,
            "image",
            shape,
            voxload::store::DEFAULT_CHUNK,
            Encoding::Raw,
            1,
        )
        .unwrap();
    }
    for (name, fraction) in [("label_1pc", 0.01), ("label_01pc", 0.001)] {
        if !complete(name) {
            eprintln!("writing {name} (once)");
            voxload::write_array(
                &store,
                name,
                &blobs(fraction, 3),
                voxload::store::DEFAULT_CHUNK,
                Encoding::Raw,
            )
            .unwrap();
        }
    }
    store
}

fn main() {
    if std::env::args().any(|a| a == "--test") {
        return; // `cargo test --benches` runs nothing heavy
    }
    let store = store();
    let image = MappedArray::<u8>::open(&store, "image").unwrap();
    let mut out = vec![0u8; 8 * 256 * 256];
    println!("| label | rejection | accepted | rejected per accepted | forced | µs per accepted sample |");
    println!("|---|---|---|---|---|---|");
    for label_name in ["label_1pc", "label_01pc"] {
        for size_thres in [-1i64, 1000] {
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
            let sampler = RandomSampler::new(
                vec![volume],
                WindowSettings {
                    pad_mode: PadMode::Reflect,
                    ..WindowSettings::default()
                },
                rejection,
            )
            .unwrap();
            let n = 400u64;
            let start = Instant::now();
            let (mut rejected, mut forced) = (0u64, 0u64);
            for i in 0..n {
                let d = sampler.draw(1, 0, i).unwrap();
                rejected += u64::from(d.rejections);
                forced += u64::from(d.forced);
                image
                    .read_into(d.window, PadMode::Reflect, &mut out)
                    .unwrap();
            }
            let per = start.elapsed().as_secs_f64() / n as f64 * 1e6;
            let mode = if size_thres > 0 {
                "SIZE_THRES 1000, P 0.95"
            } else {
                "off"
            };
            println!(
                "| {label_name} | {mode} | {n} | {:.2} | {forced} | {per:.0} |",
                rejected as f64 / n as f64
            );
        }
    }
}
