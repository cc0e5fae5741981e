//! Validation: the raw key values → a [`Config`] of typed, checked settings. Every default is
//! written here once (the transform defaults are the transform structs' own `Default`s).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::raw::{error, RawConfig};
use super::{Augmentation, ChunkSettings, Config, Source, Toggle};
use crate::augment::{
    CutBlur, CutNoise, Elastic, Flip, Grayscale, MisAlignment, MissingParts, MissingSection,
    MotionBlur, Rescale, Rotate, TargetKind, TestAugment,
};
use crate::loader::{Intensity, Learning, MatchAct, TargetSpec, MAX_WORKERS};
use crate::sampler::{ArrayNames, Rejection, DEFAULT_INPUT_SIZE, DEFAULT_PAD_SIZE, DEFAULT_STRIDE};
use crate::store::{VolumeScales, ZoomOrder};
use crate::{PadMode, Padding, Result};

const TARGET_NAMES: &str = "AUGMENTOR.ADDITIONAL_TARGETS_NAME";
const TARGET_TYPES: &str = "AUGMENTOR.ADDITIONAL_TARGETS_TYPE";

/// The largest entry of a shape key (`MODEL.INPUT_SIZE`, `DATASET.PAD_SIZE`,
/// `INFERENCE.STRIDE`, `DATASET.DATA_CHUNK_NUM`): 2^24 voxels.
const MAX_EXTENT: i64 = 1 << 24;
/// The most voxels of one sample (the augmentor's enlarged window): 2^32, 16 GiB of float32.
const MAX_SAMPLE_VOXELS: u64 = 1 << 32;
/// The largest `SOLVER.SAMPLES_PER_BATCH`.
const MAX_BATCH: i64 = 1 << 16;
/// The largest `DATASET.REJECT_SAMPLING.NUM_TRIAL`: each trial may read a label window.
const MAX_NUM_TRIAL: i64 = 10_000;
/// The largest count of a transform (`ITER`, `NUM_SECTION`, `DISPLACEMENT`, `SECTIONS`,
/// `KERNEL_SIZE`): [`MotionBlur::MAX_KERNEL_SIZE`].
const MAX_COUNT: i64 = MotionBlur::MAX_KERNEL_SIZE as i64;
/// The largest `AUGMENTOR.ELASTIC.SIGMA`.
const MAX_SIGMA: f64 = Elastic::MAX_SIGMA;

