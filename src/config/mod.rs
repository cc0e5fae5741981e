//! The configuration file: PyTorch Connectomics' key names in JSON, parsed once into validated,
//! typed settings.
//!
//! A file nests objects as PyTC's YAML does (`{"DATASET": {"PAD_SIZE": [2, 64, 64]}}`; the
//! transform sections live under `AUGMENTOR`, as in `AUGMENTOR.ROTATE.P`). Parsing has two
//! stages, kept apart: the raw stage files each JSON value under its dotted key and rejects
//! unknown keys (naming the key and the closest valid one); validation checks every value's type
//! and range and builds a [`Config`], whose methods produce what the sampler, the augmentor and
//! the loader take ([`Config::compose`], [`Config::rejection`], [`Config::window_settings`],
//! [`Config::chunk_schedule`], [`Config::grid`], [`Config::array_names`]).
//!
//! Value forms: booleans accept `true`/`false` and PyTC's `1`/`0`; integers accept integral
//! floats (`2.0`); shapes are `[z, y, x]` lists. `IMAGE_NAME`, `LABEL_NAME` and `VALID_MASK_NAME`
//! are a string, a list of strings, or PyTC's `@`-separated string, one name per volume, and
//! the counts must agree. `INPUT_PATH` and `.txt` lists are relative to the config file's folder
//! (absolute paths stay as they are).
//!
//! Sizes and counts have upper limits, so that a typo is an error naming the key rather than
//! an exhausted memory: shape entries at most 2^24, samples (the augmentor's enlarged window)
//! at most 2^32 voxels, `NUM_CPUS` at most [`crate::loader::MAX_WORKERS`],
//! `SAMPLES_PER_BATCH` at most 65 536, `NUM_TRIAL` at most 10 000, transform counts
//! (`ITER`, `NUM_SECTION`, `DISPLACEMENT`, `SECTIONS`, `KERNEL_SIZE`) at most 4096 and
//! `ELASTIC.SIGMA` at most 1024.
//!
//! | key | default | effect |
//! |---|---|---|
//! | `DATASET.INPUT_PATH` | the config's folder | the Zarr store holding the arrays; several folders joined by `@` pair with the volumes, as in PyTC |
//! | `DATASET.IMAGE_NAME` | `image` | image array per volume (`a@b` or a list for several); a `.txt` file or a `dir/*.png` / `*.tif` pattern streams 2D images ([`Source::Images`]) |
//! | `DATASET.LABEL_NAME` | none | label array per volume; adds the `label` (`mask`) target |
//! | `DATASET.VALID_MASK_NAME` | none | valid-mask array per volume; adds the `valid_mask` (`mask`) target |
//! | `DATASET.PAD_SIZE` | `[2, 64, 64]` | volumes count as padded by this (one value, `[z, y, x]` on both sides, or six `[z0, z1, y0, y1, x0, x1]`, one per side) |
//! | `DATASET.DATA_SCALE` | `[1, 1, 1]` | every array read zoomed as `scipy.ndimage.zoom` (cubic images, nearest labels), window by window |
//! | `DATASET.IMAGE_SCALE`, `LABEL_SCALE`, `VALID_MASK_SCALE` | `DATA_SCALE` | the zoom of one kind of array |
//! | `DATASET.REDUCE_LABEL` | `true` | ids renumbered per sample for targets that read id values (`1`, `0-a-b`); off with a `9` target |
//! | `DATASET.LABEL_BINARY` | `false` | a label whose maximum is above 1 is read divided by 255 |
//! | `DATASET.LABEL_MAG` | `0` | not 0: the `label` batch is `float32` `label / LABEL_MAG`, as PyTC divides it; targets come from the undivided ids (refused with targets that read id values: `0-a-…`, `1`, `9`) |
//! | `DATASET.DROP_CHANNEL` | `false` | accepted, not used: voxload reads single-channel 3D volumes, on which PyTC's channel averaging changes nothing (a 4D array is refused when opened) |
//! | `DATASET.LABEL_VAST` | `false` | accepted, not used: RGB label images are always read as VAST ids `R·65536 + G·256 + B` (PyTC's `vast2Seg`), and label arrays hold ids already |
//! | `DATASET.ENSURE_MIN_SIZE` | `false` | a volume smaller than the sample once padded is read resized to `max(padded, sample)` (skimage's resize: cubic images, nearest labels), as PyTC resizes it |
//! | `DATASET.PAD_MODE` | `reflect` | how padded voxels are filled (`constant[:V]`, `reflect`, `symmetric`, `edge`) |
//! | `DATASET.VALID_RATIO` | `0.5` | a valid-mask fraction not above this rejects |
//! | `DATASET.REJECT_SAMPLING.SIZE_THRES` | `-1` | minimum foreground voxels (needs a label) |
//! | `DATASET.REJECT_SAMPLING.DIVERSITY` | `-1` | minimum distinct ids (needs a label) |
//! | `DATASET.REJECT_SAMPLING.P` | `0.95` | probability of rejecting below a threshold |
//! | `DATASET.REJECT_SAMPLING.NUM_TRIAL` | `50` | rejections in a row before a forced accept |
//! | `DATASET.REJECT_SAMPLING.STRICT` | `false` | fail instead of a forced accept |
//! | `SYSTEM.CHUNK_CACHE_BYTES` | `268435456` | voxload's: the decoded-chunk cache of each compressed array (HDF5, TIFF and Zarr chunks voxload decodes), in bytes |
//! | `DATASET.IMAGE_SCALE_LEVEL` | `None` | voxload's: the level of OME-Zarr image groups to read (`0` the finest; `None` reads level 0, as does naming the group); labels and masks that are image groups too read the same level |
//! | `DATASET.DO_CHUNK_TITLE` | `0` | follow a chunk schedule in training (every volume cut into the same chunks; each visit draws from that chunk of every volume, as PyTC's `TileDataset`) |
//! | `DATASET.DATA_CHUNK_NUM` | `[1, 1, 1]` | chunks per axis |
//! | `DATASET.DATA_CHUNK_ITER` | `1000` | iterations (batches) per chunk |
//! | `DATASET.DATA_CHUNK_STRIDE` | `true` | overlapping (50 %) training chunks |
//! | `DATASET.DATA_COORD_RANGE` | none | training chunks are cut from this region `[z0, z1, y0, y1, x0, x1]` (or a list holding one), as PyTC's `TileDataset` cuts them; refused in test mode |
//! | `DATASET.DATA_CHUNK_IND` | none | training visits only these chunk ids; refused in test mode |
//! | `DATASET.CHUNK_IND_SPLIT` | none | `"rank-world"` (or `[rank, world]`): this job takes its share of the chunk ids, as PyTC splits them; refused in test mode |
//! | `DATASET.DO_2D` | `false` | 2D windows: input `[1, H, W]`, no z padding |
//! | `DATASET.NORMALIZE_RANGE` | `true` | non-`uint8` volumes stretched to `uint8` by their range (else every window `/ 255`, as PyTC) |
//! | `DATASET.MEAN`, `DATASET.STD` | `0.5`, `0.5` | the image after augmentation is `(x − MEAN) / STD` |
//! | `DATASET.MATCH_ACT` | `none` | `sigmoid`: keep `[0, 1]`; `tanh`: `2x − 1` |
//! | `DATASET.LOAD_2D` | `false` | each image is its own depth-1 volume (`ingest --separate` arrays) |
//! | `MODEL.INPUT_SIZE` | `[8, 256, 256]` | the model's input (the augmentor's output) |
//! | `INFERENCE.STRIDE` | `[4, 128, 128]` | the inference grid's stride |
//! | `INFERENCE.DO_SINGLY` | `false` | visit inference volumes one at a time |
//! | `INFERENCE.OUTPUT_SCALE` | `[1, 1, 1]` | test mode: the prediction writers resize each window's prediction by it before blending (skimage's linear resize with anti-aliasing, as PyTC), into an output of the scaled volume |
//! | `INFERENCE.UNPAD` | `true` | test mode: off, the prediction writers keep the padded grid (the output is the padded volume) |
//! | `INFERENCE.OUTPUT_SIZE` (`MODEL.OUTPUT_SIZE` in test mode) | `None` | test mode, when set and smaller than `INPUT_SIZE`: the model outputs blocks of this size, which the prediction writers place at each window's first voxel as PyTC's `test()` does (not centred); voxels no block covers are NaN in float32 outputs (PyTC's `0 / 0`), 0 in uint8 |
//! | `INFERENCE.DO_SINGLY_START_INDEX`, `DO_SINGLY_STEP` | `0`, `1` | test mode with `DO_SINGLY`: the grid visits volumes `START, START + |STEP|, …` only (the others get no windows and no output; a negative step, PyTC's reverse order, visits the same volumes, which gives the same arrays) |
//! | `INFERENCE.BLENDING` | `gaussian` | the prediction writers' default window weight (`bump`, `constant`) |
//! | `INFERENCE.AUG_NUM`, `AUG_MODE` | none, `mean` | test mode: each grid batch once per flip/transpose variant (4, 8, 16), combined by `mean`, `min`, `max` |
//! | `SYSTEM.NUM_CPUS` | the machine's cores | loader worker threads |
//! | `SOLVER.SAMPLES_PER_BATCH` | `2` | batch size (and the chunk schedule's iteration size) |
//! | `AUGMENTOR.ENABLED` | `true` | augment at all |
//! | `AUGMENTOR.SMOOTH` | `false` | label smoothing of mask targets |
//! | `AUGMENTOR.ADDITIONAL_TARGETS_NAME`, `_TYPE` | none | extra targets (`img` / `mask`), read from arrays of the same name |
//! | `AUGMENTOR.<T>.ENABLED`, `P`, … | SPEC section 5 | each transform's switch and parameters |
//!
//! Every transform section defaults to enabled, as in PyTC, with the parameters of its struct's
//! `Default` ([`Rotate`], [`Rescale`], …).
//!
//! **2D** (`DATASET.DO_2D`): `MODEL.INPUT_SIZE` and `INFERENCE.STRIDE` may be written `[H, W]`
//! or `[D, H, W]`; either way the depth is taken as 1 (so the default `[8, 256, 256]` becomes
//! `[1, 256, 256]`), and `PAD_SIZE`'s depth as 0. The augmentor works on `(1, H, W)` samples, as
//! PyTC's does, and like PyTC leaves out MissingSection and MisAlignment, which act across
//! slices (MissingSection would also grow the sample's depth past 1). The other transforms work
//! plane by plane; `FLIP.DO_ZTRANS` is an error in 2D (it needs equal z and x sizes).
//!
//! ```
//! use std::path::Path;
//! use voxload::config::{Config, Source};
//!
//! let text = r#"{
//!     "DATASET": {
//!         "INPUT_PATH": "em.zarr",
//!         "IMAGE_NAME": "im0@im1",
//!         "LABEL_NAME": ["seg0", "seg1"],
//!         "REJECT_SAMPLING": {"SIZE_THRES": 100, "P": 1}
//!     },
//!     "MODEL": {"INPUT_SIZE": [8, 128, 128]},
//!     "AUGMENTOR": {"SMOOTH": 1, "ROTATE": {"ROT90": 0}, "CUTNOISE": {"ENABLED": false}}
//! }"#;
//! let config = Config::from_str_at(text, "/data/run")?;
//! assert_eq!(config.input_path, Path::new("/data/run/em.zarr"));
//! assert_eq!(config.array_names()[1].label.as_deref(), Some("seg1"));
//! assert_eq!(config.rejection().size_thres, 100);
//!
//! let compose = config.compose()?;
//! assert_eq!(compose.input_size(), [8, 128, 128]);
//! let windows = config.window_settings(compose.sample_size());
//! assert_eq!(windows.sample[0], 10); // MissingSection adds a slice on each side
//!
//! let typo = Config::from_str_at(r#"{"DATASET": {"PAD_SZE": [2, 64, 64]}}"#, ".").unwrap_err();
//! assert!(typo.to_string().contains("did you mean DATASET.PAD_SIZE?"), "{typo}");
//! # Ok::<(), voxload::Error>(())
//! ```

