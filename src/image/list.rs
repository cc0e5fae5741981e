//! Lists of 2D images: a `.txt` file naming one image per line, or a folder of PNG/TIFF files.

use std::path::{Path, PathBuf};

use crate::error::IngestError;

/// Whether `path` names a list of images for [`image_list`]: a folder, or a `.txt` file.
#[must_use]
pub fn is_image_list(path: &Path) -> bool {
    path.is_dir()
        || lowercase_extension(path).as_deref() == Some("txt")
        || glob_pattern(path).is_some()
}

/// PyTC's image patterns (`dir/*.png`, `dir/*.tif`, and `dir/**/*.png` for every folder below
/// `dir`): the folder, the extension, and whether the search is recursive.
fn glob_pattern(path: &Path) -> Option<(PathBuf, &'static str, bool)> {
    let ext = match path.file_name()?.to_str()? {
        "*.png" => "png",
        "*.tif" => "tif",
        _ => return None,
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    Some(match dir.file_name().and_then(|n| n.to_str()) {
        Some("**") => (
            dir.parent().unwrap_or(Path::new("")).to_path_buf(),
            ext,
            true,
        ),
        _ => (dir.to_path_buf(), ext, false),
    })
}

/// The files matching a [`glob_pattern`], sorted by path as Python's `sorted(glob(...))`
/// sorts them (byte order).
fn glob_images(dir: &Path, ext: &str, recursive: bool) -> Result<Vec<PathBuf>, IngestError> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut visited = std::collections::HashSet::new();
    while let Some(d) = pending.pop() {
        if let Ok(real) = std::fs::canonicalize(&d) {
            if !visited.insert(real) {
                continue; // a symlink loop
            }
        }
        for entry in std::fs::read_dir(&d)
            .map_err(|e| IngestError::decode(&d, e))?
            .flatten()
        {
            let path = entry.path();
            if recursive && path.is_dir() {
                pending.push(path);
            } else if path.is_file() && path.extension().and_then(|e| e.to_str()) == Some(ext) {
                found.push(path);
            }
        }
    }
    found.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(found)
}

/// The images `path` lists: a folder's PNG and TIFF files in natural order (`im2` before
/// `im10`), the lines of a `.txt` file resolved against the file's folder (blank lines and
/// `#` comments skipped), or the files of a PyTC pattern `dir/*.png`, `dir/*.tif` (or
/// `dir/**/*.png`, every folder below `dir` too) in Python's sorted order.
///
/// ```
/// use voxload::image::image_list;
///
/// let dir = tempfile::tempdir()?;
/// let list = dir.path().join("list.txt");
/// std::fs::write(&list, "# slices\na/s0.png\n\n  a/s1.png\n")?;
/// assert_eq!(image_list(&list)?, [dir.path().join("a/s0.png"), dir.path().join("a/s1.png")]);
/// std::fs::create_dir_all(dir.path().join("b/c"))?;
/// for f in ["b/x10.png", "b/x2.png", "b/c/y.png", "b/z.tif"] {
///     std::fs::write(dir.path().join(f), b"")?;
/// }
/// assert_eq!(image_list(&dir.path().join("b/*.png"))?, [dir.path().join("b/x10.png"), dir.path().join("b/x2.png")]);
/// assert_eq!(image_list(&dir.path().join("b/**/*.png"))?.len(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`IngestError::Decode`] when the folder or list cannot be read, [`IngestError::Input`]
/// when `path` is neither (see [`is_image_list`]) or lists no image.
pub fn image_list(path: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let files = if let Some((dir, ext, recursive)) = glob_pattern(path) {
        glob_images(&dir, ext, recursive)?
    } else if path.is_dir() {
        folder_images(path)?
    } else if is_image_list(path) {
        read_list(path)?
    } else {
        return Err(IngestError::Input {
            path: path.into(),
            reason: "expected a folder of PNG/TIFF images or a .txt list of images".into(),
        });
    };
    if files.is_empty() {
        return Err(IngestError::Input {
            path: path.into(),
            reason: "no PNG or TIFF images found".into(),
        });
    }
    Ok(files)
}

/// The PNG and TIFF files of folder `dir`, in natural order.
fn folder_images(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| IngestError::decode(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_image(p))
        .collect();
    files.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(files)
}

/// The lines of the `.txt` list at `path`, resolved against its folder.
fn read_list(path: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let text = crate::file::read_regular_text(path, crate::file::MAX_TEXT_BYTES)
        .map_err(|e| IngestError::decode(path, e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| base.join(l))
        .collect())
}

fn lowercase_extension(path: &Path) -> Option<String> {
    path.extension().map(|e| e.to_string_lossy().to_lowercase())
}

fn is_image(path: &Path) -> bool {
    path.is_file()
        && matches!(
            lowercase_extension(path).as_deref(),
            Some("png" | "tif" | "tiff")
        )
}

/// Compares names so that runs of digits compare by value (`im2` before `im10`).
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, run)) if *d == digit => run.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out
    }
    let (pa, pb) = (parts(a), parts(b));
    for ((da, ra), (db, rb)) in pa.iter().zip(&pb) {
        let ord = if *da && *db {
            let (ta, tb) = (ra.trim_start_matches('0'), rb.trim_start_matches('0'));
            ta.len()
                .cmp(&tb.len())
                .then_with(|| ta.cmp(tb))
                .then_with(|| ra.len().cmp(&rb.len()))
        } else {
            ra.cmp(rb)
        };
        if ord.is_ne() {
            return ord;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_cmp_orders_digit_runs_by_value() {
        let mut names = vec!["im10.png", "im2.png", "im02.png", "im1.png", "a.png"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            ["a.png", "im1.png", "im2.png", "im02.png", "im10.png"]
        );
    }

    #[test]
    fn image_list_refuses_other_paths_and_empty_lists() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("tiles.json");
        std::fs::write(&json, "{}").unwrap();
        assert!(!is_image_list(&json));
        assert!(matches!(image_list(&json), Err(IngestError::Input { .. })));
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "# nothing\n\n").unwrap();
        assert!(matches!(image_list(&empty), Err(IngestError::Input { .. })));
        assert!(matches!(
            image_list(dir.path()),
            Err(IngestError::Input { .. })
        ));
    }
}
