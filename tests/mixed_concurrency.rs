//! Eight threads doing mixed operations on one store for a bounded time: store writes and
//! reads, consent changes, telemetry recording, key rotation, export. No error, no
//! deadlock (a watchdog fails the test instead of hanging), consistent data after.

mod common;

use aparking_core::testing::pending_sync_changes;
use aparking_core::{NewVehicle, Purpose, TelemetryEvent, VehiclePatch};
use common::privacy::*;
use common::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const RUN_FOR: Duration = Duration::from_secs(3);
const DEADLOCK_AFTER: Duration = Duration::from_secs(60);

#[test]
fn eight_threads_mixed_operations_no_error_no_deadlock() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = consent_all_granted(&store);
    let t = telemetry(&store, "http://127.0.0.1:9");
    let stop = Arc::new(AtomicBool::new(false));
    let added = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = mpsc::channel();

    for worker in 0..8u64 {
        let (store, consent, t, stop, added, done) = (
            Arc::clone(&store),
            Arc::clone(&consent),
            Arc::clone(&t),
            Arc::clone(&stop),
            Arc::clone(&added),
            done_tx.clone(),
        );
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match (worker, i % 4) {
                    (0..=3, _) => {
                        let n = worker * 100_000 + i;
                        let plate = format!(
                            "{:03}{}{:02}",
                            n % 1000,
                            ["AAA", "BBB", "CCC", "DDD"][worker as usize],
                            (n / 1000) % 20 + 1
                        );
                        if let Ok(v) = store.add_vehicle(NewVehicle {
                            plate,
                            ..Default::default()
                        }) {
                            added.fetch_add(1, Ordering::Relaxed);
                            store
                                .update_vehicle(
                                    v.id.clone(),
                                    VehiclePatch {
                                        nickname: Some(format!("n{i}")),
                                        ..Default::default()
                                    },
                                )
                                .unwrap();
                            assert!(store.get_vehicle(v.id).unwrap().is_some());
                        }
                    }
                    (4, _) => {
                        store.list_vehicles().unwrap();
                        common::export_schema::validated_export(&store);
                    }
                    (5, 0) => {
                        consent
                            .withdraw(vec![Purpose::Statistics], context())
                            .unwrap();
                    }
                    (5, _) => {
                        consent
                            .accept_policy(1, Purpose::ALL.to_vec(), context())
                            .unwrap();
                    }
                    (6, _) => {
                        for _ in 0..50 {
                            t.record(TelemetryEvent::ScreenView {
                                screen: format!("s{}", i % 20),
                            });
                            t.record(TelemetryEvent::CoarseLocation {
                                latitude: 43.2,
                                longitude: 76.9,
                            });
                        }
                    }
                    (7, 0) => store.rotate_data_key().unwrap(),
                    (7, _) => {
                        store.info().unwrap();
                        t.counters().unwrap();
                    }
                    _ => unreachable!(),
                }
                i += 1;
            }
            done.send(worker).unwrap();
        });
    }
    drop(done_tx);
    std::thread::sleep(RUN_FOR);
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + DEADLOCK_AFTER;
    let mut finished = 0;
    while finished < 8 {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(_) => finished += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("deadlock: {} of 8 threads finished", finished)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("a worker thread panicked"),
        }
    }
    assert!(t.flush(10_000));

    // Consistent afterwards: every vehicle readable, one outbox create per vehicle,
    // integrity ok after a reopen.
    let vehicles = store.list_vehicles().unwrap();
    assert_eq!(vehicles.len() as u64, added.load(Ordering::Relaxed));
    assert!(
        vehicles.len() > 20,
        "the threads made progress ({} vehicles)",
        vehicles.len()
    );
    let creates = pending_sync_changes(&store)
        .unwrap()
        .iter()
        .filter(|(e, _, op, f)| e == "vehicle" && op == "upsert" && f.get("plate").is_some())
        .count();
    assert_eq!(creates, vehicles.len());
    t.shutdown();
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
