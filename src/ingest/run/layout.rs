//! The chunk-shape checks of an ingest: limits on file sizes, warnings on file counts.

use super::super::IngestError;
use super::Ingest;
use crate::{DType, Shape};

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
    /// [`IngestError::Options`] naming `--chunk` or `--shard` for a zero extent, a shard that
    /// is not a multiple of the chunk, or a file larger than [`Ingest::max_chunk_bytes`].
    pub fn check_layout(&self, shape: Shape, dtype: DType) -> Result<Vec<String>, IngestError> {
        let given = [("--chunk", self.chunk), ("--shard", self.shard)];
        for (option, value) in given {
            if let Some(v) = value.filter(|v| v.contains(&0)) {
                return Err(IngestError::Options(format!(
                    "{option} {v:?}: every extent must be at least 1"
                )));
            }
        }
        let c = self.chunking(shape);
        if let Some(s) = c.shard {
            if (0..3).any(|a| s[a] % c.chunk[a] != 0) {
                return Err(IngestError::Options(format!(
                    "--shard {s:?} (clipped to the volume {shape:?}) is not a multiple of --chunk {:?}",
                    c.chunk
                )));
            }
        }
        let (what, option) = match c.shard {
            Some(_) => ("shard", "--shard"),
            None => ("chunk", "--chunk"),
        };
        let bytes = c.file_bytes(dtype.size());
        if bytes > self.max_chunk_bytes {
            return Err(IngestError::Options(format!(
                "{option} {:?} (clipped to the volume {shape:?}) makes {what} files of {bytes} bytes of {dtype}, above the limit of {} bytes; use a smaller {option}, or raise the limit with --max-chunk-bytes",
                c.file_shape(),
                self.max_chunk_bytes
            )));
        }
        let files = c.files(shape);
        let mut warnings = Vec::new();
        if files > MANY_FILES {
            warnings.push(format!(
                "{option} {:?} makes {files} {what} files for the volume {shape:?}; file systems slow down with millions of files: consider a larger {option}{}",
                c.file_shape(),
                if c.shard.is_none() { " or --shard" } else { "" }
            ));
        }
        Ok(warnings)
    }
}
