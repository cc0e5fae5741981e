//! Resized reads against scikit-image itself, PyTC's `DATASET.ENSURE_MIN_SIZE`: each volume is
//! (optionally) zoomed by `scipy.ndimage.zoom`, padded by `np.pad` and resized by
//! `skimage.transform.resize(..., anti_aliasing=False, preserve_range=True).astype(dtype)`, as
//! PyTC's `_get_input` does, and compared with voxload's windows of the same array (whole,
//! inside, across the faces with negative starts, and beyond them under the read's own pad).
//!
//! Labels (`uint16`, `uint64`, order 0) must equal skimage's voxel for voxel. `uint8` images
//! (order 3) must too, except where skimage's value before `.astype` lies within `1e-10` of
//! the value range of an integer (see `voxload::store::zoom::resize`): there skimage may give
//! the integer below, voxload the integer. `float32` images may differ in the last place.
//!
//! Runs `$VOXLOAD_PYTHON` (else `python3`) with numpy, scipy and scikit-image, and fails, never
//! skips, when that interpreter cannot run them.

use std::path::Path;
use std::process::Command;

use ndarray::Array3;
use ndarray_npy::{read_npy, write_npy, ReadableElement, WritableElement};
use voxload::store::zoom::{min_size_resize, Resize};
use voxload::store::{AnyArray, ImageScale, Zoom, ZoomOrder};
use voxload::{write_array, Bbox, Element, Encoding, MappedArray, OpenOptions, PadMode};

/// For each `(input, order, scale, pad, pad mode, target, output)`: PyTC's `_rescale`, `_pad`
/// and `_resize2target`, saving the result and skimage's value before `.astype`. Order `3r`
/// is PyTC's `NORMALIZE_RANGE` (stretched to `uint8` first, `/ 255` as `float32` after).
const SCRIPT: &str = r#"
import sys
import numpy as np
from scipy.ndimage import zoom
from skimage.transform import resize
args = sys.argv[1:]
for i in range(0, len(args), 7):
    src, order, scale, pad, mode, target, out = args[i:i + 7]
    a = np.load(src)
    normalize = order == "3r"
    order = 3 if normalize else int(order)
    if normalize:
        a = ((a - a.min()) / float(a.max() - a.min() + 1e-6) * 255).astype(np.uint8)
    scale = [float(s) for s in scale.split(",")]
    if any(s != 1 for s in scale):
        a = zoom(a, scale, order=order)
    a = np.pad(a, [(int(p), int(p)) for p in pad.split(",")], mode)
    target = np.array([int(t) for t in target.split(",")])
    assert (np.array(a.shape) < target).any()
    size = tuple(np.maximum(a.shape, target))
    r = resize(a, size, order=order, anti_aliasing=False, preserve_range=True)
    np.save(out + ".float.npy", np.asarray(r, dtype=np.float64))
    r = r.astype(a.dtype)
    if normalize:
        r = (r.astype(np.float64) / 255).astype(np.float32)
    np.save(out + ".npy", r)
"#;

