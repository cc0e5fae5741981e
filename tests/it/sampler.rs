//! The chunk schedule and inference grids against SPEC section 4's formulas and coverage.

use std::collections::HashSet;

use proptest::prelude::*;
use voxload::sampler::{ChunkSchedule, Grid};
use voxload::Bbox;

#[test]
fn schedule_boxes_follow_the_formulas() {
    for l in [37u64, 100, 1000, 6400] {
        for n in 1..=4u64 {
            for stride in [true, false] {
                for pad in [0i64, 4, 64] {
                    let s =
                        ChunkSchedule::new([l, l, l], [n, n, n], stride, [pad, pad, pad]).unwrap();
                    for i in 0..n {
                        let id = i * n * n + i * n + i; // chunk (i, i, i)
                        let (lo, hi) = if stride {
                            (i * l / (n + 1), (i + 2) * l / (n + 1))
                        } else {
                            (i * l / n, (i + 1) * l / n)
                        };
                        let b = s.chunk_box(id);
                        let want_begin = lo as i64 - pad;
                        let want_end = hi as i64 + pad;
                        assert_eq!(b.begin, [want_begin; 3], "L {l} n {n} stride {stride}");
                        assert_eq!(b.end(), [want_end; 3], "L {l} n {n} stride {stride}");
                    }
                }
            }
        }
    }
}

#[test]
fn schedule_ids_decompose_z_major() {
    let s = ChunkSchedule::new([10, 20, 30], [2, 3, 4], false, [0, 0, 0]).unwrap();
    assert_eq!(s.len(), 24);
    assert_eq!(s.position(0), [0, 0, 0]);
    assert_eq!(s.position(5), [0, 1, 1]);
    assert_eq!(s.position(23), [1, 2, 3]);
    // Chunk (1, 2, 3) without stride: z [5, 10), y [13, 20), x [22, 30).
    assert_eq!(
        s.unpadded_box(23),
        Bbox::from_bounds([5, 13, 22], [10, 20, 30]).unwrap()
    );
}

#[test]
fn pyt_c_example_chunk_is_padded_into_negative_coordinates() {
    // The seed document's example: a (100, 800, 800) chunk with pad (4, 64, 64).
    let s = ChunkSchedule::new([100, 800, 800], [1, 1, 1], true, [4, 64, 64]).unwrap();
    let b = s.chunk_box(0);
    assert_eq!((b.begin, b.end()), ([-4, -64, -64], [104, 864, 864]));
}

#[test]
fn every_chunk_is_visited_once_per_cycle_in_a_seeded_order() {
    let s = ChunkSchedule::new([64, 64, 64], [2, 2, 3], true, [0, 0, 0]).unwrap();
    let n = s.len();
    for cycle in 0..3 {
        let seen: HashSet<u64> = (cycle * n..(cycle + 1) * n)
            .map(|v| s.visit(5, 1, v))
            .collect();
        assert_eq!(seen.len() as u64, n, "cycle {cycle} repeats a chunk");
    }
    let order = |seed, epoch| (0..n).map(|v| s.visit(seed, epoch, v)).collect::<Vec<_>>();
    assert_eq!(order(5, 1), order(5, 1));
    assert_ne!(
        order(5, 1),
        order(6, 1),
        "the seed does not change the order"
    );
    assert_ne!(
        order(5, 1),
        order(5, 2),
        "the epoch does not change the order"
    );
}

#[test]
fn bad_chunk_counts_are_errors() {
    assert!(ChunkSchedule::new([10, 10, 10], [0, 1, 1], true, [0; 3]).is_err());
    assert!(ChunkSchedule::new([10, 10, 10], [1, 11, 1], true, [0; 3]).is_err());
}

proptest! {
    /// Grid windows cover every voxel of every volume (for strides up to the window, as
    /// inference uses), start where the formula says, and rank blocks are disjoint, contiguous
    /// and complete.
    #[test]
    fn grid_covers_every_voxel_and_ranks_partition_it(
        shapes in proptest::collection::vec([1u64..14, 1u64..14, 1u64..14], 1..3),
        window in [1u64..6, 1u64..6, 1u64..6],
        stride_part in [0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0],
        world in 1u64..5,
    ) {
        let stride: [u64; 3] = std::array::from_fn(|a| 1 + (stride_part[a] * window[a] as f64) as u64 % window[a]);
        let grid = Grid::new(shapes.clone(), window, stride).unwrap();
        let items: Vec<_> = grid.items().collect();
        prop_assert_eq!(items.len() as u64, grid.len());
        for (v, shape) in shapes.iter().enumerate() {
            let mut covered = HashSet::new();
            for it in items.iter().filter(|i| i.volume == v) {
                for a in 0..3 {
                    let b = it.window.begin[a];
                    let last = shape[a].saturating_sub(window[a]) as i64;
                    prop_assert!(b == 0 || b <= last);
                    prop_assert!(b % stride[a] as i64 == 0 || b == last);
                }
                let inside = it.window.intersect(&Bbox::from_shape(*shape));
                if let Some(b) = inside {
                    for z in b.begin[0]..b.end()[0] {
                        for y in b.begin[1]..b.end()[1] {
                            for x in b.begin[2]..b.end()[2] {
                                covered.insert((z, y, x));
                            }
                        }
                    }
                }
            }
            prop_assert_eq!(covered.len() as u64, shape.iter().product::<u64>());
        }
        // x fastest: consecutive items of a volume advance x first.
        for pair in items.windows(2) {
            prop_assert_eq!(pair[1].index, pair[0].index + 1);
        }
        let mut all = Vec::new();
        for r in 0..world {
            let block = grid.rank_items(r, world).unwrap();
            if let (Some(f), Some(l)) = (block.first(), block.last()) {
                prop_assert_eq!(l.index - f.index + 1, block.len() as u64);
            }
            all.extend(block.into_iter().map(|i| i.index));
        }
        prop_assert_eq!(all, (0..grid.len()).collect::<Vec<_>>());
    }
}

#[test]
fn grid_order_is_volume_then_z_y_x() {
    let grid = Grid::new(vec![[2, 2, 3], [1, 1, 1]], [1, 1, 2], [1, 1, 2]).unwrap();
    let starts: Vec<(usize, [i64; 3])> = grid.items().map(|i| (i.volume, i.window.begin)).collect();
    assert_eq!(
        starts,
        vec![
            (0, [0, 0, 0]),
            (0, [0, 0, 1]),
            (0, [0, 1, 0]),
            (0, [0, 1, 1]),
            (0, [1, 0, 0]),
            (0, [1, 0, 1]),
            (0, [1, 1, 0]),
            (0, [1, 1, 1]),
            (1, [0, 0, 0]),
        ]
    );
    assert!(grid.rank_items(2, 2).is_err());
}
