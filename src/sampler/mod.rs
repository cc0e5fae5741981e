//! Sampling: where the windows a model sees come from.
//!
//! - [`Volume`]: one volume's named arrays of equal shape (image, label, valid mask, extra
//!   targets), opened by name, or as depth-1 volumes from `ingest --separate` arrays
//!   ([`separate_arrays`], [`Volume::open_separate`]).
//! - [`RandomSampler`]: training windows with rejection sampling, optionally following a
//!   [`ChunkSchedule`]; [`WindowSettings::two_d`] configures 2D (`DO_2D`) windows.
//! - [`ForegroundIndex`]: non-zero counts per block of a label, stored beside it, which let the
//!   sampler decide most foreground tests without reading the label and without changing a
//!   single draw.
//! - [`Grid`]: inference windows, volume by volume, x fastest, split across ranks.
//!
//! Every random decision for sample `i` comes from its own RNG, seeded from
//! `(seed, epoch, i)` alone, so a sample never depends on how many samples other threads drew.

mod fgindex;
mod grid;
mod random;
mod schedule;
mod volume;

pub use fgindex::{Bounds, ForegroundIndex, DEFAULT_BLOCK, INDEX_NAME};
pub use grid::{grid_starts, Grid, GridItem, DEFAULT_STRIDE, MAX_GRID_ITEMS};
pub use random::{
    Draw, RandomSampler, Rejection, SampleVolume, SamplerStats, WindowSettings, DEFAULT_INPUT_SIZE,
    DEFAULT_PAD_SIZE, QUICK_TRIALS,
};
pub use schedule::ChunkSchedule;
pub use volume::{separate_arrays, ArrayNames, Volume};

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The RNG of one sample, seeded from `(seed, epoch, index)` by SplitMix64 mixing.
///
/// ```
/// use rand::Rng;
/// let a: u64 = voxload::sampler::sample_rng(7, 0, 42).random();
/// let b: u64 = voxload::sampler::sample_rng(7, 0, 42).random();
/// assert_eq!(a, b);
/// ```
#[must_use]
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> Xoshiro256PlusPlus {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    Xoshiro256PlusPlus::seed_from_u64(mix(mix(mix(seed) ^ epoch) ^ index))
}
