//! The PyTorch Connectomics tile JSON (`TileDataset`): parsing, validation and tile layout.
//!
//! Keys: `depth`, `height`, `width` (the volume after resizing), `image` (one path pattern per
//! z slice), `tile_size` (int or `[h, w]`, after resizing), `tile_st` (`[row, column]` offsets
//! added to tile indices in file names), `tile_ratio` (tiles are resized by this factor),
//! `dtype`, and the metadata keys `n_rows`, `n_columns` (checked when present) and `ndim`
//! (informative only: PyTC writes 1 even for 3D volumes).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::IngestError;
use crate::DType;

/// A validated tile dataset description.
#[derive(Clone, Debug, PartialEq)]
pub struct TileSpec {
    /// Volume shape `(depth, height, width)` after resizing.
    pub shape: [u64; 3],
    /// One path pattern per slice, resolved against the JSON file's folder.
    pub slices: Vec<String>,
    /// Tile `(height, width)` after resizing.
    pub tile: [u64; 2],
    /// Offsets added to the row and column indices in file names.
    pub tile_st: [i64; 2],
    /// Tiles are resized by this factor before placement.
    pub tile_ratio: f64,
    /// The stored data type.
    pub dtype: DType,
    /// Keys present in the file that the format does not define (reported, not fatal).
    pub unknown_keys: Vec<String>,
}

/// One tile of one slice: the file and the region of the slice it fills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TilePlacement {
    /// The tile's file.
    pub path: PathBuf,
    /// The first row and column of the region in the slice.
    pub at: [u64; 2],
    /// The region's height and width (smaller for the last row and column).
    pub size: [u64; 2],
}

/// The most tiles one slice may have (`height / tile_size` times `width / tile_size`).
pub const MAX_TILES_PER_SLICE: u64 = 1 << 20;

const KEYS: &[&str] = &[
    "depth",
    "height",
    "width",
    "image",
    "tile_size",
    "tile_st",
    "tile_ratio",
    "dtype",
    "n_rows",
    "n_columns",
    "ndim",
];

