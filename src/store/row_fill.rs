//! Filling the padded positions of an output row from the row's own interior.
//!
//! Along x, `reflect` and `symmetric` padding is a mirrored copy of part of the interior, `edge`
//! a repeated voxel and `constant` a fill. Worked out once per read as runs, it is applied to
//! every row as a few slice operations instead of a per-voxel lookup.

use crate::Element;

/// One run of padded positions `[at, at + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    at: usize,
    len: usize,
    /// The row position the first voxel comes from, `None` for the constant value.
    from: Option<usize>,
    /// How the source position moves per voxel: `1` forwards, `-1` mirrored, `0` repeated.
    step: i64,
}

/// The plan that fills every padded position of a row from positions of the same row.
#[derive(Clone, Debug, Default)]
pub(crate) struct RowFill {
    runs: Vec<Run>,
}

impl RowFill {
    /// Plans the fill of `positions` (padded output positions, ascending), each taking its value
    /// from row position `source(o)`, or the constant where that is `None`. Sources must lie
    /// outside `positions`.
    pub(crate) fn plan(
        positions: impl Iterator<Item = usize>,
        source: impl Fn(usize) -> Option<usize>,
    ) -> Self {
        let mut runs: Vec<Run> = Vec::new();
        for o in positions {
            let from = source(o);
            if let Some(last) = runs.last_mut() {
                if last.at + last.len == o && extends(last, from) {
                    if last.len == 1 {
                        last.step = match (last.from, from) {
                            (Some(a), Some(b)) => b as i64 - a as i64,
                            _ => 0,
                        };
                    }
                    last.len += 1;
                    continue;
                }
            }
            runs.push(Run {
                at: o,
                len: 1,
                from,
                step: 0,
            });
        }
        RowFill { runs }
    }

    /// Fills the padded positions of `row`, whose other positions are already in place.
    pub(crate) fn apply<T: Element>(&self, row: &mut [T], constant: T) {
        for run in &self.runs {
            let (at, len) = (run.at, run.len);
            match (run.from, run.step) {
                (None, _) => row[at..at + len].fill(constant),
                (Some(from), 0) => {
                    let v = row[from];
                    row[at..at + len].fill(v);
                }
                (Some(from), 1) => row.copy_within(from..from + len, at),
                (Some(from), _) => mirror_within(row, from + 1 - len, len, at),
            }
        }
    }
}

/// True when `from` continues `run` with a step of -1, 0 or 1 (or both are constant).
fn extends(run: &Run, from: Option<usize>) -> bool {
    match (run.from, from) {
        (None, None) => true,
        (Some(first), Some(next)) => {
            let last = first as i64 + run.step * (run.len as i64 - 1);
            let step = next as i64 - last;
            if run.len == 1 {
                (-1..=1).contains(&step)
            } else {
                step == run.step
            }
        }
        _ => false,
    }
}

/// Writes `row[src..src + len]` reversed into `row[at..at + len]`; the ranges are disjoint.
fn mirror_within<T: Copy>(row: &mut [T], src: usize, len: usize, at: usize) {
    if at < src {
        let (dst, rest) = row.split_at_mut(src);
        let source = &rest[..len];
        for (d, s) in dst[at..at + len].iter_mut().zip(source.iter().rev()) {
            *d = *s;
        }
    } else {
        let (rest, dst) = row.split_at_mut(at);
        let source = &rest[src..src + len];
        for (d, s) in dst[..len].iter_mut().zip(source.iter().rev()) {
            *d = *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PadMode;

    /// A row of width `w` starting at `begin` on an axis of length `n`: the interior is copied
    /// in place, then the plan fills the rest; compared with direct folding.
    fn check(begin: i64, w: usize, n: u64, mode: PadMode) {
        let truth: Vec<u32> = (0..w as i64)
            .map(|i| mode.fold(begin + i, n).map_or(99, |x| x as u32 * 10))
            .collect();
        let lo = (-begin).clamp(0, w as i64) as usize;
        let hi = (n as i64 - begin).clamp(lo as i64, w as i64) as usize;
        let mut row = vec![0u32; w];
        row[lo..hi].copy_from_slice(&truth[lo..hi]);
        let plan = RowFill::plan((0..lo).chain(hi..w), |o| {
            mode.fold(begin + o as i64, n)
                .map(|x| (x as i64 - begin) as usize)
        });
        plan.apply(&mut row, 99);
        assert_eq!(row, truth, "begin {begin} w {w} n {n} {mode}");
    }

    #[test]
    fn plan_reproduces_every_mode_when_folds_land_inside() {
        for mode in [
            PadMode::Reflect,
            PadMode::Symmetric,
            PadMode::Edge,
            PadMode::Constant(1.0),
        ] {
            for n in [2u64, 5, 16] {
                for w in [1usize, 3, 8, 20] {
                    for begin in -(n as i64) + 1..n as i64 + 2 {
                        // Only windows whose padded positions fold into their own interior.
                        let lo = (-begin).clamp(0, w as i64);
                        let hi = (n as i64 - begin).clamp(lo, w as i64);
                        let fits = (0..w as i64).all(|o| {
                            mode.fold(begin + o, n)
                                .is_none_or(|x| (lo..hi).contains(&(x as i64 - begin)))
                        });
                        if fits {
                            check(begin, w, n, mode);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn mirrored_runs_are_single_operations() {
        // Reflect 3 voxels off the low face of a long axis: one mirrored run.
        let plan = RowFill::plan(0..3, |o| Some(6 - o));
        assert_eq!(plan.runs.len(), 1);
        assert_eq!(plan.runs[0].step, -1);
    }
}
