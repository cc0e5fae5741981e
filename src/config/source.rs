//! Configuration files, YAML or JSON, read and merged in order as PyTC merges its
//! `--config-base` and `--config-file`: each file's keys are checked against PyTC's key table,
//! decoded as yacs decodes them, and later files win.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use super::pytc::{decode, table, type_mismatch};
use super::raw::{error, suggest};
use crate::{Error, Result};

/// The most bytes of one configuration file.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// The merged keys of one or more configuration files.
#[derive(Clone, Debug, Default)]
pub(crate) struct Merged {
    /// Every key a file sets → its value (the last file's).
    pub values: BTreeMap<String, Value>,
    /// Every key a file sets → the folder of the file that set it (relative paths in it are
    /// relative to that folder).
    pub folders: BTreeMap<String, PathBuf>,
    /// The folder of the last file.
    pub last_folder: PathBuf,
}

impl Merged {
    /// Reads and merges `files` in order.
    ///
    /// # Errors
    /// [`Error::Io`] for a file that cannot be read; [`Error::Parse`] for YAML or JSON that
    /// does not parse (naming the line and column) or is not a mapping; [`Error::Config`] for
    /// an unknown key (with the closest valid one) or a value of the wrong kind, naming the
    /// file.
    pub fn read(files: &[PathBuf]) -> Result<Self> {
        let mut merged = Merged::default();
        for file in files {
            let text = crate::file::read_regular_text(file, MAX_FILE_BYTES)
                .map_err(|e| Error::io(file, e))?;
            let folder = match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let json = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let origin = file.display().to_string();
            let value = if json {
                super::raw::parse_json(&text, &origin)?
            } else {
                parse_yaml(&text, &origin)?
            };
            merged
                .add(value, &folder, !json)
                .map_err(|e| in_file(e, file))?;
            merged.last_folder = folder;
        }
        Ok(merged)
    }

    /// One text (JSON or YAML) whose relative paths are relative to `folder`.
    ///
    /// # Errors
    /// As [`Merged::read`].
    pub fn from_text(text: &str, folder: &Path, origin: &str) -> Result<Self> {
        let (value, yaml) = match super::raw::parse_json(text, origin) {
            Ok(v) => (v, false),
            Err(json_error) => (parse_yaml(text, origin).map_err(|_| json_error)?, true),
        };
        let mut merged = Merged {
            last_folder: folder.to_path_buf(),
            ..Merged::default()
        };
        merged.add(value, folder, yaml)?;
        Ok(merged)
    }

    /// Merges one file's top-level mapping; `yaml` values are decoded as yacs decodes them.
    fn add(&mut self, value: Value, folder: &Path, yaml: bool) -> Result<()> {
        let Value::Object(top) = value else {
            return Err(error("", "the file is not a mapping of sections"));
        };
        let mut flat = BTreeMap::new();
        flatten("", top, yaml, &mut flat)?;
        for (key, value) in flat {
            self.folders.insert(key.clone(), folder.to_path_buf());
            self.values.insert(key, value);
        }
        Ok(())
    }

    /// The folder relative paths of `key`'s value are relative to: the folder of the file that
    /// set it, else of the last file.
    pub fn folder_of(&self, key: &str) -> &Path {
        self.folders.get(key).unwrap_or(&self.last_folder)
    }
}

/// Adds the file name to a configuration error.
fn in_file(e: Error, file: &Path) -> Error {
    match e {
        Error::Config { key, reason } => Error::Config {
            key,
            reason: format!("{reason} (in {})", file.display()),
        },
        other => other,
    }
}

/// Files every key of `object` (whose dotted prefix is `prefix`) into `flat`.
fn flatten(
    prefix: &str,
    object: serde_json::Map<String, Value>,
    yaml: bool,
    flat: &mut BTreeMap<String, Value>,
) -> Result<()> {
    for (name, value) in object {
        let key = format!("{prefix}{name}");
        if let Some(default) = table().get(&key) {
            let value = if yaml { decode(value) } else { value };
            // The keys voxload uses are checked by its validation, which says more.
            let used = super::raw::KEYS.contains(&key.as_str());
            if let Some(kind) = type_mismatch(default, &value).filter(|_| !used) {
                return Err(error(
                    key,
                    format!("expected {kind} (PyTC's default is {default})"),
                ));
            }
            flat.insert(key, value);
        } else if is_section(&key) {
            match value {
                Value::Object(inner) => flatten(&format!("{key}."), inner, yaml, flat)?,
                Value::Null => {}
                other => {
                    return Err(error(
                        key,
                        format!(
                            "is a section; expected an object (a mapping) of keys, found {other}"
                        ),
                    ))
                }
            }
        } else {
            let hint = suggest(&key);
            return Err(error(key, format!("unknown key; did you mean {hint}?")));
        }
    }
    Ok(())
}

/// Whether `key` is a section of the table: a proper prefix (at a dot) of some key.
pub(crate) fn is_section(key: &str) -> bool {
    table()
        .range(format!("{key}.")..)
        .next()
        .is_some_and(|(k, _)| k.starts_with(&format!("{key}.")))
}

/// YAML text → JSON values (the first document; an empty text is an empty mapping).
fn parse_yaml(text: &str, origin: &str) -> Result<Value> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| Error::Parse {
        what: "configuration YAML",
        input: origin.to_string(),
        reason: format!(
            "line {}, column {}: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        ),
    })?;
    let Some(doc) = docs.into_iter().next() else {
        return Ok(Value::Object(serde_json::Map::new()));
    };
    let bad = |reason: String| Error::Parse {
        what: "configuration YAML",
        input: origin.to_string(),
        reason,
    };
    match to_json(doc).map_err(bad)? {
        Value::Null => Ok(Value::Object(serde_json::Map::new())),
        v @ Value::Object(_) => Ok(v),
        other => Err(bad(format!(
            "expected a mapping of sections at the top level, found {other}"
        ))),
    }
}

fn to_json(y: Yaml) -> std::result::Result<Value, String> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(n) => Value::from(n),
        Yaml::Real(text) => match text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => Value::Number(n),
            None => Value::String(text),
        },
        Yaml::String(s) => match s.as_str() {
            // YAML 1.1 (PyYAML, which PyTC uses) reads these plain words as booleans.
            "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Value::Bool(true),
            "no" | "No" | "NO" | "off" | "Off" | "OFF" => Value::Bool(false),
            _ => Value::String(s),
        },
        Yaml::Array(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<std::result::Result<_, _>>()?,
        ),
        Yaml::Hash(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Integer(n) => n.to_string(),
                    other => return Err(format!("a mapping key that is not a name: {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported; write the value out".into()),
        Yaml::BadValue => return Err("a value that cannot be read".into()),
    })
}
