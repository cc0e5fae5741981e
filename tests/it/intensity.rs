//! PyTC's image conversion and normalisation (`NORMALIZE_RANGE`, `MEAN`, `STD`, `MATCH_ACT`)
//! for uint8, uint16 and float32 volumes, against the formulas computed by hand here.

use ndarray::Array3;
use serde_json::json;
use voxload::config::Config;
use voxload::loader::{Batch, LoaderBuilder, Mode};
use voxload::{write_array, Element, Encoding};

/// The first grid window's image (grid mode: no augmentation), for a volume of `data` and
/// the DATASET settings `dataset`.
fn first_image<T: Element>(
    data: &Array3<T>,
    dataset: serde_json::Value,
    cache: Option<&std::path::Path>,
) -> Vec<f32> {
    let dir = tempfile::tempdir().unwrap();
    write_array(dir.path(), "im", data, [2, 8, 8], Encoding::Raw).unwrap();
    let mut ds = json!({"IMAGE_NAME": "im", "PAD_SIZE": [0, 0, 0]});
    ds.as_object_mut()
        .unwrap()
        .extend(dataset.as_object().unwrap().clone());
    let cfg = json!({"DATASET": ds, "MODEL": {"INPUT_SIZE": [2, 8, 8]},
                     "INFERENCE": {"STRIDE": [2, 8, 8], "SAMPLES_PER_BATCH": 1}});
    let cfg = Config::from_str_mode(
        &cfg.to_string(),
        dir.path(),
        voxload::config::ConfigMode::Test,
    )
    .unwrap();
    let b = LoaderBuilder::from_config(&cfg, Mode::Grid)
        .unwrap()
        .index_cache(cache.map(|c| c.to_path_buf()));
    let batch: Batch = b.build().unwrap().next().unwrap().unwrap();
    let (_, image) = &batch.arrays[0];
    image.as_typed::<f32>().unwrap().iter().copied().collect()
}

fn volume<T>(f: impl Fn(usize) -> T) -> Array3<T> {
    Array3::from_shape_fn((2, 8, 8), |(z, y, x)| f(z * 64 + y * 8 + x))
}

#[test]
fn uint8_images_become_x_minus_mean_over_std() {
    let data = volume(|i| (i * 7 % 256) as u8);
    let want = |mean: f32, std: f32| -> Vec<f32> {
        data.iter()
            .map(|&v| (f32::from(v) / 255.0 - mean) / std)
            .collect()
    };
    assert_eq!(first_image(&data, json!({}), None), want(0.5, 0.5));
    assert_eq!(
        first_image(&data, json!({"MEAN": 0.3, "STD": 0.2}), None),
        want(0.3, 0.2)
    );
    let tanh: Vec<f32> = data
        .iter()
        .map(|&v| f32::from(v) / 255.0 * 2.0 - 1.0)
        .collect();
    assert_eq!(first_image(&data, json!({"MATCH_ACT": "tanh"}), None), tanh);
    let sigmoid: Vec<f32> = data.iter().map(|&v| f32::from(v) / 255.0).collect();
    assert_eq!(
        first_image(&data, json!({"MATCH_ACT": "sigmoid"}), None),
        sigmoid
    );
    // NORMALIZE_RANGE leaves uint8 volumes as they are, as PyTC's normalize_range does.
    let plain = first_image(
        &data,
        json!({"NORMALIZE_RANGE": false, "MATCH_ACT": "sigmoid"}),
        None,
    );
    assert_eq!(plain, sigmoid);
}

/// PyTC's normalize_range then /255 then (x - 0.5) / 0.5, in the types numpy uses.
fn stretched(values: &[f64]) -> Vec<f32> {
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    values
        .iter()
        .map(|&v| {
            let q = ((v - lo) / (hi - lo + 1e-6) * 255.0).floor() as u8;
            ((f64::from(q) / 255.0) as f32 - 0.5) / 0.5
        })
        .collect()
}

#[test]
fn uint16_and_float32_volumes_are_stretched_by_their_range() {
    let cache = tempfile::tempdir().unwrap();
    let u16s = volume(|i| 1000 + (i * 37 % 4000) as u16);
    let values: Vec<f64> = u16s.iter().map(|&v| f64::from(v)).collect();
    assert_eq!(
        first_image(&u16s, json!({}), Some(cache.path())),
        stretched(&values)
    );
    // The range was computed once and kept in the cache.
    assert_eq!(
        std::fs::read_dir(cache.path().join("range"))
            .unwrap()
            .count(),
        1
    );
    let f32s = volume(|i| -3.5 + (i as f32) * 0.125);
    let values: Vec<f64> = f32s.iter().map(|&v| f64::from(v)).collect();
    assert_eq!(first_image(&f32s, json!({}), None), stretched(&values));
    // Without NORMALIZE_RANGE every volume is divided by 255, as PyTC's crop does.
    let raw: Vec<f32> = u16s
        .iter()
        .map(|&v| ((f64::from(v) / 255.0) as f32 - 0.5) / 0.5)
        .collect();
    assert_eq!(
        first_image(&u16s, json!({"NORMALIZE_RANGE": false}), None),
        raw
    );
}

#[test]
fn bad_normalisation_values_name_the_key() {
    for (key, value) in [
        ("STD", json!(0)),
        ("MATCH_ACT", json!("relu")),
        ("MEAN", json!("x")),
    ] {
        let cfg = json!({"DATASET": {key: value}}).to_string();
        let err = Config::from_str_at(&cfg, ".").unwrap_err().to_string();
        assert!(err.contains(&format!("DATASET.{key}")), "{err}");
    }
}
