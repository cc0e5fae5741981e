//! Affinities (target `2`): whether a voxel and a neighbour belong to the same non-zero id.
//!
//! Channel `a` (z, y, x order; y, x in 2D) compares voxel pairs along axis `a`. With `v1` the
//! pair is `p` and `p − d·eₐ`; with `v2` it is `p − d·eₐ` and `p + d·eₐ`, leaving `p` itself
//! out. A coordinate that falls off the array is clamped to the nearest edge voxel, which is
//! what PyTC's `edge` padding (and, for `2`, its `replicate` fill of the first plane) amounts
//! to; `2` alone is `v1` with offset 1 on every axis.

use super::ids::Id;

/// `out[i] = 1` where `a[i] == b[i] != 0`.
fn same_id<T: Id>(a: &[T], b: &[T], out: &mut [u8]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = u8::from(x == y) & u8::from(!x.is_zero());
    }
}

/// `i + shift` clamped to `0..n`.
fn clamp(i: usize, shift: isize, n: usize) -> usize {
    i.saturating_add_signed(shift).min(n - 1)
}

/// One line's affinity with itself shifted by `a` and `b`: the voxels whose shifted positions
/// both fall inside compare two subslices, the few at the ends one voxel at a time.
fn along_line<T: Id>(line: &[T], out: &mut [u8], (a, b): (isize, isize)) {
    let n = line.len();
    let first = a.min(b).min(0).unsigned_abs().min(n);
    let end = n.saturating_sub(a.max(b).max(0).unsigned_abs()).max(first);
    if first < end {
        let shifted = |s: isize| &line[first.wrapping_add_signed(s)..end.wrapping_add_signed(s)];
        same_id(shifted(a), shifted(b), &mut out[first..end]);
    }
    for i in (0..first).chain(end..n) {
        let (x, y) = (line[clamp(i, a, n)], line[clamp(i, b, n)]);
        out[i] = u8::from(x == y && !x.is_zero());
    }
}

/// The affinity channels of `label` (shape `dims`) as 0/1 into `out` (one channel after the
/// other), `offsets` per axis `(z, y, x)` (each ≥ 1 where used), as `v2` when `symmetric`,
/// else `v1`; without the z channel when `two_d`. `out` holds one channel per axis used.
///
/// One sweep over the label's rows: each row's channels compare it with itself shifted (x)
/// or whole rows at the shifted y or z (positions clamped to the array), while the rows are in
/// the cache.
pub(crate) fn affinity<T: Id>(
    label: &[T],
    dims: [usize; 3],
    offsets: [usize; 3],
    symmetric: bool,
    two_d: bool,
    out: &mut [u8],
) {
    let [d, h, w] = dims;
    let voxels = label.len();
    let axes: &[usize] = if two_d { &[1, 2] } else { &[0, 1, 2] };
    debug_assert_eq!(out.len(), voxels * axes.len());
    if voxels == 0 {
        return;
    }
    // Position `i` on an axis compares the voxels at `i + a` and `i + b`; an offset beyond
    // the axis clamps like the axis length.
    let shifts: Vec<(usize, (isize, isize))> = axes
        .iter()
        .map(|&axis| {
            let o = offsets[axis].min(dims[axis]) as isize;
            (axis, if symmetric { (-o, o) } else { (0, -o) })
        })
        .collect();
    let row = |z: usize, y: usize| &label[(z * h + y) * w..][..w];
    let mut channels: Vec<&mut [u8]> = out.chunks_exact_mut(voxels).collect();
    for z in 0..d {
        for y in 0..h {
            let at = (z * h + y) * w;
            for (dst, &(axis, (a, b))) in channels.iter_mut().zip(&shifts) {
                let dst = &mut dst[at..at + w];
                match axis {
                    0 => same_id(row(clamp(z, a, d), y), row(clamp(z, b, d), y), dst),
                    1 => same_id(row(z, clamp(y, a, h)), row(z, clamp(y, b, h)), dst),
                    _ => along_line(row(z, y), dst, (a, b)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_x_affinity_of_a_row() {
        let label = [1u64, 1, 2, 2, 0, 0];
        let mut out = [9u8; 12];
        affinity(&label, [1, 1, 6], [1, 1, 1], false, true, &mut out);
        // Channel y compares each pixel with itself (height 1): the foreground.
        assert_eq!(&out[..6], &[1, 1, 1, 1, 0, 0]);
        assert_eq!(&out[6..], &[1, 1, 0, 1, 0, 0]);
    }

    #[test]
    fn symmetric_leaves_the_centre_out() {
        let label = [3u16, 0, 3];
        let mut out = [9u8; 6];
        affinity(&label, [1, 1, 3], [1, 1, 1], true, true, &mut out);
        assert_eq!(&out[3..], &[0, 1, 0]);
    }
}
