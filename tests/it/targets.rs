//! Learning targets and weights (`voxload::target`) against naive oracles written from PyTC
//! v1's per-voxel definitions: brute-force distances, flood fills and window scans.

use ndarray::{s, Array3, Array4};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use voxload::target::{
    crop_output, dilate_labels, distance_transform, distance_transform_slices, widen_border,
    Distance, Mode, TargetOpt, WeightOpt,
};
use voxload::Error;

type Rng64 = Xoshiro256PlusPlus;

/// A label of `k` random boxes (later ones over earlier ones) with a few voxels cleared.
fn random_label(rng: &mut Rng64, dims: [usize; 3], k: u64) -> Array3<u64> {
    let mut label = Array3::<u64>::zeros(dims);
    for id in 1..=k {
        let lo: [usize; 3] = std::array::from_fn(|a| rng.random_range(0..dims[a]));
        let len: [usize; 3] = std::array::from_fn(|a| rng.random_range(1..=dims[a].div_ceil(2)));
        label
            .slice_mut(s![
                lo[0]..(lo[0] + len[0]).min(dims[0]),
                lo[1]..(lo[1] + len[1]).min(dims[1]),
                lo[2]..(lo[2] + len[2]).min(dims[2])
            ])
            .fill(id);
    }
    for _ in 0..dims.iter().product::<usize>() / 20 {
        let c: [usize; 3] = std::array::from_fn(|a| rng.random_range(0..dims[a]));
        label[c] = 0;
    }
    label
}

fn labels(seed: u64, count: usize, two_d: bool) -> Vec<Array3<u64>> {
    let mut rng = Rng64::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let d = if two_d { 1 } else { rng.random_range(1..=4) };
            let dims = [d, rng.random_range(2..=11), rng.random_range(2..=11)];
            let k = rng.random_range(0..=6);
            random_label(&mut rng, dims, k)
        })
        .collect()
}

fn target(opt: &str, label: &Array3<u64>, two_d: bool) -> Array4<f32> {
    let o: TargetOpt = opt.parse().unwrap();
    let t = o.compute(label.view(), two_d).unwrap();
    assert_eq!(t.dim().0, o.channels(two_d), "{opt}");
    t
}

fn assert_close(got: &Array4<f32>, want: &Array4<f32>, tol: f32, what: &str) {
    assert_eq!(got.dim(), want.dim(), "{what}");
    for (i, (g, w)) in got.indexed_iter().map(|(i, g)| (i, (g, want[i]))) {
        assert!((g - w).abs() <= tol, "{what} at {i:?}: got {g}, want {w}");
    }
}

fn dims3(a: &Array3<u64>) -> [usize; 3] {
    let (d, h, w) = a.dim();
    [d, h, w]
}

// ---- Distance transforms -------------------------------------------------------------------

