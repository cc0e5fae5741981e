//! Zoomed reads against `scipy.ndimage.zoom` itself, PyTC's resampling of `DATA_SCALE`:
//! `uint8` (and stretched `uint16`) images by order 3, `uint16` and `uint64` labels by order 0,
//! at PyTC-like scales, for the whole zoomed volume and for windows inside it and across its
//! faces (negative starts included). Integer results must equal scipy's voxel for voxel;
//! `float32` results may differ in the last place (the 64 products are summed in another
//! order).
//!
//! Runs `$VOXLOAD_PYTHON` (else `python3`) with numpy and scipy, and fails, never skips, when
//! that interpreter cannot run them.

use std::path::Path;
use std::process::Command;

use ndarray::Array3;
use ndarray_npy::{read_npy, write_npy, ReadableElement, WritableElement};
use voxload::store::{AnyArray, ImageScale, Zoom, ZoomOrder};
use voxload::{write_array, Bbox, Element, Encoding, MappedArray, OpenOptions, PadMode};

/// Zooms each `(input, order, scale, output)` with scipy, and for `NORMALIZE_RANGE` cases
/// (`order` `3r`) PyTC's `normalize_range` first and `/ 255` as `float32` after.
const SCRIPT: &str = r#"
import sys
import numpy as np
from scipy.ndimage import zoom
args = sys.argv[1:]
for i in range(0, len(args), 4):
    src, order, scale, out = args[i:i + 4]
    a = np.load(src)
    scale = [float(s) for s in scale.split(",")]
    if order == "3r":
        a = ((a - a.min()) / float(a.max() - a.min() + 1e-6) * 255).astype(np.uint8)
        z = (zoom(a, scale, order=3).astype(np.float64) / 255).astype(np.float32)
    else:
        z = zoom(a, scale, order=int(order))
    np.save(out, z)
"#;

/// PyTC's scales, and a few more.
const SCALES: [[f64; 3]; 6] = [
    [1.0, 2.0, 2.0],
    [1.0, 0.5, 0.5],
    [1.0, 0.25, 0.25],
    [1.0, 2.0, 1.0],
    [1.0, 1.5, 0.7],
    [0.6, 1.3, 2.5],
];

/// One comparison: a stored array and what scipy made of it.
struct Case {
    name: String,
    order: &'static str,
    scale: [f64; 3],
}

fn python() -> String {
    std::env::var("VOXLOAD_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs scipy on every case at once (one interpreter start).
fn run_scipy(dir: &Path, cases: &[Case]) {
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(SCRIPT);
    for c in cases {
        let scale = c.scale.map(|s| s.to_string()).join(",");
        cmd.arg(dir.join(format!("{}.npy", c.name)))
            .arg(c.order)
            .arg(scale)
            .arg(dir.join(format!("{}.zoomed.npy", c.name)));
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {} (set VOXLOAD_PYTHON to a Python with numpy and scipy): {e}",
            python()
        )
    });
    assert!(
        out.status.success(),
        "scipy oracle failed (set VOXLOAD_PYTHON to a Python with numpy and scipy):\n{}",
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

/// An EM-like image: smooth structure, sharp 0/255 membranes (the worst case for the cubic's
/// overshoot and clipping) and noise.
fn image(shape: [usize; 3], seed: u64) -> Array3<u8> {
    let mut noise = Noise(seed);
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let smooth = 128.0 + 60.0 * ((y as f64 * 0.3).sin() + (x as f64 * 0.21 + z as f64).cos());
        let membrane = (x + 2 * y + 3 * z) % 11 == 0;
        let n = (noise.next() % 41) as f64 - 20.0;
        if membrane {
            255 * (noise.next() & 1) as u8
        } else {
            (smooth + n).clamp(0.0, 255.0) as u8
        }
    })
}

/// A label of blocky segments with ids spread over `max`.
fn label<T: Element>(shape: [usize; 3], max: u64, seed: u64) -> Array3<T> {
    let mut noise = Noise(seed);
    let ids: Vec<u64> = (0..64).map(|_| noise.next() % max).collect();
    Array3::from_shape_fn(shape, |(z, y, x)| {
        let cell = (z / 2) * 16 + (y / 5 % 4) * 4 + x / 3 % 4;
        T::from_f64(ids[cell % 64] as f64)
    })
}

