//! Checking a store against the ingest input it came from (`verify --source`): the voxels of an
//! array, slab by slab, decoded from the source exactly as [`Ingest`] decodes them, with the
//! differences added to the array's [`ArrayReport`] beside the metadata checks of
//! [`crate::store::verify`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use voxload::ingest::{compare_source, Ingest};
//! use voxload::store::verify::verify;
//! let dir = tempfile::tempdir()?;
//! for z in 0..2u16 {
//!     voxload::image::write_png_u16(&dir.path().join(format!("s{z}.png")), 4, 4, &[z; 16])?;
//! }
//! let list = dir.path().join("list.txt");
//! std::fs::write(&list, "s0.png\ns1.png\n")?;
//! let store = dir.path().join("out.zarr");
//! Ingest::new(&list, &store).chunk([1, 4, 4]).run()?;
//! let mut report = verify(&store, Some("image"))?;
//! compare_source(&store, "image", &list, false, &mut report.arrays[0])?;
//! assert_eq!(report.arrays[0].slabs_compared, 2);
//! assert!(report.is_clean());
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use super::{Ingest, Input};
use crate::image::Content;
use crate::store::verify::{ArrayReport, Problem};
use crate::store::{array_dir, ArrayMeta, MappedArray, OpenOptions};
use crate::{Bbox, Element, PadMode, Result, Shape};

/// Compares array `name` of `store`, slab by slab (one chunk or shard depth at a time, so memory
/// holds two slabs), with the ingest input `source` decoded as [`Ingest`] would (`label` as
/// [`Ingest::label`]); appends a [`Problem`] per slab that differs or cannot be read, naming the
/// first differing voxel, to the array's report.
///
/// # Errors
/// The source cannot be recognised or probed ([`crate::Error::Ingest`], naming the input file), or
/// the array's metadata is unusable.
pub fn compare_source(
    store: &Path,
    name: &str,
    source: &Path,
    label: bool,
    report: &mut ArrayReport,
) -> Result<()> {
    let (input, content, shape, _) = Ingest::new(source, store).label(label).plan()?;
    let dir = array_dir(store, name);
    let meta = ArrayMeta::read(&dir)?;
    if shape != meta.shape {
        report.problems.push(Problem {
            path: dir,
            reason: format!(
                "the array is {:?}, but the source {} is {shape:?}",
                meta.shape,
                source.display()
            ),
        });
        return Ok(());
    }
    let job = Compare {
        store,
        name,
        input: &input,
        content,
        shape,
        depth: meta.chunk[0],
    };
    crate::dispatch_dtype!(meta.dtype, T => job.run::<T>(report))
}

struct Compare<'a> {
    store: &'a Path,
    name: &'a str,
    input: &'a Input,
    content: Content,
    shape: Shape,
    depth: u64,
}

impl Compare<'_> {
    fn run<T: Element>(&self, report: &mut ArrayReport) -> Result<()> {
        let dir = array_dir(self.store, self.name);
        let options = OpenOptions {
            allow_incomplete: true,
            ..OpenOptions::default()
        };
        let array = MappedArray::<T>::open_with(self.store, self.name, &options)?;
        let [d, h, w] = self.shape;
        let mut z0 = 0;
        while z0 < d {
            let z1 = (z0 + self.depth).min(d);
            let window = Bbox::new([z0 as i64, 0, 0], [z1 - z0, h, w]);
            let problem = |reason: String| Problem {
                path: dir.clone(),
                reason: format!("slices [{z0}, {z1}): {reason}"),
            };
            let expected = self
                .input
                .read_slab::<T>(self.shape, (z0, z1), self.content, None);
            let stored = array.read(window, PadMode::default());
            report.slabs_compared += 1;
            match (expected, stored) {
                (Err(e), _) => report.problems.push(problem(format!("source: {e}"))),
                (_, Err(e)) => report.problems.push(problem(format!("store: {e}"))),
                (Ok((expected, _)), Ok(stored)) => {
                    let differ = expected
                        .indexed_iter()
                        .zip(stored.iter())
                        .filter(|((_, a), b)| bytemuck::bytes_of(*a) != bytemuck::bytes_of(*b));
                    let mut count = 0u64;
                    let mut first = None;
                    for (((z, y, x), a), b) in differ {
                        count += 1;
                        first.get_or_insert(([z as u64 + z0, y as u64, x as u64], *a, *b));
                    }
                    if let Some((at, a, b)) = first {
                        report.problems.push(problem(format!(
                            "{count} voxels differ from the source; the first at (z, y, x) = {at:?}: source {a:?}, store {b:?}"
                        )));
                    }
                }
            }
            z0 = z1;
        }
        Ok(())
    }
}