/// Brute force: each `true` voxel's distance to the nearest `false` one; with none, to the
/// virtual voxel one before the origin on axis `first` (scipy's answer).
fn brute_edt(mask: &Array3<bool>, sampling: [f64; 3], first: usize) -> Array3<f64> {
    let outside: Vec<[usize; 3]> = mask
        .indexed_iter()
        .filter(|(_, &m)| !m)
        .map(|((z, y, x), _)| [z, y, x])
        .collect();
    Array3::from_shape_fn(mask.dim(), |(z, y, x)| {
        if !mask[[z, y, x]] {
            return 0.0;
        }
        let p = [z as f64, y as f64, x as f64];
        let dist = |q: [f64; 3]| {
            (0..3)
                .map(|a| (sampling[a] * (p[a] - q[a])).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        if outside.is_empty() {
            let mut q = [0.0; 3];
            q[first] = -1.0;
            return dist(q);
        }
        outside
            .iter()
            .map(|q| dist(q.map(|v| v as f64)))
            .fold(f64::INFINITY, f64::min)
    })
}

fn brute_edt_slices(mask: &Array3<bool>, sampling: [f64; 2]) -> Array3<f64> {
    let mut out = Array3::zeros(mask.dim());
    for z in 0..mask.dim().0 {
        let plane = mask.slice(s![z..z + 1, .., ..]).to_owned();
        out.slice_mut(s![z..z + 1, .., ..]).assign(&brute_edt(
            &plane,
            [1.0, sampling[0], sampling[1]],
            1,
        ));
    }
    out
}

/// Masks up to `(4, 7, 7)`, or with one axis long enough for the lower envelope (the
/// transform takes the plane minimum on axes of 24 voxels or fewer).
fn mask_strategy() -> impl Strategy<Value = Array3<bool>> {
    let shape = prop_oneof![
        (1usize..=4, 1usize..=7, 1usize..=7),
        (1usize..=2, 25usize..=40, 1usize..=4),
        (1usize..=2, 1usize..=4, 25usize..=40),
        (25usize..=30, 1usize..=3, 1usize..=3),
    ];
    (shape, 0.0f64..1.0).prop_flat_map(|((d, h, w), p)| {
        proptest::collection::vec(proptest::bool::weighted(p), d * h * w)
            .prop_map(move |v| Array3::from_shape_vec((d, h, w), v).unwrap())
    })
}

fn close(a: &Array3<f64>, b: &Array3<f64>) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (x - y).abs() <= 1e-9 * y.max(1.0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn edt_equals_brute_force(mask in mask_strategy(), s in proptest::sample::select(vec![[1.0, 1.0, 1.0], [5.0, 1.0, 1.0], [6.0, 1.0, 1.0], [0.7, 1.3, 2.5]])) {
        let got = distance_transform(mask.view(), s).unwrap();
        prop_assert!(close(&got, &brute_edt(&mask, s, 0)), "{mask:?}\n{got:?}");
    }

    #[test]
    fn edt_slices_equal_brute_force(mask in mask_strategy(), s in proptest::sample::select(vec![[1.0, 1.0], [2.0, 0.5]])) {
        let got = distance_transform_slices(mask.view(), s).unwrap();
        prop_assert!(close(&got, &brute_edt_slices(&mask, s)));
    }

    #[test]
    fn affinity_equals_per_voxel_definition(
        seed in 0u64..1_000_000, two_d in proptest::bool::ANY,
        off in (1i64..=4, 1i64..=4, 1i64..=4), v2 in proptest::bool::ANY, nearest in proptest::bool::ANY,
    ) {
        let label = labels(seed, 1, two_d).remove(0);
        let opt = if nearest { "2".to_string() } else { format!("2-{}-{}-{}-{}", off.0, off.1, off.2, if v2 { "v2" } else { "v1" }) };
        let (offsets, sym) = if nearest { ([1, 1, 1], false) } else { ([off.0, off.1, off.2], v2) };
        prop_assert_eq!(target(&opt, &label, two_d), naive_affinity(&label, offsets, sym, two_d));
    }
}

/// Affinity from its definition: channel per axis, neighbours clamped to the window.
fn naive_affinity(
    label: &Array3<u64>,
    offsets: [i64; 3],
    symmetric: bool,
    two_d: bool,
) -> Array4<f32> {
    let n = dims3(label);
    let axes: Vec<usize> = if two_d { vec![1, 2] } else { vec![0, 1, 2] };
    let clamp = |v: i64, a: usize| v.clamp(0, n[a] as i64 - 1) as usize;
    let (d, h, w) = label.dim();
    Array4::from_shape_fn((axes.len(), d, h, w), |(c, z, y, x)| {
        let a = axes[c];
        let p = [z, y, x];
        let shifted = |by: i64| {
            let mut q = p;
            q[a] = clamp(p[a] as i64 + by, a);
            label[q]
        };
        let (u, v) = if symmetric {
            (shifted(-offsets[a]), shifted(offsets[a]))
        } else {
            (label[p], shifted(-offsets[a]))
        };
        f32::from(u8::from(u == v && u != 0))
    })
}

#[test]
fn edt_with_no_background_is_scipys() {
    let mask = Array3::from_elem((2, 2, 3), true);
    let d = distance_transform(mask.view(), [5.0, 1.0, 1.0]).unwrap();
    assert_eq!(d[[0, 0, 0]], 5.0);
    assert_eq!(d[[1, 1, 2]], (100.0f64 + 1.0 + 4.0).sqrt());
}

// ---- Per-voxel targets ---------------------------------------------------------------------

#[test]
fn foreground_polarity_and_classes_per_voxel() {
    for two_d in [false, true] {
        for label in labels(1, 20, two_d) {
            let (d, h, w) = label.dim();
            let t = target("0", &label, two_d);
            assert!(t
                .iter()
                .zip(label.iter())
                .all(|(&t, &l)| t == f32::from(u8::from(l != 0))));
            let t = target("0-1-3", &label, two_d);
            assert!(t
                .iter()
                .zip(label.iter())
                .all(|(&t, &l)| t == f32::from(u8::from(l == 1 || l == 3))));
            let t = target("1", &label, two_d);
            let want = Array4::from_shape_fn((3, d, h, w), |(c, z, y, x)| {
                let l = label[[z, y, x]];
                f32::from(u8::from(match c {
                    0 => l % 2 == 1,
                    1 => l != 0 && l % 2 == 0,
                    _ => l != 0,
                }))
            });
            assert_eq!(t, want);
            let t = target("1-1", &label, two_d);
            assert!(t.iter().zip(label.iter()).all(|(&t, &l)| t
                == if l == 0 {
                    0.0
                } else if l % 2 == 1 {
                    1.0
                } else {
                    2.0
                }));
            let t = target("9-12", &label, two_d);
            assert!(t.iter().zip(label.iter()).all(|(&t, &l)| t == l as f32));
        }
    }
}

// ---- Windows: boundaries, erosion, dilation, small objects ---------------------------------

/// The ids in the in-plane window of `(z, y, x)` with offsets `-before..=after` (clipped).
fn window(label: &Array3<u64>, [z, y, x]: [usize; 3], before: usize, after: usize) -> Vec<u64> {
    let (_, h, w) = label.dim();
    let mut out = Vec::new();
    for yy in y.saturating_sub(before)..=(y + after).min(h - 1) {
        for xx in x.saturating_sub(before)..=(x + after).min(w - 1) {
            out.push(label[[z, yy, xx]]);
        }
    }
    out
}

fn distinct_nonzero(v: &[u64]) -> usize {
    let mut v: Vec<u64> = v.iter().copied().filter(|&x| x != 0).collect();
    v.sort_unstable();
    v.dedup();
    v.len()
}

#[test]
fn boundary_erosion_and_dilation_per_window() {
    for two_d in [false, true] {
        for label in labels(2, 20, two_d) {
            let (d, h, w) = label.dim();
            for half in [0usize, 1, 2] {
                let between = target(&format!("4-{half}-0"), &label, two_d);
                let want = Array4::from_shape_fn((1, d, h, w), |(_, z, y, x)| {
                    f32::from(u8::from(
                        distinct_nonzero(&window(&label, [z, y, x], half, half)) >= 2,
                    ))
                });
                assert_eq!(between, want, "4-{half}-0 of {label:?}");
                // With background: edges where the clamped neighbours differ, then dilated.
                let edge = Array3::from_shape_fn((d, h, w), |(z, y, x)| {
                    let at = |yy: i64, xx: i64| {
                        label[[
                            z,
                            yy.clamp(0, h as i64 - 1) as usize,
                            xx.clamp(0, w as i64 - 1) as usize,
                        ]]
                    };
                    let (y, x) = (y as i64, x as i64);
                    u64::from(at(y - 1, x) != at(y + 1, x) || at(y, x - 1) != at(y, x + 1))
                });
                let with_bg = target(&format!("4-{half}-1"), &label, two_d);
                let want = Array4::from_shape_fn((1, d, h, w), |(_, z, y, x)| {
                    window(&edge, [z, y, x], half, half)
                        .into_iter()
                        .max()
                        .unwrap() as f32
                });
                assert_eq!(with_bg, want, "4-{half}-1");
                let eroded = widen_border(label.view(), half);
                let dilated = dilate_labels(label.view(), half);
                for ((z, y, x), &l) in label.indexed_iter() {
                    let win = window(&label, [z, y, x], half, half);
                    let keep = distinct_nonzero(&win) == 1;
                    assert_eq!(eroded[[z, y, x]], if keep { l } else { 0 });
                    assert_eq!(dilated[[z, y, x]], win.into_iter().max().unwrap());
                }
            }
        }
    }
}

/// Sizes of 8-connected same-id components of a plane, by flood fill: per pixel, its
/// component's size (0 on background).
fn plane_component_sizes(plane: &[Vec<u64>]) -> Vec<Vec<usize>> {
    let (rows, cols) = (plane.len(), plane[0].len());
    let mut size = vec![vec![0usize; cols]; rows];
    let mut seen = vec![vec![false; cols]; rows];
    for r in 0..rows {
        for c in 0..cols {
            if seen[r][c] || plane[r][c] == 0 {
                continue;
            }
            let (mut stack, mut members) = (vec![(r, c)], Vec::new());
            seen[r][c] = true;
            while let Some((a, b)) = stack.pop() {
                members.push((a, b));
                for da in -1i64..=1 {
                    for db in -1i64..=1 {
                        let (na, nb) = (a as i64 + da, b as i64 + db);
                        if na < 0 || nb < 0 || na >= rows as i64 || nb >= cols as i64 {
                            continue;
                        }
                        let (na, nb) = (na as usize, nb as usize);
                        if !seen[na][nb] && plane[na][nb] == plane[r][c] {
                            seen[na][nb] = true;
                            stack.push((na, nb));
                        }
                    }
                }
            }
            for &(a, b) in &members {
                size[a][b] = members.len();
            }
        }
    }
    size
}

#[test]
fn small_objects_per_plane() {
    for label in labels(3, 25, false) {
        let (d, h, w) = label.dim();
        for (threshold, ratio) in [(6i64, 2i64), (25, 3), (3, 4)] {
            let t = target(&format!("3-{threshold}-{ratio}-0"), &label, false);
            let across = (threshold as f64 / ratio as f64).floor() as i64;
            let mut want = Array4::<f32>::zeros((1, d, h, w));
            let z_planes = (0..d).map(|z| {
                (0..h)
                    .map(|y| (0..w).map(|x| label[[z, y, x]]).collect())
                    .collect::<Vec<Vec<u64>>>()
            });
            for (z, p) in z_planes.enumerate() {
                for (y, row) in plane_component_sizes(&p).iter().enumerate() {
                    for (x, &n) in row.iter().enumerate() {
                        if n > 0 && (n as i64) < threshold {
                            want[[0, z, y, x]] = 1.0;
                        }
                    }
                }
            }
            for y in 0..h {
                let p: Vec<Vec<u64>> = (0..d)
                    .map(|z| (0..w).map(|x| label[[z, y, x]]).collect())
                    .collect();
                for (z, row) in plane_component_sizes(&p).iter().enumerate() {
                    for (x, &n) in row.iter().enumerate() {
                        if n > 0 && (n as i64) < across {
                            want[[0, z, y, x]] = 1.0;
                        }
                    }
                }
            }
            for x in 0..w {
                let p: Vec<Vec<u64>> = (0..d)
                    .map(|z| (0..h).map(|y| label[[z, y, x]]).collect())
                    .collect();
                for (z, row) in plane_component_sizes(&p).iter().enumerate() {
                    for (y, &n) in row.iter().enumerate() {
                        if n > 0 && (n as i64) < across {
                            want[[0, z, y, x]] = 1.0;
                        }
                    }
                }
            }
            assert_eq!(t, want, "3-{threshold}-{ratio}-0");
        }
    }
}

// ---- Instance and semantic distance transforms ---------------------------------------------

/// Flood fill over `members` (a voxel predicate) with face or full connectivity: component id
/// per voxel (0 outside), components numbered from 1.
fn flood(
    dims: [usize; 3],
    full: bool,
    same: impl Fn([usize; 3], [usize; 3]) -> bool,
    member: impl Fn([usize; 3]) -> bool,
) -> (Array3<usize>, usize) {
    let mut comp = Array3::<usize>::zeros(dims);
    let mut n = 0;
    for start in ndarray::indices(dims) {
        let start = [start.0, start.1, start.2];
        if !member(start) || comp[start] != 0 {
            continue;
        }
        n += 1;
        comp[start] = n;
        let mut stack = vec![start];
        while let Some(p) = stack.pop() {
            for dz in -1i64..=1 {
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let steps = dz.abs() + dy.abs() + dx.abs();
                        if steps == 0 || (!full && steps > 1) {
                            continue;
                        }
                        let q = [p[0] as i64 + dz, p[1] as i64 + dy, p[2] as i64 + dx];
                        if (0..3).any(|a| q[a] < 0 || q[a] >= dims[a] as i64) {
                            continue;
                        }
                        let q = q.map(|v| v as usize);
                        if member(q) && comp[q] == 0 && same(p, q) {
                            comp[q] = n;
                            stack.push(q);
                        }
                    }
                }
            }
        }
    }
    (comp, n)
}

