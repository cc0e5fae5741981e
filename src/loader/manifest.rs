//! The sample manifest (SPEC section 8): what `voxload sample` writes as `manifest.json` beside
//! its `.npy` files and `voxload stitch` reads back — one record per sample, then the loader's
//! figures. A batch carries a [`SampleInfo`] per sample; its [`ManifestSample`] is the one shape
//! of a sample's record, for every front end.
//!
//! ```
//! use voxload::loader::{Manifest, ManifestSample, ManifestStats};
//!
//! let dir = tempfile::tempdir()?;
//! let sample = ManifestSample {
//!     index: 0, volume: 0, start: [-2, 0, 0], shape: [8, 64, 64],
//!     rejections: 1, forced: false, transforms: Vec::new(),
//! };
//! let manifest = Manifest { samples: vec![sample], stats: ManifestStats::default() };
//! let path = dir.path().join("manifest.json");
//! manifest.write(&path)?;
//! assert_eq!(Manifest::read(&path)?, manifest);
//!
//! std::fs::write(&path, r#"{"samples": [{"index": 0, "volume": 0, "start": [1, 2]}]}"#)?;
//! let e = Manifest::read(&path).unwrap_err().to_string();
//! assert!(e.contains("manifest.json") && e.contains("samples[0].start"), "{e}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::LoaderStats;
use crate::augment::{Applied, Variant};
use crate::{Coord, Error, Result, Shape};

/// The largest manifest read (about 4 million samples' records).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 30;
/// Where a sample came from and what was done to it.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleInfo {
    /// The sample's index in the stream.
    pub index: u64,
    /// The volume it was read from.
    pub volume: usize,
    /// The window read (the enlarged sample size when augmenting), in volume coordinates.
    pub start: Coord,
    /// The window's shape.
    pub shape: Shape,
    /// Candidates rejected before this one.
    pub rejections: u32,
    /// Taken after `NUM_TRIAL` rejections.
    pub forced: bool,
    /// The transforms applied, in order, with their drawn parameters.
    pub transforms: Vec<Applied>,
}

impl SampleInfo {
    /// The sample's manifest entry (SPEC section 8): its [`ManifestSample`] as JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        ManifestSample::from(self).to_json()
    }
}

/// A run's manifest: every sample written, in stream order, then the loader's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// One record per sample.
    pub samples: Vec<ManifestSample>,
    /// What the loader did while making them.
    pub stats: ManifestStats,
}

/// One sample's record: where its window came from and what was done to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestSample {
    /// The sample's index in the stream (its files are `NNNNNN_<key>.npy`).
    pub index: u64,
    /// The volume it was read from.
    pub volume: usize,
    /// The window read (the enlarged sample size when augmenting), in volume coordinates,
    /// negative where padded.
    pub start: Coord,
    /// The window's shape (`[1, h, w]` in 2D).
    pub shape: Shape,
    /// Candidates rejected before this one.
    pub rejections: u32,
    /// Taken after `NUM_TRIAL` rejections.
    pub forced: bool,
    /// The transforms applied, in order, with their drawn parameters.
    pub transforms: Vec<ManifestTransform>,
}

/// An applied transform as recorded: `{"name": NAME, …params}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestTransform {
    /// PyTC's class name (`Rotate`, `Elastic`, …).
    pub name: String,
    /// The drawn parameters, in the order drawn.
    #[serde(flatten)]
    pub params: Map<String, Value>,
}

/// A loader's figures as recorded (see [`LoaderStats`]), times in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestStats {
    /// Samples delivered.
    pub samples: u64,
    /// Bytes of voxel data delivered.
    pub bytes: u64,
    /// Wall time since the loader started.
    pub seconds: f64,
    /// Samples per second of wall time.
    pub samples_per_s: f64,
    /// Bytes per second of wall time.
    pub bytes_per_s: f64,
    /// Time the consumer spent waiting for batches.
    pub waited_s: f64,
    /// Time workers spent making batches (summed over workers).
    pub worker_busy_s: f64,
    /// Candidates drawn by the sampler.
    pub candidates: u64,
    /// Candidates rejected (all reasons).
    pub rejected: u64,
    /// Rejected candidates per candidate.
    pub rejection_rate: f64,
    /// Samples taken after `NUM_TRIAL` rejections.
    pub forced: u64,
    /// Remote stores: chunks served from the local cache (see [`LoaderStats::cache_hits`]).
    #[serde(default)]
    pub cache_hits: u64,
    /// Remote stores: chunks fetched from the server.
    #[serde(default)]
    pub cache_fetches: u64,
    /// Remote stores: hits per chunk used (1 when every chunk came from the cache; 0 with
    /// no remote store).
    #[serde(default)]
    pub cache_hit_rate: f64,
}

impl Manifest {
    /// Reads the manifest at `path`. Keys it does not know are ignored.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path` when it cannot be read; [`Error::Parse`] naming `path` and
    /// the key (`samples[3].start`) when it is not a manifest.
    pub fn read(path: &Path) -> Result<Manifest> {
        // A regular file only (a FIFO would block), bounded: a whole grid's manifest can be
        // large, but not this large.
        let text = crate::file::read_regular_text(path, MAX_MANIFEST_BYTES)
            .map_err(|e| Error::io(path, e))?;
        let mut json = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let key = e.path().to_string();
            let reason = if key == "." {
                e.inner().to_string()
            } else {
                format!("key `{key}`: {}", e.inner())
            };
            Error::Parse {
                what: "a sample manifest",
                input: path.display().to_string(),
                reason,
            }
        })
    }

    /// Writes the manifest to `path` as indented JSON, atomically (a temporary file renamed
    /// over `path`, whose parent directories are created).
    ///
    /// # Errors
    /// [`Error::Io`] naming `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::io(path, e.into()))?;
        crate::store::atomic::write_atomic(path, text.as_bytes()).map_err(|e| Error::io(path, e))
    }
}

