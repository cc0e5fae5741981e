//! The benchmark data shared by the sampler and loader benches: a (200, 1024, 1024) uint8
//! EM-like image and uint16 labels of spherical blobs (radius 10–40) covering 1 % and 0.1 % of
//! the voxels, written once under `target/bench-data/sampler.zarr`.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use voxload::store::AnyArray;
use voxload::{Encoding, OpenOptions};

/// The volume's shape.
pub const SHAPE: [usize; 3] = [200, 1024, 1024];

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

/// The bench store, written on first use.
pub fn store() -> PathBuf {
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
