//! Statistical and determinism tests of the random sampler. Each statistical test states its
//! significance, uses a fixed seed, and runs a negative control: the same statistic computed on
//! a deliberately biased stream must fail it, so the test can fail.

use std::sync::Arc;

use ndarray::Array3;
use voxload::sampler::{RandomSampler, Rejection, SampleVolume, WindowSettings};
use voxload::store::AnyArray;
use voxload::{write_array, Bbox, Encoding, Error, OpenOptions, PadMode};

fn array(dir: &std::path::Path, name: &str, data: &Array3<u8>) -> Arc<AnyArray> {
    write_array(dir, name, data, [4, 4, 8], Encoding::Raw).unwrap();
    Arc::new(AnyArray::open(dir, name, &OpenOptions::default()).unwrap())
}

fn windows(sample: [u64; 3], input: [u64; 3], pad: [i64; 3]) -> WindowSettings {
    WindowSettings {
        sample,
        input,
        pad: pad.into(),
        pad_mode: PadMode::Reflect,
    }
}

fn plain(shape: [u64; 3]) -> SampleVolume {
    SampleVolume {
        shape,
        label: None,
        valid_mask: None,
    }
}

/// Pearson's chi-square statistic of observed counts against equal expected counts.
fn chi_square(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
    let e = n as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum()
}

/// The chi-square critical value for 19 degrees of freedom at significance 0.001.
const CHI2_19_0001: f64 = 43.82;

#[test]
fn starts_are_uniform_chi_square() {
    let sampler = RandomSampler::new(
        vec![plain([1, 1, 20])],
        windows([1, 1, 1], [1, 1, 1], [0; 3]),
        Rejection::default(),
    )
    .unwrap();
    let mut counts = vec![0u64; 20];
    for i in 0..20_000 {
        let d = sampler.draw(1, 0, i).unwrap();
        counts[d.window.begin[2] as usize] += 1;
    }
    assert!(
        chi_square(&counts) < CHI2_19_0001,
        "chi2 {}",
        chi_square(&counts)
    );
    // Negative control: the minimum of two uniform draws is biased towards 0.
    let mut biased = vec![0u64; 20];
    for i in 0..20_000u64 {
        let a = sampler.draw(2, 0, i).unwrap().window.begin[2];
        let b = sampler.draw(3, 0, i).unwrap().window.begin[2];
        biased[a.min(b) as usize] += 1;
    }
    assert!(
        chi_square(&biased) > CHI2_19_0001,
        "the control was not caught"
    );
}

#[test]
fn padded_starts_reach_negative_coordinates_uniformly() {
    // Axis of 16 with pad 2 and window 1: starts in [-2, 17], 20 positions.
    let sampler = RandomSampler::new(
        vec![plain([1, 1, 16])],
        windows([1, 1, 1], [1, 1, 1], [0, 0, 2]),
        Rejection::default(),
    )
    .unwrap();
    let mut counts = vec![0u64; 20];
    for i in 0..20_000 {
        let x = sampler.draw(4, 0, i).unwrap().window.begin[2];
        counts[(x + 2) as usize] += 1;
    }
    assert!(
        chi_square(&counts) < CHI2_19_0001,
        "chi2 {}",
        chi_square(&counts)
    );
}

#[test]
fn volumes_are_chosen_by_position_count() {
    // 10 and 30 start positions: volume 0 with probability 1/4. 8000 draws, binomial sd
    // 0.0048; tolerance 4 sd (two-sided significance about 6e-5).
    let sampler = RandomSampler::new(
        vec![plain([1, 1, 10]), plain([1, 1, 30])],
        windows([1, 1, 1], [1, 1, 1], [0; 3]),
        Rejection::default(),
    )
    .unwrap();
    let n = 8000;
    let share = |f: &dyn Fn(u64) -> usize| (0..n).filter(|&i| f(i) == 0).count() as f64 / n as f64;
    let tol = 4.0 * (0.25f64 * 0.75 / n as f64).sqrt();
    let got = share(&|i| sampler.draw(5, 0, i).unwrap().volume);
    assert!((got - 0.25).abs() < tol, "share {got}");
    // Negative control: choosing volumes uniformly gives 1/2.
    let uniform =
        share(&|i| (voxload::sampler::sample_rng(5, 0, i).next_u64_for_test() % 2) as usize);
    assert!((uniform - 0.25).abs() >= tol, "the control was not caught");
}

