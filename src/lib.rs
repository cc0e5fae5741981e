//! # voxload
//!
//! Fast data loading for deep learning on huge 3D electron-microscopy volumes.
//!
//! Volumes live in a chunked Zarr v3 store. A [`MappedArray`] serves any box of a volume — inside,
//! straddling or wholly outside it — padded by a [`PadMode`] with exactly `numpy.pad`'s rules,
//! copying rows straight out of memory-mapped chunk files.
//!
//! Coordinates are `(z, y, x)` and signed everywhere: a [`Bbox`] may begin at negative
//! coordinates, which are simply padded.
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
pub mod convert;
pub mod element;
pub mod error;
pub mod file;
pub mod geometry;
pub mod ingest;
pub mod loader;
pub mod memory;
pub mod pad;
pub mod predict;
pub mod recycle;
pub mod sampler;
pub mod store;
pub mod synth;

pub use element::{DType, Element};
pub use error::{Error, Result};
pub use geometry::{Bbox, ChunkGrid, ChunkPart, Coord, Shape};
pub use pad::PadMode;
pub use store::{write_array, ArrayWriter, Encoding, MappedArray, OpenOptions};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
