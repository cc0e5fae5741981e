//! One axis of a zoom or a resize: where `scipy.ndimage.zoom` takes each output index from,
//! and with which weights. A zoom aligns the grids' corner voxels (`grid_mode=False`, scipy's
//! `constant` mode); a resize, as `skimage.transform.resize` calls scipy, aligns their outer
//! edges (`grid_mode=True`, scipy's `mirror` mode).

/// The pole of the cubic B-spline prefilter, `√3 − 2` (the value scipy uses).
pub(super) const POLE: f64 = -0.267_949_192_431_122_7;

/// How an axis's output indices map to source coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grid {
    /// `scipy.ndimage.zoom(grid_mode=False)`, mode `constant`: index `k` is coordinate
    /// `k · step`; past the last voxel it takes scipy's `cval`.
    Corners,
    /// `scipy.ndimage.zoom(grid_mode=True)`, mode `mirror` (skimage's `resize`): index `k` is
    /// coordinate `(k + 0.5) · step − 0.5`, mirrored into the axis as scipy maps coordinates.
    Centres,
}

/// One axis of a zoomed or resized array: its source and output lengths and scipy's step
/// between them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Axis {
    /// The source length.
    pub(super) source: u64,
    /// The output length.
    pub(super) len: u64,
    /// The source coordinate per output index, as scipy computes it: `(source − 1) / (len − 1)`
    /// for a zoom (and `1` for an output of length 1, whose one index is then coordinate 0),
    /// `source / len` for a resize.
    step: f64,
    grid: Grid,
}

impl Axis {
    /// The axis zooming `source` voxels to `len` (both at least 1).
    pub(super) fn new(source: u64, len: u64) -> Self {
        let step = if len > 1 {
            source.saturating_sub(1) as f64 / (len - 1) as f64
        } else {
            1.0
        };
        Axis {
            source,
            len,
            step,
            grid: Grid::Corners,
        }
    }

    /// The axis resizing `source` voxels to `len` (both at least 1), as skimage's `resize`.
    pub(super) fn centred(source: u64, len: u64) -> Self {
        Axis {
            source,
            len,
            step: source as f64 / len as f64,
            grid: Grid::Centres,
        }
    }

    /// True when the zoomed index is the source index (equal lengths: the step is exactly 1).
    pub(super) fn is_identity(&self) -> bool {
        self.source == self.len
    }

    /// The source coordinate of output index `k`, computed in `f64` in scipy's order of
    /// operations. For a zoom, `None` when rounding puts it past the last source voxel: scipy's
    /// `constant` mode then gives the voxel its `cval`, 0. For a resize, mirrored into the axis
    /// as scipy's `mirror` mode maps a coordinate (a coordinate between the last voxel and the
    /// outer edge, `source − 0.5`, is kept as it is: its taps are mirrored instead).
    pub(super) fn coordinate(&self, k: u64) -> Option<f64> {
        let last = self.source.checked_sub(1)?;
        match self.grid {
            Grid::Corners => {
                let c = k as f64 * self.step;
                (c <= last as f64).then_some(c)
            }
            Grid::Centres => Some(mirror_coordinate(
                (k as f64 + 0.5) * self.step - 0.5,
                self.source,
            )),
        }
    }

    /// The source index order 0 takes for output index `k`: the coordinate rounded half up
    /// (mirrored back into the axis, as scipy mirrors taps, should it land past the end).
    pub(super) fn nearest(&self, k: u64) -> Option<u64> {
        let c = self.coordinate(k)?;
        crate::PadMode::Reflect.fold((c + 0.5).floor() as i64, self.source)
    }

    /// The four taps order 3 takes for zoomed index `k`: the first source index (which may lie
    /// one before the volume or up to two past it, mirrored there as `numpy`'s `reflect` does)
    /// and the cubic B-spline weights of the four.
    pub(super) fn cubic(&self, k: u64) -> Option<(i64, [f64; 4])> {
        self.coordinate(k).map(|c| {
            let floor = c.floor();
            (floor as i64 - 1, cubic_weights(c - floor))
        })
    }
}

