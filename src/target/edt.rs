//! Exact Euclidean distance transforms: Felzenszwalb and Huttenlocher's lower envelope of
//! parabolas, one pass per axis, with per-axis sampling.
//!
//! The transforms work on flat C-order buffers of squared distances: a voxel starts at `0.0`
//! (a background voxel, a source) or `f64::INFINITY` (a voxel whose distance is wanted), and
//! each pass along an axis of sampling `s` replaces every value with
//! `min_q (f[q] + s² (p − q)²)` along its line. After the passes over every axis each voxel
//! holds its squared distance to the nearest source, exactly (up to the rounding of the sums
//! themselves when `s²` is not an integer).

use ndarray::{Array3, ArrayView3};

use crate::{Error, Result};

/// What a transform returns where the buffer holds no source at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoSource {
    /// Infinity everywhere (the mathematical answer).
    Infinite,
    /// scipy's `distance_transform_edt` answer: every voxel's distance to a virtual source
    /// just before the array's origin on axis `.0` (index −1 there, 0 on the other axes).
    Scipy(usize),
}

/// Scratch buffers reused between lines and calls.
#[derive(Debug, Default)]
pub(crate) struct Work {
    line: Vec<f64>,
    out: Vec<f64>,
    sites: Vec<usize>,
    bounds: Vec<f64>,
    keys: Vec<f64>,
}

/// Squared distance transform of `f` (shape `dims`, C order) in place, with `weights[a]` the
/// squared sampling of axis `a` (each positive and finite). Axes of length 1 are skipped.
pub(crate) fn squared_edt(
    f: &mut [f64],
    dims: [usize; 3],
    weights: [f64; 3],
    no_source: NoSource,
    work: &mut Work,
) {
    debug_assert_eq!(f.len(), dims.iter().product::<usize>());
    if f.is_empty() {
        return;
    }
    if !f.contains(&0.0) {
        fill_without_source(f, dims, weights, no_source);
        return;
    }
    // The innermost axis first: its lines are contiguous, and its values are still 0 or ∞,
    // so two scans give each voxel its distance to the nearest source on the line.
    let w = dims[2];
    if w > 1 {
        for row in f.chunks_exact_mut(w) {
            scan_line(row, weights[2]);
        }
    }
    for axis in [1, 0] {
        let n = dims[axis];
        if n <= 1 {
            continue;
        }
        let stride: usize = dims[axis + 1..].iter().product();
        let outer: usize = dims[..axis].iter().product();
        if n <= SHORT {
            for block in f.chunks_exact_mut(n * stride) {
                short_axis(block, n, weights[axis], &mut work.line);
            }
            continue;
        }
        work.line.resize(n, 0.0);
        work.out.resize(n, 0.0);
        work.sites.resize(n, 0);
        work.bounds.resize(n + 1, 0.0);
        work.keys.resize(n, 0.0);
        for o in 0..outer {
            let base = o * n * stride;
            for inner in 0..stride {
                let start = base + inner;
                for (i, v) in work.line.iter_mut().enumerate() {
                    *v = f[start + i * stride];
                }
                envelope(
                    &work.line,
                    &mut work.out,
                    weights[axis],
                    &mut work.sites,
                    &mut work.bounds,
                    &mut work.keys,
                );
                for (i, v) in work.out.iter().enumerate() {
                    f[start + i * stride] = *v;
                }
            }
        }
    }
}

/// Axes this short are done by the exact minimum over every pair of planes, which vectorises
/// along the planes and beats the envelope's per-line work.
const SHORT: usize = 24;

/// One block of `n` planes (`block.len() / n` values each) along a short axis: plane `p`
/// becomes the element-wise `min_q (plane q + weight · (p − q)²)`. Done a tile of each plane
/// at a time, so the `n` source tiles stay in cache.
fn short_axis(block: &mut [f64], n: usize, weight: f64, copy: &mut Vec<f64>) {
    const TILE: usize = 512;
    let len = block.len() / n;
    let mut start = 0;
    while start < len {
        let t = TILE.min(len - start);
        copy.clear();
        for q in 0..n {
            copy.extend_from_slice(&block[q * len + start..q * len + start + t]);
        }
        for p in 0..n {
            let out = &mut block[p * len + start..p * len + start + t];
            out.fill(f64::INFINITY);
            for (q, src) in copy.chunks_exact(t).enumerate() {
                let d = p.abs_diff(q) as f64;
                let add = weight * d * d;
                for (o, &v) in out.iter_mut().zip(src) {
                    let c = v + add;
                    *o = if c < *o { c } else { *o };
                }
            }
        }
        start += t;
    }
}

