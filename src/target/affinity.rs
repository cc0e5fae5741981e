//! Affinities (target `2`): whether a voxel and a neighbour belong to the same non-zero id.
//!
//! Channel `a` (z, y, x order; y, x in 2D) compares voxel pairs along axis `a`. With `v1` the
//! pair is `p` and `p − d·eₐ`; with `v2` it is `p − d·eₐ` and `p + d·eₐ`, leaving `p` itself
//! out. A coordinate that falls off the array is clamped to the nearest edge voxel, which is
//! what PyTC's `edge` padding (and, for `2`, its `replicate` fill of the first plane) amounts
//! to; `2` alone is `v1` with offset 1 on every axis.

/// `out[i] = 1` where `a[i] == b[i] != 0`.
fn same_id(a: &[u64], b: &[u64], out: &mut [f32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f32::from(u8::from(x == y && x != 0));
    }
}

/// Fills `out` (one channel, shape `dims`) with the affinity along `axis`: for each position
/// `i` on the axis, the blocks at `first(i)` and `second(i)` are compared.
fn channel(
    label: &[u64],
    dims: [usize; 3],
    axis: usize,
    out: &mut [f32],
    pair: impl Fn(usize, usize) -> (usize, usize),
) {
    let n = dims[axis];
    let inner: usize = dims[axis + 1..].iter().product();
    let outer: usize = dims[..axis].iter().product();
    for o in 0..outer {
        let base = o * n * inner;
        for i in 0..n {
            let (a, b) = pair(i, n);
            let at = |k: usize| base + k * inner..base + (k + 1) * inner;
            same_id(&label[at(a)], &label[at(b)], &mut out[at(i)]);
        }
    }
}

/// The affinity channels of `label` (shape `dims`), `offsets` per axis `(z, y, x)` (each ≥ 1
/// where used), as `v2` when `symmetric`, else `v1`; without the z channel when `two_d`.
pub(crate) fn affinity(
    label: &[u64],
    dims: [usize; 3],
    offsets: [usize; 3],
    symmetric: bool,
    two_d: bool,
) -> Vec<f32> {
    let voxels = label.len();
    let axes: &[usize] = if two_d { &[1, 2] } else { &[0, 1, 2] };
    let mut out = vec![0f32; voxels * axes.len()];
    if voxels == 0 {
        return out;
    }
    for (c, &axis) in axes.iter().enumerate() {
        let d = offsets[axis];
        let dst = &mut out[c * voxels..(c + 1) * voxels];
        if symmetric {
            channel(label, dims, axis, dst, |i, n| {
                (i.saturating_sub(d), i.saturating_add(d).min(n - 1))
            });
        } else {
            channel(label, dims, axis, dst, |i, _| (i, i.saturating_sub(d)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_x_affinity_of_a_row() {
        let label = [1u64, 1, 2, 2, 0, 0];
        let out = affinity(&label, [1, 1, 6], [1, 1, 1], false, true);
        // Channel y compares each pixel with itself (height 1): the foreground.
        assert_eq!(&out[..6], &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(&out[6..], &[1.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn symmetric_leaves_the_centre_out() {
        let label = [3u64, 0, 3];
        let out = affinity(&label, [1, 1, 3], [1, 1, 1], true, true);
        assert_eq!(&out[3..], &[0.0, 1.0, 0.0]);
    }
}
