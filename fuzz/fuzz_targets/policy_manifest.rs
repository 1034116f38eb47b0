//! Fuzz target: a policy manifest, as bundled with the app and as served by the backend
//! (`Harness::policy_manifest`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aparking_core_fuzz::harness().policy_manifest(data);
});
