//! Telemetry upload against the reference backend on 127.0.0.1: gzip batches within the
//! limits, retries, duplicates, rejections, deletion requests, the rate limit.

mod common;

use aparking_core::{Consent, NetworkConfig, Purpose, Telemetry, TelemetryConfig, TelemetryEvent};
use aparking_server::{Fault, FaultPlan, ReferenceServer, ServerConfig};
use common::privacy::*;
use common::*;
use std::sync::Arc;

struct Setup {
    _dir: tempfile::TempDir,
    server: ReferenceServer,
    consent: Arc<Consent>,
    telemetry: Arc<Telemetry>,
}

fn setup(config: impl FnOnce(TelemetryConfig) -> TelemetryConfig) -> Setup {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let server = ReferenceServer::start(ServerConfig::default()).expect("server starts");
    let consent = consent_with_policy(&store, 3);
    consent
        .accept_policy(3, Purpose::ALL.to_vec(), context())
        .unwrap();
    let telemetry =
        Telemetry::new(Arc::clone(&store), config(fast_config(&server.base_url()))).unwrap();
    Setup {
        _dir: dir,
        server,
        consent,
        telemetry,
    }
}

fn record_screens(t: &Telemetry, n: usize) {
    for i in 0..n {
        t.record(TelemetryEvent::ScreenView {
            screen: format!("screen_{}", i % 50),
        });
    }
    assert!(t.flush(10_000));
}

#[tokio::test]
async fn batches_arrive_gzipped_within_the_limits() {
    let s = setup(|c| c);
    record_screens(&s.telemetry, 1234);
    let summary = s.telemetry.upload().await.unwrap();
    assert!(summary.complete);
    assert_eq!(
        (
            summary.batches_sent,
            summary.events_sent,
            summary.duplicates
        ),
        (3, 1234, 0)
    );
    let stats = s.server.stats();
    assert_eq!(stats.events_stored, 1234);
    assert_eq!(stats.batches_received, 3);
    assert!(stats.max_events_in_batch <= 500);
    let last = stats.last_batch.unwrap();
    assert!(last.gzip, "sent gzipped");
    assert!(last.compressed_bytes < last.decompressed_bytes);
    assert_eq!(s.telemetry.pending_events(None).unwrap(), 0);
    assert_eq!(s.telemetry.counters().unwrap().uploaded, 1234);
}

#[tokio::test]
async fn the_byte_limit_splits_batches() {
    let s = setup(|c| TelemetryConfig {
        max_batch_bytes: 8_000,
        ..c
    });
    record_screens(&s.telemetry, 300);
    let summary = s.telemetry.upload().await.unwrap();
    assert!(summary.complete);
    assert!(
        summary.batches_sent >= 8,
        "{} batches",
        summary.batches_sent
    );
    let stats = s.server.stats();
    assert_eq!(stats.events_stored, 300);
    // The limit is on the events' JSON; the envelope adds well under 200 bytes.
    assert!(stats.last_batch.unwrap().decompressed_bytes <= 8_200);
}

#[tokio::test]
async fn after_503_then_200_nothing_is_lost_and_nothing_counted_twice() {
    let s = setup(|c| c);
    s.server.inject(FaultPlan::new().then(Fault::Status {
        code: 503,
        retry_after_secs: Some(1),
    }));
    record_screens(&s.telemetry, 700);
    let summary = s.telemetry.upload().await.unwrap();
    assert!(summary.complete);
    assert_eq!(summary.retries, 1);
    assert_eq!(summary.events_sent, 700);
    let stats = s.server.stats();
    assert_eq!(stats.status_count(503), 1);
    assert_eq!(stats.events_stored, 700, "nothing lost");
    assert_eq!(stats.duplicate_events, 0, "nothing counted twice");
}

#[tokio::test]
async fn a_lost_answer_is_retried_and_deduplicated_by_event_id() {
    let s = setup(|c| c);
    s.server
        .inject(FaultPlan::new().then(Fault::DropAfterApply));
    record_screens(&s.telemetry, 120);
    let summary = s.telemetry.upload().await.unwrap();
    assert!(summary.complete);
    assert_eq!(summary.retries, 1);
    assert_eq!(summary.duplicates, 120, "the backend had them already");
    let stats = s.server.stats();
    assert_eq!(stats.events_stored, 120, "stored once");
    assert_eq!(stats.duplicate_events, 120);
}

#[tokio::test]
async fn a_rejected_batch_is_dropped_and_counted() {
    let s = setup(|c| c);
    s.server.inject(FaultPlan::new().then(Fault::Status {
        code: 400,
        retry_after_secs: None,
    }));
    record_screens(&s.telemetry, 10);
    let summary = s.telemetry.upload().await.unwrap();
    assert!(summary.complete);
    assert_eq!(
        (
            summary.events_rejected,
            summary.events_sent,
            summary.retries
        ),
        (10, 0, 0)
    );
    assert_eq!(s.telemetry.pending_events(None).unwrap(), 0);
    assert_eq!(s.telemetry.counters().unwrap().rejected, 10);
    assert_eq!(s.server.stats().events_stored, 0);
}

