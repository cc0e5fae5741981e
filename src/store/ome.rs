//! OME-Zarr (NGFF) image groups: NGFF 0.4 on Zarr v2 (`multiscales` in `.zattrs`) and 0.5
//! on Zarr v3 (`ome.multiscales` in the group's `zarr.json` attributes).
//!
//! An image group opens as its level 0 (the first dataset of its first multiscale); a level
//! opens by its own path (`em.zarr/raw/2`). Each level's voxel size is its `scale`
//! transformation (times the multiscale's own, when it has one), in the axes' units.

use std::path::Path;

use serde_json::{Map, Value};

use super::array_dir;
use crate::{Error, Result};

/// One axis of a multiscale image.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The axis name (`z`, `y`, `x`, `c`, `t`).
    pub name: String,
    /// `space`, `time`, `channel`, or none.
    pub kind: Option<String>,
    /// The unit (`nanometer`, `micrometer`, ...), if given.
    pub unit: Option<String>,
}

/// One resolution level of a multiscale image.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// The level's array path inside the image group (`0`, `s1`, ...).
    pub path: String,
    /// The voxel size along each axis (1 where not given).
    pub scale: Vec<f64>,
    /// The position of the first voxel along each axis (0 where not given).
    pub translation: Vec<f64>,
}

/// The first multiscale of an OME-Zarr image group.
#[derive(Clone, Debug, PartialEq)]
pub struct Multiscale {
    /// The NGFF version the metadata states (`0.4`, `0.5`), if any.
    pub version: Option<String>,
    /// The multiscale's name, if any.
    pub name: Option<String>,
    /// The axes, outermost first.
    pub axes: Vec<Axis>,
    /// The levels, finest first.
    pub levels: Vec<Level>,
}

