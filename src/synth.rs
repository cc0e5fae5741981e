//! Synthetic EM-like volumes for the demo, benchmarks and tests.
//!
//! The texture is cheap to compute and deterministic: smooth membranes-like bands from a few
//! sinusoids plus hashed noise, so compressors and readers see realistic-looking bytes.

use std::path::Path;

use ndarray::Array3;
use serde_json::Map;

use crate::{ArrayWriter, Encoding, Result, Shape};

/// The synthetic intensity at `(z, y, x)` for `seed`.
///
/// ```
/// let a = voxload::synth::intensity(1, 2, 3, 0);
/// assert_eq!(a, voxload::synth::intensity(1, 2, 3, 0));
/// ```
#[must_use]
pub fn intensity(z: u64, y: u64, x: u64, seed: u64) -> u8 {
    let (zf, yf, xf) = (z as f32, y as f32, x as f32);
    let bands = (xf * 0.071 + zf * 0.13).sin() + (yf * 0.053 - xf * 0.021).cos();
    let mut h = (z.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        ^ (y.wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        ^ (x.wrapping_mul(0x1656_67B1_9E37_79F9))
        ^ seed;
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    let noise = (h & 0x1F) as f32;
    (110.0 + 45.0 * bands + noise).clamp(0.0, 255.0) as u8
}

/// A synthetic volume held in memory.
#[must_use]
pub fn volume(shape: Shape, seed: u64) -> Array3<u8> {
    let [d, h, w] = shape.map(|v| v as usize);
    Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        intensity(z as u64, y as u64, x as u64, seed)
    })
}

/// Writes a synthetic `uint8` volume as array `name`, one slab of `slab_depth` slices at a
/// time so memory stays bounded whatever the volume size; returns the bytes written.
///
/// # Errors
/// As [`ArrayWriter::create`] and [`ArrayWriter::write_region`].
pub fn write_volume(
    store: &Path,
    name: &str,
    shape: Shape,
    chunk: Shape,
    encoding: Encoding,
    seed: u64,
) -> Result<u64> {
    let writer = ArrayWriter::<u8>::create(store, name, shape, chunk, encoding, Map::new(), true)?;
    let slab_depth = match encoding {
        Encoding::ShardedRaw { shard } => shard[0],
        _ => chunk[0],
    };
    let mut z0 = 0;
    while z0 < shape[0] {
        let depth = slab_depth.min(shape[0] - z0);
        let slab = Array3::from_shape_fn(
            (depth as usize, shape[1] as usize, shape[2] as usize),
            |(z, y, x)| intensity(z0 + z as u64, y as u64, x as u64, seed),
        );
        writer.write_region([z0, 0, 0], slab.view())?;
        z0 += depth;
    }
    writer.finish()?;
    Ok(shape.iter().product())
}
