//! Order 3: a window of the output grid computed from the source box it needs.
//!
//! The box holds every tap of the window's output voxels plus [`MARGIN`] voxels on each side of
//! each resampled axis, read with `reflect` extension (scipy's mirror beyond the source; for a
//! zoom the stored array, for a resize the padded, possibly zoomed, volume). The passes are
//! separable and run over the box in turn: the source rows are converted to `f64`, prefiltered
//! and interpolated along x (16 rows side by side); the rows are then prefiltered and
//! interpolated along y, whole rows at a time, and the planes along z. Axes whose length is
//! kept are copied (scipy's prefilter and interpolation are then exactly inverse). Buffers are
//! this thread's, reused from read to read.

use std::cell::Cell;

use super::axis::{Axis, POLE};
use crate::pad::source_box;
use crate::store::reader::checked_voxels;
use crate::{Bbox, Error, Result};

/// Source voxels read beyond the outermost tap on each side of a zoomed axis. The box's
/// recursive prefilter starts from a steady-state guess at the box's ends; its error shrinks by
/// `|pole|` = 0.268 per voxel, so at the taps it is below `800 · 0.268^24 ≈ 2e-11` times the
/// largest voxel value (scipy's own rounding differences are about `1e-13` of it).
pub(super) const MARGIN: i64 = 24;

/// Source rows resampled together along x.
const ROWS: usize = 16;

/// Buffers larger than this are freed after a read rather than kept for the next one.
const RETAIN_BYTES: usize = 64 << 20;

/// How the box is resampled along one axis.
struct Pass {
    /// The box's first source index along the axis (negative or past the end: mirrored).
    begin: i64,
    /// The box's extent along the axis.
    len: usize,
    /// For each zoomed index of the window's range: the box position of its first tap, or
    /// `None` where scipy gives the voxel its `cval` (0).
    starts: Vec<Option<usize>>,
    /// `width` weights per zoomed index.
    weights: Vec<f64>,
    /// Taps per zoomed index: 1 (a copy) or 4.
    width: usize,
    /// The box is prefiltered along this axis first.
    prefilter: bool,
}

impl Pass {
    /// The pass of zoomed indices `k0..=k1` of `axis`.
    fn new(axis: &Axis, k0: u64, k1: u64) -> Self {
        let n = (k1 - k0 + 1) as usize;
        if axis.is_identity() || axis.source == 1 {
            // A kept axis is a copy; a source axis of one voxel is that voxel everywhere
            // (scipy does not prefilter it, and the weights sum to 1).
            let (begin, len, starts) = if axis.source == 1 {
                (0, 1, vec![Some(0); n])
            } else {
                (k0 as i64, n, (0..n).map(Some).collect())
            };
            return Pass {
                begin,
                len,
                starts,
                weights: vec![1.0; n],
                width: 1,
                prefilter: false,
            };
        }
        let taps: Vec<Option<(i64, [f64; 4])>> = (k0..=k1).map(|k| axis.cubic(k)).collect();
        let first = taps.iter().flatten().map(|t| t.0).min();
        let last = taps.iter().flatten().map(|t| t.0 + 3).max();
        let (Some(first), Some(last)) = (first, last) else {
            // Every index lies past the end: all zeros, from a token box.
            return Pass {
                begin: 0,
                len: 1,
                starts: vec![None; n],
                weights: vec![0.0; n],
                width: 1,
                prefilter: false,
            };
        };
        let begin = first - MARGIN;
        Pass {
            begin,
            len: (last - first + 1 + 2 * MARGIN) as usize,
            starts: taps
                .iter()
                .map(|t| t.map(|(s, _)| (s - begin) as usize))
                .collect(),
            weights: taps
                .iter()
                .flat_map(|t| t.map_or([0.0; 4], |t| t.1))
                .collect(),
            width: 4,
            prefilter: true,
        }
    }

    /// The number of zoomed indices it makes.
    fn out_len(&self) -> usize {
        self.starts.len()
    }

    /// True when the pass makes exactly its box: no work.
    fn is_copy(&self) -> bool {
        self.width == 1
            && self.len == self.out_len()
            && self.starts.iter().enumerate().all(|(i, s)| *s == Some(i))
    }
}

