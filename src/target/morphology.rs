//! Label morphology: sliding-window extremes (a monotonic queue per line, so any window size
//! costs the same), PyTC's label erosion (`seg_widen_border`) and dilation, instance boundaries
//! (target `4`) and small-object masks (target `3`).
//!
//! Every window is clipped to the array. PyTC pads with `reflect`/`symm` modes or relies on
//! scipy's `reflect`; for the window sizes involved, the values a mirrored window sees are
//! values the clipped window already holds, so extremes and "how many ids" are the same.

use super::components::{Connectivity, Labeller};

/// `out[i]` = the best of `line[i − before ..= i + after]` (clipped), where `a` beats `b` when
/// `beats(a, b)`; `queue` is scratch.
fn sliding<T: Copy>(
    line: &[T],
    out: &mut [T],
    before: usize,
    after: usize,
    beats: impl Fn(T, T) -> bool,
    queue: &mut Vec<usize>,
) {
    let n = line.len();
    queue.clear();
    let (mut head, mut next) = (0usize, 0usize);
    for (i, o) in out.iter_mut().enumerate() {
        let hi = i.saturating_add(after).min(n - 1);
        while next <= hi {
            while queue.len() > head && !beats(line[queue[queue.len() - 1]], line[next]) {
                queue.pop();
            }
            queue.push(next);
            next += 1;
        }
        let lo = i.saturating_sub(before);
        while queue[head] < lo {
            head += 1;
        }
        *o = line[queue[head]];
    }
}

/// Applies [`sliding`] along `axis` of `data` (shape `dims`, C order) in place.
pub(crate) fn sliding_axis<T: Copy + Default>(
    data: &mut [T],
    dims: [usize; 3],
    axis: usize,
    (before, after): (usize, usize),
    beats: impl Fn(T, T) -> bool + Copy,
) {
    let n = dims[axis];
    if n <= 1 || data.is_empty() || (before == 0 && after == 0) {
        return;
    }
    let stride: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    if before.saturating_add(after) <= SMALL {
        small_window(data, n, stride, (before, after), beats);
        return;
    }
    let (mut line, mut out, mut queue) = (vec![T::default(); n], vec![T::default(); n], Vec::new());
    for o in 0..outer {
        for inner in 0..stride {
            let start = o * n * stride + inner;
            for (i, v) in line.iter_mut().enumerate() {
                *v = data[start + i * stride];
            }
            sliding(&line, &mut out, before, after, beats, &mut queue);
            for (i, v) in out.iter().enumerate() {
                data[start + i * stride] = *v;
            }
        }
    }
}

/// Windows at most this long (beyond the voxel itself) are scanned directly.
const SMALL: usize = 4;

/// [`sliding_axis`] for short windows: per block of `n` lines of `stride` values, each output
/// line is the element-wise best of its window's input lines (whole rows at a time when the
/// axis is not the innermost one, so the loops run over contiguous memory).
fn small_window<T: Copy>(
    data: &mut [T],
    n: usize,
    stride: usize,
    (before, after): (usize, usize),
    beats: impl Fn(T, T) -> bool + Copy,
) {
    let mut copy: Vec<T> = Vec::with_capacity(n * stride);
    for block in data.chunks_exact_mut(n * stride) {
        copy.clear();
        copy.extend_from_slice(block);
        for i in 0..n {
            let (lo, hi) = (i.saturating_sub(before), (i + after).min(n - 1));
            if stride == 1 {
                let mut best = copy[lo];
                for &v in &copy[lo + 1..=hi] {
                    if beats(v, best) {
                        best = v;
                    }
                }
                block[i] = best;
                continue;
            }
            let out = &mut block[i * stride..(i + 1) * stride];
            out.copy_from_slice(&copy[lo * stride..(lo + 1) * stride]);
            for j in lo + 1..=hi {
                for (o, &v) in out.iter_mut().zip(&copy[j * stride..(j + 1) * stride]) {
                    if beats(v, *o) {
                        *o = v;
                    }
                }
            }
        }
    }
}

/// The largest value in each pixel's `(2·half + 1)²` in-plane window.
pub(crate) fn plane_max<T: Copy + Default + PartialOrd>(
    data: &mut [T],
    dims: [usize; 3],
    half: usize,
) {
    for axis in [2, 1] {
        sliding_axis(data, dims, axis, (half, half), |a, b| a > b);
    }
}

/// Per pixel, the largest id and the smallest non-zero id (`u64::MAX` if none) in its in-plane
/// `(2·half + 1)²` window.
fn plane_id_range(label: &[u64], dims: [usize; 3], half: usize) -> (Vec<u64>, Vec<u64>) {
    let mut max = label.to_vec();
    plane_max(&mut max, dims, half);
    let mut min: Vec<u64> = label
        .iter()
        .map(|&v| if v == 0 { u64::MAX } else { v })
        .collect();
    for axis in [2, 1] {
        sliding_axis(&mut min, dims, axis, (half, half), |a, b| a < b);
    }
    (max, min)
}

/// PyTC's `seg_widen_border` (`MODEL.LABEL_EROSION`): a voxel keeps its id only where its
/// in-plane window holds at most one distinct non-zero id; elsewhere it becomes 0.
pub(crate) fn widen_border(label: &[u64], dims: [usize; 3], half: usize) -> Vec<u64> {
    let (max, min) = plane_id_range(label, dims, half);
    label
        .iter()
        .zip(max.iter().zip(&min))
        .map(|(&v, (&hi, &lo))| if hi == lo { v } else { 0 })
        .collect()
}

