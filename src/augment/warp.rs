//! Fused in-plane resampling: Rotate, Rescale and Elastic each contribute a backward coordinate
//! map of the `(y, x)` plane; consecutive maps are composed and the targets interpolated once,
//! over only the output region that is needed (the centre crop).

use ndarray::{Array3, Axis};

use super::kernel::{tables, PlaneGather};
use super::{TargetKind, Voxels};
use crate::match_dtype;
use crate::recycle::{self, Recyclable};

/// A backward map of the `(y, x)` plane: where each output position reads from in the input.
pub(crate) trait PlaneMap: Send + Sync + std::fmt::Debug {
    /// The input plane's size `(h, w)`.
    fn input(&self) -> [usize; 2];
    /// The output plane's size `(h, w)`.
    fn output(&self) -> [usize; 2];
    /// Replaces each output position `(ys[i], xs[i])` by the input position it reads.
    fn map(&self, ys: &mut [f64], xs: &mut [f64]);
    /// Whether integer positions map to integer positions (rot90): images then need no
    /// interpolation.
    fn integral(&self) -> bool {
        false
    }
}

/// Work not yet carried out on a sample: in-plane maps, first to last in the order the
/// transforms ran, and a selection of slices (crop, flip, removed sections). Plane maps are the
/// same for every slice, so they commute with the slice selection.
#[derive(Debug, Default)]
pub(crate) struct PendingWarp {
    maps: Vec<Box<dyn PlaneMap>>,
    /// Output slice `k` comes from materialised slice `slices[k]`; `None` keeps every slice.
    slices: Option<Vec<usize>>,
}

impl PendingWarp {
    pub(crate) fn is_empty(&self) -> bool {
        self.maps.is_empty() && self.slices.is_none()
    }

    pub(crate) fn push(&mut self, map: Box<dyn PlaneMap>) {
        self.maps.push(map);
    }

    /// The plane size after every pending map, given the materialised plane size.
    pub(crate) fn output(&self, plane: [usize; 2]) -> [usize; 2] {
        self.maps.last().map_or(plane, |m| m.output())
    }

    /// The depth after the pending selection, given the materialised depth.
    pub(crate) fn depth(&self, depth: usize) -> usize {
        self.slices.as_ref().map_or(depth, Vec::len)
    }

    /// Keeps slices `pick` of the current (pending) slices, in that order.
    pub(crate) fn select(&mut self, depth: usize, pick: &[usize]) {
        let current = self.slices.take().unwrap_or_else(|| (0..depth).collect());
        self.slices = Some(pick.iter().map(|&k| current[k]).collect());
    }

    /// Carries out the pending work on `targets`, leaving nothing pending: one table of source
    /// positions for the output plane, then one gather per slice and target.
    pub(crate) fn materialize(&mut self, targets: &mut [(TargetKind, &mut Voxels)]) {
        let maps = std::mem::take(&mut self.maps);
        let Some(first) = targets.first().map(|(_, v)| v.shape()) else {
            return;
        };
        let slices = self
            .slices
            .take()
            .unwrap_or_else(|| (0..first[0]).collect());
        let Some(source) = maps.first().map(|m| m.input()) else {
            for (_, v) in targets.iter_mut() {
                match_dtype!(&mut **v, Voxels(a) => select_slices(a, &slices));
            }
            return;
        };
        let [h, w] = maps.last().map_or(source, |m| m.output());
        if let Some(steps) = maps
            .iter()
            .all(|m| m.integral())
            .then(|| Steps::of(&maps, [h, w]))
            .flatten()
        {
            for (_, v) in targets.iter_mut() {
                let out =
                    match_dtype!(&**v, Voxels(a) => Voxels::from(steps.gather(a, &slices, [h, w])));
                std::mem::replace(&mut **v, out).recycle();
            }
            return;
        }
        let n = h * w;
        let (mut ys, mut xs) = grid_positions([h, w]);
        let mut valid = recycle::take_filled(n, true);
        for (i, map) in maps.iter().enumerate().rev() {
            map.map(&mut ys, &mut xs);
            if i > 0 {
                // Positions that leave an intermediate plane read the zero outside it.
                let [mh, mw] = map.input();
                for ((ok, &y), &x) in valid.iter_mut().zip(&ys).zip(&xs) {
                    *ok &= y >= -0.5 && x >= -0.5 && y < mh as f64 - 0.5 && x < mw as f64 - 0.5;
                }
            }
        }
        let integral = maps.iter().all(|m| m.integral());
        let interpolated = |(k, v): &(TargetKind, &mut Voxels)| {
            !integral && *k == TargetKind::Img && matches!(v, Voxels::F32(_))
        };
        let (linear, nearest) = tables(
            &ys,
            &xs,
            Some(&valid),
            source,
            targets.iter().any(interpolated),
            !targets.iter().all(interpolated),
        );
        recycle::give(ys);
        recycle::give(xs);
        recycle::give(valid);
        let out_plane = [h, w];
        for (kind, v) in targets.iter_mut() {
            let out = match (&**v, kind, &linear) {
                (Voxels::F32(a), TargetKind::Img, Some(table)) if !integral => {
                    Voxels::F32(per_slice(a, &slices, out_plane, table))
                }
                _ => {
                    let nearest = nearest.as_ref().expect("a nearest table for this target");
                    match_dtype!(&**v, Voxels(a) => Voxels::from(per_slice(a, &slices, out_plane, nearest)))
                }
            };
            std::mem::replace(&mut **v, out).recycle();
        }
    }
}

