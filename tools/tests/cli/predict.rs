//! Writing predictions back (SPEC section 9): identity models, a dense reference, order and
//! threads, typed errors, bounded memory and `voxload stitch` end to end.

use std::path::Path;

use ndarray::{Array3, Array4};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use voxload::predict::{
    is_complete, read_prediction, to_u8, OutputType, PredictionWriter, Problem, Weight,
};
use voxload::{write_array, Bbox, Coord, Encoding, Error, MappedArray, PadMode, Shape};

use crate::util::{in_child_process, rss_anon_kib};

const WEIGHTS: [Weight; 3] = [Weight::Gaussian, Weight::Bump, Weight::Constant];

/// A grid: volume, window, stride, padding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Case {
    pub volume: Shape,
    pub window: Shape,
    pub stride: Shape,
    pub pad: Coord,
}

pub(crate) const CASES: [Case; 4] = [
    // The stride divides the volume: (12 − 4) / 2, (48 − 16) / 8, (40 − 16) / 8.
    Case {
        volume: [12, 48, 40],
        window: [4, 16, 16],
        stride: [2, 8, 8],
        pad: [0, 0, 0],
    },
    // It does not (the last windows are clamped), with padding.
    Case {
        volume: [13, 50, 47],
        window: [4, 16, 16],
        stride: [3, 7, 10],
        pad: [1, 4, 4],
    },
    // 2D: depth-1 windows stacked back into the volume, padding wider than the stride.
    Case {
        volume: [5, 40, 37],
        window: [1, 16, 16],
        stride: [1, 8, 6],
        pad: [0, 9, 5],
    },
    // An axis shorter than the window (one window, padded), padding past the window.
    Case {
        volume: [3, 30, 20],
        window: [4, 8, 32],
        stride: [2, 8, 16],
        pad: [1, 10, 2],
    },
];

fn volume_f32(shape: Shape) -> Array3<f32> {
    let [d, h, w] = shape.map(|v| v as usize);
    Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        0.5 + ((z * 131 + y * 31 + x * 7) % 97) as f32 / 97.0
    })
}

fn writer(dir: &Path, name: &str, case: Case, weight: Weight, channels: usize) -> PredictionWriter {
    PredictionWriter::builder(case.volume, case.window, case.stride)
        .pad(case.pad)
        .channels(channels)
        .weight(weight)
        .chunk([3, 16, 16])
        .create(dir, name)
        .unwrap()
}

#[test]
fn identity_model_blends_back_to_the_input() {
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in CASES.iter().enumerate() {
        let image = volume_f32(case.volume);
        let name = format!("image{i}");
        write_array(dir.path(), &name, &image, [4, 16, 16], Encoding::Raw).unwrap();
        let input = MappedArray::<f32>::open(dir.path(), &name).unwrap();
        for weight in WEIGHTS {
            let out = format!("pred{i}_{weight}");
            let w = writer(dir.path(), &out, *case, weight, 2);
            let positions: Vec<Coord> = w.positions().collect();
            for p in positions {
                let window = input
                    .read(Bbox::new(p, case.window), PadMode::Reflect)
                    .unwrap();
                // Channel 1 is twice the image.
                let pred = ndarray::stack![ndarray::Axis(0), window, window.mapv(|v| 2.0 * v)];
                w.add(p, pred.view()).unwrap();
            }
            w.finish().unwrap();
            assert!(is_complete(dir.path(), &out).unwrap());
            let got = read_prediction(dir.path(), &out).unwrap();
            let [d, h, ww] = case.volume.map(|v| v as usize);
            assert_eq!(got.shape(), &[2, d, h, ww]);
            for ((c, z, y, x), &v) in got.indexed_iter() {
                let want = image[[z, y, x]] * (c + 1) as f32;
                assert!(
                    (v - want).abs() <= 1e-6 * want,
                    "{case:?} {weight}: ({c}, {z}, {y}, {x}) = {v}, want {want}"
                );
            }
        }
    }
}

