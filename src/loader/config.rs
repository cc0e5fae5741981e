//! A loader from a PyTC-style configuration file.

use super::{Loader, LoaderBuilder, Mode};
use crate::augment::Compose;
use crate::config::{Config, Source};
use crate::sampler::{ForegroundIndex, Volume, DEFAULT_BLOCK};
use crate::{Error, OpenOptions, Result};

impl LoaderBuilder {
    /// The loader a configuration describes: its volumes opened from the store at
    /// `DATASET.INPUT_PATH`, its augmentor (training only: the grid is never augmented), its
    /// padding, rejection sampling, chunk schedule, grid stride, workers (`SYSTEM.NUM_CPUS`) and
    /// batch size (`SOLVER.SAMPLES_PER_BATCH`).
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
    /// [`Config::compose`]; streamed `.txt` image lists are not served yet (an error says to
    /// ingest them with `--separate`).
    pub fn from_config(config: &Config, mode: Mode) -> Result<LoaderBuilder> {
        let store = &config.input_path;
        let options = OpenOptions::default();
        let volumes = match &config.source {
            Source::Store { volumes } => {
                let mut opened = Vec::new();
                for names in volumes {
                    if config.load_2d {
                        opened.extend(Volume::open_separate(store, names, &options)?);
                    } else {
                        opened.push(Volume::open(opened.len(), store, names, &options)?);
                    }
                }
                opened
            }
            Source::Images { images, .. } => {
                return Err(Error::Config {
                    key: "DATASET.IMAGE_NAME".into(),
                    reason: format!(
                        "{} is a list of 2D images; streaming them without ingest is not supported yet: run `ingest {} STORE.zarr --separate` and name the arrays instead",
                        images.display(),
                        images.display()
                    ),
                });
            }
        };
        let compose = match mode {
            Mode::Train => config.compose()?,
            Mode::Grid => Compose::disabled(config.input_size, config.targets())?,
        };
        let mut builder = Loader::builder(volumes, compose)
            .mode(mode)
            .pad(config.pad_size)
            .pad_mode(config.pad_mode)
            .rejection(config.rejection())
            .stride(config.stride)
            .workers(config.num_cpus.max(1))
            .batch_size(config.samples_per_batch.max(1) as u64)
            .two_d(config.do_2d);
        if mode == Mode::Train && config.rejection.size_thres > 0 && !config.load_2d {
            // Stored beside each label and reused; a store that cannot be written gets an
            // index in memory instead (built when the loader is).
            for (v, names) in config.array_names().iter().enumerate() {
                let Some(label) = &names.label else { continue };
                if let Ok(index) =
                    ForegroundIndex::open_or_build(store, label, DEFAULT_BLOCK, &options)
                {
                    builder = builder.foreground_index(v, std::sync::Arc::new(index));
                }
            }
        }
        if config.chunks.enabled && mode == Mode::Train {
            builder = builder.chunk_schedule(
                config.chunks.num,
                config.chunks.stride,
                config.chunks.iterations,
            );
        }
        Ok(builder)
    }
}
