//! Ingest: tile datasets, image lists and stacks into a chunked Zarr v3 array.
//!
//! The volume is processed one slab (a chunk-deep run of slices; a shard-deep one when sharded)
//! at a time: the slab's files are decoded in parallel while the previous slab is written, so
//! memory holds about three slabs whatever the volume's depth. Each finished slab is recorded
//! by its own marker file, so `resume` redoes exactly the unfinished slabs, several processes
//! can fill disjoint z ranges of one array, and the array is marked complete only when every
//! slab is recorded.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use voxload::ingest::Ingest;
//! let dir = tempfile::tempdir()?;
//! // Three 4x5 16-bit slices as PNG files listed in a .txt file.
//! for z in 0..3u16 {
//!     let pixels: Vec<u16> = (0..20).map(|i| z * 100 + i).collect();
//!     voxload::image::write_png_u16(&dir.path().join(format!("s{z}.png")), 5, 4, &pixels)?;
//! }
//! std::fs::write(dir.path().join("list.txt"), "s0.png\ns1.png\ns2.png\n")?;
//! let store = dir.path().join("out.zarr");
//! let report = Ingest::new(dir.path().join("list.txt"), &store).chunk([2, 4, 4]).run()?;
//! assert_eq!(report.shape, [3, 4, 5]);
//! let image = voxload::MappedArray::<u16>::open(&store, "image")?;
//! let all = image.read(voxload::Bbox::from_shape([3, 4, 5]), voxload::PadMode::default())?;
//! assert_eq!(all[[2, 1, 3]], 208);
//! # Ok(())
//! # }
//! ```

mod progress;
mod resize;
mod run;
mod source;
mod spec;
mod verify_source;

pub use crate::error::IngestError;
pub use progress::ProgressLog;
pub use resize::resize;
pub use run::{Ingest, IngestReport, ProgressFn, MANY_FILES, MAX_CHUNK_BYTES};
pub use source::Input;
pub use spec::{fill_placeholder, TilePlacement, TileSpec, MAX_TILES_PER_SLICE};
pub use verify_source::compare_source;
