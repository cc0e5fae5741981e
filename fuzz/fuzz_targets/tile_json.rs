//! The tile JSON parser: any bytes give a `TileSpec` or a typed error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use voxload::ingest::TileSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(spec) = TileSpec::from_value(&doc, Path::new("fuzz.json"), Path::new("/nonexistent"))
    {
        // Lay out the first slice when its tile grid is small enough to list.
        let rows = spec.shape[1].div_ceil(spec.tile[0]);
        let columns = spec.shape[2].div_ceil(spec.tile[1]);
        if rows.saturating_mul(columns) <= 4096 {
            let _ = spec.tiles(0);
        }
    }
});
