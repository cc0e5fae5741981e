//! Hot loops shared by the transforms: gathers through precomputed interpolation tables and
//! separable Gaussian smoothing. No allocation per voxel; tables are built once per sample and
//! reused for every slice and every target.

/// Bilinear interpolation from a `(h, w)` plane, zero outside it.
///
/// Per output pixel, an **interior** position (its 2×2 block inside the plane) keeps the offset
/// of the block's top-left voxel and the two fractions `(fy, fx)`, and is interpolated as
/// `lerp(lerp(a, b, fx), lerp(c, d, fx), fy)`; every other position (near or outside the edge,
/// or marked invalid) is listed apart with its four weights, zero for neighbours outside the
/// plane, and written after the fast pass. 12 bytes per pixel instead of 20 keep the table in
/// cache while it is streamed once per slice.
#[derive(Debug, Default)]
pub(crate) struct LinearTable {
    offsets: Vec<u32>,
    fracs: Vec<[f32; 2]>,
    border: Vec<Border>,
    size: [usize; 2],
}

/// A position of a [`LinearTable`] that is not interior: output `index` is the weighted sum of
/// the 2×2 block at `offset`.
#[derive(Clone, Copy, Debug)]
struct Border {
    index: u32,
    offset: u32,
    weights: [f32; 4],
}

/// Border lists kept per thread for the next tables (a few tables may be alive at once).
const KEPT_BORDERS: usize = 4;