mod chunks;
mod input_path;
mod pytc;
mod raw;
mod source;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::augment::{
    Compose, CutBlur, CutNoise, Elastic, Flip, Grayscale, MisAlignment, MissingParts,
    MissingSection, MotionBlur, Rescale, Rotate, TargetKind, Transform,
};
use crate::sampler::{ArrayNames, ChunkSchedule, Grid, Rejection, WindowSettings};
use crate::{Bbox, Error, PadMode, Padding, Result, Shape};

/// Every key a configuration file may set, by its full dotted name, in documentation order.
pub const KEYS: &[&str] = raw::KEYS;

/// Validated settings, built once from a configuration file.
///
/// Fields hold the checked values; methods build the sampler's, augmentor's and loader's
/// settings from them. [`Config::default()`] is the configuration of an empty file (`{}`)
/// in the current directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `DATASET.INPUT_PATH`, resolved against the config file's folder (default: that folder).
    pub input_path: PathBuf,
    /// Where the volumes come from (`IMAGE_NAME`, `LABEL_NAME`, `VALID_MASK_NAME`).
    pub source: Source,
    /// The additional targets other than `label` and `valid_mask`
    /// (`AUGMENTOR.ADDITIONAL_TARGETS_NAME` / `_TYPE`), each read from the store array of the
    /// same name, in list order.
    pub extra_targets: Vec<(String, TargetKind)>,
    /// `DATASET.LOAD_2D`, or `IMAGE_NAME` is a `.txt` list: every image is its own depth-1
    /// volume. With store arrays, each name is then the prefix of `ingest --separate` arrays
    /// (`NAME/0000`, `NAME/0001`, …; see [`crate::sampler::Volume::open_separate`]).
    pub load_2d: bool,
    /// `DATASET.DO_2D`: windows of depth 1, returned without the z axis.
    pub do_2d: bool,
    /// `MODEL.INPUT_SIZE` (`[1, H, W]` with `DO_2D`).
    pub input_size: [usize; 3],
    /// `DATASET.PAD_SIZE`, per side (no z padding with `DO_2D`).
    pub pad_size: Padding,
    /// `DATASET.PAD_MODE`.
    pub pad_mode: PadMode,
    /// `DATASET.REJECT_SAMPLING.*` and `DATASET.VALID_RATIO`.
    pub rejection: Rejection,
    /// `DATASET.DO_CHUNK_TITLE`, `DATA_CHUNK_NUM`, `DATA_CHUNK_ITER`, `DATA_CHUNK_STRIDE`.
    pub chunks: ChunkSettings,
    /// `INFERENCE.STRIDE` (depth 1 with `DO_2D`).
    pub stride: Shape,
    /// `INFERENCE.DO_SINGLY`: inference visits the volumes (images) one at a time, in order.
    pub do_singly: bool,
    /// `SYSTEM.NUM_CPUS`: the loader's worker threads (default: the machine's cores).
    pub num_cpus: usize,
    /// `SYSTEM.CHUNK_CACHE_BYTES` (voxload's key): the bytes of decoded chunks each compressed
    /// array keeps (default 256 MiB; raw arrays are memory-mapped and need none).
    pub chunk_cache_bytes: u64,
    /// `SOLVER.SAMPLES_PER_BATCH`: samples per batch.
    pub samples_per_batch: usize,
    /// The `AUGMENTOR` section.
    pub augment: Augmentation,
    /// `DATASET.NORMALIZE_RANGE`, `MEAN`, `STD`, `MATCH_ACT`: what the model receives as
    /// `image` (PyTC's default: `(x − 0.5) / 0.5`, in `[−1, 1]`).
    pub intensity: crate::loader::Intensity,
    /// `MODEL.TARGET_OPT`, `WEIGHT_OPT`, `OUTPUT_SIZE`: the targets computed from the label
    /// (PyTC's default with a label: `'0'` with weight `'1'`; none in test mode).
    pub learning: crate::loader::Learning,
    /// `DATASET.REDUCE_LABEL` (PyTC's default true; false when a target is semantic, `9`, as
    /// PyTC's config check sets it): targets that read id values see each sample's ids
    /// renumbered (see [`crate::loader::LoaderBuilder::reduce_label`]).
    pub reduce_label: bool,
    /// `DATASET.LABEL_BINARY`: labels whose maximum is above 1 read divided by 255.
    pub label_binary: bool,
    /// `DATASET.LABEL_MAG` when not 0: the `label` batch array is `float32` `label / mag`, as
    /// PyTC divides its labels (see [`crate::loader::LoaderBuilder::label_mag`]).
    pub label_mag: Option<f64>,
    /// Test mode's `MODEL.OUTPUT_SIZE` (`INFERENCE.OUTPUT_SIZE` overrides it) when set and
    /// smaller than `INPUT_SIZE`: the model's predictions are blocks of this size, placed at
    /// each window's first voxel as PyTC's `test()` places them (see
    /// [`crate::predict::PredictionBuilder::prediction_size`]). `None`: predictions are whole
    /// `INPUT_SIZE` windows.
    pub prediction_size: Option<[usize; 3]>,
    /// `DATASET.ENSURE_MIN_SIZE`: volumes smaller than the sample, once padded, are resized up
    /// to it as PyTC resizes them (see [`crate::sampler::Volume::ensure_min_size`]).
    pub ensure_min_size: bool,
    /// `INFERENCE.OUTPUT_SCALE` (`[1, 1, 1]` in val mode, as PyTC validates): the prediction writers
    /// resize every window's prediction by it (see [`crate::predict::PredictionBuilder::output_scale`]).
    pub output_scale: [f64; 3],
    /// `INFERENCE.UNPAD` (`true` in val mode): prediction writers crop the padded grid
    /// back to the volume (see [`crate::predict::PredictionBuilder::unpad`]).
    pub unpad: bool,
    /// `INFERENCE.DO_SINGLY_START_INDEX` and `DO_SINGLY_STEP` (`0` and `1` in val mode): with
    /// `DO_SINGLY`, which volumes the grid visits (see [`Config::visited_volumes`]).
    pub singly_range: (u64, i64),
    /// `DATASET.DATA_SCALE` and the per-array `IMAGE_SCALE`, `LABEL_SCALE`, `VALID_MASK_SCALE`
    /// (each defaulting to `DATA_SCALE`; `INFERENCE.DATA_SCALE` in test mode): every array is
    /// read zoomed as PyTC's `scipy.ndimage.zoom` resamples it at load — cubic for images,
    /// nearest for labels and masks — but window by window, never as a zoomed copy (see
    /// [`crate::store::Zoom`]). Sampling, padding and the grid work in the zoomed grid.
    pub scales: crate::store::VolumeScales,
    /// `INFERENCE.BLENDING`: the prediction writers' default window weight (`gaussian`, PyTC's
    /// default, `bump`, or voxload's `constant`; see [`crate::predict::Weight`]).
    pub blending: String,
    /// `INFERENCE.AUG_NUM` and `AUG_MODE` (test mode only): the grid's test-time variants and
    /// how their predictions combine.
    pub test_augment: crate::augment::TestAugment,
    /// What was read: the merged keys, those voxload does not use, and notes.
    pub report: Report,
}