/// The positions `(y, x)` of every pixel of an `[h, w]` plane, in C order (from the pools).
fn grid_positions([h, w]: [usize; 2]) -> (Vec<f64>, Vec<f64>) {
    let (mut ys, mut xs) = (recycle::take::<f64>(h * w), recycle::take::<f64>(h * w));
    let rows = ys
        .chunks_exact_mut(w.max(1))
        .zip(xs.chunks_exact_mut(w.max(1)));
    for (y, (row_y, row_x)) in rows.enumerate() {
        row_y.fill(y as f64);
        for (x, v) in row_x.iter_mut().enumerate() {
            *v = x as f64;
        }
    }
    (ys, xs)
}

/// Output tiles (rows × columns) gathered for every slice before moving on: the tile's part of
/// the table stays in L1 while it serves all slices, and the tile's source footprint is compact
/// whatever the rotation (a whole output row, rotated, would touch a source row per pixel).
const TILE: [usize; 2] = [8, 64];

/// An integral composed map (crops, rot90, flips, transposes: each output row reads a straight
/// run of the source plane) as offsets: output `(r, c)` reads source offset
/// `base + r·row + c·col`.
#[derive(Debug, Clone, Copy)]
struct Steps {
    base: i64,
    row: i64,
    col: i64,
}

impl Steps {
    /// The steps of `maps` (all integral, hence affine) for an `[h, w]` output, if every output
    /// position lands inside the source plane (else the table path handles the zeros).
    fn of(maps: &[Box<dyn PlaneMap>], [h, w]: [usize; 2]) -> Option<Steps> {
        let [sh, sw] = maps.first()?.input();
        let mut ys = [0.0, 0.0, 1.0];
        let mut xs = [0.0, 1.0, 0.0];
        for map in maps.iter().rev() {
            map.map(&mut ys, &mut xs);
        }
        let at = |i: usize| (ys[i] as i64, xs[i] as i64);
        let (o, c, r) = (at(0), at(1), at(2));
        if ys.iter().chain(&xs).any(|v| v.fract() != 0.0) {
            return None;
        }
        let (dc, dr) = ((c.0 - o.0, c.1 - o.1), (r.0 - o.0, r.1 - o.1));
        // The four corners of the output, mapped, inside the source: then all of it is.
        let (hl, wl) = (h as i64 - 1, w as i64 - 1);
        for (rr, cc) in [(0, 0), (0, wl), (hl, 0), (hl, wl)] {
            let y = o.0 + rr * dr.0 + cc * dc.0;
            let x = o.1 + rr * dr.1 + cc * dc.1;
            if !(0..sh as i64).contains(&y) || !(0..sw as i64).contains(&x) {
                return None;
            }
        }
        let sw = sw as i64;
        Some(Steps {
            base: o.0 * sw + o.1,
            row: dr.0 * sw + dr.1,
            col: dc.0 * sw + dc.1,
        })
    }