/// PyTC's `distance_transform` of one image, from its steps, by brute force.
fn naive_image(
    label: &Array3<u64>,
    pad: [usize; 3],
    sampling: [f64; 3],
    first: usize,
    erosion: u64,
) -> Array3<f64> {
    let (d, h, w) = label.dim();
    let n = [d + 2 * pad[0], h + 2 * pad[1], w + 2 * pad[2]];
    let mut padded = Array3::<u64>::zeros(n);
    padded
        .slice_mut(s![
            pad[0]..pad[0] + d,
            pad[1]..pad[1] + h,
            pad[2]..pad[2] + w
        ])
        .assign(label);
    let (comp, count) = flood(n, true, |p, q| padded[p] == padded[q], |p| padded[p] != 0);
    let mut dist = Array3::<f64>::zeros(n);
    for k in 1..=count {
        let mut mask = comp.mapv(|c| c == k);
        let (holes, nh) = flood(n, false, |_, _| true, |p| !mask[p]);
        for h in 1..=nh {
            if holes.iter().filter(|&&c| c == h).count() < 16 {
                mask.zip_mut_with(&holes, |m, &c| *m |= c == h);
            }
        }
        if erosion > 0 {
            let r2 = (erosion * erosion) as i64;
            let before = mask.clone();
            for (p, m) in mask.indexed_iter_mut() {
                let p = [p.0 as i64, p.1 as i64, p.2 as i64];
                *m = *m
                    && ndarray::indices(n).into_iter().all(|q| {
                        let q = [q.0 as i64, q.1 as i64, q.2 as i64];
                        (0..3).map(|a| (p[a] - q[a]).pow(2)).sum::<i64>() > r2
                            || before[q.map(|v| v as usize)]
                    });
            }
        }
        let edt = brute_edt(&mask, sampling, first);
        let max = edt.iter().copied().fold(0.0, f64::max);
        dist.zip_mut_with(&edt, |v, &e| *v = v.max(e / (max + 1e-6)));
    }
    dist.slice(s![
        pad[0]..pad[0] + d,
        pad[1]..pad[1] + h,
        pad[2]..pad[2] + w
    ])
    .mapv(|v| if v == 0.0 { -1.0 } else { v })
}