impl PartialEq for Report {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Which of PyTC's modes a configuration is read for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConfigMode {
    /// Training (and validation).
    #[default]
    Train,
    /// PyTC's test mode (voxload's grid mode): `update_inference_cfg`'s overrides apply
    /// (`INFERENCE.INPUT_PATH`, `IMAGE_NAME`, `PAD_SIZE`, `INPUT_SIZE`, `OUTPUT_SIZE`,
    /// `SAMPLES_PER_BATCH`, …, over their `DATASET`/`MODEL`/`SOLVER` keys).
    Test,
    /// PyTC's validation mode (a grid too): the `DATASET.VAL_*` volumes and padding, windows
    /// of `MODEL.INPUT_SIZE` at half their size, batches of `4 × SOLVER.SAMPLES_PER_BATCH`,
    /// labels read, no augmentation or rejection.
    Val,
}

/// What a configuration's files said, beyond the settings voxload uses. Two configurations
/// with the same settings are equal whatever their reports say.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every key the files set → its value, as PyTC's own loading leaves it (its test-mode
    /// overrides and its `overwrite_cfg` changes applied; see `voxload config --json`).
    pub values: BTreeMap<String, Value>,
    /// Keys the files set that voxload accepts but does not use (model, solver, monitor, …).
    pub unused: Vec<String>,
    /// Notes on how the files were read (such as a test-mode override voxload does not follow).
    pub warnings: Vec<String>,
}

