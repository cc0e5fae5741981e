//! The checks of an ingest's settings before anything is written: chunk and shard shapes
//! (limits on file sizes, warnings on file counts), the missing-tile fill, the slab buffer and
//! the z range.

use super::super::IngestError;
use super::Ingest;
use crate::error::LibraryOption::{self, AllowMissing, Chunk, MaxChunkBytes, Shard, ZRange};
use crate::{DType, Element, Shape};

/// The default limit on the uncompressed size of one chunk file (one shard file when sharded):
/// 2 GiB. Raise it with [`Ingest::max_chunk_bytes`] (`ingest --max-chunk-bytes`).
pub const MAX_CHUNK_BYTES: u64 = 2 << 30;

/// An array of more files than this gets a warning from [`Ingest::check_layout`].
pub const MANY_FILES: u64 = 1_000_000;

impl Ingest {
    /// Checks the chunk and shard shapes for a volume of `shape` and `dtype` (after clipping
    /// them to the volume); returns warnings worth showing (an array of more than
    /// [`MANY_FILES`] files). [`Ingest::run`] makes the same checks; call this first to show
    /// the warnings before a long run.
    ///
    /// ```
    /// # fn main() -> Result<(), voxload::ingest::IngestError> {
    /// use voxload::ingest::Ingest;
    /// use voxload::DType;
    /// let job = Ingest::new("in.json", "out.zarr").chunk([64, 1, 1]);
    /// let warnings = job.check_layout([32, 2000, 2000], DType::U8)?;
    /// assert!(warnings[0].contains("4000000 chunk files"), "{warnings:?}");
    /// let huge = Ingest::new("in.json", "out.zarr").chunk([1, 100_000, 100_000]);
    /// assert!(huge.check_layout([4, 65536, 65536], DType::U8).is_err()); // a 4 GiB chunk
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`IngestError::Options`] naming [`Ingest::chunk`] or [`Ingest::shard`] for a zero
    /// extent, a shard that is not a multiple of the chunk, or a file larger than
    /// [`Ingest::max_chunk_bytes`].
    pub fn check_layout(&self, shape: Shape, dtype: DType) -> Result<Vec<String>, IngestError> {
        let given: [(&'static [LibraryOption], _); 2] =
            [(&[Chunk], self.chunk), (&[Shard], self.shard)];
        for (options, value) in given {
            if let Some(v) = value.filter(|v| v.contains(&0)) {
                return Err(IngestError::invalid(
                    options,
                    format!("{} {v:?}: every extent must be at least 1", options[0]),
                ));
            }
        }
        let c = self.chunking(shape);
        if let Some(s) = c.shard {
            if (0..3).any(|a| s[a] % c.chunk[a] != 0) {
                return Err(IngestError::invalid(
                    &[Shard, Chunk],
                    format!(
                        "{Shard} {s:?} (clipped to the volume {shape:?}) is not a multiple of {Chunk} {:?}",
                        c.chunk
                    ),
                ));
            }
        }
        let what = if c.shard.is_some() { "shard" } else { "chunk" };
        let option = self.file_option()[0];
        let bytes = c.file_bytes(dtype.size());
        if bytes > self.max_chunk_bytes {
            let options: &'static [LibraryOption] = match option {
                Shard => &[Shard, MaxChunkBytes],
                _ => &[Chunk, MaxChunkBytes],
            };
            return Err(IngestError::invalid(
                options,
                format!(
                    "{option} {:?} (clipped to the volume {shape:?}) makes {what} files of {bytes} bytes of {dtype}, above the limit of {} bytes; use a smaller {option}, or raise the limit with {MaxChunkBytes}",
                    c.file_shape(),
                    self.max_chunk_bytes
                ),
            ));
        }
        let files = c.files(shape);
        let mut warnings = Vec::new();
        if files > MANY_FILES {
            let or_shard = if c.shard.is_none() {
                format!(" or {Shard}")
            } else {
                String::new()
            };
            warnings.push(format!(
                "{option} {:?} makes {files} {what} files for the volume {shape:?}; file systems slow down with millions of files: consider a larger {option}{or_shard}",
                c.file_shape(),
            ));
        }
        Ok(warnings)
    }

    /// The setting whose shape is one file, and so one slab's depth: [`Ingest::shard`] when
    /// sharded, else [`Ingest::chunk`].
    fn file_option(&self) -> &'static [LibraryOption] {
        if self.shard.is_some() {
            &[Shard]
        } else {
            &[Chunk]
        }
    }

    /// Refuses an [`Ingest::allow_missing`] fill that a `dtype` volume cannot store as it is.
    pub(super) fn check_fill(&self, dtype: DType) -> Result<(), IngestError> {
        let Some(fill) = self.allow_missing else {
            return Ok(());
        };
        crate::pad::representable(fill, dtype).map_err(|reason| {
            IngestError::invalid(
                &[AllowMissing],
                format!("{AllowMissing} ({fill}): the fill must be stored in the {dtype} volume as it is: {reason}"),
            )
        })
    }

    /// Refuses a slab of `step` slices of `shape` that cannot be allocated at all (a hostile
    /// or mistyped shape must be an error, not an abort).
    pub(super) fn check_slab<T: Element>(
        &self,
        step: usize,
        shape: Shape,
    ) -> Result<(), IngestError> {
        let depth = self.file_option();
        let voxels = [step, shape[1] as usize, shape[2] as usize]
            .iter()
            .try_fold(1usize, |n, &v| n.checked_mul(v))
            .filter(|n| n.checked_mul(size_of::<T>()).is_some())
            .ok_or_else(|| {
                IngestError::invalid(
                    depth,
                    format!("a slab of {step} slices of {shape:?} is too large"),
                )
            })?;
        let mut probe: Vec<T> = Vec::new();
        probe.try_reserve_exact(voxels).map_err(|_| {
            IngestError::invalid(
                depth,
                format!(
                    "cannot allocate a slab of {step} x {} x {} voxels (not enough memory or address space); use a smaller {} depth",
                    shape[1], shape[2], depth[0]
                ),
            )
        })
    }

    /// The slabs of `all` in the requested [`Ingest::z_range`], checked for alignment.
    pub(super) fn checked_range(
        &self,
        shape: Shape,
        all: &[(u64, u64)],
    ) -> Result<Vec<(u64, u64)>, IngestError> {
        let Some((a, b)) = self.z_range else {
            return Ok(all.to_vec());
        };
        let (depth, step) = (shape[0], self.slab_depth(shape));
        let aligned = |v: u64| v.is_multiple_of(step) || v == depth;
        if a >= b || b > depth || !aligned(a) || !aligned(b) {
            return Err(IngestError::invalid(
                &[ZRange],
                format!("{ZRange} ({a}, {b}) must satisfy a < b <= {depth} with both ends multiples of the slab depth {step} (the last may be the depth)"),
            ));
        }
        Ok(all
            .iter()
            .copied()
            .filter(|s| s.0 >= a && s.1 <= b)
            .collect())
    }
}
