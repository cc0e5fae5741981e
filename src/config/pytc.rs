//! PyTorch Connectomics v1's configuration facts: its whole key table with its defaults, how
//! its loader (yacs) reads a YAML value, which types may replace which, and the overrides its
//! test mode applies (`update_inference_cfg`).
//!
//! The table (`pytc_defaults.json`) lists every key of PyTC v1's default configuration (commit
//! `20ccfde6`) with its default, as JSON (`None` is `null`, tuples are lists).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::augment::{Combine, TestAugment};
use crate::Error;

/// Keys voxload adds to PyTC's table, with their defaults (as JSON).
const VOXLOAD_KEYS: &[(&str, &str)] = &[
    ("DATASET.REJECT_SAMPLING.STRICT", "false"),
    ("DATASET.IMAGE_SCALE_LEVEL", "null"),
    ("SYSTEM.CHUNK_CACHE_BYTES", "268435456"),
];

/// The key table: every PyTC v1 key (and voxload's own additions) → its default.
pub(crate) fn table() -> &'static BTreeMap<String, Value> {
    static TABLE: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: BTreeMap<String, Value> =
            serde_json::from_str(include_str!("pytc_defaults.json")).unwrap_or_default();
        for (key, default) in VOXLOAD_KEYS {
            let default = serde_json::from_str(default).unwrap_or(Value::Null);
            table.insert((*key).to_string(), default);
        }
        table
    })
}

/// A value as yacs decodes it: a string that reads as a Python literal (`None`, `True`,
/// `8`, `1e-4`, `[8, 256, 256]`, `'text'`) becomes that literal; anything else is kept. Lists
/// are decoded item by item only in so far as yacs does (not at all: only top-level strings).
pub(crate) fn decode(value: Value) -> Value {
    match value {
        Value::String(s) => literal(&s).unwrap_or(Value::String(s)),
        other => other,
    }
}

/// Parses a Python literal (the subset yacs configs use), or `None` when `text` is not one.
fn literal(text: &str) -> Option<Value> {
    let mut p = Literal {
        s: text.trim().as_bytes(),
        at: 0,
    };
    let v = p.value()?;
    p.space();
    (p.at == p.s.len()).then_some(v)
}

struct Literal<'a> {
    s: &'a [u8],
    at: usize,
}

impl Literal<'_> {
    fn space(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.space();
        match *self.s.get(self.at)? {
            b'[' | b'(' => self.list(),
            b'\'' | b'"' => self.quoted(),
            _ => self.atom(),
        }
    }

    fn list(&mut self) -> Option<Value> {
        let close = if self.s[self.at] == b'[' { b']' } else { b')' };
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.space();
            if self.s.get(self.at) == Some(&close) {
                self.at += 1;
                return Some(Value::Array(items));
            }
            items.push(self.value()?);
            self.space();
            match self.s.get(self.at)? {
                b',' => self.at += 1,
                c if *c == close => {}
                _ => return None,
            }
        }
    }

    fn quoted(&mut self) -> Option<Value> {
        let quote = self.s[self.at];
        let start = self.at + 1;
        let len = self.s[start..]
            .iter()
            .position(|&c| c == quote || c == b'\\')?;
        if self.s[start + len] == b'\\' {
            return None; // escapes: keep the text as it is
        }
        self.at = start + len + 1;
        let text = std::str::from_utf8(&self.s[start..start + len]).ok()?;
        Some(Value::String(text.to_string()))
    }

    fn atom(&mut self) -> Option<Value> {
        let start = self.at;
        while self
            .s
            .get(self.at)
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"+-._".contains(c))
        {
            self.at += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.at]).ok()?;
        match word {
            "None" => Some(Value::Null),
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            _ if word.is_empty() || word.contains('_') => None,
            _ => {
                if let Ok(n) = word.parse::<i64>() {
                    return Some(Value::from(n));
                }
                let numeric = word.bytes().any(|c| c.is_ascii_digit())
                    && word
                        .bytes()
                        .all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c));
                let x: f64 = word.parse().ok().filter(|_| numeric)?;
                serde_json::Number::from_f64(x).map(Value::Number)
            }
        }
    }
}

