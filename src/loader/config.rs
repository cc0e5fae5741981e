//! A loader from a PyTC-style configuration file.

use super::{Loader, LoaderBuilder, Mode};
use crate::augment::Compose;
use crate::config::{Config, ConfigMode, Source};
use std::path::{Path, PathBuf};

use crate::sampler::Volume;
use crate::store::{AnyArray, VolumeScales, Zoom, ZoomOrder};
use crate::{Error, OpenOptions, Result};

/// The image paths of a `.txt` list (relative to the list's folder; blank lines and `#`
/// comments skipped).
fn list(path: &Path, key: &str) -> Result<Vec<PathBuf>> {
    let reason = if crate::image::is_image_list(path) {
        match crate::image::image_list(path) {
            Ok(files) => return Ok(files),
            Err(e) => e.to_string(),
        }
    } else {
        format!("{} is not a list of images", path.display())
    };
    Err(Error::Config {
        key: key.into(),
        reason,
    })
}

/// One depth-1 volume per listed image, its label and mask from the parallel lists; each
/// image is decoded on demand by the worker that reads it (see [`AnyArray::open_image`]).
fn image_volumes(
    images: &Path,
    labels: Option<&Path>,
    masks: Option<&Path>,
    scales: &VolumeScales,
) -> Result<Vec<Volume>> {
    let images = list(images, "DATASET.IMAGE_NAME")?;
    let parallel = |p: Option<&Path>, key: &str| -> Result<Option<Vec<PathBuf>>> {
        let Some(p) = p else { return Ok(None) };
        let l = list(p, key)?;
        if l.len() != images.len() {
            return Err(Error::Config {
                key: key.into(),
                reason: format!(
                    "{} lists {} images but DATASET.IMAGE_NAME lists {}",
                    p.display(),
                    l.len(),
                    images.len()
                ),
            });
        }
        Ok(Some(l))
    };
    let labels = parallel(labels, "DATASET.LABEL_NAME")?;
    let masks = parallel(masks, "DATASET.VALID_MASK_NAME")?;
    (0..images.len())
        .map(|i| {
            let open = |path: &Path, label: bool, scale: [f64; 3], order: ZoomOrder| {
                let array = AnyArray::open_image(path, label)?;
                if VolumeScales::uniform(scale).is_unit() {
                    Ok(array)
                } else {
                    array.zoomed(Zoom::new(scale, order)?)
                }
            };
            let mut v = Volume::new(i, open(&images[i], false, scales.image, ZoomOrder::Cubic)?);
            if let Some(l) = &labels {
                v = v.with_label(open(&l[i], true, scales.label, ZoomOrder::Nearest)?)?;
            }
            if let Some(m) = &masks {
                v =
                    v.with_valid_mask(open(&m[i], false, scales.valid_mask, ZoomOrder::Nearest)?)?;
            }
            Ok(v)
        })
        .collect()
}

/// What a front end's mode name means: the loader's [`Mode`] and how the configuration is read
/// ([`ConfigMode`]): `train`; `grid` or `test` (PyTC's test mode: the inference grid with
/// `update_inference_cfg`'s overrides); `val` (PyTC's validation grid of the `VAL_*` volumes).
///
/// ```
/// use voxload::config::ConfigMode;
/// use voxload::loader::{pytc_mode, Mode};
/// assert_eq!(pytc_mode("test")?, (Mode::Grid, ConfigMode::Test));
/// assert_eq!(pytc_mode("val")?, (Mode::Grid, ConfigMode::Val));
/// assert!(pytc_mode("predict").unwrap_err().to_string().contains("\"grid\""));
/// # Ok::<(), voxload::Error>(())
/// ```
///
/// # Errors
/// [`Error::Config`] (key `mode`) for any other name.
pub fn pytc_mode(name: &str) -> Result<(Mode, ConfigMode)> {
    match name {
        "train" => Ok((Mode::Train, ConfigMode::Train)),
        "grid" | "test" => Ok((Mode::Grid, ConfigMode::Test)),
        "val" => Ok((Mode::Grid, ConfigMode::Val)),
        other => Err(Error::Config {
            key: "mode".into(),
            reason: format!(
                "`{other}`: expected \"train\", \"grid\" (PyTC's test mode, also \"test\") or \"val\""
            ),
        }),
    }
}

