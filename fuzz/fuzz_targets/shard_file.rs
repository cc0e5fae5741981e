//! The shard index reader: a shard file of any bytes reads as data or a typed error.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use voxload::{write_array, Bbox, Encoding, MappedArray, PadMode};

/// A store with one (8, 8, 8) u16 shard of (4, 4, 4) inner chunks, written once.
fn store() -> &'static tempfile::TempDir {
    static STORE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let volume = ndarray::Array3::<u16>::from_shape_fn((8, 8, 8), |(z, y, x)| {
            (z * 64 + y * 8 + x) as u16
        });
        write_array(
            dir.path(),
            "a",
            &volume,
            [4, 4, 4],
            Encoding::ShardedRaw { shard: [8, 8, 8] },
        )
        .unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = store();
    std::fs::write(dir.path().join("a/c/0/0/0"), data).unwrap();
    // Open afresh each time: the reader caches mapped shards.
    let array = MappedArray::<u16>::open(dir.path(), "a").unwrap();
    let _ = array.read(Bbox::from_shape([8, 8, 8]), PadMode::Edge);
});