/// Whether a file's `value` may replace a key whose default is `default`, as yacs allows:
/// the same kind of value, or either side `None`; voxload also takes `0`/`1` for booleans (and
/// the reverse) and a list where PyTC has one string (name lists). Returns the kind expected
/// when it may not.
pub(crate) fn type_mismatch(default: &Value, value: &Value) -> Option<&'static str> {
    let kind = |v: &Value| match v {
        Value::Null => None,
        Value::Bool(_) => Some("a boolean"),
        Value::Number(_) => Some("a number"),
        Value::String(_) => Some("a string"),
        Value::Array(_) => Some("a list"),
        Value::Object(_) => Some("a section"),
    };
    let (Some(a), Some(b)) = (kind(default), kind(value)) else {
        return None;
    };
    let close = |x: &str, y: &str| {
        matches!(
            (x, y),
            ("a boolean", "a number")
                | ("a number", "a boolean")
                | ("a string", "a list")
                | ("a list", "a string")
        )
    };
    (a != b && !close(a, b)).then_some(a)
}

/// PyTC's test-mode overrides (`update_inference_cfg`) on the merged `values`, for the keys
/// that change what is read or how it is cut; returns the notes to show the user. What PyTC's
/// test loader then reads (and does not) is [`test_loader`]'s.
pub(crate) fn apply_inference(values: &mut BTreeMap<String, Value>) -> Vec<String> {
    let mut notes = Vec::new();
    for (from, to) in [
        ("INFERENCE.INPUT_PATH", "DATASET.INPUT_PATH"),
        ("INFERENCE.PAD_SIZE", "DATASET.PAD_SIZE"),
        ("INFERENCE.IS_ABSOLUTE_PATH", "DATASET.IS_ABSOLUTE_PATH"),
        ("INFERENCE.DO_CHUNK_TITLE", "DATASET.DO_CHUNK_TITLE"),
        ("INFERENCE.DATA_SCALE", "DATASET.DATA_SCALE"),
        ("INFERENCE.INPUT_SIZE", "MODEL.INPUT_SIZE"),
        ("INFERENCE.OUTPUT_SIZE", "MODEL.OUTPUT_SIZE"),
    ] {
        if let Some(v) = set(values, from) {
            values.insert(to.to_string(), v);
        }
    }
    match set(values, "INFERENCE.IMAGE_NAME") {
        Some(v) => {
            values.insert("DATASET.IMAGE_NAME".into(), v);
        }
        None => notes.push(
            "INFERENCE.IMAGE_NAME is not set: PyTC's test mode would read no image (None); voxload keeps DATASET.IMAGE_NAME"
                .into(),
        ),
    }
    if let Some(v) = set(values, "INFERENCE.OUTPUT_PATH") {
        values.insert("DATASET.OUTPUT_PATH".into(), v);
    }
    if let Some(v) = set(values, "INFERENCE.MODEL_RETURN_FEATS") {
        values.insert("MODEL.RETURN_FEATS".into(), v);
    }
    notes
}

/// What PyTC's test loader reads of the configuration `apply_inference` gave, as voxload's
/// grid reads it: `INFERENCE.SAMPLES_PER_BATCH` windows per batch (default 4), no label or
/// valid mask, so no rejection sampling (its `SIZE_THRES` is ignored there). Returns the notes
/// to show the user. The configuration PyTC shows keeps these keys (see [`pytc_view`]).
pub(crate) fn test_loader(values: &mut BTreeMap<String, Value>) -> Vec<String> {
    let mut notes = Vec::new();
    let batch = set(values, "INFERENCE.SAMPLES_PER_BATCH")
        .unwrap_or_else(|| table()["INFERENCE.SAMPLES_PER_BATCH"].clone());
    values.insert("SOLVER.SAMPLES_PER_BATCH".into(), batch);
    for key in ["DATASET.LABEL_NAME", "DATASET.VALID_MASK_NAME"] {
        if values.remove(key).is_some_and(|v| !v.is_null()) {
            notes.push(format!("{key} is not read in test mode (as in PyTC)"));
        }
    }
    for key in [
        "DATASET.REJECT_SAMPLING.SIZE_THRES",
        "DATASET.REJECT_SAMPLING.DIVERSITY",
        "DATASET.VALID_RATIO",
    ] {
        values.remove(key);
    }
    notes
}

