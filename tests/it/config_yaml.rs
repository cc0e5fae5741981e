//! PyTC-format configurations: YAML base and task files merged in order, PyTC's whole key
//! table (unused keys accepted and reported, typos refused with a suggestion), yacs' value
//! decoding, and the test mode's inference overrides. The files are written here, in PyTC's
//! format.

use std::path::{Path, PathBuf};

use serde_json::json;
use voxload::config::{Config, ConfigMode};
use voxload::{Error, Padding};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const BASE: &str = "\
SYSTEM:
  NUM_GPUS: 4
  NUM_CPUS: 3
MODEL:
  ARCHITECTURE: unet_residual_3d
  INPUT_SIZE: [17, 225, 225]
  OUTPUT_SIZE: [17, 225, 225]
  TARGET_OPT: ['0', '4-1-1']
  WEIGHT_OPT: [['1'], ['1']]
DATASET:
  IMAGE_NAME: im_train.zarr
  LABEL_NAME: mito_train.zarr
  INPUT_PATH: data/
  PAD_SIZE: [4, 64, 64]
  REJECT_SAMPLING:
    SIZE_THRES: 1000
    P: 0.95
SOLVER:
  BASE_LR: 1e-3
  SAMPLES_PER_BATCH: 2
INFERENCE:
  INPUT_SIZE: [17, 257, 257]
  IMAGE_NAME: im_test.zarr
  PAD_SIZE: [8, 64, 64]
  STRIDE: [8, 128, 128]
  SAMPLES_PER_BATCH: 8
";

const TASK: &str = "\
# the task file overrides the base
MODEL:
  INPUT_SIZE: [9, 129, 129]
  OUTPUT_SIZE: [9, 129, 129]
AUGMENTOR:
  ROTATE:
    ENABLED: False
  FLIP:
    P: '0.5'
SOLVER:
  SAMPLES_PER_BATCH: 4
";

#[test]
fn base_and_task_files_merge_in_order_later_values_winning() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.yaml", BASE);
    let task = write(dir.path(), "task.yaml", TASK);
    let cfg = Config::load(&[base.clone(), task.clone()], ConfigMode::Train).unwrap();
    assert_eq!(cfg.input_size, [9, 129, 129]);
    assert_eq!(cfg.pad_size, [4, 64, 64].into());
    assert_eq!(cfg.samples_per_batch, 4);
    assert_eq!(cfg.num_cpus, 3);
    assert_eq!(cfg.rejection.size_thres, 1000);
    assert!(!cfg.augment.rotate.enabled);
    // yacs reads the string '0.5' as the number 0.5.
    assert_eq!(cfg.augment.flip.transform.p, 0.5);
    // INPUT_PATH is relative to the folder of the file that set it.
    assert_eq!(cfg.input_path, dir.path().join("data/"));
    for key in ["SYSTEM.NUM_GPUS", "MODEL.ARCHITECTURE", "SOLVER.BASE_LR"] {
        assert!(cfg.report.unused.iter().any(|k| k == key), "{key}");
    }
    assert!(!cfg.report.unused.iter().any(|k| k == "MODEL.INPUT_SIZE"));
    // MODEL.TARGET_OPT ['0', '4-1-1'] with a weight list each.
    assert_eq!(
        cfg.learning.keys(),
        ["target_0", "weight_0_0", "target_1", "weight_1_0"]
    );
    assert_eq!(cfg.learning.output_size, None);
    // The other order: the base's value wins.
    let cfg = Config::load(&[task, base], ConfigMode::Train).unwrap();
    assert_eq!(cfg.input_size, [17, 225, 225]);
}

