//! The raw layer: JSON text → a flat map of known dotted keys to their JSON values, with typed
//! getters that name the key in every error. Nothing here knows what a key means; validation
//! (in the parent module) turns these values into settings.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Error, Result};

/// Every key a configuration may set, by its full dotted name. Sections (`DATASET`,
/// `AUGMENTOR.ROTATE`, …) are the proper prefixes of these names.
pub(crate) const KEYS: &[&str] = &[
    "DATASET.INPUT_PATH",
    "DATASET.IMAGE_NAME",
    "DATASET.LABEL_NAME",
    "DATASET.VALID_MASK_NAME",
    "DATASET.PAD_SIZE",
    "DATASET.PAD_MODE",
    "DATASET.VALID_RATIO",
    "DATASET.REJECT_SAMPLING.SIZE_THRES",
    "DATASET.REJECT_SAMPLING.DIVERSITY",
    "DATASET.REJECT_SAMPLING.P",
    "DATASET.REJECT_SAMPLING.NUM_TRIAL",
    "DATASET.REJECT_SAMPLING.STRICT",
    "DATASET.IMAGE_SCALE_LEVEL",
    "SYSTEM.CHUNK_CACHE_BYTES",
    "DATASET.DO_CHUNK_TITLE",
    "DATASET.DATA_CHUNK_NUM",
    "DATASET.DATA_CHUNK_ITER",
    "DATASET.DATA_CHUNK_STRIDE",
    "DATASET.DATA_COORD_RANGE",
    "DATASET.DATA_CHUNK_IND",
    "DATASET.CHUNK_IND_SPLIT",
    "DATASET.DO_2D",
    "DATASET.MEAN",
    "DATASET.STD",
    "DATASET.MATCH_ACT",
    "DATASET.NORMALIZE_RANGE",
    "DATASET.LOAD_2D",
    "DATASET.REDUCE_LABEL",
    "DATASET.DATA_SCALE",
    "DATASET.IMAGE_SCALE",
    "DATASET.LABEL_SCALE",
    "DATASET.VALID_MASK_SCALE",
    "DATASET.LABEL_BINARY",
    "DATASET.LABEL_MAG",
    "DATASET.ENSURE_MIN_SIZE",
    "MODEL.INPUT_SIZE",
    "MODEL.OUTPUT_SIZE",
    "MODEL.TARGET_OPT",
    "MODEL.WEIGHT_OPT",
    "MODEL.LABEL_EROSION",
    "MODEL.LABEL_DILATION",
    "INFERENCE.STRIDE",
    "INFERENCE.DO_SINGLY",
    "INFERENCE.BLENDING",
    "INFERENCE.OUTPUT_SCALE",
    "INFERENCE.UNPAD",
    "INFERENCE.DO_SINGLY_START_INDEX",
    "INFERENCE.DO_SINGLY_STEP",
    "SYSTEM.NUM_CPUS",
    "SOLVER.SAMPLES_PER_BATCH",
    "AUGMENTOR.ENABLED",
    "AUGMENTOR.SMOOTH",
    "AUGMENTOR.ADDITIONAL_TARGETS_NAME",
    "AUGMENTOR.ADDITIONAL_TARGETS_TYPE",
    "AUGMENTOR.ROTATE.ENABLED",
    "AUGMENTOR.ROTATE.P",
    "AUGMENTOR.ROTATE.ROT90",
    "AUGMENTOR.RESCALE.ENABLED",
    "AUGMENTOR.RESCALE.P",
    "AUGMENTOR.RESCALE.FIX_ASPECT",
    "AUGMENTOR.FLIP.ENABLED",
    "AUGMENTOR.FLIP.P",
    "AUGMENTOR.FLIP.DO_ZTRANS",
    "AUGMENTOR.ELASTIC.ENABLED",
    "AUGMENTOR.ELASTIC.P",
    "AUGMENTOR.ELASTIC.ALPHA",
    "AUGMENTOR.ELASTIC.SIGMA",
    "AUGMENTOR.GRAYSCALE.ENABLED",
    "AUGMENTOR.GRAYSCALE.P",
    "AUGMENTOR.MISSINGPARTS.ENABLED",
    "AUGMENTOR.MISSINGPARTS.P",
    "AUGMENTOR.MISSINGPARTS.ITER",
    "AUGMENTOR.MISSINGSECTION.ENABLED",
    "AUGMENTOR.MISSINGSECTION.P",
    "AUGMENTOR.MISSINGSECTION.NUM_SECTION",
    "AUGMENTOR.MISALIGNMENT.ENABLED",
    "AUGMENTOR.MISALIGNMENT.P",
    "AUGMENTOR.MISALIGNMENT.DISPLACEMENT",
    "AUGMENTOR.MISALIGNMENT.ROTATE_RATIO",
    "AUGMENTOR.MOTIONBLUR.ENABLED",
    "AUGMENTOR.MOTIONBLUR.P",
    "AUGMENTOR.MOTIONBLUR.SECTIONS",
    "AUGMENTOR.MOTIONBLUR.KERNEL_SIZE",
    "AUGMENTOR.CUTBLUR.ENABLED",
    "AUGMENTOR.CUTBLUR.P",
    "AUGMENTOR.CUTBLUR.LENGTH_RATIO",
    "AUGMENTOR.CUTBLUR.DOWN_RATIO_MIN",
    "AUGMENTOR.CUTBLUR.DOWN_RATIO_MAX",
    "AUGMENTOR.CUTBLUR.DOWNSAMPLE_Z",
    "AUGMENTOR.CUTNOISE.ENABLED",
    "AUGMENTOR.CUTNOISE.P",
    "AUGMENTOR.CUTNOISE.LENGTH_RATIO",
    "AUGMENTOR.CUTNOISE.SCALE",
];

