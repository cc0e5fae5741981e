//! Where the predictions of a configuration's inference grid go: which output array each
//! volume gets, its grid, and which block of it a rank writes.

use std::path::Path;

use super::{singly_name, GridShare, OutputType, PredictionBuilder, PredictionWriter, Weight};
use crate::config::{Config, Source};
use crate::sampler::{grid_starts, separate_arrays};
use crate::store::zoom::min_size_frame;
use crate::store::{array_dir, ArrayMeta, Zoom, ZoomOrder};
use crate::{Encoding, Error, Padding, Result, Shape};

/// The outputs of a configuration's inference grid (the loader's grid mode): one array per
/// volume when there are several or `INFERENCE.DO_SINGLY` is set (`NAME/0000`, `NAME/0001`, …,
/// see [`singly_name`]), else one array `NAME`; each volume's grid of `MODEL.INPUT_SIZE`
/// windows at `INFERENCE.STRIDE` over the volume padded by `DATASET.PAD_SIZE`.
///
/// ```
/// use voxload::predict::OutputPlan;
/// let plan = OutputPlan::new(vec![[10, 40, 40], [10, 20, 20]], [4, 16, 16], [2, 8, 8], [0, 0, 0], false);
/// assert_eq!(plan.name("pred", 1), "pred/0001"); // several volumes: one array each
/// assert_eq!(plan.windows(0), 4 * 4 * 4);
/// assert_eq!(plan.total_windows(), 64 + 4 * 2 * 2);
/// // Two ranks: rank 1 takes windows 40..80 of the whole grid, so 40..64 of volume 0.
/// assert_eq!(plan.share(0, 1, 2)?.unwrap().range(), (40, 64));
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OutputPlan {
    volumes: Vec<Shape>,
    window: Shape,
    stride: Shape,
    pad: Padding,
    singly: bool,
    output_scale: [f64; 3],
    unpad: bool,
    prediction_size: Option<Shape>,
    /// Per volume, whether the grid visits it (`None`: every volume).
    visited: Option<Vec<bool>>,
}

impl OutputPlan {
    /// The plan for volumes of the given image shapes; `singly` is `INFERENCE.DO_SINGLY`.
    #[must_use]
    pub fn new(
        volumes: Vec<Shape>,
        window: Shape,
        stride: Shape,
        pad: impl Into<Padding>,
        singly: bool,
    ) -> Self {
        OutputPlan {
            volumes,
            window,
            stride,
            pad: pad.into(),
            singly,
            output_scale: [1.0; 3],
            unpad: true,
            prediction_size: None,
            visited: None,
        }
    }

    /// With only the volumes whose entry is true visited, as the loader's grid visits them
    /// ([`crate::loader::LoaderBuilder::visit`]): the others have no window and no output.
    #[must_use]
    pub fn visiting(mut self, visited: Vec<bool>) -> Self {
        self.visited = Some(visited);
        self
    }

    fn is_visited(&self, v: usize) -> bool {
        self.visited
            .as_ref()
            .and_then(|s| s.get(v).copied())
            .unwrap_or(true)
    }

    /// With PyTC's `INFERENCE.OUTPUT_SCALE`: every writer resizes the predictions by it (see
    /// [`PredictionBuilder::output_scale`]).
    #[must_use]
    pub fn with_output_scale(mut self, scale: [f64; 3]) -> Self {
        self.output_scale = scale;
        self
    }

    /// With PyTC's `INFERENCE.UNPAD` (see [`PredictionBuilder::unpad`]).
    #[must_use]
    pub fn with_unpad(mut self, unpad: bool) -> Self {
        self.unpad = unpad;
        self
    }

    /// With the model's output blocks of `size` (test-mode `MODEL.OUTPUT_SIZE`, see
    /// [`PredictionBuilder::prediction_size`]); `None`: whole windows.
    #[must_use]
    pub fn with_prediction_size(mut self, size: Option<Shape>) -> Self {
        self.prediction_size = size;
        self
    }

