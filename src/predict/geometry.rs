//! The inference grid of one volume and the output's tiles (spatial chunks): which windows
//! exist, where they are, and which of them cover each tile, in grid order.

use crate::sampler::grid_starts;
use crate::{Bbox, Coord, Padding, Shape};

/// The grid's windows and the output's tiles (spatial chunks), in output coordinates, which
/// are the volume's unless an output scale resizes every window (PyTC's
/// `INFERENCE.OUTPUT_SCALE`, see [`super::rescale`]).
#[derive(Clone, Debug)]
pub(super) struct Geometry {
    /// The output's shape.
    pub(super) volume: Shape,
    /// The output window's shape (the prediction's, resized).
    pub(super) window: Shape,
    /// Per axis the output windows' starts, strictly increasing, possibly negative (padding).
    pub(super) starts: [Vec<i64>; 3],
    /// The predictions' shape, as added.
    pub(super) input_window: Shape,
    /// Per axis the grid's window starts in the volume, as added.
    grid: [Vec<i64>; 3],
    /// The spatial chunk shape.
    pub(super) tile: Shape,
    /// Tiles per axis.
    pub(super) tiles: Shape,
}

/// Where a grid's windows land in the output (see [`output_grid`]).
#[derive(Clone, Debug)]
pub(super) struct OutputGrid {
    /// The output's shape.
    pub(super) volume: Shape,
    /// The output window's shape.
    pub(super) window: Shape,
    /// Per axis the output windows' starts.
    pub(super) starts: [Vec<i64>; 3],
    /// Per axis the windows' starts in the volume, as they are added.
    pub(super) grid: [Vec<i64>; 3],
}

/// The output's shape, window and per-axis window starts of a grid of `window`s at `stride`
/// over `volume` padded by `pad` (`b` before, `a` after an axis), resized by `scale`, for the
/// model's `predicted` blocks (at most the window), as PyTC's `test()` places them: the padded
/// volume is `ceil((n + b + a) · s)` long, a window starting at padded index `i` puts its block
/// at `floor(i · s)`, `ceil(o · s)` long, and `floor(b · s)` and `floor(a · s)` are cropped from
/// the two ends (unless `unpad` is off: PyTC's `INFERENCE.UNPAD`; PyTC itself cannot unpad a
/// six-value `PAD_SIZE`, this is the natural extension).
pub(super) fn output_grid(
    volume: Shape,
    (window, predicted): (Shape, Shape),
    (stride, pad): (Shape, Padding),
    (scale, unpad): ([f64; 3], bool),
) -> OutputGrid {
    let padded = pad.padded(volume);
    let grid: [Vec<i64>; 3] = std::array::from_fn(|a| {
        grid_starts(padded[a], window[a], stride[a])
            .into_iter()
            .map(|s| s - pad.before[a])
            .collect()
    });
    if scale == [1.0; 3] && unpad {
        return OutputGrid {
            volume,
            window: predicted,
            starts: grid.clone(),
            grid,
        };
    }
    let cropped = |p: Coord| -> Coord {
        match unpad {
            true => std::array::from_fn(|a| (p[a] as f64 * scale[a]).floor() as i64),
            false => [0; 3],
        }
    };
    let (before, after) = (cropped(pad.before), cropped(pad.after));
    let out_volume = std::array::from_fn(|a| {
        let scaled = (padded[a] as f64 * scale[a]).ceil() as i64;
        (scaled - before[a] - after[a]).max(0) as u64
    });
    let out_window = std::array::from_fn(|a| super::rescale::scaled_len(predicted[a], scale[a]));
    let starts = std::array::from_fn(|a| {
        grid[a]
            .iter()
            .map(|&s| ((s + pad.before[a]) as f64 * scale[a]).floor() as i64 - before[a])
            .collect()
    });
    OutputGrid {
        volume: out_volume,
        window: out_window,
        starts,
        grid,
    }
}

impl Geometry {
    /// The geometry of `output` (a grid of `input_window`s, see [`output_grid`]), cut into
    /// tiles of `tile`.
    pub(super) fn new(output: OutputGrid, input_window: Shape, tile: Shape) -> Self {
        let tiles = std::array::from_fn(|a| output.volume[a].div_ceil(tile[a]));
        Geometry {
            volume: output.volume,
            window: output.window,
            starts: output.starts,
            input_window,
            grid: output.grid,
            tile,
            tiles,
        }
    }

    /// The volume start of window `g` (grid order), as it is added.
    pub(super) fn position(&self, g: u64) -> Coord {
        let [_, ny, nx] = self.counts();
        let idx = [g / (ny * nx), (g / nx) % ny, g % nx];
        std::array::from_fn(|a| self.grid[a][idx[a] as usize])
    }