fn naive_instance(label: &Array3<u64>, opt: &Distance) -> Array4<f32> {
    let (d, h, w) = label.dim();
    let p = if opt.padding { 2 } else { 0 };
    let energy = match opt.mode {
        Mode::ThreeD => naive_image(label, [p; 3], [opt.z_resolution, 1.0, 1.0], 0, opt.erosion),
        Mode::TwoD => {
            let mut out = Array3::zeros((d, h, w));
            for z in 0..d {
                let slice = label.slice(s![z..z + 1, .., ..]).to_owned();
                out.slice_mut(s![z..z + 1, .., ..]).assign(&naive_image(
                    &slice,
                    [0, p, p],
                    [1.0; 3],
                    1,
                    opt.erosion,
                ));
            }
            out
        }
    };
    let level = |e: f64| {
        let bins: Vec<f64> = std::iter::once(-1.0)
            .chain((0..10).map(|i| i as f64 / 10.0))
            .chain([1.1])
            .collect();
        bins.iter().filter(|&&b| b <= e).count() as f32 - 1.0
    };
    energy
        .mapv(|e| if opt.quantize { level(e) } else { e as f32 })
        .insert_axis(ndarray::Axis(0))
}

#[test]
fn instance_distance_equals_its_steps() {
    let opts = [
        "5",
        "5-3d-1-0-1.0-0",
        "5-3d-0-0-3.0-0",
        "5-3d-0-1-2.0-1",
        "5-2d-1-1-5.0-2",
        "5-2d-0-0-5.0-1",
    ];
    let mut all = labels(4, 14, false);
    // Holes of every kind: enclosed, at the border, and too large to fill.
    let mut ring = Array3::<u64>::from_elem((1, 9, 9), 4);
    ring.slice_mut(s![.., 2..5, 2..5]).fill(0);
    ring.slice_mut(s![.., 0..2, 6..9]).fill(0);
    all.push(ring);
    all.push(Array3::from_elem((2, 3, 4), 7)); // one object filling the window
    for label in &all {
        for opt in opts {
            let o: TargetOpt = opt.parse().unwrap();
            let TargetOpt::InstanceDistance(dist) = o else {
                unreachable!()
            };
            assert_close(
                &target(opt, label, false),
                &naive_instance(label, &dist),
                1e-6,
                &format!("{opt} of {label:?}"),
            );
        }
    }
}

