//! Diffusion gradients (target `7`, PyTC's `seg2diffgrads`, after cellpose): per z slice, heat
//! spreads from each object's centre inside the object, and the normalised gradient of
//! `log(1 + heat)` is the target.
//!
//! In a slice framed by one background pixel on every side: an object is all pixels of one id.
//! Its centre is the object's pixel nearest to the per-axis medians of its pixels' coordinates
//! (the first in raster order on ties). The number of steps is twice the largest
//! `height + width + 2` of the objects' bounding boxes. Each step adds 1 at every centre, then
//! sets every object pixel to the sum of the heat of its 3 × 3 neighbours of the same id
//! (itself included; in the order centre, up, down, left, right, then the diagonals) divided by
//! 9, all from the heat before the step. Then `T = ln(1 + heat)` and each object pixel gets
//! `(T[y+1] − T[y−1], T[x+1] − T[x−1])` — neighbours of any id, background heat being 0 —
//! divided by `10⁻²⁰ + its length`. Background pixels are 0. The sums are in `f64`, as PyTC's
//! `torch.double`.

use super::components::{dense_indices, distinct_nonzero};

/// All 9 neighbours share the pixel's id.
const ALL: u16 = 0x1ff;

/// The 9 neighbours in PyTC's order, as `(dy, dx)`.
const NEIGHBOURS: [(isize, isize); 9] = [
    (0, 0),
    (-1, 0),
    (1, 0),
    (0, -1),
    (0, 1),
    (-1, -1),
    (-1, 1),
    (1, -1),
    (1, 1),
];

/// The `(dy, dx)` channels of one `(h, w)` slice, appended to `dy` and `dx`.
pub(crate) fn gradients(slice: &[u64], [h, w]: [usize; 2], dy: &mut Vec<f32>, dx: &mut Vec<f32>) {
    let ids = distinct_nonzero(slice);
    let (start_y, start_x) = (dy.len(), dx.len());
    dy.resize(start_y + h * w, 0.0);
    dx.resize(start_x + h * w, 0.0);
    if ids.is_empty() {
        return;
    }
    let mut index = Vec::new();
    dense_indices(slice, &ids, &mut index);
    // The framed slice: (h + 2, w + 2), object index + 1 per pixel.
    let pw = w + 2;
    let mut framed = vec![0u32; (h + 2) * pw];
    for y in 0..h {
        framed[(y + 1) * pw + 1..(y + 1) * pw + 1 + w].copy_from_slice(&index[y * w..(y + 1) * w]);
    }
    // Per framed pixel, which of its 9 neighbours share its id (0 on background), and the
    // rows and columns holding objects.
    let offset = |(oy, ox): (isize, isize)| oy * pw as isize + ox;
    let offsets = NEIGHBOURS.map(offset);
    let mut same = vec![0u16; framed.len()];
    let (mut rows, mut cols) = ((usize::MAX, 0), (usize::MAX, 0));
    let mut pixels: Vec<usize> = Vec::new();
    for (p, &k) in framed.iter().enumerate() {
        if k == 0 {
            continue;
        }
        pixels.push(p);
        let (y, x) = (p / pw, p % pw);
        rows = (rows.0.min(y), rows.1.max(y));
        cols = (cols.0.min(x), cols.1.max(x));
        for (b, &o) in offsets.iter().enumerate() {
            if framed[(p as isize + o) as usize] == k {
                same[p] |= 1 << b;
            }
        }
    }
    let (centres, steps) = centres(&framed, pw, ids.len());
    let mut heat = vec![0f64; framed.len()];
    let mut next = vec![0f64; framed.len()];
    for _ in 0..steps {
        for &c in &centres {
            heat[c] += 1.0;
        }
        // Every pixel of the objects' rows and columns: background pixels have no bits, so
        // they stay 0; pixels outside the range are background in both buffers.
        for y in rows.0..=rows.1 {
            for i in y * pw + cols.0..=y * pw + cols.1 {
                let b = same[i];
                let (up, down) = (i - pw, i + pw);
                // PyTC's order: centre, up, down, left, right, then the diagonals; a masked
                // term adds 0, so it is skipped.
                let sum = if b == ALL {
                    heat[i]
                        + heat[up]
                        + heat[down]
                        + heat[i - 1]
                        + heat[i + 1]
                        + heat[up - 1]
                        + heat[up + 1]
                        + heat[down - 1]
                        + heat[down + 1]
                } else if b == 0 {
                    0.0
                } else {
                    let terms = [
                        i,
                        up,
                        down,
                        i - 1,
                        i + 1,
                        up - 1,
                        up + 1,
                        down - 1,
                        down + 1,
                    ];
                    let mut sum = 0.0;
                    for (k, &j) in terms.iter().enumerate() {
                        if b & (1 << k) != 0 {
                            sum += heat[j];
                        }
                    }
                    sum
                };
                next[i] = sum / 9.0;
            }
        }
        std::mem::swap(&mut heat, &mut next);
    }
    for t in heat.iter_mut() {
        *t = (1.0 + *t).ln();
    }
    for &p in &pixels {
        let gy = heat[p + pw] - heat[p - pw];
        let gx = heat[p + 1] - heat[p - 1];
        let norm = 1e-20 + (gy * gy + gx * gx).sqrt();
        let (y, x) = (p / pw - 1, p % pw - 1);
        dy[start_y + y * w + x] = (gy / norm) as f32;
        dx[start_x + y * w + x] = (gx / norm) as f32;
    }
}

/// Each object's centre (a framed-slice index) and the number of diffusion steps.
fn centres(framed: &[u32], pw: usize, count: usize) -> (Vec<usize>, usize) {
    let mut ys: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut xs: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (p, &k) in framed.iter().enumerate() {
        if k != 0 {
            ys[k as usize - 1].push(p / pw);
            xs[k as usize - 1].push(p % pw);
        }
    }
    let mut steps = 0usize;
    let mut out = Vec::with_capacity(count);
    let mut sorted = Vec::new();
    for (y, x) in ys.iter().zip(&xs) {
        let median = |v: &[usize], sorted: &mut Vec<usize>| -> f64 {
            sorted.clear();
            sorted.extend_from_slice(v);
            sorted.sort_unstable();
            let n = sorted.len();
            if n % 2 == 1 {
                sorted[n / 2] as f64
            } else {
                (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
            }
        };
        let (my, mx) = (median(y, &mut sorted), median(x, &mut sorted));
        let mut best = (f64::INFINITY, 0usize);
        for (&py, &px) in y.iter().zip(x) {
            let d = (px as f64 - mx).powi(2) + (py as f64 - my).powi(2);
            if d < best.0 {
                best = (d, py * pw + px);
            }
        }
        out.push(best.1);
        let span = |v: &[usize]| v.iter().max().unwrap_or(&0) - v.iter().min().unwrap_or(&0) + 1;
        steps = steps.max(2 * (span(y) + 1 + span(x) + 1));
    }
    (out, steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_point_to_the_centre() {
        // One 1 × 5 object: the centre is its middle pixel, where the heat is highest.
        let slice = [0u64, 0, 0, 0, 0, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0];
        let (mut dy, mut dx) = (Vec::new(), Vec::new());
        gradients(&slice, [3, 5], &mut dy, &mut dx);
        assert!(dx[5] > 0.0 && dx[9] < 0.0, "{dx:?}");
        assert!(dx[..5].iter().chain(&dy[..5]).all(|&v| v == 0.0));
        assert!((dx[9].powi(2) + dy[9].powi(2) - 1.0).abs() < 1e-6);
    }
}