/// Checks every value of `raw` and builds the settings; relative paths are resolved against
/// `base` (the config file's folder).
pub(super) fn validate(raw: &RawConfig, base: &Path) -> Result<Config> {
    let do_2d = raw.bool("DATASET.DO_2D", false)?;
    let super::input_path::InputPath {
        root: input_path,
        prefixes,
    } = super::input_path::input_path(raw, base)?;
    let extra_targets = additional_targets(raw)?;
    let source = source(raw, base, &input_path, &extra_targets, prefixes.as_deref())?;
    let has_label = source.has_label();
    let load_2d = raw.bool("DATASET.LOAD_2D", false)? || matches!(source, Source::Images { .. });

    let input_size = triple(
        raw,
        "MODEL.INPUT_SIZE",
        DEFAULT_INPUT_SIZE.map(|n| n as i64),
        do_2d.then_some(1),
        1,
    )?;
    let pad_size = pad_size(raw, do_2d)?;
    let stride = triple(
        raw,
        "INFERENCE.STRIDE",
        DEFAULT_STRIDE.map(|n| n as i64),
        do_2d.then_some(1),
        1,
    )?;
    let input_voxels = input_size
        .iter()
        .fold(1u64, |n, &v| n.saturating_mul(v as u64));
    if input_voxels > MAX_SAMPLE_VOXELS {
        return Err(error(
            "MODEL.INPUT_SIZE",
            format!(
                "{input_size:?} is {input_voxels} voxels per sample ({} GiB of float32), above the limit of {MAX_SAMPLE_VOXELS}",
                input_voxels.saturating_mul(4) >> 30
            ),
        ));
    }
    let pad_mode = match raw.string("DATASET.PAD_MODE")? {
        None => PadMode::Reflect,
        Some(text) => text.parse::<PadMode>().map_err(|e| {
            error(
                "DATASET.PAD_MODE",
                format!("{e}; expected constant, constant:V, reflect, symmetric or edge"),
            )
        })?,
    };

    let rejection = Rejection {
        size_thres: raw.int("DATASET.REJECT_SAMPLING.SIZE_THRES", -1)?,
        diversity: raw.int("DATASET.REJECT_SAMPLING.DIVERSITY", -1)?,
        p: raw.float_in("DATASET.REJECT_SAMPLING.P", 0.95, 0.0, 1.0)?,
        num_trial: raw.int_in("DATASET.REJECT_SAMPLING.NUM_TRIAL", 50, 0, MAX_NUM_TRIAL)? as u32,
        strict: raw.bool("DATASET.REJECT_SAMPLING.STRICT", false)?,
        valid_ratio: raw.float_in("DATASET.VALID_RATIO", 0.5, 0.0, 1.0)?,
    };
    for (key, value) in [
        ("DATASET.REJECT_SAMPLING.SIZE_THRES", rejection.size_thres),
        ("DATASET.REJECT_SAMPLING.DIVERSITY", rejection.diversity),
    ] {
        if value > 0 && !has_label {
            return Err(error(
                key,
                format!("is set ({value}) but DATASET.LABEL_NAME is not: the test reads the label"),
            ));
        }
    }

    let num = triple(raw, "DATASET.DATA_CHUNK_NUM", [1, 1, 1], None, 1)?.map(|n| n as u64);
    let chunks = ChunkSettings {
        enabled: raw.bool("DATASET.DO_CHUNK_TITLE", false)?,
        num,
        iterations: raw.int_min("DATASET.DATA_CHUNK_ITER", 1000, 1)? as u64,
        stride: raw.bool("DATASET.DATA_CHUNK_STRIDE", true)?,
        coord_range: super::chunks::coord_range(raw)?,
        ids: super::chunks::chunk_ids(raw, num)?,
    };
    if chunks.enabled {
        match &source {
            Source::Store { volumes } if !volumes.is_empty() && !load_2d => {}
            _ => {
                return Err(error(
                    "DATASET.DO_CHUNK_TITLE",
                    "follows a chunk schedule over store volumes: give DATASET.IMAGE_NAME arrays, not a .txt list or LOAD_2D images",
                ))
            }
        }
    }

    let augment = augmentation(raw)?;
    let input_size = input_size.map(|n| n as usize);
    if augment.enabled
        && augment.flip.enabled
        && augment.flip.transform.do_ztrans
        && input_size[0] != input_size[2]
    {
        return Err(error(
            "AUGMENTOR.FLIP.DO_ZTRANS",
            format!("transposes z and x, which needs MODEL.INPUT_SIZE with equal z and x sizes, found {input_size:?}"),
        ));
    }

    let learning = learning(raw, has_label, input_size.map(|v| v as i64), do_2d)?;
    let semantic = learning
        .targets
        .iter()
        .any(|t| matches!(t.target, crate::target::TargetOpt::Semantic { .. }));
    let config = Config {
        reduce_label: raw.bool("DATASET.REDUCE_LABEL", true)? && !semantic,
        label_binary: raw.bool("DATASET.LABEL_BINARY", false)?,
        label_mag: label_mag(raw, &learning)?,
        prediction_size: None,
        ensure_min_size: raw.bool("DATASET.ENSURE_MIN_SIZE", false)?,
        output_scale: scale_triple(raw, "INFERENCE.OUTPUT_SCALE", [1.0; 3])?,
        unpad: raw.bool("INFERENCE.UNPAD", true)?,
        singly_range: (
            raw.int_in("INFERENCE.DO_SINGLY_START_INDEX", 0, 0, 1 << 32)? as u64,
            match raw.int_in("INFERENCE.DO_SINGLY_STEP", 1, -(1 << 32), 1 << 32)? {
                0 => {
                    return Err(error(
                        "INFERENCE.DO_SINGLY_STEP",
                        "0 visits no volume (PyTC's range() refuses it): use 1, or a larger step",
                    ))
                }
                step => step,
            },
        ),
        scales: scales(raw, &extra_targets)?,
        blending: match raw.string("INFERENCE.BLENDING")?.as_deref() {
            None => "gaussian".into(),
            Some(w @ ("gaussian" | "bump" | "constant")) => w.into(),
            Some(other) => {
                return Err(error(
                    "INFERENCE.BLENDING",
                    format!("{other:?}: expected \"gaussian\", \"bump\" or \"constant\""),
                ))
            }
        },
        input_path,
        source,
        extra_targets,
        load_2d,
        do_2d,
        input_size,
        pad_size,
        pad_mode,
        rejection,
        chunks,
        stride: stride.map(|n| n as u64),
        do_singly: raw.bool("INFERENCE.DO_SINGLY", false)?,
        num_cpus: match raw.has("SYSTEM.NUM_CPUS") {
            true => raw.int_in("SYSTEM.NUM_CPUS", 1, 1, MAX_WORKERS as i64)? as usize,
            false => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS),
        },
        chunk_cache_bytes: raw.int_in("SYSTEM.CHUNK_CACHE_BYTES", 256 << 20, 0, 1 << 50)? as u64,
        samples_per_batch: raw.int_in("SOLVER.SAMPLES_PER_BATCH", 2, 1, MAX_BATCH)? as usize,
        augment,
        intensity: intensity(raw)?,
        learning,
        test_augment: TestAugment::default(),
        report: super::Report::default(),
    };
    check_sample_size(&config)?;
    Ok(config)
}