    /// The plan of a configuration, reading the image shapes from its store.
    ///
    /// # Errors
    /// [`Error::Config`] when the images are a `.txt` list (predictions are blended over store
    /// arrays: ingest the images first); store errors reading the arrays' metadata.
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let Source::Store { volumes } = &cfg.source else {
            return Err(Error::Config {
                key: "DATASET.IMAGE_NAME".into(),
                reason: "is a list of 2D images; predictions are blended over store arrays (ingest the images first)".into(),
            });
        };
        let store: &Path = &cfg.input_path;
        // The grid runs over the images as the loader reads them: zoomed by IMAGE_SCALE.
        let zoom = Zoom::new(cfg.scales.image, ZoomOrder::Cubic)?;
        let mut shapes = Vec::new();
        for names in volumes {
            if cfg.load_2d {
                for (_, meta) in separate_arrays(store, &names.image)? {
                    shapes.push(zoom.shape(meta.shape)?);
                }
            } else {
                shapes.push(zoom.shape(ArrayMeta::read(&array_dir(store, &names.image))?.shape)?);
            }
        }
        let window = cfg.input_size.map(|v| v as u64);
        if cfg.ensure_min_size {
            // As the loader sees the volumes: resized up to the window once padded, in the
            // volume's frame (see `Volume::ensure_min_size`).
            for shape in &mut shapes {
                let (pad, order) = (cfg.pad_size, ZoomOrder::Cubic);
                if let Some(r) = min_size_frame(*shape, window, pad, cfg.pad_mode, order) {
                    *shape = r.shape();
                }
            }
        }
        let visited = cfg.visited_volumes(shapes.len());
        let mut plan = Self::new(shapes, window, cfg.stride, cfg.pad_size, cfg.do_singly)
            .with_output_scale(cfg.output_scale)
            .with_unpad(cfg.unpad)
            .with_prediction_size(cfg.prediction_size.map(|s| s.map(|v| v as u64)));
        if let Some(visited) = visited {
            plan = plan.visiting(visited);
        }
        Ok(plan)
    }

    /// The image shape of every volume.
    #[must_use]
    pub fn volumes(&self) -> &[Shape] {
        &self.volumes
    }

    /// The window shape (`MODEL.INPUT_SIZE`).
    #[must_use]
    pub fn window(&self) -> Shape {
        self.window
    }

    /// Whether each volume gets its own array (several volumes, or `DO_SINGLY`).
    #[must_use]
    pub fn separate(&self) -> bool {
        self.singly || self.volumes.len() > 1
    }

    /// Whether `DO_SINGLY` is set: complete arrays are skipped, so a run resumes.
    #[must_use]
    pub fn singly(&self) -> bool {
        self.singly
    }

    /// The output array of volume `v` under `base`.
    #[must_use]
    pub fn name(&self, base: &str, v: usize) -> String {
        if self.separate() {
            singly_name(base, v)
        } else {
            base.to_string()
        }
    }

    /// The grid windows of volume `v`.
    #[must_use]
    pub fn windows(&self, v: usize) -> u64 {
        if !self.is_visited(v) {
            return 0;
        }
        let padded = self.pad.padded(self.volumes[v]);
        (0..3)
            .map(|a| grid_starts(padded[a], self.window[a], self.stride[a]).len() as u64)
            .product()
    }

    /// The index in the whole grid of volume `v`'s first window (the loader's
    /// `SampleInfo::index` of it).
    #[must_use]
    pub fn first_window(&self, v: usize) -> u64 {
        (0..v).map(|u| self.windows(u)).sum()
    }

    /// The grid windows of all volumes.
    #[must_use]
    pub fn total_windows(&self) -> u64 {
        (0..self.volumes.len()).map(|v| self.windows(v)).sum()
    }

    /// The block of volume `v`'s grid that `rank` of `world_size` writes, split as the loader's
    /// grid mode splits the whole grid; `None` when the rank has no window of the volume.
    ///
    /// # Errors
    /// As [`GridShare::of_rank`].
    pub fn share(&self, v: usize, rank: u64, world_size: u64) -> Result<Option<GridShare>> {
        let (first, total) = (self.first_window(v), self.total_windows());
        GridShare::of_rank(rank, world_size, first, self.windows(v), total)
    }

    /// A writer's settings for volume `v`'s grid (volume, window, stride, padding).
    #[must_use]
    pub fn builder(&self, v: usize) -> PredictionBuilder {
        PredictionWriter::builder(self.volumes[v], self.window, self.stride)
            .pad(self.pad)
            .output_scale(self.output_scale)
            .unpad(self.unpad)
            .prediction_size(self.prediction_size)
    }

    /// Where volume `v`'s output goes for `rank` of `world_size`, in `store` under `base`
    /// ([`Self::name`]): the array and the block of the grid to write, or why there is none.
    ///
    /// ```
    /// use voxload::predict::{OutputPlan, OutputSettings, Placement};
    /// let dir = tempfile::tempdir()?;
    /// let plan = OutputPlan::new(vec![[4, 16, 16]], [4, 16, 16], [4, 16, 16], [0, 0, 0], true);
    /// let settings = OutputSettings { channels: 2, ..OutputSettings::default() };
    /// let place = plan.placement(0, dir.path(), "pred", (0, 1))?;
    /// let Placement::Write { name, .. } = &place else { unreachable!() };
    /// assert_eq!(name, "pred/0000");
    /// let writer = plan.create(0, dir.path(), place, &settings)?.unwrap();
    /// writer.add([0, 0, 0], ndarray::Array4::zeros((2, 4, 16, 16)).view())?;
    /// writer.finish()?;
    /// // DO_SINGLY: a complete array is not written again.
    /// assert!(matches!(plan.placement(0, dir.path(), "pred", (0, 1))?, Placement::Complete { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Self::share`]; reading the array's status.
    pub fn placement(
        &self,
        v: usize,
        store: &Path,
        base: &str,
        (rank, world_size): (u64, u64),
    ) -> Result<Placement> {
        let name = self.name(base, v);
        if !self.is_visited(v) {
            return Ok(Placement::NotVisited);
        }
        let share = match world_size {
            0 | 1 => None,
            _ => match self.share(v, rank, world_size)? {
                Some(share) => Some(share),
                None => return Ok(Placement::NotThisRank),
            },
        };
        if self.singly && super::is_complete(store, &name)? {
            return Ok(Placement::Complete { name });
        }
        Ok(Placement::Write { name, share })
    }

    /// Volume `v`'s writer at `placement` with `output`'s settings (with `DO_SINGLY` an
    /// unfinished array of an earlier run is replaced); `None` when the placement writes
    /// nothing.
    ///
    /// # Errors
    /// As [`PredictionBuilder::create`].
    pub fn create(
        &self,
        v: usize,
        store: &Path,
        placement: Placement,
        output: &OutputSettings,
    ) -> Result<Option<PredictionWriter>> {
        let Placement::Write { name, share } = placement else {
            return Ok(None);
        };
        let mut builder = self
            .builder(v)
            .channels(output.channels)
            .weight(output.weight)
            .dtype(output.dtype)
            .encoding(output.encoding)
            .overwrite(output.overwrite || self.singly);
        if let Some(c) = output.chunk {
            builder = builder.chunk(c);
        }
        if let Some(share) = share {
            builder = builder.share(share);
        }
        builder.create(store, &name).map(Some)
    }
}