#[tokio::test]
async fn retries_stop_after_max_attempts_and_keep_everything() {
    let s = setup(|c| TelemetryConfig {
        network: NetworkConfig {
            max_attempts: 3,
            ..c.network.clone()
        },
        ..c
    });
    s.server.inject(FaultPlan::new().repeat_on(
        "/v1/telemetry",
        Fault::Status {
            code: 500,
            retry_after_secs: None,
        },
        3,
    ));
    record_screens(&s.telemetry, 50);
    let summary = s.telemetry.upload().await.unwrap();
    assert!(!summary.complete);
    assert!(summary.retry_after_ms.is_some());
    assert_eq!(
        s.telemetry.pending_events(None).unwrap(),
        50,
        "kept for later"
    );
    let summary = s.telemetry.upload().await.unwrap();
    assert!(summary.complete);
    assert_eq!(s.server.stats().events_stored, 50);
}

#[tokio::test]
async fn the_rate_limit_stops_early_and_says_when_to_retry() {
    let s = setup(|c| TelemetryConfig {
        max_uploads_per_minute: 2,
        ..c
    });
    record_screens(&s.telemetry, 1500);
    let summary = s.telemetry.upload().await.unwrap();
    assert!(!summary.complete);
    assert_eq!(summary.batches_sent, 2);
    assert!(summary.retry_after_ms.unwrap() > 0);
    assert_eq!(s.telemetry.pending_events(None).unwrap(), 500);
}

#[tokio::test]
async fn deletion_requests_go_first_and_erase_the_backends_copy() {
    let s = setup(|c| c);
    record_screens(&s.telemetry, 40);
    s.telemetry.record(TelemetryEvent::CoarseLocation {
        latitude: 43.238949,
        longitude: 76.889709,
    });
    assert!(s.telemetry.flush(5_000));
    s.telemetry.upload().await.unwrap();
    let location = s
        .server
        .stored_events()
        .into_iter()
        .find(|e| e.kind == "coarse_location")
        .unwrap();
    assert_eq!(
        location.data["latitude"], 43.24,
        "coarsened before it left the device"
    );
    assert_eq!(s.server.stats().events_stored, 41);

    s.consent
        .withdraw(vec![Purpose::ServiceImprovement], context())
        .unwrap();
    let summary = s.telemetry.upload().await.unwrap();
    assert_eq!(summary.deletion_requests_sent, 1);
    let stats = s.server.stats();
    assert_eq!(stats.deletion_requests, 1);
    assert_eq!(
        stats.events_deleted, 40,
        "the withdrawn purpose's events are gone"
    );
    assert_eq!(s.telemetry.pending_deletion_requests().unwrap(), 0);
}

#[tokio::test]
async fn nothing_is_sent_before_acceptance() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let _consent = consent_with_policy(&store, 1);
    let t = Telemetry::new(Arc::clone(&store), fast_config(&server.base_url())).unwrap();
    for e in one_of_each() {
        t.record(e);
    }
    let summary = t.upload().await.unwrap();
    assert!(summary.complete);
    assert_eq!(summary.events_sent, 0);
    assert_eq!(server.stats().batches_received, 0);
    assert_eq!(
        server.stats().requests_by_status.values().sum::<u64>(),
        0,
        "no request at all"
    );
}

/// Issue #11, point 1: a queued event's clear purpose column is what a withdrawal purges
/// by; an event whose column was edited to another purpose escapes the purge, and is then
/// dropped unsent because its sealed purpose differs.
#[tokio::test]
async fn an_event_whose_purpose_column_was_edited_is_never_sent() {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let server = ReferenceServer::start(ServerConfig::default()).expect("server starts");
    let consent = consent_with_policy(&store, 3);
    consent
        .accept_policy(3, Purpose::ALL.to_vec(), context())
        .unwrap();
    let telemetry = Telemetry::new(Arc::clone(&store), fast_config(&server.base_url())).unwrap();
    telemetry.record(TelemetryEvent::ScreenView {
        screen: "parking_map".into(),
    });
    assert!(telemetry.flush(10_000));
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        conn.execute(
            "UPDATE telemetry_events SET purpose = 'connection_diagnostics'",
            []
        )
        .unwrap(),
        1
    );
    drop(conn);
    consent
        .withdraw(vec![Purpose::ServiceImprovement], context())
        .unwrap();
    assert_eq!(
        telemetry.pending_events(None).unwrap(),
        1,
        "the purge missed it"
    );
    telemetry.upload().await.unwrap();
    let stats = server.stats();
    // Not sent at all: not stored, and not even received and suppressed by the backend
    // under the withdrawal's deletion request.
    assert_eq!(
        (stats.events_stored, stats.suppressed_events),
        (0, 0),
        "and it was not sent"
    );
    assert_eq!(telemetry.pending_events(None).unwrap(), 0, "it was dropped");
    telemetry.shutdown();
    drop(dir);
}
