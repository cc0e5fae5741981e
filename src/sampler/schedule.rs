//! The chunk schedule of large datasets (PyTC `DO_CHUNK_TITLE`, `DATA_CHUNK_NUM`,
//! `DATA_CHUNK_ITER`, `DATA_CHUNK_STRIDE`).
//!
//! In training each axis of length `L` is cut into `n + 1` equal parts and chunk `i` spans parts
//! `i` and `i + 1` (`floor(i·L/(n+1))` to `floor((i+2)·L/(n+1))`, 50 % overlap); without stride,
//! or at inference, chunk `i` spans `floor(i·L/n)` to `floor((i+1)·L/n)`. Chunk ids decompose as
//! `z = id / (ny·nx)`, `y = (id / nx) % ny`, `x = id % nx`. Each chunk box is grown by the pad
//! size, so coordinates outside the volume are normal. Nothing is loaded: the schedule only
//! says where windows may be drawn.
//!
//! PyTC's `DATA_COORD_RANGE` cuts the chunks from a region of the volume instead of the whole
//! ([`ChunkSchedule::within`]: axis `[l, r)` gives `l + floor(i·(r − l)/(n + 1))`, …), and
//! `DATA_CHUNK_IND` with `CHUNK_IND_SPLIT` limits training to some chunk ids
//! ([`ChunkSchedule::only`]).

use rand::seq::SliceRandom;

use super::sample_rng;
use crate::{Bbox, Error, Padding, Result, Shape};

/// The chunks of one volume and the order training visits them in.
///
/// ```
/// use voxload::sampler::ChunkSchedule;
/// let s = ChunkSchedule::new([100, 800, 800], [1, 1, 1], false, [4, 64, 64]).unwrap();
/// let b = s.chunk_box(0);
/// assert_eq!((b.begin, b.end()), ([-4, -64, -64], [104, 864, 864]));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkSchedule {
    /// The region cut into chunks (the whole volume unless [`ChunkSchedule::within`]).
    region: Bbox,
    num: Shape,
    stride: bool,
    pad: Padding,
    /// The chunk ids training visits (every id unless [`ChunkSchedule::only`]).
    ids: Vec<u64>,
}

impl ChunkSchedule {
    /// A schedule of `num = [nz, ny, nx]` chunks over a volume of shape `volume`; `stride` is
    /// `DATA_CHUNK_STRIDE` (training with overlapping chunks); `pad` is `PAD_SIZE`.
    ///
    /// # Errors
    /// [`Error::Geometry`] when a count is zero or exceeds the axis length.
    pub fn new(volume: Shape, num: Shape, stride: bool, pad: impl Into<Padding>) -> Result<Self> {
        for a in 0..3 {
            if num[a] == 0 || num[a] > volume[a].max(1) {
                return Err(Error::Geometry(format!(
                    "DATA_CHUNK_NUM {num:?} must be between 1 and the volume shape {volume:?} on every axis"
                )));
            }
        }
        Ok(ChunkSchedule {
            region: Bbox::from_shape(volume),
            num,
            stride,
            pad: pad.into(),
            ids: (0..num.iter().product()).collect(),
        })
    }

    /// The schedule cut from `region` of the volume (PyTC's `DATA_COORD_RANGE`) instead of the
    /// whole volume.
    ///
    /// ```
    /// use voxload::sampler::ChunkSchedule;
    /// use voxload::Bbox;
    /// let region = Bbox::from_bounds([10, 0, 100], [50, 800, 500])?;
    /// let s = ChunkSchedule::new([100, 800, 800], [1, 1, 2], false, [0, 0, 0])?.within(region)?;
    /// assert_eq!(s.unpadded_box(1), Bbox::from_bounds([10, 0, 300], [50, 800, 500])?);
    /// # Ok::<(), voxload::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Geometry`] when the region is empty or a chunk count exceeds its extent.
    pub fn within(mut self, region: Bbox) -> Result<Self> {
        for a in 0..3 {
            if region.shape[a] == 0 || self.num[a] > region.shape[a] {
                return Err(Error::Geometry(format!(
                    "DATA_COORD_RANGE {:?}..{:?} must hold at least DATA_CHUNK_NUM {:?} voxels on every axis",
                    region.begin,
                    region.end(),
                    self.num
                )));
            }
        }
        self.region = region;
        Ok(self)
    }

    /// Training visits only the chunks `ids` (PyTC's `DATA_CHUNK_IND`, split by
    /// `CHUNK_IND_SPLIT`), each once per cycle, in the listed set's shuffled order.
    ///
    /// # Errors
    /// [`Error::Geometry`] when `ids` is empty or names a chunk the schedule does not have.
    pub fn only(mut self, ids: Vec<u64>) -> Result<Self> {
        let n: u64 = self.num.iter().product();
        if ids.is_empty() || ids.iter().any(|&id| id >= n) {
            return Err(Error::Geometry(format!(
                "DATA_CHUNK_IND {ids:?} must name some of the {n} chunks 0..{n} of DATA_CHUNK_NUM {:?}",
                self.num
            )));
        }
        self.ids = ids;
        Ok(self)
    }

    /// [`ChunkSchedule::within`] `region` and [`ChunkSchedule::only`] `ids`, each when given.
    ///
    /// # Errors
    /// As those two.
    pub fn limited(self, region: Option<Bbox>, ids: Option<Vec<u64>>) -> Result<Self> {
        let within = match region {
            Some(region) => self.within(region)?,
            None => self,
        };
        match ids {
            Some(ids) => within.only(ids),
            None => Ok(within),
        }
    }

    /// The chunk ids training visits.
    #[must_use]
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// The number of chunks.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.num.iter().product()
    }

    /// Always false: a schedule has at least one chunk.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `(z, y, x)` grid position of chunk `id`.
    #[must_use]
    pub fn position(&self, id: u64) -> [u64; 3] {
        let [_, ny, nx] = self.num;
        [id / (ny * nx), (id / nx) % ny, id % nx]
    }

    /// The volume box of chunk `id` before padding.
    #[must_use]
    pub fn unpadded_box(&self, id: u64) -> Bbox {
        let pos = self.position(id);
        let mut begin = [0i64; 3];
        let mut end = [0i64; 3];
        for a in 0..3 {
            let (l, n, i) = (self.region.shape[a], self.num[a], pos[a]);
            let (lo, hi) = if self.stride {
                (i * l / (n + 1), (i + 2) * l / (n + 1))
            } else {
                (i * l / n, (i + 1) * l / n)
            };
            begin[a] = self.region.begin[a] + lo as i64;
            end[a] = self.region.begin[a] + hi as i64;
        }
        Bbox::from_bounds(begin, end).unwrap_or(Bbox::new(begin, [0; 3]))
    }

    /// The box of chunk `id`, grown by the pad size: windows are drawn wholly inside it.
    #[must_use]
    pub fn chunk_box(&self, id: u64) -> Bbox {
        self.pad.grow(&self.unpadded_box(id))
    }

    /// The chunk visited at position `visit` of the training order: every chunk of
    /// [`ChunkSchedule::ids`] is visited once per cycle, in an order drawn from
    /// `(seed, epoch, cycle)` alone.
    #[must_use]
    pub fn visit(&self, seed: u64, epoch: u64, visit: u64) -> u64 {
        let n = self.ids.len() as u64;
        let (cycle, at) = (visit / n, visit % n);
        let mut order = self.ids.clone();
        order.shuffle(&mut sample_rng(seed ^ 0xC4A2_5EED, epoch, cycle));
        order[at as usize]
    }
}
