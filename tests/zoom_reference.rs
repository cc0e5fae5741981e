//! Zoomed arrays against a naive reference: each zoomed voxel computed on its own from the
//! definitions (scipy's coordinate mapping, the B-spline coefficients of the whole volume solved
//! as a linear system, the cubic B-spline kernel itself), then padded by folding; for orders 0
//! and 3, windows inside, across the faces and wholly outside, and the sampler's queries on the
//! zoomed grid.

use std::path::Path;
use std::sync::Arc;

use ndarray::Array3;
use proptest::prelude::*;
use voxload::sampler::{
    ArrayNames, ForegroundIndex, RandomSampler, Rejection, SampleVolume, Volume, WindowSettings,
};
use voxload::store::{AnyArray, ImageScale, VolumeScales, Zoom, ZoomOrder};
use voxload::{write_array, Bbox, Element, Encoding, MappedArray, OpenOptions, PadMode};

/// The zoomed length: `round(n · scale)`, halves to even.
fn zoomed_len(n: usize, scale: f64) -> usize {
    (n as f64 * scale).round_ties_even() as usize
}

/// The source coordinate of zoomed index `k` (`None` past the last voxel: scipy's cval, 0).
fn coordinate(k: usize, n: usize, m: usize) -> Option<f64> {
    let step = if m > 1 {
        (n - 1) as f64 / (m - 1) as f64
    } else {
        1.0
    };
    let c = k as f64 * step;
    (c <= (n - 1) as f64).then_some(c)
}

/// numpy's `reflect` index (scipy's mirror) of `i` on an axis of `n`.
fn mirror(i: i64, n: usize) -> usize {
    let n = n as i64;
    if n == 1 {
        return 0;
    }
    let m = i.rem_euclid(2 * n - 2);
    (if m < n { m } else { 2 * n - 2 - m }) as usize
}

/// The cubic B-spline.
fn bspline(t: f64) -> f64 {
    let t = t.abs();
    if t < 1.0 {
        2.0 / 3.0 - t * t + t * t * t / 2.0
    } else if t < 2.0 {
        (2.0 - t).powi(3) / 6.0
    } else {
        0.0
    }
}

/// The B-spline coefficients of a line with mirror boundaries: the solution of
/// `(c[i-1] + 4 c[i] + c[i+1]) / 6 = x[i]` with `c[-1] = c[1]`, `c[n] = c[n-2]` (Thomas).
fn coefficients(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    if n == 1 {
        return x.to_vec();
    }
    let (mut sup, mut rhs) = (vec![0.0; n], vec![0.0; n]);
    let upper = |i: usize| if i == 0 { 2.0 } else { 1.0 };
    let lower = |i: usize| if i == n - 1 { 2.0 } else { 1.0 };
    sup[0] = upper(0) / 4.0;
    rhs[0] = 6.0 * x[0] / 4.0;
    for i in 1..n {
        let d = 4.0 - lower(i) * sup[i - 1];
        sup[i] = if i < n - 1 { upper(i) / d } else { 0.0 };
        rhs[i] = (6.0 * x[i] - lower(i) * rhs[i - 1]) / d;
    }
    for i in (0..n - 1).rev() {
        rhs[i] -= sup[i] * rhs[i + 1];
    }
    rhs
}

/// The whole zoomed volume as `f64` (before rounding to a type), voxel by voxel.
fn reference(source: &Array3<f64>, scale: [f64; 3], order: ZoomOrder) -> Array3<f64> {
    let n: [usize; 3] = std::array::from_fn(|a| source.shape()[a]);
    let m: Vec<usize> = (0..3).map(|a| zoomed_len(n[a], scale[a])).collect();
    let mut c = source.clone();
    if order == ZoomOrder::Cubic {
        for axis in 0..3 {
            for mut lane in c.lanes_mut(ndarray::Axis(axis)) {
                let line: Vec<f64> = lane.iter().copied().collect();
                for (v, w) in lane.iter_mut().zip(coefficients(&line)) {
                    *v = w;
                }
            }
        }
    }
    Array3::from_shape_fn((m[0], m[1], m[2]), |(kz, ky, kx)| {
        let at = [kz, ky, kx];
        let Some(coords) = (0..3)
            .map(|a| coordinate(at[a], n[a], m[a]))
            .collect::<Option<Vec<f64>>>()
        else {
            return 0.0;
        };
        if order == ZoomOrder::Nearest {
            let i: Vec<usize> = coords.iter().map(|c| (c + 0.5).floor() as usize).collect();
            return source[[i[0], i[1], i[2]]];
        }
        let taps = |a: usize| -> Vec<(usize, f64)> {
            let first = coords[a].floor() as i64 - 1;
            (first..first + 4)
                .map(|i| (mirror(i, n[a]), bspline(coords[a] - i as f64)))
                .collect()
        };
        let mut sum = 0.0;
        for (z, wz) in taps(0) {
            for (y, wy) in taps(1) {
                for (x, wx) in taps(2) {
                    sum += c[[z, y, x]] * wz * wy * wx;
                }
            }
        }
        sum
    })
}

