//! The Zarr metadata reader: any `zarr.json` gives `ArrayMeta` or a typed error, and an array
//! that opens reads a window without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxload::store::ArrayMeta;
use voxload::{Bbox, MappedArray, OpenOptions, PadMode};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let array = dir.path().join("a");
    std::fs::create_dir(&array).unwrap();
    std::fs::write(array.join("zarr.json"), data).unwrap();
    let Ok(meta) = ArrayMeta::read(&array) else {
        return;
    };
    // Only open arrays small enough to read whole.
    if meta.shape.iter().product::<u64>() > 1 << 16 || meta.chunk.iter().product::<u64>() > 1 << 16
    {
        return;
    }
    let options = OpenOptions {
        allow_incomplete: true,
        ..OpenOptions::default()
    };
    if let Ok(a) = MappedArray::<u8>::open_with(dir.path(), "a", &options) {
        let _ = a.read(Bbox::from_shape(meta.shape), PadMode::Reflect);
    }
});
