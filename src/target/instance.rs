//! The instance distance transform (targets `5` and `8`, PyTC's `distance_transform` and
//! `edt_instance`), object by object in a window around each object.
//!
//! For one image (a z slice in mode `2d`, the whole window in `3d`): the label is split into
//! connected components (full connectivity, same id), optionally padded with 2 background
//! voxels on every side; each component's holes (face-connected non-component regions of fewer
//! than 16 voxels, wherever they lie) are filled, the filled mask is optionally eroded by a disk
//! or ball, and its distance transform, divided by its maximum plus 10⁻⁶, is the component's
//! energy. A voxel takes the largest energy over the components covering it; voxels left at 0
//! become −1; the padding is removed; quantisation maps the energies to PyTC's 11 levels.
//!
//! Each component is processed in its bounding box grown by one voxel: a voxel's nearest
//! non-component voxel always lies there, so the window gives the whole-image answer. Holes are
//! found in the bounding box itself; a region that reaches a face of the box not on the image's
//! border joins the rest of the image outside the box, which is never small unless the image is
//! tiny — then the component is processed over the whole image.

use super::components::{Connectivity, Labeller};
use super::edt::{self, squared_edt, NoSource};
use super::{Distance, Mode};

/// Holes smaller than this many voxels are filled (`remove_small_holes(…, 16)`).
const HOLE: usize = 16;
/// The padding on each side when [`Distance::padding`] is set.
const PAD: usize = 2;
/// Added to each component's largest distance before dividing.
const EPS: f64 = 1e-6;

/// Buffers reused between components and images.
#[derive(Default)]
struct Work {
    labeller: Labeller,
    labels: Vec<u32>,
    mask: Vec<u8>,
    holes: Vec<u32>,
    f: Vec<f64>,
    eroded: Vec<f64>,
    edt: edt::Work,
}

/// Target `5` of `label` (shape `dims`): one energy (or quantised level) per voxel.
pub(crate) fn instance_distance(label: &[u64], dims: [usize; 3], opt: &Distance) -> Vec<f32> {
    let mut work = Work::default();
    let mut out = Vec::with_capacity(label.len());
    let run = |part: &[u64], d: [usize; 3], work: &mut Work, out: &mut Vec<f32>| {
        let (pad, weights, first) = match opt.mode {
            Mode::ThreeD => ([PAD; 3], [opt.z_resolution * opt.z_resolution, 1.0, 1.0], 0),
            Mode::TwoD => ([0, PAD, PAD], [1.0; 3], 1),
        };
        let pad = if opt.padding { pad } else { [0; 3] };
        let energy = image(part, d, pad, weights, first, opt.erosion, work);
        out.extend(
            energy
                .iter()
                .map(|&e| if opt.quantize { quantize(e) } else { e as f32 }),
        );
    };
    let [d, h, w] = dims;
    match opt.mode {
        Mode::ThreeD => run(label, dims, &mut work, &mut out),
        Mode::TwoD if h * w > 0 => {
            for slice in label.chunks_exact(h * w) {
                run(slice, [1, h, w], &mut work, &mut out);
            }
        }
        Mode::TwoD => {}
    }
    debug_assert_eq!(out.len(), d * h * w);
    out
}

/// PyTC's `energy_quantize` with 10 levels: −1 → 0, `[0, 0.1)` → 1, …, `[0.9, 1.1)` → 10.
fn quantize(e: f64) -> f32 {
    let mut bins = [0f64; 12];
    bins[0] = -1.0;
    for (i, b) in bins[1..11].iter_mut().enumerate() {
        *b = i as f64 / 10.0;
    }
    bins[11] = 1.1;
    (bins.iter().filter(|&&b| b <= e).count() as f32) - 1.0
}

/// Whether the region outside the box `lo..=hi` of an image of shape `n` has a part smaller
/// than [`HOLE`] (so holes touching the box's faces must be judged over the whole image).
fn small_outside(n: [usize; 3], lo: [usize; 3], hi: [usize; 3]) -> bool {
    let open: Vec<usize> = (0..3).filter(|&a| lo[a] > 0 || hi[a] + 1 < n[a]).collect();
    let total: usize = n.iter().product();
    match open.as_slice() {
        [] => false,
        &[a] => {
            let others = total / n[a];
            let parts = [lo[a] * others, (n[a] - 1 - hi[a]) * others];
            parts.iter().any(|&p| p > 0 && p < HOLE)
        }
        _ => total - (0..3).map(|a| hi[a] - lo[a] + 1).product::<usize>() < HOLE,
    }
}

