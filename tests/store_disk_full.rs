//! A full disk (simulated with `PRAGMA max_page_count`): writes fail with the typed
//! `StorageFull`, nothing stored before is lost, and the store works again once there is
//! room. Telemetry counts what it could not store.

mod common;

use aparking_core::testing::{limit_pages, pending_sync_changes};
use aparking_core::{AparkingError, NewVehicle, TelemetryEvent};
use common::privacy::*;
use common::*;

fn plate(n: u32) -> String {
    format!("{:03}KZX{:02}", n % 1000, n % 20 + 1)
}

#[test]
fn a_full_disk_is_a_typed_error_and_loses_nothing() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let in_use = limit_pages(&store, 0).unwrap();
    limit_pages(&store, in_use + 2).unwrap();

    let mut added = 0;
    let err = loop {
        let note = "x".repeat(60);
        match store.add_vehicle(NewVehicle {
            plate: plate(added),
            nickname: Some(note),
            ..Default::default()
        }) {
            Ok(_) => added += 1,
            Err(e) => break e,
        }
        assert!(added < 10_000, "the cap never bit");
    };
    assert_eq!(err, AparkingError::StorageFull);
    assert!(!err.to_string().contains("KZX"), "no value in the message");

    // Everything written before is intact and readable; the failed write left nothing.
    assert_eq!(store.list_vehicles().unwrap().len(), 3 + added as usize);
    assert!(store.get_profile().unwrap().is_some());
    assert_eq!(store.list_documents().unwrap().len(), 2);
    let creates = pending_sync_changes(&store)
        .unwrap()
        .iter()
        .filter(|c| c.0 == "vehicle")
        .count();
    assert_eq!(creates, 3 + added as usize, "the outbox matches the data");

    // Room again: the store carries on.
    limit_pages(&store, 1_000_000).unwrap();
    store
        .add_vehicle(NewVehicle {
            plate: plate(9_999),
            ..Default::default()
        })
        .unwrap();
    drop(store);
    let store = open(&path, &key(1));
    assert_eq!(store.list_vehicles().unwrap().len(), 4 + added as usize);
}

#[test]
fn telemetry_counts_what_a_full_disk_refused() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    consent_all_granted(&store);
    let t = telemetry(&store, "http://127.0.0.1:9");
    t.record(TelemetryEvent::SessionStart);
    assert!(t.flush(5_000));
    let in_use = limit_pages(&store, 0).unwrap();
    limit_pages(&store, in_use).unwrap();
    // About a megabyte of events: more than any free pages left in the file can take.
    for i in 0..1000 {
        t.record(TelemetryEvent::ScreenView {
            screen: format!("screen_{i}_{}", "y".repeat(100)),
        });
    }
    assert!(!t.flush(5_000), "flush reports that events were lost");
    // A flush that timed out on a loaded machine leaves batches in the worker: wait
    // (bounded) until it has taken every event.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut counters = t.counters().unwrap();
    while counters.stored + counters.dropped_store_error < 1001
        && std::time::Instant::now() < deadline
    {
        t.flush(1_000);
        counters = t.counters().unwrap();
    }
    limit_pages(&store, 1_000_000).unwrap();
    assert!(
        counters.dropped_store_error > 0,
        "refused batches are counted"
    );
    assert_eq!(
        counters.stored + counters.dropped_store_error,
        1001,
        "every event is stored or counted"
    );
    assert!(
        t.pending_events(None).unwrap() >= 1,
        "what was stored before is still there"
    );
}