#[test]
fn test_mode_applies_pytc_inference_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.yaml", BASE);
    let cfg = Config::load(std::slice::from_ref(&base), ConfigMode::Test).unwrap();
    assert_eq!(cfg.input_size, [17, 257, 257]);
    assert_eq!(cfg.pad_size, [8, 64, 64].into());
    assert_eq!(cfg.samples_per_batch, 8);
    assert_eq!(cfg.stride, [8, 128, 128]);
    assert_eq!(cfg.array_names()[0].image, "im_test.zarr");
    // Test mode reads no label, and rejection sampling has nothing to test, nor targets.
    assert_eq!(cfg.array_names()[0].label, None);
    assert!(cfg.learning.targets.is_empty());
    assert_eq!(cfg.rejection.size_thres, -1);
    // INFERENCE.SAMPLES_PER_BATCH unset: PyTC's default, 4.
    let plain = write(
        dir.path(),
        "plain.yaml",
        "DATASET:\n  IMAGE_NAME: im.zarr\n",
    );
    let cfg = Config::load(&[plain], ConfigMode::Test).unwrap();
    assert_eq!(cfg.samples_per_batch, 4);
    assert_eq!(cfg.array_names()[0].image, "im.zarr");
    assert!(cfg.report.warnings[0].contains("keeps DATASET.IMAGE_NAME"));
}

#[test]
fn the_pytc_json_holds_every_default_and_the_merged_values() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.yaml", BASE);
    let cfg = Config::load(&[base], ConfigMode::Test).unwrap();
    let all = cfg.to_pytc_json();
    assert_eq!(all["MODEL"]["INPUT_SIZE"], json!([17, 257, 257]));
    assert_eq!(all["MODEL"]["ARCHITECTURE"], json!("unet_residual_3d"));
    assert_eq!(all["SOLVER"]["BASE_LR"], json!(1e-3));
    // Defaults of keys no file sets.
    assert_eq!(all["SOLVER"]["ITERATION_TOTAL"], json!(40000));
    assert_eq!(all["DATASET"]["MEAN"], json!(0.5));
    assert_eq!(all["DATASET"]["IMAGE_NAME"], json!("im_test.zarr"));
    assert!(all["VOXLOAD"]["unused"]
        .as_array()
        .unwrap()
        .contains(&json!("SYSTEM.NUM_GPUS")));
    // As PyTC's load_cfg leaves them: its test loader ignores the label, the rejection
    // thresholds and SOLVER.SAMPLES_PER_BATCH, but its config keeps them.
    assert_eq!(all["DATASET"]["LABEL_NAME"], json!("mito_train.zarr"));
    assert_eq!(all["DATASET"]["REJECT_SAMPLING"]["SIZE_THRES"], json!(1000));
    assert_eq!(all["SOLVER"]["SAMPLES_PER_BATCH"], json!(2));
    assert_eq!(cfg.samples_per_batch, 8);
    // MODEL.OUTPUT_SIZE is smaller than the inference window and INFERENCE.OUTPUT_SIZE unset:
    // PyTC's test() expects blocks of it, and voxload says so.
    assert_eq!(cfg.prediction_size, Some([17, 225, 225]));
    let warned = cfg
        .report
        .warnings
        .iter()
        .any(|w| w.contains("INFERENCE.OUTPUT_SIZE"));
    assert!(warned, "{:?}", cfg.report.warnings);
}

