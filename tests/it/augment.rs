//! Compose and the geometric and section transforms against index arithmetic and naïve
//! per-voxel references.

use ndarray::Array3;
use proptest::prelude::*;
use serde_json::Value;
use voxload::augment::{
    Compose, CutBlur, CutNoise, Elastic, Flip, Grayscale, MisAlignment, MissingParts,
    MissingSection, MotionBlur, Rescale, Rotate, Sample, TargetKind, Transform, Voxels,
};
use voxload::sampler::sample_rng;

const LABEL: [(&str, TargetKind); 1] = [("label", TargetKind::Mask)];

/// A Compose of one transform with a `label` mask target.
fn single(t: impl Transform + 'static, input: [usize; 3]) -> Compose {
    Compose::new(vec![Box::new(t)], input, LABEL).unwrap()
}

/// Distinct image values and a label of 8-voxel blocks numbered from 1.
fn coded_sample([d, h, w]: [usize; 3]) -> (Array3<f32>, Array3<u32>) {
    let image = Array3::from_shape_fn((d, h, w), |(z, y, x)| (z * h * w + y * w + x) as f32);
    let label = Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        1 + (z * 10_000 + (y / 8) * 100 + x / 8) as u32
    });
    (image, label)
}

fn run(c: &Compose, image: Array3<f32>, label: Array3<u32>, seed: u64) -> (Sample, Value) {
    let sample = Sample::new(image).with("label", Voxels::U32(label));
    let out = c.apply(sample, &mut sample_rng(seed, 0, 0)).unwrap();
    let params = out
        .applied()
        .last()
        .map_or(Value::Null, |a| Value::Object(a.params.clone()));
    (out, params)
}

fn parts(mut s: Sample) -> (Array3<f32>, Array3<u32>) {
    let image = s.image().clone();
    let label = match s.get("label") {
        Some(Voxels::U32(a)) => a.clone(),
        other => panic!("label missing: {other:?}"),
    };
    (image, label)
}

#[test]
fn sample_size_follows_the_formula_in_list_order() {
    let c = Compose::new(Compose::pytc_defaults(), [8, 256, 256], LABEL).unwrap();
    assert_eq!(c.sample_size(), [10, 370, 370]);
    let mito = Compose::new(Compose::pytc_defaults(), [17, 225, 225], LABEL).unwrap();
    assert_eq!(mito.sample_size(), [19, 332, 332]);
    // Order matters: ceil(100 · 1.25) + 2·17 = 159, but ceil((100 + 2·17) · 1.25) = 168.
    let rescale_first: Vec<Box<dyn Transform>> =
        vec![Box::new(Rescale::default()), Box::new(Elastic::default())];
    let elastic_first: Vec<Box<dyn Transform>> =
        vec![Box::new(Elastic::default()), Box::new(Rescale::default())];
    let a = Compose::new(rescale_first, [4, 100, 100], LABEL).unwrap();
    let b = Compose::new(elastic_first, [4, 100, 100], LABEL).unwrap();
    assert_eq!(a.sample_size(), [4, 159, 159]);
    assert_eq!(b.sample_size(), [4, 168, 168]);
    // An enabled transform with P 0 still enlarges the sample.
    let zero = single(
        Elastic {
            p: 0.0,
            ..Elastic::default()
        },
        [4, 100, 100],
    );
    assert_eq!(zero.sample_size(), [4, 134, 134]);
    // Arbitrary-angle rotation grows y, x by 1.42.
    let turn = single(
        Rotate {
            p: 1.0,
            rot90: false,
        },
        [4, 40, 40],
    );
    assert_eq!(turn.sample_size(), [4, 57, 57]);
}

#[test]
fn disabled_compose_reads_the_input_size_and_changes_nothing() {
    let c = Compose::disabled([4, 16, 16], LABEL).unwrap();
    assert_eq!(c.sample_size(), [4, 16, 16]);
    let (image, label) = coded_sample([4, 16, 16]);
    let (out, _) = run(&c, image.clone(), label.clone(), 1);
    assert!(out.applied().is_empty());
    assert_eq!(parts(out), (image, label));
}

