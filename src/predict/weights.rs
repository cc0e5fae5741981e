//! Blending weights: PyTorch Connectomics' gaussian and bump windows, and the plain average.
//!
//! Every weight is `ε + Π_a g_a(i_a)`: a constant plus a product of one factor per axis, so the
//! sum of the weights of all grid windows covering a voxel factorises per axis too. The writer
//! uses this to normalise without accumulating a weight volume (see [`AxisSums`]).

use std::fmt;
use std::str::FromStr;

use ndarray::Array3;

use crate::{Error, Result, Shape};

/// PyTC's gaussian σ, on coordinates normalised to `[−1, 1]`.
pub const GAUSSIAN_SIGMA: f64 = 0.2;
/// PyTC's bump exponent `t`.
pub const BUMP_T: f64 = 1.5;
/// The constant PyTC adds to the gaussian and bump weights, so that no voxel weighs zero.
pub const WEIGHT_EPSILON: f64 = 1e-4;

/// How a window's voxels weigh in the blend.
///
/// ```
/// use voxload::predict::Weight;
/// let w = Weight::Gaussian.matrix([1, 5, 5]);
/// assert!((w[[0, 2, 2]] - 1.0001).abs() < 1e-7); // the centre: 1 + 1e−4
/// assert!(w[[0, 0, 0]] < 1.001e-4); // the corners: e^(−2/(2·0.2²)) ≈ 1.4e−11, plus 1e−4
/// assert_eq!("bump".parse::<Weight>().unwrap(), Weight::Bump);
/// assert!(Weight::Constant.matrix([2, 3, 4]).iter().all(|&v| v == 1.0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weight {
    /// PyTC's `blend_gaussian`: per axis `x = linspace(−1, 1, n)`, weight
    /// `1e−4 + exp(−(z² + y² + x²) / (2 · 0.2²))`. An axis of length 1 counts as the window's
    /// centre (`x = 0`): numpy's `linspace(−1, 1, 1)` is `[−1]`, which scales PyTC's 2D weights by
    /// `e^−12.5` and leaves them almost flat (the `1e−4` dominates).
    #[default]
    Gaussian,
    /// PyTC's `blend_bump` (after Lee et al. 2017): per axis `x = linspace(0, 1, n + 2)[1:−1]`,
    /// `f(x) = −(x(1 − x))^−1.5`, weight `1e−4 + exp(Σ_a f(x_a) − max Σ_a f(x_a))`.
    Bump,
    /// Every voxel weighs 1: the plain average of the overlapping predictions.
    Constant,
}

impl Weight {
    /// The constant added to every weight (`1e−4` for gaussian and bump, 0 for constant).
    #[must_use]
    pub fn epsilon(self) -> f64 {
        match self {
            Weight::Gaussian | Weight::Bump => WEIGHT_EPSILON,
            Weight::Constant => 0.0,
        }
    }

    /// The factor of each position along an axis of `n` voxels; the weight of voxel
    /// `(i, j, k)` is `epsilon() + f_z[i] · f_y[j] · f_x[k]`.
    ///
    /// ```
    /// use voxload::predict::Weight;
    /// let f = Weight::Bump.axis(3);
    /// assert_eq!(f[1], 1.0); // the centre
    /// assert!((f[0] - (-(0.25f64 * 0.75).powf(-1.5) + 0.25f64.powf(-1.5)).exp()).abs() < 1e-15);
    /// ```
    #[must_use]
    pub fn axis(self, n: u64) -> Vec<f64> {
        let n = n as usize;
        match self {
            Weight::Constant => vec![1.0; n],
            Weight::Gaussian => (0..n)
                .map(|i| {
                    let x = if n == 1 {
                        0.0
                    } else {
                        -1.0 + 2.0 * i as f64 / (n - 1) as f64
                    };
                    (-x * x / (2.0 * GAUSSIAN_SIGMA * GAUSSIAN_SIGMA)).exp()
                })
                .collect(),
            Weight::Bump => {
                let f: Vec<f64> = (0..n)
                    .map(|i| {
                        let x = (i + 1) as f64 / (n + 1) as f64;
                        -(x * (1.0 - x)).powf(-BUMP_T)
                    })
                    .collect();
                let max = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                f.iter().map(|v| (v - max).exp()).collect()
            }
        }
    }

    /// The weight of every voxel of a window, as `float32` (computed in `f64`, rounded once).
    #[must_use]
    pub fn matrix(self, window: Shape) -> Array3<f32> {
        let [fz, fy, fx] = window.map(|n| self.axis(n));
        let eps = self.epsilon();
        let [d, h, w] = window.map(|n| n as usize);
        Array3::from_shape_fn((d, h, w), |(z, y, x)| (eps + fz[z] * fy[y] * fx[x]) as f32)
    }

    /// The name used on the command line and in array attributes.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Weight::Gaussian => "gaussian",
            Weight::Bump => "bump",
            Weight::Constant => "constant",
        }
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Weight {
    type Err = Error;
    /// Parses `gaussian`, `bump` or `constant`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gaussian" => Ok(Weight::Gaussian),
            "bump" => Ok(Weight::Bump),
            "constant" => Ok(Weight::Constant),
            _ => Err(Error::Parse {
                what: "blending weight",
                input: s.into(),
                reason: "expected gaussian, bump or constant".into(),
            }),
        }
    }
}

/// Per axis and per volume position: how many grid windows cover it, and the sum of their
/// weight factors there. The total weight at a voxel is then
/// `ε · Π_a count_a + Π_a sum_a`, because the grid is the product of its per-axis starts.
#[derive(Clone, Debug)]
pub(crate) struct AxisSums {
    pub count: [Vec<f64>; 3],
    pub sum: [Vec<f64>; 3],
    pub epsilon: f64,
}

impl AxisSums {
    /// The sums for a volume of `volume` voxels, windows `window` at per-axis `starts`
    /// (volume coordinates, possibly negative).
    pub fn new(weight: Weight, volume: Shape, window: Shape, starts: &[Vec<i64>; 3]) -> Self {
        let mut count: [Vec<f64>; 3] = Default::default();
        let mut sum: [Vec<f64>; 3] = Default::default();
        for a in 0..3 {
            let factors = weight.axis(window[a]);
            let n = volume[a] as usize;
            count[a] = vec![0.0; n];
            sum[a] = vec![0.0; n];
            for &s in &starts[a] {
                for (i, f) in factors.iter().enumerate() {
                    let x = s + i as i64;
                    if (0..n as i64).contains(&x) {
                        count[a][x as usize] += 1.0;
                        sum[a][x as usize] += f;
                    }
                }
            }
        }
        AxisSums {
            count,
            sum,
            epsilon: weight.epsilon(),
        }
    }
}
