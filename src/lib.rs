//! # voxload
//!
//! Fast data loading for deep learning on huge 3D electron-microscopy volumes.
//!
//! Coordinates are `(z, y, x)` and signed everywhere: a [`Bbox`] may begin at negative
//! coordinates, or lie wholly outside its volume; such voxels are simply padded.
//!
//! ## A guided tour
//!
//! **Into a store.** [`Ingest`] turns tile datasets, image lists, stacks and folders into a
//! chunked Zarr v3 array, a slab at a time and resumably; [`write_array`] (or an
//! [`ArrayWriter`]) writes an array you already hold.
//!
//! **Reading windows.** A [`MappedArray`] serves any box of a volume — inside, straddling or
//! wholly outside it — padded by a [`PadMode`] with exactly `numpy.pad`'s rules, copying rows
//! straight out of memory-mapped chunk files. [`AnyArray`] opens an array whatever its stored
//! data type ([`DType`]).
//!
//! **Choosing windows.** A [`Volume`] is one image with its label, valid mask and extra targets.
//! A [`RandomSampler`] draws training windows, with PyTC's rejection sampling, from
//! `(seed, epoch, index, rank)` alone; a [`Grid`] walks the inference grid in order.
//!
//! **Augmenting.** [`Compose`] applies PyTC's transforms to a sample and all its targets, the
//! geometric ones fused into one interpolation over the output crop.
//!
//! **Loading.** [`Loader::builder`] (or [`LoaderBuilder::from_config`] with a [`Config`] read
//! from PyTC's keys) gives a [`LoaderBuilder`]; its serial and prefetching iterators yield the
//! same [`Batch`]es for any number of workers. Each sample's record is a
//! [`ManifestSample`](loader::ManifestSample), and a run's records are a [`Manifest`] (what `voxload sample` writes).
//!
//! **Writing predictions back.** A [`PredictionWriter`] blends overlapping grid windows into a
//! Zarr array, bit-identically whatever the order they arrive in.
//!
//! **Errors.** Every fallible function returns one [`Error`], which names the file, key or value
//! it is about.
//!
//! The modules follow the same path: [`element`], [`geometry`], [`pad`], [`file`](mod@file) and [`image`]
//! at the base; [`store`]; [`ingest`], [`sampler`], [`augment`] and [`config`]; then [`loader`]
//! and [`predict`]. [`bench`](mod@bench) and [`synth`] hold the measurements and synthetic data of the
//! command-line tools; [`internals`] is not part of the stable API.
//!
//! ## Reading a window
//!
//! ```
//! use ndarray::Array3;
//! use voxload::{Bbox, Encoding, MappedArray, PadMode, write_array};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = dir.path().join("em.zarr");
//! let volume = Array3::from_shape_fn((16, 64, 64), |(z, y, x)| (z + y + x) as u8);
//! write_array(&store, "image", &volume, [8, 32, 32], Encoding::Raw).unwrap();
//!
//! let image = MappedArray::<u8>::open(&store, "image").unwrap();
//! let window = image.read(Bbox::new([-2, 60, 0], [4, 8, 8]), PadMode::Reflect).unwrap();
//! assert_eq!(window.dim(), (4, 8, 8));
//! // z = -2 mirrors to z = 2; y = 64 (past the end) mirrors to y = 62.
//! assert_eq!(window[[0, 4, 0]], volume[[2, 62, 0]]);
//! ```
//!
//! ## Loading batches from a configuration
//!
//! ```
//! use ndarray::Array3;
//! use voxload::loader::{ManifestSample, ManifestStats, Mode};
//! use voxload::{write_array, Config, Encoding, LoaderBuilder, Manifest};
//!
//! let dir = tempfile::tempdir()?;
//! let image = Array3::from_shape_fn((16, 64, 64), |(z, y, x)| ((z * y + x) % 256) as u8);
//! write_array(&dir.path().join("em.zarr"), "image", &image, [8, 32, 32], Encoding::Raw)?;
//! let config = Config::from_str_at(
//!     r#"{"DATASET": {"INPUT_PATH": "em.zarr"}, "MODEL": {"INPUT_SIZE": [4, 32, 32]},
//!         "SYSTEM": {"NUM_CPUS": 1}}"#,
//!     dir.path(),
//! )?;
//! let mut batches = LoaderBuilder::from_config(&config, Mode::Train)?.samples(4).build()?;
//! let mut samples = Vec::new();
//! for batch in batches.by_ref() {
//!     let batch = batch?;
//!     assert_eq!(batch.array("image").unwrap().shape(), &[2, 4, 32, 32]);
//!     samples.extend(batch.samples.iter().map(ManifestSample::from));
//! }
//! let manifest = Manifest { samples, stats: ManifestStats::from(&batches.stats()) };
//! manifest.write(&dir.path().join("run/manifest.json"))?;
//! assert_eq!(manifest.samples.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// A builder method that sets field `$name` (doc comments pass through): to the argument, or
/// with `=> expr` to `expr` of the argument (`chunk: Shape => Some(chunk)`).
macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $t:ty => $value:expr) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, $name: $t) -> Self {
            self.$name = $value;
            self
        }
    };
    ($(#[$doc:meta])* $name:ident: $t:ty) => {
        setter!($(#[$doc])* $name: $t => $name);
    };
}

pub mod augment;
pub mod bench;
pub mod config;
pub(crate) mod convert;
pub mod element;
pub mod error;
pub mod file;
pub mod geometry;
pub mod image;
pub mod ingest;
pub mod internals;
pub mod loader;
pub(crate) mod memory;
pub mod pad;
pub mod predict;
pub(crate) mod recycle;
pub mod sampler;
pub mod simd;
pub mod store;
pub mod synth;
/// PyTC's learning targets and loss weights, computed from a label window.
pub mod target;

pub use element::{DType, Element};
pub use error::{Error, Result};
pub use geometry::{Bbox, ChunkGrid, ChunkPart, Coord, Padding, Shape};
pub use pad::PadMode;
pub use store::{write_array, AnyArray, ArrayWriter, Encoding, MappedArray, OpenOptions};

pub use augment::Compose;
pub use config::Config;
pub use ingest::Ingest;
pub use loader::{Batch, Loader, LoaderBuilder, Manifest};
pub use predict::PredictionWriter;
pub use sampler::{Grid, RandomSampler, Volume};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
