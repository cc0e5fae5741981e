//! Box and chunk-grid maths against voxel-by-voxel enumeration.

use std::collections::HashSet;

use proptest::prelude::*;
use voxload::{Bbox, ChunkGrid};

fn voxels(b: &Bbox) -> HashSet<[i64; 3]> {
    let end = b.end();
    let mut out = HashSet::new();
    for z in b.begin[0]..end[0] {
        for y in b.begin[1]..end[1] {
            for x in b.begin[2]..end[2] {
                out.insert([z, y, x]);
            }
        }
    }
    out
}

fn bbox() -> impl Strategy<Value = Bbox> {
    ([-8i64..8, -8i64..8, -8i64..8], [0u64..7, 0u64..7, 0u64..7])
        .prop_map(|(begin, shape)| Bbox::new(begin, shape))
}

proptest! {
    #[test]
    fn intersect_is_the_common_voxels(a in bbox(), b in bbox()) {
        let common: HashSet<_> = voxels(&a).intersection(&voxels(&b)).copied().collect();
        match a.intersect(&b) {
            Some(i) => prop_assert_eq!(voxels(&i), common),
            None => prop_assert!(common.is_empty()),
        }
    }

    #[test]
    fn contains_matches_voxel_sets(a in bbox(), b in bbox()) {
        prop_assert_eq!(a.contains(&b), voxels(&b).is_subset(&voxels(&a)));
    }

    #[test]
    fn grow_then_shrink_restores_the_box(a in bbox(), by in [0i64..5, 0i64..5, 0i64..5]) {
        prop_assert_eq!(a.grow(by).grow(by.map(|v| -v)), a);
        let grown = a.grow(by);
        prop_assert_eq!(grown.shape, std::array::from_fn(|i| a.shape[i] + 2 * by[i] as u64));
    }

    #[test]
    fn shift_moves_every_voxel(a in bbox(), by in [-5i64..5, -5i64..5, -5i64..5]) {
        let moved: HashSet<_> = voxels(&a)
            .into_iter()
            .map(|v| [v[0] + by[0], v[1] + by[1], v[2] + by[2]])
            .collect();
        prop_assert_eq!(voxels(&a.shift(by)), moved);
    }

    /// The parts of a box cover exactly its voxels inside the array, each once, and each part's
    /// two coordinate frames name the same voxels.
    #[test]
    fn chunk_parts_tile_the_box_inside_the_array(
        array in [1u64..12, 1u64..12, 1u64..12],
        chunk in [1u64..5, 1u64..5, 1u64..5],
        window in ([-6i64..14, -6i64..14, -6i64..14], [0u64..10, 0u64..10, 0u64..10]),
    ) {
        let grid = ChunkGrid::new(array, chunk).unwrap();
        let window = Bbox::new(window.0, window.1);
        let inside: HashSet<_> = voxels(&window)
            .intersection(&voxels(&Bbox::from_shape(array)))
            .copied()
            .collect();
        let mut seen = HashSet::new();
        for part in grid.parts(&window) {
            let origin: [i64; 3] = std::array::from_fn(|a| (part.chunk[a] * chunk[a]) as i64);
            let from_chunk = part.in_chunk.shift(origin);
            prop_assert_eq!(from_chunk, part.in_box.shift(window.begin));
            for v in voxels(&from_chunk) {
                prop_assert!(seen.insert(v), "voxel {:?} in two parts", v);
                for a in 0..3 {
                    prop_assert_eq!(v[a].div_euclid(chunk[a] as i64) as u64, part.chunk[a]);
                }
            }
        }
        prop_assert_eq!(seen, inside);
    }
}

#[test]
fn from_bounds_rejects_inverted_boxes() {
    assert!(Bbox::from_bounds([0, 0, 5], [1, 1, 4]).is_err());
    assert_eq!(
        Bbox::from_bounds([-4, 0, 0], [4, 1, 1]).unwrap().shape,
        [8, 1, 1]
    );
}

#[test]
fn pyt_c_chunk_box_grows_into_negative_coordinates() {
    // SPEC section 4: [0,100) x [0,800) x [0,800) with pad [4,64,64].
    let grown = Bbox::from_shape([100, 800, 800]).grow([4, 64, 64]);
    assert_eq!(grown.begin, [-4, -64, -64]);
    assert_eq!(grown.end(), [104, 864, 864]);
}
