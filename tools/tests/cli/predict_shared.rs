//! Several writers of one prediction array (DDP ranks, cluster jobs): each blends its block of
//! the grid, and together they give the array one writer gives, bit for bit.

use std::path::Path;

use ndarray::Array3;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use voxload::predict::{
    is_complete, read_prediction, Finished, GridShare, OutputPlan, PredictionWriter, Problem,
    Weight,
};
use voxload::{write_array, Coord, Encoding, Error};

use crate::predict::{fake_window, sample_identity_stitch, voxload, Case, CASES};

fn builder(case: &Case) -> voxload::predict::PredictionBuilder {
    PredictionWriter::builder(case.volume, case.window, case.stride)
        .pad(case.pad)
        .channels(2)
        .weight(Weight::Gaussian)
        .chunk([3, 16, 16])
}

/// Adds the windows `[lo, hi)` of the grid, shuffled, from 3 threads.
fn add_block(w: &PredictionWriter, case: &Case, (lo, hi): (u64, u64), seed: u64) {
    let mut items: Vec<(usize, Coord)> = w
        .positions()
        .enumerate()
        .filter(|(g, _)| (lo..hi).contains(&(*g as u64)))
        .collect();
    items.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    pool.install(|| {
        items
            .par_iter()
            .for_each(|&(g, p)| w.add(p, fake_window(case, 2, g, p).view()).unwrap());
    });
}

fn same_bits(a: &ndarray::Array4<f32>, b: &ndarray::Array4<f32>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn ranks_writing_one_array_equal_one_writer_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in CASES.iter().enumerate() {
        let one = format!("one{i}");
        let w = builder(case).create(dir.path(), &one).unwrap();
        let n = w.len();
        add_block(&w, case, (0, n), 1);
        assert_eq!(w.finish().unwrap(), Finished::Complete);
        let want = read_prediction(dir.path(), &one).unwrap();
        for world in [2u64, 3, 7] {
            let name = format!("shared{i}_{world}");
            let shares: Vec<GridShare> = (0..world)
                .filter_map(|r| GridShare::of_rank(r, world, 0, n, n).unwrap())
                .collect();
            // Ranks finish in a scrambled order; only the last one completes the array.
            let mut order: Vec<usize> = (0..shares.len()).collect();
            order.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(world));
            let writers: Vec<PredictionWriter> = order
                .iter()
                .map(|&p| {
                    builder(case)
                        .share(shares[p].clone())
                        .create(dir.path(), &name)
                        .unwrap()
                })
                .collect();
            for (w, &p) in writers.iter().zip(&order) {
                add_block(w, case, shares[p].range(), p as u64);
            }
            let last = writers.len() - 1;
            for (k, w) in writers.into_iter().enumerate() {
                assert!(!is_complete(dir.path(), &name).unwrap());
                let finished = w.finish().unwrap();
                if k == last {
                    assert_eq!(finished, Finished::Complete);
                } else {
                    assert_eq!(finished, Finished::Waiting { waiting: last - k });
                }
            }
            assert!(is_complete(dir.path(), &name).unwrap());
            let got = read_prediction(dir.path(), &name).unwrap();
            assert!(
                same_bits(&got, &want),
                "{case:?}, {world} ranks differ from one writer"
            );
            let array = voxload::store::array_dir(dir.path(), &name);
            assert!(!array.join(".voxload-parts").exists(), "pieces left behind");
        }
    }
}

#[test]
fn a_rank_refuses_windows_of_other_blocks_and_reports_its_own_missing() {
    let dir = tempfile::tempdir().unwrap();
    let case = CASES[0];
    let n = builder(&case).create(dir.path(), "probe").unwrap().len();
    let share = GridShare::of_rank(1, 2, 0, n, n).unwrap().unwrap();
    let w = builder(&case)
        .share(share)
        .create(dir.path(), "pred")
        .unwrap();
    let p0: Coord = w.positions().next().unwrap();
    let err = w.add(p0, fake_window(&case, 2, 0, p0).view()).unwrap_err();
    match err {
        Error::Prediction {
            problem: Problem::NotInShare { index: 0, lo, hi },
            ..
        } => assert_eq!((lo, hi), (n / 2, n)),
        other => panic!("expected NotInShare, got {other}"),
    }
    let err = w.finish().unwrap_err();
    assert!(matches!(
        err,
        Error::Prediction {
            problem: Problem::Incomplete { .. },
            ..
        }
    ));
    // A writer of another split cannot join the unfinished array.
    let other = GridShare::of_rank(0, 3, 0, n, n).unwrap().unwrap();
    let err = builder(&case)
        .share(other)
        .create(dir.path(), "pred")
        .err()
        .unwrap();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn a_damaged_piece_is_a_typed_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let case = CASES[1];
    let n = builder(&case).create(dir.path(), "probe").unwrap().len();
    let shares: Vec<GridShare> = (0..2)
        .map(|r| GridShare::of_rank(r, 2, 0, n, n).unwrap().unwrap())
        .collect();
    let a = builder(&case)
        .share(shares[0].clone())
        .create(dir.path(), "pred")
        .unwrap();
    let b = builder(&case)
        .share(shares[1].clone())
        .create(dir.path(), "pred")
        .unwrap();
    add_block(&a, &case, shares[0].range(), 0);
    add_block(&b, &case, shares[1].range(), 1);
    let parts = voxload::store::array_dir(dir.path(), "pred").join(".voxload-parts");
    a.finish().unwrap();
    let piece = std::fs::read_dir(&parts)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "f32"))
        .unwrap();
    let len = std::fs::metadata(&piece).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&piece)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    let err = b.finish().unwrap_err().to_string();
    assert!(err.contains(&piece.display().to_string()), "{err}");
    assert!(err.contains("truncated"), "{err}");
    assert!(!is_complete(dir.path(), "pred").unwrap());
}

