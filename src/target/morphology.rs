//! Label morphology: sliding-window extremes (a monotonic queue per line, so any window size
//! costs the same), PyTC's label erosion (`seg_widen_border`) and dilation, instance boundaries
//! (target `4`) and small-object masks (target `3`).
//!
//! Every window is clipped to the array. PyTC pads with `reflect`/`symm` modes or relies on
//! scipy's `reflect`; for the window sizes involved, the values a mirrored window sees are
//! values the clipped window already holds, so extremes and "how many ids" are the same.

use super::components::{Connectivity, Labeller};
use super::ids::Id;
use crate::recycle;

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
/// axis is not the innermost one, so the loops run over contiguous memory); along the
/// innermost axis, each line is merged with its copies shifted by every offset of the window.
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
        if stride == 1 {
            // A voxel shifted off the end would be the line's last or first voxel, which a
            // smaller offset already brought in.
            for s in 1..=after.min(n - 1) {
                merge(&mut block[..n - s], &copy[s..], beats);
            }
            for s in 1..=before.min(n - 1) {
                merge(&mut block[s..], &copy[..n - s], beats);
            }
            continue;
        }
        for i in 0..n {
            let (lo, hi) = (i.saturating_sub(before), (i + after).min(n - 1));
            let out = &mut block[i * stride..(i + 1) * stride];
            out.copy_from_slice(&copy[lo * stride..(lo + 1) * stride]);
            for j in lo + 1..=hi {
                merge(out, &copy[j * stride..(j + 1) * stride], beats);
            }
        }
    }
}

/// `out[i]` becomes `other[i]` where that beats it: a select, not a branch, so the loop
/// vectorises.
#[inline]
fn merge<T: Copy>(out: &mut [T], other: &[T], beats: impl Fn(T, T) -> bool) {
    for (o, &v) in out.iter_mut().zip(other) {
        *o = if beats(v, *o) { v } else { *o };
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

/// Per pixel, the largest id and the smallest non-zero id (`T::MAX` if none) in its in-plane
/// `(2·half + 1)²` window, in buffers from this thread's pool.
fn plane_id_range<T: Id>(label: &[T], dims: [usize; 3], half: usize) -> (Vec<T>, Vec<T>) {
    let mut max = recycle::take::<T>(label.len());
    max.copy_from_slice(label);
    plane_max(&mut max, dims, half);
    let mut min = recycle::take::<T>(label.len());
    for (m, &v) in min.iter_mut().zip(label) {
        *m = if v.is_zero() { T::MAX } else { v };
    }
    for axis in [2, 1] {
        sliding_axis(&mut min, dims, axis, (half, half), |a, b| a < b);
    }
    (max, min)
}

/// PyTC's `seg_widen_border` (`MODEL.LABEL_EROSION`): a voxel keeps its id only where its
/// in-plane window holds at most one distinct non-zero id; elsewhere it becomes 0.
pub(crate) fn widen_border(label: &[u64], dims: [usize; 3], half: usize) -> Vec<u64> {
    let (max, min) = plane_id_range(label, dims, half);
    let out = label
        .iter()
        .zip(max.iter().zip(&min))
        .map(|(&v, (&hi, &lo))| if hi == lo { v } else { 0 })
        .collect();
    recycle::give(max);
    recycle::give(min);
    out
}

/// PyTC's instance boundary (target `4-half-background`) as 0/1 into `out`, slice by slice.
///
/// With `background`: a pixel is an edge where its two neighbours along y, or its two along x,
/// differ (each neighbour clamped to the slice, as `convolve2d` with `symm` sees it; the pixel
/// itself is not compared), and the edges are dilated by the `(2·half + 1)²` square. Without:
/// a pixel is boundary where its window holds two or more distinct non-zero ids.
pub(crate) fn instance_boundary<T: Id>(
    label: &[T],
    dims: [usize; 3],
    half: usize,
    background: bool,
    out: &mut [u8],
) {
    let [_, h, w] = dims;
    if !background {
        let (max, min) = plane_id_range(label, dims, half);
        for (o, (&hi, &lo)) in out.iter_mut().zip(max.iter().zip(&min)) {
            *o = u8::from(!hi.is_zero() && hi != lo);
        }
        recycle::give(max);
        recycle::give(min);
        return;
    }
    if h * w > 0 {
        for (slice, edge) in label.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
            slice_edges(slice, [h, w], edge);
        }
    }
    plane_max(out, dims, half);
}

/// One slice's edges (see [`instance_boundary`]), row by row.
fn slice_edges<T: Id>(slice: &[T], [h, w]: [usize; 2], edge: &mut [u8]) {
    for (y, out) in edge.chunks_exact_mut(w).enumerate() {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let row = &slice[y * w..][..w];
        for ((o, &a), &b) in out
            .iter_mut()
            .zip(&slice[up * w..][..w])
            .zip(&slice[down * w..][..w])
        {
            *o = u8::from(a != b);
        }
        if w >= 2 {
            out[0] |= u8::from(row[0] != row[1]);
            out[w - 1] |= u8::from(row[w - 2] != row[w - 1]);
            for ((o, &a), &b) in out[1..w - 1].iter_mut().zip(&row[..w - 2]).zip(&row[2..]) {
                *o |= u8::from(a != b);
            }
        }
    }
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
/// or smaller than `threshold // ratio` in its y plane `(z, x)` or its x plane `(z, y)`; as 0/1
/// into `mask`.
pub(crate) fn small_objects(
    label: &[u64],
    dims: [usize; 3],
    threshold: i64,
    ratio: i64,
    mask: &mut [u8],
) {
    let [d, h, w] = dims;
    mask.fill(0);
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