/// As JSON: serializing these records cannot fail (their maps have string keys).
fn to_value(record: &impl Serialize) -> Value {
    serde_json::to_value(record).expect("a manifest record serializes")
}

impl ManifestSample {
    /// The record as a JSON object, as in the manifest.
    #[must_use]
    pub fn to_json(&self) -> Value {
        to_value(self)
    }
}

impl ManifestTransform {
    /// The record as a JSON object, as in the manifest.
    #[must_use]
    pub fn to_json(&self) -> Value {
        to_value(self)
    }
}

impl ManifestStats {
    /// The figures as one JSON object, as in the manifest.
    #[must_use]
    pub fn to_json(&self) -> Value {
        to_value(self)
    }
}

/// The name stem of a sample's files (`NNNNNN_<key>.npy`): its index in six digits, then, for
/// a test-time variant, `_tVV` (its variant number), since the variants of a grid window share
/// its index.
///
/// ```
/// use voxload::loader::sample_stem;
/// assert_eq!(sample_stem(42, None), "000042");
/// assert_eq!(sample_stem(42, Some(3)), "000042_t03");
/// ```
#[must_use]
pub fn sample_stem(index: u64, variant: Option<usize>) -> String {
    match variant {
        None => format!("{index:06}"),
        Some(v) => format!("{index:06}_t{v:02}"),
    }
}

impl SampleInfo {
    /// The test-time variant the sample is, if any (see [`crate::augment::TestAugment`]).
    #[must_use]
    pub fn variant(&self) -> Option<(usize, Variant)> {
        Variant::recorded(self.transforms.iter().map(|t| (t.name, &t.params)))
    }

    /// The name stem of the sample's files (see [`sample_stem`]).
    #[must_use]
    pub fn file_stem(&self) -> String {
        sample_stem(self.index, self.variant().map(|v| v.0))
    }
}

impl ManifestSample {
    /// The test-time variant the sample is, if any.
    #[must_use]
    pub fn variant(&self) -> Option<(usize, Variant)> {
        Variant::recorded(self.transforms.iter().map(|t| (t.name.as_str(), &t.params)))
    }

    /// The name stem of the sample's files (see [`sample_stem`]).
    #[must_use]
    pub fn file_stem(&self) -> String {
        sample_stem(self.index, self.variant().map(|v| v.0))
    }
}

impl From<&Applied> for ManifestTransform {
    fn from(t: &Applied) -> Self {
        ManifestTransform {
            name: t.name.to_string(),
            params: t.params.clone(),
        }
    }
}

impl From<&SampleInfo> for ManifestSample {
    fn from(s: &SampleInfo) -> Self {
        ManifestSample {
            index: s.index,
            volume: s.volume,
            start: s.start,
            shape: s.shape,
            rejections: s.rejections,
            forced: s.forced,
            transforms: s.transforms.iter().map(ManifestTransform::from).collect(),
        }
    }
}

impl From<&LoaderStats> for ManifestStats {
    fn from(s: &LoaderStats) -> Self {
        ManifestStats {
            samples: s.samples,
            bytes: s.bytes,
            seconds: s.elapsed.as_secs_f64(),
            samples_per_s: s.samples_per_s(),
            bytes_per_s: s.bytes_per_s(),
            waited_s: s.waited.as_secs_f64(),
            worker_busy_s: s.busy.as_secs_f64(),
            candidates: s.candidates,
            rejected: s.rejected,
            rejection_rate: s.rejection_rate(),
            forced: s.forced,
            cache_hits: s.cache_hits,
            cache_fetches: s.cache_fetches,
            cache_hit_rate: s.cache_hits as f64 / (s.cache_hits + s.cache_fetches).max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> ManifestSample {
        let mut params = Map::new();
        params.insert("sigma".into(), json!(4.0));
        params.insert("alpha".into(), json!(12.5));
        ManifestSample {
            index: 3,
            volume: 1,
            start: [-2, 0, 5],
            shape: [1, 64, 64],
            rejections: 2,
            forced: true,
            transforms: vec![ManifestTransform {
                name: "Elastic".into(),
                params,
            }],
        }
    }

    #[test]
    fn sample_record_keeps_the_documented_key_order() {
        let text = serde_json::to_string(&sample()).unwrap();
        assert_eq!(
            text,
            r#"{"index":3,"volume":1,"start":[-2,0,5],"shape":[1,64,64],"rejections":2,"forced":true,"transforms":[{"name":"Elastic","sigma":4.0,"alpha":12.5}]}"#
        );
    }

    #[test]
    fn manifest_written_is_read_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("manifest.json");
        let manifest = Manifest {
            samples: vec![sample()],
            stats: ManifestStats {
                samples: 1,
                seconds: 0.5,
                ..ManifestStats::default()
            },
        };
        manifest.write(&path).unwrap();
        assert_eq!(Manifest::read(&path).unwrap(), manifest);
    }

    #[test]
    fn read_names_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let mut doc = json!({"samples": [sample()], "stats": ManifestStats::default()});
        doc["samples"][0]["volume"] = json!("zero");
        std::fs::write(&path, doc.to_string()).unwrap();
        let e = Manifest::read(&path).unwrap_err().to_string();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("`samples[0].volume`"),
            "{e}"
        );
        let missing = Manifest::read(&dir.path().join("absent.json")).unwrap_err();
        assert!(matches!(missing, Error::Io { .. }), "{missing}");
    }
}
