//! Resized arrays (PyTC's `ENSURE_MIN_SIZE`) against a naive reference: the padded volume built
//! voxel by voxel, each axis resampled in turn from the definitions (skimage's pixel-centre
//! mapping, scipy's mirror, B-spline coefficients of whole lines solved as a dense linear
//! system, the cubic B-spline in its truncated-power form), clipped to the padded volume's
//! range and truncated; then padded by folding. For orders 0 and 3, windows inside, across the
//! faces and wholly outside.

use std::path::Path;

use ndarray::{Array3, Axis};
use proptest::prelude::*;
use voxload::store::zoom::{min_size_resize, Resize};
use voxload::store::ZoomOrder;
use voxload::{write_array, Bbox, Element, Encoding, MappedArray, PadMode};

/// The cubic B-spline, `Σ_j (−1)^j C(4, j) (t + 2 − j)³₊ / 6`.
fn bspline(t: f64) -> f64 {
    let binomial = [1.0, 4.0, 6.0, 4.0, 1.0];
    (0..5)
        .map(|j| {
            let u = (t + 2.0 - j as f64).max(0.0);
            (-1f64).powi(j) * binomial[j as usize] * u * u * u
        })
        .sum::<f64>()
        / 6.0
}

/// numpy's `reflect` index of `i` on an axis of `n` (scipy's mirror).
fn mirror(i: i64, n: usize) -> usize {
    PadMode::Reflect.fold(i, n as u64).unwrap() as usize
}

/// The B-spline coefficients of `x` with mirror boundaries: the solution of
/// `Σ_j c[mirror(j)] B(i − j) = x[i]`, by Gaussian elimination of the dense system.
fn coefficients(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut a = vec![vec![0.0; n + 1]; n];
    for (i, row) in a.iter_mut().enumerate() {
        for j in i as i64 - 1..=i as i64 + 1 {
            row[mirror(j, n)] += bspline((i as i64 - j) as f64);
        }
        row[n] = x[i];
    }
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    (0..n).map(|i| a[i][n] / a[i][i]).collect()
}

/// skimage's source coordinate of output index `k` of `m`, from `n` voxels: pixel centres,
/// mirrored before the first voxel.
fn coordinate(k: usize, n: usize, m: usize) -> f64 {
    let c = (k as f64 + 0.5) * (n as f64 / m as f64) - 0.5;
    if n == 1 {
        0.0
    } else {
        c.abs()
    }
}

/// One line resampled to `m` values.
fn resample(line: &[f64], m: usize, order: ZoomOrder) -> Vec<f64> {
    let n = line.len();
    let c = coefficients(line);
    (0..m)
        .map(|k| {
            let x = coordinate(k, n, m);
            if order == ZoomOrder::Nearest {
                return line[mirror((x + 0.5).floor() as i64, n)];
            }
            let first = x.floor() as i64 - 1;
            (first..first + 4)
                .map(|i| c[mirror(i, n)] * bspline(x - i as f64))
                .sum()
        })
        .collect()
}

/// The volume padded by `pad` with `mode`, resized to `to` by `order`, before clipping.
fn reference(
    volume: &Array3<f64>,
    pad: [usize; 3],
    mode: PadMode,
    to: [usize; 3],
    order: ZoomOrder,
) -> Array3<f64> {
    let n: [usize; 3] = std::array::from_fn(|a| volume.shape()[a]);
    let p: [usize; 3] = std::array::from_fn(|a| n[a] + 2 * pad[a]);
    let fill = mode.constant().unwrap_or(0.0);
    let mut out = Array3::from_shape_fn((p[0], p[1], p[2]), |(z, y, x)| {
        let at = [z, y, x];
        let i: Option<Vec<usize>> = (0..3)
            .map(|a| {
                mode.fold(at[a] as i64 - pad[a] as i64, n[a] as u64)
                    .map(|v| v as usize)
            })
            .collect();
        i.map_or(fill, |i| volume[[i[0], i[1], i[2]]])
    });
    for a in 0..3 {
        let mut shape = out.shape().to_vec();
        shape[a] = to[a];
        let mut next = Array3::zeros((shape[0], shape[1], shape[2]));
        for (src, mut dst) in out.lanes(Axis(a)).into_iter().zip(next.lanes_mut(Axis(a))) {
            let line: Vec<f64> = src.iter().copied().collect();
            for (d, v) in dst.iter_mut().zip(resample(&line, to[a], order)) {
                *d = v;
            }
        }
        out = next;
    }
    out
}

/// The padded volume's range.
fn range(volume: &Array3<f64>, pad: [usize; 3], mode: PadMode) -> (f64, f64) {
    let (lo, hi) = volume
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    match mode.constant() {
        Some(c) if pad != [0; 3] => (lo.min(c), hi.max(c)),
        _ => (lo, hi),
    }
}