thread_local! {
    /// Border lists of dropped tables, reused by the next ones.
    static BORDERS: std::cell::RefCell<Vec<Vec<Border>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty border list with room for `n` entries (every position of a plane of `n`), so
/// that it never grows while a table is built.
fn border_list(n: usize) -> Vec<Border> {
    let mut list = BORDERS.with_borrow_mut(Vec::pop).unwrap_or_default();
    list.clear();
    list.reserve(n);
    list
}

/// The tables' buffers go back to this thread's pools for the next sample's tables.
impl Drop for LinearTable {
    fn drop(&mut self) {
        crate::recycle::give(std::mem::take(&mut self.offsets));
        crate::recycle::give(std::mem::take(&mut self.fracs));
        let border = std::mem::take(&mut self.border);
        BORDERS.with_borrow_mut(|kept| {
            if kept.len() < KEPT_BORDERS {
                kept.push(border);
            }
        });
    }
}

impl Drop for NearestTable {
    fn drop(&mut self) {
        crate::recycle::give(std::mem::take(&mut self.offsets));
        let mut outside = std::mem::take(&mut self.outside);
        outside.clear();
        crate::recycle::give(outside);
    }
}

/// Nearest-neighbour lookup from a plane: per output pixel, the source offset (0 for a
/// position outside the plane), and the list of outside positions, which read zero.
#[derive(Debug, Default)]
pub(crate) struct NearestTable {
    offsets: Vec<u32>,
    outside: Vec<u32>,
}

/// `v.floor()` as an integer, without the libm call that baseline x86-64 makes of `floor`.
#[inline]
pub(crate) fn floor_i64(v: f64) -> i64 {
    let i = v as i64;
    i - i64::from(v < i as f64)
}

/// Splits a coordinate into the start of a 2-long run that lies inside `[0, n)` and the weights
/// of the run's two voxels; voxels outside `[0, n)` get weight 0.
fn axis_weights(c: f64, n: usize) -> (usize, [f32; 2]) {
    let lo = floor_i64(c);
    let frac = (c - lo as f64) as f32;
    let n = n as i64;
    let w_lo = if (0..n).contains(&lo) {
        1.0 - frac
    } else {
        0.0
    };
    let w_hi = if (0..n).contains(&(lo + 1)) {
        frac
    } else {
        0.0
    };
    if n == 1 {
        // One voxel: both weights fall on it (the other is zero by construction).
        return (0, [w_lo + w_hi, 0.0]);
    }
    let base = lo.clamp(0, n - 2);
    // When the run was shifted to stay inside, the weight of the voxel inside moves with it.
    if base == lo {
        (base as usize, [w_lo, w_hi])
    } else if lo < 0 {
        (0, [w_hi, 0.0])
    } else {
        (base as usize, [0.0, w_lo])
    }
}

/// The tables for source positions `(ys[i], xs[i])` in a `(h, w)` plane, built in one pass:
/// the linear one if `linear`, the nearest one if `nearest`. Positions with `valid[i] == false`
/// read zero (`None`: all valid).
pub(crate) fn tables(
    ys: &[f64],
    xs: &[f64],
    valid: Option<&[bool]>,
    size: [usize; 2],
    linear: bool,
    nearest: bool,
) -> (Option<LinearTable>, Option<NearestTable>) {
    match (linear, nearest) {
        (true, true) => {
            let (l, n) = build::<true, true>(ys, xs, valid, size);
            (Some(l), Some(n))
        }
        (true, false) => (Some(build::<true, false>(ys, xs, valid, size).0), None),
        (false, true) => (None, Some(build::<false, true>(ys, xs, valid, size).1)),
        (false, false) => (None, None),
    }
}

crate::simd::dispatched! {
    fn build<const LINEAR: bool, const NEAREST: bool>(
        ys: &[f64],
        xs: &[f64],
        valid: Option<&[bool]>,
        [h, w]: [usize; 2],
    ) -> (LinearTable, NearestTable) {
        let n = ys.len();
        let xs = &xs[..n];
        use crate::recycle::{take, take_filled};
        let mut lin = LinearTable {
            offsets: take_filled(if LINEAR { n } else { 0 }, 0),
            fracs: take_filled(if LINEAR { n } else { 0 }, [0.0; 2]),
            border: border_list(if LINEAR { n } else { 0 }),
            size: [h, w],
        };
        let mut near = NearestTable {
            offsets: take_filled(if NEAREST { n } else { 0 }, 0),
            outside: {
                let mut outside = take::<u32>(if NEAREST { n } else { 0 });
                outside.clear();
                outside
            },
        };
        // Interior: top-left corner in [0, h − 2] × [0, w − 2] (none when h or w is 1).
        let (ih, iw) = (h.saturating_sub(1) as u64, w.saturating_sub(1) as u64);
        for i in 0..n {
            let (y, x) = (ys[i], xs[i]);
            let ok = valid.is_none_or(|v| v[i]);
            if LINEAR {
                let (iy, ix) = (floor_i64(y), floor_i64(x));
                if ok && (iy as u64) < ih && (ix as u64) < iw {
                    lin.offsets[i] = (iy as usize * w + ix as usize) as u32;
                    lin.fracs[i] = [(y - iy as f64) as f32, (x - ix as f64) as f32];
                } else {
                    let (by, wy) = axis_weights(y, h);
                    let (bx, wx) = axis_weights(x, w);
                    let keep = if ok { 1.0 } else { 0.0 };
                    lin.border.push(Border {
                        index: i as u32,
                        offset: (by * w + bx) as u32,
                        weights: [
                            wy[0] * wx[0] * keep,
                            wy[0] * wx[1] * keep,
                            wy[1] * wx[0] * keep,
                            wy[1] * wx[1] * keep,
                        ],
                    });
                }
            }
            if NEAREST {
                let (ny, nx) = (floor_i64(y + 0.5), floor_i64(x + 0.5));
                if ok && (ny as u64) < h as u64 && (nx as u64) < w as u64 {
                    near.offsets[i] = (ny as usize * w + nx as usize) as u32;
                } else {
                    near.outside.push(i as u32);
                }
            }
        }
        (lin, near)
    }
}

/// A table that fills output planes from source planes: the bulk in ranges of output pixels
/// (so that a range of the table stays in cache while it serves every slice), then a fix-up of
/// the few special pixels per plane.
pub(crate) trait PlaneGather<T> {
    /// Output pixels per plane.
    fn len(&self) -> usize;
    /// Writes output pixels `range` into `out` (of the range's length) from `src`.
    fn gather_range(&self, src: &[T], range: std::ops::Range<usize>, out: &mut [T]);
    /// Rewrites the special pixels of a whole output plane `out` from `src`.
    fn fix_up(&self, src: &[T], out: &mut [T]);
    /// Appends the whole output plane to `out`.
    fn gather(&self, src: &[T], out: &mut Vec<T>)
    where
        T: Copy + Default,
    {
        let start = out.len();
        out.resize(start + self.len(), T::default());
        let out = &mut out[start..];
        self.gather_range(src, 0..self.len(), out);
        self.fix_up(src, out);
    }
}

impl PlaneGather<f32> for LinearTable {
    fn len(&self) -> usize {
        self.offsets.len()
    }

    fn gather_range(&self, src: &[f32], range: std::ops::Range<usize>, out: &mut [f32]) {
        let [h, w] = self.size;
        assert_eq!(src.len(), h * w, "source plane of the table's size");
        if h < 2 || w < 2 {
            // No interior position: every output pixel is a border one.
            return;
        }
        let offsets = &self.offsets[range.clone()];
        let fracs = &self.fracs[range];
        crate::simd::gather_linear(src, w, offsets, fracs, &mut out[..offsets.len()]);
    }

    fn fix_up(&self, src: &[f32], out: &mut [f32]) {
        let [h, w] = self.size;
        // A source of width 1 has no right neighbour: its weights are zero, read the voxel itself.
        let right = usize::from(w > 1);
        let down = if h > 1 { w } else { 0 };
        for b in &self.border {
            let i = b.offset as usize;
            let wt = b.weights;
            out[b.index as usize] = src[i] * wt[0]
                + src[i + right] * wt[1]
                + src[i + down] * wt[2]
                + src[i + down + right] * wt[3];
        }
    }
}

impl<T: Copy + Default> PlaneGather<T> for NearestTable {
    fn len(&self) -> usize {
        self.offsets.len()
    }

    fn gather_range(&self, src: &[T], range: std::ops::Range<usize>, out: &mut [T]) {
        if src.is_empty() {
            return;
        }
        crate::simd::gather_nearest(src, &self.offsets[range], out);
    }

    /// Positions outside the plane read zero.
    fn fix_up(&self, _src: &[T], out: &mut [T]) {
        for &i in &self.outside {
            out[i as usize] = T::default();
        }
    }
}

/// The normalised 1D Gaussian kernel of scipy's `gaussian_filter` (radius `int(4σ + 0.5)`).
#[must_use]
pub(crate) fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    gaussian_kernel_f64(sigma)
        .into_iter()
        .map(|w| w as f32)
        .collect()
}

