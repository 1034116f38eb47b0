//! A burst of `record()` calls back to back from one thread is kept whole (issue #14,
//! point 6): the default buffer holds more than the burst, so nothing depends on how fast
//! the worker or the disk is; the worker then stores every event.

mod common;

use aparking_core::{Telemetry, TelemetryConfig, TelemetryEvent};
use common::privacy::*;
use common::*;
use std::sync::Arc;

const BURST: usize = 10_000;

#[test]
fn ten_thousand_records_back_to_back_are_all_stored() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    consent_all_granted(&store);
    let telemetry = Telemetry::new(
        Arc::clone(&store),
        TelemetryConfig::new("http://127.0.0.1:9"),
    )
    .unwrap();
    let events: Vec<TelemetryEvent> = (0..BURST)
        .map(|i| TelemetryEvent::ScreenView {
            screen: format!("screen_{}", i % 32),
        })
        .collect();
    for event in events {
        telemetry.record(event);
    }
    assert!(telemetry.flush(120_000), "every event processed and stored");
    let counters = telemetry.counters().unwrap();
    assert_eq!(counters.dropped_buffer_full, 0, "{counters:?}");
    assert_eq!(counters.stored, BURST as i64, "{counters:?}");
    assert_eq!(telemetry.pending_events(None).unwrap(), BURST as i64);
}

#[test]
fn a_smaller_buffer_counts_what_it_could_not_hold() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    consent_all_granted(&store);
    let config = TelemetryConfig {
        buffer_capacity: 16,
        ..TelemetryConfig::new("http://127.0.0.1:9")
    };
    let telemetry = Telemetry::new(Arc::clone(&store), config).unwrap();
    for i in 0..BURST {
        telemetry.record(TelemetryEvent::ScreenView {
            screen: format!("screen_{}", i % 32),
        });
    }
    telemetry.flush(120_000);
    let counters = telemetry.counters().unwrap();
    assert!(counters.dropped_buffer_full > 0, "{counters:?}");
    assert_eq!(
        counters.stored + counters.dropped_buffer_full,
        BURST as i64,
        "every event stored or counted: {counters:?}"
    );
}
