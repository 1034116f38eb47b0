//! Account erasure that cannot leave local data behind: an erasure interrupted after the
//! backend applied it (lost answer, dropped call) is finished by the next sync; a definite
//! refusal leaves everything as it was.

mod common;

use aparking_core::{AparkingError, NetworkConfig, Store, SyncClient};
use aparking_server::{Fault, FaultPlan, ReferenceServer};
use common::sync::*;
use common::*;
use std::sync::Arc;
use std::time::Duration;

struct Device {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    sync: Arc<SyncClient>,
}

fn device(server: &ReferenceServer, token: &'static str) -> Device {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let network = NetworkConfig {
        max_attempts: 1,
        ..NetworkConfig::default()
    };
    let sync = sync_client_with(&store, server, token, network);
    Device {
        _dir: dir,
        store,
        sync,
    }
}

fn live_records(server: &ReferenceServer, account: &str) -> usize {
    server
        .records(account)
        .iter()
        .filter(|r| !r.deleted)
        .count()
}

#[tokio::test]
async fn an_erasure_whose_answer_was_lost_is_finished_by_the_next_sync() {
    let (server, account) = server_with_account("token-e");
    let d = device(&server, "token-e");
    d.sync.sync().await.unwrap();
    assert!(live_records(&server, &account) > 0);

    server.inject(FaultPlan::new().then_on("/v1/account", Fault::DropAfterApply));
    let err = d.sync.delete_account().await.unwrap_err();
    assert!(matches!(err, AparkingError::Network { .. }), "{err:?}");
    assert_eq!(live_records(&server, &account), 0, "the backend did erase");
    assert!(d.sync.is_account_erasure_pending().unwrap());
    assert_eq!(
        d.store.list_vehicles().unwrap().len(),
        3,
        "not yet erased here"
    );

    let summary = d.sync.sync().await.unwrap();
    assert_eq!(
        (summary.pushed, summary.pulled),
        (0, 0),
        "nothing pushed back up"
    );
    assert!(!d.sync.is_account_erasure_pending().unwrap());
    assert!(d.store.list_vehicles().unwrap().is_empty());
    assert!(d.store.get_profile().unwrap().is_none());
    assert_eq!(live_records(&server, &account), 0);
}

#[tokio::test]
async fn a_dropped_erasure_call_is_finished_by_the_next_delete_account() {
    let (server, account) = server_with_account("token-e");
    let d = device(&server, "token-e");
    d.sync.sync().await.unwrap();
    server
        .inject(FaultPlan::new().then_on("/v1/account", Fault::Delay(Duration::from_millis(300))));
    let dropped = tokio::time::timeout(Duration::from_millis(100), d.sync.delete_account()).await;
    assert!(dropped.is_err(), "the call was dropped mid-flight");
    assert!(d.sync.is_account_erasure_pending().unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;

    d.sync.delete_account().await.unwrap();
    assert!(!d.sync.is_account_erasure_pending().unwrap());
    assert!(d.store.list_documents().unwrap().is_empty());
    assert_eq!(live_records(&server, &account), 0);
    // The dropped request may or may not have reached the handler; erasing again is harmless.
    assert!(server.stats().account_erasures >= 1);
}

#[tokio::test]
async fn a_definite_refusal_leaves_everything_as_it_was() {
    let (server, account) = server_with_account("token-e");
    let owner = device(&server, "token-e");
    owner.sync.sync().await.unwrap();
    let before = live_records(&server, &account);

    let stranger = device(&server, "not-a-token");
    let err = stranger.sync.delete_account().await.unwrap_err();
    assert!(matches!(err, AparkingError::AuthRequired { .. }), "{err:?}");
    assert!(!stranger.sync.is_account_erasure_pending().unwrap());
    assert_eq!(
        stranger.store.list_vehicles().unwrap().len(),
        3,
        "nothing erased"
    );
    assert_eq!(live_records(&server, &account), before);
}

#[tokio::test]
async fn an_erasure_rate_limited_past_its_retries_stays_pending_and_the_next_sync_finishes_it() {
    let (server, account) = server_with_account("token-e");
    let d = device(&server, "token-e");
    d.sync.sync().await.unwrap();
    server.inject(FaultPlan::new().then_on(
        "/v1/account",
        Fault::Status {
            code: 429,
            retry_after_secs: None,
        },
    ));
    let err = d.sync.delete_account().await.unwrap_err();
    assert!(
        matches!(&err, AparkingError::Network { reason, .. } if reason == "HTTP 429"),
        "{err:?}"
    );
    assert!(
        d.sync.is_account_erasure_pending().unwrap(),
        "a rate limit is not a refusal: the erasure is still owed"
    );
    assert!(live_records(&server, &account) > 0, "not erased yet");

    d.sync.sync().await.unwrap();
    assert!(!d.sync.is_account_erasure_pending().unwrap());
    assert!(d.store.list_vehicles().unwrap().is_empty());
    assert_eq!(live_records(&server, &account), 0);
}

#[tokio::test]
async fn an_erasure_refused_with_a_client_error_is_not_pending() {
    let (server, account) = server_with_account("token-e");
    let d = device(&server, "token-e");
    d.sync.sync().await.unwrap();
    let before = live_records(&server, &account);
    server.inject(FaultPlan::new().then_on(
        "/v1/account",
        Fault::Status {
            code: 403,
            retry_after_secs: None,
        },
    ));
    let err = d.sync.delete_account().await.unwrap_err();
    assert!(
        matches!(&err, AparkingError::Network { reason, .. } if reason == "HTTP 403"),
        "{err:?}"
    );
    assert!(!d.sync.is_account_erasure_pending().unwrap());
    assert_eq!(d.store.list_vehicles().unwrap().len(), 3, "nothing erased");
    assert_eq!(live_records(&server, &account), before);
}