/// The weight matrix is PyTC's formula evaluated directly (meshgrid, distance, max).
#[test]
fn weights_match_pytc_formulas() {
    let (d, h, w) = (5usize, 7usize, 9usize);
    let lin = |n: usize, a: f64, b: f64| -> Vec<f64> {
        (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect()
    };
    let (gz, gy, gx) = (lin(d, -1.0, 1.0), lin(h, -1.0, 1.0), lin(w, -1.0, 1.0));
    let gauss = Weight::Gaussian.matrix([d as u64, h as u64, w as u64]);
    let (bz, by, bx) = (
        lin(d + 2, 0.0, 1.0),
        lin(h + 2, 0.0, 1.0),
        lin(w + 2, 0.0, 1.0),
    );
    let logit = |z: f64, y: f64, x: f64| {
        -(x * (1.0 - x)).powf(-1.5) - (y * (1.0 - y)).powf(-1.5) - (z * (1.0 - z)).powf(-1.5)
    };
    let mut max = f64::NEG_INFINITY;
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                max = max.max(logit(bz[z + 1], by[y + 1], bx[x + 1]));
            }
        }
    }
    let bump = Weight::Bump.matrix([d as u64, h as u64, w as u64]);
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let dd = (gz[z] * gz[z] + gy[y] * gy[y] + gx[x] * gx[x]).sqrt();
                let g = 1e-4 + (-(dd * dd) / (2.0 * 0.2 * 0.2)).exp();
                assert!((f64::from(gauss[[z, y, x]]) - g).abs() <= 1e-7 * g);
                let b = 1e-4 + (logit(bz[z + 1], by[y + 1], bx[x + 1]) - max).exp();
                assert!((f64::from(bump[[z, y, x]]) - b).abs() <= 1e-7 * b);
            }
        }
    }
}

/// A fake model whose output depends on the window and the voxel.
fn fake(g: usize, p: Coord, c: usize, z: usize, y: usize, x: usize) -> f32 {
    let (zz, yy, xx) = (p[0] + z as i64, p[1] + y as i64, p[2] + x as i64);
    0.5 + 0.4
        * ((g as f32) * 0.37 + zz as f32 * 0.1 + yy as f32 * 0.05 - xx as f32 * 0.03 + c as f32)
            .sin()
}

pub(crate) fn fake_window(case: &Case, channels: usize, g: usize, p: Coord) -> Array4<f32> {
    let [d, h, w] = case.window.map(|v| v as usize);
    Array4::from_shape_fn((channels, d, h, w), |(c, z, y, x)| fake(g, p, c, z, y, x))
}

/// The naïve dense blend: accumulate `p · w` and `w` over the whole padded volume, divide,
/// crop.
fn dense_reference(
    case: &Case,
    weight: Weight,
    channels: usize,
    positions: &[Coord],
) -> Array4<f64> {
    let [d, h, w] = case.volume.map(|v| v as usize);
    let mut num = Array4::<f64>::zeros((channels, d, h, w));
    let mut den = Array3::<f64>::zeros((d, h, w));
    let ww = weight.matrix(case.window);
    for (g, &p) in positions.iter().enumerate() {
        for ((c, z, y, x), v) in fake_window(case, channels, g, p).indexed_iter() {
            let at = [p[0] + z as i64, p[1] + y as i64, p[2] + x as i64];
            if (0..3).any(|a| at[a] < 0 || at[a] >= case.volume[a] as i64) {
                continue;
            }
            let [vz, vy, vx] = at.map(|v| v as usize);
            let wt = f64::from(ww[[z, y, x]]);
            num[[c, vz, vy, vx]] += f64::from(*v) * wt;
            if c == 0 {
                den[[vz, vy, vx]] += wt;
            }
        }
    }
    for ((_, z, y, x), v) in num.indexed_iter_mut() {
        *v /= den[[z, y, x]];
    }
    num
}