#[test]
fn skeleton_distance_is_dilation_then_instance_distance() {
    for label in labels(5, 10, false) {
        for (size, inner) in [(3usize, "5"), (2, "5-3d-1-0-1.0-0"), (4, "5-2d-0-1-1.0-0")] {
            let (d, h, w) = label.dim();
            let (before, after) = ((size / 2) as i64, (size - 1 - size / 2) as i64);
            let thick = Array3::from_shape_fn((d, h, w), |(z, y, x)| {
                let mut m = 0;
                for zz in (z as i64 - before).max(0)..=(z as i64 + after).min(d as i64 - 1) {
                    for yy in (y as i64 - before).max(0)..=(y as i64 + after).min(h as i64 - 1) {
                        for xx in (x as i64 - before).max(0)..=(x as i64 + after).min(w as i64 - 1)
                        {
                            m = m.max(label[[zz as usize, yy as usize, xx as usize]]);
                        }
                    }
                }
                m
            });
            let TargetOpt::InstanceDistance(dist) = inner.parse().unwrap() else {
                unreachable!()
            };
            let opt = format!("8-{size}-{inner}");
            assert_close(
                &target(&opt, &label, false),
                &naive_instance(&thick, &dist),
                1e-6,
                &opt,
            );
        }
    }
}

#[test]
fn semantic_distance_equals_brute_force() {
    for two_d in [false, true] {
        for label in labels(6, 15, two_d) {
            for (opt, mode3, a, b) in [
                ("6", false, 8.0, 50.0),
                ("6-3d-8-50", true, 8.0, 50.0),
                ("6-2d-4-50", false, 4.0, 50.0),
            ] {
                let (d, h, w) = label.dim();
                let side = |fore: bool, alpha: f64| -> Array3<f64> {
                    let m = label.mapv(|l| (l != 0) == fore);
                    let mut out = Array3::zeros((d, h, w));
                    let images: Vec<(usize, usize)> = if mode3 && !two_d {
                        vec![(0, d)]
                    } else {
                        (0..d).map(|z| (z, z + 1)).collect()
                    };
                    for (z0, z1) in images {
                        let part = m.slice(s![z0..z1, .., ..]).to_owned();
                        let v = if part.iter().all(|&x| x) {
                            Array3::from_elem(part.dim(), 5.0)
                        } else {
                            let s = if mode3 && !two_d {
                                [6.0, 1.0, 1.0]
                            } else {
                                [1.0; 3]
                            };
                            brute_edt(&part, s, 0) / alpha
                        };
                        out.slice_mut(s![z0..z1, .., ..]).assign(&v);
                    }
                    out
                };
                let (f, g) = (side(true, a), side(false, b));
                let want = Array4::from_shape_fn((1, d, h, w), |(_, z, y, x)| {
                    (f[[z, y, x]] - g[[z, y, x]]).tanh() as f32
                });
                assert_close(&target(opt, &label, two_d), &want, 1e-6, opt);
            }
        }
    }
}

// ---- Diffusion gradients -------------------------------------------------------------------

