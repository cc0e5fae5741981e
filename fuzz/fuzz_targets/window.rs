//! The window reader: arbitrary windows and pad modes on small raw and sharded arrays equal a
//! voxel-by-voxel oracle, or are typed errors for absurd sizes; never a panic.
#![no_main]

#[path = "../cases.rs"]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::window(data));