/// The value of `numpy.rot90(plane, k)` at `(i, j)` for an `(h, w)` plane.
fn rot90_source(k: u64, i: usize, j: usize, h: usize, w: usize) -> (usize, usize) {
    match k {
        0 => (i, j),
        1 => (j, w - 1 - i),
        2 => (h - 1 - i, w - 1 - j),
        _ => (h - 1 - j, i),
    }
}

#[test]
fn rot90_is_numpy_rot90_for_every_k() {
    let [d, h, w] = [3, 12, 12];
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..24 {
        let c = single(Rotate::default(), [d, h, w]);
        let (image, label) = coded_sample([d, h, w]);
        let (out, params) = run(&c, image.clone(), label.clone(), seed);
        let k = params["k"].as_u64().unwrap();
        seen.insert(k);
        let (oi, ol) = parts(out);
        for ((z, i, j), v) in oi.indexed_iter() {
            let (sy, sx) = rot90_source(k, i, j, h, w);
            assert_eq!(*v, image[[z, sy, sx]], "k {k} at {:?}", (z, i, j));
            assert_eq!(ol[[z, i, j]], label[[z, sy, sx]]);
        }
    }
    assert_eq!(seen.len(), 4, "every k drawn over 24 seeds");
}

#[test]
fn flip_is_index_arithmetic() {
    let [d, h, w] = [4, 10, 10];
    let mut transposed = 0;
    for seed in 0..16 {
        let c = single(Flip::default(), [d, h, w]);
        let (image, label) = coded_sample([d, h, w]);
        let (out, p) = run(&c, image.clone(), label.clone(), seed);
        let flag = |k: &str| p[k].as_bool().unwrap();
        transposed += usize::from(flag("transpose_yx"));
        let (oi, ol) = parts(out);
        for ((z, y, x), v) in oi.indexed_iter() {
            // The transpose happened last, so undo it first, then the flips.
            let (y1, x1) = if flag("transpose_yx") { (x, y) } else { (y, x) };
            let sz = if flag("flip_z") { d - 1 - z } else { z };
            let sy = if flag("flip_y") { h - 1 - y1 } else { y1 };
            let sx = if flag("flip_x") { w - 1 - x1 } else { x1 };
            assert_eq!(*v, image[[sz, sy, sx]]);
            assert_eq!(ol[[z, y, x]], label[[sz, sy, sx]]);
        }
    }
    assert!(transposed > 0 && transposed < 16);
}

#[test]
fn flip_z_transpose_needs_equal_z_and_x() {
    let c = single(
        Flip {
            p: 1.0,
            do_ztrans: true,
        },
        [4, 8, 8],
    );
    let (image, label) = coded_sample([4, 8, 8]);
    let errors = (0..8)
        .filter(|&seed| {
            let sample = Sample::new(image.clone()).with("label", Voxels::U32(label.clone()));
            c.apply(sample, &mut sample_rng(seed, 0, 0)).is_err()
        })
        .count();
    assert!(
        errors > 0,
        "a z-x transpose of a 4x8x8 sample must be refused"
    );
}

/// Bilinear read of plane `z` at `(y, x)`, each neighbour outside the plane read as zero.
fn bilinear(a: &Array3<f32>, z: usize, y: f64, x: f64) -> f64 {
    let (_, h, w) = a.dim();
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    let mut sum = 0.0;
    for (dy, wy) in [(0.0, 1.0 - fy), (1.0, fy)] {
        for (dx, wx) in [(0.0, 1.0 - fx), (1.0, fx)] {
            let (yy, xx) = (y0 + dy, x0 + dx);
            if yy >= 0.0 && xx >= 0.0 && yy < h as f64 && xx < w as f64 {
                sum += wy * wx * f64::from(a[[z, yy as usize, xx as usize]]);
            }
        }
    }
    sum
}

/// Nearest read (half up), zero outside.
fn nearest(a: &Array3<u32>, z: usize, y: f64, x: f64) -> u32 {
    let (_, h, w) = a.dim();
    let (y, x) = ((y + 0.5).floor(), (x + 0.5).floor());
    if y >= 0.0 && x >= 0.0 && y < h as f64 && x < w as f64 {
        a[[z, y as usize, x as usize]]
    } else {
        0
    }
}