/// `seg2diffgrads` from its definition, on dense framed slices (indexed as the definition is).
#[allow(clippy::needless_range_loop)]
fn naive_diffusion(label: &Array3<u64>, with_fg: bool) -> Array4<f32> {
    let (d, h, w) = label.dim();
    let mut out = Array4::<f32>::zeros((2 + usize::from(with_fg), d, h, w));
    for z in 0..d {
        let id = |y: usize, x: usize| {
            if y == 0 || x == 0 || y > h || x > w {
                0
            } else {
                label[[z, y - 1, x - 1]]
            }
        };
        let mut ids: Vec<u64> = label
            .slice(s![z, .., ..])
            .iter()
            .copied()
            .filter(|&v| v != 0)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let (mut centres, mut steps) = (Vec::new(), 0);
        for &k in &ids {
            let px: Vec<(usize, usize)> = (1..=h)
                .flat_map(|y| (1..=w).map(move |x| (y, x)))
                .filter(|&(y, x)| id(y, x) == k)
                .collect();
            let med = |mut v: Vec<usize>| {
                v.sort_unstable();
                let n = v.len();
                if n % 2 == 1 {
                    v[n / 2] as f64
                } else {
                    (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
                }
            };
            let (my, mx) = (
                med(px.iter().map(|p| p.0).collect()),
                med(px.iter().map(|p| p.1).collect()),
            );
            let c = px
                .iter()
                .copied()
                .fold((f64::INFINITY, (0, 0)), |best, (y, x)| {
                    let dd = (x as f64 - mx).powi(2) + (y as f64 - my).powi(2);
                    if dd < best.0 {
                        (dd, (y, x))
                    } else {
                        best
                    }
                });
            centres.push(c.1);
            let span = |f: fn(&(usize, usize)) -> usize| {
                px.iter().map(f).max().unwrap() - px.iter().map(f).min().unwrap() + 1
            };
            steps = steps.max(2 * (span(|p| p.0) + 1 + span(|p| p.1) + 1));
        }
        let mut t = vec![vec![0f64; w + 2]; h + 2];
        let order = [
            (0, 0),
            (-1, 0),
            (1, 0),
            (0, -1),
            (0, 1),
            (-1, -1),
            (-1, 1),
            (1, -1),
            (1, 1),
        ];
        for _ in 0..steps {
            for &(y, x) in &centres {
                t[y][x] += 1.0;
            }
            let mut next = t.clone();
            for y in 1..=h {
                for x in 1..=w {
                    if id(y, x) == 0 {
                        continue;
                    }
                    let mut sum = 0.0;
                    for (dy, dx) in order {
                        let (ny, nx) = ((y as i64 + dy) as usize, (x as i64 + dx) as usize);
                        if id(ny, nx) == id(y, x) {
                            sum += t[ny][nx];
                        }
                    }
                    next[y][x] = sum / 9.0;
                }
            }
            t = next;
        }
        let l = |y: usize, x: usize| (1.0 + t[y][x]).ln();
        for y in 1..=h {
            for x in 1..=w {
                if id(y, x) == 0 {
                    continue;
                }
                let (gy, gx) = (l(y + 1, x) - l(y - 1, x), l(y, x + 1) - l(y, x - 1));
                let norm = 1e-20 + (gy * gy + gx * gx).sqrt();
                out[[0, z, y - 1, x - 1]] = (gy / norm) as f32;
                out[[1, z, y - 1, x - 1]] = (gx / norm) as f32;
                if with_fg {
                    out[[2, z, y - 1, x - 1]] = 1.0;
                }
            }
        }
    }
    out
}

#[test]
fn diffusion_gradients_equal_their_definition() {
    for two_d in [false, true] {
        for label in labels(7, 10, two_d) {
            for (opt, fg) in [("7", false), ("7-0", true)] {
                assert_close(
                    &target(opt, &label, two_d),
                    &naive_diffusion(&label, fg),
                    1e-6,
                    opt,
                );
            }
        }
    }
}

// ---- Weights -------------------------------------------------------------------------------

fn naive_ratio(t: &Array4<f32>, mask: Option<&Array3<u8>>, dilate: bool) -> Array4<f32> {
    let (c, d, h, w) = t.dim();
    let first = t.iter().next().copied().unwrap();
    if t.iter().all(|&v| v == first) {
        // PyTC: the mask's one channel; voxload repeats it per target channel (see
        // `ratio_weight_of_a_uniform_target_under_a_mask_is_the_mask_per_channel`).
        return match mask {
            Some(m) => {
                let one = m.mapv(|v| f32::from(u8::from(v != 0)));
                Array4::from_shape_fn((c, d, h, w), |(_, z, y, x)| one[[z, y, x]])
            }
            None => Array4::ones((c, d, h, w)),
        };
    }
    let valid = |z: usize, y: usize, x: usize| mask.is_none_or(|m| m[[z, y, x]] != 0);
    let fg = t.mapv(|v| v != 0.0);
    let hits = fg
        .indexed_iter()
        .filter(|&((_, z, y, x), &f)| f && valid(z, y, x))
        .count() as f64;
    let total = match mask {
        Some(m) => m.iter().filter(|&&v| v != 0).count() as f64,
        None => t.len() as f64,
    };
    if total == 0.0 {
        return Array4::zeros((c, d, h, w));
    }
    let ww = (hits / total).clamp(0.05, 0.95);
    let factor = (ww.max(1.0 - ww) / ww.min(1.0 - ww)) as f32;
    Array4::from_shape_fn((c, d, h, w), |(ch, z, y, x)| {
        let on = if dilate {
            (y.saturating_sub(1)..=(y + 1).min(h - 1))
                .any(|yy| (x.saturating_sub(1)..=(x + 1).min(w - 1)).any(|xx| fg[[ch, z, yy, xx]]))
        } else {
            fg[[ch, z, y, x]]
        };
        if !valid(z, y, x) {
            0.0
        } else if on != (ww > 1.0 - ww) {
            factor
        } else {
            1.0
        }
    })
}

fn naive_unet(label: &Array3<u64>, w0: f64, w1: f64) -> Array4<f32> {
    let (d, h, w) = label.dim();
    let clip = |v: f64| v.max(1.0).min(w0.max(w1)) as f32;
    let mut out = Array4::<f32>::ones((1, d, h, w));
    for z in 0..d {
        let slice = label.slice(s![z, .., ..]);
        let mut ids: Vec<u64> = slice.iter().copied().filter(|&v| v != 0).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            continue;
        }
        for ((y, x), &l) in slice.indexed_iter() {
            out[[0, z, y, x]] = if ids.len() < 2 {
                clip(if l != 0 { w1 } else { 0.0 })
            } else if l != 0 {
                clip(w1)
            } else {
                let mut ds: Vec<f64> = ids
                    .iter()
                    .map(|&k| {
                        slice
                            .indexed_iter()
                            .filter(|(_, &v)| v == k)
                            .map(|((yy, xx), _)| {
                                ((yy as f64 - y as f64).powi(2) + (xx as f64 - x as f64).powi(2))
                                    .sqrt()
                            })
                            .fold(f64::INFINITY, f64::min)
                    })
                    .collect();
                ds.sort_by(f64::total_cmp);
                let s = ds[0] + ds[1];
                clip(w0 * (-(s * s) / 50.0).exp())
            };
        }
    }
    out
}

