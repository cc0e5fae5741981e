//! One output tile being accumulated: `Σ prediction · weight` over its windows, summed in grid
//! order, with the windows that arrive ahead of their turn kept until then.

use std::collections::BTreeMap;

use super::geometry::{Geometry, TileWindows};
use crate::Bbox;

/// What a writer does with the windows it adds to a tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// Every window of the tile is this writer's: it sums them and writes the chunk.
    Whole,
    /// The tile's first windows are this writer's, later ones another's: it sums its own and
    /// saves the sum for the writer that completes the array.
    Prefix,
    /// Earlier windows are another writer's: it saves its windows' parts, unsummed.
    Continuation,
}

/// One output tile.
pub(super) struct Tile {
    pub bbox: Bbox,
    pub windows: TileWindows,
    /// The position (in the tile's window sequence) of the next window to take.
    pub next: u64,
    /// The end of this writer's run of the tile's windows.
    pub end: u64,
    pub role: Role,
    /// `Σ prediction · weight`, `(C, tile)` in C order; empty until the first window.
    pub acc: Vec<f32>,
    /// [`Role::Continuation`]: the windows' parts inside the tile, `(C, window ∩ tile)` each,
    /// in grid order.
    pub parts: Vec<f32>,
    /// Windows that arrived ahead of their turn: grid index → the part inside the tile.
    pub pending: BTreeMap<u64, Vec<f32>>,
}

impl Tile {
    /// Tile `t`, taking the windows of grid indices `[lo, hi)` that overlap it.
    pub fn new(geometry: &Geometry, t: [u64; 3], (lo, hi): (u64, u64)) -> Self {
        let bbox = geometry.tile_box(t);
        let windows = TileWindows::new(geometry, &bbox);
        let (first, end) = (windows.count_below(lo), windows.count_below(hi));
        let role = match (first == 0, end == windows.len()) {
            (true, true) => Role::Whole,
            (true, false) => Role::Prefix,
            (false, _) => Role::Continuation,
        };
        Tile {
            bbox,
            windows,
            next: first,
            end,
            role,
            acc: Vec::new(),
            parts: Vec::new(),
            pending: BTreeMap::new(),
        }
    }

    /// The grid index of the window the tile takes next.
    pub fn wanted(&self) -> u64 {
        self.windows.at(self.next)
    }

    /// Whether this writer's run of windows has been taken.
    pub fn done(&self) -> bool {
        self.next == self.end
    }
}

/// The window weights and channel count every accumulation uses.
pub(super) struct Blend<'a> {
    /// `(d, h, w)` in C order.
    pub weights: &'a [f32],
    pub channels: usize,
}

impl Blend<'_> {
    /// `acc += data · weight` over `window ∩ tile`, where `data` holds `(C, data_box)`.
    /// Returns the bytes newly allocated for the accumulator.
    pub fn accumulate(
        &self,
        tile: &mut Tile,
        window: &Bbox,
        data_box: &Bbox,
        data: &[f32],
    ) -> usize {
        let Some(region) = window.intersect(&tile.bbox) else {
            return 0;
        };
        let [tz, ty, tx] = tile.bbox.shape.map(|v| v as usize);
        let mut grown = 0;
        if tile.acc.is_empty() {
            tile.acc = vec![0.0; self.channels * tz * ty * tx];
            grown = tile.acc.len() * 4;
        }
        let [_, wh, ww] = window.shape.map(|v| v as usize);
        let [dd, dh, dw] = data_box.shape.map(|v| v as usize);
        let [rd, rh, rw] = region.shape.map(|v| v as usize);
        let off = |b: &Bbox, a: usize| (region.begin[a] - b.begin[a]) as usize;
        let (wo, dof, to) = (
            [off(window, 0), off(window, 1), off(window, 2)],
            [off(data_box, 0), off(data_box, 1), off(data_box, 2)],
            [off(&tile.bbox, 0), off(&tile.bbox, 1), off(&tile.bbox, 2)],
        );
        for c in 0..self.channels {
            for z in 0..rd {
                for y in 0..rh {
                    let wi = ((wo[0] + z) * wh + wo[1] + y) * ww + wo[2];
                    let di = ((c * dd + dof[0] + z) * dh + dof[1] + y) * dw + dof[2];
                    let ai = ((c * tz + to[0] + z) * ty + to[1] + y) * tx + to[2];
                    let acc = &mut tile.acc[ai..ai + rw];
                    let src = &data[di..di + rw];
                    let weight = &self.weights[wi..wi + rw];
                    for ((a, &p), &q) in acc.iter_mut().zip(src).zip(weight) {
                        *a += p * q;
                    }
                }
            }
        }
        grown
    }

    /// The part of a window's prediction `(C, window)` inside `region`, `(C, region)`.
    pub fn copy_part(&self, window: &Bbox, region: &Bbox, data: &[f32]) -> Vec<f32> {
        let [d, h, w] = window.shape.map(|v| v as usize);
        let [rd, rh, rw] = region.shape.map(|v| v as usize);
        let o: [usize; 3] = std::array::from_fn(|a| (region.begin[a] - window.begin[a]) as usize);
        let mut out = Vec::with_capacity(self.channels * rd * rh * rw);
        for c in 0..self.channels {
            for z in 0..rd {
                for y in 0..rh {
                    let src = ((c * d + o[0] + z) * h + o[1] + y) * w + o[2];
                    out.extend_from_slice(&data[src..src + rw]);
                }
            }
        }
        out
    }

    /// The number of values of a window's part inside `tile`.
    pub fn part_len(&self, window: &Bbox, tile: &Bbox) -> usize {
        window.intersect(tile).map_or(0, |r| {
            self.channels * r.shape.iter().product::<u64>() as usize
        })
    }
}