fn store<T: Element>(dir: &Path, name: &str, data: &Array3<f64>) {
    let typed = data.mapv(T::from_f64);
    let d = data.shape();
    write_array(dir, name, &typed, [d[0] as u64, 3, 4], Encoding::Raw).unwrap();
}

/// A volume with values up to `max`, a few of them repeated (flat runs).
fn volume(shape: [usize; 3], max: u64, seed: u64) -> Array3<f64> {
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let h = (z as u64 * 7919 + y as u64 * 104_729 + x as u64 * 1299 + seed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((h >> 20) % (max + 1)) as f64
    })
}

/// Checks every voxel of `window` (read with `pad`) against the reference `want` (before
/// clipping, to `range`): order 0 (an infinite range) exactly; order 3 the clipped value
/// truncated, either integer where it lies within `1e-6` of one.
fn check<T: Element>(
    array: &MappedArray<T>,
    want: &Array3<f64>,
    (lo, hi): (f64, f64),
    window: Bbox,
    pad: PadMode,
) {
    let ours = array.read(window, pad).unwrap();
    let shape = want.shape();
    for (i, o) in ours.indexed_iter() {
        let at = [i.0, i.1, i.2];
        let folded: Option<Vec<usize>> = (0..3)
            .map(|a| {
                pad.fold(window.begin[a] + at[a] as i64, shape[a] as u64)
                    .map(|v| v as usize)
            })
            .collect();
        let Some(f) = folded else {
            assert_eq!(
                *o,
                T::from_f64(pad.constant().unwrap()),
                "{window:?} {at:?}"
            );
            continue;
        };
        let t = want[[f[0], f[1], f[2]]].clamp(lo, hi);
        let o = o.to_f64();
        let ok = if lo.is_infinite() {
            o == t
        } else if (t - t.round()).abs() < 1e-6 {
            o == t.round() || o == t.round() - 1.0
        } else {
            o == t.floor()
        };
        assert!(ok, "{window:?} at {at:?} (grid {f:?}): {o} for {t}");
    }
}

fn mode_of(i: u8) -> PadMode {
    [
        PadMode::Reflect,
        PadMode::Symmetric,
        PadMode::Edge,
        PadMode::Constant(0.0),
    ][i as usize % 4]
}

