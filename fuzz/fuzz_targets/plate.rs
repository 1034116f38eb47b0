//! Fuzz target: `check_plate` in fuzz/src/harness.rs (UTF-8 inputs; others are skipped).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = std::str::from_utf8(data) {
        aparking_core_fuzz::harness::check_plate(input);
    }
});
