//! Interrupting long operations: a sync whose future is dropped (a cancelled Kotlin
//! coroutine or Swift task), a store shut down under a running sync, telemetry shut down
//! during an upload. Each stops cleanly, and the next run loses nothing and applies
//! nothing twice.

mod common;

use aparking_core::{
    AparkingError, Consent, Purpose, Store, SyncClient, Telemetry, TelemetryConfig, TelemetryEvent,
};
use aparking_server::{Fault, FaultPlan, ReferenceServer};
use common::privacy::{context, policy};
use common::sync::*;
use common::*;
use std::sync::Arc;
use std::time::Duration;

/// A backend with one account, and a store of 700 vehicles waiting to be pushed (two push
/// batches of at most 500) with its sync client.
struct Pending {
    server: ReferenceServer,
    account: String,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<Store>,
    sync: Arc<SyncClient>,
}

const PENDING: usize = 700;

fn pending_vehicles() -> Pending {
    let (server, account) = server_with_account("token-i");
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    for i in 0..PENDING {
        add_plate(&store, &format!("{:03}INT{:02}", i % 1000, i / 1000 + 1));
    }
    let sync = sync_client(&store, &server, "token-i");
    Pending {
        server,
        account,
        _dir: dir,
        path,
        store,
        sync,
    }
}

#[tokio::test]
async fn a_dropped_sync_future_stops_the_sync_and_the_next_one_finishes_the_work() {
    let Pending {
        server,
        account,
        _dir,
        path: _,
        store: _store,
        sync,
    } = pending_vehicles();

    // The second push batch is slow; the caller gives up (drops the future) meanwhile.
    server.inject(
        FaultPlan::new()
            .then_on("/v1/sync/push", Fault::Delay(Duration::ZERO))
            .then_on("/v1/sync/push", Fault::Delay(Duration::from_millis(400))),
    );
    let outcome = tokio::time::timeout(Duration::from_millis(200), sync.sync()).await;
    assert!(
        outcome.is_err(),
        "the sync was still running and was dropped"
    );

    // The lock is released at once: the next sync runs (no SyncInProgress) and finishes.
    tokio::time::sleep(Duration::from_millis(400)).await; // let the slow request land
    let summary = sync.sync().await.unwrap();
    assert_eq!(summary.pending, 0);
    assert_eq!(server.records(&account).len(), 700, "nothing lost");
    assert_eq!(
        server.stats().changes_applied,
        700,
        "each change applied once"
    );
    assert_eq!(sync.pending_changes().unwrap(), 0);
}

#[tokio::test]
async fn shutting_the_store_down_under_a_running_sync_is_a_clean_store_closed() {
    let Pending {
        server,
        account,
        _dir,
        path,
        store,
        sync,
    } = pending_vehicles();
    server.inject(
        FaultPlan::new().then_on("/v1/sync/push", Fault::Delay(Duration::from_millis(300))),
    );
    let (result, _) = tokio::join!(sync.sync(), async {
        until_delay_faults(&server, 1).await; // the first push is being held
        store.close().unwrap();
    });
    assert_eq!(result.unwrap_err(), AparkingError::StoreClosed);
    assert_eq!(
        store.list_vehicles().unwrap_err(),
        AparkingError::StoreClosed,
        "closed means closed"
    );
    drop(sync);

    // The app starts again: the first batch was applied by the backend but its answer was
    // not saved; resending it is recognised, nothing is applied twice.
    let store = open(&path, &key(1));
    assert_eq!(store.list_vehicles().unwrap().len(), 700);
    let sync = sync_client(&store, &server, "token-i");
    assert_eq!(sync.sync().await.unwrap().pending, 0);
    assert_eq!(server.records(&account).len(), 700);
    assert_eq!(server.stats().changes_applied, 700);
}

#[tokio::test]
async fn telemetry_shut_down_during_an_upload_keeps_what_was_not_confirmed() {
    let (server, _account) = server_with_account("token-i");
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    consent.publish_policy(policy(1)).unwrap();
    consent
        .accept_policy(1, vec![Purpose::ServiceImprovement], context())
        .unwrap();
    let config = TelemetryConfig {
        network: fast_network(),
        max_uploads_per_minute: 1000,
        ..TelemetryConfig::new(server.base_url())
    };
    let telemetry = Telemetry::new(Arc::clone(&store), config.clone()).unwrap();
    for i in 0..600 {
        telemetry.record(TelemetryEvent::ScreenView {
            screen: format!("screen_{}", i % 7),
        });
    }
    assert!(telemetry.flush(5_000));
    server.inject(
        FaultPlan::new()
            .then_on("/v1/telemetry", Fault::Delay(Duration::ZERO))
            .then_on("/v1/telemetry", Fault::Delay(Duration::from_millis(400))),
    );
    let uploading = tokio::time::timeout(Duration::from_millis(200), telemetry.upload()).await;
    assert!(
        uploading.is_err(),
        "dropped while the second batch was in flight"
    );
    telemetry.shutdown();
    drop(telemetry);
    tokio::time::sleep(Duration::from_millis(400)).await;

    let again = Telemetry::new(Arc::clone(&store), config).unwrap();
    let summary = again.upload().await.unwrap();
    assert!(summary.complete, "{summary:?}");
    let stats = server.stats();
    assert_eq!(
        stats.events_stored, 600,
        "every event arrived once: {stats:?}"
    );
    assert_eq!(again.pending_events(None).unwrap(), 0);
}
