//! The PyTC-named JSON configuration: every key changes what the validated settings build,
//! defaults are SPEC section 7's table, value forms (`1`/`0`, `2.0`, `@`), paths relative to the
//! file, and errors that name the key (with the closest valid one for a typo).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ndarray::Array3;
use serde_json::{json, Value};
use voxload::augment::{
    CutBlur, CutNoise, Elastic, Flip, Grayscale, MisAlignment, MissingParts, MissingSection,
    MotionBlur, Rescale, Rotate, Sample, TargetKind, Voxels,
};
use voxload::config::{Config, Source, KEYS};
use voxload::sampler::{sample_rng, RandomSampler, Rejection, SampleVolume, WindowSettings};
use voxload::{Bbox, Error, PadMode};

const BASE: &str = "/cfg";

/// `{"A": {"B": value}}` for the dotted key `A.B`.
fn nest(key: &str, value: Value) -> Value {
    key.rsplit('.')
        .fold(value, |inner, part| json!({ part: inner }))
}

/// Deep-merges `b` into `a`, `b` winning.
fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, b) => *slot = b,
    }
}

fn parse(value: &Value) -> voxload::Result<Config> {
    Config::from_str_at(&value.to_string(), BASE)
}

fn config(value: &Value) -> Config {
    parse(value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// The `Debug` of the transform called `name` in the list the Compose is built from.
fn transform(c: &Config, name: &str) -> String {
    c.transforms()
        .iter()
        .find(|t| t.name() == name)
        .map_or("absent".into(), |t| format!("{t:?}"))
}

/// The names of the transforms the Compose is built from, in order.
fn names(c: &Config) -> String {
    let names: Vec<&str> = c.transforms().iter().map(|t| t.name()).collect();
    format!("{names:?}")
}

/// PyTC's list minus `gone`.
fn names_without(gone: &[&str]) -> String {
    let all = [
        "Rotate",
        "Rescale",
        "Flip",
        "Elastic",
        "Grayscale",
        "MissingParts",
        "MissingSection",
        "MisAlignment",
        "MotionBlur",
        "CutBlur",
        "CutNoise",
    ];
    let kept: Vec<&str> = all.into_iter().filter(|n| !gone.contains(n)).collect();
    format!("{kept:?}")
}

fn dbg(x: impl std::fmt::Debug) -> String {
    format!("{x:?}")
}

/// The sample size the SPEC's growth formula gives for `input` under `(ratio_yx, add_z,
/// add_yx)` steps, in list order: `size = ceil(size · ratio) + 2 · add`.
fn grown(input: [usize; 3], steps: &[(f64, usize, usize)]) -> [usize; 3] {
    steps.iter().fold(input, |[z, y, x], &(r, az, ayx)| {
        let g = |n: usize| (n as f64 * r).ceil() as usize + 2 * ayx;
        [z + 2 * az, g(y), g(x)]
    })
}

/// One row per key: the value it is set to, the companion keys it needs (the base), what is
/// observed and what is expected. The base alone must observe something else.
struct Row {
    key: &'static str,
    value: Value,
    base: Value,
    observe: fn(&Config) -> String,
    expected: String,
}

fn row(
    key: &'static str,
    value: Value,
    base: Value,
    observe: fn(&Config) -> String,
    expected: String,
) -> Row {
    Row {
        key,
        value,
        base,
        observe,
        expected,
    }
}

fn rows() -> Vec<Row> {
    let none = json!({});
    let label = json!({"DATASET": {"LABEL_NAME": "seg"}});
    let chunked = json!({"DATASET": {"DO_CHUNK_TITLE": 1}});
    let rej = |r: Rejection| dbg(r);
    let cores = std::thread::available_parallelism().unwrap().get();
    vec![
        row(
            "DATASET.INPUT_PATH",
            json!("sub/em.zarr"),
            none.clone(),
            |c| dbg(&c.input_path),
            dbg(Path::new(BASE).join("sub/em.zarr")),
        ),
        row(
            "DATASET.IMAGE_NAME",
            json!("a@b"),
            none.clone(),
            |c| {
                dbg(c
                    .array_names()
                    .iter()
                    .map(|v| v.image.clone())
                    .collect::<Vec<_>>())
            },
            dbg(["a", "b"]),
        ),
        row(
            "DATASET.LABEL_NAME",
            json!("seg"),
            none.clone(),
            |c| dbg((c.keys(), &c.array_names()[0].label)),
            dbg((
                vec![
                    ("image".to_string(), TargetKind::Img),
                    ("label".into(), TargetKind::Mask),
                ],
                Some("seg"),
            )),
        ),
        row(
            "DATASET.VALID_MASK_NAME",
            json!("mask"),
            none.clone(),
            |c| dbg((c.keys(), &c.array_names()[0].valid_mask)),
            dbg((
                vec![
                    ("image".to_string(), TargetKind::Img),
                    ("valid_mask".into(), TargetKind::Mask),
                ],
                Some("mask"),
            )),
        ),
        row(
            "DATASET.PAD_SIZE",
            json!([1, 2, 3]),
            none.clone(),
            |c| c.window_settings([8, 256, 256]).pad.to_string(),
            "[1, 2, 3]".to_string(),
        ),
        row(
            "DATASET.PAD_MODE",
            json!("constant:3"),
            none.clone(),
            |c| dbg(c.window_settings([8, 256, 256]).pad_mode),
            dbg(PadMode::Constant(3.0)),
        ),
        row(
            "DATASET.VALID_RATIO",
            json!(0.25),
            none.clone(),
            |c| dbg(c.rejection()),
            rej(Rejection {
                valid_ratio: 0.25,
                ..Rejection::default()
            }),
        ),
        row(
            "DATASET.REJECT_SAMPLING.SIZE_THRES",
            json!(5),
            label.clone(),
            |c| dbg(c.rejection()),
            rej(Rejection {
                size_thres: 5,
                ..Rejection::default()
            }),
        ),
        row(
            "DATASET.REJECT_SAMPLING.DIVERSITY",
            json!(3),
            label.clone(),
            |c| dbg(c.rejection()),
            rej(Rejection {
                diversity: 3,
                ..Rejection::default()
            }),
        ),
        row(
            "DATASET.REJECT_SAMPLING.P",
            json!(0.5),
            none.clone(),
            |c| dbg(c.rejection()),
            rej(Rejection {
                p: 0.5,
                ..Rejection::default()
            }),
        ),
        row(
            "DATASET.REJECT_SAMPLING.NUM_TRIAL",
            json!(7),
            none.clone(),
            |c| dbg(c.rejection()),
            rej(Rejection {
                num_trial: 7,
                ..Rejection::default()
            }),
        ),
        row(
            "DATASET.IMAGE_SCALE_LEVEL",
            json!(1),
            json!({"DATASET": {"IMAGE_NAME": "raw", "INPUT_PATH":
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ome-levels.zarr")}}),
            |c| dbg(&c.array_names()[0].image),
            dbg("raw/s1"),
        ),
        row(
            "SYSTEM.CHUNK_CACHE_BYTES",
            json!(1 << 20),
            none.clone(),
            |c| dbg(c.chunk_cache_bytes),
            dbg(1u64 << 20),
        ),
        row(
            "DATASET.REJECT_SAMPLING.STRICT",
            json!(true),
            none.clone(),
            |c| dbg(c.rejection()),
            rej(Rejection {
                strict: true,
                ..Rejection::default()
            }),
        ),
        row(
            "DATASET.DO_CHUNK_TITLE",
            json!(1),
            none.clone(),
            |c| {
                dbg(c
                    .chunk_schedule([100, 800, 800], true)
                    .unwrap()
                    .map(|s| s.chunk_box(0)))
            },
            // One chunk: the whole volume grown by PAD_SIZE.
            dbg(Some(
                Bbox::from_bounds([-2, -64, -64], [102, 864, 864]).unwrap(),
            )),
        ),
        row(
            "DATASET.DATA_CHUNK_NUM",
            json!([1, 2, 2]),
            chunked.clone(),
            |c| {
                dbg(c
                    .chunk_schedule([100, 800, 800], true)
                    .unwrap()
                    .map(|s| s.len()))
            },
            dbg(Some(4)),
        ),
        row(
            "DATASET.DATA_COORD_RANGE",
            json!([10, 50, 0, 800, 100, 500]),
            json!({"DATASET": {"DO_CHUNK_TITLE": 1, "DATA_CHUNK_NUM": [1, 1, 2], "DATA_CHUNK_STRIDE": false}}),
            |c| {
                dbg(c
                    .chunk_schedule([100, 800, 800], true)
                    .unwrap()
                    .map(|s| s.unpadded_box(1)))
            },
            // PyTC's get_range_axis: chunk 1 of 2 along x spans [100 + 200, 100 + 400).
            dbg(Some(
                Bbox::from_bounds([10, 0, 300], [50, 800, 500]).unwrap(),
            )),
        ),
        row(
            "DATASET.DATA_CHUNK_IND",
            json!([1, 3]),
            json!({"DATASET": {"DO_CHUNK_TITLE": 1, "DATA_CHUNK_NUM": [1, 2, 2]}}),
            |c| {
                dbg(c
                    .chunk_schedule([100, 800, 800], true)
                    .unwrap()
                    .map(|s| s.ids().to_vec()))
            },
            dbg(Some(vec![1u64, 3])),
        ),
        row(
            "DATASET.CHUNK_IND_SPLIT",
            json!("1-3"),
            json!({"DATASET": {"DO_CHUNK_TITLE": 1, "DATA_CHUNK_NUM": [1, 2, 4]}}),
            |c| {
                dbg(c
                    .chunk_schedule([100, 800, 800], true)
                    .unwrap()
                    .map(|s| s.ids().to_vec()))
            },
            // PyTC: 8 chunks, 8 // 3 = 2 per job, job 1 takes [2, 4); the last job the rest.
            dbg(Some(vec![2u64, 3])),
        ),
        row(
            "DATASET.DATA_CHUNK_ITER",
            json!(10),
            chunked.clone(),
            |c| dbg(c.chunks.iterations),
            dbg(10),
        ),
        row(
            "DATASET.DATA_CHUNK_STRIDE",
            json!(false),
            json!({"DATASET": {"DO_CHUNK_TITLE": 1, "DATA_CHUNK_NUM": [2, 1, 1]}}),
            |c| {
                dbg(c
                    .chunk_schedule([100, 800, 800], true)
                    .unwrap()
                    .map(|s| s.unpadded_box(0)))
            },
            // Without stride chunk 0 of 2 is [0, 50); with it, [0, floor(2·100/3)).
            dbg(Some(Bbox::from_bounds([0, 0, 0], [50, 800, 800]).unwrap())),
        ),
        row(
            "DATASET.DO_2D",
            json!(true),
            none.clone(),
            |c| {
                let compose = c.compose().unwrap();
                let w = c.window_settings(compose.sample_size());
                dbg((
                    compose.input_size(),
                    compose.sample_size()[0],
                    w.is_2d(),
                    names(c),
                ))
            },
            dbg((
                [1, 256, 256],
                1,
                true,
                names_without(&["MissingSection", "MisAlignment"]),
            )),
        ),
        row(
            "DATASET.MEAN",
            json!(0.25),
            none.clone(),
            |c| dbg(c.intensity.mean),
            dbg(0.25f32),
        ),
        row(
            "DATASET.STD",
            json!(0.2),
            none.clone(),
            |c| dbg(c.intensity.std),
            dbg(0.2f32),
        ),
        row(
            "DATASET.MATCH_ACT",
            json!("tanh"),
            none.clone(),
            |c| dbg(c.intensity.match_act),
            dbg(voxload::loader::MatchAct::Tanh),
        ),
        row(
            "DATASET.NORMALIZE_RANGE",
            json!(false),
            none.clone(),
            |c| dbg(c.intensity.normalize_range),
            dbg(false),
        ),
        row(
            "MODEL.TARGET_OPT",
            json!(["2"]),
            label.clone(),
            |c| {
                dbg(c
                    .learning
                    .targets
                    .iter()
                    .map(|t| t.target.clone())
                    .collect::<Vec<_>>())
            },
            dbg(vec!["2".parse::<voxload::target::TargetOpt>().unwrap()]),
        ),
        row(
            "MODEL.WEIGHT_OPT",
            json!([["0", "1"]]),
            label.clone(),
            |c| dbg(c.learning.keys()),
            dbg(vec!["target_0", "weight_0_0", "weight_0_1"]),
        ),
        row(
            "MODEL.OUTPUT_SIZE",
            json!([8, 128, 128]),
            label.clone(),
            |c| dbg(c.learning.output_size),
            dbg(Some([8usize, 128, 128])),
        ),
        row(
            "MODEL.LABEL_EROSION",
            json!(2),
            label.clone(),
            |c| dbg(&c.learning.erosion),
            dbg(vec![Some(2usize)]),
        ),
        row(
            "MODEL.LABEL_DILATION",
            json!([1]),
            label.clone(),
            |c| dbg(&c.learning.dilation),
            dbg(vec![Some(1usize)]),
        ),
        row(
            "DATASET.LOAD_2D",
            json!(true),
            none.clone(),
            |c| dbg(c.load_2d),
            dbg(true),
        ),
        row(
            "MODEL.INPUT_SIZE",
            json!([4, 64, 64]),
            none.clone(),
            |c| dbg(c.compose().unwrap().input_size()),
            dbg([4, 64, 64]),
        ),
        row(
            "INFERENCE.STRIDE",
            json!([8, 256, 256]),
            none.clone(),
            // Per axis 1 + ceil((D − d) / stride) windows: 2 · 2 · 2 (default stride: 3 · 3 · 3).
            |c| dbg(c.grid(vec![[16, 512, 512]]).unwrap().len()),
            dbg(8),
        ),
        row(
            "DATASET.DATA_SCALE",
            json!([1.0, 0.5, 0.5]),
            none.clone(),
            |c| dbg(c.scales.valid_mask),
            dbg([1.0, 0.5, 0.5]),
        ),
        row(
            "DATASET.IMAGE_SCALE",
            json!([1.0, 2.0, 2.0]),
            none.clone(),
            |c| dbg(c.scales.image),
            dbg([1.0, 2.0, 2.0]),
        ),
        row(
            "DATASET.LABEL_SCALE",
            json!([2.0, 1.0, 1.0]),
            none.clone(),
            |c| dbg(c.scales.label),
            dbg([2.0, 1.0, 1.0]),
        ),
        row(
            "DATASET.VALID_MASK_SCALE",
            json!([1.0, 1.0, 0.25]),
            none.clone(),
            |c| dbg(c.scales.valid_mask),
            dbg([1.0, 1.0, 0.25]),
        ),
        row(
            "DATASET.REDUCE_LABEL",
            json!(false),
            none.clone(),
            |c| dbg(c.reduce_label),
            dbg(false),
        ),
        row(
            "DATASET.LABEL_BINARY",
            json!(true),
            none.clone(),
            |c| dbg(c.label_binary),
            dbg(true),
        ),
        row(
            "DATASET.LABEL_MAG",
            json!(255),
            none.clone(),
            |c| dbg(c.label_mag),
            dbg(Some(255.0)),
        ),
        row(
            "INFERENCE.BLENDING",
            json!("bump"),
            none.clone(),
            |c| c.blending.clone(),
            "bump".into(),
        ),
        row(
            "INFERENCE.OUTPUT_SCALE",
            json!([1.0, 0.5, 0.25]),
            none.clone(),
            |c| dbg(c.output_scale),
            dbg([1.0, 0.5, 0.25]),
        ),
        row(
            "INFERENCE.UNPAD",
            json!(false),
            none.clone(),
            |c| dbg(c.unpad),
            dbg(false),
        ),
        row(
            "INFERENCE.DO_SINGLY_START_INDEX",
            json!(3),
            none.clone(),
            |c| dbg(c.singly_range),
            dbg((3u64, 1i64)),
        ),
        row(
            "INFERENCE.DO_SINGLY_STEP",
            json!(-2),
            none.clone(),
            |c| dbg(c.singly_range),
            dbg((0u64, -2i64)),
        ),
        row(
            "DATASET.ENSURE_MIN_SIZE",
            json!(true),
            none.clone(),
            |c| dbg(c.ensure_min_size),
            dbg(true),
        ),
        row(
            "INFERENCE.DO_SINGLY",
            json!(1),
            none.clone(),
            |c| dbg(c.do_singly),
            dbg(true),
        ),
        row(
            "SYSTEM.NUM_CPUS",
            json!(cores + 1),
            none.clone(),
            |c| dbg(c.num_cpus),
            dbg(cores + 1),
        ),
        row(
            "SOLVER.SAMPLES_PER_BATCH",
            json!(5),
            none.clone(),
            |c| dbg(c.samples_per_batch),
            dbg(5),
        ),
        row(
            "AUGMENTOR.ENABLED",
            json!(0),
            none.clone(),
            |c| {
                let compose = c.compose().unwrap();
                dbg((
                    compose.is_enabled(),
                    compose.sample_size(),
                    c.transforms().len(),
                ))
            },
            dbg((false, [8, 256, 256], 0)),
        ),
        row(
            "AUGMENTOR.SMOOTH",
            json!(true),
            json!({"DATASET": {"LABEL_NAME": "seg"}}),
            |c| dbg(smoothing_erases_a_dot(c)),
            dbg(true),
        ),
        row(
            "AUGMENTOR.ADDITIONAL_TARGETS_NAME",
            json!(["aff"]),
            json!({"DATASET": {"LABEL_NAME": "seg"},
                   "AUGMENTOR": {"ADDITIONAL_TARGETS_NAME": ["label"], "ADDITIONAL_TARGETS_TYPE": ["mask"]}}),
            |c| dbg((c.keys(), &c.array_names()[0].targets)),
            dbg((
                vec![
                    ("image".to_string(), TargetKind::Img),
                    ("label".into(), TargetKind::Mask),
                    ("aff".into(), TargetKind::Mask),
                ],
                vec![("aff".to_string(), "aff".to_string())],
            )),
        ),
        row(
            "AUGMENTOR.ADDITIONAL_TARGETS_TYPE",
            json!(["img"]),
            json!({"AUGMENTOR": {"ADDITIONAL_TARGETS_NAME": ["aff"], "ADDITIONAL_TARGETS_TYPE": ["mask"]}}),
            |c| dbg(c.compose().unwrap().targets().get("aff").copied()),
            dbg(Some(TargetKind::Img)),
        ),
        // Transform sections: ENABLED removes the transform from the Compose's list; the
        // parameters reach the transform the Compose is built from.
        row(
            "AUGMENTOR.ROTATE.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["Rotate"]),
        ),
        row(
            "AUGMENTOR.ROTATE.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "Rotate"),
            dbg(Rotate {
                p: 0.25,
                ..Rotate::default()
            }),
        ),
        row(
            "AUGMENTOR.ROTATE.ROT90",
            json!(0),
            none.clone(),
            |c| dbg(c.compose().unwrap().sample_size()),
            // Rotate by any angle grows y, x by 1.42 first.
            dbg(grown(
                [8, 256, 256],
                &[
                    (1.42, 0, 0),
                    (1.25, 0, 0),
                    (1.0, 0, 17),
                    (1.0, 1, 0),
                    (1.0, 0, 8),
                ],
            )),
        ),
        row(
            "AUGMENTOR.RESCALE.ENABLED",
            json!(false),
            none.clone(),
            |c| dbg((names(c), c.compose().unwrap().sample_size())),
            dbg((
                names_without(&["Rescale"]),
                grown([8, 256, 256], &[(1.0, 0, 17), (1.0, 1, 0), (1.0, 0, 8)]),
            )),
        ),
        row(
            "AUGMENTOR.RESCALE.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "Rescale"),
            dbg(Rescale {
                p: 0.25,
                ..Rescale::default()
            }),
        ),
        row(
            "AUGMENTOR.RESCALE.FIX_ASPECT",
            json!(1),
            none.clone(),
            |c| transform(c, "Rescale"),
            dbg(Rescale {
                fix_aspect: true,
                ..Rescale::default()
            }),
        ),
        row(
            "AUGMENTOR.FLIP.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["Flip"]),
        ),
        row(
            "AUGMENTOR.FLIP.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "Flip"),
            dbg(Flip {
                p: 0.25,
                ..Flip::default()
            }),
        ),
        row(
            "AUGMENTOR.FLIP.DO_ZTRANS",
            json!(1),
            json!({"MODEL": {"INPUT_SIZE": [16, 64, 16]}}),
            |c| transform(c, "Flip"),
            dbg(Flip {
                do_ztrans: true,
                ..Flip::default()
            }),
        ),
        row(
            "AUGMENTOR.ELASTIC.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["Elastic"]),
        ),
        row(
            "AUGMENTOR.ELASTIC.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "Elastic"),
            dbg(Elastic {
                p: 0.25,
                ..Elastic::default()
            }),
        ),
        row(
            "AUGMENTOR.ELASTIC.ALPHA",
            json!(4.0),
            none.clone(),
            |c| dbg((transform(c, "Elastic"), c.compose().unwrap().sample_size())),
            dbg((
                dbg(Elastic {
                    alpha: 4.0,
                    ..Elastic::default()
                }),
                grown(
                    [8, 256, 256],
                    &[(1.25, 0, 0), (1.0, 0, 5), (1.0, 1, 0), (1.0, 0, 8)],
                ),
            )),
        ),
        row(
            "AUGMENTOR.ELASTIC.SIGMA",
            json!(2),
            none.clone(),
            |c| transform(c, "Elastic"),
            dbg(Elastic {
                sigma: 2.0,
                ..Elastic::default()
            }),
        ),
        row(
            "AUGMENTOR.GRAYSCALE.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["Grayscale"]),
        ),
        row(
            "AUGMENTOR.GRAYSCALE.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "Grayscale"),
            dbg(Grayscale {
                p: 0.25,
                ..Grayscale::default()
            }),
        ),
        row(
            "AUGMENTOR.MISSINGPARTS.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["MissingParts"]),
        ),
        row(
            "AUGMENTOR.MISSINGPARTS.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "MissingParts"),
            dbg(MissingParts {
                p: 0.25,
                ..MissingParts::default()
            }),
        ),
        row(
            "AUGMENTOR.MISSINGPARTS.ITER",
            json!(8),
            none.clone(),
            |c| transform(c, "MissingParts"),
            dbg(MissingParts {
                iterations: 8,
                ..MissingParts::default()
            }),
        ),
        row(
            "AUGMENTOR.MISSINGSECTION.ENABLED",
            json!(false),
            none.clone(),
            |c| dbg((names(c), c.compose().unwrap().sample_size()[0])),
            dbg((names_without(&["MissingSection"]), 8)),
        ),
        row(
            "AUGMENTOR.MISSINGSECTION.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "MissingSection"),
            dbg(MissingSection {
                p: 0.25,
                ..MissingSection::default()
            }),
        ),
        row(
            "AUGMENTOR.MISSINGSECTION.NUM_SECTION",
            json!(5),
            none.clone(),
            |c| {
                dbg((
                    transform(c, "MissingSection"),
                    c.compose().unwrap().sample_size()[0],
                ))
            },
            // z grows by ceil(5 / 2) on each side.
            dbg((
                dbg(MissingSection {
                    num_sections: 5,
                    ..MissingSection::default()
                }),
                8 + 2 * 3,
            )),
        ),
        row(
            "AUGMENTOR.MISALIGNMENT.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["MisAlignment"]),
        ),
        row(
            "AUGMENTOR.MISALIGNMENT.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "MisAlignment"),
            dbg(MisAlignment {
                p: 0.25,
                ..MisAlignment::default()
            }),
        ),
        row(
            "AUGMENTOR.MISALIGNMENT.DISPLACEMENT",
            json!(4),
            none.clone(),
            |c| {
                dbg((
                    transform(c, "MisAlignment"),
                    c.compose().unwrap().sample_size(),
                ))
            },
            dbg((
                dbg(MisAlignment {
                    displacement: 4,
                    ..MisAlignment::default()
                }),
                grown(
                    [8, 256, 256],
                    &[(1.25, 0, 0), (1.0, 0, 17), (1.0, 1, 0), (1.0, 0, 2)],
                ),
            )),
        ),
        row(
            "AUGMENTOR.MISALIGNMENT.ROTATE_RATIO",
            json!(0.125),
            none.clone(),
            |c| transform(c, "MisAlignment"),
            dbg(MisAlignment {
                rotate_ratio: 0.125,
                ..MisAlignment::default()
            }),
        ),
        row(
            "AUGMENTOR.MOTIONBLUR.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["MotionBlur"]),
        ),
        row(
            "AUGMENTOR.MOTIONBLUR.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "MotionBlur"),
            dbg(MotionBlur {
                p: 0.25,
                ..MotionBlur::default()
            }),
        ),
        row(
            "AUGMENTOR.MOTIONBLUR.SECTIONS",
            json!(4),
            none.clone(),
            |c| transform(c, "MotionBlur"),
            dbg(MotionBlur {
                sections: 4,
                ..MotionBlur::default()
            }),
        ),
        row(
            "AUGMENTOR.MOTIONBLUR.KERNEL_SIZE",
            json!(5),
            none.clone(),
            |c| transform(c, "MotionBlur"),
            dbg(MotionBlur {
                kernel_size: 5,
                ..MotionBlur::default()
            }),
        ),
        row(
            "AUGMENTOR.CUTBLUR.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["CutBlur"]),
        ),
        row(
            "AUGMENTOR.CUTBLUR.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "CutBlur"),
            dbg(CutBlur {
                p: 0.25,
                ..CutBlur::default()
            }),
        ),
        row(
            "AUGMENTOR.CUTBLUR.LENGTH_RATIO",
            json!(0.5),
            none.clone(),
            |c| transform(c, "CutBlur"),
            dbg(CutBlur {
                length_ratio: 0.5,
                ..CutBlur::default()
            }),
        ),
        row(
            "AUGMENTOR.CUTBLUR.DOWN_RATIO_MIN",
            json!(3),
            none.clone(),
            |c| transform(c, "CutBlur"),
            dbg(CutBlur {
                down_ratio_min: 3.0,
                ..CutBlur::default()
            }),
        ),
        row(
            "AUGMENTOR.CUTBLUR.DOWN_RATIO_MAX",
            json!(4),
            none.clone(),
            |c| transform(c, "CutBlur"),
            dbg(CutBlur {
                down_ratio_max: 4.0,
                ..CutBlur::default()
            }),
        ),
        row(
            "AUGMENTOR.CUTBLUR.DOWNSAMPLE_Z",
            json!(1),
            none.clone(),
            |c| transform(c, "CutBlur"),
            dbg(CutBlur {
                downsample_z: true,
                ..CutBlur::default()
            }),
        ),
        row(
            "AUGMENTOR.CUTNOISE.ENABLED",
            json!(false),
            none.clone(),
            names,
            names_without(&["CutNoise"]),
        ),
        row(
            "AUGMENTOR.CUTNOISE.P",
            json!(0.25),
            none.clone(),
            |c| transform(c, "CutNoise"),
            dbg(CutNoise {
                p: 0.25,
                ..CutNoise::default()
            }),
        ),
        row(
            "AUGMENTOR.CUTNOISE.LENGTH_RATIO",
            json!(0.5),
            none.clone(),
            |c| transform(c, "CutNoise"),
            dbg(CutNoise {
                length_ratio: 0.5,
                ..CutNoise::default()
            }),
        ),
        row(
            "AUGMENTOR.CUTNOISE.SCALE",
            json!(0.5),
            none,
            |c| transform(c, "CutNoise"),
            dbg(CutNoise {
                scale: 0.5,
                ..CutNoise::default()
            }),
        ),
    ]
}

/// Whether the config's Compose, with every transform switched off, erases a one-voxel label:
/// only label smoothing (Gaussian σ 2, threshold 0.5) does that.
fn smoothing_erases_a_dot(c: &Config) -> bool {
    let mut c = c.clone();
    c.input_size = [1, 16, 16];
    c.augment = voxload::config::Augmentation {
        enabled: true,
        smooth: c.augment.smooth,
        ..voxload::config::Augmentation::default()
    };
    let a = &mut c.augment;
    for enabled in [
        &mut a.rotate.enabled,
        &mut a.rescale.enabled,
        &mut a.flip.enabled,
        &mut a.elastic.enabled,
        &mut a.grayscale.enabled,
        &mut a.missing_parts.enabled,
        &mut a.missing_section.enabled,
        &mut a.misalignment.enabled,
        &mut a.motion_blur.enabled,
        &mut a.cut_blur.enabled,
        &mut a.cut_noise.enabled,
    ] {
        *enabled = false;
    }
    let compose = c.compose().unwrap();
    assert_eq!(compose.sample_size(), [1, 16, 16]);
    let mut dot = Array3::<u16>::zeros((1, 16, 16));
    dot[[0, 8, 8]] = 1;
    let sample = Sample::new(Array3::zeros((1, 16, 16))).with("label", Voxels::U16(dot));
    let mut out = compose.apply(sample, &mut sample_rng(0, 0, 0)).unwrap();
    out.get("label")
        .unwrap()
        .to_f64_vec()
        .iter()
        .all(|&v| v == 0.0)
}

#[test]
fn config_every_key_changes_behaviour() {
    let rows = rows();
    let covered: BTreeSet<&str> = rows.iter().map(|r| r.key).collect();
    let keys: BTreeSet<&str> = KEYS.iter().copied().collect();
    assert_eq!(
        covered, keys,
        "the table must cover exactly the documented keys"
    );
    assert_eq!(rows.len(), KEYS.len(), "one row per key");
    for r in rows {
        let mut json = r.base.clone();
        merge(&mut json, nest(r.key, r.value.clone()));
        let set = (r.observe)(&config(&json));
        assert_eq!(set, r.expected, "{} = {}", r.key, r.value);
        let unset = (r.observe)(&config(&r.base));
        assert_ne!(
            unset, r.expected,
            "{}: the base already gives the expectation",
            r.key
        );
    }
}

#[test]
fn config_defaults_are_the_spec_table() {
    let c = config(&json!({}));
    assert_eq!(c.input_path, Path::new(BASE));
    assert_eq!(c.array_names().len(), 1);
    assert_eq!(c.array_names()[0].image, "image");
    assert_eq!(
        (
            c.array_names()[0].label.clone(),
            c.array_names()[0].valid_mask.clone()
        ),
        (None, None)
    );
    assert_eq!(c.input_size, [8, 256, 256]);
    assert_eq!(
        (c.pad_size, c.pad_mode),
        ([2, 64, 64].into(), PadMode::Reflect)
    );
    assert_eq!(
        c.rejection(),
        Rejection {
            size_thres: -1,
            diversity: -1,
            p: 0.95,
            num_trial: 50,
            strict: false,
            valid_ratio: 0.5,
        }
    );
    assert!(!c.chunks.enabled);
    assert_eq!(
        (c.chunks.num, c.chunks.iterations, c.chunks.stride),
        ([1, 1, 1], 1000, true)
    );
    assert_eq!((c.do_2d, c.load_2d), (false, false));
    assert_eq!((c.stride, c.do_singly), ([4, 128, 128], false));
    assert_eq!(
        c.num_cpus,
        std::thread::available_parallelism().unwrap().get()
    );
    assert_eq!(c.samples_per_batch, 2);
    assert_eq!((c.augment.enabled, c.augment.smooth), (true, false));
    assert_eq!(c.keys(), vec![("image".to_string(), TargetKind::Img)]);
    // Every transform enabled with section 5's parameters, in PyTC's list order: the Compose
    // reads SPEC section 5's [10, 370, 370] for [8, 256, 256].
    assert_eq!(names(&c), names_without(&[]));
    let a = &c.augment;
    assert_eq!(
        a.rotate.transform,
        Rotate {
            p: 1.0,
            rot90: true
        }
    );
    assert_eq!(
        (a.rescale.transform.p, a.rescale.transform.fix_aspect),
        (0.5, false)
    );
    assert_eq!(
        a.flip.transform,
        Flip {
            p: 1.0,
            do_ztrans: false
        }
    );
    assert_eq!(
        a.elastic.transform,
        Elastic {
            p: 0.75,
            alpha: 16.0,
            sigma: 4.0
        }
    );
    assert_eq!(a.grayscale.transform.p, 0.75);
    assert_eq!(
        a.missing_parts.transform,
        MissingParts {
            p: 0.9,
            iterations: 64
        }
    );
    assert_eq!(
        a.missing_section.transform,
        MissingSection {
            p: 0.5,
            num_sections: 2
        }
    );
    assert_eq!(
        a.misalignment.transform,
        MisAlignment {
            p: 0.5,
            displacement: 16,
            rotate_ratio: 0.5
        }
    );
    assert_eq!(
        a.motion_blur.transform,
        MotionBlur {
            p: 0.5,
            sections: 2,
            kernel_size: 11
        }
    );
    assert_eq!(
        a.cut_blur.transform,
        CutBlur {
            p: 0.5,
            length_ratio: 0.4,
            down_ratio_min: 2.0,
            down_ratio_max: 8.0,
            downsample_z: false
        }
    );
    assert_eq!(
        a.cut_noise.transform,
        CutNoise {
            p: 0.75,
            length_ratio: 0.4,
            scale: 0.3
        }
    );
    let compose = c.compose().unwrap();
    assert_eq!(compose.sample_size(), [10, 370, 370]);
    assert_eq!(
        c.window_settings(compose.sample_size()),
        WindowSettings {
            sample: [10, 370, 370],
            ..WindowSettings::default()
        }
    );
    // Config::default() is an empty file in the current directory.
    let mut here = config(&json!({}));
    here.input_path = PathBuf::from(".");
    assert_eq!(Config::default(), here);
}

#[test]
fn config_booleans_accept_one_and_zero_and_integers_accept_integral_floats() {
    let c = config(&json!({
        "DATASET": {"DO_2D": 1, "DATA_CHUNK_STRIDE": 0, "REJECT_SAMPLING": {"NUM_TRIAL": 7.0}},
        "AUGMENTOR": {"SMOOTH": 1, "ROTATE": {"ENABLED": 0}}
    }));
    assert!(c.do_2d && !c.chunks.stride && c.augment.smooth && !c.augment.rotate.enabled);
    assert_eq!(c.rejection().num_trial, 7);
    let same = config(&json!({
        "DATASET": {"DO_2D": true, "DATA_CHUNK_STRIDE": false, "REJECT_SAMPLING": {"NUM_TRIAL": 7}},
        "AUGMENTOR": {"SMOOTH": true, "ROTATE": {"ENABLED": false}}
    }));
    assert_eq!(c, same);
    for bad in [json!(2), json!("true"), json!(0.5)] {
        let err = parse(&nest("DATASET.DO_2D", bad.clone())).unwrap_err();
        assert_config_error(&err, "DATASET.DO_2D", "expected a boolean");
    }
    let err = parse(&nest("DATASET.REJECT_SAMPLING.NUM_TRIAL", json!(7.5))).unwrap_err();
    assert_config_error(
        &err,
        "DATASET.REJECT_SAMPLING.NUM_TRIAL",
        "expected an integer",
    );
}

#[test]
fn config_at_separated_names_list_several_volumes() {
    let c = config(&json!({"DATASET": {
        "IMAGE_NAME": "im0@im1@im2",
        "LABEL_NAME": ["seg0", "seg1", "seg2"],
        "VALID_MASK_NAME": "m0@m1@m2"
    }}));
    let volumes = c.array_names();
    assert_eq!(volumes.len(), 3);
    for (i, v) in volumes.iter().enumerate() {
        assert_eq!(v.image, format!("im{i}"));
        assert_eq!(v.label.as_deref(), Some(format!("seg{i}").as_str()));
        assert_eq!(v.valid_mask.as_deref(), Some(format!("m{i}").as_str()));
    }
    // A list and the @ form are the same configuration.
    let list = config(&json!({"DATASET": {
        "IMAGE_NAME": ["im0", "im1", "im2"],
        "LABEL_NAME": "seg0@seg1@seg2",
        "VALID_MASK_NAME": ["m0", "m1", "m2"]
    }}));
    assert_eq!(c, list);
}

#[test]
fn config_name_counts_must_agree() {
    let err = parse(&json!({"DATASET": {"IMAGE_NAME": "a@b", "LABEL_NAME": "x"}})).unwrap_err();
    assert_config_error(&err, "DATASET.LABEL_NAME", "DATASET.IMAGE_NAME");
    assert!(
        err.to_string().contains("names 1 volumes") && err.to_string().contains("names 2"),
        "{err}"
    );
    let err =
        parse(&json!({"DATASET": {"IMAGE_NAME": ["a"], "VALID_MASK_NAME": "x@y"}})).unwrap_err();
    assert_config_error(&err, "DATASET.VALID_MASK_NAME", "DATASET.IMAGE_NAME");
    let err = parse(&json!({"AUGMENTOR": {
        "ADDITIONAL_TARGETS_NAME": ["a", "b"], "ADDITIONAL_TARGETS_TYPE": ["img"]
    }}))
    .unwrap_err();
    assert_config_error(
        &err,
        "AUGMENTOR.ADDITIONAL_TARGETS_NAME",
        "AUGMENTOR.ADDITIONAL_TARGETS_TYPE",
    );
}

#[test]
fn config_paths_are_relative_to_the_files_folder() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("runs/a");
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("train.json");
    std::fs::write(
        &file,
        json!({"DATASET": {"INPUT_PATH": "../em.zarr"}}).to_string(),
    )
    .unwrap();
    let c = Config::from_file(&file).unwrap();
    assert_eq!(c.input_path, folder.join("../em.zarr"));

    // No INPUT_PATH: the file's own folder; an absolute path stays as it is.
    std::fs::write(&file, "{}").unwrap();
    assert_eq!(Config::from_file(&file).unwrap().input_path, folder);
    std::fs::write(
        &file,
        json!({"DATASET": {"INPUT_PATH": "/abs/em.zarr"}}).to_string(),
    )
    .unwrap();
    assert_eq!(
        Config::from_file(&file).unwrap().input_path,
        Path::new("/abs/em.zarr")
    );

    // A .txt image list streams 2D images, resolved against the file's folder too.
    let text = json!({"DATASET": {"IMAGE_NAME": "lists/im.txt", "LABEL_NAME": "lists/seg.txt", "DO_2D": 1}});
    std::fs::write(&file, text.to_string()).unwrap();
    let c = Config::from_file(&file).unwrap();
    assert_eq!(
        c.source,
        Source::Images {
            images: folder.join("lists/im.txt"),
            labels: Some(folder.join("lists/seg.txt")),
            valid_masks: None,
        }
    );
    assert!(c.load_2d && c.array_names().is_empty());
    assert_eq!(c.keys().len(), 2);
}

#[test]
fn config_txt_lists_go_together() {
    let err =
        parse(&json!({"DATASET": {"IMAGE_NAME": "im.txt", "LABEL_NAME": "seg"}})).unwrap_err();
    assert_config_error(&err, "DATASET.LABEL_NAME", ".txt");
    let err = parse(&json!({"DATASET": {"IMAGE_NAME": "a@b.txt"}})).unwrap_err();
    assert_config_error(&err, "DATASET.IMAGE_NAME", ".txt");
    let err = parse(&json!({"DATASET": {"IMAGE_NAME": "im.txt"},
        "AUGMENTOR": {"ADDITIONAL_TARGETS_NAME": ["aff"], "ADDITIONAL_TARGETS_TYPE": ["img"]}}))
    .unwrap_err();
    assert_config_error(&err, "AUGMENTOR.ADDITIONAL_TARGETS_NAME", "aff");
}

#[test]
fn config_typo_names_the_key_and_the_closest_valid_one() {
    for (json, key, hint) in [
        (
            json!({"DATASET": {"PAD_SZE": [2, 64, 64]}}),
            "DATASET.PAD_SZE",
            "DATASET.PAD_SIZE",
        ),
        (
            json!({"AUGMENTOR": {"ROTATE": {"ROT_90": 1}}}),
            "AUGMENTOR.ROTATE.ROT_90",
            "AUGMENTOR.ROTATE.ROT90",
        ),
        (
            json!({"DATASET": {"REJECT_SAMPLING": {"SIZE_THRESH": 5}}}),
            "DATASET.REJECT_SAMPLING.SIZE_THRESH",
            "DATASET.REJECT_SAMPLING.SIZE_THRES",
        ),
        // A key in the wrong section, a section at the wrong level, lower case.
        (
            json!({"DATASET": {"INPUT_SIZE": [8, 256, 256]}}),
            "DATASET.INPUT_SIZE",
            "MODEL.INPUT_SIZE",
        ),
        (json!({"ROTATE": {"P": 0.5}}), "ROTATE", "AUGMENTOR.ROTATE"),
        (
            json!({"solver": {"samples_per_batch": 4}}),
            "solver",
            "SOLVER",
        ),
        (
            json!({"AUGMENTOR": {"CUTNOISE": {"SCALLE": 0.1}}}),
            "AUGMENTOR.CUTNOISE.SCALLE",
            "AUGMENTOR.CUTNOISE.SCALE",
        ),
    ] {
        let err = parse(&json).unwrap_err();
        assert_config_error(&err, key, &format!("did you mean {hint}?"));
    }
    // From a file, the message also names the file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cfg.json");
    std::fs::write(&file, r#"{"DATASET": {"PAD_SZE": [2, 64, 64]}}"#).unwrap();
    let message = Config::from_file(&file).unwrap_err().to_string();
    assert!(
        message.contains("DATASET.PAD_SZE") && message.contains("cfg.json"),
        "{message}"
    );
}

#[test]
fn config_wrong_types_name_the_key_and_the_expected_type() {
    for (key, value, expected) in [
        ("DATASET.PAD_SIZE", json!("2,64,64"), "a list of integers"),
        ("DATASET.PAD_SIZE", json!([2, 64]), "three integers"),
        (
            "MODEL.INPUT_SIZE",
            json!([8, 256.5, 256]),
            "a list of integers",
        ),
        ("MODEL.INPUT_SIZE", json!([0, 256, 256]), "at least 1"),
        ("DATASET.PAD_MODE", json!("mirror"), "reflect"),
        ("DATASET.PAD_MODE", json!(1), "a string"),
        (
            "DATASET.IMAGE_NAME",
            json!(3),
            "a string or a list of strings",
        ),
        ("DATASET.IMAGE_NAME", json!("a@@b"), "empty"),
        ("DATASET.INPUT_PATH", json!(["a"]), "a string"),
        ("DATASET.REJECT_SAMPLING.P", json!("0.5"), "a number"),
        ("DATASET.REJECT_SAMPLING.P", json!(1.5), "[0, 1]"),
        ("AUGMENTOR.ELASTIC.SIGMA", json!(0), "positive"),
        ("AUGMENTOR.ROTATE.ROT90", json!("yes"), "a boolean"),
        (
            "AUGMENTOR.ADDITIONAL_TARGETS_TYPE",
            json!({"a": 1}),
            "a string or a list of strings",
        ),
        ("SOLVER.SAMPLES_PER_BATCH", json!(0), "at least 1"),
        ("DATASET.REJECT_SAMPLING", json!(5), "expected an object"),
    ] {
        let err = parse(&nest(key, value.clone())).unwrap_err();
        assert_config_error(&err, key, expected);
    }
    // Not JSON, not an object, or a key set twice in one object: a parse error.
    let twice = r#"{"DATASET": {"DO_2D": 1}, "DATASET": {"PAD_SIZE": [0, 0, 0]}}"#;
    match Config::from_str_at(twice, BASE) {
        Err(Error::Parse { reason, .. }) => assert!(reason.contains("`DATASET` appears twice")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Config::from_str_at("{", BASE),
        Err(Error::Parse { .. })
    ));
    assert!(matches!(
        Config::from_str_at("[1]", BASE),
        Err(Error::Parse { .. })
    ));
    // An unreadable file: an I/O error naming it.
    let missing = Path::new("/nonexistent/voxload/cfg.json");
    match Config::from_file(missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_contradictions_are_errors() {
    let err = parse(&nest("DATASET.REJECT_SAMPLING.SIZE_THRES", json!(10))).unwrap_err();
    assert_config_error(
        &err,
        "DATASET.REJECT_SAMPLING.SIZE_THRES",
        "DATASET.LABEL_NAME",
    );
    let err = parse(&nest("DATASET.REJECT_SAMPLING.DIVERSITY", json!(2))).unwrap_err();
    assert_config_error(
        &err,
        "DATASET.REJECT_SAMPLING.DIVERSITY",
        "DATASET.LABEL_NAME",
    );
    let err = parse(&nest("AUGMENTOR.FLIP.DO_ZTRANS", json!(1))).unwrap_err();
    assert_config_error(&err, "AUGMENTOR.FLIP.DO_ZTRANS", "MODEL.INPUT_SIZE");
    let err = parse(&json!({"DATASET": {"DO_CHUNK_TITLE": 1, "LOAD_2D": true}})).unwrap_err();
    assert_config_error(&err, "DATASET.DO_CHUNK_TITLE", "store volumes");
    // Several volumes follow one schedule (PyTC's TileDataset over several volume files).
    config(&json!({"DATASET": {"DO_CHUNK_TITLE": 1, "IMAGE_NAME": "a@b"}}));
    let err = parse(&json!({"AUGMENTOR": {"CUTBLUR": {"DOWN_RATIO_MIN": 9}}})).unwrap_err();
    assert_config_error(&err, "AUGMENTOR.CUTBLUR.DOWN_RATIO_MIN", "DOWN_RATIO_MAX");
    // Turned off, DO_ZTRANS contradicts nothing.
    config(&json!({"AUGMENTOR": {"FLIP": {"DO_ZTRANS": 1, "ENABLED": 0}}}));
}

#[test]
fn config_label_and_valid_mask_as_additional_targets_are_not_duplicates() {
    let c = config(&json!({
        "DATASET": {"LABEL_NAME": "seg", "VALID_MASK_NAME": "mask"},
        "AUGMENTOR": {
            "ADDITIONAL_TARGETS_NAME": ["label", "valid_mask", "boundary"],
            "ADDITIONAL_TARGETS_TYPE": ["mask", "mask", "img"]
        }
    }));
    assert_eq!(
        c.targets(),
        vec![
            ("label".to_string(), TargetKind::Mask),
            ("valid_mask".into(), TargetKind::Mask),
            ("boundary".into(), TargetKind::Img),
        ]
    );
    let compose = c.compose().unwrap();
    assert_eq!(compose.targets().len(), 4);
    assert_eq!(
        c.array_names()[0].targets,
        vec![("boundary".to_string(), "boundary".to_string())]
    );
    // PyTC's default list names `label`; without LABEL_NAME there is simply no label.
    let c = config(&json!({"AUGMENTOR": {
        "ADDITIONAL_TARGETS_NAME": ["label"], "ADDITIONAL_TARGETS_TYPE": ["mask"]
    }}));
    assert_eq!(c.targets(), vec![]);
    for (names, types, key, reason) in [
        (
            json!(["image"]),
            json!(["img"]),
            "AUGMENTOR.ADDITIONAL_TARGETS_NAME",
            "always a target",
        ),
        (
            json!(["a", "a"]),
            json!(["img", "img"]),
            "AUGMENTOR.ADDITIONAL_TARGETS_NAME",
            "twice",
        ),
        (
            json!(["label"]),
            json!(["img"]),
            "AUGMENTOR.ADDITIONAL_TARGETS_TYPE",
            "mask",
        ),
        (
            json!(["a"]),
            json!(["image"]),
            "AUGMENTOR.ADDITIONAL_TARGETS_TYPE",
            "\"img\" or \"mask\"",
        ),
    ] {
        let err = parse(&json!({"AUGMENTOR": {
            "ADDITIONAL_TARGETS_NAME": names, "ADDITIONAL_TARGETS_TYPE": types
        }}))
        .unwrap_err();
        assert_config_error(&err, key, reason);
    }
}

#[test]
fn config_2d_compose_samples_depth_one_windows() {
    let c = config(&json!({
        "DATASET": {"DO_2D": 1, "LABEL_NAME": "seg", "PAD_SIZE": [5, 16, 16]},
        "MODEL": {"INPUT_SIZE": [64, 64]},
        "INFERENCE": {"STRIDE": [32, 32]}
    }));
    assert_eq!(
        (c.input_size, c.pad_size, c.stride),
        ([1, 64, 64], [0, 16, 16].into(), [1, 32, 32])
    );
    let compose = c.compose().unwrap();
    let [d, h, w] = compose.sample_size();
    assert_eq!(d, 1);
    let windows = c.window_settings(compose.sample_size());
    assert!(windows.is_2d());
    assert_eq!(windows.input, [1, 64, 64]);
    // The sampler takes these windows over depth-1 images, and the Compose augments them.
    let sampler = RandomSampler::new(
        vec![SampleVolume::new([1, 300, 200])],
        windows,
        Rejection::default(),
    )
    .unwrap();
    assert_eq!(
        sampler.draw(0, 0, 0).unwrap().window.shape,
        [1, h as u64, w as u64]
    );
    for i in 0..20 {
        let image = Array3::from_shape_fn((d, h, w), |(_, y, x)| ((y * 7 + x) % 13) as f32 / 13.0);
        let label = Array3::from_shape_fn((d, h, w), |(_, y, _)| (y / 8) as u16);
        let sample = Sample::new(image).with("label", Voxels::U16(label));
        let out = compose.apply(sample, &mut sample_rng(1, 0, i)).unwrap();
        assert_eq!(out.shape(), [1, 64, 64]);
    }
    // The grid steps by 1 along z over depth-1 volumes.
    assert_eq!(c.grid(vec![[3, 64, 64]]).unwrap().len(), 3);
}

/// `err` is `Error::Config` for `key` whose message contains `fragment`.
fn assert_config_error(err: &Error, key: &str, fragment: &str) {
    match err {
        Error::Config { key: k, reason } => {
            assert_eq!(k, key, "{err}");
            let message = err.to_string();
            assert!(
                reason.contains(fragment) || message.contains(fragment),
                "`{fragment}` missing from: {message}"
            );
        }
        other => panic!("expected a configuration error for {key}, got: {other}"),
    }
}