#[test]
fn shared_writers_replace_a_complete_array_only_when_the_last_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let case = CASES[0];
    let w = builder(&case).create(dir.path(), "pred").unwrap();
    let n = w.len();
    add_block(&w, &case, (0, n), 0);
    w.finish().unwrap();
    let old = read_prediction(dir.path(), "pred").unwrap();
    let shares: Vec<GridShare> = (0..2)
        .map(|r| GridShare::of_rank(r, 2, 0, n, n).unwrap().unwrap())
        .collect();
    let without = builder(&case)
        .share(shares[0].clone())
        .create(dir.path(), "pred");
    assert!(without.err().unwrap().to_string().contains("overwrite"));
    let make = |s: &GridShare| {
        builder(&case)
            .weight(Weight::Constant)
            .share(s.clone())
            .overwrite(true)
            .create(dir.path(), "pred")
            .unwrap()
    };
    let (a, b) = (make(&shares[0]), make(&shares[1]));
    assert_eq!(a.path(), b.path(), "both ranks write the same staging copy");
    add_block(&a, &case, shares[0].range(), 0);
    add_block(&b, &case, shares[1].range(), 1);
    a.finish().unwrap();
    // Until the last rank finishes, readers see the old array, complete.
    assert!(same_bits(
        &read_prediction(dir.path(), "pred").unwrap(),
        &old
    ));
    assert_eq!(b.finish().unwrap(), Finished::Complete);
    let new = read_prediction(dir.path(), "pred").unwrap();
    assert!(!same_bits(&new, &old));
    assert!(is_complete(dir.path(), "pred").unwrap());
}

#[test]
fn plan_shares_split_the_whole_grid_like_the_loader() {
    let plan = OutputPlan::new(
        vec![[10, 40, 40], [3, 17, 30], [6, 20, 20]],
        [4, 16, 16],
        [2, 8, 8],
        [1, 4, 4],
        false,
    );
    let total = plan.total_windows();
    let grid = voxload::sampler::Grid::new(
        plan.volumes()
            .iter()
            .map(|s| [s[0] + 2, s[1] + 8, s[2] + 8])
            .collect(),
        [4, 16, 16],
        [2, 8, 8],
    )
    .unwrap();
    assert_eq!(grid.len(), total);
    for world in [1u64, 2, 5, 64] {
        for rank in 0..world {
            let items = grid.rank_items(rank, world).unwrap();
            for v in 0..plan.volumes().len() {
                let first = plan.first_window(v);
                let want: Vec<u64> = items
                    .iter()
                    .filter(|i| i.volume == v)
                    .map(|i| i.index - first)
                    .collect();
                match plan.share(v, rank, world).unwrap() {
                    None => assert!(want.is_empty()),
                    Some(share) => {
                        let (lo, hi) = share.range();
                        assert_eq!(want, (lo..hi).collect::<Vec<_>>(), "rank {rank}/{world}");
                        assert_eq!(*share.bounds().last().unwrap(), plan.windows(v));
                    }
                }
            }
        }
    }
}

#[test]
fn stitch_ranks_equal_one_stitch_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    let image = Array3::from_shape_fn((14, 70, 61), |(z, y, x)| ((z * 5 + y * 3 + x) % 251) as u8);
    write_array(&store, "raw", &image, [8, 32, 32], Encoding::Raw).unwrap();
    let label = image.mapv(|v| u8::from(v > 90));
    write_array(&store, "raw2", &label, [8, 32, 32], Encoding::Raw).unwrap();
    let config = serde_json::json!({
        "DATASET": {"INPUT_PATH": "em.zarr", "IMAGE_NAME": ["raw", "raw2"], "PAD_SIZE": [2, 8, 8]},
        "MODEL": {"INPUT_SIZE": [4, 24, 24]},
        "INFERENCE": {"STRIDE": [3, 12, 10]},
    });
    let one = store.join("one");
    sample_identity_stitch(dir.path(), config, &["--out", one.to_str().unwrap()]);
    let (samples, cfg) = (dir.path().join("samples"), dir.path().join("cfg.json"));
    let shared = store.join("shared");
    // Three jobs, the last rank first; each takes its block from the whole grid's folder.
    for rank in ["2", "0", "1"] {
        let text = voxload(&[
            "stitch",
            samples.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            shared.to_str().unwrap(),
            "--rank",
            rank,
            "--world-size",
            "3",
        ]);
        if rank != "1" {
            assert!(text.contains("still writing"), "{text}");
        }
    }
    for v in ["0000", "0001"] {
        let a = read_prediction(&store, &format!("one/{v}")).unwrap();
        let b = read_prediction(&store, &format!("shared/{v}")).unwrap();
        assert!(same_bits(&a, &b), "volume {v}");
        assert!(is_complete(&store, &format!("shared/{v}")).unwrap());
        assert_eq!(
            chunk_files(&store.join("one").join(v)),
            chunk_files(&store.join("shared").join(v)),
            "volume {v}: the chunk files differ"
        );
    }
}

/// Every chunk file's path (below the array) and bytes.
fn chunk_files(array: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![array.join("c")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(array).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}
