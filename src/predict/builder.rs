//! The settings of a [`PredictionWriter`] and the checks that turn them into one: grid, padding,
//! output scale and block size, chunking, sharing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use serde_json::json;

use super::geometry::{output_grid, Geometry, TileWindows};
use super::output::{OutputArray, OutputSpec};
use super::rescale::PredictionResize;
use super::share::{GridShare, Pieces};
use super::weights::AxisSums;
use super::writer::SHARDS;
use super::{OutputType, PredictionWriter, Weight};
use crate::store::Encoding;
use crate::{Error, Padding, Result, Shape};

/// The default output chunk's height and width.
pub const DEFAULT_CHUNK_HW: u64 = 256;

/// Settings of a [`PredictionWriter`]; [`PredictionBuilder::create`] makes the writer.
#[derive(Clone, Debug)]
pub struct PredictionBuilder {
    volume: Shape,
    window: Shape,
    stride: Shape,
    pad: Padding,
    channels: usize,
    weight: Weight,
    dtype: OutputType,
    encoding: Encoding,
    chunk: Option<Shape>,
    overwrite: bool,
    share: Option<GridShare>,
    output_scale: [f64; 3],
    unpad: bool,
    prediction_size: Option<Shape>,
}

impl PredictionBuilder {
    /// The defaults for a grid of `window`s at `stride` over `volume` (see
    /// [`PredictionWriter::builder`]).
    pub(super) fn new(volume: Shape, window: Shape, stride: Shape) -> Self {
        PredictionBuilder {
            volume,
            window,
            stride,
            pad: Padding::uniform([0, 0, 0]),
            channels: 1,
            weight: Weight::Gaussian,
            dtype: OutputType::F32,
            encoding: Encoding::Raw,
            chunk: None,
            overwrite: false,
            share: None,
            output_scale: [1.0; 3],
            unpad: true,
            prediction_size: None,
        }
    }

    setter!(/// `DATASET.PAD_SIZE`: the grid runs over the volume padded by this much (a [`Coord`](crate::Coord)
        /// on both sides of each axis, a [`Padding`] per side), as the loader's grid mode does,
        /// and the output is cropped back to the volume (PyTC's `INFERENCE.UNPAD`). Default
        /// `[0, 0, 0]`.
        pad: impl Into<Padding> => pad.into());
    setter!(/// Output channels `C` (default 1).
        channels: usize);
    setter!(/// The blending weight (default gaussian).
        weight: Weight);
    setter!(/// The output data type (default float32).
        dtype: OutputType);
    setter!(/// Raw (default) or zstd; sharded is not supported.
        encoding: Encoding);
    setter!(/// Replace an existing array of the same name (default: an error). With a
        /// [`PredictionBuilder::share`], an unfinished array of the same grid and split is
        /// joined, not replaced: it is the other writers' (or an interrupted run's, whose
        /// finished blocks are kept).
        overwrite: bool);

