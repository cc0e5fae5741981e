//! `voxload sample` and `voxload preview`: the manifest and `.npy` files of SPEC section 8.

use std::path::Path;

use ndarray::{Array3, ArrayD};
use serde_json::Value;
use voxload::{write_array, Bbox, Encoding, PadMode};

use crate::util::naive_window;

use crate::util::run_voxload as voxload;

/// A store `em.zarr` (image uint8, seg uint16, mask uint8) and a config naming it.
fn setup(dir: &Path, augment: bool) -> (Array3<u8>, Array3<u16>) {
    let image = Array3::from_shape_fn((20, 80, 80), |(z, y, x)| ((z * 5 + y * 3 + x) % 253) as u8);
    let seg = Array3::from_shape_fn((20, 80, 80), |(z, y, x)| {
        ((z / 5) * 9 + (y / 20) * 3 + x / 30) as u16
    });
    let mask = Array3::from_shape_fn((20, 80, 80), |(_, _, x)| u8::from(x < 60));
    let store = dir.join("em.zarr");
    write_array(&store, "raw", &image, [8, 32, 32], Encoding::Raw).unwrap();
    write_array(&store, "seg", &seg, [8, 32, 32], Encoding::Raw).unwrap();
    write_array(&store, "mask", &mask, [8, 32, 32], Encoding::Raw).unwrap();
    let config = serde_json::json!({
        "DATASET": {"INPUT_PATH": "em.zarr", "IMAGE_NAME": "raw", "LABEL_NAME": "seg",
                    "VALID_MASK_NAME": "mask", "PAD_SIZE": [2, 8, 8], "VALID_RATIO": 0.3},
        "MODEL": {"INPUT_SIZE": [4, 24, 24]},
        "INFERENCE": {"STRIDE": [4, 24, 24]},
        "AUGMENTOR": {"ENABLED": augment},
        "SOLVER": {"SAMPLES_PER_BATCH": 3},
    });
    std::fs::write(dir.join("cfg.json"), config.to_string()).unwrap();
    (image, seg)
}

fn manifest(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn sample_train_writes_npy_files_and_the_documented_manifest() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), true);
    let out = dir.path().join("out");
    let cfg = dir.path().join("cfg.json");
    let (ok, text) = voxload(&[
        "sample",
        "--config",
        cfg.to_str().unwrap(),
        "--count",
        "5",
        "--seed",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let m = manifest(&out);
    let samples = m["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 5);
    assert!(m["stats"]["samples"].as_u64() == Some(5), "{m}");
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s["index"], i);
        assert_eq!(s["volume"], 0);
        // The window read is the enlarged sample size.
        assert!(s["shape"][1].as_u64().unwrap() > 24, "{s}");
        assert!(s["start"].as_array().unwrap().len() == 3);
        assert!(s["rejections"].is_u64() && s["forced"].is_boolean());
        let names: Vec<&str> = s["transforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"Flip") || names.contains(&"Rotate"),
            "{names:?}"
        );
        let image: ArrayD<f32> =
            ndarray_npy::read_npy(out.join(format!("{i:06}_image.npy"))).unwrap();
        let label: ArrayD<u16> =
            ndarray_npy::read_npy(out.join(format!("{i:06}_label.npy"))).unwrap();
        let mask: ArrayD<u8> =
            ndarray_npy::read_npy(out.join(format!("{i:06}_valid_mask.npy"))).unwrap();
        assert_eq!(image.shape(), &[4, 24, 24]);
        assert_eq!(label.shape(), &[4, 24, 24]);
        assert_eq!(mask.shape(), &[4, 24, 24]);
        // VALID_RATIO 0.3 is tested on the central region before augmentation; masks stay 0/1.
        assert!(mask.iter().all(|&v| v <= 1));
    }
}