/// The resize seen in the volume's frame is the resized grid moved by `−pad`, with `2 · pad`
/// fewer voxels per axis, whatever the window and the read's padding.
fn same_in_volume_frame<T: Element + std::fmt::Debug + PartialEq>(
    resized: &MappedArray<T>,
    framed: &MappedArray<T>,
    pad: [usize; 3],
    window: Bbox,
) -> Result<(), TestCaseError> {
    let to = resized.shape();
    prop_assert_eq!(
        framed.shape(),
        std::array::from_fn(|a| to[a] - 2 * pad[a] as u64)
    );
    let moved = window.shift(pad.map(|p| -(p as i64)));
    for mode in [PadMode::Reflect, PadMode::Constant(9.0)] {
        prop_assert_eq!(
            framed.read(moved, mode).unwrap(),
            resized.read(window, mode).unwrap()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Resizes of small volumes, padded first, by both orders; windows anywhere.
    #[test]
    fn resize_windows_match_reference(
        shape in prop::array::uniform3(1usize..7),
        pad in prop::array::uniform3(0usize..3),
        grow in prop::array::uniform3(0usize..9),
        mode in 0u8..4,
        cubic in any::<bool>(),
        begin in prop::array::uniform3(-6i64..12),
        extent in prop::array::uniform3(1u64..14),
        seed in 0u64..1000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (order, max) = if cubic { (ZoomOrder::Cubic, 255) } else { (ZoomOrder::Nearest, 60_000) };
        let data = volume(shape, max, seed);
        let mode = mode_of(mode);
        let to: [usize; 3] = std::array::from_fn(|a| shape[a] + 2 * pad[a] + grow[a]);
        let want = reference(&data, pad, mode, to, order);
        let resize = Resize::new(to.map(|v| v as u64), order).padded(pad.map(|v| v as u64), mode);
        let window = Bbox::new(begin, extent);
        let range = if cubic { range(&data, pad, mode) } else { (f64::NEG_INFINITY, f64::INFINITY) };
        if cubic {
            store::<u8>(dir.path(), "v", &data);
            let array = MappedArray::<u8>::open(dir.path(), "v").unwrap().resized(resize).unwrap();
            prop_assert_eq!(array.shape(), to.map(|v| v as u64));
            check(&array, &want, range, window, PadMode::Reflect);
            check(&array, &want, range, window, PadMode::Constant(9.0));
            let framed = MappedArray::<u8>::open(dir.path(), "v").unwrap().resized(resize.in_volume_frame()).unwrap();
            same_in_volume_frame(&array, &framed, pad, window)?;
        } else {
            store::<u16>(dir.path(), "v", &data);
            let array = MappedArray::<u16>::open(dir.path(), "v").unwrap().resized(resize).unwrap();
            prop_assert_eq!(array.shape(), to.map(|v| v as u64));
            check(&array, &want, range, window, PadMode::Reflect);
            check(&array, &want, range, window, PadMode::Constant(9.0));
            let framed = MappedArray::<u16>::open(dir.path(), "v").unwrap().resized(resize.in_volume_frame()).unwrap();
            same_in_volume_frame(&array, &framed, pad, window)?;
        }
    }
}

/// The PyTC case: a thin volume resized in z only, padded, at sample-like sizes.
#[test]
fn resize_thin_volume_matches_reference() {
    let dir = tempfile::tempdir().unwrap();
    let data = volume([3, 20, 22], 255, 7);
    store::<u8>(dir.path(), "im", &data);
    let (pad, mode) = ([1, 4, 4], PadMode::Reflect);
    let to = min_size_resize([5, 28, 30], [17, 24, 24]).unwrap();
    assert_eq!(to, [17, 28, 30]);
    let want = reference(&data, pad, mode, to.map(|v| v as usize), ZoomOrder::Cubic);
    let array = MappedArray::<u8>::open(dir.path(), "im")
        .unwrap()
        .resized(Resize::new(to, ZoomOrder::Cubic).padded([1, 4, 4], mode))
        .unwrap();
    for window in [Bbox::from_shape(to), Bbox::new([-3, -2, 5], [22, 9, 30])] {
        check(
            &array,
            &want,
            range(&data, pad, mode),
            window,
            PadMode::Reflect,
        );
    }
}

/// An axis whose length is kept is copied: a resize to the padded shape is the padded volume
/// exactly, for both orders, and a resize that neither pads nor changes the shape is none.
#[test]
fn resize_keeping_an_axis_copies_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = volume([4, 6, 5], 255, 3);
    store::<u8>(dir.path(), "im", &data);
    let open = || MappedArray::<u8>::open(dir.path(), "im").unwrap();
    let stored = open()
        .read(Bbox::new([-2, -1, -3], [8, 8, 11]), PadMode::Symmetric)
        .unwrap();
    for order in [ZoomOrder::Cubic, ZoomOrder::Nearest] {
        let padded = open()
            .resized(Resize::new([8, 8, 11], order).padded([2, 1, 3], PadMode::Symmetric))
            .unwrap();
        assert_eq!(
            padded
                .read(Bbox::from_shape([8, 8, 11]), PadMode::Edge)
                .unwrap(),
            stored
        );
        assert!(open()
            .resized(Resize::new([4, 6, 5], order))
            .unwrap()
            .resize()
            .is_none());
    }
    // Only z changes: every (y, x) line of a z plane that lands on a source plane is copied.
    let nearest = open()
        .resized(Resize::new([12, 6, 5], ZoomOrder::Nearest))
        .unwrap();
    let plane = nearest
        .read(Bbox::new([1, 0, 0], [1, 6, 5]), PadMode::Edge)
        .unwrap();
    assert_eq!(
        plane,
        open()
            .read(Bbox::new([0, 0, 0], [1, 6, 5]), PadMode::Edge)
            .unwrap()
    );
}

#[test]
fn resize_to_an_empty_axis_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    store::<u8>(dir.path(), "im", &volume([2, 2, 2], 9, 1));
    let err = MappedArray::<u8>::open(dir.path(), "im")
        .unwrap()
        .resized(Resize::new([2, 2, 0], ZoomOrder::Cubic))
        .err()
        .unwrap();
    assert!(err.to_string().contains("axis x"), "{err}");
}

/// A resized label's foreground index is its own: the cached index of the same label unresized
/// is never served for it (the cache names the resize).
#[test]
fn a_resized_labels_cached_index_is_kept_apart() {
    use voxload::sampler::ForegroundIndex;
    use voxload::store::AnyArray;
    let (dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    store::<u16>(dir.path(), "seg", &volume([3, 12, 10], 3, 4));
    let open = || AnyArray::open(dir.path(), "seg", &voxload::OpenOptions::default()).unwrap();
    let block = [1, 4, 4];
    let plain = ForegroundIndex::open_or_build_cached(&open(), block, cache.path()).unwrap();
    let resize = Resize::new([9, 16, 14], ZoomOrder::Nearest)
        .padded([1, 2, 2], PadMode::Reflect)
        .in_volume_frame();
    let resized = open().resized(resize).unwrap();
    let cached = ForegroundIndex::open_or_build_cached(&resized, block, cache.path()).unwrap();
    assert_eq!(cached.0, ForegroundIndex::build(&resized, block).unwrap());
    assert_ne!(cached.0, plain.0);
    // And the resized one is cached and found again.
    let again = ForegroundIndex::open_or_build_cached(&resized, block, cache.path()).unwrap();
    assert_eq!(again.0, cached.0);
}