#[test]
fn the_pytc_json_applies_pytcs_own_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        "DATASET:\n  IMAGE_NAME: im.zarr\n  LABEL_NAME: seg.zarr\n  VALID_MASK_NAME: mask.zarr\n\
                MODEL:\n  TARGET_OPT: ['9']\n  WEIGHT_OPT: [['0']]\n\
                INFERENCE:\n  OUTPUT_NAME: pred\n";
    let file = write(dir.path(), "c.yaml", text);
    let train = Config::load(std::slice::from_ref(&file), ConfigMode::Train).unwrap();
    let all = train.to_pytc_json();
    // overwrite_cfg: no label reduction for a semantic target; the valid mask augmented.
    assert_eq!(all["DATASET"]["REDUCE_LABEL"], json!(false));
    assert_eq!(
        all["AUGMENTOR"]["ADDITIONAL_TARGETS_NAME"],
        json!(["label", "valid_mask"])
    );
    assert_eq!(
        all["AUGMENTOR"]["ADDITIONAL_TARGETS_TYPE"],
        json!(["mask", "mask"])
    );
    assert_eq!(all["INFERENCE"]["OUTPUT_NAME"], json!("pred"));
    // update_inference_cfg: `.h5` added to a bare name, dropped for one-by-one inference.
    let test = Config::load(std::slice::from_ref(&file), ConfigMode::Test).unwrap();
    assert_eq!(
        test.to_pytc_json()["INFERENCE"]["OUTPUT_NAME"],
        json!("pred.h5")
    );
    let singly = write(
        dir.path(),
        "s.yaml",
        "DATASET:\n  IMAGE_NAME: im.zarr\nINFERENCE:\n  DO_SINGLY: True\n  OUTPUT_NAME: pred.h5\n",
    );
    let test = Config::load(&[singly], ConfigMode::Test).unwrap();
    assert_eq!(
        test.to_pytc_json()["INFERENCE"]["OUTPUT_NAME"],
        json!("pred")
    );
}

fn config_error(e: Error) -> (String, String) {
    match e {
        Error::Config { key, reason } => (key, reason),
        other => panic!("expected Error::Config, got {other}"),
    }
}

#[test]
fn typos_wrong_kinds_and_syntax_errors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let typo = write(
        dir.path(),
        "typo.yaml",
        "MODEL:\n  INPUT_SZE: [8, 64, 64]\n",
    );
    let (key, reason) =
        config_error(Config::load(std::slice::from_ref(&typo), ConfigMode::Train).unwrap_err());
    assert_eq!(key, "MODEL.INPUT_SZE");
    assert!(reason.contains("did you mean MODEL.INPUT_SIZE"), "{reason}");
    assert!(reason.contains("typo.yaml"), "{reason}");
    let misplaced = write(dir.path(), "m.yaml", "DATASET:\n  NUM_GPUS: 2\n");
    let (_, reason) = config_error(Config::load(&[misplaced], ConfigMode::Train).unwrap_err());
    assert!(reason.contains("SYSTEM.NUM_GPUS"), "{reason}");
    // A key outside the data path still has PyTC's type.
    let kind = write(dir.path(), "k.yaml", "SOLVER:\n  BASE_LR: [1, 2]\n");
    let (key, reason) = config_error(Config::load(&[kind], ConfigMode::Train).unwrap_err());
    assert_eq!(key, "SOLVER.BASE_LR");
    assert!(reason.contains("a number"), "{reason}");
    // A used key's type is checked by the validation, naming it.
    let used = write(dir.path(), "u.yaml", "MODEL:\n  INPUT_SIZE: abc\n");
    let (key, _) = config_error(Config::load(&[used], ConfigMode::Train).unwrap_err());
    assert_eq!(key, "MODEL.INPUT_SIZE");
    // YAML syntax: the line and column.
    let broken = write(
        dir.path(),
        "b.yaml",
        "MODEL:\n  INPUT_SIZE: [8, 64\nDATASET: {\n",
    );
    let err = Config::load(&[broken], ConfigMode::Train)
        .unwrap_err()
        .to_string();
    assert!(err.contains("b.yaml") && err.contains("line "), "{err}");
    let tabs = write(dir.path(), "t.yaml", "MODEL:\n\tINPUT_SIZE: [8, 64, 64]\n");
    let err = Config::load(&[tabs], ConfigMode::Train)
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    // A missing file names it.
    let err = Config::load(&[dir.path().join("none.yaml")], ConfigMode::Train).unwrap_err();
    assert!(err.to_string().contains("none.yaml"), "{err}");
}

#[test]
fn yaml_values_decode_as_yacs_and_pyyaml_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
DATASET:
  DO_2D: yes
  PAD_SIZE: '[0, 16, 16]'
  IMAGE_NAME: None
MODEL:
  INPUT_SIZE: (1, 64, 64)
AUGMENTOR:
  ELASTIC:
    ALPHA: 1.6e1