/// [`gaussian_kernel`] in `f64`, as scipy computes it.
#[must_use]
pub(crate) fn gaussian_kernel_f64(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|w| w / sum).collect()
}

/// Index `i` (possibly outside `[0, n)`) folded back as scipy's `reflect` mode does
/// (`d c b a | a b c d | d c b a`).
fn fold_symmetric(mut i: i64, n: i64) -> usize {
    let period = 2 * n;
    i = i.rem_euclid(period);
    if i >= n {
        i = period - 1 - i;
    }
    i as usize
}

/// Rows `y0..y1`, columns `x0..x1` of a plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
}

/// Output voxels computed together by [`symmetric_fir`]: a block of accumulators that stays in
/// registers (four SSE vectors) while the taps are summed.
const LANES: usize = 16;

/// `out[j] = half[r]·at(j, r) + Σ_{t<r} half[t]·(at(j, t) + at(j, 2r − t))` for every `j`,
/// with `at(j, i) = data[j + i·stride]`: a symmetric FIR filter of radius `r = half.len() − 1`
/// along a line (`stride` 1) or across lines `stride` apart. Each output is summed in this
/// order whatever block it falls in, so a part of a plane is smoothed exactly as the whole is.
/// (No closures: they would not be inlined into the instruction-set versions of the caller.)
#[inline(always)]
fn symmetric_fir(half: &[f32], out: &mut [f32], data: &[f32], stride: usize) {
    let r = half.len() - 1;
    let n = out.len();
    assert!(
        n == 0 || data.len() >= n + 2 * r * stride,
        "the filter's taps inside the data"
    );
    let mut j = 0;
    while j + LANES <= n {
        let mut acc = [0.0f32; LANES];
        let centre = block(data, j + r * stride);
        for l in 0..LANES {
            acc[l] = half[r] * centre[l];
        }
        for (t, &k) in half[..r].iter().enumerate() {
            let lo = block(data, j + t * stride);
            let hi = block(data, j + (2 * r - t) * stride);
            for l in 0..LANES {
                acc[l] += k * (lo[l] + hi[l]);
            }
        }
        out[j..j + LANES].copy_from_slice(&acc);
        j += LANES;
    }
    for (jj, o) in out.iter_mut().enumerate().skip(j) {
        let mut acc = half[r] * data[jj + r * stride];
        for (t, &k) in half[..r].iter().enumerate() {
            acc += k * (data[jj + t * stride] + data[jj + (2 * r - t) * stride]);
        }
        *o = acc;
    }
}

/// `LANES` values of `data` from `at`.
#[inline(always)]
fn block(data: &[f32], at: usize) -> &[f32; LANES] {
    data[at..at + LANES].try_into().expect("LANES values")
}