trait NextU64 {
    fn next_u64_for_test(&mut self) -> u64;
}
impl<R: rand::RngCore> NextU64 for R {
    fn next_u64_for_test(&mut self) -> u64 {
        self.next_u64()
    }
}

/// A 100-voxel line whose first 30 voxels are foreground.
fn line_with_foreground(dir: &std::path::Path) -> SampleVolume {
    let label = Array3::from_shape_fn((1, 1, 100), |(_, _, x)| u8::from(x < 30));
    SampleVolume {
        shape: [1, 1, 100],
        label: Some(array(dir, "label", &label)),
        valid_mask: None,
    }
}

/// A sampler of single voxels on the line of [`line_with_foreground`].
fn line_sampler(dir: &std::path::Path, rejection: Rejection) -> RandomSampler {
    let windows = windows([1, 1, 1], [1, 1, 1], [0; 3]);
    RandomSampler::new(vec![line_with_foreground(dir)], windows, rejection).unwrap()
}

fn empty_share(sampler: &RandomSampler, seed: u64, n: u64) -> f64 {
    let empty = (0..n)
        .filter(|&i| sampler.draw(seed, 0, i).unwrap().window.begin[2] >= 30)
        .count();
    empty as f64 / n as f64
}

#[test]
fn rejection_keeps_empty_windows_at_the_rate_p_implies() {
    // Candidates are empty with probability 0.7 and rejected then with P = 0.95, so accepted
    // windows are empty with probability 0.7·0.05 / (0.3 + 0.7·0.05) = 0.1045. 5000 draws,
    // tolerance 4 binomial sd.
    let dir = tempfile::tempdir().unwrap();
    let rejection = Rejection {
        size_thres: 1,
        p: 0.95,
        num_trial: 1000,
        ..Rejection::default()
    };
    let sampler = line_sampler(dir.path(), rejection);
    let (n, want) = (5000, 0.035 / 0.335);
    let tol = 4.0 * (want * (1.0 - want) / n as f64).sqrt();
    let got = empty_share(&sampler, 7, n);
    assert!(
        (got - want).abs() < tol,
        "empty share {got}, want {want} ± {tol}"
    );
    let stats = sampler.stats();
    let rejected = stats
        .rejected_foreground
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(rejected > 0 && stats.forced.load(std::sync::atomic::Ordering::Relaxed) == 0);
    // Negative control: P = 0.5 gives 0.35 / 0.65 = 0.54.
    let weak = Rejection {
        p: 0.5,
        ..rejection
    };
    let control = line_sampler(dir.path(), weak);
    assert!(
        (empty_share(&control, 7, n) - want).abs() >= tol,
        "the control was not caught"
    );
}

#[test]
fn no_accepted_window_has_too_small_a_valid_fraction() {
    let dir = tempfile::tempdir().unwrap();
    // Valid where x is in [20, 60): windows of 8 along x see between 0 and 8 valid voxels.
    let mask = Array3::from_shape_fn((2, 4, 80), |(_, _, x)| u8::from((20..60).contains(&x)));
    let volume = SampleVolume {
        shape: [2, 4, 80],
        label: None,
        valid_mask: Some(array(dir.path(), "mask", &mask)),
    };
    let rejection = Rejection {
        valid_ratio: 0.5,
        num_trial: 1000,
        ..Rejection::default()
    };
    let sampler = RandomSampler::new(
        vec![volume],
        windows([2, 4, 12], [2, 4, 8], [0; 3]),
        rejection,
    )
    .unwrap();
    let fraction = |w: Bbox| {
        // The central (2, 4, 8) region of the (2, 4, 12) window: offset 2 along x.
        let x0 = w.begin[2] + 2;
        (x0..x0 + 8).filter(|x| (20..60).contains(x)).count() as f64 / 8.0
    };
    let mut accepted_low = 0;
    for i in 0..2000 {
        let d = sampler.draw(9, 0, i).unwrap();
        if fraction(d.window) <= 0.5 {
            accepted_low += 1;
        }
    }
    assert_eq!(accepted_low, 0);
    // Negative control: without the mask such windows are common.
    let control = RandomSampler::new(
        vec![plain([2, 4, 80])],
        windows([2, 4, 12], [2, 4, 8], [0; 3]),
        rejection,
    )
    .unwrap();
    let low = (0..2000)
        .filter(|&i| fraction(control.draw(9, 0, i).unwrap().window) <= 0.5)
        .count();
    assert!(low > 0, "the control was not caught");
}

