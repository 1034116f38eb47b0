//! Fuzz target: a pull page as the sync client decodes and merges it
//! (`Harness::pull_page`). The first byte picks who wins conflicts (odd: this device); the
//! rest is the page served by the loopback backend.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&flags, page)) = data.split_first() {
        aparking_core_fuzz::harness().pull_page(page, flags & 1 == 1);
    }
});