impl Multiscale {
    /// Reads the multiscale metadata of the group at `dir`: `None` when `dir` is not a group
    /// or has no `multiscales`.
    ///
    /// ```
    /// use voxload::store::ome::Multiscale;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join(".zgroup"), r#"{"zarr_format": 2}"#)?;
    /// std::fs::write(dir.path().join(".zattrs"), r#"{"multiscales": [{"version": "0.4",
    ///   "axes": [{"name": "z", "type": "space", "unit": "nanometer"},
    ///            {"name": "y", "type": "space", "unit": "nanometer"},
    ///            {"name": "x", "type": "space", "unit": "nanometer"}],
    ///   "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [30, 8, 8]}]},
    ///                {"path": "1", "coordinateTransformations": [{"type": "scale", "scale": [30, 16, 16]},
    ///                                                           {"type": "translation", "translation": [0, 4, 4]}]}]}]}"#)?;
    /// let m = Multiscale::read(dir.path())?.unwrap();
    /// assert_eq!(m.levels[1].path, "1");
    /// assert_eq!(m.levels[1].scale, [30.0, 16.0, 16.0]);
    /// assert_eq!(m.levels[1].translation, [0.0, 4.0, 4.0]);
    /// assert_eq!(m.axes[2].unit.as_deref(), Some("nanometer"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NotZarr`] naming the group when its metadata is unreadable or its multiscale
    /// lists no datasets or a dataset without a path.
    pub fn read(dir: &Path) -> Result<Option<Multiscale>> {
        let Some(attributes) = group_attributes(dir)? else {
            return Ok(None);
        };
        let (multiscales, version) = match attributes.get("ome") {
            Some(ome) => (
                ome.get("multiscales"),
                ome.get("version").and_then(Value::as_str),
            ),
            None => (attributes.get("multiscales"), None),
        };
        let Some(first) = multiscales
            .and_then(Value::as_array)
            .and_then(|m| m.first())
        else {
            return Ok(None);
        };
        let bad = |reason: &str| Error::NotZarr {
            path: dir.to_path_buf(),
            reason: format!("OME-Zarr multiscales: {reason}"),
        };
        let axes: Vec<Axis> = first
            .get("axes")
            .and_then(Value::as_array)
            .map(|axes| axes.iter().map(axis).collect())
            .unwrap_or_default();
        let global = transforms(first.get("coordinateTransformations"));
        let datasets = first
            .get("datasets")
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| bad("no datasets listed"))?;
        let levels = datasets
            .iter()
            .map(|d| {
                let path = d
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("a dataset has no path"))?;
                let (mut scale, mut translation) = transforms(d.get("coordinateTransformations"));
                let (gscale, gtranslation) = &global;
                combine(&mut scale, gscale, |a, b| a * b, 1.0);
                combine(&mut translation, gtranslation, |a, b| a + b, 0.0);
                Ok(Level {
                    path: path.to_string(),
                    scale,
                    translation,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let version = version
            .or_else(|| first.get("version").and_then(Value::as_str))
            .map(str::to_string);
        Ok(Some(Multiscale {
            version,
            name: first
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string),
            axes,
            levels,
        }))
    }

    /// The voxel size `(z, y, x)` of level `level`: the last three entries of its scale.
    #[must_use]
    pub fn voxel_size(&self, level: usize) -> Option<[f64; 3]> {
        let scale = &self.levels.get(level)?.scale;
        let n = scale.len();
        (n >= 3).then(|| [scale[n - 3], scale[n - 2], scale[n - 1]])
    }

    /// The unit of the spatial axes (`z`, `y`, `x`), when they state one.
    #[must_use]
    pub fn unit(&self) -> Option<&str> {
        self.axes.iter().rev().find_map(|a| a.unit.as_deref())
    }
}

fn axis(v: &Value) -> Axis {
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    Axis {
        name: text("name")
            .or_else(|| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        kind: text("type"),
        unit: text("unit"),
    }
}

/// The scale and translation of a `coordinateTransformations` list (empty when absent).
fn transforms(list: Option<&Value>) -> (Vec<f64>, Vec<f64>) {
    let numbers = |v: Option<&Value>| -> Vec<f64> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let mut scale = Vec::new();
    let mut translation = Vec::new();
    for t in list.and_then(Value::as_array).into_iter().flatten() {
        match t.get("type").and_then(Value::as_str) {
            Some("scale") => scale = numbers(t.get("scale")),
            Some("translation") => translation = numbers(t.get("translation")),
            _ => {}
        }
    }
    (scale, translation)
}

/// Applies a multiscale-wide transformation to a level's, element by element (a missing
/// level transformation counts as `identity`).
fn combine(level: &mut Vec<f64>, global: &[f64], op: fn(f64, f64) -> f64, identity: f64) {
    if global.is_empty() {
        return;
    }
    if level.is_empty() {
        *level = vec![identity; global.len()];
    }
    for (l, g) in level.iter_mut().zip(global) {
        *l = op(*l, *g);
    }
}

/// The attributes of the group at `dir` (Zarr v3 or v2), `None` when `dir` is not a group.
fn group_attributes(dir: &Path) -> Result<Option<Map<String, Value>>> {
    if super::meta_v2::is_group(dir) {
        return super::meta_v2::attributes(dir).map(Some);
    }
    if !dir.join("zarr.json").is_file() {
        return Ok(None);
    }
    let doc = super::meta::read_node(dir)?;
    if doc.get("node_type").and_then(Value::as_str) != Some("group") {
        return Ok(None);
    }
    Ok(Some(
        doc.get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    ))
}

/// The array `name` names in the store at `root`: itself, or for an OME-Zarr image group its
/// level 0 (`name/PATH`).
///
/// # Errors
/// As [`Multiscale::read`]; [`Error::NotZarr`] when the group lists a level 0 that is missing.
pub(crate) fn resolve(root: &Path, name: &str) -> Result<String> {
    let dir = array_dir(root, name);
    let Some(multiscale) = Multiscale::read(&dir)? else {
        return Ok(name.to_string());
    };
    let level = &multiscale.levels[0].path;
    let resolved = if name.is_empty() {
        level.clone()
    } else {
        format!("{}/{level}", name.trim_end_matches('/'))
    };
    let level_dir = array_dir(root, &resolved);
    if !level_dir.join("zarr.json").exists() && !level_dir.join(".zarray").exists() {
        return Err(Error::NotZarr {
            path: dir,
            reason: format!(
                "an OME-Zarr image whose level 0 (`{level}`) is missing; the image is incomplete"
            ),
        });
    }
    Ok(resolved)
}

/// The voxel size `(z, y, x)` and unit of array `name` of the store at `root`: its level's
/// scale when it is a level of an OME-Zarr image (or the image itself, read as level 0), else
/// the `voxel_size` (and `unit`) voxload's ingest records in the array's attributes.
///
/// ```
/// use ndarray::Array3;
/// use voxload::{write_array, Encoding};
/// let dir = tempfile::tempdir()?;
/// write_array(dir.path(), "im", &Array3::<u8>::zeros((2, 4, 4)), [2, 4, 4], Encoding::Raw)?;
/// assert_eq!(voxload::store::ome::voxel_size(dir.path(), "im")?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`Multiscale::read`] and [`super::ArrayMeta::read`].
pub fn voxel_size(root: &Path, name: &str) -> Result<Option<([f64; 3], Option<String>)>> {
    let resolved = resolve(root, name)?;
    let (parent, leaf) = match resolved.rsplit_once('/') {
        Some((p, l)) => (p.to_string(), l.to_string()),
        None => (String::new(), resolved.clone()),
    };
    if let Some(m) = Multiscale::read(&array_dir(root, &parent))? {
        if let Some(i) = m.levels.iter().position(|l| l.path == leaf) {
            return Ok(m.voxel_size(i).map(|v| (v, m.unit().map(str::to_string))));
        }
    }
    let meta = super::ArrayMeta::read(&array_dir(root, &resolved))?;
    let size = meta
        .attributes
        .get("voxel_size")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
        .filter(|v| v.len() == 3)
        .map(|v| [v[0], v[1], v[2]]);
    let unit = meta
        .attributes
        .get("unit")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(size.map(|s| (s, unit)))
}