/// Three positive, finite scale factors `[z, y, x]` at `key`, `default` when unset.
fn scale_triple(raw: &RawConfig, key: &'static str, default: [f64; 3]) -> Result<[f64; 3]> {
    let Some(v) = raw.value(key) else {
        return Ok(default);
    };
    let numbers: Option<Vec<f64>> = v
        .as_array()
        .and_then(|items| items.iter().map(serde_json::Value::as_f64).collect());
    match numbers.as_deref() {
        Some(&[z, y, x]) if [z, y, x].iter().all(|s| s.is_finite() && *s > 0.0) => Ok([z, y, x]),
        _ => Err(error(
            key,
            format!(
                "{v}: expected three positive scale factors [z, y, x], such as [1.0, 0.5, 0.5]"
            ),
        )),
    }
}

/// `DATA_SCALE` and the per-array scales (`null` or unset: `DATA_SCALE`), each three positive
/// numbers; extra targets are zoomed by their `ADDITIONAL_TARGETS_TYPE` (images cubic, masks
/// nearest) with the label's scale.
fn scales(raw: &RawConfig, extra: &[(String, TargetKind)]) -> Result<VolumeScales> {
    let read = |key, default| scale_triple(raw, key, default);
    let data = read("DATASET.DATA_SCALE", [1.0; 3])?;
    let mut scales = VolumeScales::uniform(data)
        .image(read("DATASET.IMAGE_SCALE", data)?)
        .label(read("DATASET.LABEL_SCALE", data)?)
        .valid_mask(read("DATASET.VALID_MASK_SCALE", data)?);
    for (name, kind) in extra {
        let order = match kind {
            TargetKind::Img => ZoomOrder::Cubic,
            TargetKind::Mask => ZoomOrder::Nearest,
        };
        scales = scales.target_order(name, order);
    }
    Ok(scales)
}

