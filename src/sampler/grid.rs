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
    if length <= window {
        return vec![0];
    }
    let count = 1 + (length - window).div_ceil(stride.max(1));
    (0..count)
        .map(|i| (i * stride).min(length - window) as i64)
        .collect()
}

/// An inference grid over one or more volumes, possibly restricted to one rank's block.
#[derive(Clone, Debug)]
pub struct Grid {
    volumes: Vec<Shape>,
    window: Shape,
    stride: Shape,
}

impl Grid {
    /// A grid of `window`-shaped windows at `stride` over volumes of the given shapes.
    ///
    /// # Errors
    /// [`Error::Geometry`] for a zero window or stride extent.
    pub fn new(volumes: Vec<Shape>, window: Shape, stride: Shape) -> Result<Self> {
        if window.contains(&0) || stride.contains(&0) {
            return Err(Error::Geometry(format!(
                "window {window:?} and stride {stride:?} must be positive"
            )));
        }
        Ok(Grid {
            volumes,
            window,
            stride,
        })
    }

    fn starts(&self, volume: usize) -> [Vec<i64>; 3] {
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

    /// Every item, in order.
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
            let mut out = Vec::with_capacity(zs.len() * ys.len() * xs.len());
            for &z in &zs {
                for &y in &ys {
                    for &x in &xs {
                        out.push(GridItem {
                            index: first + out.len() as u64,
                            volume,
                            window: Bbox::new([z, y, x], self.window),
                        });
                    }
                }
            }
            out
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
    /// [`Error::Geometry`] when `rank >= world_size` or `world_size` is 0.
    pub fn rank_items(&self, rank: u64, world_size: u64) -> Result<Vec<GridItem>> {
        if world_size == 0 || rank >= world_size {
            return Err(Error::Geometry(format!(
                "rank {rank} is not in 0..world_size {world_size}"
            )));
        }
        let n = self.len();
        let (lo, hi) = (rank * n / world_size, (rank + 1) * n / world_size);
        Ok(self
            .items()
            .filter(|i| (lo..hi).contains(&i.index))
            .collect())
    }
}