/// A line whose values are 0 or ∞: each becomes `weight · (distance to the nearest 0)²`
/// (∞ if the line has no 0).
fn scan_line(row: &mut [f64], weight: f64) {
    // Forward: the distance, in voxels, to the nearest source at or before each voxel. Sources
    // stay 0 and every other voxel gets at least 1 (or ∞), so sources remain recognisable.
    let mut last: Option<usize> = None;
    for (i, v) in row.iter_mut().enumerate() {
        if *v == 0.0 {
            last = Some(i);
        } else {
            *v = last.map_or(f64::INFINITY, |l| (i - l) as f64);
        }
    }
    // Backward: the nearest source after, then squared and weighted.
    let mut next: Option<usize> = None;
    for (i, v) in row.iter_mut().enumerate().rev() {
        if *v == 0.0 {
            next = Some(i);
            continue;
        }
        let d = next.map_or(*v, |n| v.min((n - i) as f64));
        *v = weight * d * d;
    }
}

/// One line of the lower envelope: `out[p] = min_q (line[q] + weight · (p − q)²)` over the
/// finite `line[q]` (∞ where there is none). `v`, `keys` (length `n`) and `z` (`n + 1`) are
/// scratch: the envelope's sites, their `line[q] + weight · q²`, and where each site's
/// parabola begins.
fn envelope(
    line: &[f64],
    out: &mut [f64],
    weight: f64,
    v: &mut [usize],
    z: &mut [f64],
    keys: &mut [f64],
) {
    let twice = 2.0 * weight;
    // `top` is the number of sites on the envelope.
    let mut top = 0usize;
    for (q, &fq) in line.iter().enumerate() {
        if fq == f64::INFINITY {
            continue;
        }
        let qf = q as f64;
        let kq = fq + weight * qf * qf;
        let mut s = f64::NEG_INFINITY;
        while top > 0 {
            // Where the parabolas of the last site and `q` meet.
            let k = top - 1;
            s = (kq - keys[k]) / (twice * (q - v[k]) as f64);
            if k > 0 && s <= z[k] {
                top -= 1;
            } else {
                break;
            }
        }
        v[top] = q;
        keys[top] = kq;
        z[top] = s;
        top += 1;
    }
    if top == 0 {
        out.fill(f64::INFINITY);
        return;
    }
    z[top] = f64::INFINITY;
    let mut k = 0;
    for (p, o) in out.iter_mut().enumerate() {
        let pf = p as f64;
        while z[k + 1] < pf {
            k += 1;
        }
        let d = pf - v[k] as f64;
        *o = line[v[k]] + weight * d * d;
    }
}

/// The values of a buffer with no source.
fn fill_without_source(f: &mut [f64], dims: [usize; 3], weights: [f64; 3], no_source: NoSource) {
    match no_source {
        NoSource::Infinite => f.fill(f64::INFINITY),
        NoSource::Scipy(first) => {
            let [_, h, w] = dims;
            for (i, v) in f.iter_mut().enumerate() {
                let mut c = [i / (h * w), (i / w) % h, i % w];
                c[first] += 1;
                *v = (0..3).map(|a| weights[a] * (c[a] * c[a]) as f64).sum();
            }
        }
    }
}

/// Checks a sampling: every entry positive, finite, and with a finite non-zero square.
fn check_sampling(sampling: &[f64]) -> Result<()> {
    for &s in sampling {
        let sq = s * s;
        if !(s > 0.0 && sq.is_finite() && sq > 0.0) {
            return Err(Error::Geometry(format!(
                "distance transform sampling {sampling:?}: every entry must be positive and finite"
            )));
        }
    }
    Ok(())
}

/// The Euclidean distance of every `true` voxel of `mask` to the nearest `false` voxel (0 at
/// `false` voxels), with `sampling` the voxel size along `(z, y, x)`: scipy's
/// `distance_transform_edt(mask, sampling)`. Voxels beyond the array are not background; a mask
/// with no `false` voxel at all gives, as scipy does, the distance to a virtual background voxel
/// at `(−1, 0, 0)`.
///
/// Separable and exact (Felzenszwalb–Huttenlocher): linear in the number of voxels.
///
/// # Errors
/// [`Error::Geometry`] when a sampling entry is not positive and finite.
///
/// ```
/// use ndarray::Array3;
/// use voxload::target::distance_transform;
///
/// let mask = Array3::from_shape_fn((1, 1, 5), |(_, _, x)| x != 0);
/// let d = distance_transform(mask.view(), [1.0, 1.0, 2.0])?;
/// assert_eq!(d.as_slice().unwrap(), &[0.0, 2.0, 4.0, 6.0, 8.0]);
/// # Ok::<(), voxload::Error>(())
/// ```
pub fn distance_transform(mask: ArrayView3<'_, bool>, sampling: [f64; 3]) -> Result<Array3<f64>> {
    check_sampling(&sampling)?;
    let (d, h, w) = mask.dim();
    let mut f: Vec<f64> = mask.iter().map(|&m| source(m)).collect();
    squared_edt(
        &mut f,
        [d, h, w],
        sampling.map(|s| s * s),
        NoSource::Scipy(0),
        &mut Work::default(),
    );
    f.iter_mut().for_each(|v| *v = v.sqrt());
    Ok(Array3::from_shape_vec((d, h, w), f).expect("shape matches"))
}

