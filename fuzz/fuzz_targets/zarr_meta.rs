//! The Zarr metadata reader: any `zarr.json` gives `ArrayMeta` or a typed error, and an array
//! that opens reads a window without panicking.
#![no_main]

#[path = "../cases.rs"]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::zarr_meta(data));