/// Windows of the zoomed grid `shape`: the whole, interior boxes (the windowed prefilter) and
/// boxes across the faces, starting before them.
fn windows(shape: [u64; 3]) -> Vec<Bbox> {
    let s = shape.map(|v| v as i64);
    let part = |a: usize, f: i64| (s[a] * f / 10).max(1) as u64;
    vec![
        Bbox::from_shape(shape),
        Bbox::new(
            [s[0] / 3, s[1] / 4, s[2] / 3],
            [part(0, 5), part(1, 5), part(2, 4)],
        ),
        Bbox::new([0, s[1] / 2, 1.min(s[2] - 1)], [1, part(1, 3), part(2, 6)]),
        Bbox::new([-2, -5, -3], shape.map(|v| v + 7)),
        Bbox::new([s[0] - 2, s[1] - 3, -7], [5, 9, part(2, 5) + 7]),
    ]
}

/// The scipy result padded as numpy's `np.pad` would, for `window`.
fn padded<T: Copy>(zoomed: &Array3<T>, window: Bbox, pad: PadMode, cval: T) -> Vec<T> {
    let shape = zoomed.shape();
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
                out.push(folded.map_or(cval, |i| zoomed[[i[0], i[1], i[2]]]));
            }
        }
    }
    out
}

fn write_case<T: Element + WritableElement>(dir: &Path, name: &str, data: &Array3<T>) {
    write_npy(dir.join(format!("{name}.npy")), data).unwrap();
    let d = data.shape();
    write_array(dir, name, data, [d[0] as u64, 16, 16], Encoding::Raw).unwrap();
}

/// Compares every window of the voxload array zoomed as `case` says with scipy's result: the
/// voxels must be `same`. Returns the number of voxels compared.
fn compare<T: Element + ReadableElement>(
    dir: &Path,
    case: &Case,
    order: ZoomOrder,
    same: impl Fn(T, T) -> bool,
) -> usize {
    let zoom = Zoom::new(case.scale, order).unwrap();
    let array = MappedArray::<T>::open(dir, &case.name)
        .unwrap()
        .zoomed(zoom)
        .unwrap();
    let scipy: Array3<T> = read_npy(dir.join(format!("{}.zoomed.npy", case.name))).unwrap();
    let shape = array.shape();
    assert_eq!(
        shape.map(|v| v as usize),
        scipy.shape(),
        "{}: zoomed shape",
        case.name
    );
    let mut compared = 0;
    for window in windows(shape) {
        for pad in [PadMode::Reflect, PadMode::Constant(7.0)] {
            let ours = array.read(window, pad).unwrap();
            let want = padded(&scipy, window, pad, T::from_f64(7.0));
            let diff = ours
                .iter()
                .zip(&want)
                .filter(|(a, b)| !same(**a, **b))
                .count();
            assert_eq!(
                diff,
                0,
                "{} scale {:?}: window {window:?} ({pad}): {diff} of {} voxels differ from scipy",
                case.name,
                case.scale,
                want.len()
            );
            compared += want.len();
        }
    }
    compared
}