#[test]
fn position_dependent_model_matches_a_dense_reference() {
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in CASES.iter().enumerate() {
        for weight in WEIGHTS {
            for dtype in [OutputType::F32, OutputType::U8] {
                let out = format!("pred{i}_{weight}_{}", dtype.name());
                let w = PredictionWriter::builder(case.volume, case.window, case.stride)
                    .pad(case.pad)
                    .channels(2)
                    .weight(weight)
                    .dtype(dtype)
                    .encoding(Encoding::Zstd { level: 1 })
                    .chunk([2, 11, 13])
                    .create(dir.path(), &out)
                    .unwrap();
                let positions: Vec<Coord> = w.positions().collect();
                for (g, &p) in positions.iter().enumerate() {
                    w.add(p, fake_window(case, 2, g, p).view()).unwrap();
                }
                w.finish().unwrap();
                let got = read_prediction(dir.path(), &out).unwrap();
                let want = dense_reference(case, weight, 2, &positions);
                for (idx, &v) in got.indexed_iter() {
                    let r = want[idx];
                    match dtype {
                        OutputType::F32 => assert!(
                            (f64::from(v) - r).abs() <= 2e-6,
                            "{case:?} {weight}: {idx:?} = {v}, reference {r}"
                        ),
                        // Rounding at a half level may go either way.
                        OutputType::U8 => assert!(
                            (f64::from(v) - f64::from(to_u8(r))).abs() <= 1.0,
                            "{case:?} {weight}: {idx:?} = {v}, reference {r}"
                        ),
                    }
                }
            }
        }
    }
}

/// Reorders the `(grid index, position)` list of a run.
type Order<'a> = &'a dyn Fn(&mut Vec<(usize, Coord)>);

#[test]
fn any_order_and_any_threads_give_bit_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let case = CASES[1];
    let run = |name: &str, order: Order<'_>, threads: bool| {
        let w = writer(dir.path(), name, case, Weight::Gaussian, 2);
        let mut items: Vec<(usize, Coord)> = w.positions().enumerate().collect();
        order(&mut items);
        if threads {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(4)
                .build()
                .unwrap();
            pool.install(|| {
                items
                    .par_iter()
                    .for_each(|&(g, p)| w.add(p, fake_window(&case, 2, g, p).view()).unwrap())
            });
        } else {
            for &(g, p) in &items {
                w.add(p, fake_window(&case, 2, g, p).view()).unwrap();
            }
        }
        w.finish().unwrap();
        read_prediction(dir.path(), name).unwrap()
    };
    let in_order = run("in_order", &|_| {}, false);
    let reversed = run("reversed", &|v| v.reverse(), false);
    let shuffle = |v: &mut Vec<(usize, Coord)>| {
        v.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7))
    };
    let shuffled = run("shuffled", &shuffle, false);
    let threaded = run("threaded", &shuffle, true);
    let threaded_in_order = run("threaded_in_order", &|_| {}, true);
    for (name, other) in [
        ("reversed", &reversed),
        ("shuffled", &shuffled),
        ("threaded", &threaded),
        ("threaded in order", &threaded_in_order),
    ] {
        let same = in_order
            .iter()
            .zip(other.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name} differs from in-order arrival");
    }
}

fn problem(e: Error) -> Problem {
    match e {
        Error::Prediction { problem, .. } => problem,
        other => panic!("expected Error::Prediction, got {other}"),
    }
}