/// An interpolated value stored in `T` as scipy stores it.
fn quantise<T: Element>(t: f64) -> T {
    if T::DTYPE == voxload::DType::F32 {
        T::from_f64(t)
    } else {
        T::from_f64(if t > 0.0 { (t + 0.5).floor() } else { 0.0 })
    }
}

/// `window` of `zoomed`, padded as `np.pad` would (`cval` for a constant pad).
fn window_of(zoomed: &Array3<f64>, window: Bbox, pad: PadMode) -> Vec<Option<f64>> {
    let shape = zoomed.shape();
    let mut out = Vec::new();
    for z in 0..window.shape[0] as i64 {
        for y in 0..window.shape[1] as i64 {
            for x in 0..window.shape[2] as i64 {
                let at = [z, y, x];
                let folded: Option<Vec<usize>> = (0..3)
                    .map(|a| {
                        pad.fold(window.begin[a] + at[a], shape[a] as u64)
                            .map(|v| v as usize)
                    })
                    .collect();
                out.push(folded.map(|i| zoomed[[i[0], i[1], i[2]]]));
            }
        }
    }
    out
}

/// A small deterministic volume of values below `max`, with runs (labels) or texture (images).
fn volume(shape: [usize; 3], max: u64, seed: u64) -> Array3<f64> {
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let h = (z as u64 * 73_856_093) ^ (y as u64 / 2 * 19_349_663) ^ (x as u64 * 83_492_791);
        ((h.wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) % max) as f64
    })
}

/// Writes `data` as array `name` of type `T` in chunks small enough to cross.
fn store<T: Element>(dir: &Path, name: &str, data: &Array3<f64>) {
    write_array(dir, name, &data.mapv(T::from_f64), [2, 4, 5], Encoding::Raw).unwrap();
}

/// Compares a window read from `array` with the reference: exact for order 0 and for integers,
/// except that a rounded value may differ by 1 where the reference lies within `1e-7` of a
/// half (rounding there depends on the last bits of the sum); `float32` within `1e-4`.
fn check<T: Element>(array: &MappedArray<T>, zoomed: &Array3<f64>, window: Bbox, pad: PadMode) {
    let ours = array.read(window, pad).unwrap();
    let want = window_of(zoomed, window, pad);
    let cval = T::from_f64(pad.constant().unwrap_or(0.0));
    for (i, (got, want)) in ours.iter().zip(&want).enumerate() {
        let expected = want.map_or(cval, quantise::<T>);
        if *got == expected {
            continue;
        }
        let t = want.unwrap_or(0.0);
        let near_half = (t - t.floor() - 0.5).abs() < 1e-7;
        let (g, e) = (got.to_f64(), expected.to_f64());
        let ok = if T::DTYPE == voxload::DType::F32 {
            (g - e).abs() <= 1e-4 * e.abs().max(1.0)
        } else {
            near_half && (g - e).abs() <= 1.0
        };
        assert!(
            ok,
            "window {window:?} ({pad}) voxel {i}: {got:?}, reference {t}"
        );
    }
}

fn open<T: Element>(dir: &Path, name: &str, scale: [f64; 3], order: ZoomOrder) -> MappedArray<T> {
    let zoom = Zoom::new(scale, order).unwrap();
    MappedArray::<T>::open(dir, name)
        .unwrap()
        .zoomed(zoom)
        .unwrap()
}

