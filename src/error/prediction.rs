//! What can be wrong with a prediction window, carried by
//! [`Error::Prediction`](super::Error::Prediction).

/// What is wrong with a window handed to a `predict::PredictionWriter` (inside
/// [`super::Error::Prediction`], which names the output array and the window's position).
/// Also reachable as `voxload::predict::Problem`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PredictionProblem {
    /// The prediction's shape is not `(C, d, h, w)`.
    #[error("prediction of shape {actual:?}, expected (C, d, h, w) = {expected:?} (the channels, then the window or, when set, the test-mode MODEL.OUTPUT_SIZE)")]
    Shape {
        /// `(C, d, h, w)`.
        expected: [usize; 4],
        /// The shape given.
        actual: Vec<usize>,
    },
    /// The position is not the start of a window of the grid.
    #[error("not the start of a window of the inference grid")]
    NotOnGrid,
    /// The window belongs to another writer's block of a shared grid.
    #[error("window {index} is not in this writer's block of the grid (windows {lo} to {hi}, end excluded)")]
    NotInShare {
        /// Its index in the volume's grid.
        index: u64,
        /// The block's first window.
        lo: u64,
        /// The block's end.
        hi: u64,
    },
    /// The window was added before.
    #[error("window {index} was already added")]
    Duplicate {
        /// Its index in the volume's grid.
        index: u64,
    },
    /// Windows were never added (the position is the first missing one).
    #[error("{missing} windows were never added (this is the first); the array stays marked in-progress")]
    Incomplete {
        /// How many are missing.
        missing: u64,
    },
}
