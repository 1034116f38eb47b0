//! Fuzz target: opening a damaged store file with the fixture's key
//! (`Harness::open_damaged`): byte flips in a valid store or in its write-ahead log, or
//! the input as the whole file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = aparking_core_fuzz::harness().open_damaged(data);
});