#[test]
fn bad_windows_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let case = CASES[1];
    let w = writer(dir.path(), "pred", case, Weight::Gaussian, 1);
    let first = w.positions().next().unwrap();
    assert_eq!(first, [-1, -4, -4]);
    let good = Array4::<f32>::zeros((1, 4, 16, 16));
    // Wrong shapes: channels, window, dimensions.
    for bad in [
        Array4::<f32>::zeros((2, 4, 16, 16)),
        Array4::<f32>::zeros((1, 4, 16, 15)),
    ] {
        let e = w.add(first, bad.view()).unwrap_err();
        assert!(matches!(
            problem(e),
            Problem::Shape {
                expected: [1, 4, 16, 16],
                ..
            }
        ));
    }
    // Not a window start: off the grid, or outside it.
    for p in [[0, -4, -4], [-1, -3, -4], [-1, -4, 1000], [100, 0, 0]] {
        let e = w.add(p, good.view()).unwrap_err();
        assert_eq!(problem(e), Problem::NotOnGrid, "{p:?}");
    }
    w.add(first, good.view()).unwrap();
    let e = w.add(first, good.view()).unwrap_err();
    assert!(e.to_string().contains("already added"), "{e}");
    assert_eq!(problem(e), Problem::Duplicate { index: 0 });
    // A grid left incomplete names its first missing window and stays in-progress.
    let second = w.positions().nth(1).unwrap();
    let total = w.len();
    let e = w.finish().unwrap_err();
    assert!(matches!(&e, Error::Prediction { position, .. } if *position == second));
    assert_eq!(problem(e), Problem::Incomplete { missing: total - 1 });
    assert!(!is_complete(dir.path(), "pred").unwrap());
    // An existing array is not replaced unless asked.
    let again = PredictionWriter::builder(case.volume, case.window, case.stride)
        .pad(case.pad)
        .create(dir.path(), "pred");
    assert!(matches!(again, Err(Error::Write { .. })));
}

#[test]
fn anonymous_memory_stays_a_slab_of_the_grid() {
    if in_child_process("predict::anonymous_memory_stays_a_slab_of_the_grid") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A 256 MiB float32 output; tiles (8, 256, 256) make layers of 8 MiB.
    let (volume, window, stride) = ([256, 512, 512], [8, 128, 128], [6, 120, 120]);
    let w = PredictionWriter::builder(volume, window, stride)
        .create(dir.path(), "pred")
        .unwrap();
    let positions: Vec<Coord> = w.positions().collect();
    let mut pred = Array4::<f32>::from_elem((1, 8, 128, 128), 0.5);
    let warm = rss_anon_kib();
    let mut peak = warm;
    for (g, &p) in positions.iter().enumerate() {
        pred[[0, 0, 0, 0]] = g as f32;
        w.add(p, pred.view()).unwrap();
        if g % 16 == 0 {
            peak = peak.max(rss_anon_kib());
        }
    }
    let held = w.peak_bytes();
    w.finish().unwrap();
    let growth_mib = peak.saturating_sub(warm) / 1024;
    println!(
        "RssAnon after warm-up {} MiB, peak {} MiB; writer held at most {} MiB",
        warm / 1024,
        peak / 1024,
        held >> 20
    );
    assert!(held <= 32 << 20, "the writer held {} MiB", held >> 20);
    assert!(
        growth_mib < 64,
        "RssAnon grew by {growth_mib} MiB for a 256 MiB output"
    );
    let files: u64 = walk_size(&dir.path().join("pred"));
    assert!(files >= 256 << 20, "only {files} bytes written");
}

fn walk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_size(&p)
            } else {
                p.metadata().unwrap().len()
            }
        })
        .sum()
}

pub(crate) fn voxload(args: &[&str]) -> String {
    let (ok, text) = crate::util::run_voxload(args);
    assert!(ok, "voxload {args:?}: {text}");
    text
}

/// `voxload sample --mode grid`, an identity model writing `NNNNNN_pred.npy` (the image window
/// itself, in the shape sample wrote it), `voxload stitch`; returns the stitch output.
pub(crate) fn sample_identity_stitch(
    dir: &Path,
    config: serde_json::Value,
    stitch: &[&str],
) -> String {
    let cfg = dir.join("cfg.json");
    std::fs::write(&cfg, config.to_string()).unwrap();
    let samples = dir.join("samples");
    let _ = std::fs::remove_dir_all(&samples);
    let c = cfg.to_str().unwrap();
    voxload(&[
        "sample",
        "--config",
        c,
        "--mode",
        "grid",
        "--out",
        samples.to_str().unwrap(),
    ]);
    for entry in std::fs::read_dir(&samples).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(index) = name.strip_suffix("_image.npy") {
            let image: ndarray::ArrayD<f32> = ndarray_npy::read_npy(entry.path()).unwrap();
            ndarray_npy::write_npy(samples.join(format!("{index}_pred.npy")), &image).unwrap();
        }
    }
    let mut args = vec!["stitch", samples.to_str().unwrap(), "--config", c];
    args.extend_from_slice(stitch);
    voxload(&args)
}

