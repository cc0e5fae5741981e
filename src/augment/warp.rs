//! Fused in-plane resampling: Rotate, Rescale and Elastic each contribute a backward coordinate
//! map of the `(y, x)` plane; consecutive maps are composed and the targets interpolated once,
//! over only the output region that is needed (the centre crop).

use ndarray::{s, Array3};

use super::kernel::{LinearTable, NearestTable};
use super::voxels::map_voxels;
use super::{TargetKind, Voxels};

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

/// Maps not yet applied to a sample, first to last in the order the transforms ran.
#[derive(Debug, Default)]
pub(crate) struct PendingWarp {
    maps: Vec<Box<dyn PlaneMap>>,
}

/// A rectangle of an output plane: rows `y0..y0 + h`, columns `x0..x0 + w`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlaneRegion {
    pub y0: usize,
    pub x0: usize,
    pub h: usize,
    pub w: usize,
}

impl PendingWarp {
    pub(crate) fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    pub(crate) fn push(&mut self, map: Box<dyn PlaneMap>) {
        self.maps.push(map);
    }

    /// The plane size after every pending map, given the materialised plane size.
    pub(crate) fn output(&self, plane: [usize; 2]) -> [usize; 2] {
        self.maps.last().map_or(plane, |m| m.output())
    }

    /// Applies the pending maps to `targets`, computing output `region` of slices `z0..z1` only,
    /// and leaves no map pending.
    pub(crate) fn materialize(
        &mut self,
        targets: &mut [(TargetKind, &mut Voxels)],
        region: PlaneRegion,
        (z0, z1): (usize, usize),
    ) {
        let maps = std::mem::take(&mut self.maps);
        let Some(first) = maps.first() else {
            for (_, v) in targets.iter_mut() {
                **v = map_voxels!(&**v, a => a
                    .slice(s![z0..z1, region.y0..region.y0 + region.h, region.x0..region.x0 + region.w])
                    .to_owned());
            }
            return;
        };
        let source = first.input();
        let n = region.h * region.w;
        let mut ys = Vec::with_capacity(n);
        let mut xs = Vec::with_capacity(n);
        for y in 0..region.h {
            for x in 0..region.w {
                ys.push((region.y0 + y) as f64);
                xs.push((region.x0 + x) as f64);
            }
        }
        let mut valid = vec![true; n];
        for (i, map) in maps.iter().enumerate().rev() {
            map.map(&mut ys, &mut xs);
            if i > 0 {
                // Positions that leave an intermediate plane read the zero outside it.
                let [h, w] = map.input();
                for ((ok, &y), &x) in valid.iter_mut().zip(&ys).zip(&xs) {
                    *ok &= y >= -0.5 && x >= -0.5 && y < h as f64 - 0.5 && x < w as f64 - 0.5;
                }
            }
        }
        let integral = maps.iter().all(|m| m.integral());
        let nearest = NearestTable::new(&ys, &xs, &valid, source);
        let linear = (!integral && targets.iter().any(|(k, _)| *k == TargetKind::Img))
            .then(|| LinearTable::new(&ys, &xs, &valid, source));
        for (kind, v) in targets.iter_mut() {
            let out = match (&**v, kind, &linear) {
                (Voxels::F32(a), TargetKind::Img, Some(table)) => {
                    Voxels::F32(per_slice(a, (z0, z1), region, |src, dst| {
                        table.gather(src, dst);
                    }))
                }
                _ => map_voxels!(&**v, a => per_slice(a, (z0, z1), region, |src, dst| {
                    nearest.gather(src, dst);
                })),
            };
            **v = out;
        }
    }
}

/// Builds a `(z1 − z0, region.h, region.w)` array slice by slice from `source`'s planes.
fn per_slice<T: Copy + Default>(
    source: &Array3<T>,
    (z0, z1): (usize, usize),
    region: PlaneRegion,
    mut gather: impl FnMut(&[T], &mut [T]),
) -> Array3<T> {
    let source = source.as_standard_layout();
    let (_, h, w) = source.dim();
    let plane = h * w;
    let flat = source.as_slice().expect("standard layout");
    let mut out = Array3::from_elem((z1 - z0, region.h, region.w), T::default());
    let out_plane = region.h * region.w;
    let dst = out.as_slice_mut().expect("fresh array");
    for (k, z) in (z0..z1).enumerate() {
        gather(
            &flat[z * plane..(z + 1) * plane],
            &mut dst[k * out_plane..(k + 1) * out_plane],
        );
    }
    out
}

/// Resamples slices `zs` of every target through `map` (same-size output), in place: linear
/// for images, nearest for masks. Used for per-slice defects (MisAlignment's rotation).
pub(crate) fn warp_slices<'a>(
    targets: impl Iterator<Item = (TargetKind, &'a mut Voxels)>,
    map: &dyn PlaneMap,
    zs: std::ops::Range<usize>,
) {
    let [h, w] = map.output();
    let n = h * w;
    let mut ys: Vec<f64> = (0..n).map(|i| (i / w) as f64).collect();
    let mut xs: Vec<f64> = (0..n).map(|i| (i % w) as f64).collect();
    map.map(&mut ys, &mut xs);
    let valid = vec![true; n];
    let source = map.input();
    let nearest = NearestTable::new(&ys, &xs, &valid, source);
    let linear = LinearTable::new(&ys, &xs, &valid, source);
    for (kind, v) in targets {
        match (v, kind) {
            (Voxels::F32(a), TargetKind::Img) => {
                rewrite_slices(a, zs.clone(), |src, dst| linear.gather(src, dst));
            }
            (v, _) => super::voxels::each_voxels!(v, a => {
                rewrite_slices(a, zs.clone(), |src, dst| nearest.gather(src, dst));
            }),
        }
    }
}

/// Replaces each slice `z` of `zs` by `gather(old slice)`.
fn rewrite_slices<T: Copy + Default>(
    a: &mut Array3<T>,
    zs: std::ops::Range<usize>,
    mut gather: impl FnMut(&[T], &mut [T]),
) {
    let mut scratch = Vec::new();
    for z in zs {
        let mut plane = a.index_axis_mut(ndarray::Axis(0), z);
        scratch.clear();
        scratch.extend(plane.iter().copied());
        let mut out = vec![T::default(); scratch.len()];
        gather(&scratch, &mut out);
        plane.iter_mut().zip(&out).for_each(|(dst, &v)| *dst = v);
    }
}