/// Where one volume's output goes for one rank.
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    /// Write array `name` (with several ranks, the block `share` of its grid).
    Write {
        /// The array's name in the store.
        name: String,
        /// The rank's block, when several ranks share the grid.
        share: Option<GridShare>,
    },
    /// The rank has no window of the volume.
    NotThisRank,
    /// The grid does not visit the volume (`DO_SINGLY_START_INDEX`, `DO_SINGLY_STEP`).
    NotVisited,
    /// `DO_SINGLY`: array `name` is complete already (an earlier run wrote it).
    Complete {
        /// The array's name in the store.
        name: String,
    },
}

/// How prediction arrays are written (see [`PredictionBuilder`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputSettings {
    /// Channels per prediction (default 1).
    pub channels: usize,
    /// The window weight (default gaussian).
    pub weight: Weight,
    /// The stored type (default float32).
    pub dtype: OutputType,
    /// The chunk encoding (default raw).
    pub encoding: Encoding,
    /// The spatial chunk (default: window depth, [`super::DEFAULT_CHUNK_HW`]).
    pub chunk: Option<Shape>,
    /// Replace existing arrays.
    pub overwrite: bool,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            channels: 1,
            weight: Weight::default(),
            dtype: OutputType::default(),
            encoding: Encoding::Raw,
            chunk: None,
            overwrite: false,
        }
    }
}