/// scipy's `mirror` mapping of coordinate `c` into an axis of `n` voxels: reflected about the
/// first and last voxels' centres, with the period `2n − 2` of numpy's `reflect`.
fn mirror_coordinate(c: f64, n: u64) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let len = n as f64;
    let period = 2.0 * len - 2.0;
    if c < 0.0 {
        let c = period * (-c / period).trunc() + c;
        if c <= 1.0 - len {
            c + period
        } else {
            -c
        }
    } else if c > len - 1.0 {
        let c = c - period * (c / period).trunc();
        if c >= len {
            period - c
        } else {
            c
        }
    } else {
        c
    }
}

/// The cubic B-spline weights of the taps at offsets `−1, 0, 1, 2` from a point `t ∈ [0, 1)`
/// past a source voxel, written as scipy evaluates them (the last one completes the sum to 1).
fn cubic_weights(t: f64) -> [f64; 4] {
    let u = 1.0 - t;
    let w1 = (t * t * (t - 2.0) * 3.0 + 4.0) / 6.0;
    let w2 = (u * u * (u - 2.0) * 3.0 + 4.0) / 6.0;
    let w0 = u * u * u / 6.0;
    [w0, w1, w2, 1.0 - w0 - w1 - w2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate_at_voxels() {
        let at_voxel = cubic_weights(0.0);
        assert_eq!(at_voxel[..3], [1.0 / 6.0, 4.0 / 6.0, 1.0 / 6.0]);
        assert!(at_voxel[3].abs() < 1e-16); // 1 − 1/6 − 4/6 − 1/6 in f64, as scipy has it
        for t in [0.1, 0.25, 0.5, 0.9] {
            let w = cubic_weights(t);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            assert!(w.iter().all(|&v| v >= 0.0));
        }
    }

    #[test]
    fn axis_maps_ends_to_ends() {
        let a = Axis::new(3, 5);
        assert_eq!(
            (0..5).map(|k| a.nearest(k)).collect::<Vec<_>>(),
            [0, 1, 1, 2, 2].map(Some)
        );
        assert_eq!(Axis::new(7, 1).coordinate(0), Some(0.0));
        assert_eq!(Axis::new(1, 4).nearest(3), Some(0));
        assert!(Axis::new(9, 9).is_identity());
    }

    #[test]
    fn centred_axis_maps_pixel_centres_and_mirrors() {
        // 2 voxels resized to 5: (k + 0.5) · 0.4 − 0.5 = −0.3, 0.1, 0.5, 0.9, 1.3.
        let a = Axis::centred(2, 5);
        let c: Vec<f64> = (0..5).map(|k| a.coordinate(k).unwrap()).collect();
        assert!(
            (c[0] - 0.3).abs() < 1e-15 && (c[4] - 1.3).abs() < 1e-15,
            "{c:?}"
        );
        assert_eq!(
            (0..5).map(|k| a.nearest(k)).collect::<Vec<_>>(),
            [0, 0, 1, 1, 1].map(Some)
        );
        // A kept length maps each index to itself.
        let same = Axis::centred(7, 7);
        assert!((0..7).all(|k| same.coordinate(k) == Some(k as f64)));
        assert_eq!(Axis::centred(1, 3).coordinate(2), Some(0.0));
        assert_eq!(mirror_coordinate(-4.5, 3), 0.5);
        assert_eq!(mirror_coordinate(4.5, 3), 0.5);
    }

    #[test]
    fn coordinate_past_the_end_is_none() {
        // 187 · (3 / 187) rounds to 3.0000000000000004 > 3: scipy gives that voxel its cval.
        let a = Axis::new(4, 188);
        assert_eq!(a.coordinate(187), None);
        assert_eq!(a.nearest(186), Some(3));
    }
}
