//! The img-only transforms (Grayscale, MissingParts, MotionBlur, CutBlur, CutNoise) and label
//! smoothing, each against an independent oracle written here.

use ndarray::Array3;
use proptest::prelude::*;
use serde_json::{Map, Value};
use voxload::augment::{
    smooth_masks, Compose, CutBlur, CutNoise, Grayscale, GrayscaleMode, MissingParts, MotionBlur,
    Sample, SampleRng, TargetKind, Transform, Voxels,
};
use voxload::sampler::sample_rng;

fn rng(seed: u64) -> SampleRng {
    sample_rng(seed, 1, 2)
}

/// Pseudo-random values in `[0, 1]` from a hash of the position (no RNG involved).
fn noise_image([d, h, w]: [usize; 3], seed: u64) -> Array3<f32> {
    Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        let mut v =
            (seed ^ ((z * 7919 + y) * 104_729 + x) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        v ^= v >> 29;
        v = v.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (v >> 40) as f32 / ((1u64 << 24) - 1) as f32
    })
}

fn label([d, h, w]: [usize; 3]) -> Array3<u16> {
    Array3::from_shape_fn((d, h, w), |(z, y, x)| ((z + y / 3 + x / 5) % 9) as u16)
}

/// Applies `t` to an image and a `label` mask; returns the image, the mask and the parameters.
fn run(
    t: &dyn Transform,
    image: &Array3<f32>,
    seed: u64,
) -> (Array3<f32>, Array3<u16>, Map<String, Value>) {
    let shape = image.dim();
    let mask = label([shape.0, shape.1, shape.2]);
    let mut sample = Sample::new(image.clone()).with("label", Voxels::U16(mask.clone()));
    let params = t.apply(&mut sample, &mut rng(seed)).expect("apply");
    let (targets, _) = sample.into_parts();
    let mut out_image = None;
    for (name, v) in targets {
        match (name.as_str(), v) {
            ("image", Voxels::F32(a)) => out_image = Some(a),
            ("label", Voxels::U16(a)) => assert_eq!(a, mask, "{} changed a mask", t.name()),
            (n, _) => panic!("unexpected target {n}"),
        }
    }
    (out_image.expect("image"), mask, params)
}

