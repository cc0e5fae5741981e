//! Signed boxes in `(z, y, x)` and the regular chunk grid.
//!
//! A [`Bbox`] is half-open, `[begin, begin + shape)`, with a signed begin so that boxes may lie
//! partly or wholly outside a volume (negative coordinates are normal when padding). A
//! [`ChunkGrid`] answers which chunks of an array a box touches, and which part of each.

use crate::{Error, Result};

/// Three signed coordinates, `(z, y, x)`.
pub type Coord = [i64; 3];
/// Three extents, `(d, h, w)`.
pub type Shape = [u64; 3];

/// A half-open box `[begin, begin + shape)` in `(z, y, x)`.
///
/// ```
/// use voxload::Bbox;
/// let window = Bbox::new([-4, 0, 10], [8, 16, 16]);
/// let volume = Bbox::new([0, 0, 0], [100, 100, 20]);
/// let inside = window.intersect(&volume).unwrap();
/// assert_eq!(inside, Bbox::new([0, 0, 10], [4, 16, 10]));
/// assert_eq!(window.end(), [4, 16, 26]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bbox {
    /// The first voxel, inclusive.
    pub begin: Coord,
    /// The extent along each axis.
    pub shape: Shape,
}

impl Bbox {
    /// A box from its first voxel and its extent.
    #[must_use]
    pub const fn new(begin: Coord, shape: Shape) -> Self {
        Bbox { begin, shape }
    }

    /// The box `[0, shape)`: the valid voxels of a volume of that shape.
    ///
    /// ```
    /// use voxload::Bbox;
    /// assert_eq!(Bbox::from_shape([2, 3, 4]).begin, [0, 0, 0]);
    /// ```
    #[must_use]
    pub const fn from_shape(shape: Shape) -> Self {
        Bbox {
            begin: [0, 0, 0],
            shape,
        }
    }

    /// The box `[begin, end)`.
    ///
    /// # Errors
    /// [`Error::Geometry`] when `end < begin` on any axis.
    ///
    /// ```
    /// use voxload::Bbox;
    /// let b = Bbox::from_bounds([-4, -64, -64], [104, 864, 864]).unwrap();
    /// assert_eq!(b.shape, [108, 928, 928]);
    /// assert!(Bbox::from_bounds([1, 0, 0], [0, 1, 1]).is_err());
    /// ```
    pub fn from_bounds(begin: Coord, end: Coord) -> Result<Self> {
        let mut shape = [0u64; 3];
        for a in 0..3 {
            if end[a] < begin[a] {
                return Err(Error::Geometry(format!(
                    "box end {end:?} is before its begin {begin:?}"
                )));
            }
            shape[a] = end[a].abs_diff(begin[a]);
        }
        Ok(Bbox { begin, shape })
    }

    /// One past the last voxel on each axis.
    #[must_use]
    pub fn end(&self) -> Coord {
        std::array::from_fn(|a| self.begin[a] + self.shape[a] as i64)
    }

    /// The number of voxels.
    #[must_use]
    pub fn num_voxels(&self) -> u64 {
        self.shape.iter().product()
    }

