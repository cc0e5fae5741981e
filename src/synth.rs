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

/// The image format of a synthetic tile dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileFormat {
    /// 8-bit grayscale PNG.
    Png,
    /// 8-bit grayscale TIFF, LZW-compressed.
    TiffLzw,
}

/// Writes a synthetic `uint8` volume as a PyTorch Connectomics tile dataset: `dir/NNNN/` holds
/// slice `NNNN`'s `{row}_{column}` tiles of `tile` pixels, and `dir/tiles.json` describes it.
/// Slices are encoded in parallel. Returns the JSON's path.
///
/// # Errors
/// I/O and encoding errors, as [`std::io::Error`].
pub fn write_tile_dataset(
    dir: &Path,
    shape: Shape,
    tile: u64,
    format: TileFormat,
    seed: u64,
) -> std::io::Result<std::path::PathBuf> {
    use rayon::prelude::*;
    let ext = match format {
        TileFormat::Png => "png",
        TileFormat::TiffLzw => "tif",
    };
    let [depth, height, width] = shape;
    (0..depth)
        .into_par_iter()
        .try_for_each(|z| -> std::io::Result<()> {
            let folder = dir.join(format!("{z:04}"));
            std::fs::create_dir_all(&folder)?;
            for row in 0..height.div_ceil(tile) {
                for col in 0..width.div_ceil(tile) {
                    let (y0, x0) = (row * tile, col * tile);
                    let (h, w) = (tile.min(height - y0), tile.min(width - x0));
                    let pixels: Vec<u8> = (0..h * w)
                        .map(|i| intensity(z, y0 + i / w, x0 + i % w, seed))
                        .collect();
                    let path = folder.join(format!("{row}_{col}.{ext}"));
                    encode_gray8(&path, w as u32, h as u32, &pixels, format)?;
                }
            }
            Ok(())
        })?;
    let spec = serde_json::json!({
        "depth": depth, "height": height, "width": width, "tile_size": tile,
        "tile_st": [0, 0], "tile_ratio": 1, "dtype": "uint8", "ndim": 1,
        "n_rows": height.div_ceil(tile), "n_columns": width.div_ceil(tile),
        "image": (0..depth).map(|z| format!("{z:04}/{{row}}_{{column}}.{ext}")).collect::<Vec<_>>(),
    });
    let path = dir.join("tiles.json");
    std::fs::write(&path, serde_json::to_string_pretty(&spec)?)?;
    Ok(path)
}

fn encode_gray8(
    path: &Path,
    w: u32,
    h: u32,
    pixels: &[u8],
    format: TileFormat,
) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    match format {
        TileFormat::Png => {
            let mut enc = png::Encoder::new(file, w, h);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            enc.write_header()
                .and_then(|mut writer| writer.write_image_data(pixels))
                .map_err(std::io::Error::other)
        }
        TileFormat::TiffLzw => {
            use tiff::encoder::{colortype::Gray8, Compression, TiffEncoder};
            TiffEncoder::new(file)
                .map(|e| e.with_compression(Compression::Lzw))
                .and_then(|mut e| e.write_image::<Gray8>(w, h, pixels))
                .map_err(std::io::Error::other)
        }
    }
}