fn python() -> String {
    std::env::var("VOXLOAD_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// One comparison: a stored array, what PyTC does to it, and how voxload is asked to.
struct Case {
    name: String,
    order: &'static str,
    scale: [f64; 3],
    pad: [u64; 3],
    /// numpy's name of the pad mode, and voxload's.
    mode: (&'static str, PadMode),
    target: [u64; 3],
}

/// Runs skimage on every case at once (one interpreter start).
fn run_skimage(dir: &Path, cases: &[Case]) {
    let list = |v: &[String]| v.join(",");
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(SCRIPT);
    for c in cases {
        cmd.arg(dir.join(format!("{}.npy", c.name)))
            .arg(c.order)
            .arg(list(&c.scale.map(|s| s.to_string())))
            .arg(list(&c.pad.map(|p| p.to_string())))
            .arg(c.mode.0)
            .arg(list(&c.target.map(|t| t.to_string())))
            .arg(dir.join(format!("{}.resized", c.name)));
    }
    let hint = "set VOXLOAD_PYTHON to a Python with numpy, scipy and scikit-image";
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({hint}): {e}", python()));
    assert!(
        out.status.success(),
        "skimage oracle failed ({hint}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A deterministic pseudo-random stream (SplitMix64).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// An EM-like image: smooth structure, noise, dark membranes, and a flat region of value 90
/// (where skimage's truncation is decided by its rounding).
fn image(shape: [usize; 3], seed: u64) -> Array3<u8> {
    let mut noise = Noise(seed);
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let smooth = 128.0 + 60.0 * ((y as f64 * 0.3).sin() + (x as f64 * 0.21 + z as f64).cos());
        let n = (noise.next() % 31) as f64 - 15.0;
        if x + y < 6 {
            90
        } else if (x + 2 * y + 3 * z) % 11 == 0 {
            (noise.next() % 8) as u8
        } else {
            (smooth + n).clamp(6.0, 250.0) as u8
        }
    })
}

/// A label of blocky segments with ids spread over `max`.
fn label<T: Element>(shape: [usize; 3], max: u64, seed: u64) -> Array3<T> {
    let mut noise = Noise(seed);
    let ids: Vec<u64> = (0..64).map(|_| noise.next() % max).collect();
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let cell = (z / 2) * 16 + (y / 3 % 4) * 4 + x / 2 % 4;
        T::from_f64(ids[cell % 64] as f64)
    })
}

fn write_case<T: Element + WritableElement>(dir: &Path, name: &str, data: &Array3<T>) {
    write_npy(dir.join(format!("{name}.npy")), data).unwrap();
    let d = data.shape();
    write_array(dir, name, data, [d[0] as u64, 8, 16], Encoding::Raw).unwrap();
}

/// Windows of the resized grid `shape`: the whole, boxes inside, boxes across the faces with
/// negative starts, and boxes reaching beyond them.
fn windows(shape: [u64; 3]) -> Vec<Bbox> {
    let s = shape.map(|v| v as i64);
    let part = |a: usize, f: i64| (s[a] * f / 10).max(1) as u64;
    vec![
        Bbox::from_shape(shape),
        Bbox::new(
            [s[0] / 3, s[1] / 4, s[2] / 3],
            [part(0, 5), part(1, 5), part(2, 4)],
        ),
        Bbox::new([0, s[1] / 2, 1], [1, part(1, 3), part(2, 6)]),
        Bbox::new([-2, -5, -3], shape.map(|v| v + 7)),
        Bbox::new([s[0] - 2, s[1] - 3, -7], [5, 9, part(2, 5) + 7]),
    ]
}

/// `window` of `data` padded as `np.pad` would.
fn padded<T: Copy>(data: &Array3<T>, window: Bbox, pad: PadMode, cval: T) -> Vec<T> {
    let shape = data.shape();
    let mut out = Vec::with_capacity(window.num_voxels() as usize);
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
                out.push(folded.map_or(cval, |i| data[[i[0], i[1], i[2]]]));
            }
        }
    }
    out
}

/// skimage's result for `case`, and its values before `.astype`.
fn results<T: ReadableElement>(dir: &Path, case: &Case) -> (Array3<T>, Array3<f64>) {
    let path = |suffix: &str| dir.join(format!("{}.resized{suffix}", case.name));
    (
        read_npy(path(".npy")).unwrap(),
        read_npy(path(".float.npy")).unwrap(),
    )
}

/// The voxload resize of `case` for an array of (zoomed) shape `shape`.
fn resize_of(case: &Case, shape: [u64; 3], order: ZoomOrder) -> Resize {
    let padded = std::array::from_fn(|a| shape[a] + 2 * case.pad[a]);
    let to = min_size_resize(padded, case.target).expect("the case needs a resize");
    Resize::new(to, order).padded(case.pad, case.mode.1)
}

/// Tallies of one comparison.
#[derive(Default)]
struct Tally {
    compared: usize,
    /// Voxels where skimage's value was within the snap of an integer.
    near: usize,
    /// Those of them where voxload and skimage differ.
    near_differ: usize,
}

/// True when skimage's value `f` before `.astype` lies within the snap of an integer.
fn near_integer(f: f64) -> bool {
    (f - f.round()).abs() <= 1e-10 * 255.0
}