const PADS: [PadMode; 5] = [
    PadMode::Reflect,
    PadMode::Symmetric,
    PadMode::Edge,
    PadMode::Constant(0.0),
    PadMode::Constant(9.0),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any shape, scale and window: both orders against the reference, every pad mode.
    #[test]
    fn zoom_windows_match_reference(
        shape in (1usize..7, 1usize..12, 1usize..12),
        scale in (0.3f64..3.0, 0.3f64..3.0, 0.3f64..3.0),
        cubic in any::<bool>(),
        begin in (-6i64..6, -9i64..9, -9i64..9),
        extent in (1u64..9, 1u64..16, 1u64..16),
        pad in 0usize..PADS.len(),
        seed in any::<u64>(),
    ) {
        let shape = [shape.0, shape.1, shape.2];
        let scale = [scale.0, scale.1, scale.2];
        prop_assume!((0..3).all(|a| zoomed_len(shape[a], scale[a]) >= 1));
        let dir = tempfile::tempdir().unwrap();
        let order = if cubic { ZoomOrder::Cubic } else { ZoomOrder::Nearest };
        let data = volume(shape, if cubic { 256 } else { 5 }, seed);
        let zoomed = reference(&data, scale, order);
        let window = Bbox::new([begin.0, begin.1, begin.2], [extent.0, extent.1, extent.2]);
        if cubic {
            store::<u8>(dir.path(), "a", &data);
            check(&open::<u8>(dir.path(), "a", scale, order), &zoomed, window, PADS[pad]);
            store::<f32>(dir.path(), "f", &data);
            check(&open::<f32>(dir.path(), "f", scale, order), &zoomed, window, PADS[pad]);
        } else {
            store::<u16>(dir.path(), "a", &data);
            check(&open::<u16>(dir.path(), "a", scale, order), &zoomed, window, PADS[pad]);
        }
    }
}

/// PyTC-like scales on a volume large enough for the windowed prefilter to matter: interior
/// windows, windows across every face and negative starts.
#[test]
fn zoom_pytc_scales_match_reference() {
    let dir = tempfile::tempdir().unwrap();
    let data = volume([6, 70, 66], 256, 7);
    store::<u8>(dir.path(), "im", &data);
    let labels = volume([6, 70, 66], 9, 3);
    store::<u64>(dir.path(), "seg", &labels);
    for scale in [
        [1.0, 2.0, 2.0],
        [1.0, 0.5, 0.5],
        [1.0, 0.25, 0.25],
        [1.0, 2.0, 1.0],
        [1.0, 1.5, 0.7],
    ] {
        let image = reference(&data, scale, ZoomOrder::Cubic);
        let seg = reference(&labels, scale, ZoomOrder::Nearest);
        let im = open::<u8>(dir.path(), "im", scale, ZoomOrder::Cubic);
        let lab = open::<u64>(dir.path(), "seg", scale, ZoomOrder::Nearest);
        let s = im.shape().map(|v| v as i64);
        assert_eq!(im.shape().map(|v| v as usize), image.shape());
        for window in [
            Bbox::from_shape(im.shape()),
            Bbox::new([1, s[1] / 3, s[2] / 4], [3, 40, 30]),
            Bbox::new([-3, -20, -17], [8, 45, 50]),
            Bbox::new([2, s[1] - 10, s[2] - 25], [8, 30, 40]),
            Bbox::new([-30, s[1] + 5, -90], [2, 3, 4]),
        ] {
            for pad in PADS {
                check(&im, &image, window, pad);
                check(&lab, &seg, window, pad);
            }
        }
    }
}

#[test]
fn zoom_keeping_the_shape_is_the_stored_array() {
    let dir = tempfile::tempdir().unwrap();
    store::<u8>(dir.path(), "im", &volume([8, 9, 10], 256, 1));
    // 8 · 1.04 rounds to 8: no axis changes, so no zoom at all (scipy maps each voxel to itself).
    for scale in [[1.0; 3], [1.04, 1.0, 0.97]] {
        let im = open::<u8>(dir.path(), "im", scale, ZoomOrder::Cubic);
        assert_eq!((im.zoom(), im.shape()), (None, [8, 9, 10]));
    }
    let im = open::<u8>(dir.path(), "im", [1.0, 2.0, 1.0], ZoomOrder::Cubic);
    assert_eq!(im.zoom().map(|z| z.scale()), Some([1.0, 2.0, 1.0]));
    assert_eq!((im.shape(), im.meta().shape), ([8, 18, 10], [8, 9, 10]));
    // A second zoom replaces the first: it applies to the stored voxels.
    let again = im
        .zoomed(Zoom::new([1.0, 1.0, 0.5], ZoomOrder::Cubic).unwrap())
        .unwrap();
    assert_eq!(again.shape(), [8, 9, 5]);
}