/// [`distance_transform`] of each z slice on its own, with `sampling` the pixel size along
/// `(y, x)`: scipy's 2D `distance_transform_edt` slice by slice (a slice with no `false`
/// pixel measures to a virtual background pixel at `(−1, 0)`).
///
/// # Errors
/// [`Error::Geometry`] when a sampling entry is not positive and finite.
///
/// ```
/// use ndarray::Array3;
/// use voxload::target::distance_transform_slices;
///
/// // Slice 0 has background at its centre; slice 1 has none.
/// let mask = Array3::from_shape_fn((2, 3, 3), |(z, y, x)| z == 1 || (y, x) != (1, 1));
/// let d = distance_transform_slices(mask.view(), [1.0, 1.0])?;
/// assert_eq!(d[[0, 0, 0]], 2f64.sqrt());
/// assert_eq!(d[[1, 0, 0]], 1.0);
/// # Ok::<(), voxload::Error>(())
/// ```
pub fn distance_transform_slices(
    mask: ArrayView3<'_, bool>,
    sampling: [f64; 2],
) -> Result<Array3<f64>> {
    check_sampling(&sampling)?;
    let (d, h, w) = mask.dim();
    let mut f: Vec<f64> = mask.iter().map(|&m| source(m)).collect();
    let mut work = Work::default();
    let weights = [1.0, sampling[0] * sampling[0], sampling[1] * sampling[1]];
    if h * w > 0 {
        for slice in f.chunks_exact_mut(h * w) {
            squared_edt(slice, [1, h, w], weights, NoSource::Scipy(1), &mut work);
        }
    }
    f.iter_mut().for_each(|v| *v = v.sqrt());
    Ok(Array3::from_shape_vec((d, h, w), f).expect("shape matches"))
}

/// The starting value of a voxel: 0 for background (a source), ∞ for a voxel to measure.
pub(crate) fn source(inside: bool) -> f64 {
    if inside {
        f64::INFINITY
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(f: &[f64], dims: [usize; 3], weights: [f64; 3]) -> Vec<f64> {
        let [_, h, w] = dims;
        let coord = |i: usize| [i / (h * w), (i / w) % h, i % w];
        (0..f.len())
            .map(|i| {
                let p = coord(i);
                (0..f.len())
                    .filter(|&j| f[j] == 0.0)
                    .map(|j| {
                        let q = coord(j);
                        (0..3)
                            .map(|a| weights[a] * ((p[a] as f64 - q[a] as f64).powi(2)))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn envelope_and_short_axes_match_brute_force() {
        // Axes longer than SHORT take the envelope, shorter ones the plane minimum.
        for dims in [[3, 4, 5], [2, 30, 3], [1, 3, 40], [26, 2, 2], [2, 27, 29]] {
            let n: usize = dims.iter().product();
            for seed in 0..20u64 {
                let f: Vec<f64> = (0..n as u64)
                    .map(|i| {
                        let x = (i * 2654435761 + seed * 40503) % (3 + seed % 11);
                        if x == 0 {
                            0.0
                        } else {
                            f64::INFINITY
                        }
                    })
                    .collect();
                let weights = [4.0, 1.0, 2.25];
                let mut got = f.clone();
                squared_edt(
                    &mut got,
                    dims,
                    weights,
                    NoSource::Infinite,
                    &mut Work::default(),
                );
                assert_eq!(got, brute(&f, dims, weights), "{dims:?} seed {seed}");
            }
        }
    }

    #[test]
    fn no_source_scipy_and_infinite() {
        let mut f = vec![f64::INFINITY; 6];
        squared_edt(
            &mut f,
            [1, 2, 3],
            [1.0; 3],
            NoSource::Scipy(1),
            &mut Work::default(),
        );
        assert_eq!(f, [1.0, 2.0, 5.0, 4.0, 5.0, 8.0]);
        let mut f = vec![f64::INFINITY; 4];
        squared_edt(
            &mut f,
            [1, 2, 2],
            [1.0; 3],
            NoSource::Infinite,
            &mut Work::default(),
        );
        assert!(f.iter().all(|v| v.is_infinite()));
    }

    #[test]
    fn bad_sampling_is_an_error() {
        let mask = Array3::from_elem((1, 1, 2), true);
        for s in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e200] {
            assert!(
                distance_transform(mask.view(), [1.0, s, 1.0]).is_err(),
                "{s}"
            );
        }
    }
}
