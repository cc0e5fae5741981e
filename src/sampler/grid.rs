//! Inference grids: windows of the model's input size at a stride, covering every voxel.
//!
//! Per axis of length `D`, window `d` and stride `s`, the starts are `i·s` for
//! `i < 1 + ceil((D − d) / s)`, the last clamped to `D − d`; an axis shorter than the window
//! gets one window at 0 (padded when read). Items run volume by volume, then z, y, x with x
//! fastest. With `rank` / `world_size`, rank `r` takes items `[r·N/W, (r+1)·N/W)`.

use crate::{Bbox, Error, Result, Shape};

/// One window of an inference grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridItem {
    /// The item's index in the whole grid (over all volumes and ranks).
    pub index: u64,
    /// The volume it belongs to.
    pub volume: usize,
    /// The window, in that volume's coordinates.
    pub window: Bbox,
}

/// The starts along one axis.
///
/// ```
/// use voxload::sampler::grid_starts;
/// assert_eq!(grid_starts(10, 4, 3), vec![0, 3, 6]);
/// assert_eq!(grid_starts(11, 4, 3), vec![0, 3, 6, 7]); // the last clamped to 11 - 4
/// assert_eq!(grid_starts(3, 4, 3), vec![0]); // shorter than the window
/// ```
#[must_use]
pub fn grid_starts(length: u64, window: u64, stride: u64) -> Vec<i64> {
    let last = length.saturating_sub(window);
    (0..start_count(length, window, stride))
        .map(|i| (i * stride).min(last) as i64)
        .collect()
}

/// The most windows an inference grid may hold (over all its volumes): 2^32.
pub const MAX_GRID_ITEMS: u64 = 1 << 32;

/// PyTC's `INFERENCE.STRIDE` default, `[4, 128, 128]`: the one place this default is written
/// (the config, the loader builder).
///
/// ```
/// assert_eq!(voxload::sampler::DEFAULT_STRIDE, [4, 128, 128]);
/// ```
pub const DEFAULT_STRIDE: Shape = [4, 128, 128];
/// The most windows along one axis of one volume: 2^24.
const MAX_AXIS_ITEMS: u64 = 1 << 24;

/// The number of starts along one axis (see [`grid_starts`]).
fn start_count(length: u64, window: u64, stride: u64) -> u64 {
    if length <= window {
        1
    } else {
        1 + (length - window).div_ceil(stride.max(1))
    }
}

/// An inference grid over one or more volumes, possibly restricted to one rank's block.
#[derive(Clone, Debug)]
pub struct Grid {
    volumes: Vec<Shape>,
    window: Shape,
    stride: Shape,
    /// Per volume, whether it is visited (all, unless [`Grid::visiting`] says otherwise).
    visited: Vec<bool>,
}

impl Grid {
    /// A grid of `window`-shaped windows at `stride` over volumes of the given shapes.
    ///
    /// # Errors
    /// [`Error::Geometry`] for a zero window or stride extent, or a grid of more than
    /// [`MAX_GRID_ITEMS`] windows (naming the window, the stride and the count).
    pub fn new(volumes: Vec<Shape>, window: Shape, stride: Shape) -> Result<Self> {
        if window.contains(&0) || stride.contains(&0) {
            return Err(Error::Geometry(format!(
                "window {window:?} and stride {stride:?} must be positive"
            )));
        }
        let counts: Vec<[u64; 3]> = volumes
            .iter()
            .map(|shape| std::array::from_fn(|a| start_count(shape[a], window[a], stride[a])))
            .collect();
        let count = counts.iter().fold(0u64, |total, n| {
            total.saturating_add(n.iter().fold(1u64, |p, &v| p.saturating_mul(v)))
        });
        if count > MAX_GRID_ITEMS || counts.iter().flatten().any(|&n| n > MAX_AXIS_ITEMS) {
            return Err(Error::Geometry(format!(
                "an inference grid of windows {window:?} at stride {stride:?} over volumes {volumes:?} has {count} windows, above the limit of {MAX_GRID_ITEMS} (or {MAX_AXIS_ITEMS} along one axis); use a larger INFERENCE.STRIDE or MODEL.INPUT_SIZE, or a smaller DATASET.PAD_SIZE"
            )));
        }
        Ok(Grid {
            visited: vec![true; volumes.len()],
            volumes,
            window,
            stride,
        })
    }

