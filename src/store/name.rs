//! Array names that a writer may create: checked once, here, before anything touches the disk.
//!
//! A name is a `/`-separated path of Zarr node names below the store's root. Writers resolve it
//! to a directory and may replace what is there, so a name that points at the root, a parent or
//! a sibling store (`""`, `.`, `..`, `../other.zarr`, `/abs`) must never reach them.

use std::path::{Path, PathBuf};

use super::array_dir;
use crate::{Error, Result};

/// The infix of the names voxload keeps for itself beside an array (its staging copy during a
/// replacement, its writer lock).
const RESERVED_INFIX: &str = ".voxload-";

/// The suffixes after [`RESERVED_INFIX`] of the siblings an [`super::slot::ArraySlot`] makes.
const SIBLING_SUFFIXES: [&str; 4] = ["new", "old", "lock", "join"];

/// Whether the name component `part` is one of the siblings writers keep beside an array
/// (`.NAME.voxload-new`, `-old`, `-lock`, `-join`): never a user's array, left out of listings.
pub(crate) fn is_writer_sibling(part: &str) -> bool {
    part.rsplit_once(RESERVED_INFIX)
        .is_some_and(|(_, suffix)| SIBLING_SUFFIXES.contains(&suffix))
}

/// Checks that `name` is a valid name for an array a writer creates: non-empty; relative;
/// components separated by single `/`, none empty, none made only of periods (`.`, `..`),
/// none starting with the reserved `__` (the Zarr v3 node-name rules); no backslash or control
/// character; none named like the siblings writers keep beside an array
/// (`.NAME.voxload-new`, `.NAME.voxload-old`, `.NAME.voxload-lock`, `.NAME.voxload-join`).
///
/// # Errors
/// [`Error::ArrayName`] naming the name and the rule it breaks.
///
/// ```
/// use voxload::store::check_array_name;
/// assert!(check_array_name("image").is_ok());
/// assert!(check_array_name("pred/0003").is_ok());
/// for bad in ["", ".", "..", "../other.zarr", "/abs", "a//b", "a/", "__meta", "a\\b"] {
///     assert!(check_array_name(bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn check_array_name(name: &str) -> Result<()> {
    let refuse = |reason: &str| {
        Err(Error::ArrayName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return refuse(
            "an array name must not be empty; name the array inside the store (STORE.zarr/NAME)",
        );
    }
    if name.starts_with('/') {
        return refuse("an array name is relative to its store and must not start with `/`");
    }
    if name.contains('\\') {
        return refuse("an array name must not contain a backslash; separate groups with `/`");
    }
    if name.chars().any(char::is_control) {
        return refuse("an array name must not contain control characters");
    }
    for part in name.split('/') {
        if part.is_empty() {
            return refuse("an array name must not have empty components (`a//b`, a trailing `/`)");
        }
        if part.chars().all(|c| c == '.') {
            return refuse("`.` and `..` components would leave the array's place in the store");
        }
        if part.starts_with("__") {
            return refuse("Zarr reserves node names starting with `__`");
        }
        if is_writer_sibling(part) {
            return refuse(
                "names ending in `.voxload-new`, `-old` or `-lock` are reserved for voxload's writers",
            );
        }
    }
    Ok(())
}

/// The directory of array `name` of the store at `store`, after [`check_array_name`] and a check
/// that no existing component of the path is a symlink leading out of the store.
///
/// # Errors
/// [`Error::ArrayName`] for a bad name or a path that resolves outside the store; [`Error::Io`]
/// when an existing component cannot be resolved.
pub(crate) fn checked_array_dir(store: &Path, name: &str) -> Result<PathBuf> {
    check_array_name(name)?;
    let dir = array_dir(store, name);
    let Ok(root) = store.canonicalize() else {
        // A store that does not exist yet: nothing in it can be a symlink.
        return Ok(dir);
    };
    let mut path = store.to_path_buf();
    for part in name.split('/') {
        path.push(part);
        match path.canonicalize() {
            Ok(real) if !real.starts_with(&root) => {
                return Err(Error::ArrayName {
                    name: name.to_string(),
                    reason: format!(
                        "{} resolves to {}, outside the store {}",
                        path.display(),
                        real.display(),
                        root.display()
                    ),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A dangling symlink would be followed by the directory creation below it.
                if path.symlink_metadata().is_ok() {
                    return Err(Error::ArrayName {
                        name: name.to_string(),
                        reason: format!("{} is a dangling symlink", path.display()),
                    });
                }
                break;
            }
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(dir)
}

/// The directory beside array `name` that holds a sibling of it called `.LEAF.voxload-SUFFIX`
/// (its staging copy, its lock file), and that sibling's array name.
pub(crate) fn sibling(name: &str, suffix: &str) -> String {
    match name.rsplit_once('/') {
        Some((parent, leaf)) => format!("{parent}/.{leaf}{RESERVED_INFIX}{suffix}"),
        None => format!(".{name}{RESERVED_INFIX}{suffix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_stay_in_the_parent_group_and_are_reserved() {
        assert_eq!(sibling("image", "new"), ".image.voxload-new");
        assert_eq!(sibling("pred/0003", "lock"), "pred/.0003.voxload-lock");
        for suffix in SIBLING_SUFFIXES {
            let name = sibling("seg/.voxload-fgindex", suffix);
            assert!(check_array_name(&name).is_err(), "{name}");
        }
        // voxload's own arrays inside an array (the foreground index) are ordinary names.
        assert!(check_array_name("seg/.voxload-fgindex").is_ok());
    }

    #[test]
    fn a_symlink_out_of_the_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("a.zarr");
        let other = dir.path().join("b.zarr");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::create_dir_all(other.join("image")).unwrap();
        std::os::unix::fs::symlink(&other, store.join("link")).unwrap();
        let err = checked_array_dir(&store, "link/image").unwrap_err();
        assert!(err.to_string().contains("outside the store"), "{err}");
        assert!(checked_array_dir(&store, "fresh/image").is_ok());
    }
}
