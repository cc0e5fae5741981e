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
/// [`crate::Error::Geometry`] when a slab cannot be allocated; as [`ArrayWriter::create`] and
/// [`ArrayWriter::write_region`].
pub fn write_volume(
    store: &Path,
    name: &str,
    shape: Shape,
    chunk: Shape,
    encoding: Encoding,
    seed: u64,
) -> Result<u64> {
    let slab_depth = match encoding {
        Encoding::ShardedRaw { shard } => shard[0],
        _ => chunk[0],
    }
    .clamp(1, shape[0].max(1));
    crate::geometry::check_allocation("slab", [slab_depth, shape[1], shape[2]], 1)?;
    let writer = ArrayWriter::<u8>::create(store, name, shape, chunk, encoding, Map::new(), true)?;
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

/// A synthetic sparse label at `(z, y, x)`: spheres of radius 6–14 on a jittered 48-voxel lattice,
/// a fraction of the lattice cells occupied, each sphere its own id (0 is background). About
/// 2 % of the voxels are foreground, so rejection sampling has work to do.
///
/// ```
/// let inside = (0..48).flat_map(|y| (0..48).map(move |x| (y, x)))
///     .filter(|&(y, x)| voxload::synth::label(24, y, x, 0) != 0)
///     .count();
/// assert!(inside < 48 * 48);
/// ```
#[must_use]
pub fn label(z: u64, y: u64, x: u64, seed: u64) -> u16 {
    const CELL: u64 = 48;
    let hash = |c: [u64; 3], k: u64| {
        let mut h = c[0].wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ c[1].wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ c[2].wrapping_mul(0x1656_67B1_9E37_79F9)
            ^ seed.wrapping_add(k).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        h ^= h >> 31;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^ (h >> 29)
    };
    let cell = [z / CELL, y / CELL, x / CELL];
    let h = hash(cell, 0);
    if h % 100 >= 35 {
        return 0;
    }
    let radius = 6 + (h >> 8) % 9;
    let centre: [u64; 3] = std::array::from_fn(|a| {
        cell[a] * CELL + radius + (hash(cell, a as u64 + 1) % (CELL - 2 * radius))
    });
    let d2: u64 = [z, y, x]
        .iter()
        .zip(&centre)
        .map(|(&p, &c)| p.abs_diff(c).pow(2))
        .sum();
    if d2 <= radius * radius {
        1 + (h >> 20) as u16 % 4000
    } else {
        0
    }
}

/// A synthetic valid mask: 1 (annotated) left of 70 % of the width, 0 beyond, as partially
/// annotated volumes are.
#[must_use]
pub fn valid_mask(_z: u64, _y: u64, x: u64, width: u64) -> u8 {
    u8::from(x * 10 < width * 7)
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
    write_tiles(dir, shape, tile, format, TileContent::Image { seed })
}

/// What a synthetic tile dataset holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileContent {
    /// EM-like intensities ([`intensity`]), `uint8`.
    Image {
        /// Seed of the texture.
        seed: u64,
    },
    /// Sparse sphere labels ([`label`]), 16-bit PNG, JSON `dtype` `uint16`.
    Label {
        /// Seed of the spheres.
        seed: u64,
    },
    /// A partial valid mask ([`valid_mask`]), `uint8`.
    ValidMask,
}

/// Writes a synthetic tile dataset of `content` (see [`write_tile_dataset`]); labels are
/// always 16-bit PNG.
///
/// # Errors
/// I/O and encoding errors, as [`std::io::Error`]; [`std::io::ErrorKind::InvalidInput`] for
/// a `tile` of 0.
pub fn write_tiles(
    dir: &Path,
    shape: Shape,
    tile: u64,
    format: TileFormat,
    content: TileContent,
) -> std::io::Result<std::path::PathBuf> {
    use rayon::prelude::*;
    if tile == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "tile side 0: tiles must be at least 1 pixel wide",
        ));
    }
    let (format, dtype) = match content {
        TileContent::Label { .. } => (TileFormat::Png, "uint16"),
        _ => (format, "uint8"),
    };
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
                    // The tile's pixels in row-major order, from a value at (z, y, x).
                    let pixels = |f: &dyn Fn(u64, u64, u64) -> u16| -> Vec<u16> {
                        (0..h * w).map(|i| f(z, y0 + i / w, x0 + i % w)).collect()
                    };
                    let bytes =
                        |v: Vec<u16>| -> Vec<u8> { v.into_iter().map(|p| p as u8).collect() };
                    let path = folder.join(format!("{row}_{col}.{ext}"));
                    match content {
                        TileContent::Label { seed } => {
                            let labels = pixels(&|z, y, x| label(z, y, x, seed));
                            crate::image::write_png_u16(&path, w as u32, h as u32, &labels)?;
                        }
                        TileContent::Image { seed } => {
                            let image =
                                bytes(pixels(&|z, y, x| u16::from(intensity(z, y, x, seed))));
                            encode_gray8(&path, w as u32, h as u32, &image, format)?;
                        }
                        TileContent::ValidMask => {
                            let mask =
                                bytes(pixels(&|z, y, x| u16::from(valid_mask(z, y, x, width))));
                            encode_gray8(&path, w as u32, h as u32, &mask, format)?;
                        }
                    }
                }
            }
            Ok(())
        })?;
    let spec = serde_json::json!({
        "depth": depth, "height": height, "width": width, "tile_size": tile,
        "tile_st": [0, 0], "tile_ratio": 1, "dtype": dtype, "ndim": 1,
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
    match format {
        TileFormat::Png => {
            crate::image::write_png(path, w, h, crate::image::PngPixels::Gray8(pixels))
        }
        TileFormat::TiffLzw => {
            use tiff::encoder::{colortype::Gray8, Compression, TiffEncoder};
            let file = std::io::BufWriter::new(std::fs::File::create(path)?);
            TiffEncoder::new(file)
                .map(|e| e.with_compression(Compression::Lzw))
                .and_then(|mut e| e.write_image::<Gray8>(w, h, pixels))
                .map_err(std::io::Error::other)
        }
    }
}