";
    let cfg = Config::load(&[write(dir.path(), "v.yaml", text)], ConfigMode::Train).unwrap();
    assert!(cfg.do_2d);
    assert_eq!(cfg.pad_size, [0, 16, 16].into());
    assert_eq!(cfg.input_size, [1, 64, 64]);
    assert_eq!(cfg.augment.elastic.transform.alpha, 16.0);
    // IMAGE_NAME None: unset, so voxload's default array name.
    assert_eq!(cfg.array_names()[0].image, "image");
}

#[test]
fn json_files_still_work_and_mix_with_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let json = write(
        dir.path(),
        "base.json",
        r#"{"MODEL": {"INPUT_SIZE": [4, 32, 32]}, "SOLVER": {"SAMPLES_PER_BATCH": 5}}"#,
    );
    let yaml = write(dir.path(), "task.yml", "SOLVER:\n  SAMPLES_PER_BATCH: 7\n");
    let cfg = Config::load(&[json, yaml], ConfigMode::Train).unwrap();
    assert_eq!((cfg.input_size, cfg.samples_per_batch), ([4, 32, 32], 7));
}

#[test]
fn val_mode_reads_the_val_volumes_on_a_half_window_grid() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\
MODEL:
  INPUT_SIZE: [8, 64, 64]
DATASET:
  IMAGE_NAME: train_im
  LABEL_NAME: train_seg
  VAL_IMAGE_NAME: val_im
  VAL_LABEL_NAME: val_seg
  REJECT_SAMPLING:
    SIZE_THRES: 100
SOLVER:
  SAMPLES_PER_BATCH: 3
";
    let file = write(dir.path(), "v.yaml", text);
    let cfg = Config::load(std::slice::from_ref(&file), ConfigMode::Val).unwrap();
    let names = &cfg.array_names()[0];
    assert_eq!(
        (names.image.as_str(), names.label.as_deref()),
        ("val_im", Some("val_seg"))
    );
    assert_eq!(cfg.pad_size, [0, 0, 0].into()); // DATASET.VAL_PAD_SIZE's default
    assert_eq!(cfg.stride, [4, 32, 32]);
    assert_eq!(cfg.samples_per_batch, 12);
    assert_eq!(cfg.rejection.size_thres, -1);
    let none = write(dir.path(), "n.yaml", "DATASET:\n  IMAGE_NAME: im\n");
    let (key, _) = config_error(Config::load(&[none], ConfigMode::Val).unwrap_err());
    assert_eq!(key, "DATASET.VAL_IMAGE_NAME");
}

#[test]
fn target_and_weight_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |model: &str| {
        let text =
            format!("DATASET:\n  LABEL_NAME: seg\nMODEL:\n  INPUT_SIZE: [8, 64, 64]\n{model}");
        Config::load(&[write(dir.path(), "c.yaml", &text)], ConfigMode::Train)
    };
    let ok =
        cfg("  OUTPUT_SIZE: [8, 32, 32]\n  TARGET_OPT: ['2']\n  WEIGHT_OPT: [['0']]\n").unwrap();
    assert_eq!(ok.learning.output_size, Some([8, 32, 32]));
    for (model, key) in [
        (
            "  TARGET_OPT: ['2-x']\n  WEIGHT_OPT: [['1']]\n",
            "MODEL.TARGET_OPT",
        ),
        (
            "  TARGET_OPT: ['11']\n  WEIGHT_OPT: [['1']]\n",
            "MODEL.TARGET_OPT",
        ),
        (
            "  TARGET_OPT: ['0', '4']\n  WEIGHT_OPT: [['1']]\n",
            "MODEL.WEIGHT_OPT",
        ),
        ("  WEIGHT_OPT: [['9']]\n", "MODEL.WEIGHT_OPT"),
        ("  OUTPUT_SIZE: [8, 128, 64]\n", "MODEL.OUTPUT_SIZE"),
    ] {
        let (k, reason) = config_error(cfg(model).unwrap_err());
        assert_eq!(k, key, "{model}: {reason}");
    }
    // No label: no targets, unless asked for.
    let plain = write(dir.path(), "p.yaml", "MODEL:\n  INPUT_SIZE: [8, 64, 64]\n");
    assert!(Config::load(&[plain], ConfigMode::Train)
        .unwrap()
        .learning
        .targets
        .is_empty());
}