/// The merged `values` as PyTC's `load_cfg` leaves them (`voxload config --json`): with its
/// `overwrite_cfg` changes that do not depend on the command line (`REDUCE_LABEL` off for a
/// semantic target `9`; `valid_mask` appended to the augmentor's additional targets when there
/// is a valid mask) and, in test mode (`test`), `INFERENCE.OUTPUT_NAME` as
/// `update_inference_cfg` rewrites it (its extension dropped for chunked or one-by-one
/// inference, `.h5` added otherwise when it has none).
pub(crate) fn pytc_view(values: &BTreeMap<String, Value>, test: bool) -> BTreeMap<String, Value> {
    let mut view = values.clone();
    let get = |key: &str| {
        values
            .get(key)
            .cloned()
            .unwrap_or_else(|| table()[key].clone())
    };
    let truthy = |v: Value| v.as_bool().unwrap_or(false) || v.as_i64().is_some_and(|n| n != 0);
    let targets = get("MODEL.TARGET_OPT");
    let semantic = targets.as_array().is_some_and(|t| {
        t.iter()
            .any(|t| t.as_str().is_some_and(|t| t.starts_with('9')))
    });
    if semantic {
        view.insert("DATASET.REDUCE_LABEL".into(), Value::Bool(false));
    }
    if !get("DATASET.VALID_MASK_NAME").is_null() {
        for (key, item) in [
            ("AUGMENTOR.ADDITIONAL_TARGETS_NAME", "valid_mask"),
            ("AUGMENTOR.ADDITIONAL_TARGETS_TYPE", "mask"),
        ] {
            if let Value::Array(mut list) = get(key) {
                list.push(Value::from(item));
                view.insert(key.into(), Value::Array(list));
            }
        }
    }
    if test {
        if let Some(name) = get("INFERENCE.OUTPUT_NAME").as_str() {
            let parts: Vec<&str> = name.split('.').collect();
            let chunked =
                truthy(get("DATASET.DO_CHUNK_TITLE")) || truthy(get("INFERENCE.DO_SINGLY"));
            let renamed = match (chunked, parts.len()) {
                (true, 2) => Some(parts[0].to_string()),
                (false, 1) => Some(format!("{name}.h5")),
                _ => None,
            };
            if let Some(renamed) = renamed {
                view.insert("INFERENCE.OUTPUT_NAME".into(), Value::from(renamed));
            }
        }
    }
    view
}

/// The value `key` is set to in `values`, unless unset or `None`.
fn set(values: &BTreeMap<String, Value>, key: &str) -> Option<Value> {
    values.get(key).filter(|v| !v.is_null()).cloned()
}

/// PyTC's validation mode: the `VAL_*` volumes (`VAL_IMAGE_NAME`, `VAL_LABEL_NAME`,
/// `VAL_VALID_MASK_NAME`, `VAL_PAD_SIZE`) walked by a grid of `MODEL.INPUT_SIZE` windows at half
/// their size, in batches of `4 × SOLVER.SAMPLES_PER_BATCH`, without augmentation or rejection.
///
/// # Errors
/// The key `DATASET.VAL_IMAGE_NAME` when it is not set.
pub(crate) fn apply_val(values: &mut BTreeMap<String, Value>) -> Result<(), String> {
    let Some(image) = set(values, "DATASET.VAL_IMAGE_NAME") else {
        return Err("DATASET.VAL_IMAGE_NAME".into());
    };
    values.insert("DATASET.IMAGE_NAME".into(), image);
    for (from, to) in [
        ("DATASET.VAL_LABEL_NAME", "DATASET.LABEL_NAME"),
        ("DATASET.VAL_VALID_MASK_NAME", "DATASET.VALID_MASK_NAME"),
    ] {
        match set(values, from) {
            Some(v) => values.insert(to.to_string(), v),
            None => values.remove(to),
        };
    }
    let pad = set(values, "DATASET.VAL_PAD_SIZE")
        .unwrap_or_else(|| table()["DATASET.VAL_PAD_SIZE"].clone());
    values.insert("DATASET.PAD_SIZE".into(), pad);
    let input =
        set(values, "MODEL.INPUT_SIZE").unwrap_or_else(|| table()["MODEL.INPUT_SIZE"].clone());
    if let Value::Array(sizes) = &input {
        let half: Vec<Value> = sizes
            .iter()
            .map(|v| Value::from((v.as_i64().unwrap_or(2) / 2).max(1)))
            .collect();
        values.insert("INFERENCE.STRIDE".into(), Value::Array(half));
    }
    let batch = set(values, "SOLVER.SAMPLES_PER_BATCH")
        .and_then(|v| v.as_i64())
        .unwrap_or(2);
    values.insert(
        "SOLVER.SAMPLES_PER_BATCH".into(),
        Value::from(batch.saturating_mul(4)),
    );
    for key in [
        "DATASET.REJECT_SAMPLING.SIZE_THRES",
        "DATASET.REJECT_SAMPLING.DIVERSITY",
        "DATASET.VALID_RATIO",
    ] {
        values.remove(key);
    }
    Ok(())
}