/// Compares every window of the voxload array resized as `case` says with skimage's.
fn compare<T: Element + ReadableElement>(
    dir: &Path,
    case: &Case,
    order: ZoomOrder,
    same: impl Fn(T, T) -> bool,
    tally: &mut Tally,
) {
    let mut array = MappedArray::<T>::open(dir, &case.name).unwrap();
    if case.scale != [1.0; 3] {
        array = array.zoomed(Zoom::new(case.scale, order).unwrap()).unwrap();
    }
    let resize = resize_of(case, array.shape(), order);
    let array = array.resized(resize).unwrap();
    let (want, float): (Array3<T>, _) = results(dir, case);
    let shape = array.shape();
    assert_eq!(shape.map(|v| v as usize), want.shape(), "{}", case.name);
    let integer = T::DTYPE != voxload::DType::F32 && order == ZoomOrder::Cubic;
    for window in windows(shape) {
        for pad in [PadMode::Reflect, PadMode::Constant(7.0)] {
            let ours = array.read(window, pad).unwrap();
            let wanted = padded(&want, window, pad, T::from_f64(7.0));
            let floats = padded(&float, window, pad, 7.0);
            let mut differ = 0;
            for ((o, w), f) in ours.iter().zip(&wanted).zip(&floats) {
                let near = integer && near_integer(*f);
                tally.near += usize::from(near);
                if same(*o, *w) {
                    continue;
                }
                if near && o.to_f64() == f.round() && w.to_f64() == f.round() - 1.0 {
                    tally.near_differ += 1;
                } else {
                    differ += 1;
                }
            }
            assert_eq!(
                differ,
                0,
                "{} ({:?} padded by {:?} {}, to {:?}): window {window:?} ({pad}): {differ} of {} voxels differ from skimage",
                case.name,
                case.scale,
                case.pad,
                case.mode.0,
                shape,
                wanted.len()
            );
            tally.compared += wanted.len();
        }
    }
}