#[test]
fn zoom_past_the_last_voxel_is_zero_inside_and_pad_outside() {
    let dir = tempfile::tempdir().unwrap();
    let data = volume([2, 4, 3], 200, 5).mapv(|v| v + 1.0);
    store::<u16>(dir.path(), "seg", &data);
    store::<u8>(dir.path(), "im", &data);
    // 187 · (3 / 187) rounds past 3: scipy gives the last zoomed row its cval, 0.
    let scale = [1.0, 47.0, 1.0];
    let seg = open::<u16>(dir.path(), "seg", scale, ZoomOrder::Nearest);
    let im = open::<u8>(dir.path(), "im", scale, ZoomOrder::Cubic);
    assert_eq!(seg.shape(), [2, 188, 3]);
    let window = Bbox::new([0, 186, -1], [1, 3, 5]);
    for pad in [PadMode::Constant(7.0), PadMode::Reflect] {
        for w in [
            seg.read(window, pad).unwrap().mapv(u64::from),
            im.read(window, pad).unwrap().mapv(u64::from),
        ] {
            let row = |y: usize| w.slice(ndarray::s![0, y, ..]).to_vec();
            assert!(row(0)[1..4].iter().all(|&v| v > 0));
            assert_eq!(row(1)[1..4], [0, 0, 0]);
            // Past the zoomed volume: the pad (a constant, or the rows mirrored back inside).
            let outside = if pad == PadMode::Reflect {
                row(0)[1..4].to_vec()
            } else {
                vec![7; 3]
            };
            assert_eq!(row(2)[1..4], outside[..]);
        }
    }
    check(
        &seg,
        &reference(&data, scale, ZoomOrder::Nearest),
        Bbox::new([0, 150, 0], [2, 50, 3]),
        PadMode::Constant(7.0),
    );
}

#[test]
fn zoom_bad_scales_are_errors_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    store::<u8>(dir.path(), "im", &volume([4, 4, 4], 256, 1));
    for (scale, text) in [
        ([1.0, 0.0, 1.0], "scale 0 on axis y"),
        ([-1.0, 1.0, 1.0], "scale -1 on axis z"),
        ([1.0, 1.0, f64::NAN], "scale NaN on axis x"),
        ([f64::INFINITY, 1.0, 1.0], "scale inf on axis z"),
    ] {
        let err = Zoom::new(scale, ZoomOrder::Nearest).unwrap_err();
        assert!(
            matches!(err, voxload::Error::Geometry(_)) && err.to_string().contains(text),
            "{err}"
        );
    }
    let array = AnyArray::open(dir.path(), "im", &OpenOptions::default()).unwrap();
    let err = array
        .zoomed(Zoom::new([1.0, 0.1, 1.0], ZoomOrder::Cubic).unwrap())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("scale 0.1 on axis y makes 0 voxels of the 4"),
        "{err}"
    );
}

#[test]
fn zoom_read_into_checks_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    store::<u8>(dir.path(), "im", &volume([4, 4, 4], 256, 1));
    for order in [ZoomOrder::Nearest, ZoomOrder::Cubic] {
        let im = open::<u8>(dir.path(), "im", [1.0, 2.0, 2.0], order);
        let mut out = vec![0u8; 10];
        let err = im.read_into(Bbox::new([0, -3, 0], [1, 3, 3]), PadMode::Reflect, &mut out);
        assert!(matches!(err, Err(voxload::Error::Geometry(_))));
        let huge = Bbox::new([0, 0, 0], [1 << 40, 1 << 40, 1 << 40]);
        assert!(im.read(huge, PadMode::Reflect).is_err());
    }
}