#[test]
fn sample_without_augmentation_equals_the_window_at_its_recorded_position() {
    let dir = tempfile::tempdir().unwrap();
    let (image, seg) = setup(dir.path(), false);
    let out = dir.path().join("out");
    let cfg = dir.path().join("cfg.json");
    let (ok, text) = voxload(&[
        "sample",
        "--config",
        cfg.to_str().unwrap(),
        "--count",
        "7",
        "--workers",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    for s in manifest(&out)["samples"].as_array().unwrap() {
        let i = s["index"].as_u64().unwrap();
        let start: Vec<i64> = s["start"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(s["shape"], serde_json::json!([4, 24, 24]));
        assert!(s["transforms"].as_array().unwrap().is_empty());
        let window = Bbox::new([start[0], start[1], start[2]], [4, 24, 24]);
        let got: ArrayD<f32> =
            ndarray_npy::read_npy(out.join(format!("{i:06}_image.npy"))).unwrap();
        let want = naive_window(&image, window, PadMode::Reflect)
            .mapv(|v| (f32::from(v) / 255.0 - 0.5) / 0.5); // PyTC: (x - MEAN) / STD
        assert_eq!(got, want.into_dyn());
        let got: ArrayD<u16> =
            ndarray_npy::read_npy(out.join(format!("{i:06}_label.npy"))).unwrap();
        assert_eq!(got, naive_window(&seg, window, PadMode::Reflect).into_dyn());
    }
}

#[test]
fn sample_grid_writes_the_whole_grid_with_global_indices_per_rank() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), true);
    let cfg = dir.path().join("cfg.json");
    let mut all = Vec::new();
    for rank in 0..2 {
        let out = dir.path().join(format!("grid{rank}"));
        let (ok, text) = voxload(&[
            "sample",
            "--config",
            cfg.to_str().unwrap(),
            "--mode",
            "grid",
            "--rank",
            &rank.to_string(),
            "--world-size",
            "2",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        for s in manifest(&out)["samples"].as_array().unwrap() {
            assert_eq!(s["rejections"], 0);
            assert_eq!(s["forced"], false);
            assert!(s["transforms"].as_array().unwrap().is_empty());
            let i = s["index"].as_u64().unwrap();
            assert!(out.join(format!("{i:06}_image.npy")).exists());
            all.push((i, s["start"].clone()));
        }
    }
    // Padded (24, 96, 96) volume, window (4, 24, 24), stride (4, 24, 24): 6 · 4 · 4 = 96 items.
    assert_eq!(all.len(), 96);
    let indices: Vec<u64> = all.iter().map(|(i, _)| *i).collect();
    assert_eq!(indices, (0..96).collect::<Vec<_>>());
    assert_eq!(all[0].1, serde_json::json!([-2, -8, -8]));
}

#[test]
fn preview_writes_a_png_and_a_legend() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), true);
    let cfg = dir.path().join("cfg.json");
    let png = dir.path().join("p.png");
    let (ok, text) = voxload(&[
        "preview",
        "--config",
        cfg.to_str().unwrap(),
        "--count",
        "5",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let info = decoder.read_info().unwrap().info().clone();
    // Two rows of tiles of 24 with a 4-pixel gap: 4 columns wide.
    assert_eq!((info.width, info.height), (4 * 24 + 3 * 4, 2 * 24 + 4));
    let legend = std::fs::read_to_string(dir.path().join("p.txt")).unwrap();
    assert_eq!(legend.lines().count(), 5);
}

#[test]
fn sample_with_a_typo_in_the_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), true);
    let cfg = dir.path().join("bad.json");
    std::fs::write(&cfg, r#"{"DATASET": {"PAD_SZE": [1, 2, 3]}}"#).unwrap();
    let (ok, text) = voxload(&[
        "sample",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        text.contains("DATASET.PAD_SZE") && text.contains("DATASET.PAD_SIZE"),
        "{text}"
    );
}

/// `voxload sample --count N` into `out` with extra arguments.
fn sample_into(dir: &Path, out: &Path, count: &str, extra: &[&str]) -> (bool, String) {
    let cfg = dir.join("cfg.json");
    let mut args = vec![
        "sample",
        "--config",
        cfg.to_str().unwrap(),
        "--count",
        count,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    voxload(&args)
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_folder_holding_an_earlier_run_is_refused_or_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), false);
    let out = dir.path().join("out");
    let (ok, text) = sample_into(dir.path(), &out, "5", &[]);
    assert!(ok, "{text}");
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let before = crate::util::tree_hash(&out);
    // Without --overwrite: refused, nothing touched.
    let (ok, text) = sample_into(dir.path(), &out, "2", &[]);
    assert!(
        !ok && text.contains("earlier run") && text.contains("--overwrite"),
        "{text}"
    );
    assert_eq!(crate::util::tree_hash(&out), before);
    // An interrupted run (files, no manifest) is an earlier run too.
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    let (ok, text) = sample_into(dir.path(), &out, "2", &[]);
    assert!(!ok && text.contains("earlier run"), "{text}");
    // With --overwrite: exactly the new run's files, and the user's own file kept.
    let (ok, text) = sample_into(dir.path(), &out, "2", &["--overwrite"]);
    assert!(ok, "{text}");
    // With a label, PyTC's default target ('0') and weight ('1') come too.
    let mut want = vec![
        "000000_image.npy",
        "000000_label.npy",
        "000000_target_0.npy",
        "000000_valid_mask.npy",
        "000000_weight_0_0.npy",
        "000001_image.npy",
        "000001_label.npy",
        "000001_target_0.npy",
        "000001_valid_mask.npy",
        "000001_weight_0_0.npy",
        "manifest.json",
        "notes.txt",
    ];
    want.sort_unstable();
    assert_eq!(sorted_names(&out), want);
    assert_eq!(manifest(&out)["samples"].as_array().unwrap().len(), 2);
}
