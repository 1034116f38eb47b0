//! `Telemetry::record()` on the caller's thread.
//!
//! Criterion measures the mean of many calls; a second harness times every call to report
//! p50 and p99 (criterion does not report per-call percentiles). Two paths:
//! - `allowed`: the purpose is consented, the event is pushed into the buffer;
//! - `denied`: the purpose is not consented, the event is dropped and counted.
//!
//! Events are built before the timed region (building them is the app's cost, not the
//! SDK's); the worker drains the buffer between chunks, outside the timed region.
//! Figures go to docs/performance.md.

use aparking_core::{
    CollectionMethod, Consent, ConsentContext, InMemoryKeyProvider, Purpose, Store, Telemetry,
    TelemetryConfig, TelemetryEvent,
};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHUNK: usize = 1000;

fn setup(grant: bool) -> (tempfile::TempDir, Arc<Telemetry>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("bench.db").to_string_lossy().into_owned(),
        Arc::new(InMemoryKeyProvider::random()),
    )
    .unwrap();
    let consent = Consent::new(Arc::clone(&store));
    consent
        .publish_policy(aparking_core::testing::policy(1))
        .unwrap();
    if grant {
        let context = ConsentContext {
            app_version: "bench".into(),
            locale: "en".into(),
            collection_method: CollectionMethod::SettingsScreen,
            subject_id: None,
        };
        consent
            .accept_policy(1, vec![Purpose::ServiceImprovement], context)
            .unwrap();
    }
    let telemetry = Telemetry::new(store, TelemetryConfig::new("http://127.0.0.1:9")).unwrap();
    (dir, telemetry)
}

fn events(n: usize) -> Vec<TelemetryEvent> {
    (0..n)
        .map(|i| TelemetryEvent::ScreenView {
            screen: format!("screen_{}", i % 16),
        })
        .collect()
}

fn criterion_record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    for (name, grant) in [("allowed", true), ("denied", false)] {
        let (_dir, telemetry) = setup(grant);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let batch = events(n);
                    let start = Instant::now();
                    for e in batch {
                        telemetry.record(e);
                    }
                    total += start.elapsed();
                    telemetry.flush(10_000);
                    left -= n;
                }
                total
            })
        });
    }
    g.finish();
    percentiles();
    worker_rate();
}

/// A burst of 10,000 `record()` calls back to back on a new store, then `flush()`: how
/// long until the worker has stored them all, as events per second (median of 5 rounds),
/// and whether any was dropped.
fn worker_rate() {
    const BURST: usize = 10_000;
    let mut rates = Vec::new();
    for _ in 0..5 {
        let (_dir, telemetry) = setup(true);
        let batch = events(BURST);
        let start = Instant::now();
        for e in batch {
            telemetry.record(e);
        }
        let recorded = start.elapsed();
        assert!(telemetry.flush(60_000));
        let stored = start.elapsed();
        let counters = telemetry.counters().unwrap();
        assert_eq!(counters.stored, BURST as i64, "{counters:?}");
        rates.push((BURST as f64 / stored.as_secs_f64(), recorded));
    }
    rates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rate, recorded) = rates[rates.len() / 2];
    println!(
        "worker: a burst of {BURST} record() calls ({recorded:?} on the caller's thread) stored \
         whole at {rate:.0} events/s (median of 5; min {:.0}, max {:.0})",
        rates[0].0,
        rates[rates.len() - 1].0
    );
}

/// Times every call; prints p50, p99 and p99.9 per path, and the timer's own cost.
fn percentiles() {
    const CALLS: usize = 200_000;
    let mut overhead: Vec<u64> = (0..CALLS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(());
            start.elapsed().as_nanos() as u64
        })
        .collect();
    overhead.sort_unstable();
    println!(
        "record percentiles over {CALLS} calls (timer overhead p50 {} ns, included below)",
        overhead[CALLS / 2]
    );
    for (name, grant) in [("allowed", true), ("denied", false)] {
        let (_dir, telemetry) = setup(grant);
        let mut samples = Vec::with_capacity(CALLS);
        while samples.len() < CALLS {
            for e in events(CHUNK) {
                let start = Instant::now();
                telemetry.record(e);
                samples.push(start.elapsed().as_nanos() as u64);
            }
            telemetry.flush(10_000);
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        println!(
            "record/{name}: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            at(0.50),
            at(0.99),
            at(0.999),
            samples[samples.len() - 1]
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = criterion_record
}
criterion_main!(benches);
