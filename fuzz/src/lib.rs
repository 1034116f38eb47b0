//! Shared code of the fuzz targets: see [`harness`].

pub mod harness;

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

/// Printed when libFuzzer exits: how many inputs went the whole way (fuzz/run.sh and
/// docs/fuzzing.md report it next to libFuzzer's execution count).
extern "C" fn report() {
    eprintln!(
        "harness: {} full runs, {} inputs skipped early (not JSON or not UTF-8)",
        harness::FULL_RUNS.load(Ordering::Relaxed),
        harness::SKIPPED.load(Ordering::Relaxed)
    );
}

/// The process's harness (fixtures are built once, on first use).
pub fn harness() -> MutexGuard<'static, harness::Harness> {
    static HARNESS: OnceLock<Mutex<harness::Harness>> = OnceLock::new();
    HARNESS
        .get_or_init(|| {
            // SAFETY: registers a function without arguments that only reads atomics and
            // writes to stderr.
            unsafe { atexit(report) };
            Mutex::new(harness::Harness::new())
        })
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}