fn num(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn range(params: &Map<String, Value>, key: &str) -> [usize; 2] {
    let r = params[key].as_array().expect("range");
    [
        r[0].as_u64().unwrap() as usize,
        r[1].as_u64().unwrap() as usize,
    ]
}

/// `clip(a·x + b, 0, 1)^γ`, the linear part in `f32` as documented, the power by `powf`.
fn grayscale_oracle(x: f32, a: f64, b: f64, gamma: f64) -> f64 {
    let y = (x * a as f32 + b as f32).clamp(0.0, 1.0);
    f64::from(y).powf(gamma)
}

const GRAY_TOL: f64 = Grayscale::GAMMA_MAX_ERROR + 1e-7;

#[test]
fn grayscale_3d_matches_formula() {
    let image = noise_image([3, 40, 37], 5);
    let t = Grayscale {
        mode: GrayscaleMode::ThreeD,
        ..Grayscale::default()
    };
    for seed in 0..20 {
        let (out, _, p) = run(&t, &image, seed);
        assert_eq!(p["mode"], "3d");
        let (a, b, g) = (num(&p["contrast"]), num(&p["brightness"]), num(&p["gamma"]));
        assert!(
            (0.85..=1.15).contains(&a) && (-0.15..=0.15).contains(&b) && (0.5..2.0).contains(&g)
        );
        for (o, &x) in out.iter().zip(image.iter()) {
            assert!((f64::from(*o) - grayscale_oracle(x, a, b, g)).abs() <= GRAY_TOL);
        }
    }
}

#[test]
fn grayscale_2d_uses_per_slice_parameters() {
    let image = noise_image([6, 20, 30], 9);
    let t = Grayscale {
        mode: GrayscaleMode::TwoD,
        contrast_factor: 0.8,
        ..Grayscale::default()
    };
    let (out, _, p) = run(&t, &image, 3);
    assert_eq!(p["mode"], "2d");
    let gammas: Vec<f64> = p["gamma"].as_array().unwrap().iter().map(num).collect();
    assert_eq!(gammas.len(), 6);
    assert!(gammas.windows(2).any(|g| g[0] != g[1]));
    for z in 0..6 {
        let (a, b, g) = (num(&p["contrast"][z]), num(&p["brightness"][z]), gammas[z]);
        for (o, &x) in out
            .index_axis(ndarray::Axis(0), z)
            .iter()
            .zip(image.index_axis(ndarray::Axis(0), z))
        {
            assert!(
                (f64::from(*o) - grayscale_oracle(x, a, b, g)).abs() <= GRAY_TOL,
                "slice {z}"
            );
        }
    }
}

#[test]
fn grayscale_mix_takes_both_modes() {
    let image = noise_image([2, 8, 8], 1);
    let count = |mode| {
        let t = Grayscale {
            mode,
            ..Grayscale::default()
        };
        let modes: Vec<String> = (0..200)
            .map(|s| run(&t, &image, s).2["mode"].as_str().unwrap().to_string())
            .collect();
        (
            modes.iter().filter(|m| *m == "3d").count(),
            modes.iter().filter(|m| *m == "2d").count(),
        )
    };
    let (three, two) = count(GrayscaleMode::Mix);
    assert!(three > 60 && two > 60, "mix: {three} 3d, {two} 2d");
    // Negative controls: the fixed modes never take the other one.
    assert_eq!(count(GrayscaleMode::ThreeD), (200, 0));
    assert_eq!(count(GrayscaleMode::TwoD), (0, 200));
}

/// The L1 distance from `(py, px)` to the segment `a → b` (minimum of a convex piecewise-linear
/// function of the segment parameter, so one of its breakpoints).
fn l1_to_segment(py: f64, px: f64, a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dy, dx) = (b[0] - a[0], b[1] - a[1]);
    let mut ts = vec![0.0, 1.0];
    if dy != 0.0 {
        ts.push((py - a[0]) / dy);
    }
    if dx != 0.0 {
        ts.push((px - a[1]) / dx);
    }
    ts.iter()
        .map(|t| t.clamp(0.0, 1.0))
        .map(|t| (py - a[0] - t * dy).abs() + (px - a[1] - t * dx).abs())
        .fold(f64::INFINITY, f64::min)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn missing_parts_fills_a_band_with_the_slice_mean(
        d in 1usize..7, h in 4usize..40, w in 4usize..40, iterations in 0usize..9,
        p in 0.0f64..=1.0, seed in any::<u64>(),
    ) {
        let image = noise_image([d, h, w], seed);
        let t = MissingParts { p, iterations };
        let (out, _, params) = run(&t, &image, seed);
        let slices = params["slices"].as_array().unwrap();
        let hit: Vec<usize> = slices.iter().map(|s| s["z"].as_u64().unwrap() as usize).collect();
        prop_assert!(hit.windows(2).all(|z| z[1] >= z[0] + 2), "{hit:?}");
        for z in 0..d {
            let (src, dst) = (image.index_axis(ndarray::Axis(0), z), out.index_axis(ndarray::Axis(0), z));
            let Some(s) = slices.iter().find(|s| s["z"] == z) else {
                prop_assert_eq!(src, dst);
                continue;
            };
            let pt = |v: &Value| [v[0].as_f64().unwrap(), v[1].as_f64().unwrap()];
            let (a, b) = (pt(&s["from"]), pt(&s["to"]));
            let top_bottom = a[0] == 0.0 && b[0] == (h - 1) as f64;
            let left_right = a[1] == 0.0 && b[1] == (w - 1) as f64;
            prop_assert!(top_bottom || left_right);
            if top_bottom {
                prop_assert!(a[1] >= 1.0 && a[1] < (w - 2) as f64 && b[1] >= 1.0 && b[1] < (w - 2) as f64);
            } else {
                prop_assert!(a[0] >= 1.0 && a[0] < (h - 2) as f64 && b[0] >= 1.0 && b[0] < (h - 2) as f64);
            }
            let mean = src.iter().map(|&v| f64::from(v)).sum::<f64>() / (h * w) as f64;
            let r = iterations as f64;
            for ((y, x), &o) in dst.indexed_iter() {
                let dist = l1_to_segment(y as f64, x as f64, a, b);
                let is_mean = (f64::from(o) - mean).abs() < 1e-5;
                if dist <= r - 1.5 - 1e-9 {
                    prop_assert!(is_mean, "({y}, {x}) at {dist} not filled");
                } else if dist > r + 0.5 + 1e-9 {
                    prop_assert_eq!(o, src[(y, x)], "({}, {}) at {} filled", y, x, dist);
                } else {
                    prop_assert!(is_mean || o == src[(y, x)]);
                }
            }
        }
    }

    #[test]
    fn motion_blur_matches_naive_convolution(
        d in 1usize..5, h in 1usize..24, w in 1usize..24, kernel_size in 1usize..13,
        sections in 0usize..4, seed in any::<u64>(),
    ) {
        let image = noise_image([d, h, w], seed);
        let t = MotionBlur { p: 0.5, sections, kernel_size };
        let (out, _, params) = run(&t, &image, seed);
        if sections == 0 {
            prop_assert!(params.contains_key("skipped"));
            prop_assert_eq!(out, image);
            return Ok(());
        }
        let horizontal = params["direction"] == "horizontal";
        let mut slices: Vec<usize> = params["slices"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        prop_assert_eq!(slices.len(), sections.min(d));
        slices.sort_unstable();
        slices.dedup();
        prop_assert_eq!(slices.len(), sections.min(d));
        // numpy `reflect` (OpenCV BORDER_REFLECT_101) by repeated mirroring.
        let mirror = |mut i: i64, n: i64| {
            if n == 1 { return 0; }
            while i < 0 || i >= n { i = if i < 0 { -i } else { 2 * (n - 1) - i }; }
            i as usize
        };
        let k = kernel_size as i64;
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    let expect = if slices.contains(&z) {
                        (0..k).map(|t| {
                            let off = t - k / 2;
                            let (sy, sx) = if horizontal { (y, mirror(x as i64 + off, w as i64)) } else { (mirror(y as i64 + off, h as i64), x) };
                            f64::from(image[(z, sy, sx)])
                        }).sum::<f64>() / k as f64
                    } else {
                        f64::from(image[(z, y, x)])
                    };
                    prop_assert!((f64::from(out[(z, y, x)]) - expect).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn cut_blur_is_piecewise_constant_inside_and_unchanged_outside(
        d in 1usize..6, h in 1usize..40, w in 1usize..40, downsample_z in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let image = noise_image([d, h, w], seed);
        let t = CutBlur { downsample_z, ..CutBlur::default() };
        let (out, _, params) = run(&t, &image, seed);
        let side = |l: usize| (0.4 * l as f64) as usize;
        if side(h) == 0 || side(w) == 0 || (downsample_z && side(d) == 0) {
            prop_assert!(params.contains_key("skipped"));
            prop_assert_eq!(out, image);
            return Ok(());
        }
        let (zr, yr, xr) = (range(&params, "z"), range(&params, "y"), range(&params, "x"));
        prop_assert_eq!(zr[1] - zr[0], if downsample_z { side(d) } else { d });
        prop_assert_eq!((yr[1] - yr[0], xr[1] - xr[0]), (side(h), side(w)));
        prop_assert!(zr[1] <= d && yr[1] <= h && xr[1] <= w);
        let ratio = num(&params["down_ratio"]);
        prop_assert!((2.0..8.0).contains(&ratio));
        let down: Vec<usize> = params["down_shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        prop_assert_eq!(down[1], ((side(h) as f64 / ratio) as usize).max(1));
        let inside = |z: usize, y: usize, x: usize| (zr[0]..zr[1]).contains(&z) && (yr[0]..yr[1]).contains(&y) && (xr[0]..xr[1]).contains(&x);
        let (lo, hi) = image.indexed_iter().filter(|((z, y, x), _)| inside(*z, *y, *x))
            .fold((f32::MAX, f32::MIN), |(l, u), (_, &v)| (l.min(v), u.max(v)));
        for ((z, y, x), &o) in out.indexed_iter() {
            if inside(z, y, x) {
                // Blur and interpolation are convex combinations of the cuboid's voxels.
                prop_assert!(o >= lo - 1e-5 && o <= hi + 1e-5);
            } else {
                prop_assert_eq!(o, image[(z, y, x)]);
            }
        }
        let cuboid = out.slice(ndarray::s![zr[0]..zr[1], yr[0]..yr[1], xr[0]..xr[1]]);
        let runs = |v: Vec<f32>| 1 + v.windows(2).filter(|p| p[0] != p[1]).count();
        for row in cuboid.lanes(ndarray::Axis(2)) {
            prop_assert!(runs(row.to_vec()) <= down[2]);
        }
        for col in cuboid.lanes(ndarray::Axis(1)) {
            prop_assert!(runs(col.to_vec()) <= down[1]);
        }
        for pillar in cuboid.lanes(ndarray::Axis(0)) {
            prop_assert!(runs(pillar.to_vec()) <= down[0]);
        }
    }

    #[test]
    fn cut_noise_stays_within_scale_inside_and_unchanged_outside(
        d in 1usize..6, h in 1usize..30, w in 1usize..30, scale in 0.0f64..0.6, seed in any::<u64>(),
    ) {
        let image = noise_image([d, h, w], seed);
        let t = CutNoise { scale, ..CutNoise::default() };
        let (out, _, params) = run(&t, &image, seed);
        let side = |l: usize| (0.4 * l as f64) as usize;
        let sz = if d == 1 { 1 } else { side(d) };
        if sz == 0 || side(h) == 0 || side(w) == 0 {
            prop_assert!(params.contains_key("skipped"));
            prop_assert_eq!(out, image);
            return Ok(());
        }
        let (zr, yr, xr) = (range(&params, "z"), range(&params, "y"), range(&params, "x"));
        prop_assert_eq!((zr[1] - zr[0], yr[1] - yr[0], xr[1] - xr[0]), (sz, side(h), side(w)));
        for ((z, y, x), &o) in out.indexed_iter() {
            let src = image[(z, y, x)];
            if (zr[0]..zr[1]).contains(&z) && (yr[0]..yr[1]).contains(&y) && (xr[0]..xr[1]).contains(&x) {
                prop_assert!((0.0..=1.0).contains(&o));
                prop_assert!(f64::from((o - src).abs()) <= scale + 1e-6);
            } else {
                prop_assert_eq!(o, src);
            }
        }
    }
}

#[test]
fn cut_noise_clips_to_the_unit_interval() {
    for (fill, seed) in [(1.0f32, 1), (0.0, 2)] {
        let image = Array3::from_elem((4, 20, 20), fill);
        let (out, _, p) = run(&CutNoise::default(), &image, seed);
        let (zr, yr, xr) = (range(&p, "z"), range(&p, "y"), range(&p, "x"));
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
        let moved = out.iter().filter(|&&v| v != fill).count();
        assert!(moved > 0 && moved <= (zr[1] - zr[0]) * (yr[1] - yr[0]) * (xr[1] - xr[0]));
    }
}

fn all_transforms() -> Vec<Box<dyn Transform>> {
    vec![
        Box::new(Grayscale::default()),
        Box::new(Grayscale {
            mode: GrayscaleMode::TwoD,
            ..Grayscale::default()
        }),
        Box::new(MissingParts::default()),
        Box::new(MotionBlur::default()),
        Box::new(CutBlur::default()),
        Box::new(CutBlur {
            downsample_z: true,
            ..CutBlur::default()
        }),
        Box::new(CutNoise::default()),
    ]
}

#[test]
fn transforms_are_deterministic_and_leave_every_mask_alone() {
    let shape = [6, 50, 45];
    let image = noise_image(shape, 4);
    for t in all_transforms() {
        for seed in 0..4 {
            let sample = || {
                Sample::new(image.clone())
                    .with("label", Voxels::U16(label(shape)))
                    .with(
                        "big",
                        Voxels::U64(label(shape).mapv(|v| u64::from(v) << 40)),
                    )
                    .with("float_mask", Voxels::F32(label(shape).mapv(f32::from)))
            };
            let (mut s1, mut s2) = (sample(), sample());
            let p1 = t.apply(&mut s1, &mut rng(seed)).unwrap();
            let p2 = t.apply(&mut s2, &mut rng(seed)).unwrap();
            assert_eq!(p1, p2, "{}", t.name());
            let (t1, t2) = (s1.into_parts().0, s2.into_parts().0);
            let fresh = sample().into_parts().0;
            for ((a, b), c) in t1.iter().zip(&t2).zip(&fresh) {
                let bits = |v: &Voxels| {
                    v.to_f64_vec()
                        .iter()
                        .map(|f| f.to_bits())
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    bits(&a.1),
                    bits(&b.1),
                    "{} not deterministic on {}",
                    t.name(),
                    a.0
                );
                if a.0 != "image" {
                    assert_eq!(a.1, c.1, "{} changed mask {}", t.name(), a.0);
                }
            }
        }
    }
}

#[test]
fn every_img_target_gets_the_same_parameters() {
    let shape = [6, 48, 48];
    let image = noise_image(shape, 8);
    for t in all_transforms() {
        let name = t.name();
        let compose = Compose::new(
            vec![t],
            shape,
            [("image2", TargetKind::Img), ("label", TargetKind::Mask)],
        )
        .unwrap();
        let mut changed = false;
        for seed in 0..6 {
            let sample = Sample::new(image.clone())
                .with("image2", Voxels::F32(image.clone()))
                .with("label", Voxels::U16(label(shape)));
            let (targets, _) = compose.apply(sample, &mut rng(seed)).unwrap().into_parts();
            let get = |n: &str| targets.iter().find(|t| t.0 == n).unwrap().1.clone();
            assert_eq!(get("image"), get("image2"), "{name}");
            assert_eq!(get("label"), Voxels::U16(label(shape)), "{name}");
            changed |= get("image2") != Voxels::F32(image.clone());
        }
        assert!(changed, "{name} never changed image2");
    }
}

#[test]
fn tiny_samples_never_panic() {
    for t in all_transforms().iter().chain(&[Box::new(MotionBlur {
        kernel_size: 0,
        ..MotionBlur::default()
    }) as Box<dyn Transform>])
    {
        for d in 0..3 {
            for h in 0..5 {
                for w in 0..5 {
                    for seed in 0..3 {
                        let image = noise_image([d, h, w], seed);
                        let (out, _, _) = run(t.as_ref(), &image, seed);
                        assert_eq!(out.dim(), (d, h, w));
                    }
                }
            }
        }
    }
    let (_, _, p) = run(&MissingParts::default(), &noise_image([3, 3, 10], 0), 0);
    assert!(p.contains_key("skipped"));
}

/// A Gaussian of σ 2 over a whole `(h, w)` slice, in `f64`, edges mirrored as scipy's
/// `reflect` (`b a | a b c | c b`), radius `int(4σ + 0.5)`.
fn naive_gaussian(m: &[f64], h: usize, w: usize) -> Vec<f64> {
    let sigma: f64 = 2.0;
    let r = (4.0 * sigma + 0.5) as i64;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let total: f64 = k.iter().sum();
    let fold = |mut i: i64, n: i64| {
        while i < 0 || i >= n {
            i = if i < 0 { -i - 1 } else { 2 * n - 1 - i };
        }
        i as usize
    };
    let mut rows = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            rows[y * w + x] = (-r..=r)
                .map(|o| k[(o + r) as usize] * m[y * w + fold(x as i64 + o, w as i64)])
                .sum::<f64>()
                / total;
        }
    }
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = (-r..=r)
                .map(|o| k[(o + r) as usize] * rows[fold(y as i64 + o, h as i64) * w + x])
                .sum::<f64>()
                / total;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn smooth_masks_matches_naive_per_id_smoothing(
        d in 1usize..3, h in 1usize..36, w in 1usize..36,
        blobs in proptest::collection::vec((0usize..36, 0usize..36, 1usize..12, 1u32..5), 0..6),
    ) {
        let mut mask = Array3::<u32>::zeros((d, h, w));
        for (i, &(cy, cx, r, id)) in blobs.iter().enumerate() {
            for ((z, y, x), v) in mask.indexed_iter_mut() {
                let (dy, dx) = (y as i64 - cy as i64, x as i64 - cx as i64 - z as i64);
                if dy * dy + dx * dx <= (r * r) as i64 && (i.is_multiple_of(2) || dx.abs() < r as i64 / 2 + 1) {
                    *v = id;
                }
            }
        }
        let image = noise_image([d, h, w], 3);
        let mut sample = Sample::new(image.clone()).with("label", Voxels::U32(mask.clone()));
        smooth_masks(&mut sample);
        let (targets, _) = sample.into_parts();
        prop_assert_eq!(&targets[0].1, &Voxels::F32(image));
        let got = targets[1].1.clone();
        // Naive: whole slice, every id in ascending order, f64 blur.
        let mut expect = mask.clone();
        for z in 0..d {
            let mut ids: Vec<u32> = mask.index_axis(ndarray::Axis(0), z).iter().copied().filter(|&v| v != 0).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut plane: Vec<u32> = expect.index_axis(ndarray::Axis(0), z).iter().copied().collect();
            for id in ids {
                let mut m: Vec<f64> = plane.iter().map(|&v| f64::from(u8::from(v == id))).collect();
                for _ in 0..2 {
                    m = naive_gaussian(&m, h, w).into_iter().map(|v| if v > 0.5 { 1.0 } else { 0.0 }).collect();
                }
                for (v, &k) in plane.iter_mut().zip(&m) {
                    if k > 0.0 { *v = id; } else if *v == id { *v = 0; }
                }
            }
            for (dst, v) in expect.index_axis_mut(ndarray::Axis(0), z).iter_mut().zip(plane) {
                *dst = v;
            }
        }
        prop_assert_eq!(got, Voxels::U32(expect));
    }
}

/// Timing per transform (`cargo test --release augment_intensity_timing -- --ignored
/// --nocapture`): median over runs of `apply` alone, always applied (P ignored).
#[test]
#[ignore]
fn augment_intensity_timing() {
    for shape in [[10, 370, 370], [8, 256, 256]] {
        let image = noise_image(shape, 1);
        let only = std::env::var("AUGMENT_TIMING_ONLY").ok();
        for t in all_transforms() {
            if only.as_deref().is_some_and(|o| o != t.name()) {
                continue;
            }
            let mut times = Vec::new();
            for seed in 0..201 {
                let mut sample =
                    Sample::new(image.clone()).with("label", Voxels::U16(label(shape)));
                let mut r = rng(seed);
                let start = std::time::Instant::now();
                t.apply(&mut sample, &mut r).unwrap();
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{shape:?} {:<14} median {:.3} ms  min {:.3} ms  {t:?}",
                t.name(),
                times[times.len() / 2],
                times[0]
            );
        }
    }
}