/// Where the volumes come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Arrays of the Zarr store at [`Config::input_path`], one entry per volume.
    Store {
        /// The arrays of each volume (extra targets included).
        volumes: Vec<ArrayNames>,
    },
    /// 2D images streamed from `.txt` lists of PNG/TIFF paths (SPEC section 4), each image its
    /// own depth-1 volume; the lists themselves are read by the loader.
    Images {
        /// `IMAGE_NAME`'s list, resolved against the config file's folder.
        images: PathBuf,
        /// `LABEL_NAME`'s list, when given.
        labels: Option<PathBuf>,
        /// `VALID_MASK_NAME`'s list, when given.
        valid_masks: Option<PathBuf>,
    },
}

impl Source {
    /// Whether the volumes have labels.
    #[must_use]
    pub fn has_label(&self) -> bool {
        match self {
            Source::Store { volumes } => volumes.iter().any(|v| v.label.is_some()),
            Source::Images { labels, .. } => labels.is_some(),
        }
    }

    /// Whether the volumes have valid masks.
    #[must_use]
    pub fn has_valid_mask(&self) -> bool {
        match self {
            Source::Store { volumes } => volumes.iter().any(|v| v.valid_mask.is_some()),
            Source::Images { valid_masks, .. } => valid_masks.is_some(),
        }
    }
}