    /// The grid over only the volumes whose entry of `visited` is true (PyTC's
    /// `INFERENCE.DO_SINGLY_START_INDEX` and `DO_SINGLY_STEP`, see
    /// [`crate::config::Config::visited_volumes`]): the others have no window, and the items
    /// are numbered over the visited ones. Missing entries count as visited.
    ///
    /// ```
    /// use voxload::sampler::Grid;
    /// let grid = Grid::new(vec![[4, 8, 8]; 3], [4, 8, 8], [4, 8, 8])?.visiting(vec![false, true, false]);
    /// let items: Vec<_> = grid.items().collect();
    /// assert_eq!((items.len(), items[0].index, items[0].volume), (1, 0, 1));
    /// # Ok::<(), voxload::Error>(())
    /// ```
    #[must_use]
    pub fn visiting(mut self, visited: Vec<bool>) -> Self {
        for (slot, v) in self.visited.iter_mut().zip(visited) {
            *slot = v;
        }
        self
    }

    fn starts(&self, volume: usize) -> [Vec<i64>; 3] {
        if !self.visited[volume] {
            return Default::default();
        }
        let shape = self.volumes[volume];
        std::array::from_fn(|a| grid_starts(shape[a], self.window[a], self.stride[a]))
    }

    /// The number of items in the whole grid.
    #[must_use]
    pub fn len(&self) -> u64 {
        (0..self.volumes.len())
            .map(|v| {
                self.starts(v)
                    .iter()
                    .map(|s| s.len() as u64)
                    .product::<u64>()
            })
            .sum()
    }

    /// True when there is no volume.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.volumes.is_empty()
    }

    /// Every item, in order (made one at a time: only the starts of each axis are held).
    pub fn items(&self) -> impl Iterator<Item = GridItem> + '_ {
        (0..self.volumes.len()).flat_map(move |volume| {
            let first: u64 = (0..volume)
                .map(|v| {
                    self.starts(v)
                        .iter()
                        .map(|s| s.len() as u64)
                        .product::<u64>()
                })
                .sum();
            let [zs, ys, xs] = self.starts(volume);
            let (ny, nx) = (ys.len() as u64, xs.len() as u64);
            let count = zs.len() as u64 * ny * nx;
            (0..count).map(move |i| GridItem {
                index: first + i,
                volume,
                window: Bbox::new(
                    [
                        zs[(i / (ny * nx)) as usize],
                        ys[(i / nx % ny) as usize],
                        xs[(i % nx) as usize],
                    ],
                    self.window,
                ),
            })
        })
    }

    /// The grid over one region of a volume (for example a padded schedule chunk box): starts
    /// follow the same formula over the region's extent, offset by its first voxel.
    ///
    /// ```
    /// use voxload::sampler::Grid;
    /// use voxload::Bbox;
    /// let region = Bbox::from_bounds([-4, -64, -64], [104, 864, 864]).unwrap();
    /// let items = Grid::in_region(region, [8, 256, 256], [4, 128, 128]).unwrap();
    /// assert_eq!(items[0].window.begin, [-4, -64, -64]);
    /// assert_eq!(items.last().unwrap().window.end(), [104, 864, 864]);
    /// ```
    ///
    /// # Errors
    /// As [`Grid::new`].
    pub fn in_region(region: Bbox, window: Shape, stride: Shape) -> Result<Vec<GridItem>> {
        let grid = Grid::new(vec![region.shape], window, stride)?;
        Ok(grid
            .items()
            .map(|item| GridItem {
                window: item.window.shift(region.begin),
                ..item
            })
            .collect())
    }

    /// The contiguous block of items of `rank` among `world_size` processes.
    ///
    /// # Errors
    /// [`Error::Geometry`] when `rank >= world_size` or `world_size` is 0, or when the block's
    /// items cannot be allocated.
    pub fn rank_items(&self, rank: u64, world_size: u64) -> Result<Vec<GridItem>> {
        if world_size == 0 || rank >= world_size {
            return Err(Error::Geometry(format!(
                "rank {rank} is not in 0..world_size {world_size}"
            )));
        }
        let n = u128::from(self.len());
        let block = |r: u64| (u128::from(r) * n / u128::from(world_size)) as u64;
        let (lo, hi) = (block(rank), block(rank + 1));
        let mut items = Vec::new();
        usize::try_from(hi - lo)
            .ok()
            .and_then(|count| items.try_reserve_exact(count).ok())
            .ok_or_else(|| {
                Error::Geometry(format!(
                    "the {} windows of rank {rank}'s block of the inference grid cannot be allocated; use a larger INFERENCE.STRIDE or more ranks",
                    hi - lo
                ))
            })?;
        items.extend(self.items().filter(|i| (lo..hi).contains(&i.index)));
        Ok(items)
    }
}