/// How source voxels of type `S` are read and converted: `read` fills a box of the source grid
/// (any box: voxels beyond the source mirrored as numpy's `reflect`), `load` turns a voxel into
/// the `f64` that is interpolated.
pub(super) struct Source<R, L> {
    pub(super) read: R,
    pub(super) load: L,
}

/// Writes into `out` the voxels `folds` (each window position's output index by the read's pad
/// fold, `None` for the pad constant) of the grid `axes` resample `source` to, by order 3: each
/// interpolated value as `store(t)`, padded voxels as `cval`. `out` holds the folds' box.
pub(super) fn read<S, Q, R, L>(
    axes: &[Axis; 3],
    folds: &[Vec<Option<u64>>; 3],
    source: Source<R, L>,
    store: impl Fn(f64) -> Q,
    cval: Q,
    out: &mut [Q],
) -> Result<()>
where
    S: bytemuck::Pod,
    Q: Copy,
    R: FnOnce(Bbox, &mut [S]) -> Result<()>,
    L: Fn(S) -> f64,
{
    let Some(range) = source_box(folds) else {
        out.fill(cval);
        return Ok(());
    };
    let end = range.end();
    let passes: [Pass; 3] =
        std::array::from_fn(|a| Pass::new(&axes[a], range.begin[a] as u64, end[a] as u64 - 1));
    // Taken out for the read, not borrowed: a read that re-enters on this thread (a decoder
    // running rayon tasks, or a resize reading its zoomed source) then finds no buffers and
    // allocates its own.
    let mut scratch = SCRATCH.take();
    let result = resample(source, &passes, &mut scratch).map(|values| {
        gather(values, folds, range, cval, &store, out);
    });
    scratch.trim();
    SCRATCH.set(scratch);
    result
}

/// This thread's buffers: the source box and the results of the three passes.
#[derive(Default)]
struct Scratch {
    /// The source box, as `u64` words so that it is aligned for every voxel type.
    raw: Vec<u64>,
    line: Vec<f64>,
    line_out: Vec<f64>,
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

impl Scratch {
    fn trim(&mut self) {
        let raw_bytes = self.raw.capacity() * 8;
        if raw_bytes > RETAIN_BYTES {
            self.raw = Vec::new();
        }
        for buffer in [
            &mut self.line,
            &mut self.line_out,
            &mut self.x,
            &mut self.y,
            &mut self.z,
        ] {
            if buffer.capacity() * size_of::<f64>() > RETAIN_BYTES {
                *buffer = Vec::new();
            }
        }
    }
}

/// `buffer`'s first `n` values (grown when needed, without aborting when memory is short).
fn take(buffer: &mut Vec<f64>, n: usize) -> Result<&mut [f64]> {
    if buffer.len() < n {
        buffer
            .try_reserve(n - buffer.len())
            .map_err(|e| Error::Geometry(format!("cannot allocate {n} zoom values: {e}")))?;
        buffer.resize(n, 0.0);
    }
    Ok(&mut buffer[..n])
}

/// The product of `dims`, or an error when it is too large to hold.
fn product(dims: [usize; 3]) -> Result<usize> {
    checked_voxels::<f64>(&Bbox::new([0; 3], dims.map(|d| d as u64)))
}

/// Runs the three passes over the source box; returns the output values of the window's range.
fn resample<'s, S: bytemuck::Pod>(
    Source { read, load }: Source<impl FnOnce(Bbox, &mut [S]) -> Result<()>, impl Fn(S) -> f64>,
    [pz, py, px]: &[Pass; 3],
    s: &'s mut Scratch,
) -> Result<&'s [f64]> {
    let source = Bbox::new(
        [pz.begin, py.begin, px.begin],
        [pz, py, px].map(|p| p.len as u64),
    );
    let [bz, by, bx] = [pz.len, py.len, px.len];
    let [dz, dy, dx] = [pz.out_len(), py.out_len(), px.out_len()];
    let voxels = checked_voxels::<S>(&source)?;
    let words = (voxels * size_of::<S>()).div_ceil(8);
    if s.raw.len() < words {
        s.raw
            .try_reserve(words - s.raw.len())
            .map_err(|e| Error::Geometry(format!("cannot allocate source box {source:?}: {e}")))?;
        s.raw.resize(words, 0);
    }
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut s.raw[..words]);
    let raw: &mut [S] = bytemuck::cast_slice_mut(&mut bytes[..voxels * size_of::<S>()]);
    read(source, raw)?;

    // Along x, `ROWS` rows at a time, interleaved, so that the prefilter's recursion runs on
    // independent values side by side rather than one long dependent chain.
    let lanes = take(&mut s.line, bx * ROWS)?;
    let lanes_out = take(&mut s.line_out, dx * ROWS)?;
    let xs = take(&mut s.x, product([bz, by, dx])?)?;
    for (rows, dst) in raw.chunks(bx * ROWS).zip(xs.chunks_mut(dx * ROWS)) {
        let r = rows.len() / bx;
        for (k, row) in rows.chunks_exact(bx).enumerate() {
            for (x, &v) in row.iter().enumerate() {
                lanes[x * r + k] = load(v);
            }
        }
        if px.prefilter {
            prefilter(&mut lanes[..bx * r], bx, r);
        }
        interpolate(&lanes[..bx * r], &mut lanes_out[..dx * r], (bx, r), px);
        for (k, out) in dst.chunks_exact_mut(dx).enumerate() {
            for (x, o) in out.iter_mut().enumerate() {
                *o = lanes_out[x * r + k];
            }
        }
    }

    if py.prefilter {
        prefilter(xs, by, dx);
    }
    let ys: &mut [f64] = if py.is_copy() {
        xs
    } else {
        let ys = take(&mut s.y, product([bz, dy, dx])?)?;
        interpolate(xs, ys, (by, dx), py);
        ys
    };

    if pz.prefilter {
        prefilter(ys, bz, dy * dx);
    }
    if pz.is_copy() {
        return Ok(ys);
    }
    let zs = take(&mut s.z, product([dz, dy, dx])?)?;
    interpolate(ys, zs, (bz, dy * dx), pz);
    Ok(zs)
}