/// Checks a one-transform Compose against `source(y, x)` computed naïvely per voxel.
fn check_against_reference(
    c: &Compose,
    seed: u64,
    source: impl Fn(&Value, f64, f64) -> (f64, f64),
) {
    let shape = c.sample_size();
    let input = c.input_size();
    let image = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| {
        ((z * 7 + y * 3 + x * 5) % 23) as f32 / 23.0
    });
    let (_, label) = coded_sample(shape);
    let (out, p) = run(c, image.clone(), label.clone(), seed);
    let off: Vec<usize> = (0..3).map(|a| (shape[a] - input[a]) / 2).collect();
    let (oi, ol) = parts(out);
    for ((z, y, x), v) in oi.indexed_iter() {
        let (sy, sx) = source(&p, (y + off[1]) as f64, (x + off[2]) as f64);
        let expect = bilinear(&image, z + off[0], sy, sx);
        assert!(
            (f64::from(*v) - expect).abs() < 1e-4,
            "{v} vs {expect} at {:?}",
            (z, y, x)
        );
        assert_eq!(ol[[z, y, x]], nearest(&label, z + off[0], sy, sx));
    }
}

#[test]
fn rotation_by_an_angle_matches_a_naive_reference() {
    let c = single(
        Rotate {
            p: 1.0,
            rot90: false,
        },
        [3, 30, 30],
    );
    let [_, h, w] = c.sample_size();
    for seed in 0..4 {
        check_against_reference(&c, seed, |p, y, x| {
            let t = p["angle"].as_f64().unwrap().to_radians();
            let (cy, cx) = ((h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0);
            let (dy, dx) = (y - cy, x - cx);
            (
                cy + t.sin() * dx + t.cos() * dy,
                cx + t.cos() * dx - t.sin() * dy,
            )
        });
    }
}

#[test]
fn rescale_matches_a_naive_reference() {
    for fix_aspect in [false, true] {
        let c = single(
            Rescale {
                p: 1.0,
                fix_aspect,
                ..Rescale::default()
            },
            [3, 32, 40],
        );
        let [_, h, w] = c.sample_size();
        for seed in 0..6 {
            check_against_reference(&c, seed, |p, y, x| {
                let region = &p["region"];
                let offset = &p["offset"];
                let axis = |q: f64, a: usize, n: usize| {
                    (q + 0.5) * region[a].as_f64().unwrap() / n as f64 - 0.5
                        + offset[a].as_f64().unwrap()
                };
                if fix_aspect {
                    assert_eq!(p["scale_y"], p["scale_x"]);
                }
                (axis(y, 0, h), axis(x, 1, w))
            });
        }
    }
}

#[test]
fn elastic_with_zero_alpha_is_identity() {
    let c = single(
        Elastic {
            p: 1.0,
            alpha: 0.0,
            sigma: 4.0,
        },
        [3, 20, 20],
    );
    let [d, h, w] = c.sample_size();
    assert_eq!([d, h, w], [3, 22, 22]);
    let (image, label) = coded_sample([d, h, w]);
    let (out, _) = run(&c, image.clone(), label.clone(), 5);
    let (oi, ol) = parts(out);
    assert_eq!(oi, image.slice(ndarray::s![.., 1..21, 1..21]).to_owned());
    assert_eq!(ol, label.slice(ndarray::s![.., 1..21, 1..21]).to_owned());
}

/// The x displacement field of an Elastic-only Compose, read off an image whose value is x.
fn x_displacements(t: Elastic, seed: u64) -> Vec<f64> {
    let c = single(t, [2, 64, 64]);
    let [d, h, w] = c.sample_size();
    let off = (w - 64) / 2;
    let image = Array3::from_shape_fn((d, h, w), |(_, _, x)| x as f32);
    let (out, _) = run(&c, image, Array3::zeros((d, h, w)), seed);
    let (oi, _) = parts(out);
    // Bilinear interpolation of a function linear in x is exact: value − x is the displacement.
    oi.indexed_iter()
        .filter(|((z, _, _), _)| *z == 0)
        .map(|((_, _, x), v)| f64::from(*v) - (x + off) as f64)
        .collect()
}

/// (standard deviation, mean squared difference of x-neighbours / variance) of a 64x64 field.
fn field_stats(f: &[f64]) -> (f64, f64) {
    let mean = f.iter().sum::<f64>() / f.len() as f64;
    let var = f.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / f.len() as f64;
    let pairs: Vec<f64> = f
        .chunks(64)
        .flat_map(|row| row.windows(2).map(|p| (p[1] - p[0]).powi(2)))
        .collect();
    let msd = pairs.iter().sum::<f64>() / pairs.len() as f64;
    (var.sqrt(), msd / var)
}

#[test]
fn elastic_displacements_are_smooth_and_scaled_by_alpha() {
    // U(-1, 1) noise (variance 1/3) smoothed by a 2D Gaussian of σ 4 has variance
    // (1/3) / (4πσ²): standard deviation 0.041, times alpha 16 = 0.65 px; neighbours correlate
    // at exp(−1/(4σ²)) = 0.98, so the neighbour difference is ~3 % of the variance.
    let mut sds = Vec::new();
    for seed in 0..6 {
        let (sd, rough) = field_stats(&x_displacements(
            Elastic {
                p: 1.0,
                ..Elastic::default()
            },
            seed,
        ));
        assert!(rough < 0.1, "field not smooth: {rough}");
        sds.push(sd);
    }
    let sd = sds.iter().sum::<f64>() / sds.len() as f64;
    assert!(
        (0.4..0.95).contains(&sd),
        "displacement sd {sd}, expected ~0.65"
    );
    // Negative control: unsmoothed noise is caught by the smoothness test.
    let (_, rough) = field_stats(&x_displacements(
        Elastic {
            p: 1.0,
            alpha: 0.5,
            sigma: 0.0,
        },
        1,
    ));
    assert!(rough > 1.0, "unsmoothed control {rough}");
}

#[test]
fn missing_section_removes_the_drawn_slices_from_every_target() {
    let c = single(
        MissingSection {
            p: 1.0,
            num_sections: 2,
        },
        [6, 8, 8],
    );
    let [d, h, w] = c.sample_size();
    assert_eq!(d, 8);
    let image = Array3::from_shape_fn((d, h, w), |(z, _, _)| z as f32);
    let label = Array3::from_shape_fn((d, h, w), |(z, _, _)| z as u32 + 100);
    for seed in 0..10 {
        let (out, p) = run(&c, image.clone(), label.clone(), seed);
        let removed: Vec<usize> = p["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(removed.len(), 2);
        assert!(removed.iter().all(|&z| (1..=d - 2).contains(&z)));
        let kept: Vec<usize> = (0..d).filter(|z| !removed.contains(z)).collect();
        let (oi, ol) = parts(out);
        for (k, &z) in kept.iter().enumerate() {
            assert!(oi
                .index_axis(ndarray::Axis(0), k)
                .iter()
                .all(|&v| v == z as f32));
            assert!(ol
                .index_axis(ndarray::Axis(0), k)
                .iter()
                .all(|&v| v == z as u32 + 100));
        }
    }
}

#[test]
fn misalignment_translation_shifts_slices_by_the_recorded_offsets() {
    let t = MisAlignment {
        p: 1.0,
        displacement: 6,
        rotate_ratio: 0.0,
    };
    let c = single(t, [5, 20, 20]);
    let [d, h, w] = c.sample_size();
    assert_eq!([d, h, w], [5, 26, 26]);
    let (image, label) = coded_sample([d, h, w]);
    let mut modes = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let (out, p) = run(&c, image.clone(), label.clone(), seed);
        let idx = p["slice"].as_u64().unwrap() as usize;
        let slip = p["mode"] == "slip";
        modes.insert(slip);
        let at = |k: &str, a: usize| p[k][a].as_u64().unwrap() as usize;
        let (oi, ol) = parts(out);
        // Output is (d, h - 6, w - 6) cropped to 20x20 at offset 0.
        for ((z, y, x), v) in oi.indexed_iter() {
            let moved = if slip { z == idx } else { z >= idx };
            let key = if moved { "offset1" } else { "offset0" };
            let (sy, sx) = (y + at(key, 0), x + at(key, 1));
            assert_eq!(*v, image[[z, sy, sx]]);
            assert_eq!(ol[[z, y, x]], label[[z, sy, sx]]);
        }
    }
    assert_eq!(modes.len(), 2, "both slip and translation drawn");
}

#[test]
fn misalignment_rotation_turns_only_the_moved_slices() {
    let t = MisAlignment {
        p: 1.0,
        displacement: 8,
        rotate_ratio: 1.0,
    };
    let c = single(t, [6, 24, 24]);
    let [d, h, w] = c.sample_size();
    let (image, label) = coded_sample([d, h, w]);
    for seed in 0..6 {
        let (out, p) = run(&c, image.clone(), label.clone(), seed);
        let idx = p["slice"].as_u64().unwrap() as usize;
        let angle = p["angle"].as_f64().unwrap();
        assert!(angle.abs() <= t.max_angle(h) + 1e-9);
        let slip = p["mode"] == "slip";
        let (oi, _) = parts(out);
        let off = (h - 24) / 2;
        for z in 0..d {
            let moved = if slip { z == idx } else { z >= idx };
            let same = oi[[z, 3, 3]] == image[[z, 3 + off, 3 + off]];
            assert!(moved || same, "slice {z} is not moved but changed");
        }
    }
}

/// Image intensity = label id / 64, so a transform that keeps them aligned keeps the relation.
fn aligned_sample(shape: [usize; 3]) -> (Array3<f32>, Array3<u32>) {
    let label = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| {
        1 + ((z / 3) * 9 + (y / 24) * 3 + x / 24) as u32 % 60
    });
    let image = label.mapv(|k| k as f32 / 64.0);
    (image, label)
}

