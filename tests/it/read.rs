//! Window reads against the naïve padding oracle.

use ndarray::Array3;
use proptest::prelude::*;
use voxload::{write_array, Bbox, Encoding, MappedArray, PadMode};

use crate::util::{naive_window, ALL_MODES};

fn encoding_strategy(chunk: [u64; 3]) -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Raw),
        (1u64..3, 1u64..3, 1u64..3).prop_map(move |(a, b, c)| Encoding::ShardedRaw {
            shard: [chunk[0] * a, chunk[1] * b, chunk[2] * c]
        }),
        Just(Encoding::Zstd { level: 1 }),
    ]
}

fn case_strategy() -> impl Strategy<Value = ([usize; 3], [u64; 3], Encoding, u64)> {
    (
        [1usize..13, 1usize..13, 1usize..13],
        [1u64..8, 1u64..8, 1u64..8],
        any::<u64>(),
    )
        .prop_flat_map(|(shape, chunk, seed)| {
            (
                Just(shape),
                Just(chunk),
                encoding_strategy(chunk),
                Just(seed),
            )
        })
}

fn window_strategy() -> impl Strategy<Value = (Bbox, usize)> {
    (
        [-30i64..30, -30i64..30, -30i64..30],
        [0u64..20, 0u64..20, 0u64..20],
        0usize..5,
    )
        .prop_map(|(begin, shape, mode)| (Bbox::new(begin, shape), mode))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random volumes, chunkings and encodings; random windows inside, straddling and far outside
    /// (larger than the volume, empty, axes of length 1) in every pad mode.
    #[test]
    fn read_equals_naive_padding(
        (shape, chunk, encoding, seed) in case_strategy(),
        windows in proptest::collection::vec(window_strategy(), 12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let volume = Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(z, y, x)| {
            (seed.wrapping_mul(31).wrapping_add((z * 1000 + y * 37 + x) as u64) % 65521) as u16
        });
        write_array(dir.path(), "v", &volume, chunk, encoding).unwrap();
        let array = MappedArray::<u16>::open(dir.path(), "v").unwrap();
        for (window, mode) in windows {
            let mode = ALL_MODES[mode];
            let got = array.read(window, mode).unwrap();
            let want = naive_window(&volume, window, mode);
            prop_assert_eq!(got, want, "window {:?} mode {}", window, mode);
        }
    }
}

#[test]
fn read_window_fully_outside_is_constant() {
    let dir = tempfile::tempdir().unwrap();
    let volume = Array3::<u8>::from_elem((4, 4, 4), 3);
    write_array(dir.path(), "v", &volume, [2, 2, 2], Encoding::Raw).unwrap();
    let array = MappedArray::<u8>::open(dir.path(), "v").unwrap();
    let w = array
        .read(Bbox::new([-10, 0, 0], [2, 3, 3]), PadMode::Constant(9.0))
        .unwrap();
    assert!(w.iter().all(|&v| v == 9));
    // Far outside, reflect folds back into the volume.
    let w = array
        .read(Bbox::new([-10, 50, 0], [2, 3, 3]), PadMode::Reflect)
        .unwrap();
    assert!(w.iter().all(|&v| v == 3));
}

#[test]
fn reads_are_thread_safe() {
    let dir = tempfile::tempdir().unwrap();
    let volume = Array3::from_shape_fn((20, 30, 40), |(z, y, x)| (z * 7 + y * 3 + x) as u32);
    write_array(dir.path(), "v", &volume, [4, 8, 8], Encoding::Raw).unwrap();
    let array = MappedArray::<u32>::open(dir.path(), "v").unwrap();
    std::thread::scope(|s| {
        for t in 0..4i64 {
            let (array, volume) = (&array, &volume);
            s.spawn(move || {
                for i in 0..50i64 {
                    let window = Bbox::new([i % 25 - 3, t * 7 - 5, i - 10], [6, 9, 12]);
                    let got = array.read(window, PadMode::Symmetric).unwrap();
                    assert_eq!(got, naive_window(volume, window, PadMode::Symmetric));
                }
            });
        }
    });
}

#[test]
fn mapped_files_stay_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let volume = Array3::from_shape_fn((8, 8, 8), |(z, y, x)| (z + y + x) as u8);
    write_array(dir.path(), "v", &volume, [2, 2, 2], Encoding::Raw).unwrap();
    let options = voxload::OpenOptions {
        limits: voxload::store::CacheLimits {
            max_mapped_files: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let array = MappedArray::<u8>::open_with(dir.path(), "v", &options).unwrap();
    let all = array
        .read(Bbox::from_shape([8, 8, 8]), PadMode::Edge)
        .unwrap();
    assert_eq!(all, volume);
    assert!(
        array.mapped_files() <= 3,
        "{} files mapped",
        array.mapped_files()
    );
}
