//! The preview montage: each sample's middle slice in gray, labels overlaid in colour, areas
//! outside the valid mask tinted red, and in each tile's corner the sample's index and its
//! transforms' initials (`RO` Rotate, `EL` Elastic, `MS` MissingSection, …; the full parameters
//! go to the legend).

use std::path::Path;

use anyhow::{Context, Result};
use ndarray::{ArrayD, Axis, IxDyn};
use voxload::loader::{Batch, BatchArray};

const COLUMNS: usize = 4;
const GAP: usize = 4;

/// The middle slice of sample 0 of `a` as `(h, w)` values in `f64`.
fn middle(a: &BatchArray) -> ArrayD<f64> {
    fn pick<T: Copy + Into<f64>>(a: &ArrayD<T>) -> ArrayD<f64> {
        let s = a.index_axis(Axis(0), 0);
        let s = if s.ndim() == 3 {
            let d = s.shape()[0];
            s.index_axis(Axis(0), d / 2).to_owned().into_dyn()
        } else {
            s.to_owned()
        };
        s.mapv(Into::into)
    }
    match a {
        BatchArray::F32(a) => pick(a),
        BatchArray::U8(a) => pick(a),
        BatchArray::U16(a) => pick(a),
        BatchArray::U32(a) => pick(a),
        BatchArray::U64(a) => pick(&a.mapv(|v| v as u32)),
    }
}

/// A transform's initials: one capital per word (`MissingParts` → `MP`), or the first two
/// letters of a one-word name (`Rotate` → `RO`, `Rescale` → `RE`).
fn initials(name: &str) -> String {
    let caps: String = name.chars().filter(char::is_ascii_uppercase).collect();
    if caps.len() > 1 {
        caps
    } else {
        name.chars().take(2).collect::<String>().to_uppercase()
    }
}

/// A distinct colour per label id.
fn colour(id: f64) -> [f64; 3] {
    let mut h = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 29;
    [
        (h & 0xFF) as f64,
        ((h >> 8) & 0xFF) as f64,
        ((h >> 16) & 0xFF) as f64,
    ]
    .map(|c| 64.0 + c * 0.75)
}

/// One tile: the image slice, and the label and valid-mask slices when present.
type Tile = (ArrayD<f64>, Option<ArrayD<f64>>, Option<ArrayD<f64>>);

/// Writes the montage of `batches` (one sample each) to `path`; returns one legend line per
/// tile.
pub fn write(path: &Path, batches: &[Batch]) -> Result<Vec<String>> {
    let tiles: Vec<Tile> = batches
        .iter()
        .filter_map(|b| {
            let image = middle(b.array("image")?);
            Some((
                image,
                b.array("label").map(middle),
                b.array("valid_mask").map(middle),
            ))
        })
        .collect();
    let Some((first, _, _)) = tiles.first() else {
        anyhow::bail!("no samples to preview");
    };
    let (th, tw) = (first.shape()[0], first.shape()[1]);
    let rows = tiles.len().div_ceil(COLUMNS);
    let cols = tiles.len().min(COLUMNS);
    let (h, w) = (rows * (th + GAP) - GAP, cols * (tw + GAP) - GAP);
    let mut rgb = vec![255u8; h * w * 3];
    let mut legend = Vec::new();
    for (k, (image, label, mask)) in tiles.iter().enumerate() {
        let (r, c) = (k / COLUMNS, k % COLUMNS);
        let (y0, x0) = (r * (th + GAP), c * (tw + GAP));
        for y in 0..th {
            for x in 0..tw {
                let at = IxDyn(&[y, x]);
                let g = (image[&at].clamp(0.0, 1.0) * 255.0).round();
                let mut px = [g; 3];
                if let Some(id) = label.as_ref().map(|l| l[&at]).filter(|&id| id != 0.0) {
                    let col = colour(id);
                    px = std::array::from_fn(|i| 0.55 * px[i] + 0.45 * col[i]);
                }
                if mask.as_ref().is_some_and(|m| m[&at] == 0.0) {
                    px = [px[0] * 0.6 + 102.0, px[1] * 0.6, px[2] * 0.6];
                }
                let o = ((y0 + y) * w + x0 + x) * 3;
                for i in 0..3 {
                    rgb[o + i] = px[i].clamp(0.0, 255.0) as u8;
                }
            }
        }
        let info = &batches[k].samples[0];
        let short: Vec<String> = info.transforms.iter().map(|t| initials(t.name)).collect();
        let scale = if tw >= 200 { 2 } else { 1 };
        let per_line = (tw / (4 * scale)).max(1);
        let label = format!("{} {}", info.index, short.join(" "));
        for (line, chunk) in label.as_bytes().chunks(per_line).enumerate() {
            let text = String::from_utf8_lossy(chunk);
            crate::font::draw(&mut rgb, (h, w), (y0 + line * 7 * scale, x0), &text, scale);
        }
        legend.push(format!(
            "row {r} col {c}: sample {} volume {} start {:?} shape {:?} rejections {}{}: {}",
            info.index,
            info.volume,
            info.start,
            info.shape,
            info.rejections,
            if info.forced { " (forced)" } else { "" },
            crate::sample::describe(&info.transforms)
        ));
    }
    let pixels = voxload::image::PngPixels::Rgb8(&rgb);
    voxload::image::write_png(path, w as u32, h as u32, pixels)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(legend)
}