#[test]
fn impossible_thresholds_force_or_fail_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let rejection = Rejection {
        size_thres: 1000,
        p: 1.0,
        num_trial: 5,
        ..Rejection::default()
    };
    let sampler = line_sampler(dir.path(), rejection);
    let d = sampler.draw(1, 0, 0).unwrap();
    assert!(d.forced && d.rejections == 5);
    assert_eq!(
        sampler
            .stats()
            .forced
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let strict = Rejection {
        strict: true,
        ..rejection
    };
    let sampler = line_sampler(dir.path(), strict);
    let err = sampler.draw(1, 0, 0).unwrap_err();
    assert!(err.to_string().contains("SIZE_THRES 1000"), "{err}");
}

#[test]
fn configuration_errors_are_named() {
    let rejection = Rejection {
        size_thres: 10,
        ..Rejection::default()
    };
    let err = RandomSampler::new(
        vec![plain([4, 4, 4])],
        windows([1, 1, 1], [1, 1, 1], [0; 3]),
        rejection,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("LABEL_NAME"), "{err}");
    let err = RandomSampler::new(
        vec![plain([4, 8, 8]), plain([2, 9, 9])],
        windows([3, 8, 8], [3, 8, 8], [0; 3]),
        Rejection::default(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(err, Error::Geometry(ref m) if m.contains("volume 1")),
        "{err}"
    );
}

#[test]
fn draws_depend_only_on_seed_epoch_index_and_rank() {
    let sampler = RandomSampler::new(
        vec![plain([30, 40, 50]), plain([10, 60, 20])],
        windows([4, 8, 8], [4, 8, 8], [2, 4, 4]),
        Rejection::default(),
    )
    .unwrap();
    let forward: Vec<_> = (0..200).map(|i| sampler.draw(3, 1, i).unwrap()).collect();
    let backward: Vec<_> = (0..200)
        .rev()
        .map(|i| sampler.draw(3, 1, i).unwrap())
        .collect();
    assert_eq!(forward, backward.into_iter().rev().collect::<Vec<_>>());
    let other_epoch: Vec<_> = (0..200).map(|i| sampler.draw(3, 2, i).unwrap()).collect();
    assert_ne!(forward, other_epoch);
    let rank1 = RandomSampler::new(
        vec![plain([30, 40, 50]), plain([10, 60, 20])],
        windows([4, 8, 8], [4, 8, 8], [2, 4, 4]),
        Rejection::default(),
    )
    .unwrap()
    .with_rank(1);
    let ranked: Vec<_> = (0..200).map(|i| rank1.draw(3, 1, i).unwrap()).collect();
    assert_ne!(forward, ranked, "two ranks drew the same stream");
}

#[test]
fn chunk_schedule_keeps_windows_inside_the_current_padded_chunk() {
    use voxload::sampler::ChunkSchedule;
    let chunks = ChunkSchedule::new([20, 64, 64], [1, 2, 2], true, [0, 4, 4]).unwrap();
    let sampler = RandomSampler::new(
        vec![plain([20, 64, 64])],
        windows([4, 16, 16], [4, 16, 16], [0, 4, 4]),
        Rejection::default(),
    )
    .unwrap()
    .with_schedule(chunks.clone(), 3, 2)
    .unwrap();
    // 3 iterations of 2 samples per chunk: samples 6k..6k+5 share visit k.
    let mut visited = std::collections::HashSet::new();
    for visit in 0..4u64 {
        let chunk = chunks.visit(11, 0, visit);
        visited.insert(chunk);
        for i in visit * 6..visit * 6 + 6 {
            let d = sampler.draw(11, 0, i).unwrap();
            assert!(
                chunks.chunk_box(chunk).contains(&d.window),
                "sample {i} left chunk {chunk}"
            );
        }
    }
    assert_eq!(visited.len(), 4, "a chunk repeated before all were visited");
    // Some windows use the padding (negative y or x), as the padded chunk box allows.
    let padded = (0..240).any(|i| {
        let w = sampler.draw(11, 0, i).unwrap().window;
        w.begin[1] < 0 || w.begin[2] < 0
    });
    assert!(padded);
}