    /// Builds a `(slices.len(), h, w)` array, slice `k` read from `source`'s plane `slices[k]`.
    fn gather<T: Recyclable>(
        &self,
        source: &Array3<T>,
        slices: &[usize],
        [h, w]: [usize; 2],
    ) -> Array3<T> {
        let source = source.as_standard_layout();
        let (_, sh, sw) = source.dim();
        let plane = sh * sw;
        let flat = source.as_slice().expect("standard layout");
        // Every output voxel is written below.
        let mut out = recycle::take::<T>(slices.len() * h * w);
        for (dst, &z) in out.chunks_exact_mut(h * w).zip(slices) {
            let src = &flat[z * plane..(z + 1) * plane];
            if self.col.abs() != 1 {
                // A transpose: output rows read source columns, so 8 output rows are filled
                // together, each source row visited reading 8 neighbours.
                for r0 in (0..h).step_by(8) {
                    let rows = r0..(r0 + 8).min(h);
                    for c in 0..w {
                        let start = self.base + c as i64 * self.col;
                        for r in rows.clone() {
                            dst[r * w + c] = src[(start + r as i64 * self.row) as usize];
                        }
                    }
                }
                continue;
            }
            for (r, row) in dst.chunks_exact_mut(w).enumerate() {
                let start = (self.base + r as i64 * self.row) as usize;
                if self.col == 1 {
                    row.copy_from_slice(&src[start..start + w]);
                } else {
                    let run = &src[start + 1 - w..=start];
                    row.iter_mut()
                        .zip(run.iter().rev())
                        .for_each(|(d, &s)| *d = s);
                }
            }
        }
        Array3::from_shape_vec((slices.len(), h, w), out).expect("one plane per slice")
    }
}

/// Keeps slices `slices` of `a`, in that order. Increasing picks of a standard-layout array
/// (crops, removed sections) are done in place, moving only the slices that shift down.
fn select_slices<T: Recyclable>(a: &mut Array3<T>, slices: &[usize]) {
    let (d, h, w) = a.dim();
    let increasing = slices.windows(2).all(|p| p[0] < p[1]) && slices.last() < Some(&d);
    if !increasing || !a.is_standard_layout() {
        let mut data = recycle::take::<T>(slices.len() * h * w);
        for (dst, &z) in data.chunks_exact_mut(h * w).zip(slices) {
            let plane = a.index_axis(Axis(0), z);
            match plane.as_slice() {
                Some(src) => dst.copy_from_slice(src),
                None => dst.iter_mut().zip(plane.iter()).for_each(|(d, &v)| *d = v),
            }
        }
        let picked = Array3::from_shape_vec((slices.len(), h, w), data).expect("picked slices");
        recycle::give_array(std::mem::replace(a, picked));
        return;
    }
    let plane = h * w;
    let owned = std::mem::replace(
        a,
        Array3::from_shape_vec((0, h, w), Vec::new()).expect("empty"),
    );
    let (mut data, offset) = owned.into_raw_vec_and_offset();
    let offset = offset.unwrap_or(0);
    for (k, &z) in slices.iter().enumerate() {
        if z != k {
            let from = offset + z * plane;
            data.copy_within(from..from + plane, offset + k * plane);
        }
    }
    data.truncate(offset + slices.len() * plane);
    if offset > 0 {
        data.drain(..offset);
    }
    *a = Array3::from_shape_vec((slices.len(), h, w), data).expect("the kept slices");
}