/// A zoom scale, a pad, a pad mode (numpy's name and voxload's) and a target size.
type Plan = ([f64; 3], [u64; 3], (&'static str, PadMode), [u64; 3]);

/// The resizes PyTC makes: a thin z (the common case), thin in every axis, threefold (every
/// third voxel lands on a source voxel), after a zoom, with and without padding.
fn plans() -> Vec<Plan> {
    let reflect = ("reflect", PadMode::Reflect);
    vec![
        ([1.0; 3], [0; 3], reflect, [9, 20, 20]),
        ([1.0; 3], [1, 4, 4], reflect, [13, 40, 30]),
        (
            [1.0; 3],
            [0, 2, 3],
            ("constant", PadMode::Constant(0.0)),
            [5, 64, 64],
        ),
        (
            [1.0; 3],
            [1, 1, 1],
            ("symmetric", PadMode::Symmetric),
            [21, 93, 105],
        ),
        ([1.0; 3], [2, 0, 0], ("edge", PadMode::Edge), [17, 31, 60]),
        ([1.0, 0.5, 0.5], [1, 3, 3], reflect, [9, 40, 40]),
        ([1.0, 2.0, 1.0], [0, 0, 2], reflect, [12, 20, 20]),
    ]
}

#[test]
fn resize_matches_skimage_for_images_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for (i, (scale, pad, mode, target)) in plans().into_iter().enumerate() {
        let mut add = |name: String, order| {
            cases.push(Case {
                name,
                order,
                scale,
                pad,
                mode,
                target,
            })
        };
        let seed = i as u64;
        write_case(dir.path(), &format!("u8_{i}"), &image([5, 31, 35], seed));
        add(format!("u8_{i}"), "3");
        let float = image([4, 17, 19], seed + 50).mapv(|v| f32::from(v) / 7.0);
        write_case(dir.path(), &format!("f32_{i}"), &float);
        add(format!("f32_{i}"), "3");
        let seg = label::<u16>([6, 29, 31], 60000, seed);
        write_case(dir.path(), &format!("u16_{i}"), &seg);
        add(format!("u16_{i}"), "0");
        let ids = label::<u64>([4, 23, 26], 1 << 52, seed);
        write_case(dir.path(), &format!("u64_{i}"), &ids);
        add(format!("u64_{i}"), "0");
    }
    run_skimage(dir.path(), &cases);
    let mut tally = Tally::default();
    for case in &cases {
        let d = dir.path();
        let t = &mut tally;
        match &case.name[..3] {
            "u8_" => compare::<u8>(d, case, ZoomOrder::Cubic, |a, b| a == b, t),
            "u16" => compare::<u16>(d, case, ZoomOrder::Nearest, |a, b| a == b, t),
            "u64" => compare::<u64>(d, case, ZoomOrder::Nearest, |a, b| a == b, t),
            _ => compare::<f32>(
                d,
                case,
                ZoomOrder::Cubic,
                |a, b| (a - b).abs() <= f32::EPSILON * b.abs().max(1.0),
                t,
            ),
        }
    }
    eprintln!(
        "{} resized voxels compared with skimage; {} near an integer, {} of them one above skimage's",
        tally.compared, tally.near, tally.near_differ
    );
    assert!(tally.near > 0, "the flat region gives near-integer values");
    assert!(
        tally.near_differ * 10 < tally.near,
        "{} of {} near-integer voxels differ",
        tally.near_differ,
        tally.near
    );
}

/// PyTC's `NORMALIZE_RANGE` on a `uint16` image: stretched to `uint8`, (zoomed,) padded and
/// resized as `uint8`, divided by 255 after.
#[test]
fn resize_of_normalized_images_matches_skimage() {
    let dir = tempfile::tempdir().unwrap();
    let data = image([4, 27, 29], 5).mapv(|v| 300 + 97 * u16::from(v));
    let mut cases = Vec::new();
    for (i, (scale, pad, mode, target)) in plans().into_iter().enumerate() {
        let name = format!("em16_{i}");
        write_case(dir.path(), &name, &data);
        cases.push(Case {
            name,
            order: "3r",
            scale,
            pad,
            mode,
            target,
        });
    }
    run_skimage(dir.path(), &cases);
    let mut tally = Tally::default();
    for case in &cases {
        let mut array = AnyArray::open(dir.path(), &case.name, &OpenOptions::default()).unwrap();
        let (min, max) = array.value_range().unwrap();
        if case.scale != [1.0; 3] {
            let zoom = Zoom::new(case.scale, ZoomOrder::Cubic).unwrap();
            array = array.zoomed(zoom).unwrap();
        }
        let resize = resize_of(case, array.shape(), ZoomOrder::Cubic);
        let array = array.resized(resize).unwrap();
        let (want, float): (Array3<f32>, _) = results(dir.path(), case);
        assert_eq!(array.shape().map(|v| v as usize), want.shape());
        for window in windows(array.shape()) {
            let pad = PadMode::Reflect;
            let mut ours = vec![0f32; window.num_voxels() as usize];
            let scale = ImageScale::Range { min, max };
            array
                .read_image_scaled(window, pad, &mut ours, scale)
                .unwrap();
            let wanted = padded(&want, window, pad, 0.0);
            let floats = padded(&float, window, pad, 0.0);
            let mut differ = 0;
            for ((o, w), f) in ours.iter().zip(&wanted).zip(&floats) {
                let near = near_integer(*f);
                tally.near += usize::from(near);
                let step = |v: f32| (f64::from(v) * 255.0).round();
                if o == w {
                    continue;
                }
                if near && step(*o) == f.round() && step(*w) == f.round() - 1.0 {
                    tally.near_differ += 1;
                } else {
                    differ += 1;
                }
            }
            assert_eq!(
                differ, 0,
                "{} window {window:?}: {differ} voxels differ",
                case.name
            );
            tally.compared += wanted.len();
        }
    }
    eprintln!(
        "{} normalized voxels compared; {} near an integer, {} of them one above skimage's",
        tally.compared, tally.near, tally.near_differ
    );
    assert!(tally.near_differ * 10 <= tally.near.max(1));
}