/// An [`Error::Config`] for `key`.
pub(crate) fn error(key: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Config {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The configuration as merged: the JSON value of every key voxload uses that the files set,
/// nothing checked beyond the key being known.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawConfig {
    values: BTreeMap<&'static str, Value>,
}

impl RawConfig {
    /// The keys voxload uses among the merged `values` (`null`, PyTC's `None`, counts as
    /// unset).
    pub(crate) fn from_values(values: &BTreeMap<String, Value>) -> Self {
        let mut raw = RawConfig::default();
        for key in KEYS {
            if let Some(v) = values.get(*key).filter(|v| !v.is_null()) {
                raw.values.insert(key, v.clone());
            }
        }
        raw
    }

    /// The value of `key`, `None` when the file does not set it.
    fn get(&self, key: &'static str) -> Option<&Value> {
        debug_assert!(KEYS.contains(&key), "{key} is not in the key table");
        self.values.get(key)
    }

    /// The raw value of `key`, `None` when unset.
    pub(crate) fn value(&self, key: &'static str) -> Option<&Value> {
        self.get(key)
    }

    /// Whether the file sets `key` (to anything, `null` included).
    pub(crate) fn has(&self, key: &'static str) -> bool {
        self.get(key).is_some()
    }

    /// A boolean: `true`/`false` or PyTC's `1`/`0`.
    pub(crate) fn bool(&self, key: &'static str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v @ Value::Number(_)) => match integer(v) {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(expected(key, "a boolean (true, false, 1 or 0)", v)),
            },
            Some(v) => Err(expected(key, "a boolean (true, false, 1 or 0)", v)),
        }
    }

    /// An integer; integral floats (`2.0`) are accepted.
    pub(crate) fn int(&self, key: &'static str, default: i64) -> Result<i64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => integer(v).ok_or_else(|| expected(key, "an integer", v)),
        }
    }

    /// An integer of at least `min`.
    pub(crate) fn int_min(&self, key: &'static str, default: i64, min: i64) -> Result<i64> {
        let n = self.int(key, default)?;
        if n < min {
            return Err(error(key, format!("must be at least {min}, found {n}")));
        }
        Ok(n)
    }

    /// An integer in `[min, max]`.
    pub(crate) fn int_in(
        &self,
        key: &'static str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64> {
        let n = self.int_min(key, default, min)?;
        if n > max {
            return Err(error(key, format!("must be at most {max}, found {n}")));
        }
        Ok(n)
    }

    /// A number.
    pub(crate) fn float(&self, key: &'static str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| expected(key, "a number", v)),
        }
    }

    /// A number in `[lo, hi]`.
    pub(crate) fn float_in(
        &self,
        key: &'static str,
        default: f64,
        lo: f64,
        hi: f64,
    ) -> Result<f64> {
        let x = self.float(key, default)?;
        if !(lo..=hi).contains(&x) {
            return Err(error(key, format!("must be in [{lo}, {hi}], found {x}")));
        }
        Ok(x)
    }

    /// A list of integers (integral floats accepted), `None` when unset.
    pub(crate) fn ints(&self, key: &'static str) -> Result<Option<Vec<i64>>> {
        let what = "a list of integers, such as [8, 256, 256]";
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Array(items)) => items
                .iter()
                .map(|item| integer(item).ok_or_else(|| expected(key, what, v)))
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(expected(key, what, v)),
        }
    }

    /// A string, `None` when unset.
    pub(crate) fn string(&self, key: &'static str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(expected(key, "a string", v)),
        }
    }

    /// A list of strings: a JSON list, or one string. `null` counts as unset.
    pub(crate) fn strings(&self, key: &'static str) -> Result<Option<Vec<String>>> {
        let what = "a string or a list of strings";
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(v @ Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(expected(key, what, v)),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(expected(key, what, v)),
        }
    }

    /// Array names: a list of strings, or one string split at PyTC's `@` separators. `null`
    /// counts as unset; an empty name is an error.
    pub(crate) fn names(&self, key: &'static str) -> Result<Option<Vec<String>>> {
        let names = match self.get(key) {
            Some(Value::String(s)) => s.split('@').map(str::to_string).collect(),
            _ => match self.strings(key)? {
                Some(list) => list,
                None => return Ok(None),
            },
        };
        if names.is_empty() {
            return Err(error(key, "names no volume (the list is empty)"));
        }
        if let Some(i) = names.iter().position(|n| n.trim().is_empty()) {
            return Err(error(key, format!("name {i} is empty")));
        }
        Ok(Some(names))
    }
}