/// `MODEL.TARGET_OPT`, `MODEL.WEIGHT_OPT` (one list per target) and `MODEL.OUTPUT_SIZE`.
fn learning(
    raw: &RawConfig,
    has_label: bool,
    input_size: [i64; 3],
    do_2d: bool,
) -> Result<Learning> {
    const TARGETS: &str = "MODEL.TARGET_OPT";
    const WEIGHTS: &str = "MODEL.WEIGHT_OPT";
    if !has_label {
        if raw.has(TARGETS) {
            return Err(error(
                TARGETS,
                "targets are computed from a label: set DATASET.LABEL_NAME",
            ));
        }
        return Ok(Learning::default());
    }
    let targets = raw.strings(TARGETS)?.unwrap_or_else(|| vec!["0".into()]);
    if targets.is_empty() {
        return Ok(Learning::default()); // `TARGET_OPT: []`: the label only
    }
    let weights: Vec<Vec<String>> = match raw.value(WEIGHTS) {
        None => vec![vec!["1".into()]],
        Some(serde_json::Value::Array(lists)) => lists
            .iter()
            .map(|list| match list {
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|w| match w {
                        serde_json::Value::String(s) => Ok(s.clone()),
                        other => Err(error(WEIGHTS, format!("expected option strings such as '1', found {other}"))),
                    })
                    .collect(),
                other => Err(error(WEIGHTS, format!("expected one list of options per target, such as [['1'], ['0']], found {other}"))),
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(error(WEIGHTS, format!("expected one list of options per target, such as [['1']], found {other}")))
        }
    };
    if weights.len() != targets.len() {
        return Err(error(
            WEIGHTS,
            format!(
                "has {} lists but {TARGETS} has {} targets: one list of weights per target",
                weights.len(),
                targets.len()
            ),
        ));
    }
    let specs = targets
        .iter()
        .zip(&weights)
        .map(|(t, ws)| {
            Ok(TargetSpec {
                target: t.parse()?,
                weights: ws.iter().map(|w| w.parse()).collect::<Result<_>>()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let output = triple(raw, "MODEL.OUTPUT_SIZE", input_size, do_2d.then_some(1), 1)?;
    if (0..3).any(|a| output[a] > input_size[a]) {
        return Err(error(
            "MODEL.OUTPUT_SIZE",
            format!("{output:?} is larger than MODEL.INPUT_SIZE {input_size:?}"),
        ));
    }
    let rates = |key: &'static str| -> Result<Vec<Option<usize>>> {
        let n = specs.len();
        match raw.value(key) {
            None | Some(serde_json::Value::Null) => Ok(vec![None; n]),
            Some(v) if v.is_array() => {
                let list = raw.ints(key)?.unwrap_or_default();
                if list.len() < n {
                    return Err(error(
                        key,
                        format!(
                            "lists {} sizes for {n} targets of {TARGETS}: one per target",
                            list.len()
                        ),
                    ));
                }
                list.iter()
                    .take(n)
                    .map(|&r| {
                        usize::try_from(r).map(Some).map_err(|_| {
                            error(key, format!("sizes must not be negative, found {r}"))
                        })
                    })
                    .collect()
            }
            Some(_) => {
                let r = raw.int_in(key, 0, 0, 1 << 10)?;
                Ok(vec![Some(r as usize); n])
            }
        }
    };
    Ok(Learning {
        erosion: rates("MODEL.LABEL_EROSION")?,
        dilation: rates("MODEL.LABEL_DILATION")?,
        targets: specs,
        output_size: (output != input_size).then(|| output.map(|v| v as usize)),
    })
}

/// `DATASET.MEAN`, `STD`, `MATCH_ACT` and `NORMALIZE_RANGE`.
fn intensity(raw: &RawConfig) -> Result<Intensity> {
    let mean = raw.float("DATASET.MEAN", 0.5)?;
    let std = raw.float("DATASET.STD", 0.5)?;
    if !mean.is_finite() {
        return Err(error(
            "DATASET.MEAN",
            format!("must be a finite number, found {mean}"),
        ));
    }
    if !(std.is_finite() && std > 0.0) {
        return Err(error(
            "DATASET.STD",
            format!("must be a positive number, found {std}"),
        ));
    }
    let act: MatchAct = raw
        .string("DATASET.MATCH_ACT")?
        .as_deref()
        .unwrap_or("none")
        .parse()?;
    let range = raw.bool("DATASET.NORMALIZE_RANGE", true)?;
    Ok(Intensity::pytc(mean, std, act, range))
}

/// Refuses augmentation settings whose enlarged sample (the window read per draw) is too
/// large to allocate: `ELASTIC.ALPHA`, `MISALIGNMENT.DISPLACEMENT` and the others grow it.
fn check_sample_size(config: &Config) -> Result<()> {
    let sample = config.compose()?.sample_size();
    let voxels = sample.iter().fold(1u64, |n, &v| n.saturating_mul(v as u64));
    if voxels > MAX_SAMPLE_VOXELS {
        return Err(error(
            "MODEL.INPUT_SIZE",
            format!(
                "{:?} with the AUGMENTOR section's growth (ELASTIC.ALPHA, MISALIGNMENT.DISPLACEMENT, ROTATE, RESCALE, MISSINGSECTION) needs samples of {sample:?}, {voxels} voxels, above the limit of {MAX_SAMPLE_VOXELS}",
                config.input_size
            ),
        ));
    }
    Ok(())
}

/// Three integers of at least `min`. With `two_d = Some(z)` (`DO_2D`), `[H, W]` or `[d, H, W]`
/// are accepted and the depth becomes `z`.
fn triple(
    raw: &RawConfig,
    key: &'static str,
    default: [i64; 3],
    two_d: Option<i64>,
    min: i64,
) -> Result<[i64; 3]> {
    let values = raw.ints(key)?.unwrap_or_else(|| default.to_vec());
    checked_triple(key, values, two_d, min)
}

/// Test mode's `MODEL.OUTPUT_SIZE` (after `INFERENCE.OUTPUT_SIZE` has overridden it), when set:
/// the size of the model's output blocks, at most the window `input`; `None` when unset or equal
/// to the window.
pub(super) fn prediction_size(
    raw: &RawConfig,
    input: [usize; 3],
    do_2d: bool,
) -> Result<Option<[usize; 3]>> {
    const KEY: &str = "MODEL.OUTPUT_SIZE";
    if !raw.has(KEY) {
        return Ok(None);
    }
    let window = input.map(|v| v as i64);
    let out = triple(raw, KEY, window, do_2d.then_some(1), 1)?;
    if (0..3).any(|a| out[a] > window[a]) {
        return Err(error(
            KEY,
            format!("{out:?} (INFERENCE.OUTPUT_SIZE in test mode) is larger than the inference window MODEL.INPUT_SIZE {window:?}; PyTC places each output block inside its window, so it must be at most the window"),
        ));
    }
    Ok((out != window).then(|| out.map(|v| v as usize)))
}

/// `DATASET.LABEL_MAG`: 0 (PyTC's default) leaves labels as they are; a positive number
/// divides them. Targets that read id values (`0-a-…` classes, `1` polarity, `9` semantic)
/// would see PyTC's divided floats, which voxload does not compute: refused with them.
fn label_mag(raw: &RawConfig, learning: &Learning) -> Result<Option<f64>> {
    const KEY: &str = "DATASET.LABEL_MAG";
    let mag = raw.float(KEY, 0.0)?;
    if mag == 0.0 {
        return Ok(None);
    }
    if !(mag.is_finite() && mag > 0.0) {
        return Err(error(
            KEY,
            format!("must be 0 (off) or a positive number, found {mag}"),
        ));
    }
    let by_value = learning.targets.iter().find(|t| {
        crate::loader::reads_id_values(&t.target)
            || matches!(t.target, crate::target::TargetOpt::Semantic { .. })
    });
    if let Some(t) = by_value {
        return Err(error(
            KEY,
            format!("divides the label, and MODEL.TARGET_OPT '{}' reads its id values, which voxload computes from the undivided label only; unset LABEL_MAG (store the label as the ids you want), or use a target that depends only on which voxels share an id", t.target),
        ));
    }
    Ok(Some(mag))
}

/// `DATASET.PAD_SIZE` in each of PyTC's forms (its `get_padsize`): one integer (or a list of
/// one) for every side, `[z, y, x]` for both sides of each axis, or six values
/// `[z0, z1, y0, y1, x0, x1]`, one per side (with `DO_2D`, `[y, x]` is accepted too and z is
/// never padded).
fn pad_size(raw: &RawConfig, do_2d: bool) -> Result<Padding> {
    const KEY: &str = "DATASET.PAD_SIZE";
    let values = match raw.value(KEY) {
        Some(v) if v.is_i64() || v.is_u64() => vec![raw.int(KEY, 0)?; 3],
        _ => raw.ints(KEY)?.unwrap_or_else(|| DEFAULT_PAD_SIZE.to_vec()),
    };
    let sides = |values: Vec<i64>| checked_triple(KEY, values, do_2d.then_some(0), 0);
    match *values.as_slice() {
        [p] => Ok(Padding::uniform(sides(vec![p; 3])?)),
        [z0, z1, y0, y1, x0, x1] => Ok(Padding::new(
            sides(vec![z0, y0, x0])?,
            sides(vec![z1, y1, x1])?,
        )),
        _ => Ok(Padding::uniform(sides(values)?)),
    }
}

/// Three entries `[z, y, x]` (or `[y, x]` in 2D, `z` then forced to `two_d`), each in
/// `[min, MAX_EXTENT]`.
fn checked_triple(
    key: &'static str,
    values: Vec<i64>,
    two_d: Option<i64>,
    min: i64,
) -> Result<[i64; 3]> {
    let mut out = match (values.as_slice(), two_d) {
        (&[z, y, x], _) => [z, y, x],
        (&[y, x], Some(z)) => [z, y, x],
        (_, Some(_)) => {
            return Err(error(
                key,
                format!("expected [H, W] or [D, H, W] (DATASET.DO_2D is set), found {values:?}"),
            ))
        }
        (_, None) => {
            return Err(error(
                key,
                format!("expected three integers [z, y, x], found {values:?}"),
            ))
        }
    };
    if let Some(z) = two_d {
        out[0] = z;
    }
    if let Some(bad) = out.iter().find(|&&n| n < min) {
        return Err(error(
            key,
            format!("entries must be at least {min}, found {bad} in {out:?}"),
        ));
    }
    if let Some(bad) = out.iter().find(|&&n| n > MAX_EXTENT) {
        return Err(error(
            key,
            format!("entries must be at most {MAX_EXTENT}, found {bad} in {out:?}"),
        ));
    }
    Ok(out)
}

/// `ADDITIONAL_TARGETS_NAME` / `_TYPE`: the extra targets, `label` and `valid_mask` left out
/// (they come from `LABEL_NAME` / `VALID_MASK_NAME`).
fn additional_targets(raw: &RawConfig) -> Result<Vec<(String, TargetKind)>> {
    let names = raw.strings(TARGET_NAMES)?.unwrap_or_default();
    let types = raw.strings(TARGET_TYPES)?.unwrap_or_default();
    if names.len() != types.len() {
        return Err(error(
            TARGET_NAMES,
            format!(
                "lists {} targets but {TARGET_TYPES} lists {} types; give one type per name",
                names.len(),
                types.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut extra = Vec::new();
    for (name, kind) in names.into_iter().zip(types) {
        let kind: TargetKind = kind.parse().map_err(|_| {
            error(
                TARGET_TYPES,
                format!("the type of `{name}` is {kind:?}; expected \"img\" or \"mask\""),
            )
        })?;
        if !seen.insert(name.clone()) {
            return Err(error(TARGET_NAMES, format!("`{name}` is listed twice")));
        }
        match name.as_str() {
            "" => return Err(error(TARGET_NAMES, "a target name is empty")),
            "image" => {
                return Err(error(
                    TARGET_NAMES,
                    "`image` is always a target; do not list it",
                ))
            }
            "label" | "valid_mask" if kind != TargetKind::Mask => {
                return Err(error(
                    TARGET_TYPES,
                    format!("`{name}` is always a `mask` target, found \"img\""),
                ))
            }
            "label" | "valid_mask" => {}
            _ => extra.push((name, kind)),
        }
    }
    Ok(extra)
}

/// Whether a name is a `.txt` list of 2D images.
fn is_list(name: &str) -> bool {
    name.ends_with(".txt") || is_pattern(name)
}

/// PyTC's image patterns (`…/*.png`, `…/*.tif`), which it expands under `INPUT_PATH`.
fn is_pattern(name: &str) -> bool {
    name.ends_with("/*.png") || name.ends_with("/*.tif") || name == "*.png" || name == "*.tif"
}

/// `IMAGE_NAME`, `LABEL_NAME`, `VALID_MASK_NAME` → where the volumes come from.
fn source(
    raw: &RawConfig,
    base: &Path,
    input: &Path,
    extra: &[(String, TargetKind)],
    prefixes: Option<&[String]>,
) -> Result<Source> {
    const IMAGE: &str = "DATASET.IMAGE_NAME";
    let images = raw
        .names(IMAGE)?
        .unwrap_or_else(|| vec!["image".to_string()]);
    let labels = raw.names("DATASET.LABEL_NAME")?;
    let masks = raw.names("DATASET.VALID_MASK_NAME")?;
    let others = [
        ("DATASET.LABEL_NAME", &labels),
        ("DATASET.VALID_MASK_NAME", &masks),
    ];

    if images.iter().any(|n| is_list(n)) {
        if prefixes.is_some() {
            return Err(error(
                "DATASET.INPUT_PATH",
                "names several folders (joined by @), which pair with store arrays; a .txt list of 2D images names its own files",
            ));
        }
        if images.len() != 1 {
            return Err(error(
                IMAGE,
                format!("a .txt list of 2D images must be the only name, found {images:?}"),
            ));
        }
        if let Some((name, _)) = extra.first() {
            return Err(error(
                TARGET_NAMES,
                format!("`{name}` reads a store array, but {IMAGE} is a .txt list of 2D images (only label and valid_mask lists go with it)"),
            ));
        }
        let mut lists: [Option<PathBuf>; 2] = [None, None];
        for (slot, (key, names)) in lists.iter_mut().zip(others) {
            *slot = match names.as_deref() {
                None => None,
                Some([one]) if is_pattern(one) => Some(input.join(one)),
                Some([one]) if is_list(one) => Some(base.join(one)),
                Some(found) => {
                    return Err(error(
                        key,
                        format!("{IMAGE} is a .txt list of 2D images, so this must be one .txt list too, found {found:?}"),
                    ))
                }
            };
        }
        let [labels, valid_masks] = lists;
        let list = &images[0];
        return Ok(Source::Images {
            images: if is_pattern(list) {
                input.join(list)
            } else {
                base.join(list)
            },
            labels,
            valid_masks,
        });
    }

    for (key, names) in others {
        let Some(names) = names else { continue };
        if names.len() != images.len() {
            return Err(error(
                key,
                format!(
                    "names {} volumes but {IMAGE} names {}; give one name per volume",
                    names.len(),
                    images.len()
                ),
            ));
        }
        if names.iter().any(|n| is_list(n)) {
            return Err(error(
                key,
                format!("is a .txt list, but {IMAGE} names store arrays"),
            ));
        }
    }
    if let Some(p) = prefixes.filter(|p| p.len() != images.len()) {
        return Err(error(
            "DATASET.INPUT_PATH",
            format!(
                "names {} folders (joined by @) but {IMAGE} names {} volumes; give one folder, or one per volume",
                p.len(),
                images.len()
            ),
        ));
    }
    let level = match raw.value(SCALE_LEVEL) {
        None | Some(serde_json::Value::Null) => None,
        Some(_) => Some(raw.int_in(SCALE_LEVEL, 0, 0, 64)? as usize),
    };
    let volumes = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let at = |name: &str| match prefixes {
                Some(p) => super::input_path::prefixed(&p[i], name),
                None => name.to_string(),
            };
            let leveled =
                |name: &str, required: bool| scale_level(input, &at(name), level, required);
            Ok(ArrayNames {
                image: leveled(image, true)?,
                label: labels.as_ref().map(|l| leveled(&l[i], false)).transpose()?,
                valid_mask: masks.as_ref().map(|m| leveled(&m[i], false)).transpose()?,
                targets: extra.iter().map(|(t, _)| (t.clone(), at(t))).collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Source::Store { volumes })
}

const SCALE_LEVEL: &str = "DATASET.IMAGE_SCALE_LEVEL";

/// Array `name` at `DATASET.IMAGE_SCALE_LEVEL`: an OME-Zarr image group's level of that index
/// (`name/PATH`); other arrays are kept as they are, except that the image must be a group
/// (`required`) when a level is asked for.
fn scale_level(input: &Path, name: &str, level: Option<usize>, required: bool) -> Result<String> {
    let Some(level) = level else {
        return Ok(name.to_string());
    };
    let dir = crate::store::array_dir(input, name);
    let multiscale = crate::store::ome::Multiscale::read(&dir)
        .map_err(|e| error(SCALE_LEVEL, format!("`{name}`: {e}")))?;
    match multiscale {
        None if required => Err(error(
            SCALE_LEVEL,
            format!(
                "picks level {level}, but `{name}` under {} is not an OME-Zarr image group",
                input.display()
            ),
        )),
        None => Ok(name.to_string()),
        Some(m) => {
            let found = m.levels.get(level).ok_or_else(|| {
                error(
                    SCALE_LEVEL,
                    format!(
                        "`{name}` has {} levels (0 to {}), not level {level}",
                        m.levels.len(),
                        m.levels.len() - 1
                    ),
                )
            })?;
            Ok(format!("{}/{}", name.trim_end_matches('/'), found.path)
                .trim_start_matches('/')
                .to_string())
        }
    }
}

/// The `AUGMENTOR` section; every transform default is the struct's `Default`.
fn augmentation(raw: &RawConfig) -> Result<Augmentation> {
    let p = |key, default| raw.float_in(key, default, 0.0, 1.0);
    let on = |key| raw.bool(key, true);
    let count = |key, default: usize| -> Result<usize> {
        Ok(raw.int_in(key, default as i64, 0, MAX_COUNT)? as usize)
    };

    let d = Rotate::default();
    let rotate = Toggle {
        enabled: on("AUGMENTOR.ROTATE.ENABLED")?,
        transform: Rotate {
            p: p("AUGMENTOR.ROTATE.P", d.p)?,
            rot90: raw.bool("AUGMENTOR.ROTATE.ROT90", d.rot90)?,
        },
    };
    let d = Rescale::default();
    let rescale = Toggle {
        enabled: on("AUGMENTOR.RESCALE.ENABLED")?,
        transform: Rescale {
            p: p("AUGMENTOR.RESCALE.P", d.p)?,
            fix_aspect: raw.bool("AUGMENTOR.RESCALE.FIX_ASPECT", d.fix_aspect)?,
            ..d
        },
    };
    let d = Flip::default();
    let flip = Toggle {
        enabled: on("AUGMENTOR.FLIP.ENABLED")?,
        transform: Flip {
            p: p("AUGMENTOR.FLIP.P", d.p)?,
            do_ztrans: raw.bool("AUGMENTOR.FLIP.DO_ZTRANS", d.do_ztrans)?,
        },
    };
    let d = Elastic::default();
    let sigma = raw.float("AUGMENTOR.ELASTIC.SIGMA", d.sigma)?;
    if !(sigma > 0.0 && sigma <= MAX_SIGMA) {
        return Err(error(
            "AUGMENTOR.ELASTIC.SIGMA",
            format!(
                "must be positive and at most {MAX_SIGMA}, found {sigma} (a Gaussian kernel of {:.0} taps)",
                8.0 * sigma + 1.0
            ),
        ));
    }
    let elastic = Toggle {
        enabled: on("AUGMENTOR.ELASTIC.ENABLED")?,
        transform: Elastic {
            p: p("AUGMENTOR.ELASTIC.P", d.p)?,
            alpha: raw.float_in("AUGMENTOR.ELASTIC.ALPHA", d.alpha, 0.0, 1.0e6)?,
            sigma,
        },
    };
    let d = Grayscale::default();
    let grayscale = Toggle {
        enabled: on("AUGMENTOR.GRAYSCALE.ENABLED")?,
        transform: Grayscale {
            p: p("AUGMENTOR.GRAYSCALE.P", d.p)?,
            ..d
        },
    };
    let d = MissingParts::default();
    let missing_parts = Toggle {
        enabled: on("AUGMENTOR.MISSINGPARTS.ENABLED")?,
        transform: MissingParts {
            p: p("AUGMENTOR.MISSINGPARTS.P", d.p)?,
            iterations: count("AUGMENTOR.MISSINGPARTS.ITER", d.iterations)?,
        },
    };
    let d = MissingSection::default();
    let missing_section = Toggle {
        enabled: on("AUGMENTOR.MISSINGSECTION.ENABLED")?,
        transform: MissingSection {
            p: p("AUGMENTOR.MISSINGSECTION.P", d.p)?,
            num_sections: count("AUGMENTOR.MISSINGSECTION.NUM_SECTION", d.num_sections)?,
        },
    };
    let d = MisAlignment::default();
    let misalignment = Toggle {
        enabled: on("AUGMENTOR.MISALIGNMENT.ENABLED")?,
        transform: MisAlignment {
            p: p("AUGMENTOR.MISALIGNMENT.P", d.p)?,
            displacement: count("AUGMENTOR.MISALIGNMENT.DISPLACEMENT", d.displacement)?,
            rotate_ratio: p("AUGMENTOR.MISALIGNMENT.ROTATE_RATIO", d.rotate_ratio)?,
        },
    };
    let d = MotionBlur::default();
    let motion_blur = Toggle {
        enabled: on("AUGMENTOR.MOTIONBLUR.ENABLED")?,
        transform: MotionBlur {
            p: p("AUGMENTOR.MOTIONBLUR.P", d.p)?,
            sections: count("AUGMENTOR.MOTIONBLUR.SECTIONS", d.sections)?,
            kernel_size: count("AUGMENTOR.MOTIONBLUR.KERNEL_SIZE", d.kernel_size)?,
        },
    };
    let d = CutBlur::default();
    let cut_blur = Toggle {
        enabled: on("AUGMENTOR.CUTBLUR.ENABLED")?,
        transform: CutBlur {
            p: p("AUGMENTOR.CUTBLUR.P", d.p)?,
            length_ratio: p("AUGMENTOR.CUTBLUR.LENGTH_RATIO", d.length_ratio)?,
            down_ratio_min: raw.float_in(
                "AUGMENTOR.CUTBLUR.DOWN_RATIO_MIN",
                d.down_ratio_min,
                1.0,
                1.0e6,
            )?,
            down_ratio_max: raw.float_in(
                "AUGMENTOR.CUTBLUR.DOWN_RATIO_MAX",
                d.down_ratio_max,
                1.0,
                1.0e6,
            )?,
            downsample_z: raw.bool("AUGMENTOR.CUTBLUR.DOWNSAMPLE_Z", d.downsample_z)?,
        },
    };
    if cut_blur.transform.down_ratio_min > cut_blur.transform.down_ratio_max {
        return Err(error(
            "AUGMENTOR.CUTBLUR.DOWN_RATIO_MIN",
            format!(
                "{} is larger than AUGMENTOR.CUTBLUR.DOWN_RATIO_MAX {}",
                cut_blur.transform.down_ratio_min, cut_blur.transform.down_ratio_max
            ),
        ));
    }
    let d = CutNoise::default();
    let cut_noise = Toggle {
        enabled: on("AUGMENTOR.CUTNOISE.ENABLED")?,
        transform: CutNoise {
            p: p("AUGMENTOR.CUTNOISE.P", d.p)?,
            length_ratio: p("AUGMENTOR.CUTNOISE.LENGTH_RATIO", d.length_ratio)?,
            scale: raw.float_in("AUGMENTOR.CUTNOISE.SCALE", d.scale, 0.0, 1.0e6)?,
        },
    };
    Ok(Augmentation {
        enabled: raw.bool("AUGMENTOR.ENABLED", true)?,
        smooth: raw.bool("AUGMENTOR.SMOOTH", false)?,
        rotate,
        rescale,
        flip,
        elastic,
        grayscale,
        missing_parts,
        missing_section,
        misalignment,
        motion_blur,
        cut_blur,
        cut_noise,
    })
}