#[test]
fn data_changing_keys_voxload_lacks_are_errors_not_silent() {
    let dir = tempfile::tempdir().unwrap();
    // LABEL_MAG divides the label: refused where a target reads id values (PyTC would read
    // the divided floats), and for values PyTC's division makes no sense of.
    let label = "DATASET:\n  LABEL_NAME: seg\n  LABEL_MAG: 10\n";
    for (extra, wanted) in [
        ("MODEL:\n  TARGET_OPT: ['9']\n", "'9'"),
        ("MODEL:\n  TARGET_OPT: ['1']\n", "'1'"),
        ("MODEL:\n  TARGET_OPT: ['0-2-3']\n", "'0-2-3'"),
    ] {
        let file = write(dir.path(), "mag.yaml", &format!("{label}{extra}"));
        let (k, reason) = config_error(Config::load(&[file], ConfigMode::Train).unwrap_err());
        assert_eq!(k, "DATASET.LABEL_MAG", "{extra}");
        assert!(reason.contains(wanted), "{reason}");
    }
    let negative = write(dir.path(), "neg.yaml", "DATASET:\n  LABEL_MAG: -3\n");
    let (k, _) = config_error(Config::load(&[negative], ConfigMode::Train).unwrap_err());
    assert_eq!(k, "DATASET.LABEL_MAG");
    let ok = format!(
        "{label}MODEL:\n  TARGET_OPT: ['0', '4-1-1', '2']\n  WEIGHT_OPT: [['1'], ['0'], ['0']]\n"
    );
    let cfg = Config::load(&[write(dir.path(), "ok.yaml", &ok)], ConfigMode::Train).unwrap();
    assert_eq!(cfg.label_mag, Some(10.0));
    // LABEL_VAST: RGB label images are VAST-decoded always, stored labels hold ids; and
    // DROP_CHANNEL: voxload's volumes are single-channel, where PyTC's averaging changes
    // nothing. Both accepted, reported as not used.
    for (text, key) in [
        ("DATASET:\n  LABEL_VAST: True\n", "DATASET.LABEL_VAST"),
        ("DATASET:\n  DROP_CHANNEL: True\n", "DATASET.DROP_CHANNEL"),
    ] {
        let json = Config::load(&[write(dir.path(), "x.yaml", text)], ConfigMode::Train)
            .unwrap()
            .to_pytc_json();
        let unused = json["VOXLOAD"]["unused"].as_array().unwrap();
        assert!(unused.iter().any(|k| k == key), "{unused:?}");
    }
    // The tile dataset's chunk limits: training only (the test grid covers the whole volume).
    for (text, key) in [
        (
            "DATASET:\n  DATA_COORD_RANGE: [0, 10, 0, 64, 0, 64]\n",
            "DATASET.DATA_COORD_RANGE",
        ),
        (
            "DATASET:\n  DATA_CHUNK_IND: [0]\n",
            "DATASET.DATA_CHUNK_IND",
        ),
        (
            "DATASET:\n  CHUNK_IND_SPLIT: 1-2\n",
            "DATASET.CHUNK_IND_SPLIT",
        ),
    ] {
        let file = write(dir.path(), "chunk.yaml", text);
        Config::load(std::slice::from_ref(&file), ConfigMode::Train).unwrap();
        let (k, _) = config_error(Config::load(&[file], ConfigMode::Test).unwrap_err());
        assert_eq!(k, key);
    }
    for (text, key) in [
        (
            "DATASET:\n  DATA_COORD_RANGE: [[0, 10, 0, 64, 0, 64], [0, 1, 0, 1, 0, 1]]\n",
            "DATASET.DATA_COORD_RANGE",
        ),
        (
            "DATASET:\n  DATA_COORD_RANGE: [5, 5, 0, 64, 0, 64]\n",
            "DATASET.DATA_COORD_RANGE",
        ),
        (
            "DATASET:\n  DATA_CHUNK_IND: [1]\n",
            "DATASET.DATA_CHUNK_IND",
        ),
        (
            "DATASET:\n  CHUNK_IND_SPLIT: 2-2\n",
            "DATASET.CHUNK_IND_SPLIT",
        ),
        (
            "DATASET:\n  DATA_CHUNK_NUM: [1, 1, 2]\n  CHUNK_IND_SPLIT: [0, 3]\n",
            "DATASET.CHUNK_IND_SPLIT",
        ),
    ] {
        let file = write(dir.path(), "bad.yaml", text);
        let (k, reason) = config_error(Config::load(&[file], ConfigMode::Train).unwrap_err());
        assert_eq!(k, key, "{reason}");
    }
    // DO_SINGLY's volume range: read, and a step of 0 refused as PyTC's range() refuses it.
    let singly = write(
        dir.path(),
        "singly.yaml",
        "INFERENCE:\n  DO_SINGLY: True\n  DO_SINGLY_START_INDEX: 2\n  DO_SINGLY_STEP: -3\n",
    );
    let test = Config::load(std::slice::from_ref(&singly), ConfigMode::Test).unwrap();
    assert_eq!(
        test.visited_volumes(7),
        Some(vec![false, false, true, false, false, true, false])
    );
    let zero = write(dir.path(), "zero.yaml", "INFERENCE:\n  DO_SINGLY_STEP: 0\n");
    let (k, _) = config_error(Config::load(&[zero], ConfigMode::Test).unwrap_err());
    assert_eq!(k, "INFERENCE.DO_SINGLY_STEP");
    // Their defaults are fine.
    let ok = "DATASET:\n  LABEL_VAST: False\n  ENSURE_MIN_SIZE: False\nINFERENCE:\n  AUG_NUM: 16\n";
    let file = write(dir.path(), "ok.yaml", ok);
    Config::load(std::slice::from_ref(&file), ConfigMode::Train).unwrap();
    Config::load(&[file], ConfigMode::Test).unwrap();
    // Implemented since: read; OUTPUT_SCALE is reset in val mode (PyTC's validation).
    let text = "DATASET:\n  ENSURE_MIN_SIZE: True\nINFERENCE:\n  OUTPUT_SCALE: [1.0, 0.5, 0.5]\n";
    let file = write(dir.path(), "new.yaml", text);
    let train = Config::load(std::slice::from_ref(&file), ConfigMode::Train).unwrap();
    assert!(train.ensure_min_size);
    assert_eq!(train.output_scale, [1.0, 0.5, 0.5]);
    let test = Config::load(&[file], ConfigMode::Test).unwrap();
    assert_eq!(test.output_scale, [1.0, 0.5, 0.5]);
    let bad = write(
        dir.path(),
        "bad.yaml",
        "INFERENCE:\n  OUTPUT_SCALE: [1.0, 0.0, 0.5]\n",
    );
    let (k, _) = config_error(Config::load(&[bad], ConfigMode::Test).unwrap_err());
    assert_eq!(k, "INFERENCE.OUTPUT_SCALE");
}

