//! See `cases::options` in `fuzz/cases.rs`.
#![no_main]

#[path = "../cases.rs"]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::options(data));
