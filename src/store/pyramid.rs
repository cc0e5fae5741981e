//! OME-Zarr pyramids: an array's downsampled levels and the NGFF 0.5 multiscale metadata that
//! makes `NAME` an image group of `NAME/0` (the volume) … `NAME/N`.
//!
//! Level `k` is made from level `k - 1`, halved in y and x, and in z too once the voxel has
//! become finer in z than in y (so `30, 8, 8` nm gives `30, 16, 16`, `30, 32, 32`, then
//! `60, 64, 64`). Images take the mean of each block (integers rounded half up); labels its
//! most frequent non-zero id (the first met, in C order, among equally frequent ones; `0` when
//! the block is all background), so small objects survive. Blocks at the volume's far faces
//! are partial and reduce only the voxels they hold. Levels are written one block of output
//! chunks at a time, so memory stays bounded by a block, whatever the volume; a level already
//! complete with the expected shape is kept, so an interrupted run resumes at the level it
//! stopped in.

use std::path::Path;

use ndarray::{Array3, ArrayView3};
use serde_json::{json, Map, Value};

use super::meta::{Layout, Status};
use super::{array_dir, ArrayMeta, ArrayWriter, Encoding, Existing, MappedArray};
use crate::{dispatch_dtype, Bbox, Element, Error, PadMode, Result, Shape};

/// What a pyramid is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct PyramidOptions {
    /// Levels below level 0 (`N`: the image then has `N + 1` levels).
    pub levels: u32,
    /// Level 0's voxel size `(z, y, x)`, in `unit`.
    pub voxel_size: [f64; 3],
    /// The unit of the spatial axes (an NGFF unit name such as `nanometer`).
    pub unit: String,
    /// Reduce by the most frequent non-zero id (labels) rather than the mean (images).
    pub label: bool,
}

impl Default for PyramidOptions {
    fn default() -> Self {
        PyramidOptions {
            levels: 0,
            voxel_size: [1.0; 3],
            unit: "nanometer".into(),
            label: false,
        }
    }
}

/// The factors `(z, y, x)` by which a level of voxel size `voxel` is reduced to make the next.
///
/// ```
/// use voxload::store::pyramid::factors;
/// assert_eq!(factors([30.0, 8.0, 8.0]), [1, 2, 2]);
/// assert_eq!(factors([30.0, 32.0, 32.0]), [2, 2, 2]);
/// assert_eq!(factors([8.0, 8.0, 8.0]), [1, 2, 2]);
/// ```
#[must_use]
pub fn factors(voxel: [f64; 3]) -> [u64; 3] {
    [if voxel[0] < voxel[1] { 2 } else { 1 }, 2, 2]
}

/// One level of a pyramid: its array path inside the image group, its voxel size and the
/// position of its first voxel's centre.
#[derive(Clone, Debug, PartialEq)]
pub struct PyramidLevel {
    /// The level's path (`"0"`, `"1"`, ...).
    pub path: String,
    /// The shape `(z, y, x)`.
    pub shape: Shape,
    /// The voxel size `(z, y, x)`.
    pub scale: [f64; 3],
    /// The translation `(z, y, x)` of the first voxel's centre.
    pub translation: [f64; 3],
}

/// The levels of a pyramid over a level 0 of `shape` (their shapes, scales and translations).
#[must_use]
pub fn plan(shape: Shape, options: &PyramidOptions) -> Vec<PyramidLevel> {
    let mut levels = vec![PyramidLevel {
        path: "0".into(),
        shape,
        scale: options.voxel_size,
        translation: [0.0; 3],
    }];
    for k in 1..=options.levels {
        let prev = &levels[levels.len() - 1];
        let f = factors(prev.scale);
        let scale: [f64; 3] = std::array::from_fn(|a| prev.scale[a] * f[a] as f64);
        levels.push(PyramidLevel {
            path: k.to_string(),
            shape: std::array::from_fn(|a| prev.shape[a].div_ceil(f[a])),
            scale,
            translation: std::array::from_fn(|a| (scale[a] - options.voxel_size[a]) / 2.0),
        });
    }
    levels
}