/// The chunk schedule's settings (PyTC's names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkSettings {
    /// `DO_CHUNK_TITLE`: follow a chunk schedule in training.
    pub enabled: bool,
    /// `DATA_CHUNK_NUM`: chunks per axis `[nz, ny, nx]`.
    pub num: Shape,
    /// `DATA_CHUNK_ITER`: iterations (batches) drawn from one chunk.
    pub iterations: u64,
    /// `DATA_CHUNK_STRIDE`: overlapping chunks in training.
    pub stride: bool,
    /// `DATA_COORD_RANGE`: the region `[z0, z1, y0, y1, x0, x1]` the chunks are cut from
    /// (`None`: the whole volume).
    pub coord_range: Option<[i64; 6]>,
    /// `DATA_CHUNK_IND` split by `CHUNK_IND_SPLIT`: the chunk ids training visits (`None`:
    /// every chunk).
    pub ids: Option<Vec<u64>>,
}

impl ChunkSettings {
    /// [`ChunkSettings::coord_range`] as a box.
    #[must_use]
    pub fn region(&self) -> Option<Bbox> {
        self.coord_range.map(|[z0, z1, y0, y1, x0, x1]| {
            Bbox::new(
                [z0, y0, x0],
                [(z1 - z0) as u64, (y1 - y0) as u64, (x1 - x0) as u64],
            )
        })
    }
}

/// A transform with its section's `ENABLED` switch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Toggle<T> {
    /// `ENABLED`.
    pub enabled: bool,
    /// The transform's parameters.
    pub transform: T,
}

/// The `AUGMENTOR` section: switches and every transform's parameters, in PyTC's list order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// `AUGMENTOR.ENABLED`: augment at all.
    pub enabled: bool,
    /// `AUGMENTOR.SMOOTH`: label smoothing of mask targets.
    pub smooth: bool,
    /// `AUGMENTOR.ROTATE`.
    pub rotate: Toggle<Rotate>,
    /// `AUGMENTOR.RESCALE`.
    pub rescale: Toggle<Rescale>,
    /// `AUGMENTOR.FLIP`.
    pub flip: Toggle<Flip>,
    /// `AUGMENTOR.ELASTIC`.
    pub elastic: Toggle<Elastic>,
    /// `AUGMENTOR.GRAYSCALE`.
    pub grayscale: Toggle<Grayscale>,
    /// `AUGMENTOR.MISSINGPARTS`.
    pub missing_parts: Toggle<MissingParts>,
    /// `AUGMENTOR.MISSINGSECTION`.
    pub missing_section: Toggle<MissingSection>,
    /// `AUGMENTOR.MISALIGNMENT`.
    pub misalignment: Toggle<MisAlignment>,
    /// `AUGMENTOR.MOTIONBLUR`.
    pub motion_blur: Toggle<MotionBlur>,
    /// `AUGMENTOR.CUTBLUR`.
    pub cut_blur: Toggle<CutBlur>,
    /// `AUGMENTOR.CUTNOISE`.
    pub cut_noise: Toggle<CutNoise>,
}

impl Default for Augmentation {
    /// PyTC's defaults: everything enabled with the transforms' default parameters.
    fn default() -> Self {
        fn on<T: Default>() -> Toggle<T> {
            Toggle {
                enabled: true,
                transform: T::default(),
            }
        }
        Augmentation {
            enabled: true,
            smooth: false,
            rotate: on(),
            rescale: on(),
            flip: on(),
            elastic: on(),
            grayscale: on(),
            missing_parts: on(),
            missing_section: on(),
            misalignment: on(),
            motion_blur: on(),
            cut_blur: on(),
            cut_noise: on(),
        }
    }
}

