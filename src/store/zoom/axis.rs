//! One axis of a zoom: where `scipy.ndimage.zoom` (`grid_mode=False`) takes each zoomed index
//! from, and with which weights.

/// The pole of the cubic B-spline prefilter, `√3 − 2` (the value scipy uses).
pub(super) const POLE: f64 = -0.267_949_192_431_122_7;

/// One axis of a zoomed array: its stored and zoomed lengths and scipy's step between them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Axis {
    /// The stored length.
    pub(super) source: u64,
    /// The zoomed length.
    pub(super) len: u64,
    /// The source coordinate per zoomed index: `(source − 1) / (len − 1)`, and `1` for a zoomed
    /// length of 1 (whose one index is then coordinate 0), as scipy computes it.
    step: f64,
}

impl Axis {
    /// The axis zooming `source` voxels to `len` (both at least 1).
    pub(super) fn new(source: u64, len: u64) -> Self {
        let step = if len > 1 {
            source.saturating_sub(1) as f64 / (len - 1) as f64
        } else {
            1.0
        };
        Axis { source, len, step }
    }

    /// True when the zoomed index is the source index (equal lengths: the step is exactly 1).
    pub(super) fn is_identity(&self) -> bool {
        self.source == self.len
    }

    /// The source coordinate of zoomed index `k` (`k · step` in `f64`, as scipy computes it), or
    /// `None` when rounding puts it past the last source voxel: scipy's `constant` mode then
    /// gives the voxel its `cval`, 0.
    pub(super) fn coordinate(&self, k: u64) -> Option<f64> {
        let last = self.source.checked_sub(1)?;
        let c = k as f64 * self.step;
        (c <= last as f64).then_some(c)
    }

    /// The source index order 0 takes for zoomed index `k`: the coordinate rounded half up.
    pub(super) fn nearest(&self, k: u64) -> Option<u64> {
        self.coordinate(k).map(|c| (c + 0.5).floor() as u64)
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
    fn coordinate_past_the_end_is_none() {
        // 187 · (3 / 187) rounds to 3.0000000000000004 > 3: scipy gives that voxel its cval.
        let a = Axis::new(4, 188);
        assert_eq!(a.coordinate(187), None);
        assert_eq!(a.nearest(186), Some(3));
    }
}