/// `count_nonzero`, `count_distinct`, the foreground index and the sampler all see the zoomed
/// label.
#[test]
fn zoom_sampler_queries_follow_the_zoomed_grid() {
    let dir = tempfile::tempdir().unwrap();
    let labels = volume([4, 24, 20], 4, 11).mapv(|v| if v == 3.0 { 0.0 } else { v });
    store::<u32>(dir.path(), "seg", &labels);
    let scale = [1.0, 0.5, 1.5];
    let zoomed = reference(&labels, scale, ZoomOrder::Nearest);
    let open_seg = || {
        AnyArray::open(dir.path(), "seg", &OpenOptions::default())
            .unwrap()
            .zoomed(Zoom::new(scale, ZoomOrder::Nearest).unwrap())
            .unwrap()
    };
    let seg = open_seg();
    assert_eq!(seg.shape(), [4, 12, 30]);
    for window in [
        Bbox::new([0, 0, 0], [4, 12, 30]),
        Bbox::new([-1, 5, -4], [3, 9, 12]),
    ] {
        let values = window_of(&zoomed, window, PadMode::Reflect);
        let nonzero = values.iter().filter(|v| **v != Some(0.0)).count() as u64;
        let mut distinct: Vec<u64> = values.iter().map(|v| v.unwrap() as u64).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            seg.count_nonzero(window, PadMode::Reflect).unwrap(),
            nonzero
        );
        assert_eq!(
            seg.count_distinct(window, PadMode::Reflect).unwrap(),
            distinct.len() as u64
        );
    }
    let index = ForegroundIndex::build(&seg, [2, 4, 4]).unwrap();
    assert_eq!(index.shape(), [4, 12, 30]);
    let total = zoomed.iter().filter(|v| **v != 0.0).count() as u32;
    assert_eq!(index.counts().iter().sum::<u32>(), total);
    // The cached index of the zoomed label is kept apart from the stored label's.
    let cache = tempfile::tempdir().unwrap();
    let stored = AnyArray::open(dir.path(), "seg", &OpenOptions::default()).unwrap();
    let plain = ForegroundIndex::open_or_build_cached(&stored, [2, 4, 4], cache.path()).unwrap();
    let cached = ForegroundIndex::open_or_build_cached(&seg, [2, 4, 4], cache.path()).unwrap();
    assert_eq!(
        (plain.0.shape(), cached.0.shape()),
        ([4, 24, 20], [4, 12, 30])
    );
    assert_eq!(
        ForegroundIndex::open_or_build_cached(&open_seg(), [2, 4, 4], cache.path())
            .unwrap()
            .0,
        index
    );
    let mut names: Vec<String> = std::fs::read_dir(cache.path().join("fgindex"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("2x4x4") || n.contains("-zoom"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].ends_with("-2x4x4") && names[1].contains("-2x4x4-zoom"),
        "{names:?}"
    );

    let seg = Arc::new(seg);
    let volume = SampleVolume {
        shape: seg.shape(),
        label: Some(seg.clone()),
        valid_mask: None,
    };
    let windows = WindowSettings {
        sample: [2, 6, 6],
        input: [2, 6, 6],
        pad: [1, 2, 2].into(),
        pad_mode: PadMode::Reflect,
    };
    let rejection = Rejection {
        size_thres: 40,
        p: 1.0,
        num_trial: 500,
        ..Rejection::default()
    };
    let sampler = RandomSampler::new(vec![volume], windows, rejection)
        .unwrap()
        .with_foreground_index(0, index)
        .unwrap();
    for i in 0..20 {
        let draw = sampler.draw(1, 0, i).unwrap();
        assert!(!draw.forced);
        let w = draw.window;
        assert!((0..3).all(|a| w.begin[a] >= -windows.pad.before[a]
            && w.end()[a] <= seg.shape()[a] as i64 + windows.pad.after[a]));
        let values = window_of(&zoomed, w, PadMode::Reflect);
        assert!(values.iter().filter(|v| **v != Some(0.0)).count() >= 40);
    }
}