    /// True when the box holds no voxel.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.num_voxels() == 0
    }

    /// The common part of two boxes, or `None` when they share no voxel.
    #[must_use]
    pub fn intersect(&self, other: &Bbox) -> Option<Bbox> {
        let (a_end, b_end) = (self.end(), other.end());
        let begin: Coord = std::array::from_fn(|a| self.begin[a].max(other.begin[a]));
        let end: Coord = std::array::from_fn(|a| a_end[a].min(b_end[a]));
        if (0..3).any(|a| end[a] <= begin[a]) {
            return None;
        }
        Bbox::from_bounds(begin, end).ok()
    }

    /// True when every voxel of `other` is in `self` (an empty `other` is always contained).
    #[must_use]
    pub fn contains(&self, other: &Bbox) -> bool {
        if other.is_empty() {
            return true;
        }
        let (a_end, b_end) = (self.end(), other.end());
        (0..3).all(|a| self.begin[a] <= other.begin[a] && b_end[a] <= a_end[a])
    }

    /// The box grown by `by[a]` voxels on both sides of axis `a` (a negative amount shrinks it,
    /// never below an empty box).
    ///
    /// ```
    /// use voxload::Bbox;
    /// let chunk = Bbox::from_shape([100, 800, 800]);
    /// assert_eq!(chunk.grow([4, 64, 64]), Bbox::from_bounds([-4, -64, -64], [104, 864, 864]).unwrap());
    /// ```
    #[must_use]
    pub fn grow(&self, by: Coord) -> Bbox {
        let mut out = *self;
        for (a, &by) in by.iter().enumerate() {
            let shape = (self.shape[a] as i64 + 2 * by).max(0);
            // A shrink past empty collapses to the centre.
            let shift = if shape == 0 {
                self.shape[a] as i64 / 2
            } else {
                -by
            };
            out.begin[a] = self.begin[a] + shift;
            out.shape[a] = shape as u64;
        }
        out
    }

    /// The box moved by `by`.
    #[must_use]
    pub fn shift(&self, by: Coord) -> Bbox {
        Bbox {
            begin: std::array::from_fn(|a| self.begin[a] + by[a]),
            shape: self.shape,
        }
    }

    /// This box in coordinates relative to `origin` (i.e. shifted by `-origin`).
    #[must_use]
    pub fn relative_to(&self, origin: Coord) -> Bbox {
        self.shift(origin.map(|v| -v))
    }
}

/// How far a volume counts as padded on each side of each axis (PyTC's `DATASET.PAD_SIZE`):
/// `before[a]` voxels ahead of index 0 and `after[a]` past the last voxel of axis `a`. A
/// [`Coord`] converts to the same padding on both sides (PyTC's one- and three-value forms);
/// PyTC's six-value form `[z0, z1, y0, y1, x0, x1]` is [`Padding::new`]`([z0, y0, x0], [z1, y1, x1])`.
///
/// ```
/// use voxload::{Bbox, Padding};
/// let pad = Padding::new([2, 4, 0], [1, 4, 8]);
/// assert_eq!(pad.padded([10, 20, 30]), [13, 28, 38]);
/// assert_eq!(pad.grow(&Bbox::from_shape([10, 20, 30])), Bbox::new([-2, -4, 0], [13, 28, 38]));
/// assert_eq!(Padding::from([2, 64, 64]), Padding::new([2, 64, 64], [2, 64, 64]));
/// assert!(!pad.is_uniform() && Padding::from([2, 64, 64]).is_uniform());
/// assert_eq!((pad.to_string(), Padding::from([2, 64, 64]).to_string()), ("[2, 1, 4, 4, 0, 8]".into(), "[2, 64, 64]".into()));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Padding {
    /// Voxels counted ahead of index 0 along each axis.
    pub before: Coord,
    /// Voxels counted past the last voxel along each axis.
    pub after: Coord,
}

impl Padding {
    /// `before` ahead of each axis, `after` past its end.
    #[must_use]
    pub const fn new(before: Coord, after: Coord) -> Self {
        Padding { before, after }
    }

    /// `pad[a]` on both sides of axis `a`.
    #[must_use]
    pub const fn uniform(pad: Coord) -> Self {
        Padding {
            before: pad,
            after: pad,
        }
    }

    /// True when both sides of every axis are padded alike.
    #[must_use]
    pub fn is_uniform(&self) -> bool {
        self.before == self.after
    }

    /// True when no side is negative.
    #[must_use]
    pub fn is_non_negative(&self) -> bool {
        self.before.iter().chain(&self.after).all(|&p| p >= 0)
    }

