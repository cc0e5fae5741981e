//! `DATASET.INPUT_PATH` as PyTC reads it: one folder, or several joined by `@`, one per volume
//! (PyTC pairs the `i`-th folder with the `i`-th image, label and valid-mask name).
//!
//! voxload opens every array under one root: with several folders, the root is their deepest
//! common ancestor and each volume's names are prefixed by the path from there to its folder,
//! so `INPUT_PATH: a/@b/` with `IMAGE_NAME: im.zarr@im.zarr` opens `a/im.zarr` and `b/im.zarr`.

use std::path::{Component, Path, PathBuf};

use super::raw::{error, RawConfig};
use crate::Result;

const KEY: &str = "DATASET.INPUT_PATH";

/// Where a configuration's arrays are: the root they are opened under, and with several
/// folders, each volume's prefix (a `/`-separated path under the root).
#[derive(Debug, PartialEq)]
pub(super) struct InputPath {
    pub root: PathBuf,
    pub prefixes: Option<Vec<String>>,
}

/// `path` without `.` components and with each `..` taking away the component before it.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `DATASET.INPUT_PATH`, resolved against `base` (the config file's folder; unset: `base`).
pub(super) fn input_path(raw: &RawConfig, base: &Path) -> Result<InputPath> {
    let Some(text) = raw.string(KEY)? else {
        return Ok(InputPath {
            root: base.to_path_buf(),
            prefixes: None,
        });
    };
    if text.is_empty() {
        return Err(error(KEY, "is empty"));
    }
    let dirs: Vec<&str> = text.split('@').collect();
    // A remote store's address (`s3://bucket/data`) is taken as it is, never joined to `base`.
    let resolve = |d: &str| {
        if crate::store::remote::is_remote(Path::new(d)) {
            PathBuf::from(d)
        } else {
            lexical(&base.join(d))
        }
    };
    if dirs.len() == 1 {
        return Ok(InputPath {
            root: if crate::store::remote::is_remote(Path::new(&text)) {
                PathBuf::from(text)
            } else {
                base.join(text)
            },
            prefixes: None,
        });
    }
    if let Some(i) = dirs.iter().position(|d| d.is_empty()) {
        return Err(error(KEY, format!("folder {i} of {text:?} is empty")));
    }
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| resolve(d)).collect();
    let mut root = dirs[0].clone();
    while !dirs.iter().all(|d| d.starts_with(&root)) {
        if !root.pop() {
            return Err(error(
                KEY,
                format!("the folders of {text:?} share no common root"),
            ));
        }
    }
    let prefixes = dirs
        .iter()
        .map(|d| {
            let rest = d.strip_prefix(&root).unwrap_or(d);
            let parts: Vec<String> = rest
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            parts.join("/")
        })
        .collect();
    Ok(InputPath {
        root,
        prefixes: Some(prefixes),
    })
}

/// `name` under `prefix` (`prefix/name`, or `name` for an empty prefix).
pub(super) fn prefixed(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn read(text: &str) -> Result<InputPath> {
        let mut values = BTreeMap::new();
        values.insert(KEY.to_string(), json!(text));
        input_path(&RawConfig::from_values(&values), Path::new("/cfg"))
    }

    #[test]
    fn folders_share_their_deepest_root() {
        let p = read("data/a/@data/b/c/").unwrap();
        assert_eq!(p.root, Path::new("/cfg/data"));
        assert_eq!(p.prefixes.unwrap(), ["a", "b/c"]);
        let p = read("/x/y@/x/../x/y/z").unwrap();
        assert_eq!(
            (p.root, p.prefixes.unwrap()),
            (PathBuf::from("/x/y"), vec![String::new(), "z".into()])
        );
        assert_eq!(read("one/").unwrap().root, Path::new("/cfg/one/"));
        assert!(read("a@@b").unwrap_err().to_string().contains("folder 1"));
        assert_eq!(prefixed("", "im"), "im");
        assert_eq!(prefixed("a/b", "im"), "a/b/im");
    }
}
