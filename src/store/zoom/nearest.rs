//! Order 0: a window of the zoomed grid gathered straight from the stored voxels.
//!
//! The per-axis tables (window position → zoomed index by the pad fold → source index by
//! rounding) feed the stored reader's own row machinery, which reads only the source rows the
//! window takes and copies repeated rows and planes: no intermediate buffer, exact values.

use super::axis::Axis;
use crate::pad::fold_maps;
use crate::store::reader::check_output;
use crate::store::MappedArray;
use crate::{Bbox, Element, PadMode, Result};

/// Reads `window` of the grid `axes` zoom `array` to, by order 0.
pub(super) fn read<T: Element>(
    array: &MappedArray<T>,
    axes: &[Axis; 3],
    window: Bbox,
    pad: PadMode,
    out: &mut [T],
) -> Result<()> {
    check_output::<T>(&window, out.len())?;
    if out.is_empty() {
        return Ok(());
    }
    let cval = T::from_f64(pad.constant().unwrap_or(0.0));
    let folds = fold_maps(pad, &window, axes.map(|a| a.len));
    let maps: [Vec<Option<u64>>; 3] = std::array::from_fn(|a| {
        folds[a]
            .iter()
            .map(|k| k.and_then(|k| axes[a].nearest(k)))
            .collect()
    });
    array.read_maps_into(&maps, None, cval, out)?;
    if cval != T::default() {
        zero_past_end(&folds, &maps, out);
    }
    Ok(())
}

/// Sets to 0 the voxels inside the zoomed volume that lie past the last source voxel on some
/// axis (scipy's `cval`, which the stored reader filled with the pad constant instead).
fn zero_past_end<T: Element>(
    folds: &[Vec<Option<u64>>; 3],
    maps: &[Vec<Option<u64>>; 3],
    out: &mut [T],
) {
    let past: [Vec<bool>; 3] = std::array::from_fn(|a| {
        folds[a]
            .iter()
            .zip(&maps[a])
            .map(|(f, m)| f.is_some() && m.is_none())
            .collect()
    });
    if !past.iter().flatten().any(|&p| p) {
        return;
    }
    let mut voxels = out.iter_mut();
    for (z, fz) in folds[0].iter().enumerate() {
        for (y, fy) in folds[1].iter().enumerate() {
            for (x, fx) in folds[2].iter().enumerate() {
                let v = voxels.next().expect("one voxel per position");
                let inside = fz.is_some() && fy.is_some() && fx.is_some();
                if inside && (past[0][z] || past[1][y] || past[2][x]) {
                    *v = T::default();
                }
            }
        }
    }
}