    /// `before + after` along each axis.
    #[must_use]
    pub fn total(&self) -> Coord {
        std::array::from_fn(|a| self.before[a] + self.after[a])
    }

    /// The extent of a volume of `shape` once padded (never below zero).
    #[must_use]
    pub fn padded(&self, shape: Shape) -> Shape {
        std::array::from_fn(|a| (shape[a] as i64 + self.before[a] + self.after[a]).max(0) as u64)
    }

    /// `bbox` grown by this padding (its begin moved back by `before`, its extent by `before +
    /// after`; a negative total past empty leaves an empty box at the new begin).
    #[must_use]
    pub fn grow(&self, bbox: &Bbox) -> Bbox {
        Bbox {
            begin: std::array::from_fn(|a| bbox.begin[a] - self.before[a]),
            shape: self.padded(bbox.shape),
        }
    }

    /// PyTC's `PAD_SIZE` values: `[z, y, x]` when uniform, else `[z0, z1, y0, y1, x0, x1]`.
    #[must_use]
    pub fn pytc_values(&self) -> Vec<i64> {
        if self.is_uniform() {
            return self.before.to_vec();
        }
        (0..3)
            .flat_map(|a| [self.before[a], self.after[a]])
            .collect()
    }

    /// The padding along one axis only (`(before, after)` of axis `a`).
    #[must_use]
    pub fn axis(&self, a: usize) -> (i64, i64) {
        (self.before[a], self.after[a])
    }
}

/// `[z, y, x]` when uniform, else PyTC's six-value form `[z0, z1, y0, y1, x0, x1]`.
impl std::fmt::Display for Padding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.pytc_values())
    }
}

impl From<Coord> for Padding {
    fn from(pad: Coord) -> Self {
        Padding::uniform(pad)
    }
}

/// A regular grid of chunks over an array of a given shape.
///
/// ```
/// use voxload::{Bbox, ChunkGrid};
/// let grid = ChunkGrid::new([10, 10, 10], [4, 4, 4]).unwrap();
/// assert_eq!(grid.grid_shape(), [3, 3, 3]);
/// let parts: Vec<_> = grid.parts(&Bbox::new([-2, 3, 3], [4, 2, 1])).collect();
/// // z in [0, 2) of chunk 0, y in [3, 5) across chunks 0 and 1, x = 3 in chunk 0
/// assert_eq!(parts.len(), 2);
/// assert_eq!(parts[0].chunk, [0, 0, 0]);
/// assert_eq!(parts[0].in_chunk, Bbox::new([0, 3, 3], [2, 1, 1]));
/// assert_eq!(parts[0].in_box, Bbox::new([2, 0, 0], [2, 1, 1]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkGrid {
    array: Shape,
    chunk: Shape,
}

/// The part of a box that falls in one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPart {
    /// The chunk's grid index.
    pub chunk: [u64; 3],
    /// The part, relative to the chunk's first voxel.
    pub in_chunk: Bbox,
    /// The same part, relative to the box's first voxel.
    pub in_box: Bbox,
}

impl ChunkGrid {
    /// A grid of `chunk`-shaped chunks over an array of shape `array`.
    ///
    /// # Errors
    /// [`Error::Geometry`] when a chunk extent is zero.
    pub fn new(array: Shape, chunk: Shape) -> Result<Self> {
        if chunk.contains(&0) {
            return Err(Error::Geometry(format!(
                "chunk shape {chunk:?} has a zero extent"
            )));
        }
        Ok(ChunkGrid { array, chunk })
    }

    /// The array's shape.
    #[must_use]
    pub fn array_shape(&self) -> Shape {
        self.array
    }

    /// The chunk shape.
    #[must_use]
    pub fn chunk_shape(&self) -> Shape {
        self.chunk
    }

    /// The number of chunks along each axis.
    #[must_use]
    pub fn grid_shape(&self) -> [u64; 3] {
        std::array::from_fn(|a| self.array[a].div_ceil(self.chunk[a]))
    }