/// Images: `NORMALIZE_RANGE` stretches before the zoom and `/ 255` comes after it.
#[test]
fn zoom_image_scales_stretch_before_and_divide_after() {
    let dir = tempfile::tempdir().unwrap();
    let data = volume([3, 20, 18], 256, 2).mapv(|v| 1000.0 + 37.0 * v);
    store::<u16>(dir.path(), "em", &data);
    let scale = [1.0, 0.5, 1.7];
    let array = AnyArray::open(dir.path(), "em", &OpenOptions::default())
        .unwrap()
        .zoomed(Zoom::new(scale, ZoomOrder::Cubic).unwrap())
        .unwrap();
    let (min, max) = array.value_range().unwrap();
    assert_eq!(
        (min, max),
        (
            data.fold(f64::MAX, |a, &b| a.min(b)),
            data.fold(0.0f64, |a, &b| a.max(b))
        )
    );
    let stretched = data.mapv(|v| {
        ((v - min) / (max - min + 1e-6) * 255.0)
            .clamp(0.0, 255.0)
            .trunc()
    });
    let window = Bbox::new([-1, -3, 4], [4, 12, 30]);
    let mut out = vec![0f32; window.num_voxels() as usize];
    for (scale_kind, source) in [
        (ImageScale::Range { min, max }, &stretched),
        (ImageScale::Divide255, &data),
    ] {
        let zoomed = reference(source, scale, ZoomOrder::Cubic);
        array
            .read_image_scaled(window, PadMode::Reflect, &mut out, scale_kind)
            .unwrap();
        let quantised: Vec<f64> = window_of(&zoomed, window, PadMode::Reflect)
            .iter()
            .map(|v| {
                let t = v.unwrap();
                match scale_kind {
                    ImageScale::Range { .. } => f64::from(quantise::<u8>(t)),
                    _ => f64::from(quantise::<u16>(t)),
                }
            })
            .collect();
        for (got, q) in out.iter().zip(&quantised) {
            assert_eq!(*got, (q / 255.0) as f32, "{scale_kind:?}");
        }
    }
}

#[test]
fn zoom_volume_opens_each_role_at_its_scale() {
    let dir = tempfile::tempdir().unwrap();
    store::<u8>(dir.path(), "em", &volume([4, 40, 40], 256, 1));
    store::<u16>(dir.path(), "seg", &volume([4, 20, 20], 5, 2));
    store::<u8>(dir.path(), "mask", &volume([4, 10, 10], 2, 3));
    store::<f32>(dir.path(), "dist", &volume([4, 40, 40], 100, 4));
    store::<u8>(dir.path(), "bnd", &volume([4, 20, 20], 2, 5));
    let names = ArrayNames::new("em")
        .label("seg")
        .valid_mask("mask")
        .target("dist", "dist")
        .target("bnd", "bnd");
    let scales = VolumeScales::uniform([1.0, 0.5, 0.5])
        .label([1.0; 3])
        .valid_mask([1.0, 2.0, 2.0]);
    let volume =
        Volume::open_scaled(0, dir.path(), &names, &OpenOptions::default(), &scales).unwrap();
    assert_eq!(volume.shape(), [4, 20, 20]);
    // float32 targets follow the image (cubic), integer ones the label (nearest, unit here).
    let zoom = |a: &AnyArray| a.zoom().map(|z| (z.scale(), z.order()));
    assert_eq!(
        zoom(volume.image()),
        Some(([1.0, 0.5, 0.5], ZoomOrder::Cubic))
    );
    assert_eq!(zoom(volume.label().unwrap()), None);
    assert_eq!(
        zoom(volume.valid_mask().unwrap()),
        Some(([1.0, 2.0, 2.0], ZoomOrder::Nearest))
    );
    assert_eq!(
        zoom(volume.target("dist").unwrap()),
        Some(([1.0, 0.5, 0.5], ZoomOrder::Cubic))
    );
    assert_eq!(zoom(volume.target("bnd").unwrap()), None);
    assert_eq!(volume.sample_volume().shape, [4, 20, 20]);

    // A target declared a mask follows the label's scale, here a mismatch naming both shapes.
    let wrong = scales.clone().target_order("dist", ZoomOrder::Nearest);
    let err = Volume::open_scaled(3, dir.path(), &names, &OpenOptions::default(), &wrong)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("volume 3: target `dist`")
            && text.contains("[4, 20, 20] (zoomed from [4, 40, 40] by [1.0, 0.5, 0.5])"),
        "{text}"
    );
    // Volume::open is the unit case.
    let plain = Volume::open(
        0,
        dir.path(),
        &ArrayNames::new("em"),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!((plain.shape(), plain.image().zoom()), ([4, 40, 40], None));
}
