//! Learning targets and weights in the loader's batches: computed after augmentation from the
//! augmented label (the batch's own `label`), masked by the valid mask, cropped to
//! `MODEL.OUTPUT_SIZE`, identical for any number of workers.

use ndarray::{Array3, Array4, ArrayD, Axis};
use serde_json::json;
use voxload::config::Config;
use voxload::loader::{Batch, LoaderBuilder, Mode};
use voxload::target::{crop_output, TargetOpt, WeightOpt};
use voxload::{write_array, Encoding};

fn store(dir: &std::path::Path) {
    let image = Array3::from_shape_fn((16, 128, 128), |(z, y, x)| {
        ((z * 5 + y * 3 + x) % 251) as u8
    });
    let seg = Array3::from_shape_fn((16, 128, 128), |(z, y, x)| {
        ((z / 4) * 16 + (y / 16) * 4 + x / 16) as u16 * u16::from((x + y) % 16 > 2)
    });
    let mask = Array3::from_shape_fn((16, 128, 128), |(_, _, x)| u8::from(x < 40));
    write_array(dir, "im", &image, [4, 32, 32], Encoding::Raw).unwrap();
    write_array(dir, "seg", &seg, [4, 32, 32], Encoding::Raw).unwrap();
    write_array(dir, "mask", &mask, [4, 32, 32], Encoding::Raw).unwrap();
}

fn batches(dir: &std::path::Path, workers: usize) -> Vec<Batch> {
    let model = json!({"INPUT_SIZE": [4, 32, 32], "OUTPUT_SIZE": [2, 24, 24],
                       "TARGET_OPT": ["0", "2", "4-1-1"], "WEIGHT_OPT": [["1"], ["0"], ["1", "0"]]});
    batches_with(dir, workers, model)
}

fn batches_with(dir: &std::path::Path, workers: usize, model: serde_json::Value) -> Vec<Batch> {
    let cfg = json!({
        "DATASET": {"IMAGE_NAME": "im", "LABEL_NAME": "seg", "VALID_MASK_NAME": "mask",
                    "PAD_SIZE": [1, 8, 8]},
        "MODEL": model,
        "SOLVER": {"SAMPLES_PER_BATCH": 2},
    });
    let cfg = Config::from_str_at(&cfg.to_string(), dir).unwrap();
    LoaderBuilder::from_config(&cfg, Mode::Train)
        .unwrap()
        .workers(workers)
        .samples(6)
        .index_cache(None)
        .build_prefetch()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn column<'a>(b: &'a Batch, key: &str) -> &'a voxload::loader::BatchArray {
    &b.arrays
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key}"))
        .1
}

#[test]
fn targets_are_the_augmented_labels_targets_cropped_and_masked() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let runs = [batches(dir.path(), 1), batches(dir.path(), 3)];
    let opts: Vec<TargetOpt> = ["0", "2", "4-1-1"]
        .iter()
        .map(|o| o.parse().unwrap())
        .collect();
    for b in &runs[0] {
        let keys: Vec<&str> = b.arrays.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "image",
                "label",
                "valid_mask",
                "target_0",
                "weight_0_0",
                "target_1",
                "weight_1_0",
                "target_2",
                "weight_2_0",
                "weight_2_1"
            ]
        );
        let labels = column(b, "label").as_typed::<u16>().unwrap();
        let masks = column(b, "valid_mask").as_typed::<u8>().unwrap();
        for i in 0..b.samples.len() {
            let label = labels.index_axis(Axis(0), i).mapv(u64::from);
            let label = label.into_dimensionality::<ndarray::Ix3>().unwrap();
            let mask = masks
                .index_axis(Axis(0), i)
                .to_owned()
                .into_dimensionality::<ndarray::Ix3>()
                .unwrap();
            for (k, opt) in opts.iter().enumerate() {
                let full = opt.compute(label.view(), false).unwrap();
                let want = crop_output(full.clone(), [2, 24, 24]).unwrap();
                let got: ArrayD<f32> = column(b, &format!("target_{k}"))
                    .as_typed::<f32>()
                    .unwrap()
                    .index_axis(Axis(0), i)
                    .to_owned();
                assert_eq!(got, want.into_dyn(), "target {k}, sample {i}");
                if k == 0 {
                    let w = WeightOpt::Ratio { dilate: false }
                        .compute(full.view(), Some(mask.view()), label.view(), false)
                        .unwrap()
                        .unwrap();
                    let w = crop_output(w, [2, 24, 24]).unwrap();
                    let got = column(b, "weight_0_0")
                        .as_typed::<f32>()
                        .unwrap()
                        .index_axis(Axis(0), i)
                        .to_owned();
                    assert_eq!(got, w.clone().into_dyn());
                    // Outside the valid mask the weight is 0.
                    let m: Array4<u8> =
                        crop_output(mask.mapv(f32::from).insert_axis(Axis(0)), [2, 24, 24])
                            .unwrap()
                            .mapv(|v| v as u8);
                    assert!(w
                        .iter()
                        .zip(m.iter())
                        .all(|(&wv, &mv)| mv == 1 || wv == 0.0));
                }
            }
        }
    }
    // The same batches whatever the number of workers.
    for (a, b) in runs[0].iter().zip(&runs[1]) {
        assert_eq!(a.arrays, b.arrays);
    }
}

#[test]
fn label_erosion_and_dilation_apply_per_target_before_it_is_computed() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let model = json!({"INPUT_SIZE": [4, 32, 32], "TARGET_OPT": ["0", "0"],
                       "WEIGHT_OPT": [["0"], ["0"]], "LABEL_EROSION": [1, 0], "LABEL_DILATION": [0, 2]});
    let opt: TargetOpt = "0".parse().unwrap();
    for b in batches_with(dir.path(), 2, model) {
        let labels = column(&b, "label").as_typed::<u16>().unwrap();
        for i in 0..b.samples.len() {
            let label = labels
                .index_axis(Axis(0), i)
                .mapv(u64::from)
                .into_dimensionality::<ndarray::Ix3>()
                .unwrap();
            let eroded = voxload::target::widen_border(label.view(), 1);
            let dilated = voxload::target::dilate_labels(
                voxload::target::widen_border(label.view(), 0).view(),
                2,
            );
            for (k, lab) in [(0, eroded), (1, dilated)] {
                let want = opt.compute(lab.view(), false).unwrap().into_dyn();
                let got = column(&b, &format!("target_{k}"))
                    .as_typed::<f32>()
                    .unwrap()
                    .index_axis(Axis(0), i)
                    .to_owned();
                assert_eq!(got, want, "target {k}");
            }
        }
    }
}