    pub(super) fn counts(&self) -> [u64; 3] {
        std::array::from_fn(|a| self.starts[a].len() as u64)
    }

    pub(super) fn len(&self) -> u64 {
        self.counts().iter().product()
    }

    /// The per-axis indices of the window starting at `position`.
    pub(super) fn locate(&self, position: Coord) -> Option<[usize; 3]> {
        let mut idx = [0; 3];
        for a in 0..3 {
            idx[a] = self.grid[a].binary_search(&position[a]).ok()?;
        }
        Some(idx)
    }

    pub(super) fn index(&self, idx: [usize; 3]) -> u64 {
        let [_, ny, nx] = self.counts();
        (idx[0] as u64 * ny + idx[1] as u64) * nx + idx[2] as u64
    }

    pub(super) fn window_at(&self, g: u64) -> Bbox {
        let [_, ny, nx] = self.counts();
        let idx = [g / (ny * nx), (g / nx) % ny, g % nx];
        Bbox::new(
            std::array::from_fn(|a| self.starts[a][idx[a] as usize]),
            self.window,
        )
    }

    pub(super) fn tile_box(&self, t: [u64; 3]) -> Bbox {
        let begin: Coord = std::array::from_fn(|a| (t[a] * self.tile[a]) as i64);
        let shape = std::array::from_fn(|a| self.tile[a].min(self.volume[a] - t[a] * self.tile[a]));
        Bbox::new(begin, shape)
    }

    /// Per axis, the index range of the windows overlapping `bbox`.
    pub(super) fn window_ranges(&self, bbox: &Bbox) -> [(u64, u64); 3] {
        let end = bbox.end();
        std::array::from_fn(|a| {
            let w = self.window[a] as i64;
            let s = &self.starts[a];
            let lo = s.partition_point(|&v| v + w <= bbox.begin[a]);
            let hi = s.partition_point(|&v| v < end[a]);
            (lo as u64, hi.max(lo) as u64)
        })
    }

    /// Per axis, the range of tiles the window overlaps, or `None` when it lies outside the
    /// volume (wholly in the padding).
    pub(super) fn tile_ranges(&self, window: &Bbox) -> Option<[(u64, u64); 3]> {
        let inside = window.intersect(&Bbox::from_shape(self.volume))?;
        let end = inside.end();
        Some(std::array::from_fn(|a| {
            (
                inside.begin[a] as u64 / self.tile[a],
                (end[a] as u64 - 1) / self.tile[a] + 1,
            )
        }))
    }

    pub(super) fn tile_id(&self, t: [u64; 3]) -> u64 {
        (t[0] * self.tiles[1] + t[1]) * self.tiles[2] + t[2]
    }

    /// The tile of [`Geometry::tile_id`] `id`.
    pub(super) fn tile_of(&self, id: u64) -> [u64; 3] {
        let [_, ty, tx] = self.tiles;
        [id / (ty * tx), (id / tx) % ty, id % tx]
    }

    /// The number of tiles.
    pub(super) fn tile_count(&self) -> u64 {
        self.tiles.iter().product()
    }
}

/// The windows overlapping one tile, in grid order: the product of one index range per axis.
#[derive(Clone, Copy, Debug)]
pub(super) struct TileWindows {
    /// Per axis the index range `[lo, hi)` of the windows overlapping the tile.
    ranges: [(u64, u64); 3],
    /// The grid's windows per axis.
    counts: [u64; 3],
}

impl TileWindows {
    pub(super) fn new(geometry: &Geometry, tile: &Bbox) -> Self {
        TileWindows {
            ranges: geometry.window_ranges(tile),
            counts: geometry.counts(),
        }
    }

    /// How many windows overlap the tile.
    pub(super) fn len(&self) -> u64 {
        self.ranges.iter().map(|r| r.1 - r.0).product()
    }

    /// The grid index of the `k`-th window (in grid order) overlapping the tile.
    pub(super) fn at(&self, k: u64) -> u64 {
        let n: [u64; 3] = std::array::from_fn(|a| self.ranges[a].1 - self.ranges[a].0);
        let i = [k / (n[1] * n[2]), (k / n[2]) % n[1], k % n[2]];
        let idx: [u64; 3] = std::array::from_fn(|a| self.ranges[a].0 + i[a]);
        (idx[0] * self.counts[1] + idx[1]) * self.counts[2] + idx[2]
    }

    /// How many of the tile's windows have a grid index below `g` (the sequence increases).
    pub(super) fn count_below(&self, g: u64) -> u64 {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.at(mid) < g {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}
