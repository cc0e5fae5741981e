//! Writing predictions back: overlapping inference windows blended into a Zarr v3 array
//! `(C, D, H, W)` (SPEC section 9).
//!
//! A [`PredictionWriter`] is made for one volume's inference grid — volume shape, window
//! (`MODEL.INPUT_SIZE`), stride (`INFERENCE.STRIDE`) and padding (`DATASET.PAD_SIZE`) — exactly
//! as the loader's grid mode walks it: per axis the starts of [`crate::sampler::grid_starts`]
//! over the volume padded on both sides, shifted by `−pad` into volume coordinates. Each window's
//! prediction `(C, d, h, w)` is handed to [`PredictionWriter::add`] with the window's start.
//!
//! **The blend.** Every output voxel is `Σ_i p_i·w_i / Σ_i w_i` over the windows `i` covering
//! it, with the window weight `w` of a [`Weight`]: PyTC's gaussian (σ 0.2 on coordinates
//! normalised to `[−1, 1]`, plus `1e−4`), PyTC's bump (t 1.5, plus `1e−4`) or constant (the plain
//! average). The padded grid is cropped back to the volume (PyTC's `INFERENCE.UNPAD`): window
//! voxels outside `[0, D) × [0, H) × [0, W)` are dropped. A depth-1 window (`DO_2D`) is just the
//! general case: each slice's predictions stack back into the 3D volume.
//!
//! **Output scale.** With [`PredictionBuilder::output_scale`] (PyTC's `INFERENCE.OUTPUT_SCALE`)
//! each prediction is resized by the scale as PyTC's test augmentor resizes the model's output
//! (`skimage.transform.resize`, linear, with its anti-aliasing Gaussian when shrinking) and
//! placed where PyTC's `test()` places it: the padded volume becomes `ceil((n + 2p) · s)`
//! voxels, a window at padded index `i` lands at `floor(i · s)`, and `floor(p · s)` is cropped
//! off both ends. Weights are those of the resized window.
//!
//! **Memory.** The output is cut into tiles, one per spatial output chunk (default
//! `(window depth, 256, 256)`, see [`PredictionBuilder::chunk`]); a tile holds an accumulator of
//! `C × tile` `float32`s from the first window that touches it until the last one — counted from
//! the grid geometry — has been added, and is then normalised, converted, written and freed. In
//! grid order (z, y, x) that is about two layers of tiles: `≈ 4 · C · (cz + d) · H · W` bytes,
//! never the volume. The weight sum needs no volume of its own: every weight is
//! `ε + g_z·g_y·g_x` and the grid is the product of its per-axis starts, so the sum over the
//! windows covering a voxel is `ε·n_z·n_y·n_x + G_z·G_y·G_x` from per-axis tables (computed in
//! `f64`).
//!
//! **Order and threads.** `add` takes `&self` and may be called from many threads, windows in
//! any order. The result is **bit-identical to in-order arrival**: each tile accumulates its
//! windows in grid order, keeping a window that arrives ahead of its turn (its part inside the
//! tile) until its predecessors have been added. Windows that arrive nearly in order (a loader's
//! workers) cost little extra memory; a fully shuffled arrival may hold up to the whole volume's
//! predictions in such parts.
//!
//! **Output types.** `float32` keeps the blended value (`f32` accumulator divided by the `f64`
//! weight sum, rounded to `f32`). `uint8` is PyTC's `× 255` conversion, but rounded to nearest and
//! clipped to `[0, 255]` ([`to_u8`]); PyTC truncates (`astype(np.uint8)`), biasing every value
//! down by half a level, and lets values outside `[0, 1]` wrap. PyTC also sets every window's
//! negative predictions to 0 before blending them ("to make it positive for better weighted
//! average"); voxload deliberately blends them as they are, so a `float32` output keeps signed
//! predictions (distance-transform targets `5` and `6` under `tanh` are in `[−1, 1]`). For
//! predictions in `[0, 1]` (sigmoid outputs) the two are the same.
//!
//! **Completion and DO_SINGLY.** The array is marked `in-progress` when created and `complete` by
//! [`PredictionWriter::finish`], which fails if any window is missing. With `DO_SINGLY` each
//! input volume (image) gets its own array [`singly_name`] (`NAME/0000`, …) and a run skips the
//! arrays [`is_complete`] already reports, so an interrupted run resumes.
//!
//! **Several writers.** DDP ranks or cluster jobs, each iterating its own block of the grid,
//! can write one array together: [`OutputPlan::share`] gives each its [`GridShare`] (the
//! loader's split of the grid), [`PredictionBuilder::share`] makes the first create the array
//! and the others join it, and the last to finish completes it — bit-identical to one writer,
//! since the tiles on block boundaries are still summed in grid order (see [`GridShare`]'s
//! module). Each writer holds only the tiles its own windows touch.
//!
//! ```
//! use ndarray::Array4;
//! use voxload::predict::{read_prediction, PredictionWriter, Weight};
//!
//! let dir = tempfile::tempdir()?;
//! let writer = PredictionWriter::builder([10, 40, 40], [4, 16, 16], [2, 8, 8])
//!     .pad([1, 4, 4])
//!     .channels(2)
//!     .weight(Weight::Bump)
//!     .create(dir.path(), "pred")?;
//! let positions: Vec<_> = writer.positions().collect();
//! assert_eq!(positions[0], [-1, -4, -4]);
//! // A constant prediction blends to the same constant, whatever the weights.
//! for &p in positions.iter().rev() {
//!     writer.add(p, Array4::from_elem((2, 4, 16, 16), 0.25).view())?;
//! }
//! writer.finish()?;
//! let out = read_prediction(dir.path(), "pred")?;
//! assert_eq!(out.shape(), &[2, 10, 40, 40]);
//! assert!(out.iter().all(|&v| (v - 0.25).abs() < 1e-6));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod geometry;
mod output;
mod plan;
mod rescale;
mod share;
mod tile;
mod tta;
mod weights;
mod writer;

use std::str::FromStr;

pub use crate::error::PredictionProblem as Problem;
pub use builder::{PredictionBuilder, DEFAULT_CHUNK_HW};
pub use output::{is_complete, read_prediction, singly_name};
pub use plan::{OutputPlan, OutputSettings, Placement};
pub use share::GridShare;
pub use tta::VariantCombiner;
pub use weights::{Weight, BUMP_T, GAUSSIAN_SIGMA, WEIGHT_EPSILON};
pub use writer::{to_u8, Finished, PredictionWriter};

use crate::{Error, Result};

/// The output array's data type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputType {
    /// `float32`: the blended values as they are.
    #[default]
    F32,
    /// `uint8`: `× 255`, rounded, clipped (see [`to_u8`]).
    U8,
}

impl OutputType {
    /// The Zarr data type name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            OutputType::F32 => "float32",
            OutputType::U8 => "uint8",
        }
    }
}

impl FromStr for OutputType {
    type Err = Error;
    /// Parses `float32` or `uint8`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "float32" => Ok(OutputType::F32),
            "uint8" => Ok(OutputType::U8),
            _ => Err(Error::Parse {
                what: "prediction data type",
                input: s.into(),
                reason: "expected float32 or uint8".into(),
            }),
        }
    }
}
