//! Volumes as named arrays of equal shape, and 2D sampling over the depth-1 arrays that
//! `ingest --separate` writes: listing order, grid visiting order, and volume choice in
//! proportion to position counts (chi-square, with a negative control).

use std::path::Path;
use std::sync::Arc;

use ndarray::Array3;
use voxload::ingest::Ingest;
use voxload::sampler::{
    sample_rng, separate_arrays, ArrayNames, Grid, RandomSampler, Rejection, Volume, WindowSettings,
};
use voxload::store::AnyArray;
use voxload::{write_array, Encoding, Error, OpenOptions};

use crate::ingest_util::{png_gray, random_volume};

fn zeros(store: &Path, name: &str, shape: (usize, usize, usize)) {
    write_array(
        store,
        name,
        &Array3::<u8>::zeros(shape),
        [4, 8, 8],
        Encoding::Raw,
    )
    .unwrap();
}

#[test]
fn volume_shape_mismatch_names_the_volume_both_arrays_and_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    zeros(dir.path(), "em", (4, 8, 8));
    zeros(dir.path(), "seg", (4, 8, 9));
    zeros(dir.path(), "mask", (4, 8, 8));
    let names = ArrayNames::new("em").valid_mask("mask").label("seg");
    let err = Volume::open(2, dir.path(), &names, &OpenOptions::default())
        .err()
        .unwrap();
    let Error::Geometry(message) = &err else {
        panic!("not a geometry error: {err}");
    };
    for part in [
        "volume 2",
        "image `em`",
        "label `seg`",
        "[4, 8, 9]",
        "[4, 8, 8]",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    // The same check for arrays handed over directly, and for a named target.
    let open = |name| Arc::new(AnyArray::open(dir.path(), name, &OpenOptions::default()).unwrap());
    let err = Volume::new(5, open("em"))
        .with_target("boundary", open("seg"))
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("volume 5") && message.contains("target `boundary`"),
        "{message}"
    );
}

#[test]
fn a_volume_hands_its_arrays_to_the_sampler_without_copying() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["em", "seg", "mask", "affinity"] {
        zeros(dir.path(), name, (4, 8, 8));
    }
    let names = ArrayNames::new("em")
        .label("seg")
        .valid_mask("mask")
        .target("affinity", "affinity");
    let volume = Volume::open(0, dir.path(), &names, &OpenOptions::default()).unwrap();
    let sample = volume.sample_volume();
    assert_eq!(sample.shape, [4, 8, 8]);
    assert!(Arc::ptr_eq(
        sample.label.as_ref().unwrap(),
        volume.label().unwrap()
    ));
    assert!(Arc::ptr_eq(
        sample.valid_mask.as_ref().unwrap(),
        volume.valid_mask().unwrap()
    ));
    assert!(volume.target("affinity").is_some() && volume.target("seg").is_none());
    assert_eq!(
        volume.targets().map(|(n, _)| n).collect::<Vec<_>>(),
        ["affinity"]
    );
}

/// Three images of different sizes ingested with `--separate` (`image/0000` to `image/0002`),
/// with matching labels written beside them.
fn separate_store(dir: &Path) -> std::path::PathBuf {
    let sizes = [(6usize, 9usize), (11, 4), (4, 4)];
    let mut list = String::new();
    for (i, &(h, w)) in sizes.iter().enumerate() {
        let plane = random_volume([1, h, w], 256, i as u64)
            .mapv(|v| v as u8)
            .index_axis(ndarray::Axis(0), 0)
            .to_owned();
        png_gray(&dir.join(format!("{i}.png")), &plane, false);
        list.push_str(&format!("{i}.png\n"));
    }
    std::fs::write(dir.join("list.txt"), list).unwrap();
    let store = dir.join("s.zarr");
    Ingest::new(dir.join("list.txt"), &store)
        .separate(true)
        .run()
        .unwrap();
    for (i, &(h, w)) in sizes.iter().enumerate() {
        zeros(&store, &format!("label/{i:04}"), (1, h, w));
    }
    store
}

#[test]
fn separate_arrays_are_listed_in_numeric_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = separate_store(dir.path());
    // A 5-digit name sorts after 0002 by number, though before it by text; other names under
    // the prefix are not images.
    zeros(&store, "image/10000", (1, 2, 2));
    zeros(&store, "image/notes", (1, 2, 2));
    let found = separate_arrays(&store, "image").unwrap();
    let names: Vec<_> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["image/0000", "image/0001", "image/0002", "image/10000"]
    );
    assert_eq!(found[1].1.shape, [1, 11, 4]);
    assert!(matches!(
        separate_arrays(&store, "nothing"),
        Err(Error::NotZarr { .. })
    ));
    // Prefixes with different numbers of arrays cannot be paired.
    let err = Volume::open_separate(
        &store,
        &ArrayNames::new("image").label("label"),
        &OpenOptions::default(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("holds 3"), "{err}");
}

