//! The window reader: arbitrary windows and pad modes on small raw and sharded arrays equal a
//! voxel-by-voxel oracle, or are typed errors for absurd sizes; never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ndarray::Array3;
use voxload::{write_array, Bbox, Encoding, MappedArray, PadMode};

const DIMS: [usize; 3] = [5, 6, 7];

fn volume() -> Array3<u16> {
    Array3::from_shape_fn((DIMS[0], DIMS[1], DIMS[2]), |(z, y, x)| {
        (z * 100 + y * 10 + x) as u16
    })
}

fn arrays() -> &'static (tempfile::TempDir, Vec<MappedArray<u16>>) {
    static ARRAYS: OnceLock<(tempfile::TempDir, Vec<MappedArray<u16>>)> = OnceLock::new();
    ARRAYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let v = volume();
        write_array(dir.path(), "raw", &v, [2, 4, 3], Encoding::Raw).unwrap();
        write_array(
            dir.path(),
            "sharded",
            &v,
            [1, 2, 3],
            Encoding::ShardedRaw { shard: [2, 4, 6] },
        )
        .unwrap();
        let arrays = ["raw", "sharded"]
            .iter()
            .map(|n| MappedArray::open(dir.path(), n).unwrap())
            .collect();
        (dir, arrays)
    })
}

/// numpy's index for coordinate `i` on an axis of length `n`, or `None` for constant padding.
fn source(i: i64, n: i64, mode: PadMode) -> Option<i64> {
    if (0..n).contains(&i) {
        return Some(i);
    }
    match mode {
        PadMode::Constant(_) => None,
        PadMode::Edge => Some(i.clamp(0, n - 1)),
        PadMode::Reflect if n == 1 => Some(0),
        PadMode::Reflect => {
            let period = 2 * (n - 1);
            let m = i.rem_euclid(period);
            Some(if m < n { m } else { period - m })
        }
        PadMode::Symmetric => {
            let m = i.rem_euclid(2 * n);
            Some(if m < n { m } else { 2 * n - 1 - m })
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (dir_and_arrays, v) = (arrays(), volume());
    let array = &dir_and_arrays.1[usize::from(data[0] & 1)];
    let mode = match data[1] % 4 {
        0 => PadMode::Constant(f64::from(data[2])),
        1 => PadMode::Reflect,
        2 => PadMode::Symmetric,
        _ => PadMode::Edge,
    };
    let begin = [0, 1, 2].map(|a| i64::from(data[2 + a] as i8) * 3);
    let shape = [0, 1, 2].map(|a| u64::from(data[5 + a] % 24));
    let window = Bbox::new(begin, shape);
    let got = array.read(window, mode).unwrap();
    let cval = mode.constant().unwrap_or(0.0) as u16;
    for ((z, y, x), &value) in got.indexed_iter() {
        let at = [z, y, x];
        let mut src = [0usize; 3];
        let mut inside = true;
        for a in 0..3 {
            match source(begin[a] + at[a] as i64, DIMS[a] as i64, mode) {
                Some(s) => src[a] = s as usize,
                None => inside = false,
            }
        }
        let want = if inside { v[src] } else { cval };
        assert_eq!(value, want, "window {window:?} {mode:?} at {at:?}");
    }
});