/// One image's energies (−1 for voxels no component reaches), unpadded.
fn image(
    label: &[u64],
    dims: [usize; 3],
    pad: [usize; 3],
    weights: [f64; 3],
    first_axis: usize,
    erosion: u64,
    work: &mut Work,
) -> Vec<f64> {
    let n: [usize; 3] = std::array::from_fn(|a| dims[a] + 2 * pad[a]);
    let mut padded = vec![0u64; n.iter().product()];
    for z in 0..dims[0] {
        for y in 0..dims[1] {
            let src = (z * dims[1] + y) * dims[2];
            let dst = ((z + pad[0]) * n[1] + y + pad[1]) * n[2] + pad[2];
            padded[dst..dst + dims[2]].copy_from_slice(&label[src..src + dims[2]]);
        }
    }
    let count = work
        .labeller
        .label(&padded, n, Connectivity::Full, |v| v == 0, &mut work.labels);
    let mut boxes = vec![([usize::MAX; 3], [0usize; 3]); count + 1];
    for (i, &l) in work.labels.iter().enumerate() {
        if l != 0 {
            let c = [i / (n[1] * n[2]), (i / n[2]) % n[1], i % n[2]];
            let (lo, hi) = &mut boxes[l as usize];
            for a in 0..3 {
                lo[a] = lo[a].min(c[a]);
                hi[a] = hi[a].max(c[a]);
            }
        }
    }
    let mut distance = vec![0f64; padded.len()];
    for (k, &(lo, hi)) in boxes.iter().enumerate().skip(1) {
        let (lo, hi) = if small_outside(n, lo, hi) {
            ([0; 3], n.map(|v| v - 1))
        } else {
            (lo, hi)
        };
        component(
            k as u32,
            n,
            lo,
            hi,
            weights,
            first_axis,
            erosion,
            work,
            &mut distance,
        );
    }
    let mut out = Vec::with_capacity(label.len());
    for z in 0..dims[0] {
        for y in 0..dims[1] {
            let start = ((z + pad[0]) * n[1] + y + pad[1]) * n[2] + pad[2];
            out.extend(distance[start..start + dims[2]].iter().map(|&v| {
                if v == 0.0 {
                    -1.0
                } else {
                    v
                }
            }));
        }
    }
    out
}

/// The coordinates `lo..=hi` of a box as its shape.
fn shape(lo: [usize; 3], hi: [usize; 3]) -> [usize; 3] {
    std::array::from_fn(|a| hi[a] - lo[a] + 1)
}