/// PyTC's instance boundary (target `4-half-background`), 0 or 1 per voxel, slice by slice.
///
/// With `background`: a pixel is an edge where its two neighbours along y, or its two along x,
/// differ (each neighbour clamped to the slice, as `convolve2d` with `symm` sees it; the pixel
/// itself is not compared), and the edges are dilated by the `(2·half + 1)²` square. Without:
/// a pixel is boundary where its window holds two or more distinct non-zero ids.
pub(crate) fn instance_boundary(
    label: &[u64],
    dims: [usize; 3],
    half: usize,
    background: bool,
) -> Vec<f32> {
    let [_, h, w] = dims;
    if !background {
        let (max, min) = plane_id_range(label, dims, half);
        return max
            .iter()
            .zip(&min)
            .map(|(&hi, &lo)| f32::from(u8::from(hi != 0 && hi != lo)))
            .collect();
    }
    let mut edge = vec![0u8; label.len()];
    if h * w > 0 {
        for (slice, out) in label.chunks_exact(h * w).zip(edge.chunks_exact_mut(h * w)) {
            for y in 0..h {
                let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
                for x in 0..w {
                    let (left, right) = (x.saturating_sub(1), (x + 1).min(w - 1));
                    let across_y = slice[up * w + x] != slice[down * w + x];
                    let across_x = slice[y * w + left] != slice[y * w + right];
                    out[y * w + x] = u8::from(across_y || across_x);
                }
            }
        }
    }
    plane_max(&mut edge, dims, half);
    edge.iter().map(|&e| f32::from(e)).collect()
}

/// Python's floor division (`a // b`, `b != 0`).
pub(crate) fn floor_div(a: i64, b: i64) -> i64 {
    let q = a.wrapping_div(b);
    if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// PyTC's small-object mask (`seg_to_small_seg`, target `3-threshold-ratio-…`): a voxel is 1
/// where its 8-connected same-id component is smaller than `threshold` pixels in its z slice,
/// or smaller than `threshold // ratio` in its y plane `(z, x)` or its x plane `(z, y)`.
pub(crate) fn small_objects(
    label: &[u64],
    dims: [usize; 3],
    threshold: i64,
    ratio: i64,
) -> Vec<f32> {
    let [d, h, w] = dims;
    let mut mask = vec![0u8; label.len()];
    let mut labeller = Labeller::default();
    let (mut plane, mut labels, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    let across = floor_div(threshold, ratio);
    // (plane rows, plane columns, voxel index of plane (r, c)), for each plane family.
    let families: [(usize, usize, usize, i64); 3] =
        [(d, h, w, threshold), (h, d, w, across), (w, d, h, across)];
    for (family, &(count, rows, cols, limit)) in families.iter().enumerate() {
        let index = |k: usize, r: usize, c: usize| match family {
            0 => (k * h + r) * w + c,
            1 => (r * h + k) * w + c,
            _ => (r * h + c) * w + k,
        };
        for k in 0..count {
            plane.clear();
            plane.extend((0..rows * cols).map(|i| label[index(k, i / cols, i % cols)]));
            let n = labeller.label(
                &plane,
                [1, rows, cols],
                Connectivity::Full,
                |v| v == 0,
                &mut labels,
            );
            sizes.clear();
            sizes.resize(n + 1, 0i64);
            for &l in &labels {
                sizes[l as usize] += 1;
            }
            for (i, &l) in labels.iter().enumerate() {
                if l != 0 && sizes[l as usize] < limit {
                    mask[index(k, i / cols, i % cols)] = 1;
                }
            }
        }
    }
    mask.iter().map(|&m| f32::from(m)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_max_asymmetric_windows() {
        let line = [3u8, 1, 4, 1, 5, 9, 2, 6];
        let mut out = [0u8; 8];
        let mut q = Vec::new();
        for (before, after) in [(0, 0), (1, 1), (2, 1), (0, 3), (100, 0)] {
            sliding(&line, &mut out, before, after, |a, b| a > b, &mut q);
            for (i, &o) in out.iter().enumerate() {
                let lo = i.saturating_sub(before);
                let hi = (i + after).min(7);
                assert_eq!(
                    o,
                    *line[lo..=hi].iter().max().unwrap(),
                    "{before} {after} {i}"
                );
            }
        }
    }

    #[test]
    fn small_and_queued_windows_agree_on_every_axis() {
        let dims = [3, 5, 7];
        let data: Vec<u16> = (0..105u16).map(|i| (i * 37 + 11) % 23).collect();
        for axis in 0..3 {
            for (before, after) in [(1, 1), (2, 2), (0, 3), (3, 3), (5, 0)] {
                let mut got = data.clone();
                sliding_axis(&mut got, dims, axis, (before, after), |a, b| a > b);
                let stride: usize = dims[axis + 1..].iter().product();
                for (i, &g) in got.iter().enumerate() {
                    let c = (i / stride) % dims[axis];
                    let base = i - c * stride;
                    let (lo, hi) = (c.saturating_sub(before), (c + after).min(dims[axis] - 1));
                    let want = (lo..=hi).map(|j| data[base + j * stride]).max().unwrap();
                    assert_eq!(g, want, "axis {axis} window {before} {after} at {i}");
                }
            }
        }
    }

    #[test]
    fn python_floor_division() {
        for (a, b, q) in [
            (7, 2, 3),
            (-7, 2, -4),
            (7, -2, -4),
            (-7, -2, 3),
            (6, 3, 2),
            (-6, 3, -2),
        ] {
            assert_eq!(floor_div(a, b), q, "{a} // {b}");
        }
    }
}
