//! Fuzz target: a push answer as the sync client decodes and applies it
//! (`Harness::push_answer`); `"#N"` stands for the id of the pushed change N.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aparking_core_fuzz::harness().push_answer(data);
});