/// Makes `name` an NGFF 0.5 image group of `name/0` … `name/N`: writes the levels missing
/// below `name/0` and the group's multiscale metadata. A plain array `name` is first moved to
/// `name/0` (readers of `name` then read level 0 through the group). `progress` is called
/// with `(level, blocks done, blocks)` as the levels are written.
///
/// ```
/// use ndarray::Array3;
/// use voxload::store::pyramid::{build, PyramidOptions};
/// use voxload::{write_array, Encoding, MappedArray};
/// let dir = tempfile::tempdir()?;
/// let v = Array3::from_shape_fn((4, 6, 6), |(z, y, x)| (z * 36 + y * 6 + x) as u16);
/// write_array(dir.path(), "em", &v, [2, 4, 4], Encoding::Raw)?;
/// let options = PyramidOptions { levels: 2, voxel_size: [30.0, 8.0, 8.0], ..Default::default() };
/// let levels = build(dir.path(), "em", &options, &mut |_, _, _| {})?;
/// assert_eq!(levels[2].shape, [4, 2, 2]);
/// let one = MappedArray::<u16>::open(dir.path(), "em/1")?;
/// // Level 1, voxel (0, 0, 0): the mean of 0, 1, 6, 7, rounded half up.
/// assert_eq!(one.read(voxload::Bbox::new([0, 0, 0], [1, 1, 1]), Default::default())?[[0, 0, 0]], 4);
/// // `em` itself now reads as level 0.
/// assert_eq!(MappedArray::<u16>::open(dir.path(), "em")?.shape(), [4, 6, 6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::NotZarr`] when `name` is neither an array nor a group holding `name/0`; reading
/// and writing errors naming the level.
pub fn build(
    store: &Path,
    name: &str,
    options: &PyramidOptions,
    progress: &mut dyn FnMut(u32, u64, u64),
) -> Result<Vec<PyramidLevel>> {
    let group = array_dir(store, name);
    let level0 = format!("{}/0", name.trim_end_matches('/'));
    if group.join("zarr.json").exists() && ArrayMeta::read(&group).is_ok() {
        move_to_level0(&group)?;
    }
    let base = ArrayMeta::read(&array_dir(store, &level0))?;
    let levels = plan(base.shape, options);
    let encoding = match &base.layout {
        Layout::Raw => Encoding::Raw,
        Layout::ShardedRaw { .. } => Encoding::ShardedRaw { shard: base.chunk },
        Layout::Decoded { .. } => Encoding::Zstd { level: 3 },
    };
    let chunk = match &base.layout {
        Layout::ShardedRaw { inner, .. } => *inner,
        _ => base.chunk,
    };
    for (k, level) in levels.iter().enumerate().skip(1) {
        let target = format!("{name}/{}", level.path);
        let done = ArrayMeta::read(&array_dir(store, &target))
            .is_ok_and(|m| m.status == Status::Complete && m.shape == level.shape);
        if done {
            continue;
        }
        let source = format!("{name}/{}", levels[k - 1].path);
        let f = factors(levels[k - 1].scale);
        dispatch_dtype!(base.dtype, T => {
            let writer = ArrayWriter::<T>::create_with(
                store, &target, level.shape, chunk, encoding, Map::new(), Existing::Replace,
            )?;
            let reader = MappedArray::<T>::open(store, &source)?;
            let mut report = |done, total| progress(k as u32, done, total);
            downsample_level(&reader, &writer, f, level.shape, chunk, options.label, &mut report)?;
            writer.finish()?;
        });
    }
    write_group(store, name, &levels, options)?;
    Ok(levels)
}

/// Moves the array at `dir` to `dir/0`, through a sibling name so no reader sees a half move.
fn move_to_level0(dir: &Path) -> Result<()> {
    let io = |e| Error::io(dir, e);
    let staged = dir.with_file_name(format!(
        "{}.pyramid-level0",
        dir.file_name()
            .map_or("array".into(), |n| n.to_string_lossy())
    ));
    std::fs::rename(dir, &staged).map_err(io)?;
    std::fs::create_dir(dir).map_err(io)?;
    std::fs::rename(&staged, dir.join("0")).map_err(io)?;
    Ok(())
}