/// Keys that change the data PyTC produces and that voxload does not implement yet: set to
/// anything but PyTC's default (or `None`), they are an error rather than silently different
/// data. `true` entries are checked in test mode only (inference settings).
const NOT_YET: &[(&str, bool)] = &[
    // The test grid covers the whole volume; PyTC's TileDataset infers only these chunks.
    ("DATASET.DATA_CHUNK_IND", true),
    ("DATASET.CHUNK_IND_SPLIT", true),
    ("DATASET.DATA_COORD_RANGE", true),
];

/// The first key of [`NOT_YET`] the merged `values` set to something other than its default
/// (`[1, 1, 1]` scales count as the default), and what it was set to.
pub(crate) fn unsupported(values: &BTreeMap<String, Value>, test: bool) -> Option<(String, Value)> {
    let unit = serde_json::json!([1.0, 1.0, 1.0]);
    NOT_YET
        .iter()
        .filter(|(_, t)| !*t || test)
        .find_map(|(key, _)| {
            let v = values.get(*key).filter(|v| !v.is_null())?;
            let same = |a: &Value, b: &Value| match (a.as_array(), b.as_array()) {
                (Some(x), Some(y)) => {
                    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.as_f64() == q.as_f64())
                }
                _ => {
                    a == b
                        || (a.as_f64().is_some() && a.as_f64() == b.as_f64())
                        || (a.as_bool() == Some(false) && b.as_i64() == Some(0))
                }
            };
            let default = &table()[*key];
            (!same(v, default) && !same(v, &unit)).then(|| ((*key).to_string(), v.clone()))
        })
}

/// The `INFERENCE` keys voxload follows in test mode (through their `DATASET`/`MODEL`/`SOLVER`
/// counterparts) or uses directly.
pub(crate) const INFERENCE_USED: &[&str] = &[
    "INFERENCE.INPUT_PATH",
    "INFERENCE.IMAGE_NAME",
    "INFERENCE.PAD_SIZE",
    "INFERENCE.INPUT_SIZE",
    "INFERENCE.OUTPUT_SIZE",
    "INFERENCE.SAMPLES_PER_BATCH",
    "INFERENCE.AUG_NUM",
    "INFERENCE.AUG_MODE",
    "DATASET.VAL_IMAGE_NAME",
    "DATASET.VAL_LABEL_NAME",
    "DATASET.VAL_VALID_MASK_NAME",
    "DATASET.VAL_PAD_SIZE",
];

/// Test mode's `INFERENCE.AUG_NUM` (none, 0, 4, 8 or 16) and `AUG_MODE` (`mean`, `min`,
/// `max`), for windows of `input` voxels.
pub(crate) fn test_augment(
    values: &BTreeMap<String, Value>,
    do_2d: bool,
    input: [usize; 3],
) -> Result<TestAugment, Error> {
    const NUM: &str = "INFERENCE.AUG_NUM";
    let bad = |reason: String| Error::Config {
        key: NUM.into(),
        reason,
    };
    let num = match values.get(NUM) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => return Err(bad(format!("{v}: expected 4, 8 or 16 (or None)"))),
        },
    };
    let combine = match values.get("INFERENCE.AUG_MODE") {
        None | Some(Value::Null) => Combine::Mean,
        Some(Value::String(s)) => Combine::parse(s)?,
        Some(v) => Combine::parse(&v.to_string())?,
    };
    let tta = TestAugment::new(num, combine, do_2d)?;
    if tta.transposes() && input[1] != input[2] {
        return Err(bad(format!(
            "{} variants transpose y and x, which needs MODEL.INPUT_SIZE with equal y and x sizes, found {input:?} (use 4)",
            tta.len()
        )));
    }
    Ok(tta)
}