impl Augmentation {
    /// The enabled transforms in PyTC's list order (Rotate, Rescale, Flip, Elastic, Grayscale,
    /// MissingParts, MissingSection, MisAlignment, MotionBlur, CutBlur, CutNoise); with
    /// `two_d`, MissingSection and MisAlignment are left out, as PyTC does. The list ignores
    /// [`Augmentation::enabled`].
    #[must_use]
    pub fn transforms(&self, two_d: bool) -> Vec<Box<dyn Transform>> {
        fn push<T: Transform + Copy + 'static>(
            list: &mut Vec<Box<dyn Transform>>,
            toggle: &Toggle<T>,
        ) {
            if toggle.enabled {
                list.push(Box::new(toggle.transform));
            }
        }
        let mut list = Vec::new();
        push(&mut list, &self.rotate);
        push(&mut list, &self.rescale);
        push(&mut list, &self.flip);
        push(&mut list, &self.elastic);
        push(&mut list, &self.grayscale);
        push(&mut list, &self.missing_parts);
        if !two_d {
            push(&mut list, &self.missing_section);
            push(&mut list, &self.misalignment);
        }
        push(&mut list, &self.motion_blur);
        push(&mut list, &self.cut_blur);
        push(&mut list, &self.cut_noise);
        list
    }
}

impl Default for Config {
    /// The settings of an empty file (`{}`) in the current directory: SPEC section 7's defaults.
    fn default() -> Self {
        validate::validate(&raw::RawConfig::default(), Path::new("."))
            .expect("the defaults are valid")
    }
}

