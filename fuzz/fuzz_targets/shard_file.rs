//! The shard index reader: a shard file of any bytes reads as data or a typed error.
#![no_main]

#[path = "../cases.rs"]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::shard_file(data));