fn misaligned_fraction(image: &Array3<f32>, label: &Array3<u32>) -> f64 {
    let bad = image
        .iter()
        .zip(label)
        .filter(|(&v, &k)| (f64::from(v) - f64::from(k) / 64.0).abs() > 1e-4)
        .count();
    bad as f64 / image.len() as f64
}

#[test]
fn geometric_transforms_keep_image_and_mask_aligned() {
    let transforms: Vec<Box<dyn Fn() -> Box<dyn Transform>>> = vec![
        Box::new(|| {
            Box::new(Rotate {
                p: 1.0,
                rot90: false,
            })
        }),
        Box::new(|| {
            Box::new(Rotate {
                p: 1.0,
                rot90: true,
            })
        }),
        Box::new(|| {
            Box::new(Rescale {
                p: 1.0,
                ..Rescale::default()
            })
        }),
        Box::new(|| {
            Box::new(Elastic {
                p: 1.0,
                ..Elastic::default()
            })
        }),
        Box::new(|| Box::new(Flip::default())),
        Box::new(|| {
            Box::new(MissingSection {
                p: 1.0,
                num_sections: 2,
            })
        }),
        Box::new(|| {
            Box::new(MisAlignment {
                p: 1.0,
                ..MisAlignment::default()
            })
        }),
        Box::new(|| {
            Box::new(MisAlignment {
                p: 1.0,
                rotate_ratio: 1.0,
                ..MisAlignment::default()
            })
        }),
    ];
    for make in &transforms {
        let c = Compose::new(vec![make()], [6, 96, 96], LABEL).unwrap();
        let (image, label) = aligned_sample(c.sample_size());
        let ids: std::collections::BTreeSet<u32> = label.iter().copied().collect();
        for seed in 0..3 {
            let (out, _) = run(&c, image.clone(), label.clone(), seed);
            let (oi, ol) = parts(out);
            assert!(
                ol.iter().all(|k| ids.contains(k) || *k == 0),
                "mask values blended"
            );
            let bad = misaligned_fraction(&oi, &ol);
            assert!(bad < 0.12, "{:?}: {bad} of voxels misaligned", make());
            // Negative control: the same output with the mask shifted by 5 pixels fails.
            let shifted = ol.slice(ndarray::s![.., 5.., ..]).to_owned();
            let control =
                misaligned_fraction(&oi.slice(ndarray::s![.., ..-5, ..]).to_owned(), &shifted);
            assert!(control > 0.15, "control {control} not caught");
        }
    }
}