#[test]
fn pad_size_in_each_of_pytcs_forms() {
    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        ("PAD_SIZE: 4", Some(Padding::uniform([4, 4, 4]))),
        ("PAD_SIZE: [3]", Some(Padding::uniform([3, 3, 3]))),
        ("PAD_SIZE: [2, 16, 16]", Some(Padding::uniform([2, 16, 16]))),
        (
            "PAD_SIZE: [1, 1, 2, 2, 3, 3]",
            Some(Padding::uniform([1, 2, 3])),
        ),
        // PyTC's get_padsize: pairs (before, after) of z, y, x.
        (
            "PAD_SIZE: [1, 2, 0, 2, 3, 5]",
            Some(Padding::new([1, 0, 3], [2, 2, 5])),
        ),
        ("PAD_SIZE: [1, 2, -1, 2, 3, 5]", None),
        ("PAD_SIZE: [1, 2]", None),
        ("PAD_SIZE: [1, 2, 3, 4]", None),
    ] {
        let file = write(dir.path(), "pad.yaml", &format!("DATASET:\n  {text}\n"));
        match (Config::load(&[file], ConfigMode::Train), want) {
            (Ok(cfg), Some(want)) => assert_eq!(cfg.pad_size, want, "{text}"),
            (Err(Error::Config { key, reason }), None) => {
                assert_eq!(key, "DATASET.PAD_SIZE", "{text}: {reason}");
            }
            (got, _) => panic!("{text}: {:?}", got.map(|c| c.pad_size)),
        }
    }
}