#[test]
fn stitch_of_an_identity_model_gives_back_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    let image = Array3::from_shape_fn((14, 70, 61), |(z, y, x)| ((z * 5 + y * 3 + x) % 251) as u8);
    write_array(&store, "raw", &image, [8, 32, 32], Encoding::Raw).unwrap();
    let config = serde_json::json!({
        "DATASET": {"INPUT_PATH": "em.zarr", "IMAGE_NAME": "raw", "PAD_SIZE": [2, 8, 8], "MATCH_ACT": "sigmoid"},
        "MODEL": {"INPUT_SIZE": [4, 24, 24]},
        "INFERENCE": {"STRIDE": [3, 12, 10]},
        "SOLVER": {"SAMPLES_PER_BATCH": 3},
    });
    let out = store.join("pred");
    sample_identity_stitch(
        dir.path(),
        config.clone(),
        &["--out", out.to_str().unwrap()],
    );
    let got = read_prediction(&store, "pred").unwrap();
    assert_eq!(got.shape(), &[1, 14, 70, 61]);
    for ((_, z, y, x), &v) in got.indexed_iter() {
        let want = f32::from(image[[z, y, x]]) / 255.0;
        assert!(
            (v - want).abs() <= 1e-6 * want.max(1e-3),
            "({z}, {y}, {x}) = {v}, want {want}"
        );
    }
    // uint8 output rounds back to the stored voxels exactly, whatever the weight.
    for weight in ["bump", "constant"] {
        let name = format!("pred_u8_{weight}");
        let out = store.join(&name);
        let samples = dir.path().join("samples");
        voxload(&[
            "stitch",
            samples.to_str().unwrap(),
            "--config",
            dir.path().join("cfg.json").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--dtype",
            "uint8",
            "--weight",
            weight,
            "--codec",
            "zstd",
            "--threads",
            "3",
        ]);
        let got = read_prediction(&store, &name).unwrap();
        let want = image.mapv(f32::from).insert_axis(ndarray::Axis(0));
        assert_eq!(got, want, "{weight}");
    }
}

#[test]
fn stitch_2d_and_do_singly_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    let image = Array3::from_shape_fn((3, 50, 45), |(z, y, x)| ((z * 7 + y * 3 + x) % 251) as u8);
    write_array(&store, "raw", &image, [1, 32, 32], Encoding::Raw).unwrap();
    let config = serde_json::json!({
        "DATASET": {"INPUT_PATH": "em.zarr", "IMAGE_NAME": "raw", "PAD_SIZE": [2, 8, 8], "MATCH_ACT": "sigmoid",
                    "DO_2D": true},
        "MODEL": {"INPUT_SIZE": [24, 24]},
        "INFERENCE": {"STRIDE": [12, 10], "DO_SINGLY": true},
    });
    let out = store.join("pred");
    let args = ["--out", out.to_str().unwrap(), "--dtype", "uint8"];
    sample_identity_stitch(dir.path(), config, &args);
    // DO_SINGLY: one array per volume, marked complete.
    assert!(is_complete(&store, "pred/0000").unwrap());
    let got = read_prediction(&store, "pred/0000").unwrap();
    assert_eq!(got, image.mapv(f32::from).insert_axis(ndarray::Axis(0)));
    // A second run skips the complete array.
    let samples = dir.path().join("samples");
    let cfg = dir.path().join("cfg.json");
    let mut again = vec![
        "stitch",
        samples.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ];
    again.extend_from_slice(&args);
    let text = voxload(&again);
    assert!(text.contains("complete, skipped"), "{text}");
}