/// Component `k`'s energy, maxed into `distance`; `lo..=hi` is its box (or the whole image).
#[allow(clippy::too_many_arguments)]
fn component(
    k: u32,
    n: [usize; 3],
    lo: [usize; 3],
    hi: [usize; 3],
    weights: [f64; 3],
    first_axis: usize,
    erosion: u64,
    work: &mut Work,
    distance: &mut [f64],
) {
    let b = shape(lo, hi);
    let index = |c: [usize; 3]| (c[0] * n[1] + c[1]) * n[2] + c[2];
    // The component's mask in its box.
    work.mask.clear();
    for z in lo[0]..=hi[0] {
        for y in lo[1]..=hi[1] {
            let row = index([z, y, lo[2]]);
            work.mask.extend(
                work.labels[row..row + b[2]]
                    .iter()
                    .map(|&l| u8::from(l == k)),
            );
        }
    }
    fill_holes(
        &mut work.mask,
        b,
        n,
        lo,
        hi,
        &mut work.labeller,
        &mut work.holes,
    );
    // The box grown by one voxel, where every distance is decided.
    let glo = lo.map(|v| v.saturating_sub(1));
    let ghi: [usize; 3] = std::array::from_fn(|a| (hi[a] + 1).min(n[a] - 1));
    let g = shape(glo, ghi);
    work.f.clear();
    for z in glo[0]..=ghi[0] {
        for y in glo[1]..=ghi[1] {
            if !(lo[0]..=hi[0]).contains(&z) || !(lo[1]..=hi[1]).contains(&y) {
                work.f.extend(std::iter::repeat_n(0.0, g[2]));
                continue;
            }
            let row = ((z - lo[0]) * b[1] + y - lo[1]) * b[2];
            work.f.extend(std::iter::repeat_n(0.0, lo[2] - glo[2]));
            work.f.extend(
                work.mask[row..row + b[2]]
                    .iter()
                    .map(|&m| edt::source(m != 0)),
            );
            work.f.extend(std::iter::repeat_n(0.0, ghi[2] - hi[2]));
        }
    }
    if erosion > 0 {
        // Binary erosion by the disk or ball of radius `erosion`, voxels beyond the image
        // counting as inside: a voxel stays when no outside voxel is within the radius.
        work.eroded.clone_from(&work.f);
        squared_edt(
            &mut work.eroded,
            g,
            [1.0; 3],
            NoSource::Infinite,
            &mut work.edt,
        );
        let r2 = (erosion as f64) * (erosion as f64);
        for (f, &d2) in work.f.iter_mut().zip(&work.eroded) {
            *f = edt::source(*f != 0.0 && d2 > r2);
        }
    }
    // Inside voxels end with a positive distance, outside ones with 0.
    squared_edt(
        &mut work.f,
        g,
        weights,
        NoSource::Scipy(first_axis),
        &mut work.edt,
    );
    let mut max = 0f64;
    for v in work.f.iter_mut() {
        *v = v.sqrt();
        max = max.max(*v);
    }
    let mut j = 0;
    for z in glo[0]..=ghi[0] {
        for y in glo[1]..=ghi[1] {
            let row = index([z, y, glo[2]]);
            for (d, &v) in distance[row..row + g[2]]
                .iter_mut()
                .zip(&work.f[j..j + g[2]])
            {
                if v > 0.0 {
                    *d = d.max(v / (max + EPS));
                }
            }
            j += g[2];
        }
    }
}

/// Fills, in `mask` (the box `lo..=hi` of an image of shape `n`, 1 inside the component), the
/// face-connected regions of 0 smaller than [`HOLE`] that touch no open face of the box.
fn fill_holes(
    mask: &mut [u8],
    b: [usize; 3],
    n: [usize; 3],
    lo: [usize; 3],
    hi: [usize; 3],
    labeller: &mut Labeller,
    holes: &mut Vec<u32>,
) {
    let count = labeller.label(mask, b, Connectivity::Face, |v| v != 0, holes);
    if count == 0 {
        return;
    }
    let mut size = vec![0usize; count + 1];
    let mut open = vec![false; count + 1];
    for (i, &l) in holes.iter().enumerate() {
        if l == 0 {
            continue;
        }
        size[l as usize] += 1;
        let c = [i / (b[1] * b[2]), (i / b[2]) % b[1], i % b[2]];
        let on_open_face =
            (0..3).any(|a| (c[a] == 0 && lo[a] > 0) || (c[a] == b[a] - 1 && hi[a] + 1 < n[a]));
        open[l as usize] |= on_open_face;
    }
    for (m, &l) in mask.iter_mut().zip(holes.iter()) {
        if l != 0 && !open[l as usize] && size[l as usize] < HOLE {
            *m = 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_levels() {
        assert_eq!(quantize(-1.0), 0.0);
        assert_eq!(quantize(0.0), 1.0);
        assert_eq!(quantize(0.05), 1.0);
        assert_eq!(quantize(0.1), 2.0);
        assert_eq!(quantize(0.95), 10.0);
    }

    #[test]
    fn outside_parts() {
        // A box spanning y and x of a (1, 4, 4) image leaves nothing outside.
        assert!(!small_outside([1, 4, 4], [0, 0, 0], [0, 3, 3]));
        // One column left of a full-height box: 4 voxels.
        assert!(small_outside([1, 4, 4], [0, 0, 1], [0, 3, 3]));
        assert!(!small_outside([1, 40, 40], [0, 0, 1], [0, 39, 39]));
        // A ring around a small box in a large image.
        assert!(!small_outside([1, 40, 40], [0, 5, 5], [0, 9, 9]));
    }
}