/// PyTC's adjustments made in every mode (`overwrite_cfg`) that voxload follows: the image,
/// label and valid-mask scales default to `DATA_SCALE`.
pub(crate) fn apply_common(values: &mut BTreeMap<String, Value>) {
    let scale = values
        .get("DATASET.DATA_SCALE")
        .cloned()
        .unwrap_or_else(|| table()["DATASET.DATA_SCALE"].clone());
    for key in [
        "DATASET.IMAGE_SCALE",
        "DATASET.LABEL_SCALE",
        "DATASET.VALID_MASK_SCALE",
    ] {
        if values.get(key).is_none_or(Value::is_null) && !scale.is_null() {
            values.insert(key.to_string(), scale.clone());
        }
    }
}

/// The full configuration as nested sections: every key of the table, `values` merged in.
pub(crate) fn nested(values: &BTreeMap<String, Value>) -> Value {
    let mut root = serde_json::Map::new();
    let mut all: BTreeMap<&str, &Value> = table().iter().map(|(k, v)| (k.as_str(), v)).collect();
    for (k, v) in values {
        all.insert(k.as_str(), v);
    }
    for (key, value) in all {
        let mut node = &mut root;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                node.insert(part.to_string(), value.clone());
            } else {
                let child = node
                    .entry(part.to_string())
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                let Value::Object(map) = child else { break };
                node = map;
            }
        }
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_holds_pytc_defaults() {
        let t = table();
        assert!(t.len() > 200);
        assert_eq!(t["SYSTEM.NUM_GPUS"], json!(4));
        assert_eq!(t["DATASET.PAD_SIZE"], json!([2, 64, 64]));
        assert_eq!(t["DATASET.MEAN"], json!(0.5));
        assert_eq!(t["INFERENCE.SAMPLES_PER_BATCH"], json!(4));
        assert_eq!(t["MODEL.WEIGHT_OPT"], json!([["1"]]));
        assert!(t["DATASET.IMAGE_NAME"].is_null());
    }

    #[test]
    fn yacs_decodes_python_literals_in_strings() {
        for (text, want) in [
            ("None", json!(null)),
            ("True", json!(true)),
            ("8", json!(8)),
            ("-3", json!(-3)),
            ("1e-4", json!(1e-4)),
            ("[8, 256, 256]", json!([8, 256, 256])),
            ("(1, 2,)", json!([1, 2])),
            ("['0', '4-1-1']", json!(["0", "4-1-1"])),
            ("[[1.0], [0.5, 2]]", json!([[1.0], [0.5, 2]])),
        ] {
            assert_eq!(decode(json!(text)), want, "{text}");
        }
        for text in [
            "im_train.json",
            "4-1-1",
            "a b",
            "none",
            "[1, 2",
            "1_000",
            "inf",
        ] {
            assert_eq!(decode(json!(text)), json!(text), "{text}");
        }
    }

    #[test]
    fn test_mode_overrides_follow_update_inference_cfg() {
        let mut v = BTreeMap::new();
        v.insert("DATASET.IMAGE_NAME".to_string(), json!("train.h5"));
        v.insert("INFERENCE.INPUT_SIZE".to_string(), json!([9, 65, 65]));
        v.insert("INFERENCE.PAD_SIZE".to_string(), json!(null));
        let notes = apply_inference(&mut v);
        assert_eq!(v["MODEL.INPUT_SIZE"], json!([9, 65, 65]));
        assert!(!v.contains_key("SOLVER.SAMPLES_PER_BATCH"));
        test_loader(&mut v);
        assert_eq!(v["SOLVER.SAMPLES_PER_BATCH"], json!(4));
        assert_eq!(v["DATASET.IMAGE_NAME"], json!("train.h5"));
        assert!(!v.contains_key("DATASET.PAD_SIZE"));
        assert!(notes[0].contains("keeps DATASET.IMAGE_NAME"));
        let mut labelled = BTreeMap::new();
        labelled.insert("DATASET.LABEL_NAME".to_string(), json!("seg"));
        labelled.insert("DATASET.REJECT_SAMPLING.SIZE_THRES".to_string(), json!(100));
        let mut notes = apply_inference(&mut labelled);
        assert!(labelled.contains_key("DATASET.LABEL_NAME"));
        notes.extend(test_loader(&mut labelled));
        assert!(!labelled.contains_key("DATASET.LABEL_NAME"));
        assert!(!labelled.contains_key("DATASET.REJECT_SAMPLING.SIZE_THRES"));
        assert!(notes.iter().any(|n| n.contains("LABEL_NAME is not read")));
    }
}
