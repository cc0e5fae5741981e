//! Resizing tiles by `tile_ratio`: bilinear for images, nearest neighbour for labels.
//!
//! The output of an `h x w` tile is `round(h · ratio) x round(w · ratio)`, and output pixel `i`
//! samples input position `i · (in − 1) / (out − 1)` (corners aligned), as `scipy.ndimage.zoom`
//! does, which PyTorch Connectomics uses.

use ndarray::Array2;

use crate::image::Content;
use crate::Element;

/// Resizes `tile` by `ratio`.
///
/// ```
/// use ndarray::array;
/// use voxload::image::Content;
/// use voxload::ingest::resize;
/// let tile = array![[0u8, 10], [20, 30]];
/// let big = resize(&tile, 1.5, Content::Image); // 3 x 3
/// assert_eq!(big, array![[0u8, 5, 10], [10, 15, 20], [20, 25, 30]]);
/// let labels = resize(&tile, 1.5, Content::Label);
/// assert_eq!(labels[[1, 1]], 30); // nearest: position (0.5, 0.5) rounds to (1, 1)
/// ```
#[must_use]
pub fn resize<T: Element>(tile: &Array2<T>, ratio: f64, content: Content) -> Array2<T> {
    let (h, w) = tile.dim();
    let out = |n: usize| ((n as f64 * ratio).round() as usize).max(1);
    let (oh, ow) = (out(h), out(w));
    let scale = |n: usize, o: usize| {
        if o > 1 {
            (n - 1) as f64 / (o - 1) as f64
        } else {
            0.0
        }
    };
    let (sy, sx) = (scale(h, oh), scale(w, ow));
    Array2::from_shape_fn((oh, ow), |(y, x)| {
        let (fy, fx) = (y as f64 * sy, x as f64 * sx);
        match content {
            Content::Label => {
                tile[[
                    (fy.round() as usize).min(h - 1),
                    (fx.round() as usize).min(w - 1),
                ]]
            }
            Content::Image => {
                let (y0, x0) = (fy.floor() as usize, fx.floor() as usize);
                let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
                let (ty, tx) = (fy - y0 as f64, fx - x0 as f64);
                let at = |y: usize, x: usize| tile[[y, x]].to_f64();
                let top = at(y0, x0) * (1.0 - tx) + at(y0, x1) * tx;
                let bottom = at(y1, x0) * (1.0 - tx) + at(y1, x1) * tx;
                let v = top * (1.0 - ty) + bottom * ty;
                T::from_f64(if T::DTYPE == crate::DType::F32 {
                    v
                } else {
                    v.round()
                })
            }
        }
    })
}
