//! Several writers, one array: each writer (a DDP rank, a cluster job) blends its own
//! contiguous block of the grid, and together they produce the array one writer produces,
//! bit for bit.
//!
//! A tile whose windows all belong to one block is finished by that block's writer as usual.
//! A tile on a block boundary is *shared*: its accumulator must sum the windows in grid order
//! across blocks to be exact. The writer of the block holding the tile's first windows
//! accumulates them and saves the accumulator; each later block's writer saves its windows'
//! parts inside the tile, unsummed. When a writer finishes it records its block as done; the
//! one that finds every block done (the last to close) replays each shared tile — the saved
//! accumulator, then the later parts in grid order, exactly the sums one writer would have
//! made — writes it, and marks the array complete. Saved pieces live in `.voxload-parts/`
//! inside the array directory until then.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The folder of the saved pieces, inside the array directory.
pub(super) const PARTS_DIR: &str = ".voxload-parts";

/// One writer's block of a grid that several writers blend into one array: the grid's windows
/// (in grid order, `0..n`) are cut at `bounds` into blocks, and this writer adds the windows of
/// block `part`.
///
/// ```
/// use voxload::predict::GridShare;
/// // A grid of 10 windows over 3 ranks: blocks [0, 3), [3, 6), [6, 10).
/// let share = GridShare::of_rank(1, 3, 0, 10, 10)?.unwrap();
/// assert_eq!(share.range(), (3, 6));
/// // Volume 1 holds windows 4..10 of a two-volume grid: rank 1 has 4..6 of it, as 0..2.
/// let share = GridShare::of_rank(1, 3, 4, 6, 10)?.unwrap();
/// assert_eq!((share.bounds(), share.range()), (&[0, 2, 6][..], (0, 2)));
/// // Rank 0's block (0..3) holds no window of volume 1.
/// assert!(GridShare::of_rank(0, 3, 4, 6, 10)?.is_none());
/// # Ok::<(), voxload::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridShare {
    bounds: Vec<u64>,
    part: usize,
}

impl GridShare {
    /// Block `part` of the grid cut at `bounds` (`0 = b₀ < b₁ < … < b_k = n`).
    ///
    /// # Errors
    /// [`Error::Geometry`] when `bounds` does not start at 0, does not increase strictly, or
    /// `part` is not one of its blocks.
    pub fn new(bounds: Vec<u64>, part: usize) -> Result<Self> {
        let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
        if bounds.first() != Some(&0) || bounds.len() < 2 || !increasing || part + 1 >= bounds.len()
        {
            return Err(Error::Geometry(format!(
                "grid share: block {part} of bounds {bounds:?}; the bounds must run from 0 upwards, strictly increasing"
            )));
        }
        Ok(GridShare { bounds, part })
    }

    /// The share of `rank` among `world_size` processes of the windows of one volume, the
    /// windows `first .. first + windows` of a grid of `total` windows over all volumes, split
    /// as the loader's grid mode splits it (rank `r` takes `[r·N/W, (r+1)·N/W)`); the blocks are
    /// those of the ranks holding any window of the volume. `None` when `rank` holds none.
    ///
    /// # Errors
    /// [`Error::Geometry`] when `rank >= world_size`, or the volume's windows are not inside
    /// the grid.
    pub fn of_rank(
        rank: u64,
        world_size: u64,
        first: u64,
        windows: u64,
        total: u64,
    ) -> Result<Option<Self>> {
        crate::loader::check_rank(rank, world_size)?;
        if windows == 0 || first.checked_add(windows).is_none_or(|end| end > total) {
            return Err(Error::Geometry(format!(
                "grid share: windows {first}..{first}+{windows} are not inside a grid of {total}"
            )));
        }
        let cut = |r: u64| (u128::from(r) * u128::from(total) / u128::from(world_size)) as u64;
        let local = |g: u64| g.clamp(first, first + windows) - first;
        let (lo, hi) = (local(cut(rank)), local(cut(rank + 1)));
        if lo == hi {
            return Ok(None);
        }
        let mut bounds: Vec<u64> = (0..=world_size).map(|r| local(cut(r))).collect();
        bounds.dedup();
        let part = bounds.partition_point(|&b| b < lo);
        Self::new(bounds, part).map(Some)
    }

    /// This writer's windows, `[lo, hi)` in the volume's grid order.
    #[must_use]
    pub fn range(&self) -> (u64, u64) {
        (self.bounds[self.part], self.bounds[self.part + 1])
    }

    /// The cuts, `0` to the volume's window count.
    #[must_use]
    pub fn bounds(&self) -> &[u64] {
        &self.bounds
    }

    /// This writer's block.
    #[must_use]
    pub fn part(&self) -> usize {
        self.part
    }

    /// The number of blocks (writers).
    #[must_use]
    pub fn parts(&self) -> usize {
        self.bounds.len() - 1
    }

    /// The block holding window `g`.
    pub(super) fn part_of(&self, g: u64) -> usize {
        self.bounds[1..].partition_point(|&b| b <= g)
    }

    /// The windows of block `p`.
    pub(super) fn block(&self, p: usize) -> (u64, u64) {
        (self.bounds[p], self.bounds[p + 1])
    }
}

/// The saved pieces of shared tiles and the done marks of blocks, in one array directory.
#[derive(Debug)]
pub(super) struct Pieces {
    dir: PathBuf,
}

impl Pieces {
    pub(super) fn new(array_dir: &Path) -> Self {
        Pieces {
            dir: array_dir.join(PARTS_DIR),
        }
    }

    fn piece(&self, tile: u64, part: usize) -> PathBuf {
        self.dir.join(format!("{tile:012}.{part:05}.f32"))
    }

    fn done_mark(&self, part: usize) -> PathBuf {
        self.dir.join(format!("done.{part:05}"))
    }

    /// Saves block `part`'s piece of tile `tile` (little-endian `f32`s).
    pub(super) fn save(&self, tile: u64, part: usize, values: &[f32]) -> Result<()> {
        let path = self.piece(tile, part);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        crate::store::atomic::write_atomic(&path, &bytes).map_err(|e| Error::io(&path, e))
    }

    /// Reads block `part`'s piece of tile `tile`, which must hold `len` values.
    pub(super) fn load(&self, tile: u64, part: usize, len: usize) -> Result<Vec<f32>> {
        let path = self.piece(tile, part);
        let bytes = crate::file::read_regular(&path, 4 * len as u64 + 1).map_err(|e| {
            Error::Write {
                path: path.clone(),
                reason: format!(
                    "the saved piece of block {part} cannot be read ({e}); that block's writer must run again"
                ),
            }
        })?;
        if bytes.len() != 4 * len {
            return Err(Error::Write {
                path,
                reason: format!(
                    "the saved piece holds {} bytes, expected {}: it is truncated or from another grid; that block's writer must run again",
                    bytes.len(),
                    4 * len
                ),
            });
        }
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Records block `part` as done (after its chunks and pieces are on stable storage).
    pub(super) fn mark_done(&self, part: usize) -> Result<()> {
        let path = self.done_mark(part);
        crate::store::atomic::write_atomic(&path, b"done\n").map_err(|e| Error::io(&path, e))?;
        crate::store::durable::sync_dirs(&[&self.dir])
    }

    /// The blocks of `parts` not yet done.
    pub(super) fn missing(&self, parts: usize) -> Vec<usize> {
        (0..parts)
            .filter(|&p| !self.done_mark(p).exists())
            .collect()
    }

    /// Removes the pieces once the array is complete.
    pub(super) fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.dir, e)),
            _ => Ok(()),
        }
    }
}
