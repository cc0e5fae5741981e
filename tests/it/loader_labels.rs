//! PyTC's label conversions in the loader: `REDUCE_LABEL` renumbers each sample's ids before
//! the targets that read id values (synaptic polarity, class foreground) — and not with a
//! semantic target, as PyTC's config check turns it off — and `LABEL_BINARY` divides labels
//! whose maximum is above 1 by 255.

use ndarray::{Array3, Axis};
use serde_json::json;
use voxload::config::Config;
use voxload::loader::{Batch, LoaderBuilder, Mode};
use voxload::target::TargetOpt;
use voxload::{write_array, Encoding};

fn batches(
    dir: &std::path::Path,
    dataset: serde_json::Value,
    model: serde_json::Value,
) -> Vec<Batch> {
    let mut cfg = json!({
        "DATASET": {"IMAGE_NAME": "im", "LABEL_NAME": "seg", "PAD_SIZE": [0, 0, 0]},
        "MODEL": model,
        "AUGMENTOR": {"ENABLED": false},
        "SOLVER": {"SAMPLES_PER_BATCH": 2},
    });
    for (k, v) in dataset.as_object().unwrap() {
        cfg["DATASET"][k] = v.clone();
    }
    let cfg = Config::from_str_at(&cfg.to_string(), dir).unwrap();
    LoaderBuilder::from_config(&cfg, Mode::Train)
        .unwrap()
        .workers(2)
        .samples(6)
        .index_cache(None)
        .build_prefetch()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn column<'a>(b: &'a Batch, key: &str) -> ndarray::ArrayViewD<'a, f32> {
    b.array(key).unwrap().as_typed::<f32>().unwrap().view()
}

/// PyTC's reduce_label by its definition: sorted distinct non-zero ids → 1, 2, ….
fn reduce(label: &Array3<u64>) -> Array3<u64> {
    let mut ids: Vec<u64> = label.iter().copied().filter(|&v| v != 0).collect();
    ids.sort_unstable();
    ids.dedup();
    label.mapv(|v| {
        if v == 0 {
            0
        } else {
            ids.binary_search(&v).unwrap() as u64 + 1
        }
    })
}

fn store(dir: &std::path::Path) {
    let image = Array3::from_shape_fn((8, 64, 64), |(z, y, x)| ((z * 5 + y * 3 + x) % 251) as u8);
    // Ids with gaps and both parities, so renumbering changes the polarity.
    let seg = Array3::from_shape_fn((8, 64, 64), |(z, y, x)| {
        (((z / 2) * 37 + (y / 8) * 11 + x / 8 * 5) % 23) as u16 * 3
    });
    write_array(dir, "im", &image, [4, 32, 32], Encoding::Raw).unwrap();
    write_array(dir, "seg", &seg, [4, 32, 32], Encoding::Raw).unwrap();
}

#[test]
fn reduce_label_renumbers_ids_for_polarity_and_classes_only() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let model = json!({"INPUT_SIZE": [4, 32, 32], "TARGET_OPT": ["1", "0-6", "4-1-1"],
                       "WEIGHT_OPT": [["0"], ["0"], ["0"]]});
    let opts: Vec<TargetOpt> = ["1", "0-6", "4-1-1"]
        .iter()
        .map(|o| o.parse().unwrap())
        .collect();
    for (reduce_on, dataset) in [(true, json!({})), (false, json!({"REDUCE_LABEL": false}))] {
        let mut changed = false;
        for b in batches(dir.path(), dataset, model.clone()) {
            let labels = b.array("label").unwrap();
            let labels = labels.as_typed::<u16>().unwrap();
            for i in 0..b.samples.len() {
                let raw = labels
                    .index_axis(Axis(0), i)
                    .mapv(u64::from)
                    .into_dimensionality()
                    .unwrap();
                let seen = if reduce_on { reduce(&raw) } else { raw.clone() };
                changed |= seen != raw;
                for (k, opt) in opts.iter().enumerate() {
                    // The boundary target is the same either way; the others follow `seen`.
                    let lab = if k == 2 { &raw } else { &seen };
                    let want = opt.compute(lab.view(), false).unwrap().into_dyn();
                    let got = column(&b, &format!("target_{k}"))
                        .index_axis(Axis(0), i)
                        .to_owned();
                    assert_eq!(got, want, "target {k}, REDUCE_LABEL {reduce_on}");
                }
            }
        }
        assert_eq!(
            changed, reduce_on,
            "the test's ids must be renumbered by the reduction"
        );
    }
    // A semantic target turns the reduction off, as PyTC's config check does.
    let model =
        json!({"INPUT_SIZE": [4, 32, 32], "TARGET_OPT": ["9", "1"], "WEIGHT_OPT": [["0"], ["0"]]});
    let polarity: TargetOpt = "1".parse().unwrap();
    for b in batches(dir.path(), json!({}), model) {
        let labels = b.array("label").unwrap();
        let raw = labels
            .as_typed::<u16>()
            .unwrap()
            .index_axis(Axis(0), 0)
            .mapv(u64::from);
        let want = polarity
            .compute(raw.into_dimensionality().unwrap().view(), false)
            .unwrap()
            .into_dyn();
        assert_eq!(
            column(&b, "target_1").index_axis(Axis(0), 0).to_owned(),
            want
        );
    }
}

#[test]
fn label_binary_divides_labels_above_one_by_255() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let mask = Array3::from_shape_fn(
        (8, 64, 64),
        |(_, y, x)| if (x + y) % 5 == 0 { 255u8 } else { 0 },
    );
    let ones = mask.mapv(|v| u8::from(v > 0));
    write_array(dir.path(), "mask255", &mask, [4, 32, 32], Encoding::Raw).unwrap();
    write_array(dir.path(), "mask1", &ones, [4, 32, 32], Encoding::Raw).unwrap();
    let model = json!({"INPUT_SIZE": [4, 32, 32], "TARGET_OPT": ["0"], "WEIGHT_OPT": [["0"]]});
    for (name, binary, divided) in [
        ("mask255", true, true),
        ("mask1", true, false),
        ("mask255", false, false),
    ] {
        let dataset = json!({"LABEL_NAME": name, "LABEL_BINARY": binary});
        for b in batches(dir.path(), dataset, model.clone()) {
            let label = b.array("label").unwrap().as_typed::<u8>().unwrap();
            let max = label.iter().copied().max().unwrap();
            assert_eq!(
                max,
                if divided || name == "mask1" { 1 } else { 255 },
                "{name} {binary}"
            );
        }
    }
}
