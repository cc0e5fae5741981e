//! The coarse foreground index: its counts against a naïve per-voxel count, its bounds against
//! naïvely padded windows, its storage, and the key property that a sampler using it draws
//! exactly what a sampler without it draws.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ndarray::Array3;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use voxload::sampler::{ForegroundIndex, RandomSampler, Rejection, SampleVolume, WindowSettings};
use voxload::store::AnyArray;
use voxload::{write_array, Bbox, Encoding, OpenOptions, PadMode};

use crate::util::{naive_window, ALL_MODES};

/// A sparse label: a few random boxes of ids on a background of zeros.
fn sparse_label(shape: [usize; 3], boxes: usize, seed: u64) -> Array3<u16> {
    let mut label = Array3::<u16>::zeros(shape);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    for id in 1..=boxes as u16 {
        let size: [usize; 3] = std::array::from_fn(|a| rng.random_range(1..=shape[a] / 3));
        let at: [usize; 3] = std::array::from_fn(|a| rng.random_range(0..=shape[a] - size[a]));
        label
            .slice_mut(ndarray::s![
                at[0]..at[0] + size[0],
                at[1]..at[1] + size[1],
                at[2]..at[2] + size[2]
            ])
            .fill(id);
    }
    label
}

/// The oracle: every voxel added to its block's count.
fn naive_counts(label: &Array3<u16>, block: [usize; 3]) -> Vec<u32> {
    let dims = label.shape();
    let grid: [usize; 3] = std::array::from_fn(|a| dims[a].div_ceil(block[a]));
    let mut counts = vec![0u32; grid.iter().product()];
    for ((z, y, x), &v) in label.indexed_iter() {
        if v != 0 {
            counts[((z / block[0]) * grid[1] + y / block[1]) * grid[2] + x / block[2]] += 1;
        }
    }
    counts
}

fn open(store: &std::path::Path, name: &str) -> Arc<AnyArray> {
    Arc::new(AnyArray::open(store, name, &OpenOptions::default()).unwrap())
}

#[test]
fn index_counts_equal_a_naive_count_per_block() {
    let dir = tempfile::tempdir().unwrap();
    let label = sparse_label([13, 37, 50], 6, 1);
    for (name, encoding) in [
        ("raw", Encoding::Raw),
        ("zstd", Encoding::Zstd { level: 1 }),
    ] {
        write_array(dir.path(), name, &label, [5, 16, 16], encoding).unwrap();
        for block in [[4, 8, 16], [1, 1, 1], [13, 37, 50], [8, 64, 64]] {
            let index = ForegroundIndex::build(&open(dir.path(), name), block).unwrap();
            let want = naive_counts(&label, block.map(|v| v as usize));
            assert_eq!(index.counts(), want, "{name}, blocks of {block:?}");
        }
    }
}