    /// The voxels of chunk `index`, clipped to the array.
    #[must_use]
    pub fn chunk_box(&self, index: [u64; 3]) -> Bbox {
        let begin: Coord = std::array::from_fn(|a| (index[a] * self.chunk[a]) as i64);
        let full = Bbox::new(begin, self.chunk);
        full.intersect(&Bbox::from_shape(self.array))
            .unwrap_or(Bbox::new(begin, [0; 3]))
    }

    /// The grid indices of the chunks that `bbox` touches inside the array, as a box of the grid.
    /// `None` when `bbox` lies wholly outside the array.
    #[must_use]
    pub fn chunk_range(&self, bbox: &Bbox) -> Option<Bbox> {
        let inside = bbox.intersect(&Bbox::from_shape(self.array))?;
        let end = inside.end();
        let first: Coord = std::array::from_fn(|a| inside.begin[a] / self.chunk[a] as i64);
        let last: Coord = std::array::from_fn(|a| (end[a] - 1) / self.chunk[a] as i64 + 1);
        Bbox::from_bounds(first, last).ok()
    }

    /// Every chunk that `bbox` touches inside the array, with the part of `bbox` in it, z-major.
    pub fn parts(&self, bbox: &Bbox) -> impl Iterator<Item = ChunkPart> + '_ {
        let bbox = *bbox;
        let range = self.chunk_range(&bbox);
        let (begin, shape) = range.map_or(([0; 3], [0; 3]), |r| (r.begin, r.shape));
        let count = shape.iter().product::<u64>();
        (0..count).filter_map(move |i| {
            let index = [
                (begin[0] + (i / (shape[1] * shape[2])) as i64) as u64,
                (begin[1] + (i / shape[2] % shape[1]) as i64) as u64,
                (begin[2] + (i % shape[2]) as i64) as u64,
            ];
            let chunk_box = self.chunk_box(index);
            let part = chunk_box.intersect(&bbox)?;
            Some(ChunkPart {
                chunk: index,
                in_chunk: part.relative_to(chunk_box.begin),
                in_box: part.relative_to(bbox.begin),
            })
        })
    }
}

/// Chunk and shard shapes of an array, clipped to its volume.
///
/// A chunk larger than the volume only makes its files larger (the padding is stored), so each
/// chunk extent is clipped to the volume's; each shard extent is then clipped to the volume's
/// rounded up to a multiple of the (clipped) chunk's, so a shard stays a multiple of its chunk.
///
/// ```
/// use voxload::geometry::Chunking;
/// let c = Chunking::clipped([32, 100, 100], [64, 64, 64], Some([128, 128, 128]));
/// assert_eq!(c.chunk, [32, 64, 64]);
/// assert_eq!(c.shard, Some([32, 128, 128])); // 100 rounded up to a multiple of 64
/// assert_eq!(c.files([32, 100, 100]), 1);
/// assert_eq!(c.file_bytes(2), 32 * 128 * 128 * 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunking {
    /// The chunk shape (the inner chunk shape when sharded).
    pub chunk: Shape,
    /// The shard shape, when sharded.
    pub shard: Option<Shape>,
}

impl Chunking {
    /// `chunk` and `shard` clipped to a volume of shape `volume` (an empty axis counts as 1).
    /// Zero extents are kept as they are, for the caller to refuse.
    #[must_use]
    pub fn clipped(volume: Shape, chunk: Shape, shard: Option<Shape>) -> Self {
        let chunk: Shape = std::array::from_fn(|a| chunk[a].min(volume[a].max(1)));
        let shard = shard.map(|s| -> Shape {
            std::array::from_fn(|a| {
                let c = chunk[a].max(1);
                s[a].min(volume[a].max(1).div_ceil(c).saturating_mul(c))
            })
        });
        Chunking { chunk, shard }
    }