/// Applies scipy's cubic B-spline prefilter along the middle axis of `buffer`, lanes of `len`
/// rows of `inner` values each (`inner` = 1: lines), in place. Each lane starts and ends from
/// the steady state of its first and last row (see [`MARGIN`]).
fn prefilter(buffer: &mut [f64], len: usize, inner: usize) {
    let gain = (1.0 - POLE) * (1.0 - 1.0 / POLE);
    for lane in buffer.chunks_exact_mut(len * inner) {
        for v in lane.iter_mut() {
            *v *= gain;
        }
        for v in &mut lane[..inner] {
            *v /= 1.0 - POLE;
        }
        for i in 1..len {
            let (done, rest) = lane.split_at_mut(i * inner);
            for (c, p) in rest[..inner].iter_mut().zip(&done[(i - 1) * inner..]) {
                *c += POLE * p;
            }
        }
        for v in &mut lane[(len - 1) * inner..] {
            *v *= POLE / (POLE - 1.0);
        }
        for i in (0..len - 1).rev() {
            let (head, tail) = lane.split_at_mut((i + 1) * inner);
            for (c, n) in head[i * inner..].iter_mut().zip(&tail[..inner]) {
                *c = POLE * (n - *c);
            }
        }
    }
}

/// Interpolates `src` (lanes of `len` rows of `inner` values) along its middle axis into `dst`
/// (lanes of `pass.out_len()` rows): each output row is the weighted sum of its taps' rows.
fn interpolate(src: &[f64], dst: &mut [f64], (len, inner): (usize, usize), pass: &Pass) {
    let n = pass.out_len();
    for (src, dst) in src
        .chunks_exact(len * inner)
        .zip(dst.chunks_exact_mut(n * inner))
    {
        for (i, d) in dst.chunks_exact_mut(inner).enumerate() {
            let Some(start) = pass.starts[i] else {
                d.fill(0.0);
                continue;
            };
            let weights = &pass.weights[i * pass.width..(i + 1) * pass.width];
            if inner == 1 {
                d[0] = weights.iter().zip(&src[start..]).map(|(w, v)| w * v).sum();
                continue;
            }
            let row = |t: usize| &src[(start + t) * inner..(start + t + 1) * inner];
            for (o, v) in d.iter_mut().zip(row(0)) {
                *o = weights[0] * v;
            }
            for (t, &w) in weights.iter().enumerate().skip(1) {
                for (o, v) in d.iter_mut().zip(row(t)) {
                    *o += w * v;
                }
            }
        }
    }
}