#[test]
fn test_time_augmentation_keys_in_test_mode_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "tta.yaml",
        "MODEL:\n  INPUT_SIZE: [8, 64, 64]\nINFERENCE:\n  AUG_MODE: min\n  AUG_NUM: 16\n",
    );
    let test = Config::load(std::slice::from_ref(&file), ConfigMode::Test).unwrap();
    assert_eq!(test.test_augment.len(), 16);
    assert_eq!(test.test_augment.combine(), voxload::augment::Combine::Min);
    assert_eq!(
        Config::load(&[file], ConfigMode::Train)
            .unwrap()
            .test_augment
            .len(),
        1
    );
    let none = write(dir.path(), "none.yaml", "INFERENCE:\n  AUG_NUM: None\n");
    assert_eq!(
        Config::load(&[none], ConfigMode::Test)
            .unwrap()
            .test_augment
            .len(),
        1
    );
    for (text, key) in [
        ("INFERENCE:\n  AUG_NUM: 6\n", "INFERENCE.AUG_NUM"),
        (
            "INFERENCE:\n  AUG_MODE: median\n  AUG_NUM: 4\n",
            "INFERENCE.AUG_MODE",
        ),
        (
            "MODEL:\n  INPUT_SIZE: [8, 64, 32]\nINFERENCE:\n  AUG_NUM: 8\n",
            "INFERENCE.AUG_NUM",
        ),
    ] {
        let bad = write(dir.path(), "bad.yaml", text);
        match Config::load(&[bad], ConfigMode::Test) {
            Err(Error::Config { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: {:?}", other.map(|c| c.test_augment)),
        }
    }
}

#[test]
fn input_path_folders_pair_with_the_volumes() {
    // PyTC's `INPUT_PATH: a/@b/`: the i-th folder holds the i-th image and label.
    let dir = tempfile::tempdir().unwrap();
    for (folder, value) in [("a", 10u8), ("b/deeper", 20u8)] {
        let store = dir.path().join(folder);
        let image = ndarray::Array3::from_elem((4, 40, 40), value);
        voxload::write_array(
            &store,
            "im.zarr",
            &image,
            [4, 20, 20],
            voxload::Encoding::Raw,
        )
        .unwrap();
        voxload::write_array(
            &store,
            "seg.zarr",
            &image.mapv(u16::from),
            [4, 20, 20],
            voxload::Encoding::Zstd { level: 1 },
        )
        .unwrap();
    }
    let text = "DATASET:\n  INPUT_PATH: a/@b/deeper/\n  IMAGE_NAME: im.zarr@im.zarr\n  LABEL_NAME: seg.zarr@seg.zarr\n  PAD_SIZE: [0, 0, 0]\nAUGMENTOR:\n  ENABLED: False\nMODEL:\n  INPUT_SIZE: [4, 16, 16]\n  TARGET_OPT: ['0']\n  WEIGHT_OPT: [['0']]\nSOLVER:\n  SAMPLES_PER_BATCH: 1\n";
    let file = write(dir.path(), "cfg.yaml", text);
    let cfg = Config::load(&[file], ConfigMode::Train).unwrap();
    assert_eq!(cfg.input_path, dir.path());
    let names = cfg.array_names();
    assert_eq!(
        (names[0].image.as_str(), names[1].label.as_deref()),
        ("a/im.zarr", Some("b/deeper/seg.zarr"))
    );
    let mut seen = std::collections::BTreeSet::new();
    for batch in train_batches(&cfg, 8) {
        let label = batch.array("label").unwrap().as_typed::<u16>().unwrap();
        let v = label.iter().next().copied().unwrap();
        assert_eq!(
            v,
            [10, 20][batch.samples[0].volume],
            "each volume reads its own folder"
        );
        seen.insert(batch.samples[0].volume);
    }
    assert_eq!(seen.len(), 2);
    let bad = write(
        dir.path(),
        "bad.yaml",
        "DATASET:\n  INPUT_PATH: a/@b/@c/\n  IMAGE_NAME: im.zarr@im.zarr\n",
    );
    match Config::load(&[bad], ConfigMode::Train) {
        Err(Error::Config { key, reason }) => {
            assert_eq!(key, "DATASET.INPUT_PATH");
            assert!(reason.contains("3 folders"), "{reason}");
        }
        other => panic!("{:?}", other.map(|c| c.input_path)),
    }
}

#[test]
fn image_name_patterns_expand_under_input_path_in_sorted_order() {
    // PyTC's `IMAGE_NAME: '*.png'` with LOAD_2D: every matching file under INPUT_PATH, each
    // its own depth-1 volume, in Python's sorted order (so `s10` before `s2`).
    use voxload::image::{write_png, PngPixels};
    let dir = tempfile::tempdir().unwrap();
    let (im, lab) = (dir.path().join("data/im"), dir.path().join("data/lab"));
    std::fs::create_dir_all(&im).unwrap();
    std::fs::create_dir_all(&lab).unwrap();
    for (name, v) in [("s10", 10u8), ("s2", 2), ("s1", 1)] {
        write_png(
            &im.join(format!("{name}.png")),
            24,
            20,
            PngPixels::Gray8(&[v; 480]),
        )
        .unwrap();
        write_png(
            &lab.join(format!("{name}.png")),
            24,
            20,
            PngPixels::Gray8(&[v; 480]),
        )
        .unwrap();
    }
    std::fs::write(im.join("notes.tif.txt"), "not an image").unwrap();
    let text = "DATASET:\n  INPUT_PATH: data/\n  IMAGE_NAME: im/*.png\n  LABEL_NAME: lab/*.png\n  LOAD_2D: True\n  DO_2D: True\n  PAD_SIZE: [0, 0, 0]\nAUGMENTOR:\n  ENABLED: False\nMODEL:\n  INPUT_SIZE: [1, 16, 16]\nSOLVER:\n  SAMPLES_PER_BATCH: 1\n";
    let cfg = Config::load(&[write(dir.path(), "cfg.yaml", text)], ConfigMode::Train).unwrap();
    let mut by_volume = std::collections::BTreeMap::new();
    for batch in train_batches(&cfg, 12) {
        let label = batch.array("label").unwrap().as_typed::<u8>().unwrap();
        by_volume.insert(batch.samples[0].volume, *label.iter().next().unwrap());
    }
    // Volumes 0, 1, 2 are s1, s10, s2.
    let want: std::collections::BTreeMap<usize, u8> =
        [(0, 1), (1, 10), (2, 2)].into_iter().collect();
    assert_eq!(by_volume, want);
}

/// `n` samples of a configuration's training loader (one thread, no index cache).
fn train_batches(cfg: &Config, n: u64) -> Vec<voxload::loader::Batch> {
    voxload::loader::LoaderBuilder::from_config(cfg, voxload::loader::Mode::Train)
        .unwrap()
        .index_cache(None)
        .samples(n)
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
