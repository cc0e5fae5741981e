//! The configuration parser: any text gives a `Config` or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = voxload::config::Config::from_str_at(text, "/nonexistent");
    }
});