#[test]
fn zoom_matches_scipy_for_images_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    let mut add = |name: String, order, scale| cases.push(Case { name, order, scale });
    for (i, scale) in SCALES.iter().enumerate() {
        let seed = i as u64;
        write_case(dir.path(), &format!("u8_{i}"), &image([5, 37, 41], seed));
        add(format!("u8_{i}"), "3", *scale);
        write_case(
            dir.path(),
            &format!("u16_{i}"),
            &label::<u16>([6, 29, 31], 60000, seed),
        );
        add(format!("u16_{i}"), "0", *scale);
        write_case(
            dir.path(),
            &format!("u64_{i}"),
            &label::<u64>([4, 23, 26], 1 << 52, seed),
        );
        add(format!("u64_{i}"), "0", *scale);
        let float = image([5, 21, 19], seed + 100).mapv(|v| f32::from(v) / 7.0);
        write_case(dir.path(), &format!("f32_{i}"), &float);
        add(format!("f32_{i}"), "3", *scale);
    }
    // A zoom whose last coordinate rounds past the last voxel (scipy gives it 0), and a z zoom.
    for (i, scale) in [[1.0, 47.0, 1.0], [2.5, 0.5, 1.0]].into_iter().enumerate() {
        write_case(dir.path(), &format!("u8_small{i}"), &image([3, 4, 6], 9));
        add(format!("u8_small{i}"), "3", scale);
        write_case(
            dir.path(),
            &format!("u16_small{i}"),
            &label::<u16>([3, 4, 6], 500, 3),
        );
        add(format!("u16_small{i}"), "0", scale);
    }
    run_scipy(dir.path(), &cases);
    let mut compared = 0;
    for case in &cases {
        compared += match &case.name[..3] {
            "u8_" => compare::<u8>(dir.path(), case, ZoomOrder::Cubic, |a, b| a == b),
            "u16" => compare::<u16>(dir.path(), case, ZoomOrder::Nearest, |a, b| a == b),
            "u64" => compare::<u64>(dir.path(), case, ZoomOrder::Nearest, |a, b| a == b),
            // float32 results within one unit in the last place of scipy's.
            _ => compare::<f32>(dir.path(), case, ZoomOrder::Cubic, |a, b| {
                (a - b).abs() <= f32::EPSILON * b.abs().max(1.0)
            }),
        };
    }
    eprintln!("{compared} zoomed voxels compared with scipy");
}

/// PyTC's `NORMALIZE_RANGE` on a `uint16` image: stretched to `uint8` before the zoom, rounded
/// to `uint8` by it, divided by 255 after; and a `uint16` image zoomed in its own type, then
/// divided by 255 (PyTC without `NORMALIZE_RANGE`).
#[test]
fn zoom_of_normalized_images_matches_scipy() {
    let dir = tempfile::tempdir().unwrap();
    let data = image([4, 33, 35], 5).mapv(|v| 300 + 97 * u16::from(v));
    write_case(dir.path(), "em16", &data);
    let mut cases = Vec::new();
    for (i, scale) in SCALES.iter().enumerate() {
        for order in ["3r", "3"] {
            let name = format!("em16_{order}_{i}");
            std::fs::copy(
                dir.path().join("em16.npy"),
                dir.path().join(format!("{name}.npy")),
            )
            .unwrap();
            cases.push(Case {
                name,
                order,
                scale: *scale,
            });
        }
    }
    run_scipy(dir.path(), &cases);
    let open = || AnyArray::open(dir.path(), "em16", &OpenOptions::default()).unwrap();
    let (min, max) = open().value_range().unwrap();
    for case in &cases {
        let array = open()
            .zoomed(Zoom::new(case.scale, ZoomOrder::Cubic).unwrap())
            .unwrap();
        // The range is the stored volume's, before the zoom.
        assert_eq!(array.value_range().unwrap(), (min, max));
        let path = dir.path().join(format!("{}.zoomed.npy", case.name));
        let (scale, want): (ImageScale, Array3<f32>) = if case.order == "3r" {
            (ImageScale::Range { min, max }, read_npy(&path).unwrap())
        } else {
            let scipy: Array3<u16> = read_npy(&path).unwrap();
            (
                ImageScale::Divide255,
                scipy.mapv(|v| (f64::from(v) / 255.0) as f32),
            )
        };
        assert_eq!(array.shape().map(|v| v as usize), want.shape());
        for window in windows(array.shape()) {
            let pad = PadMode::Reflect;
            let mut ours = vec![0f32; window.num_voxels() as usize];
            array
                .read_image_scaled(window, pad, &mut ours, scale)
                .unwrap();
            let want = padded(&want, window, pad, 0.0);
            let diff = ours.iter().zip(&want).filter(|(a, b)| a != b).count();
            assert_eq!(
                diff, 0,
                "{} {:?} window {window:?}: {diff} voxels differ",
                case.name, case.scale
            );
        }
    }
}