/// Writes the window from the output values of its range `range`: `store` of the value each
/// folded position takes, `cval` where the pad gives a constant.
fn gather<Q: Copy>(
    values: &[f64],
    folds: &[Vec<Option<u64>>; 3],
    range: Bbox,
    cval: Q,
    store: &impl Fn(f64) -> Q,
    out: &mut [Q],
) {
    let rel = |a: usize, k: &Option<u64>| k.map(|k| (k - range.begin[a] as u64) as usize);
    let [dy, dx] = [range.shape[1] as usize, range.shape[2] as usize];
    let xs: Vec<Option<usize>> = folds[2].iter().map(|k| rel(2, k)).collect();
    let mut rows = out.chunks_exact_mut(xs.len());
    for kz in &folds[0] {
        for ky in &folds[1] {
            let row = rows.next().expect("one output row per (z, y)");
            let (Some(z), Some(y)) = (rel(0, kz), rel(1, ky)) else {
                row.fill(cval);
                continue;
            };
            let src = &values[(z * dy + y) * dx..(z * dy + y + 1) * dx];
            for (o, x) in row.iter_mut().zip(&xs) {
                *o = x.map_or(cval, |x| store(src[x]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::excessive_precision)]
    fn pole_is_root_three_minus_two() {
        // The nearest f64 to √3 − 2 (computing it in f64 gives a value two ulps away).
        assert_eq!(POLE, -0.267_949_192_431_122_706_472_553_658_494_127_633);
        assert!((POLE - (3f64.sqrt() - 2.0)).abs() < 2e-16);
    }

    /// A window of a line prefiltered with [`MARGIN`] voxels on each side gives the
    /// coefficients of the whole line (worst case: values alternating between 0 and 255).
    #[test]
    fn windowed_prefilter_matches_the_whole_line() {
        let m = MARGIN as usize;
        for line in [
            (0..400)
                .map(|i| ((i * 37 + i * i) % 256) as f64)
                .collect::<Vec<f64>>(),
            (0..400)
                .map(|i| if i % 2 == 0 { 0.0 } else { 255.0 })
                .collect(),
        ] {
            let mut whole = line.clone();
            prefilter(&mut whole, line.len(), 1);
            let mut part = line[150 - m..250 + m].to_vec();
            let len = part.len();
            prefilter(&mut part, len, 1);
            let worst = (0..100)
                .map(|i| (part[m + i] - whole[150 + i]).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-11, "{worst}"); // measured: 3e-12 for 0/255, 8e-13 else
        }
    }

    /// The prefilter of a line long enough for its ends not to matter inverts the B-spline
    /// sampling `(c[i-1] + 4 c[i] + c[i+1]) / 6` away from the ends.
    #[test]
    fn prefilter_inverts_spline_sampling() {
        let x: Vec<f64> = (0..200).map(|i| ((i * 37) % 255) as f64).collect();
        let mut c = x.clone();
        prefilter(&mut c, x.len(), 1);
        for i in 40..160 {
            let back = (c[i - 1] + 4.0 * c[i] + c[i + 1]) / 6.0;
            assert!((back - x[i]).abs() < 1e-9, "{i}: {back} vs {}", x[i]);
        }
        // Lanes of several values per row give the same numbers as lines.
        let mut wide: Vec<f64> = x.iter().flat_map(|&v| [v, 2.0 * v]).collect();
        prefilter(&mut wide, x.len(), 2);
        assert!((0..x.len())
            .all(|i| wide[2 * i] == c[i] && (wide[2 * i + 1] - 2.0 * c[i]).abs() < 1e-9));
    }
}