#[test]
fn stored_index_is_reused_and_a_stale_one_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path();
    let label = sparse_label([10, 20, 30], 4, 2);
    write_array(store, "seg", &label, [5, 10, 10], Encoding::Raw).unwrap();
    let options = OpenOptions::default();
    let built = ForegroundIndex::open_or_build(store, "seg", [4, 8, 8], &options).unwrap();
    assert!(store.join("seg/.voxload-fgindex/zarr.json").is_file());
    let loaded = ForegroundIndex::load(store, "seg", [4, 8, 8])
        .unwrap()
        .unwrap();
    assert_eq!(loaded, built);
    // Another block shape is not this index.
    assert!(ForegroundIndex::load(store, "seg", [4, 8, 16])
        .unwrap()
        .is_none());
    // The label still opens and reads as before, and the store lists no extra array.
    assert_eq!(open(store, "seg").shape(), [10, 20, 30]);
    let names: Vec<_> = voxload::store::list_arrays(store)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["seg"]);
    // Rewriting the label's metadata in place (a resumed or repeated ingest) makes it stale.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut other = label.clone();
    other.fill(1);
    let writer = voxload::ArrayWriter::<u16>::create_with(
        store,
        "seg",
        [10, 20, 30],
        [5, 10, 10],
        Encoding::Raw,
        serde_json::Map::new(),
        voxload::store::Existing::Keep,
    )
    .unwrap();
    writer.write_region([0, 0, 0], other.view()).unwrap();
    writer.finish().unwrap();
    assert!(ForegroundIndex::load(store, "seg", [4, 8, 8])
        .unwrap()
        .is_none());
    let rebuilt = ForegroundIndex::open_or_build(store, "seg", [4, 8, 8], &options).unwrap();
    assert_eq!(rebuilt.counts(), naive_counts(&other, [4, 8, 8]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// For any region, inside, straddling or outside the label, and every pad mode, the bounds
    /// enclose the region's foreground count as a naïvely padded window gives it.
    #[test]
    fn bounds_enclose_the_padded_count(
        seed in 0u64..1000,
        begin in [-12i64..20, -12i64..30, -12i64..30],
        shape in [1u64..14, 1u64..24, 1u64..24],
        block in [1u64..6, 1u64..9, 1u64..9],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let label = sparse_label([9, 17, 19], 5, seed);
        write_array(dir.path(), "seg", &label, [4, 8, 8], Encoding::Raw).unwrap();
        let index = ForegroundIndex::build(&open(dir.path(), "seg"), block).unwrap();
        let region = Bbox::new(begin, shape);
        for mode in ALL_MODES.into_iter().chain([PadMode::Constant(0.4)]) {
            let window = naive_window(&label, region, mode);
            let count = window.iter().filter(|&&v| v != 0).count() as u64;
            let b = index.bounds(region, mode);
            prop_assert!(b.lower <= count && count <= b.upper, "{mode:?}: {b:?}, count {count}");
        }
    }
}

/// A sampler over one sparse volume whose candidates straddle the threshold often, padded so
/// that central regions reach outside the volume.
fn sparse_sampler(
    label: &Arc<AnyArray>,
    pad_mode: PadMode,
    index: Option<ForegroundIndex>,
) -> RandomSampler {
    let volume = SampleVolume {
        shape: label.shape(),
        label: Some(label.clone()),
        valid_mask: None,
    };
    let windows = WindowSettings {
        sample: [4, 20, 20],
        input: [2, 12, 12],
        pad: [2, 6, 6].into(),
        pad_mode,
    };
    let rejection = Rejection {
        size_thres: 40,
        p: 0.9,
        num_trial: 6,
        ..Rejection::default()
    };
    let sampler = RandomSampler::new(vec![volume], windows, rejection).unwrap();
    match index {
        Some(index) => sampler.with_foreground_index(0, index).unwrap(),
        None => sampler,
    }
}

#[test]
fn sampler_with_the_index_draws_exactly_what_it_draws_without() {
    let dir = tempfile::tempdir().unwrap();
    let label_data = sparse_label([16, 64, 64], 5, 7);
    write_array(dir.path(), "seg", &label_data, [8, 32, 32], Encoding::Raw).unwrap();
    let label = open(dir.path(), "seg");
    let index = ForegroundIndex::build(&label, [2, 8, 8]).unwrap();
    for pad_mode in ALL_MODES {
        let plain = sparse_sampler(&label, pad_mode, None);
        let indexed = sparse_sampler(&label, pad_mode, Some(index.clone()));
        for i in 0..1500 {
            assert_eq!(
                plain.draw(3, 1, i).unwrap(),
                indexed.draw(3, 1, i).unwrap(),
                "sample {i}, {pad_mode:?}"
            );
        }
        // The comparison is not vacuous: the index decided many tests, the label was still
        // read for some, candidates were rejected and some samples forced.
        let (p, s) = (plain.stats(), indexed.stats());
        let decided = s.decided_by_index.load(Ordering::Relaxed);
        let candidates = s.candidates.load(Ordering::Relaxed);
        assert!(
            decided > candidates / 2 && decided < candidates,
            "{decided} of {candidates}"
        );
        assert_eq!(p.decided_by_index.load(Ordering::Relaxed), 0);
        assert!(s.rejected_foreground.load(Ordering::Relaxed) > 0);
        assert!(s.forced.load(Ordering::Relaxed) > 0);
        assert_eq!(
            p.rejected_foreground.load(Ordering::Relaxed),
            s.rejected_foreground.load(Ordering::Relaxed)
        );
    }
    // Negative control: an index that claims no foreground anywhere changes the draws.
    let wrong =
        ForegroundIndex::from_counts(index.shape(), index.block(), vec![0; index.counts().len()])
            .unwrap();
    let plain = sparse_sampler(&label, PadMode::Reflect, None);
    let lying = sparse_sampler(&label, PadMode::Reflect, Some(wrong));
    let differ = (0..1500).any(|i| plain.draw(3, 1, i).unwrap() != lying.draw(3, 1, i).unwrap());
    assert!(differ, "the control was not caught");
}

#[test]
fn an_index_must_fit_its_volume() {
    let dir = tempfile::tempdir().unwrap();
    write_array(
        dir.path(),
        "seg",
        &sparse_label([8, 20, 20], 2, 1),
        [8, 8, 8],
        Encoding::Raw,
    )
    .unwrap();
    let label = open(dir.path(), "seg");
    let other = ForegroundIndex::from_counts([8, 20, 21], [8, 8, 8], vec![0; 9]).unwrap();
    let sampler = sparse_sampler(&label, PadMode::Reflect, None);
    let err = sampler.with_foreground_index(0, other).err().unwrap();
    assert!(err.to_string().contains("volume 0"), "{err}");
    assert!(ForegroundIndex::from_counts([8, 20, 21], [8, 8, 8], vec![0; 8]).is_err());
}

#[test]
fn from_config_keeps_its_index_in_the_cache_and_reports_a_failed_save() {
    use voxload::config::Config;
    use voxload::loader::{LoaderBuilder, Mode};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("em.zarr");
    let label = sparse_label([16, 96, 96], 6, 3);
    write_array(
        &store,
        "image",
        &label.mapv(|v| v as u8),
        [8, 32, 32],
        Encoding::Raw,
    )
    .unwrap();
    write_array(&store, "label", &label, [8, 32, 32], Encoding::Raw).unwrap();
    let config = r#"{"DATASET": {"INPUT_PATH": "em.zarr", "LABEL_NAME": "label",
        "REJECT_SAMPLING": {"SIZE_THRES": 50}}, "MODEL": {"INPUT_SIZE": [4, 32, 32]},
        "AUGMENTOR": {"ENABLED": false}}"#;
    let config = Config::from_str_at(config, dir.path()).unwrap();
    let cache = dir.path().join("cache");
    let builder = LoaderBuilder::from_config(&config, Mode::Train)
        .unwrap()
        .index_cache(Some(cache.clone()))
        .samples(4);
    let cached = builder.build().unwrap();
    assert_eq!(cached.stats().index_cache_failures, 0);
    assert!(cached.warnings().is_empty());
    assert!(cache.join("fgindex").is_dir());
    // The input store is only read.
    assert!(!store
        .join("label")
        .join(voxload::sampler::INDEX_NAME)
        .exists());
    // A cache that cannot be written: the index is used all the same, and the failure is told.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"a file, not a directory").unwrap();
    let unsaved = builder.clone().index_cache(Some(blocked)).build().unwrap();
    assert_eq!(unsaved.stats().index_cache_failures, 1);
    assert!(
        unsaved.warnings()[0].contains("blocked"),
        "{:?}",
        unsaved.warnings()
    );
    // In memory, cached or not: the same stream.
    let in_memory = builder.clone().index_cache(None).build().unwrap();
    let collect = |it: voxload::loader::Serial| it.map(Result::unwrap).collect::<Vec<_>>();
    let (a, b, c) = (collect(cached), collect(unsaved), collect(in_memory));
    assert_eq!(a, c);
    assert_eq!(b, c);
}

#[test]
fn cached_index_of_a_rewritten_label_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cache) = (dir.path().join("s"), dir.path().join("cache"));
    let label = sparse_label([10, 20, 30], 4, 2);
    write_array(&store, "seg", &label, [5, 10, 10], Encoding::Raw).unwrap();
    let first = ForegroundIndex::open_or_build_cached(&open(&store, "seg"), [4, 8, 8], &cache)
        .unwrap()
        .0;
    assert_eq!(first.counts(), naive_counts(&label, [4, 8, 8]));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let other = label.mapv(|v| u16::from(v == 0));
    write_array(&store, "seg", &other, [5, 10, 10], Encoding::Raw).unwrap();
    let second = ForegroundIndex::open_or_build_cached(&open(&store, "seg"), [4, 8, 8], &cache)
        .unwrap()
        .0;
    assert_eq!(second.counts(), naive_counts(&other, [4, 8, 8]));
}
