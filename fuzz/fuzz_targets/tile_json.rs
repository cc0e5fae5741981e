//! The tile JSON parser: any bytes give a `TileSpec` or a typed error, never a panic.
#![no_main]

#[path = "../cases.rs"]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::tile_json(data));