/// Writes level `shape` of `writer` from `reader`, reduced by `f`, in blocks of output chunks.
fn downsample_level<T: Element>(
    reader: &MappedArray<T>,
    writer: &ArrayWriter<T>,
    f: [u64; 3],
    shape: Shape,
    chunk: Shape,
    label: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<()> {
    // About 8 MiB of output voxels per block, in whole chunks.
    let block: Shape = [
        chunk[0],
        (chunk[1] * 4).min(shape[1]).max(1),
        (chunk[2] * 4).min(shape[2]).max(1),
    ];
    let counts: [u64; 3] = std::array::from_fn(|a| shape[a].div_ceil(block[a]));
    let total = counts.iter().product::<u64>();
    let source_shape = reader.shape();
    let mut done = 0;
    for bz in 0..counts[0] {
        for by in 0..counts[1] {
            for bx in 0..counts[2] {
                let at = [bz * block[0], by * block[1], bx * block[2]];
                let size: Shape = std::array::from_fn(|a| block[a].min(shape[a] - at[a]));
                let src_at: [u64; 3] = std::array::from_fn(|a| at[a] * f[a]);
                let src_size: Shape =
                    std::array::from_fn(|a| (size[a] * f[a]).min(source_shape[a] - src_at[a]));
                let window = Bbox::new(src_at.map(|v| v as i64), src_size);
                let source = reader.read(window, PadMode::Edge)?;
                let out = reduce(source.view(), f, size, label);
                writer.write_region(at, out.view())?;
                done += 1;
                progress(done, total);
            }
        }
    }
    Ok(())
}

/// Reduces `source` by `f` to `size`: each output voxel from the block of up to
/// `f[0] · f[1] · f[2]` source voxels it covers.
pub(crate) fn reduce<T: Element>(
    source: ArrayView3<'_, T>,
    f: [u64; 3],
    size: Shape,
    label: bool,
) -> Array3<T> {
    let dims = source.dim();
    let f = f.map(|v| v as usize);
    let mut block: Vec<T> = Vec::with_capacity(f.iter().product());
    Array3::from_shape_fn(
        (size[0] as usize, size[1] as usize, size[2] as usize),
        |(z, y, x)| {
            block.clear();
            for sz in z * f[0]..((z + 1) * f[0]).min(dims.0) {
                for sy in y * f[1]..((y + 1) * f[1]).min(dims.1) {
                    for sx in x * f[2]..((x + 1) * f[2]).min(dims.2) {
                        block.push(source[[sz, sy, sx]]);
                    }
                }
            }
            if label {
                most_frequent_id(&block)
            } else {
                mean(&block)
            }
        },
    )
}

/// The mean of `values`, rounded half up for integer types.
fn mean<T: Element>(values: &[T]) -> T {
    let sum: f64 = values.iter().map(|v| v.to_f64()).sum();
    let m = sum / values.len().max(1) as f64;
    if T::DTYPE == crate::DType::F32 {
        T::from_f64(m)
    } else {
        T::from_f64((m + 0.5).floor())
    }
}

/// The most frequent non-zero value (the first met among equally frequent ones), or zero.
fn most_frequent_id<T: Element>(values: &[T]) -> T {
    let zero = T::default();
    let mut best = (zero, 0usize);
    for (i, v) in values.iter().enumerate() {
        if *v == zero || values[..i].contains(v) {
            continue;
        }
        let count = values[i..].iter().filter(|w| *w == v).count();
        if count > best.1 {
            best = (*v, count);
        }
    }
    best.0
}

/// Writes the image group's `zarr.json` with its NGFF 0.5 multiscale.
fn write_group(
    store: &Path,
    name: &str,
    levels: &[PyramidLevel],
    options: &PyramidOptions,
) -> Result<()> {
    let axes: Vec<Value> = ["z", "y", "x"]
        .iter()
        .map(|a| json!({"name": a, "type": "space", "unit": options.unit}))
        .collect();
    let datasets: Vec<Value> = levels
        .iter()
        .map(|l| {
            json!({"path": l.path, "coordinateTransformations": [
                {"type": "scale", "scale": l.scale},
                {"type": "translation", "translation": l.translation},
            ]})
        })
        .collect();
    let leaf = name.rsplit('/').next().unwrap_or(name);
    let doc = json!({
        "zarr_format": 3,
        "node_type": "group",
        "attributes": {"ome": {"version": "0.5", "multiscales": [{
            "name": leaf,
            "axes": axes,
            "datasets": datasets,
        }]}},
    });
    let dir = array_dir(store, name);
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| Error::Geometry(format!("group metadata: {e}")))?;
    super::atomic::write_atomic(&dir.join("zarr.json"), text.as_bytes())
        .map_err(|e| Error::io(dir.join("zarr.json"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_the_most_frequent_non_zero_id_and_images_the_rounded_mean() {
        assert_eq!(most_frequent_id(&[0u32, 0, 0, 5, 5, 0, 0, 9]), 5);
        assert_eq!(
            most_frequent_id(&[0u32, 7, 3, 3, 7]),
            7,
            "ties go to the first met"
        );
        assert_eq!(most_frequent_id(&[0u64; 8]), 0);
        assert_eq!(most_frequent_id(&[u64::MAX, 1, u64::MAX]), u64::MAX);
        assert_eq!(mean(&[1u8, 2]), 2, "1.5 rounds half up");
        assert_eq!(mean(&[1u8, 1, 2]), 1);
        assert_eq!(mean(&[1.0f32, 2.0]), 1.5);
    }

    #[test]
    fn plans_halve_y_x_and_z_once_z_is_the_finer_axis() {
        let options = PyramidOptions {
            levels: 3,
            voxel_size: [30.0, 8.0, 8.0],
            ..Default::default()
        };
        let levels = plan([100, 1000, 999], &options);
        let shapes: Vec<Shape> = levels.iter().map(|l| l.shape).collect();
        assert_eq!(
            shapes,
            [
                [100, 1000, 999],
                [100, 500, 500],
                [100, 250, 250],
                [50, 125, 125]
            ]
        );
        assert_eq!(levels[3].scale, [60.0, 64.0, 64.0]);
        assert_eq!(levels[1].translation, [0.0, 4.0, 4.0]);
        assert_eq!(levels[3].translation, [15.0, 28.0, 28.0]);
    }
}