#[test]
fn grid_visits_separate_images_one_at_a_time_x_fastest() {
    let dir = tempfile::tempdir().unwrap();
    let store = separate_store(dir.path());
    let names = ArrayNames::new("image").label("label");
    let volumes = Volume::open_separate(&store, &names, &OpenOptions::default()).unwrap();
    assert_eq!(volumes.len(), 3);
    let shapes: Vec<_> = volumes.iter().map(Volume::shape).collect();
    assert_eq!(shapes, [[1, 6, 9], [1, 11, 4], [1, 4, 4]]);
    let grid = Grid::new(shapes, [1, 4, 4], [1, 4, 4]).unwrap();
    let items: Vec<(usize, [i64; 3])> = grid.items().map(|i| (i.volume, i.window.begin)).collect();
    // Per SPEC section 4: starts i·4 for i < 1 + ceil((D − 4) / 4), the last clamped to D − 4.
    // Image 0 (6 × 9): y 0, 2; x 0, 4, 5. Image 1 (11 × 4): y 0, 4, 7; x 0. Image 2: one window.
    let want = vec![
        (0, [0, 0, 0]),
        (0, [0, 0, 4]),
        (0, [0, 0, 5]),
        (0, [0, 2, 0]),
        (0, [0, 2, 4]),
        (0, [0, 2, 5]),
        (1, [0, 0, 0]),
        (1, [0, 4, 0]),
        (1, [0, 7, 0]),
        (2, [0, 0, 0]),
    ];
    assert_eq!(items, want);
    assert!(grid.items().all(|i| i.window.shape == [1, 4, 4]));
}

#[test]
fn two_d_draws_choose_depth_one_volumes_by_position_count_chi_square() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [(40u64, 50u64), (64, 30), (20, 20)];
    for (i, &(h, w)) in sizes.iter().enumerate() {
        zeros(
            dir.path(),
            &format!("image/{i:04}"),
            (1, h as usize, w as usize),
        );
    }
    let volumes = Volume::open_separate(
        dir.path(),
        &ArrayNames::new("image"),
        &OpenOptions::default(),
    )
    .unwrap();
    let windows = WindowSettings::two_d([16, 16], [4, 4]);
    let sampler = RandomSampler::new(
        volumes.iter().map(Volume::sample_volume).collect(),
        windows,
        Rejection::default(),
    )
    .unwrap();
    // Oracle: (H + 2·4 − 16 + 1)(W + 2·4 − 16 + 1) positions per image, one along z.
    let positions: Vec<f64> = sizes
        .iter()
        .map(|&(h, w)| ((h - 7) * (w - 7)) as f64)
        .collect();
    let total: f64 = positions.iter().sum();
    let expected: Vec<f64> = positions.iter().map(|p| p / total).collect();
    let n = 6000u64;
    let chi_square = |counts: &[u64]| -> f64 {
        counts
            .iter()
            .zip(&expected)
            .map(|(&c, &p)| (c as f64 - p * n as f64).powi(2) / (p * n as f64))
            .sum()
    };
    // The chi-square critical value for 2 degrees of freedom at significance 0.001.
    const CHI2_2_0001: f64 = 13.82;
    let mut counts = [0u64; 3];
    for i in 0..n {
        let d = sampler.draw(21, 0, i).unwrap();
        assert_eq!((d.window.begin[0], d.window.shape[0]), (0, 1));
        counts[d.volume] += 1;
    }
    assert!(chi_square(&counts) < CHI2_2_0001, "chi2 {counts:?}");
    // Negative control: choosing images by area (H·W) instead of position count.
    let areas: Vec<f64> = sizes.iter().map(|&(h, w)| (h * w) as f64).collect();
    let area_total: f64 = areas.iter().sum();
    let mut biased = [0u64; 3];
    for i in 0..n {
        let mut u = rand::Rng::random::<f64>(&mut sample_rng(21, 0, i)) * area_total;
        let mut v = 0;
        while v < 2 && u >= areas[v] {
            u -= areas[v];
            v += 1;
        }
        biased[v] += 1;
    }
    assert!(
        chi_square(&biased) > CHI2_2_0001,
        "the control was not caught: {biased:?}"
    );
}