impl TileSpec {
    /// Reads and validates a tile JSON file.
    ///
    /// # Errors
    /// [`IngestError::Json`] naming the file and the key that is missing, of the wrong type or
    /// inconsistent (including a `tile_ratio` larger than the tile side, and more than
    /// [`MAX_TILES_PER_SLICE`] tiles per slice).
    pub fn read(path: &Path) -> Result<TileSpec, IngestError> {
        let text = crate::file::read_regular_text(path, crate::file::MAX_TEXT_BYTES).map_err(
            |e| match e.kind() {
                std::io::ErrorKind::NotFound => IngestError::Missing { path: path.into() },
                _ => IngestError::decode(path, e),
            },
        )?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| IngestError::Json {
            path: path.into(),
            key: "(file)".into(),
            reason: format!("not valid JSON: {e}"),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_value(&doc, path, base)
    }

    /// Validates a parsed tile JSON; relative patterns are resolved against `base`.
    ///
    /// # Errors
    /// As [`TileSpec::read`]; `file` only names the source in messages.
    pub fn from_value(doc: &Value, file: &Path, base: &Path) -> Result<TileSpec, IngestError> {
        let err = |key: &str, reason: String| IngestError::Json {
            path: file.into(),
            key: key.into(),
            reason,
        };
        let obj = doc
            .as_object()
            .ok_or_else(|| err("(file)", "expected a JSON object".into()))?;
        let positive = |key: &str| -> Result<u64, IngestError> {
            match obj.get(key) {
                None => Err(err(key, "missing".into())),
                Some(v) => v
                    .as_count()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| err(key, format!("expected a positive integer, found {v}"))),
            }
        };
        let shape = [positive("depth")?, positive("height")?, positive("width")?];
        let tile = match obj.get("tile_size") {
            None => return Err(err("tile_size", "missing".into())),
            Some(Value::Array(items)) if items.len() == 2 => {
                let side = |v: &Value| v.as_count().filter(|&n| n > 0);
                match (side(&items[0]), side(&items[1])) {
                    (Some(h), Some(w)) => [h, w],
                    _ => {
                        return Err(err(
                            "tile_size",
                            "expected [h, w] of positive integers".into(),
                        ))
                    }
                }
            }
            Some(v) => {
                let n = v.as_count().filter(|&n| n > 0).ok_or_else(|| {
                    err(
                        "tile_size",
                        format!("expected a positive integer or [h, w], found {v}"),
                    )
                })?;
                [n, n]
            }
        };
        let tile_st = match obj.get("tile_st") {
            None => [0, 0],
            Some(Value::Array(items)) if items.len() == 2 && items.iter().all(Value::is_i64) => [
                items[0].as_i64().unwrap_or(0),
                items[1].as_i64().unwrap_or(0),
            ],
            Some(v) => {
                return Err(err(
                    "tile_st",
                    format!("expected [row, column] integers, found {v}"),
                ))
            }
        };
        let tile_ratio = match obj.get("tile_ratio") {
            None => 1.0,
            Some(v) => v
                .as_f64()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| {
                    err(
                        "tile_ratio",
                        format!("expected a positive number, found {v}"),
                    )
                })?,
        };
        let dtype = match obj.get("dtype") {
            None => DType::U8,
            Some(Value::String(s)) => s.parse().map_err(|_| {
                err(
                    "dtype",
                    format!("`{s}`: expected uint8, uint16, uint32, uint64 or float32"),
                )
            })?,
            Some(v) => return Err(err("dtype", format!("expected a string, found {v}"))),
        };
        let slices = match obj.get("image") {
            None => return Err(err("image", "missing".into())),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(|p| resolve(base, p))
                        .ok_or_else(|| err("image", format!("expected path strings, found {v}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(v) => return Err(err("image", format!("expected a list of paths, found {v}"))),
        };
        if (slices.len() as u64) < shape[0] {
            return Err(err(
                "image",
                format!("lists {} slices but depth is {}", slices.len(), shape[0]),
            ));
        }
        if tile_ratio > tile[0].min(tile[1]) as f64 {
            return Err(err(
                "tile_ratio",
                format!(
                    "{tile_ratio} with tile_size {tile:?} means source tiles of {} x {} pixels (tiles are resized by tile_ratio to tile_size); expected at most {}",
                    tile[0] as f64 / tile_ratio,
                    tile[1] as f64 / tile_ratio,
                    tile[0].min(tile[1])
                ),
            ));
        }
        let grid = [shape[1].div_ceil(tile[0]), shape[2].div_ceil(tile[1])];
        let per_slice = grid[0].saturating_mul(grid[1]);
        if per_slice > MAX_TILES_PER_SLICE {
            return Err(err(
                "tile_size",
                format!(
                    "{tile:?} over a {} x {} slice makes {per_slice} tiles per slice, above the limit of {MAX_TILES_PER_SLICE}; check tile_size, height and width",
                    shape[1], shape[2]
                ),
            ));
        }
        for (key, want) in [("n_rows", grid[0]), ("n_columns", grid[1])] {
            if let Some(v) = obj.get(key) {
                if v.as_count() != Some(want) {
                    return Err(err(
                        key,
                        format!("is {v}, but height, width and tile_size imply {want}"),
                    ));
                }
            }
        }
        let mut unknown_keys: Vec<String> = obj
            .keys()
            .filter(|k| !KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        unknown_keys.sort();
        Ok(TileSpec {
            shape,
            slices: slices.into_iter().take(shape[0] as usize).collect(),
            tile,
            tile_st,
            tile_ratio,
            dtype,
            unknown_keys,
        })
    }

    /// The tiles of slice `z`: one whole-slice file when its pattern has no `{row}`/`{column}`.
    #[must_use]
    pub fn tiles(&self, z: usize) -> Vec<TilePlacement> {
        let pattern = &self.slices[z];
        let [height, width] = [self.shape[1], self.shape[2]];
        if !(pattern.contains("{row") || pattern.contains("{column")) {
            return vec![TilePlacement {
                path: PathBuf::from(pattern),
                at: [0, 0],
                size: [height, width],
            }];
        }
        let [th, tw] = self.tile;
        let mut out = Vec::new();
        for row in 0..height.div_ceil(th) {
            for column in 0..width.div_ceil(tw) {
                let name = fill_placeholder(pattern, "row", row as i64 + self.tile_st[0]);
                let name = fill_placeholder(&name, "column", column as i64 + self.tile_st[1]);
                let at = [row * th, column * tw];
                out.push(TilePlacement {
                    path: PathBuf::from(name),
                    at,
                    size: [th.min(height - at[0]), tw.min(width - at[1])],
                });
            }
        }
        out
    }
}

/// The widest `{key:N}` placeholder filled (wider ones are kept as written; `format!` cannot
/// pad beyond 65 535 and no file name needs more than a few digits).
const MAX_PLACEHOLDER_WIDTH: usize = 64;

/// Replaces every `{key}` in `pattern` by `value`, honouring Python's integer format specs as
/// PyTC's `str.format` does: `{row}`, `{row:d}`, `{row:02d}`, `{row:3}`.
///
/// ```
/// use voxload::ingest::fill_placeholder;
/// assert_eq!(fill_placeholder("t/{row}_{column}.png", "row", 3), "t/3_{column}.png");
/// assert_eq!(fill_placeholder("t/{row:03d}.png", "row", 7), "t/007.png");
/// assert_eq!(fill_placeholder("t/{row:2}.png", "row", 7), "t/ 7.png");
/// // Widths beyond 64 are not a placeholder: kept as written (the tile is then missing).
/// assert_eq!(fill_placeholder("t/{row:99999}.png", "row", 7), "t/{row:99999}.png");
/// ```
#[must_use]
pub fn fill_placeholder(pattern: &str, key: &str, value: i64) -> String {
    let open = format!("{{{key}");
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(close) = after.find('}') else { break };
        let spec = &after[..close];
        let formatted = match spec.strip_prefix(':') {
            None if spec.is_empty() => Some(value.to_string()),
            Some(spec) => {
                let digits = spec.strip_suffix('d').unwrap_or(spec);
                let zero = digits.starts_with('0');
                digits
                    .parse::<usize>()
                    .ok()
                    .or(digits.is_empty().then_some(0))
                    .filter(|&width| width <= MAX_PLACEHOLDER_WIDTH)
                    .map(|width| {
                        if zero {
                            format!("{value:0width$}")
                        } else {
                            format!("{value:width$}")
                        }
                    })
            }
            None => None,
        };
        match formatted {
            Some(text) => {
                out.push_str(&rest[..at]);
                out.push_str(&text);
                rest = &after[close + 1..];
            }
            None => {
                // Not a placeholder of this key (e.g. `{rows}`): keep it as written.
                out.push_str(&rest[..at + open.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Reading a count from JSON: an integer, or a float with an integral value (Python writers
/// sometimes produce `100.0`).
trait Count {
    fn as_count(&self) -> Option<u64>;
}

impl Count for Value {
    fn as_count(&self) -> Option<u64> {
        self.as_u64().or_else(|| {
            self.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 2f64.powi(53))
                .map(|f| f as u64)
        })
    }
}

fn resolve(base: &Path, pattern: &str) -> String {
    if Path::new(pattern).is_absolute() {
        pattern.to_string()
    } else {
        base.join(pattern).to_string_lossy().into_owned()
    }
}