impl LoaderBuilder {
    /// The loader a configuration describes: its volumes opened from the store at
    /// `DATASET.INPUT_PATH`, its augmentor (training only: the grid is never augmented), its
    /// padding, rejection sampling, chunk schedule, grid stride, workers (`SYSTEM.NUM_CPUS`) and
    /// batch size (`SOLVER.SAMPLES_PER_BATCH`). The store is only read: foreground indexes for
    /// rejection sampling are kept in [`super::default_index_cache`] (change it with
    /// [`LoaderBuilder::index_cache`]).
    ///
    /// ```
    /// use voxload::config::Config;
    /// use voxload::loader::{LoaderBuilder, Mode};
    /// use voxload::{write_array, Encoding};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let volume = ndarray::Array3::<u8>::zeros((16, 300, 300));
    /// write_array(&dir.path().join("em.zarr"), "image", &volume, [8, 64, 64], Encoding::Raw)?;
    /// let config = Config::from_str_at(
    ///     r#"{"DATASET": {"INPUT_PATH": "em.zarr"}, "SOLVER": {"SAMPLES_PER_BATCH": 1}}"#,
    ///     dir.path(),
    /// )?;
    /// let loader = LoaderBuilder::from_config(&config, Mode::Train)?.samples(1);
    /// let batch = loader.build()?.next().unwrap()?;
    /// assert_eq!(batch.array("image").unwrap().shape(), &[1, 8, 256, 256]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Volume::open`] and [`Volume::open_separate`] for the arrays, and as
    /// [`Config::compose`]; for `.txt` image lists (streamed 2D inputs), an image that cannot be
    /// decoded or lists of different lengths.
    pub fn from_config(config: &Config, mode: Mode) -> Result<LoaderBuilder> {
        let store = &config.input_path;
        let mut options = OpenOptions::default();
        options.limits.max_decoded_bytes = config.chunk_cache_bytes;
        let volumes = match &config.source {
            Source::Store { volumes } => {
                let mut opened = Vec::new();
                for names in volumes {
                    let scales = &config.scales;
                    if config.load_2d {
                        opened.extend(Volume::open_separate_scaled(
                            store, names, &options, scales,
                        )?);
                    } else {
                        opened.push(Volume::open_scaled(
                            opened.len(),
                            store,
                            names,
                            &options,
                            scales,
                        )?);
                    }
                }
                opened
            }
            Source::Images {
                images,
                labels,
                valid_masks,
            } => image_volumes(
                images,
                labels.as_deref(),
                valid_masks.as_deref(),
                &config.scales,
            )?,
        };
        let compose = match mode {
            Mode::Train => config.compose()?,
            Mode::Grid => Compose::disabled(config.input_size, config.targets())?,
        };
        let volumes = if config.ensure_min_size {
            // PyTC's target: the augmentor's sample size in training, the input size in test.
            let sample = compose.sample_size().map(|v| v as u64);
            volumes
                .into_iter()
                .map(|v| v.ensure_min_size(sample, config.pad_size, config.pad_mode))
                .collect::<Result<Vec<_>>>()?
        } else {
            volumes
        };
        let builder_volumes = volumes.len();
        let mut builder = Loader::builder(volumes, compose)
            .mode(mode)
            .pad(config.pad_size)
            .pad_mode(config.pad_mode)
            .rejection(config.rejection())
            .stride(config.stride)
            .workers(config.num_cpus.max(1))
            .batch_size(config.samples_per_batch.max(1) as u64)
            .two_d(config.do_2d)
            .intensity(config.intensity)
            .learning(config.learning.clone())
            .test_augment(config.test_augment.clone())
            .reduce_label(config.reduce_label)
            .label_binary(config.label_binary)
            .label_mag(config.label_mag)
            .index_cache(super::default_index_cache());
        if let Some(visited) = config.visited_volumes(builder_volumes) {
            builder = builder.visit(visited);
        }
        if config.chunks.enabled && mode == Mode::Train {
            builder = builder
                .chunk_schedule(
                    config.chunks.num,
                    config.chunks.stride,
                    config.chunks.iterations,
                )
                .chunk_limits(config.chunks.region(), config.chunks.ids.clone());
        }
        Ok(builder)
    }
}