#[test]
fn non_finite_predictions_are_counted_and_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    let image = Array3::from_shape_fn((6, 30, 30), |(z, y, x)| ((z + y + x) % 200) as u8);
    write_array(&store, "raw", &image, [8, 32, 32], Encoding::Raw).unwrap();
    let config = serde_json::json!({
        "DATASET": {"INPUT_PATH": "em.zarr", "IMAGE_NAME": "raw", "PAD_SIZE": [0, 0, 0]},
        "MODEL": {"INPUT_SIZE": [4, 16, 16]},
        "INFERENCE": {"STRIDE": [2, 14, 14]},
    });
    let out = store.join("pred");
    let text = sample_identity_stitch(dir.path(), config, &["--out", out.to_str().unwrap()]);
    assert!(!text.contains("NaN"), "{text}");
    let pred = dir.path().join("samples/000000_pred.npy");
    let mut p: ndarray::ArrayD<f32> = ndarray_npy::read_npy(&pred).unwrap();
    p.as_slice_mut().unwrap()[0] = f32::NAN;
    p.as_slice_mut().unwrap()[7] = f32::INFINITY;
    ndarray_npy::write_npy(&pred, &p).unwrap();
    let samples = dir.path().join("samples");
    let cfg = dir.path().join("cfg.json");
    let text = voxload(&[
        "stitch",
        samples.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--overwrite",
    ]);
    assert!(
        text.contains("warning: 2 predicted values were NaN or infinite"),
        "{text}"
    );
}

#[test]
fn test_time_variants_undone_by_stitch_give_the_plain_output() {
    // `sample --mode grid` writes every window once per PyTC variant (NNNNNN_tVV_*.npy, the
    // transposed ones with y and x swapped); an identity model's predictions, undone and
    // combined by stitch, equal the stitch of the plain grid bit for bit.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    let image = Array3::from_shape_fn((9, 50, 47), |(z, y, x)| ((z * 7 + y * 3 + x) % 251) as u8);
    write_array(&store, "raw", &image, [8, 32, 32], Encoding::Raw).unwrap();
    for (num, mode) in [(16, "mean"), (8, "min"), (4, "max")] {
        let mut config = serde_json::json!({
            "DATASET": {"INPUT_PATH": "em.zarr", "IMAGE_NAME": "raw", "PAD_SIZE": [1, 4, 4], "MATCH_ACT": "sigmoid"},
            "MODEL": {"INPUT_SIZE": [4, 20, 20]},
            "INFERENCE": {"STRIDE": [3, 12, 10]},
            "SOLVER": {"SAMPLES_PER_BATCH": 3},
        });
        let plain = store.join(format!("plain{num}"));
        sample_identity_stitch(
            dir.path(),
            config.clone(),
            &["--out", plain.to_str().unwrap()],
        );
        config["INFERENCE"]["AUG_NUM"] = num.into();
        config["INFERENCE"]["AUG_MODE"] = mode.into();
        let tta = store.join(format!("tta{num}"));
        sample_identity_stitch(dir.path(), config, &["--out", tta.to_str().unwrap()]);
        let files = std::fs::read_dir(dir.path().join("samples"))
            .unwrap()
            .count();
        let transposed = dir.path().join("samples/000000_t01_image.npy");
        if num > 4 {
            let t: ndarray::ArrayD<f32> = ndarray_npy::read_npy(&transposed).unwrap();
            let p: ndarray::ArrayD<f32> =
                ndarray_npy::read_npy(dir.path().join("samples/000000_t00_image.npy")).unwrap();
            assert_eq!(
                t,
                p.view().permuted_axes(vec![0, 2, 1]),
                "variant 1 transposes y and x"
            );
        }
        assert!(files > 2 * num, "{files} files for {num} variants");
        assert_eq!(
            read_prediction(&store, &format!("tta{num}")).unwrap(),
            read_prediction(&store, &format!("plain{num}")).unwrap(),
            "AUG_NUM {num} {mode}"
        );
    }
}