    /// PyTC's `INFERENCE.OUTPUT_SCALE` (default `[1, 1, 1]`): every prediction is resized by
    /// it before it is blended, as PyTC resizes the model's output (see the `rescale` notes in
    /// the [module documentation](super)), into an output of `ceil((n + 2p) · s) − 2 ⌊p · s⌋`
    /// voxels per axis. Predictions are still added at the window's shape and start.
    ///
    /// ```
    /// use ndarray::Array4;
    /// use voxload::predict::{read_prediction, PredictionWriter};
    /// let dir = tempfile::tempdir()?;
    /// let writer = PredictionWriter::builder([4, 40, 40], [4, 16, 16], [4, 8, 8])
    ///     .output_scale([1.0, 0.5, 0.5])
    ///     .create(dir.path(), "half")?;
    /// let positions: Vec<_> = writer.positions().collect();
    /// for p in positions {
    ///     writer.add(p, Array4::from_elem((1, 4, 16, 16), 0.5).view())?;
    /// }
    /// writer.finish()?;
    /// assert_eq!(read_prediction(dir.path(), "half")?.shape(), &[1, 4, 20, 20]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn output_scale(mut self, scale: [f64; 3]) -> Self {
        self.output_scale = scale;
        self
    }

    /// PyTC's test-mode `MODEL.OUTPUT_SIZE` (`INFERENCE.OUTPUT_SIZE`) when the model's output
    /// is smaller than its input (default `None`: predictions are whole windows): every
    /// prediction is a block of this size, placed at its window's first voxel as PyTC's
    /// `test()` places it (not centred), and blended with a weight of its size. Voxels no block
    /// covers have no weight: NaN in `float32` (PyTC's `0 / 0`), 0 in `uint8`.
    ///
    /// ```
    /// use ndarray::Array4;
    /// use voxload::predict::{read_prediction, PredictionWriter};
    /// let dir = tempfile::tempdir()?;
    /// let writer = PredictionWriter::builder([4, 32, 32], [4, 16, 16], [4, 16, 16])
    ///     .prediction_size(Some([4, 8, 8]))
    ///     .create(dir.path(), "blocks")?;
    /// let positions: Vec<_> = writer.positions().collect();
    /// for p in positions {
    ///     writer.add(p, Array4::from_elem((1, 4, 8, 8), 0.5).view())?;
    /// }
    /// writer.finish()?;
    /// let out = read_prediction(dir.path(), "blocks")?;
    /// assert_eq!((out[[0, 0, 0, 0]], out[[0, 0, 16, 20]]), (0.5, 0.5));
    /// assert!(out[[0, 0, 8, 8]].is_nan()); // behind the first block, before the next window
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn prediction_size(mut self, size: Option<Shape>) -> Self {
        self.prediction_size = size;
        self
    }

    /// PyTC's `INFERENCE.UNPAD` (default true): the output is the volume, the padded grid
    /// cropped back to it. Off, the output is the padded volume (`n + 2p` voxels per axis,
    /// scaled by [`PredictionBuilder::output_scale`]), its voxel `p` the volume's first.
    ///
    /// ```
    /// use voxload::predict::{read_prediction, PredictionWriter};
    /// let dir = tempfile::tempdir()?;
    /// let writer = PredictionWriter::builder([4, 40, 40], [4, 16, 16], [4, 8, 8])
    ///     .pad([0, 4, 4])
    ///     .unpad(false)
    ///     .create(dir.path(), "padded")?;
    /// let positions: Vec<_> = writer.positions().collect();
    /// for p in positions {
    ///     writer.add(p, ndarray::Array4::from_elem((1, 4, 16, 16), 0.5).view())?;
    /// }
    /// writer.finish()?;
    /// assert_eq!(read_prediction(dir.path(), "padded")?.shape(), &[1, 4, 48, 48]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn unpad(mut self, unpad: bool) -> Self {
        self.unpad = unpad;
        self
    }

    /// The spatial chunk shape `(cz, cy, cx)`; output chunks are `(1, cz, cy, cx)`. Default:
    /// `(window depth, 256, 256)`, each clamped to the volume (the output's, when scaled).
    #[must_use]
    pub fn chunk(mut self, chunk: Shape) -> Self {
        self.chunk = Some(chunk);
        self
    }

    /// Writes one block of the grid into an array that other writers (ranks, jobs) write the
    /// other blocks of ([`GridShare`]); the first creates the array, the others join it, and the
    /// last to [`PredictionWriter::finish`] completes it. The result is bit-identical to one
    /// writer adding every window. This writer accepts only the windows of its block.
    #[must_use]
    pub fn share(mut self, share: GridShare) -> Self {
        self.share = Some(share);
        self
    }

    /// Creates the output array `name` in the store at `store` (nested names make groups),
    /// marked in-progress until [`PredictionWriter::finish`]; with a
    /// [`PredictionBuilder::share`], creates or joins it.
    ///
    /// # Errors
    /// [`Error::Geometry`] for a zero extent in the volume, window, stride, chunk or channels,
    /// a negative padding, or a share whose last bound is not the grid's window count;
    /// [`Error::Write`] when the array exists (and cannot be joined) and `overwrite` is off or
    /// the encoding is sharded; [`Error::Io`] / [`Error::Zarrs`] when writing fails.
    pub fn create(&self, store: &Path, name: &str) -> Result<PredictionWriter> {
        let zero = |s: &Shape| s.contains(&0);
        let invalid = |chunk: Option<Shape>| {
            Error::Geometry(format!(
                "prediction writer: volume {:?}, window {:?}, stride {:?}, chunk {} and {} channels must be positive, padding {} not negative",
                self.volume,
                self.window,
                self.stride,
                chunk.map_or_else(|| "(default)".into(), |c| format!("{c:?}")),
                self.channels,
                self.pad
            ))
        };
        if zero(&self.volume)
            || zero(&self.window)
            || zero(&self.stride)
            || self.chunk.as_ref().is_some_and(zero)
            || self.channels == 0
            || !self.pad.is_non_negative()
        {
            return Err(invalid(self.chunk));
        }
        let scale = self.output_scale;
        if scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::Geometry(format!(
                "prediction writer: output scale {scale:?} must be positive"
            )));
        }
        let predicted = self.prediction_size.unwrap_or(self.window);
        if zero(&predicted) || (0..3).any(|a| predicted[a] > self.window[a]) {
            return Err(Error::Geometry(format!(
                "prediction writer: the prediction size {predicted:?} (MODEL.OUTPUT_SIZE) must be positive and at most the window {:?}",
                self.window
            )));
        }
        let output = output_grid(
            self.volume,
            (self.window, predicted),
            (self.stride, self.pad),
            (scale, self.unpad),
        );
        if let Some(a) = (0..3).find(|&a| output.starts[a].windows(2).any(|p| p[0] >= p[1])) {
            return Err(Error::Geometry(format!(
                "prediction writer: an output scale of {} on axis {} puts two windows {} voxels apart at the same output voxel; the scale times the stride must be at least 1",
                scale[a], crate::store::zoom::AXES[a], self.stride[a]
            )));
        }
        if zero(&output.volume) {
            return Err(Error::Geometry(format!(
                "prediction writer: an output scale of {scale:?} leaves no voxel of the volume {:?}",
                self.volume
            )));
        }
        let chunk = self.chunk.unwrap_or_else(|| {
            let d = [output.window[0], DEFAULT_CHUNK_HW, DEFAULT_CHUNK_HW];
            std::array::from_fn(|a| d[a].min(output.volume[a]).max(1))
        });
        let geometry = Geometry::new(output, predicted, chunk);
        let (volume, window) = (geometry.volume, geometry.window);
        let windows = geometry.len();
        if let Some(share) = &self.share {
            if share.bounds().last() != Some(&windows) {
                return Err(Error::Geometry(format!(
                    "prediction writer: the share's bounds {:?} do not end at the grid's {windows} windows",
                    share.bounds()
                )));
            }
        }
        let c = self.channels as u64;
        let mut prediction = json!({
            "weight": self.weight.name(),
            "window": self.window,
            "stride": self.stride,
            "pad": self.pad.pytc_values(),
        });
        if predicted != self.window {
            prediction["prediction_size"] = json!(predicted);
        }
        if scale != [1.0; 3] {
            prediction["output_scale"] = json!(scale);
        }
        if !self.unpad {
            prediction["unpad"] = json!(false);
        }
        if let Some(share) = &self.share {
            prediction["blocks"] = json!(share.bounds());
            prediction["dtype"] = json!(self.dtype.name());
            prediction["chunk"] = json!(chunk);
            prediction["shape"] = json!([c, volume[0], volume[1], volume[2]]);
        }
        let spec = OutputSpec {
            shape: [c, volume[0], volume[1], volume[2]],
            chunk,
            dtype: self.dtype,
            encoding: self.encoding,
            prediction,
        };
        let out = match &self.share {
            None => OutputArray::create(store, name, &spec, self.overwrite)?,
            Some(_) => OutputArray::create_joint(store, name, &spec, self.overwrite)?,
        };
        let sums = AxisSums::new(self.weight, volume, window, &geometry.starts);
        let words = windows.div_ceil(64) as usize;
        let own = self.share.as_ref().map_or((0, windows), GridShare::range);
        let pieces = Pieces::new(out.path());
        let tiles_to_finish = (0..geometry.tile_count())
            .filter(|&id| {
                let bbox = geometry.tile_box(geometry.tile_of(id));
                let w = TileWindows::new(&geometry, &bbox);
                w.count_below(own.1) > w.count_below(own.0)
            })
            .count() as u64;
        Ok(PredictionWriter {
            weights: self.weight.matrix(window).into_raw_vec_and_offset().0,
            resize: (scale != [1.0; 3]).then(|| PredictionResize::new(predicted, window)),
            sums,
            channels: self.channels,
            dtype: self.dtype,
            received: (0..words).map(|_| AtomicU64::new(0)).collect(),
            added: AtomicU64::new(0),
            written: AtomicU64::new(0),
            live: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            geometry,
            out,
            share: self.share.clone(),
            own,
            tiles_to_finish,
            pieces,
        })
    }
}