#[test]
fn same_seed_same_sample_bit_for_bit() {
    let c = Compose::new(Compose::pytc_defaults(), [8, 64, 64], LABEL).unwrap();
    let (image, label) = aligned_sample(c.sample_size());
    let (a, _) = run(&c, image.clone(), label.clone(), 77);
    let (b, _) = run(&c, image.clone(), label.clone(), 77);
    let (c2, _) = run(&c, image, label, 78);
    assert_eq!(a.applied(), b.applied());
    assert_ne!(a.applied(), c2.applied());
    assert_eq!(parts(a), parts(b));
}

#[test]
fn bad_samples_are_typed_errors() {
    let c = Compose::new(Compose::pytc_defaults(), [8, 32, 32], LABEL).unwrap();
    let shape = c.sample_size();
    let (image, label) = aligned_sample(shape);
    let mut rng = sample_rng(0, 0, 0);
    let unknown = Sample::new(image.clone()).with("weights", Voxels::U32(label.clone()));
    let err = c.apply(unknown, &mut rng).unwrap_err().to_string();
    assert!(err.contains("`weights`"), "{err}");
    let small = Sample::new(Array3::zeros((4, 20, 20)));
    let err = c.apply(small, &mut rng).unwrap_err().to_string();
    assert!(err.contains("smaller than the input size"), "{err}");
    let raw = Compose::new(Vec::new(), [2, 4, 4], [("raw", TargetKind::Img)]).unwrap();
    let not_float =
        Sample::new(Array3::zeros((2, 4, 4))).with("raw", Voxels::U8(Array3::zeros((2, 4, 4))));
    let err = raw.apply(not_float, &mut rng).unwrap_err().to_string();
    assert!(err.contains("float32"), "{err}");
    let dup = Compose::new(Vec::new(), [2, 4, 4], [("image", TargetKind::Img)]);
    assert!(dup.is_err());
}