/// Parses strict JSON text (no key set twice in an object); `origin` names the text in syntax
/// errors (a file path or `<text>`).
pub(crate) fn parse_json(text: &str, origin: &str) -> Result<Value> {
    let Strict(value) = serde_json::from_str(text).map_err(|e| Error::Parse {
        what: "configuration JSON",
        input: origin.to_string(),
        reason: e.to_string(),
    })?;
    if !value.is_object() {
        return Err(Error::Parse {
            what: "configuration JSON",
            input: origin.to_string(),
            reason: format!(
                "expected an object at the top level, found {}",
                describe(&value)
            ),
        });
    }
    Ok(value)
}

/// A JSON value in which no object sets a key twice (plain `serde_json` keeps the last one
/// silently, which would hide half of a configuration).
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "key `{key}` appears twice in one object"
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A JSON number that is an integer (or an integral float within range).
fn integer(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    let x = v.as_f64()?;
    (x.fract() == 0.0 && x.abs() < 9.0e15).then_some(x as i64)
}

/// A type error for `key`.
fn expected(key: &str, what: &str, found: &Value) -> Error {
    error(key, format!("expected {what}, found {}", describe(found)))
}

/// A short description of a JSON value for error messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => format!("the list {v}"),
        Value::Object(_) => "an object".into(),
    }
}

/// Every valid dotted name: the keys of PyTC's table and their sections.
fn names() -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for key in super::pytc::table().keys() {
        for (i, _) in key.match_indices('.') {
            all.push(key[..i].to_string());
        }
        all.push(key.clone());
    }
    all.sort();
    all.dedup();
    all
}

/// The valid name closest to the unknown `key`: among the names with the same last component
/// when there are any (a key put in the wrong section), else among all, the one at the
/// smallest edit distance, ignoring case.
pub(crate) fn suggest(key: &str) -> String {
    let key = key.to_ascii_uppercase();
    let all = names();
    let last = |k: &str| k.rsplit('.').next().unwrap_or_default().to_string();
    let same_last: Vec<&String> = all.iter().filter(|k| last(k) == last(&key)).collect();
    let pool: Vec<&String> = if same_last.is_empty() {
        all.iter().collect()
    } else {
        same_last
    };
    pool.into_iter()
        .min_by_key(|k| crate::error::edit_distance(&key, k))
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggest_prefers_the_unique_key_with_the_same_last_component() {
        assert_eq!(suggest("DATASET.INPUT_SIZE"), "MODEL.INPUT_SIZE");
        assert_eq!(suggest("ROTATE"), "AUGMENTOR.ROTATE");
        assert_eq!(suggest("DATASET.PAD_SZE"), "DATASET.PAD_SIZE");
        assert_eq!(suggest("augmentor.rotate.pp"), "AUGMENTOR.ROTATE.P");
    }

    #[test]
    fn every_used_key_is_in_the_table_and_has_a_section() {
        for key in KEYS {
            assert!(super::super::pytc::table().contains_key(*key), "{key}");
            let (section, _) = key.rsplit_once('.').unwrap();
            assert!(super::super::source::is_section(section), "{key}");
            assert!(!super::super::source::is_section(key), "{key}");
        }
    }
}