    /// The shape of one file: the shard when sharded, else the chunk.
    #[must_use]
    pub fn file_shape(&self) -> Shape {
        self.shard.unwrap_or(self.chunk)
    }

    /// The number of files over a volume of shape `volume` (saturating at `u64::MAX`).
    #[must_use]
    pub fn files(&self, volume: Shape) -> u64 {
        let file = self.file_shape();
        (0..3)
            .map(|a| volume[a].div_ceil(file[a].max(1)))
            .fold(1u64, u64::saturating_mul)
    }

    /// The uncompressed bytes of one file of `element`-byte voxels (saturating at `u64::MAX`).
    #[must_use]
    pub fn file_bytes(&self, element: usize) -> u64 {
        self.file_shape()
            .iter()
            .fold(element as u64, |n, &v| n.saturating_mul(v))
    }
}

/// The number of voxels of `shape` when `shape` voxels of `element` bytes can be allocated on
/// this machine: the size is computed without overflow and a buffer of it reserved (then freed)
/// with `try_reserve`, so an absurd size is an error instead of an abort. `what` names the
/// option or key the shape comes from, for the message.
///
/// ```
/// use voxload::geometry::check_allocation;
/// assert_eq!(check_allocation("--shape", [2, 3, 4], 4).unwrap(), 24);
/// let err = check_allocation("--shape", [u64::MAX, 2, 1], 1).unwrap_err();
/// assert!(err.to_string().contains("--shape"), "{err}");
/// ```
///
/// # Errors
/// [`Error::Geometry`] naming `what`, the shape and the bytes it implies.
pub fn check_allocation(what: &str, shape: Shape, element: usize) -> Result<usize> {
    let voxels = shape.iter().try_fold(1u64, |n, &v| n.checked_mul(v));
    let bytes = voxels.and_then(|n| n.checked_mul(element as u64));
    let fail = |reason: String| {
        let size = match bytes {
            Some(b) => format!("{b} bytes"),
            None => "more than 2^64 bytes".into(),
        };
        Error::Geometry(format!(
            "{what} {shape:?} needs a buffer of {size}, which {reason}; use a smaller {what}"
        ))
    };
    let (Some(voxels), Some(bytes)) = (voxels, bytes) else {
        return Err(fail("cannot be addressed".into()));
    };
    let (Ok(voxels), Ok(bytes)) = (usize::try_from(voxels), usize::try_from(bytes)) else {
        return Err(fail("cannot be addressed on this machine".into()));
    };
    Vec::<u8>::new()
        .try_reserve_exact(bytes)
        .map_err(|_| fail("the allocator refused (not enough memory or address space)".into()))?;
    Ok(voxels)
}

/// Parses `Z,Y,X` (three comma-separated integers; negatives allowed).
///
/// # Errors
/// [`Error::Parse`] when the text is not three integers.
///
/// ```
/// assert_eq!(voxload::geometry::parse_triple::<i64>("-4,0,3").unwrap(), [-4, 0, 3]);
/// assert!(voxload::geometry::parse_triple::<u64>("1,2").is_err());
/// ```
pub fn parse_triple<T: std::str::FromStr>(text: &str) -> Result<[T; 3]>
where
    T::Err: std::fmt::Display,
{
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 3 {
        return Err(Error::Parse {
            what: "Z,Y,X",
            input: text.to_string(),
            reason: format!("expected 3 comma-separated numbers, found {}", parts.len()),
        });
    }
    let mut out = Vec::with_capacity(3);
    for p in parts {
        out.push(p.parse::<T>().map_err(|e| Error::Parse {
            what: "Z,Y,X",
            input: text.to_string(),
            reason: format!("`{p}`: {e}"),
        })?);
    }
    out.try_into().map_err(|_| Error::Parse {
        what: "Z,Y,X",
        input: text.to_string(),
        reason: "expected 3 numbers".into(),
    })
}