/// Every transform, by index, with P 1.
fn any_transform(i: usize) -> Box<dyn Transform> {
    match i {
        0 => Box::new(Rotate {
            p: 1.0,
            rot90: true,
        }),
        1 => Box::new(Rotate {
            p: 1.0,
            rot90: false,
        }),
        2 => Box::new(Rescale {
            p: 1.0,
            ..Rescale::default()
        }),
        3 => Box::new(Flip::default()),
        4 => Box::new(Elastic {
            p: 1.0,
            ..Elastic::default()
        }),
        5 => Box::new(Grayscale {
            p: 1.0,
            ..Grayscale::default()
        }),
        6 => Box::new(MissingParts {
            p: 1.0,
            ..MissingParts::default()
        }),
        7 => Box::new(MissingSection {
            p: 1.0,
            ..MissingSection::default()
        }),
        8 => Box::new(MisAlignment {
            p: 1.0,
            ..MisAlignment::default()
        }),
        9 => Box::new(MotionBlur {
            p: 1.0,
            ..MotionBlur::default()
        }),
        10 => Box::new(CutBlur {
            p: 1.0,
            ..CutBlur::default()
        }),
        _ => Box::new(CutNoise {
            p: 1.0,
            ..CutNoise::default()
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn output_is_the_input_size_for_any_combination(
        mask in proptest::bits::u16::between(0, 12),
        d in 1usize..8, h in 8usize..40, w in 8usize..40, seed in 0u64..1000,
    ) {
        let list: Vec<Box<dyn Transform>> =
            (0..12).filter(|i| mask & (1 << i) != 0).map(any_transform).collect();
        let c = Compose::new(list, [d, h, w], LABEL).unwrap();
        let (image, label) = aligned_sample(c.sample_size());
        let (mut out, _) = run(&c, image, label, seed);
        prop_assert_eq!(out.shape(), [d, h, w]);
        prop_assert_eq!(out.image().dim(), (d, h, w));
        let label_shape = out.get("label").unwrap().shape();
        prop_assert_eq!(label_shape, [d, h, w]);
    }
}