crate::simd::dispatched! {
    /// The `rect` part of a `(h, w)` plane smoothed by a separable Gaussian of `sigma`, edges
    /// mirrored as scipy's `gaussian_filter` (mode `reflect`) does, in C order. Only the rows and
    /// columns the part depends on are filtered: first along x, then along y, each output a
    /// symmetric sum (centre tap, then the pairs of taps from the outside in).
    pub(crate) fn gaussian_blur_rect(
        plane: &[f32],
        [h, w]: [usize; 2],
        sigma: f64,
        rect: Rect,
    ) -> Vec<f32> {
        let (rh, rw) = (rect.y1 - rect.y0, rect.x1 - rect.x0);
        if sigma <= 0.0 {
            return (rect.y0..rect.y1)
                .flat_map(|y| plane[y * w + rect.x0..y * w + rect.x1].iter().copied())
                .collect();
        }
        let kernel = gaussian_kernel(sigma);
        let r = kernel.len() / 2;
        let half = &kernel[..=r];
        // Columns x0 − r .. x1 + r, folded back into the plane.
        let cols: Vec<usize> = (0..rw + 2 * r)
            .map(|j| fold_symmetric(rect.x0 as i64 + j as i64 - r as i64, w as i64))
            .collect();
        // Rows y0 − r .. y1 + r (folded back into the plane), filtered along x over the rect's
        // columns. Every element of these buffers is written before it is read.
        let mut line = crate::recycle::take::<f32>(rw + 2 * r);
        let mut rows = crate::recycle::take::<f32>((rh + 2 * r) * rw);
        for (k, out) in rows.chunks_exact_mut(rw).enumerate() {
            let sy = fold_symmetric(rect.y0 as i64 + k as i64 - r as i64, h as i64);
            let row = &plane[sy * w..(sy + 1) * w];
            for (v, &c) in line.iter_mut().zip(&cols) {
                *v = row[c];
            }
            symmetric_fir(half, out, &line, 1);
        }
        // Then along y.
        let mut out = crate::recycle::take::<f32>(rh * rw);
        for (y, o) in out.chunks_exact_mut(rw).enumerate() {
            symmetric_fir(half, o, &rows[y * rw..], rw);
        }
        crate::recycle::give(line);
        crate::recycle::give(rows);
        out
    }
}

/// Smooths a whole `(h, w)` plane in place (see [`gaussian_blur_rect`]); `scratch` keeps the
/// smoothed copy between calls.
pub(crate) fn gaussian_blur_2d(
    plane: &mut [f32],
    [h, w]: [usize; 2],
    sigma: f64,
    scratch: &mut Vec<f32>,
) {
    if plane.is_empty() {
        return;
    }
    let full = Rect {
        y0: 0,
        y1: h,
        x0: 0,
        x1: w,
    };
    let smoothed = gaussian_blur_rect(plane, [h, w], sigma, full);
    crate::recycle::give(std::mem::replace(scratch, smoothed));
    plane.copy_from_slice(scratch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_weights_keep_inside_voxels() {
        assert_eq!(axis_weights(2.25, 5), (2, [0.75, 0.25]));
        assert_eq!(axis_weights(-0.5, 5), (0, [0.5, 0.0]));
        assert_eq!(axis_weights(4.5, 5), (3, [0.0, 0.5]));
        assert_eq!(axis_weights(-2.0, 5), (0, [0.0, 0.0]));
        assert_eq!(axis_weights(0.3, 1), (0, [0.7, 0.0]));
    }

    #[test]
    fn fold_symmetric_matches_scipy_reflect() {
        let folded: Vec<usize> = (-4..8).map(|i| fold_symmetric(i, 4)).collect();
        assert_eq!(folded, [3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0]);
    }

    #[test]
    fn gaussian_blur_keeps_constants_and_mass() {
        let mut plane = vec![0.5_f32; 12 * 9];
        gaussian_blur_2d(&mut plane, [12, 9], 2.0, &mut Vec::new());
        assert!(plane.iter().all(|v| (v - 0.5).abs() < 1e-6));
    }

    #[test]
    fn gaussian_blur_rect_is_the_same_part_of_the_whole() {
        let (h, w) = (23, 17);
        let plane: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 11) as f32).collect();
        let mut whole = plane.clone();
        gaussian_blur_2d(&mut whole, [h, w], 1.5, &mut Vec::new());
        let rect = Rect {
            y0: 3,
            y1: 20,
            x0: 5,
            x1: 9,
        };
        let part = gaussian_blur_rect(&plane, [h, w], 1.5, rect);
        for y in rect.y0..rect.y1 {
            for x in rect.x0..rect.x1 {
                let a = part[(y - rect.y0) * 4 + x - rect.x0];
                assert!((a - whole[y * w + x]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn gaussian_blur_matches_direct_2d_convolution() {
        let (h, w) = (9, 7);
        let plane: Vec<f32> = (0..h * w).map(|i| ((i * 13) % 5) as f32).collect();
        let mut fast = plane.clone();
        gaussian_blur_2d(&mut fast, [h, w], 1.0, &mut Vec::new());
        let k = gaussian_kernel(1.0);
        let r = (k.len() / 2) as i64;
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let mut sum = 0.0_f64;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let sy = fold_symmetric(y + dy, h as i64);
                        let sx = fold_symmetric(x + dx, w as i64);
                        sum += f64::from(k[(dy + r) as usize] * k[(dx + r) as usize])
                            * f64::from(plane[sy * w + sx]);
                    }
                }
                assert!((sum - f64::from(fast[y as usize * w + x as usize])).abs() < 1e-4);
            }
        }
    }
}
