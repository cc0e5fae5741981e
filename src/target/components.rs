//! Connected components of equal-valued voxels (scikit-image's `measure.label`), with face
//! (6 / 4) or full (26 / 8) connectivity, by union-find over one raster pass.

/// Which neighbours touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Connectivity {
    /// Voxels sharing a face (6 in 3D, 4 in a plane).
    Face,
    /// Voxels sharing a face, an edge or a corner (26 in 3D, 8 in a plane).
    Full,
}

/// The neighbours already visited in raster order, as `(dz, dy, dx)`.
fn backward(conn: Connectivity) -> &'static [[isize; 3]] {
    const FACE: [[isize; 3]; 3] = [[0, 0, -1], [0, -1, 0], [-1, 0, 0]];
    const FULL: [[isize; 3]; 13] = [
        [0, 0, -1],
        [0, -1, -1],
        [0, -1, 0],
        [0, -1, 1],
        [-1, -1, -1],
        [-1, -1, 0],
        [-1, -1, 1],
        [-1, 0, -1],
        [-1, 0, 0],
        [-1, 0, 1],
        [-1, 1, -1],
        [-1, 1, 0],
        [-1, 1, 1],
    ];
    match conn {
        Connectivity::Face => &FACE,
        Connectivity::Full => &FULL,
    }
}

/// Buffers reused between calls.
#[derive(Debug, Default)]
pub(crate) struct Labeller {
    parent: Vec<u32>,
    remap: Vec<u32>,
}

impl Labeller {
    fn find(&mut self, mut a: u32) -> u32 {
        while self.parent[a as usize] != a {
            let p = self.parent[a as usize];
            self.parent[a as usize] = self.parent[p as usize];
            a = p;
        }
        a
    }

    /// Labels the voxels of `values` (shape `dims`, C order) for which `skip` is false,
    /// joining neighbours of equal value: `labels[i]` is 0 for skipped voxels, else `1..=n`
    /// numbered in raster order of each component's first voxel. Returns `n`.
    ///
    /// `values.len()` must be below `u32::MAX` (the callers check).
    pub(crate) fn label<T: Copy + PartialEq>(
        &mut self,
        values: &[T],
        dims: [usize; 3],
        conn: Connectivity,
        skip: impl Fn(T) -> bool,
        labels: &mut Vec<u32>,
    ) -> usize {
        let [d, h, w] = dims;
        labels.clear();
        labels.resize(values.len(), 0);
        self.parent.clear();
        self.parent.push(0);
        let offsets = backward(conn);
        let (sh, sd) = (w as isize, (h * w) as isize);
        // Per row, the neighbours that exist: at the row's first voxel, inside, at its last.
        let mut cases: [Vec<isize>; 3] = Default::default();
        for z in 0..d {
            for y in 0..h {
                for (c, list) in cases.iter_mut().enumerate() {
                    list.clear();
                    let (first, last) = (c == 0 || w == 1, c == 2 || w == 1);
                    list.extend(
                        offsets
                            .iter()
                            .filter(|&&[dz, dy, dx]| {
                                (dz == 0 || z > 0)
                                    && (dy >= 0 || y > 0)
                                    && (dy <= 0 || y + 1 < h)
                                    && (dx >= 0 || !first)
                                    && (dx <= 0 || !last)
                            })
                            .map(|&[dz, dy, dx]| dz * sd + dy * sh + dx),
                    );
                }
                for x in 0..w {
                    let i = (z * h + y) * w + x;
                    let v = values[i];
                    if skip(v) {
                        continue;
                    }
                    let case = if x == 0 {
                        0
                    } else if x + 1 == w {
                        2
                    } else {
                        1
                    };
                    let mut mine = 0u32;
                    let mut seen = 0u32;
                    for &o in &cases[case] {
                        let j = (i as isize + o) as usize;
                        let other = labels[j];
                        // Neighbours mostly carry the label just seen: skip the lookup.
                        if other == 0 || other == seen || values[j] != v {
                            continue;
                        }
                        seen = other;
                        let root = self.find(other);
                        if mine == 0 {
                            mine = root;
                        } else if root != mine {
                            let (lo, hi) = (mine.min(root), mine.max(root));
                            self.parent[hi as usize] = lo;
                            mine = lo;
                        }
                    }
                    if mine == 0 {
                        mine = self.parent.len() as u32;
                        self.parent.push(mine);
                    }
                    labels[i] = mine;
                }
            }
        }
        self.remap.clear();
        self.remap.resize(self.parent.len(), 0);
        let mut n = 0u32;
        for l in labels.iter_mut() {
            if *l == 0 {
                continue;
            }
            let root = self.find(*l);
            if self.remap[root as usize] == 0 {
                n += 1;
                self.remap[root as usize] = n;
            }
            *l = self.remap[root as usize];
        }
        n as usize
    }
}

/// The sorted distinct non-zero values of `values`.
pub(crate) fn distinct_nonzero(values: &[u64]) -> Vec<u64> {
    let mut ids: Vec<u64> = Vec::new();
    let mut last = 0u64;
    for &v in values {
        if v != 0 && v != last {
            ids.push(v);
            last = v;
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Each value's index in `ids` plus one (0 for values not in `ids`, such as 0), found by
/// binary search with the previous answer cached (labels come in runs).
pub(crate) fn dense_indices(values: &[u64], ids: &[u64], out: &mut Vec<u32>) {
    out.clear();
    let (mut last, mut last_index) = (0u64, 0u32);
    out.extend(values.iter().map(|&v| {
        if v != last {
            last = v;
            last_index = ids.binary_search(&v).map_or(0, |k| k as u32 + 1);
        }
        last_index
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_face_connectivity() {
        // A diagonal pair: one component with full connectivity, two with face.
        let v = [1u8, 0, 0, 1];
        let mut lab = Vec::new();
        let mut l = Labeller::default();
        assert_eq!(
            l.label(&v, [1, 2, 2], Connectivity::Full, |x| x == 0, &mut lab),
            1
        );
        assert_eq!(lab, [1, 0, 0, 1]);
        assert_eq!(
            l.label(&v, [1, 2, 2], Connectivity::Face, |x| x == 0, &mut lab),
            2
        );
        assert_eq!(lab, [1, 0, 0, 2]);
    }

    #[test]
    fn equal_values_only_and_raster_order() {
        // A U shape joins late: labels stay in order of first voxel.
        let v = [5u64, 0, 5, 5, 5, 5, 7, 7, 0];
        let mut lab = Vec::new();
        let n = Labeller::default().label(&v, [1, 3, 3], Connectivity::Face, |x| x == 0, &mut lab);
        assert_eq!(n, 2);
        assert_eq!(lab, [1, 0, 1, 1, 1, 1, 2, 2, 0]);
    }

    #[test]
    fn dense_ids() {
        let v = [0u64, 9, 9, 3, 0, 9];
        let ids = distinct_nonzero(&v);
        assert_eq!(ids, [3, 9]);
        let mut out = Vec::new();
        dense_indices(&v, &ids, &mut out);
        assert_eq!(out, [0, 2, 2, 1, 0, 2]);
    }
}
