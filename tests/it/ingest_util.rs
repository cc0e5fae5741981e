//! Writing synthetic tile datasets for the ingest tests.
//! Shared by the library's tests (`tests/it`) and the command-line crate's (`tools/tests/cli`);
//! each uses a part.
#![allow(dead_code)]

use std::path::Path;

use ndarray::{s, Array2, Array3};
use serde_json::json;

/// Writes a grayscale PNG of `u8` or `u16` pixels.
pub fn png_gray<T: Copy + Into<u32>>(path: &Path, plane: &Array2<T>, sixteen: bool) {
    let (h, w) = plane.dim();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(if sixteen {
        png::BitDepth::Sixteen
    } else {
        png::BitDepth::Eight
    });
    let bytes: Vec<u8> = plane
        .iter()
        .flat_map(|&v| {
            let v: u32 = v.into();
            if sixteen {
                (v as u16).to_be_bytes().to_vec()
            } else {
                vec![v as u8]
            }
        })
        .collect();
    enc.write_header()
        .unwrap()
        .write_image_data(&bytes)
        .unwrap();
}

/// Writes an 8-bit RGB PNG encoding ids as `R·65536 + G·256 + B`.
pub fn png_rgb_ids(path: &Path, ids: &Array2<u32>) {
    let (h, w) = ids.dim();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let bytes: Vec<u8> = ids
        .iter()
        .flat_map(|&id| [(id >> 16) as u8, (id >> 8) as u8, id as u8])
        .collect();
    enc.write_header()
        .unwrap()
        .write_image_data(&bytes)
        .unwrap();
}

/// Writes a grayscale TIFF page of `u8` or `u16` pixels, LZW-compressed.
pub fn tiff_gray_u16(path: &Path, plane: &Array2<u16>) {
    use tiff::encoder::{colortype, Compression, TiffEncoder};
    let (h, w) = plane.dim();
    let file = std::fs::File::create(path).unwrap();
    let mut enc = TiffEncoder::new(file)
        .unwrap()
        .with_compression(Compression::Lzw);
    let data: Vec<u16> = plane.iter().copied().collect();
    enc.write_image::<colortype::Gray16>(w as u32, h as u32, &data)
        .unwrap();
}

/// Writes a multi-page 8-bit TIFF, one page per slice.
pub fn tiff_stack_u8(path: &Path, volume: &Array3<u8>) {
    use tiff::encoder::{colortype, TiffEncoder};
    let (_, h, w) = volume.dim();
    let mut enc = TiffEncoder::new(std::fs::File::create(path).unwrap()).unwrap();
    for z in 0..volume.dim().0 {
        let data: Vec<u8> = volume.slice(s![z, .., ..]).iter().copied().collect();
        enc.write_image::<colortype::Gray8>(w as u32, h as u32, &data)
            .unwrap();
    }
}

/// How a test dataset's tiles are written.
#[derive(Clone, Copy)]
pub enum TileFormat {
    Png8,
    Png16,
    Tiff16,
    RgbLabels,
}

/// Cuts `volume` into `tile`-sized tiles (`{row}_{column}` with `tile_st` offsets), writes them
/// in `dir/{z:04}/`, and writes `dir/tiles.json`; returns the JSON's path.
pub fn write_tile_dataset(
    dir: &Path,
    volume: &Array3<u32>,
    tile: [usize; 2],
    tile_st: [i64; 2],
    format: TileFormat,
) -> std::path::PathBuf {
    let (d, h, w) = volume.dim();
    let ext = match format {
        TileFormat::Tiff16 => "tif",
        _ => "png",
    };
    let mut patterns = Vec::new();
    for z in 0..d {
        let folder = dir.join(format!("{z:04}"));
        std::fs::create_dir_all(&folder).unwrap();
        for row in 0..h.div_ceil(tile[0]) {
            for col in 0..w.div_ceil(tile[1]) {
                let (y0, x0) = (row * tile[0], col * tile[1]);
                let part = volume
                    .slice(s![z, y0..(y0 + tile[0]).min(h), x0..(x0 + tile[1]).min(w)])
                    .to_owned();
                let name = format!(
                    "{}_{}.{ext}",
                    row as i64 + tile_st[0],
                    col as i64 + tile_st[1]
                );
                let path = folder.join(name);
                match format {
                    TileFormat::Png8 => png_gray(&path, &part.mapv(|v| v as u8), false),
                    TileFormat::Png16 => png_gray(&path, &part.mapv(|v| v as u16), true),
                    TileFormat::Tiff16 => tiff_gray_u16(&path, &part.mapv(|v| v as u16)),
                    TileFormat::RgbLabels => png_rgb_ids(&path, &part),
                }
            }
        }
        patterns.push(format!("{z:04}/{{row}}_{{column}}.{ext}"));
    }
    let dtype = match format {
        TileFormat::Png8 => "uint8",
        TileFormat::Png16 | TileFormat::Tiff16 => "uint16",
        TileFormat::RgbLabels => "uint32",
    };
    let spec = json!({
        "depth": d, "height": h, "width": w, "image": patterns,
        "tile_size": [tile[0], tile[1]], "tile_st": tile_st, "tile_ratio": 1,
        "dtype": dtype, "ndim": 1,
        "n_rows": h.div_ceil(tile[0]), "n_columns": w.div_ceil(tile[1]),
    });
    let path = dir.join("tiles.json");
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    path
}

/// A deterministic pseudo-random volume with values below `max`.
pub fn random_volume(shape: [usize; 3], max: u32, seed: u64) -> Array3<u32> {
    Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| {
        let mut h = seed ^ ((z as u64) << 40) ^ ((y as u64) << 20) ^ x as u64;
        h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 31;
        (h % max as u64) as u32
    })
}

/// Every file under `root` (relative path, bytes), sorted.
pub fn tree(root: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A small PNG tile dataset ((4, 20, 20), 10 x 10 tiles) in `dir`; its tile JSON.
pub fn small_dataset(dir: &Path) -> std::path::PathBuf {
    let volume = random_volume([4, 20, 20], 256, 1);
    write_tile_dataset(dir, &volume, [10, 10], [0, 0], TileFormat::Png8)
}
