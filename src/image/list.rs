//! Lists of 2D images: a `.txt` file naming one image per line, or a folder of PNG/TIFF files.

use std::path::{Path, PathBuf};

use crate::error::IngestError;

/// Whether `path` names a list of images for [`image_list`]: a folder, or a `.txt` file.
#[must_use]
pub fn is_image_list(path: &Path) -> bool {
    path.is_dir() || lowercase_extension(path).as_deref() == Some("txt")
}

/// The images `path` lists: a folder's PNG and TIFF files in natural order (`im2` before
/// `im10`), or the lines of a `.txt` file resolved against the file's folder (blank lines and
/// `#` comments skipped).
///
/// ```
/// use voxload::image::image_list;
///
/// let dir = tempfile::tempdir()?;
/// let list = dir.path().join("list.txt");
/// std::fs::write(&list, "# slices\na/s0.png\n\n  a/s1.png\n")?;
/// assert_eq!(image_list(&list)?, [dir.path().join("a/s0.png"), dir.path().join("a/s1.png")]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`IngestError::Decode`] when the folder or list cannot be read, [`IngestError::Input`]
/// when `path` is neither (see [`is_image_list`]) or lists no image.
pub fn image_list(path: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let files = if path.is_dir() {
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
