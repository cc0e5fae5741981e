//! The configuration parser: any text gives a `Config` or a typed error, never a panic.
#![no_main]

#[path = "../cases.rs"]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::config(data));