#[test]
fn weights_with_and_without_valid_masks() {
    let mut rng = Rng64::seed_from_u64(8);
    for two_d in [false, true] {
        for label in labels(9, 20, two_d) {
            let (d, h, w) = label.dim();
            let mask = Array3::from_shape_fn((d, h, w), |_| u8::from(rng.random_bool(0.8)) * 3);
            for topt in ["0", "2", "4-1-1", "6", "1"] {
                let t = target(topt, &label, two_d);
                for m in [None, Some(&mask)] {
                    let mv = m.map(|m| m.view());
                    let none = WeightOpt::None
                        .compute(t.view(), mv, label.view(), two_d)
                        .unwrap();
                    assert_eq!(
                        none,
                        m.map(|m| m
                            .mapv(|v| f32::from(u8::from(v != 0)))
                            .insert_axis(ndarray::Axis(0)))
                    );
                    for dilate in [false, true] {
                        let got = WeightOpt::Ratio { dilate }
                            .compute(t.view(), mv, label.view(), two_d)
                            .unwrap()
                            .unwrap();
                        assert_eq!(
                            got,
                            naive_ratio(&t, m, dilate),
                            "{topt} dilate {dilate} mask {}",
                            m.is_some()
                        );
                    }
                }
                if !two_d {
                    for (w0, w1) in [(10.0, 5.0), (3.0, 0.5), (0.5, 0.2), (1e6, 2.0)] {
                        let got = WeightOpt::UNet { w0, w1 }
                            .compute(t.view(), Some(mask.view()), label.view(), false)
                            .unwrap()
                            .unwrap();
                        assert_close(
                            &got,
                            &naive_unet(&label, w0, w1),
                            1e-6,
                            &format!("2-{w0}-{w1}"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn ratio_weight_of_an_all_invalid_mask_is_zero() {
    let label = Array3::from_shape_fn((1, 4, 4), |(_, y, _)| u64::from(y < 1));
    let t = target("0", &label, false);
    let mask = Array3::<u8>::zeros((1, 4, 4));
    let w = WeightOpt::Ratio { dilate: false }
        .compute(t.view(), Some(mask.view()), label.view(), false)
        .unwrap()
        .unwrap();
    assert!(w.iter().all(|&v| v == 0.0));
}

// ---- Output crops ---------------------------------------------------------------------------

#[test]
fn output_crops_are_centred_rounding_down() {
    for label in labels(10, 10, false) {
        let (d, h, w) = label.dim();
        let t = target("2", &label, false);
        let weight = WeightOpt::Ratio { dilate: false }
            .compute(t.view(), None, label.view(), false)
            .unwrap()
            .unwrap();
        for out in [[d, h, w], [1, 1, 1], [d.div_ceil(2), h - 1, (w / 3).max(1)]] {
            for a in [&t, &weight] {
                let c = crop_output(a.clone(), out).unwrap();
                assert_eq!(c.dim(), (a.dim().0, out[0], out[1], out[2]));
                let lo = [(d - out[0]) / 2, (h - out[1]) / 2, (w - out[2]) / 2];
                for ((ch, z, y, x), &v) in c.indexed_iter() {
                    assert_eq!(v, a[[ch, z + lo[0], y + lo[1], x + lo[2]]]);
                }
            }
        }
        assert!(matches!(
            crop_output(t, [d, h + 1, w]),
            Err(Error::Geometry(_))
        ));
    }
}

// ---- Errors ---------------------------------------------------------------------------------

#[test]
fn options_pytc_cannot_compute_are_config_errors() {
    let label = Array3::from_shape_fn((1, 6, 6), |(_, y, x)| (y / 3 * 2 + x / 3) as u64);
    for (opt, two_d) in [
        ("3-25-2-0", true),
        ("5", true),
        ("5-3d-0-0-1.0-0", true),
        ("8-3-5", true),
        ("2-0-1-1-v1", false),
    ] {
        let o: TargetOpt = opt.parse().unwrap();
        match o.compute(label.view(), two_d) {
            Err(Error::Config { key, reason }) => assert!(
                key == "MODEL.TARGET_OPT" && reason.contains(opt),
                "{reason}"
            ),
            other => panic!("{opt}: {other:?}"),
        }
    }
    // The z offset is unused in 2D, as in PyTC.
    assert_eq!(target("2-0-1-1-v1", &label, true).dim(), (2, 1, 6, 6));
    let t = target("0", &label, true);
    let e = WeightOpt::UNet { w0: 10.0, w1: 5.0 }
        .compute(t.view(), None, label.view(), true)
        .unwrap_err();
    assert!(
        matches!(e, Error::Config { ref key, .. } if key == "MODEL.WEIGHT_OPT"),
        "{e}"
    );
    let thin = Array3::<u64>::ones((3, 1, 6));
    assert!(matches!(
        "7".parse::<TargetOpt>()
            .unwrap()
            .compute(thin.view(), false),
        Err(Error::Geometry(_))
    ));
    let other = Array3::<u8>::zeros((1, 5, 6));
    assert!(matches!(
        WeightOpt::None.compute(t.view(), Some(other.view()), label.view(), true),
        Err(Error::Geometry(_))
    ));
}

#[test]
fn malformed_option_strings_are_errors() {
    for s in [
        "2-x",
        "11",
        "",
        "2-1-1-1",
        "2-1-1-1-pni",
        "4-1",
        "5-3d",
        "6-2d-8",
        "7-1",
        "8-0-5",
        "9-x",
        "x",
    ] {
        match s.parse::<TargetOpt>() {
            Err(Error::Config { key, reason }) => assert!(
                key == "MODEL.TARGET_OPT" && reason.contains(&format!("`{s}`")),
                "{reason}"
            ),
            other => panic!("{s}: {other:?}"),
        }
    }
    for s in ["", "3", "1-2", "2", "2-1", "2-a-1", "2-inf-1", "0-0"] {
        match s.parse::<WeightOpt>() {
            Err(Error::Config { key, .. }) => assert_eq!(key, "MODEL.WEIGHT_OPT"),
            other => panic!("{s}: {other:?}"),
        }
    }
}

#[test]
fn empty_windows_give_empty_targets() {
    let label = Array3::<u64>::zeros((0, 4, 4));
    for opt in ["0", "2", "5", "7-0"] {
        assert_eq!(target(opt, &label, false).shape()[1..], [0, 4, 4]);
    }
}

/// A uniform multi-channel target (an affinity of a window without boundaries) under a valid
/// mask: PyTC's ratio weight is the mask (`(mask != 0)[np.newaxis]`); voxload repeats it per
/// channel so every sample's weight has the target's channels and batches stack.
#[test]
fn ratio_weight_of_a_uniform_target_under_a_mask_is_the_mask_per_channel() {
    let target = Array4::<f32>::ones((3, 2, 4, 5));
    let mask = Array3::from_shape_fn((2, 4, 5), |(z, y, x)| u8::from((z + y + x) % 3 != 0) * 7);
    let label = Array3::<u64>::from_elem((2, 4, 5), 4);
    for dilate in [false, true] {
        let w = WeightOpt::Ratio { dilate }
            .compute(target.view(), Some(mask.view()), label.view(), false)
            .unwrap()
            .unwrap();
        assert_eq!(w.dim(), (3, 2, 4, 5));
        for c in 0..3 {
            let want = mask.mapv(|m| f32::from(u8::from(m != 0)));
            assert_eq!(w.slice(s![c, .., .., ..]), want);
        }
    }
    // Without a mask: ones, of the target's shape.
    let w = WeightOpt::Ratio { dilate: false }
        .compute(target.view(), None, label.view(), false)
        .unwrap()
        .unwrap();
    assert_eq!(w, Array4::<f32>::ones((3, 2, 4, 5)));
}