/// Builds a `(slices.len(), h, w)` array, slice `k` gathered through `table` from `source`'s
/// plane `slices[k]`.
fn per_slice<T: Recyclable>(
    source: &Array3<T>,
    slices: &[usize],
    [h, w]: [usize; 2],
    table: &impl PlaneGather<T>,
) -> Array3<T> {
    let source = source.as_standard_layout();
    let (_, sh, sw) = source.dim();
    let plane = sh * sw;
    let flat = source.as_slice().expect("standard layout");
    let n = h * w;
    // The tables write every output position of a non-empty source plane (bulk, then fix-up);
    // an empty source leaves the output as filled here.
    let mut out = if plane == 0 {
        recycle::take_filled(slices.len() * n, T::default())
    } else {
        recycle::take(slices.len() * n)
    };
    let src = |z: usize| &flat[z * plane..(z + 1) * plane];
    for y0 in (0..h).step_by(TILE[0]) {
        for x0 in (0..w).step_by(TILE[1]) {
            let x1 = (x0 + TILE[1]).min(w);
            for (k, &z) in slices.iter().enumerate() {
                let (src, dst) = (src(z), &mut out[k * n..(k + 1) * n]);
                for y in y0..(y0 + TILE[0]).min(h) {
                    let range = y * w + x0..y * w + x1;
                    table.gather_range(src, range.clone(), &mut dst[range]);
                }
            }
        }
    }
    for (k, &z) in slices.iter().enumerate() {
        table.fix_up(src(z), &mut out[k * n..(k + 1) * n]);
    }
    Array3::from_shape_vec((slices.len(), h, w), out).expect("one plane per slice")
}

/// A crop of the plane: output `(y, x)` reads input `(y + y0, x + x0)`.
#[derive(Debug)]
pub(crate) struct Crop {
    pub input: [usize; 2],
    pub output: [usize; 2],
    pub offset: [usize; 2],
}

impl PlaneMap for Crop {
    fn input(&self) -> [usize; 2] {
        self.input
    }
    fn output(&self) -> [usize; 2] {
        self.output
    }
    fn map(&self, ys: &mut [f64], xs: &mut [f64]) {
        ys.iter_mut().for_each(|y| *y += self.offset[0] as f64);
        xs.iter_mut().for_each(|x| *x += self.offset[1] as f64);
    }
    fn integral(&self) -> bool {
        true
    }
}

/// Resamples slices `zs` of every target through `map` (same-size output), in place: linear
/// for images, nearest for masks. Used for per-slice defects (MisAlignment's rotation).
pub(crate) fn warp_slices<'a>(
    targets: impl Iterator<Item = (TargetKind, &'a mut Voxels)>,
    map: &dyn PlaneMap,
    zs: std::ops::Range<usize>,
) {
    let [h, w] = map.output();
    let (mut ys, mut xs) = grid_positions([h, w]);
    map.map(&mut ys, &mut xs);
    let targets: Vec<_> = targets.collect();
    let interpolated =
        |(k, v): &(TargetKind, &mut Voxels)| *k == TargetKind::Img && matches!(v, Voxels::F32(_));
    let (linear, nearest) = tables(
        &ys,
        &xs,
        None,
        map.input(),
        targets.iter().any(interpolated),
        !targets.iter().all(interpolated),
    );
    recycle::give(ys);
    recycle::give(xs);
    for (kind, v) in targets {
        match (v, kind, &linear) {
            (Voxels::F32(a), TargetKind::Img, Some(linear)) => {
                rewrite_slices(a, zs.clone(), linear);
            }
            (v, _, _) => {
                let nearest = nearest.as_ref().expect("a nearest table for this target");
                match_dtype!(v, Voxels(a) => {
                    rewrite_slices(a, zs.clone(), nearest);
                })
            }
        }
    }
}

/// Replaces each slice `z` of `zs` by its gather through `table` (same plane size): the old
/// slice is copied aside once and the gather writes straight into the array.
fn rewrite_slices<T: Recyclable>(
    a: &mut Array3<T>,
    zs: std::ops::Range<usize>,
    table: &impl PlaneGather<T>,
) {
    let n = table.len();
    let mut scratch = recycle::take::<T>(n);
    for z in zs {
        let mut plane = a.index_axis_mut(Axis(0), z);
        scratch.clear();
        scratch.extend(plane.iter().copied());
        match plane.as_slice_mut() {
            Some(dst) => {
                table.gather_range(&scratch, 0..n, dst);
                table.fix_up(&scratch, dst);
            }
            None => {
                let mut out = Vec::with_capacity(n);
                table.gather(&scratch, &mut out);
                plane.iter_mut().zip(&out).for_each(|(d, &v)| *d = v);
            }
        }
    }
    recycle::give(scratch);
}