impl Config {
    /// Reads and validates the configuration file at `path` (YAML or JSON) for training;
    /// relative paths inside it are resolved against its folder. See [`Config::load`].
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::load(&[path.as_ref().to_path_buf()], ConfigMode::Train)
    }

    /// Reads YAML or JSON files (`.json` files are JSON, others YAML), merges them in order
    /// as PyTC merges `--config-base` then `--config-file` (later values win), applies the
    /// `mode`'s overrides, and validates the result. Relative paths are resolved against the
    /// folder of the file that set them.
    ///
    /// ```
    /// use voxload::config::{Config, ConfigMode};
    /// let dir = tempfile::tempdir()?;
    /// let (base, task) = (dir.path().join("base.yaml"), dir.path().join("task.yaml"));
    /// std::fs::write(&base, "SYSTEM:\n  NUM_GPUS: 8\nMODEL:\n  INPUT_SIZE: [8, 128, 128]\n")?;
    /// std::fs::write(&task, "MODEL:\n  INPUT_SIZE: [16, 64, 64]\nINFERENCE:\n  SAMPLES_PER_BATCH: 6\n")?;
    /// let cfg = Config::load(&[base.clone(), task.clone()], ConfigMode::Train)?;
    /// assert_eq!(cfg.input_size, [16, 64, 64]);
    /// assert!(cfg.report.unused.contains(&"SYSTEM.NUM_GPUS".to_string()));
    /// let test = Config::load(&[base, task], ConfigMode::Test)?;
    /// assert_eq!(test.samples_per_batch, 6); // INFERENCE.SAMPLES_PER_BATCH in test mode
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] naming a file that cannot be read; [`Error::Parse`] for YAML or JSON that
    /// does not parse (with the line and column); [`Error::Config`] naming the full dotted key
    /// for an unknown key (with the closest valid key), a value of the wrong type (with the
    /// expected type) or out of range, name lists whose counts disagree (naming both keys),
    /// and settings that contradict each other (such as `SIZE_THRES` without `LABEL_NAME`).
    pub fn load(files: &[PathBuf], mode: ConfigMode) -> Result<Self> {
        if files.is_empty() {
            return Err(Error::Config {
                key: "--config".into(),
                reason: "no configuration file given".into(),
            });
        }
        let merged = source::Merged::read(files)?;
        Self::build(merged, mode).map_err(|e| match e {
            Error::Config { key, reason } if files.len() == 1 && !reason.contains(" (in ") => {
                Error::Config {
                    key,
                    reason: format!("{reason} (in {})", files[0].display()),
                }
            }
            other => other,
        })
    }

    /// Validates configuration text (JSON, or YAML) for training whose relative paths are
    /// relative to `base_dir` (the folder the file would live in).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_str_at(text: &str, base_dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_str_mode(text, base_dir, ConfigMode::Train)
    }

    /// As [`Config::from_str_at`], for `mode`.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_str_mode(text: &str, base_dir: impl AsRef<Path>, mode: ConfigMode) -> Result<Self> {
        let merged = source::Merged::from_text(text, base_dir.as_ref(), "<text>")?;
        Self::build(merged, mode)
    }

    fn build(mut merged: source::Merged, mode: ConfigMode) -> Result<Self> {
        let unused: Vec<String> = merged
            .values
            .keys()
            .filter(|k| {
                !raw::KEYS.contains(&k.as_str()) && !pytc::INFERENCE_USED.contains(&k.as_str())
            })
            .cloned()
            .collect();
        let mut warnings = Vec::new();
        if mode == ConfigMode::Test {
            if let Some(folder) = merged.folders.get("INFERENCE.INPUT_PATH").cloned() {
                merged.folders.insert("DATASET.INPUT_PATH".into(), folder);
            }
            warnings.extend(pytc::apply_inference(&mut merged.values));
        }
        if mode == ConfigMode::Val {
            if let Some(folder) = merged.folders.get("DATASET.VAL_IMAGE_NAME").cloned() {
                merged
                    .folders
                    .entry("DATASET.INPUT_PATH".into())
                    .or_insert(folder);
            }
            pytc::apply_val(&mut merged.values).map_err(|key| Error::Config {
                key,
                reason: "is not set: validation (mode val) reads the DATASET.VAL_* volumes".into(),
            })?;
        }
        if let Some((key, value)) = pytc::unsupported(&merged.values, mode == ConfigMode::Test) {
            return Err(Error::Config {
                key,
                reason: format!(
                    "= {value}: PyTC changes the data with it and voxload does not implement it yet; remove it (or set PyTC's default) to read the data without it"
                ),
            });
        }
        pytc::apply_common(&mut merged.values);
        // What PyTC's own loading shows; the values voxload reads may differ below.
        let view = pytc::pytc_view(&merged.values, mode == ConfigMode::Test);
        if mode == ConfigMode::Test {
            warnings.extend(pytc::test_loader(&mut merged.values));
        }
        let base = merged.folder_of("DATASET.INPUT_PATH").to_path_buf();
        // Test mode computes no targets (PyTC's test loader has none).
        let mut used = merged.values.clone();
        if mode == ConfigMode::Test {
            for key in ["MODEL.TARGET_OPT", "MODEL.WEIGHT_OPT", "MODEL.OUTPUT_SIZE"] {
                used.remove(key);
            }
        }
        let raw = raw::RawConfig::from_values(&used);
        let mut config = validate::validate(&raw, &base)?;
        if mode == ConfigMode::Val {
            // PyTC's validation writes no prediction; only its test() resizes and unpads.
            config.output_scale = [1.0; 3];
            config.unpad = true;
            config.singly_range = (0, 1);
        }
        if mode == ConfigMode::Test {
            let all = raw::RawConfig::from_values(&merged.values);
            config.prediction_size =
                validate::prediction_size(&all, config.input_size, config.do_2d)?;
            let inferred = merged
                .values
                .get("INFERENCE.OUTPUT_SIZE")
                .is_some_and(|v| !v.is_null());
            if let (Some(size), false) = (config.prediction_size, inferred) {
                warnings.push(format!(
                    "MODEL.OUTPUT_SIZE {size:?} is smaller than the inference window {:?} and INFERENCE.OUTPUT_SIZE is not set: predictions are expected as blocks of {size:?} placed at each window's first voxel, as PyTC's test() places them; set INFERENCE.OUTPUT_SIZE to the model's output size",
                    config.input_size
                ));
            }
            config.learning = crate::loader::Learning::default();
            config.test_augment =
                pytc::test_augment(&merged.values, config.do_2d, config.input_size)?;
        }
        config.report = Report {
            values: view,
            unused,
            warnings,
        };
        Ok(config)
    }

    /// Which of `volumes` volumes the inference grid visits: PyTC's `test_singly` walks
    /// `range(DO_SINGLY_START_INDEX, volumes, |DO_SINGLY_STEP|)` (reversed for a negative
    /// step, which changes only the order) when `INFERENCE.DO_SINGLY` is set; `None` when that
    /// is every volume.
    ///
    /// ```
    /// use voxload::config::Config;
    /// let text = r#"{"INFERENCE": {"DO_SINGLY": true, "DO_SINGLY_START_INDEX": 1, "DO_SINGLY_STEP": -2}}"#;
    /// let cfg = Config::from_str_mode(text, ".", voxload::config::ConfigMode::Test)?;
    /// assert_eq!(cfg.visited_volumes(5), Some(vec![false, true, false, true, false]));
    /// # Ok::<(), voxload::Error>(())
    /// ```
    #[must_use]
    pub fn visited_volumes(&self, volumes: usize) -> Option<Vec<bool>> {
        let (start, step) = self.singly_range;
        if !self.do_singly || (start, step.unsigned_abs()) == (0, 1) {
            return None;
        }
        let step = step.unsigned_abs().max(1);
        Some(
            (0..volumes as u64)
                .map(|v| v >= start && (v - start) % step == 0)
                .collect(),
        )
    }

    /// The whole configuration with PyTC's section and key names, as `voxload config --json`
    /// prints it: every key of PyTC's default table, the files' values merged in (with the
    /// mode's overrides), and `"VOXLOAD": {"unused": [...], "warnings": [...]}`.
    #[must_use]
    pub fn to_pytc_json(&self) -> Value {
        let mut all = pytc::nested(&self.report.values);
        if let Value::Object(map) = &mut all {
            map.insert(
                "VOXLOAD".into(),
                serde_json::json!({
                    "unused": self.report.unused,
                    "warnings": self.report.warnings,
                }),
            );
        }
        all
    }

    /// The additional targets given to the augmentor, besides `image`: `label` (`mask`) when
    /// `LABEL_NAME` is set, `valid_mask` (`mask`) when `VALID_MASK_NAME` is set, then the
    /// extra targets in list order.
    #[must_use]
    pub fn targets(&self) -> Vec<(String, TargetKind)> {
        let mut targets = Vec::new();
        if self.source.has_label() {
            targets.push(("label".to_string(), TargetKind::Mask));
        }
        if self.source.has_valid_mask() {
            targets.push(("valid_mask".to_string(), TargetKind::Mask));
        }
        targets.extend(self.extra_targets.iter().cloned());
        targets
    }

    /// Every output key of a sample and its kind: `image` (`img`) first, then
    /// [`Config::targets`]. Keys are these names whatever the arrays are called.
    #[must_use]
    pub fn keys(&self) -> Vec<(String, TargetKind)> {
        let mut keys = vec![("image".to_string(), TargetKind::Img)];
        keys.extend(self.targets());
        keys
    }

    /// The store arrays of each volume (empty for [`Source::Images`]).
    #[must_use]
    pub fn array_names(&self) -> &[ArrayNames] {
        match &self.source {
            Source::Store { volumes } => volumes,
            Source::Images { .. } => &[],
        }
    }

    /// The transforms the augmentor applies, in PyTC's list order (see
    /// [`Augmentation::transforms`]); empty when `AUGMENTOR.ENABLED` is false.
    #[must_use]
    pub fn transforms(&self) -> Vec<Box<dyn Transform>> {
        if self.augment.enabled {
            self.augment.transforms(self.do_2d)
        } else {
            Vec::new()
        }
    }

    /// The augmentor: the enabled transforms over [`Config::input_size`], the targets of
    /// [`Config::targets`] and `AUGMENTOR.SMOOTH`; [`Compose::disabled`] when
    /// `AUGMENTOR.ENABLED` is false.
    ///
    /// # Errors
    /// As [`Compose::new`] (the values were checked, so only inconsistent hand-edited fields
    /// fail).
    pub fn compose(&self) -> Result<Compose> {
        if self.augment.enabled {
            Ok(
                Compose::new(self.transforms(), self.input_size, self.targets())?
                    .with_smoothing(self.augment.smooth),
            )
        } else {
            Compose::disabled(self.input_size, self.targets())
        }
    }

    /// The rejection settings (`REJECT_SAMPLING.*`, `VALID_RATIO`).
    #[must_use]
    pub fn rejection(&self) -> Rejection {
        self.rejection
    }

    /// The sampler's window geometry for windows of `sample_size` (the augmentor's
    /// [`Compose::sample_size`], or the input size without augmentation), tested on the central
    /// `INPUT_SIZE` region, with `PAD_SIZE` and `PAD_MODE`. With `DO_2D` this is
    /// [`WindowSettings::two_d`]'s geometry (input depth 1, no z padding) with the given
    /// sample size.
    #[must_use]
    pub fn window_settings(&self, sample_size: [usize; 3]) -> WindowSettings {
        let input = self.input_size.map(|n| n as u64);
        let mut windows = if self.do_2d {
            WindowSettings::two_d([input[1], input[2]], [0, 0])
        } else {
            WindowSettings {
                input,
                ..WindowSettings::default()
            }
        };
        windows.pad = self.pad_size;
        windows.sample = sample_size.map(|n| n as u64);
        windows.pad_mode = self.pad_mode;
        windows
    }

    /// The chunk schedule over a volume of shape `volume`, or `None` without `DO_CHUNK_TITLE`.
    /// In training (`training`) chunks overlap when `DATA_CHUNK_STRIDE` is set; at inference they
    /// never do. Give it to [`crate::sampler::RandomSampler::with_schedule`] with
    /// [`ChunkSettings::iterations`] and [`Config::samples_per_batch`].
    ///
    /// `DATA_COORD_RANGE` and `DATA_CHUNK_IND` (split by `CHUNK_IND_SPLIT`) limit the chunks
    /// ([`ChunkSchedule::within`], [`ChunkSchedule::only`]).
    ///
    /// # Errors
    /// As [`ChunkSchedule::new`]: a `DATA_CHUNK_NUM` count larger than the volume's axis (or
    /// the coordinate range's).
    pub fn chunk_schedule(&self, volume: Shape, training: bool) -> Result<Option<ChunkSchedule>> {
        if !self.chunks.enabled {
            return Ok(None);
        }
        let stride = self.chunks.stride && training;
        ChunkSchedule::new(volume, self.chunks.num, stride, self.pad_size)?
            .limited(self.chunks.region(), self.chunks.ids.clone())
            .map(Some)
    }

    /// The inference grid of `INPUT_SIZE` windows at `INFERENCE.STRIDE` over volumes of the
    /// given shapes.
    ///
    /// # Errors
    /// As [`Grid::new`].
    pub fn grid(&self, volumes: Vec<Shape>) -> Result<Grid> {
        Grid::new(volumes, self.input_size.map(|n| n as u64), self.stride)
    }
}
