//! Push against the reference backend on 127.0.0.1: round trip, lost answers, retries,
//! token refresh, concurrent syncs, and the answers a change from another device gives.

mod common;

use aparking_core::{
    AparkingError, AuthProvider, AuthProviderError, NetworkConfig, NewVehicle, SyncClient,
    SyncConfig, VehiclePatch,
};
use aparking_server::{Fault, FaultPlan, ReferenceServer, ServerConfig};
use common::sync::until_delay_faults;
use common::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Gives `tokens` in turn: the first for a normal call, the next ones for refreshes.
struct Tokens {
    tokens: Mutex<Vec<String>>,
    refreshes: AtomicU32,
}

impl Tokens {
    fn new(tokens: &[&str]) -> Arc<Self> {
        Arc::new(Tokens {
            tokens: Mutex::new(tokens.iter().rev().map(|t| t.to_string()).collect()),
            refreshes: AtomicU32::new(0),
        })
    }
}

impl AuthProvider for Tokens {
    fn bearer_token(&self, refresh: bool) -> Result<String, AuthProviderError> {
        let mut tokens = self.tokens.lock().unwrap();
        if refresh {
            self.refreshes.fetch_add(1, Ordering::Relaxed);
            if tokens.len() > 1 {
                tokens.pop();
            }
        }
        tokens.last().cloned().ok_or(AuthProviderError::SignedOut {
            reason: "no session".into(),
        })
    }
}

struct Device {
    _dir: tempfile::TempDir,
    store: Arc<aparking_core::Store>,
    sync: Arc<SyncClient>,
}

fn fast(server: &ReferenceServer) -> SyncConfig {
    SyncConfig {
        network: NetworkConfig {
            retry_base_delay_ms: 5,
            retry_max_delay_ms: 50,
            ..NetworkConfig::default()
        },
        ..SyncConfig::new(server.base_url())
    }
}

fn device(server: &ReferenceServer, auth: Arc<dyn AuthProvider>) -> Device {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let sync = SyncClient::new(Arc::clone(&store), fast(server), auth).unwrap();
    Device {
        _dir: dir,
        store,
        sync,
    }
}

fn server_with_account() -> (ReferenceServer, String) {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let account = server.add_account("token-a");
    (server, account)
}

#[tokio::test]
async fn local_changes_reach_the_backend_once() {
    let (server, account) = server_with_account();
    let d = device(&server, Tokens::new(&["token-a"]));
    fill_sample(&d.store);
    let summary = d.sync.sync().await.unwrap();
    assert_eq!(
        (summary.pushed, summary.pending, summary.conflicts),
        (6, 0, 0)
    );
    let records = server.records(&account);
    assert_eq!(records.len(), 6);
    let car = d
        .store
        .find_vehicle_by_plate("123ABC02".into())
        .unwrap()
        .unwrap();
    let on_server = records.iter().find(|r| r.record_id == car.id).unwrap();
    assert_eq!(on_server.fields["plate"].as_deref(), Some("123ABC02"));
    assert_eq!(on_server.version, 1);

    // Edits and a delete: pushed as patches with the right base versions.
    d.store
        .update_vehicle(
            car.id.clone(),
            VehiclePatch {
                nickname: Some("Work".into()),
                ..Default::default()
            },
        )
        .unwrap();
    d.store
        .update_vehicle(
            car.id.clone(),
            VehiclePatch {
                colour: Some("red".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let doc = d.store.list_documents().unwrap().remove(0);
    d.store.remove_document(doc.id.clone()).unwrap();
    let summary = d.sync.sync().await.unwrap();
    assert_eq!(
        (summary.pushed, summary.pending, summary.conflicts),
        (3, 0, 0)
    );
    let records = server.records(&account);
    let on_server = records.iter().find(|r| r.record_id == car.id).unwrap();
    assert_eq!(on_server.version, 3);
    assert_eq!(on_server.fields["nickname"].as_deref(), Some("Work"));
    assert_eq!(on_server.fields["colour"].as_deref(), Some("red"));
    assert!(
        records
            .iter()
            .find(|r| r.record_id == doc.id)
            .unwrap()
            .deleted
    );

    assert_eq!(
        d.sync.sync().await.unwrap().pushed,
        0,
        "nothing left to push"
    );
    assert_eq!(
        server.stats().changes_applied,
        9,
        "each change applied once"
    );
}

#[tokio::test]
async fn a_lost_answer_is_resent_and_not_applied_twice() {
    let (server, _account) = server_with_account();
    server.inject(FaultPlan::new().then_on("/v1/sync/push", Fault::DropAfterApply));
    let d = device(&server, Tokens::new(&["token-a"]));
    fill_sample(&d.store);
    let summary = d.sync.sync().await.unwrap();
    assert_eq!((summary.pushed, summary.pending), (6, 0));
    let stats = server.stats();
    assert_eq!(stats.changes_applied, 6, "applied exactly once");
    assert_eq!(stats.changes_duplicate, 6, "the resend was recognised");
}

#[tokio::test]
async fn failures_are_retried_then_reported_with_nothing_lost() {
    let (server, account) = server_with_account();
    server.inject(FaultPlan::new().then_on(
        "/v1/sync/push",
        Fault::Status {
            code: 503,
            retry_after_secs: Some(1),
        },
    ));
    let d = device(&server, Tokens::new(&["token-a"]));
    fill_sample(&d.store);
    assert_eq!(d.sync.sync().await.unwrap().pushed, 6);

    add_plate(&d.store, "555 XYZ 17");
    server.inject(FaultPlan::new().repeat_on(
        "/v1/sync/push",
        Fault::Status {
            code: 500,
            retry_after_secs: None,
        },
        3,
    ));
    match d.sync.sync().await.unwrap_err() {
        AparkingError::Network {
            reason,
            retry_after_ms,
        } => {
            assert!(reason.contains("500"));
            assert!(retry_after_ms.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        d.sync.pending_changes().unwrap(),
        1,
        "kept for the next sync"
    );
    assert_eq!(d.sync.sync().await.unwrap().pushed, 1);
    assert_eq!(server.records(&account).len(), 7);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_then_auth_is_required() {
    let (server, _account) = server_with_account();
    let auth = Tokens::new(&["expired", "token-a"]);
    let d = device(&server, auth.clone());
    fill_sample(&d.store);
    assert_eq!(d.sync.sync().await.unwrap().pushed, 6);
    assert_eq!(auth.refreshes.load(Ordering::Relaxed), 1);

    let revoked = Tokens::new(&["expired", "also-expired"]);
    let d2 = device(&server, revoked.clone());
    fill_sample(&d2.store);
    assert!(matches!(
        d2.sync.sync().await.unwrap_err(),
        AparkingError::AuthRequired { .. }
    ));
    assert_eq!(
        revoked.refreshes.load(Ordering::Relaxed),
        1,
        "asked for a fresh token once"
    );
    assert_eq!(d2.sync.pending_changes().unwrap(), 6);

    let signed_out = Tokens::new(&[]);
    let d3 = device(&server, signed_out);
    add_plate(&d3.store, "001AAA01");
    assert_eq!(
        d3.sync.sync().await.unwrap_err(),
        AparkingError::AuthRequired {
            reason: "no session".into()
        }
    );
}

#[tokio::test]
async fn a_second_concurrent_sync_gets_sync_in_progress() {
    let (server, _account) = server_with_account();
    server.inject(
        FaultPlan::new().then_on("/v1/sync/push", Fault::Delay(Duration::from_millis(400))),
    );
    let d = device(&server, Tokens::new(&["token-a"]));
    fill_sample(&d.store);
    let (a, b) = tokio::join!(d.sync.sync(), async {
        until_delay_faults(&server, 1).await; // the first sync's push is being held
        d.sync.sync().await
    });
    assert_eq!(a.unwrap().pushed, 6);
    assert_eq!(b.unwrap_err(), AparkingError::SyncInProgress);
}

/// A change made on another device, straight through the API.
async fn remote_change(server: &ReferenceServer, change: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"schema_version": 1, "client_id": uuid::Uuid::new_v4().to_string(), "changes": [change]});
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bytes = reqwest::Client::new()
        .post(format!("{}/v1/sync/push", server.base_url()))
        .bearer_auth("token-a")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn changes_from_another_device_conflict_or_win_by_delete() {
    let (server, _account) = server_with_account();
    let d = device(&server, Tokens::new(&["token-a"]));
    let car = add_plate(&d.store, "123ABC02");
    let van = add_plate(&d.store, "777KZX01");
    d.sync.sync().await.unwrap();

    // Another device edits the car and deletes the van.
    let answer = remote_change(
        &server,
        serde_json::json!({"change_id": uuid::Uuid::new_v4().to_string(), "entity": "vehicle",
        "record_id": car.id, "op": "upsert", "base_version": 1, "fields": {"colour": "blue"}}),
    )
    .await;
    assert_eq!(answer["results"][0]["status"], "applied");
    remote_change(
        &server,
        serde_json::json!({"change_id": uuid::Uuid::new_v4().to_string(), "entity": "vehicle",
        "record_id": van.id, "op": "delete", "base_version": 1}),
    )
    .await;

    // This device edits both; its sync pulls first and merges.
    d.store
        .update_vehicle(
            car.id.clone(),
            VehiclePatch {
                nickname: Some("Mine".into()),
                ..Default::default()
            },
        )
        .unwrap();
    d.store
        .update_vehicle(
            van.id.clone(),
            VehiclePatch {
                nickname: Some("Van".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let summary = d.sync.sync().await.unwrap();
    assert_eq!(summary.conflicts, 1, "the van's edit lost to the delete");
    assert_eq!(summary.pending, 0);
    assert!(
        d.store.get_vehicle(van.id).unwrap().is_none(),
        "delete wins over the local edit"
    );
    let local = d.store.get_vehicle(car.id.clone()).unwrap().unwrap();
    assert_eq!(
        (local.colour.as_deref(), local.nickname.as_deref()),
        (Some("blue"), Some("Mine")),
        "both edits kept"
    );
    let account = server.account_for_token("token-a").unwrap();
    let remote = server
        .records(&account)
        .into_iter()
        .find(|r| r.record_id == car.id)
        .unwrap();
    assert_eq!(remote.fields["nickname"].as_deref(), Some("Mine"));
    assert_eq!(remote.fields["colour"].as_deref(), Some("blue"));
}

#[tokio::test]
async fn the_same_plate_created_on_two_devices_merges_into_the_servers_record() {
    let (server, account) = server_with_account();
    let a = device(&server, Tokens::new(&["token-a"]));
    let b = device(&server, Tokens::new(&["token-a"]));
    let first = add_plate(&a.store, "123ABC02");
    add_plate(&b.store, "123 авс 02");
    assert_eq!(a.sync.sync().await.unwrap().pushed, 1);
    let summary = b.sync.sync().await.unwrap();
    assert_eq!((summary.pulled, summary.pending), (1, 0));
    let vehicles = b.store.list_vehicles().unwrap();
    assert_eq!(vehicles.len(), 1);
    assert_eq!(vehicles[0].id, first.id);
    assert_eq!(
        server.records(&account).len(),
        1,
        "one vehicle on the server"
    );
}

#[derive(Default)]
struct Events(Mutex<Vec<aparking_core::SyncEvent>>);

impl aparking_core::SyncObserver for Events {
    fn on_sync_event(&self, event: aparking_core::SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

#[tokio::test]
async fn the_observer_hears_every_step_and_a_cancelled_sync_loses_nothing() {
    use aparking_core::SyncEvent;
    let (server, account) = server_with_account();
    let d = device(&server, Tokens::new(&["token-a"]));
    let events = Arc::new(Events::default());
    let subscription = d.sync.subscribe(events.clone());
    fill_sample(&d.store);
    let summary = d.sync.sync().await.unwrap();
    let seen = std::mem::take(&mut *events.0.lock().unwrap());
    assert_eq!(seen.first(), Some(&SyncEvent::Started));
    assert!(seen.contains(&SyncEvent::Pushed { count: 6 }));
    assert_eq!(seen.last(), Some(&SyncEvent::Finished { summary }));

    // Cancel while the first push is slow (once the backend holds it, whatever the load):
    // the sync stops with SyncCancelled, nothing is lost, the next sync carries on.
    for i in 0..600u32 {
        let plate = format!("{:03}XYZ{:02}", i % 1000, i / 1000 % 20 + 1);
        d.store
            .add_vehicle(NewVehicle {
                plate,
                ..Default::default()
            })
            .unwrap();
    }
    server.inject(
        FaultPlan::new().then_on("/v1/sync/push", Fault::Delay(Duration::from_millis(300))),
    );
    let (result, _) = tokio::join!(d.sync.sync(), async {
        until_delay_faults(&server, 1).await;
        d.sync.cancel();
    });
    assert_eq!(result.unwrap_err(), AparkingError::SyncCancelled);
    assert!(matches!(
        events.0.lock().unwrap().last(),
        Some(SyncEvent::Failed {
            error: AparkingError::SyncCancelled
        })
    ));
    assert_eq!(
        d.sync.pending_changes().unwrap(),
        100,
        "the first batch of 500 went through, the rest waits"
    );
    assert_eq!(d.sync.sync().await.unwrap().pending, 0);
    assert_eq!(server.records(&account).len(), 606);
    subscription.cancel();
    add_plate(&d.store, "777ZZZ01");
    events.0.lock().unwrap().clear();
    d.sync.sync().await.unwrap();
    assert!(
        events.0.lock().unwrap().is_empty(),
        "a cancelled subscription hears nothing more"
    );
}

#[tokio::test]
async fn consent_receipts_and_complaints_reach_the_backend_once() {
    use aparking_core::{CollectionMethod, Consent, ConsentContext, Purpose};
    let (server, account) = server_with_account();
    server.inject(FaultPlan::new().then_on("/v1/sync/push", Fault::DropAfterApply));
    let d = device(&server, Tokens::new(&["token-a"]));
    let consent = Consent::new(Arc::clone(&d.store));
    consent
        .publish_policy(aparking_core::testing::policy(1))
        .unwrap();
    let context = ConsentContext {
        app_version: "4.2.0".into(),
        locale: "kk-KZ".into(),
        collection_method: CollectionMethod::OnboardingScreen,
        subject_id: None,
    };
    let accept = consent
        .accept_policy(1, vec![Purpose::ConnectionDiagnostics], context.clone())
        .unwrap();
    consent.withdraw_all(context).unwrap();
    let t = aparking_core::Telemetry::new(
        Arc::clone(&d.store),
        aparking_core::TelemetryConfig::new("http://127.0.0.1:9"),
    )
    .unwrap();
    let complaint = t
        .file_connection_complaint("Нет связи у въезда".into(), 60)
        .unwrap();

    let summary = d.sync.sync().await.unwrap();
    assert_eq!(summary.pushed, 3);
    let records = server.records(&account);
    let receipt = records
        .iter()
        .find(|r| r.record_id == accept.id)
        .expect("the receipt is on the server");
    assert_eq!(receipt.entity, "consent_receipt");
    assert_eq!(receipt.fields["policy_version"].as_deref(), Some("1"));
    assert_eq!(
        receipt.fields["purposes_granted"].as_deref(),
        Some("[\"connection_diagnostics\"]")
    );
    // The chain link travels with it: the backend can check the chain too.
    assert_eq!(
        receipt.fields["receipt_sha256"].as_deref(),
        Some(accept.receipt_sha256.as_str())
    );
    assert_eq!(
        receipt.fields["consent_duration_days"].as_deref(),
        Some("until_withdrawn")
    );
    let on_server = records
        .iter()
        .find(|r| r.record_id == complaint.id)
        .expect("the complaint is on the server");
    assert_eq!(
        on_server.fields["description"].as_deref(),
        Some("Нет связи у въезда")
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.entity == "consent_receipt")
            .count(),
        2
    );
    assert_eq!(
        server.stats().changes_applied,
        3,
        "the lost answer did not apply them twice"
    );
    assert_eq!(d.sync.sync().await.unwrap().pushed, 0, "delivered once");
}

#[tokio::test]
async fn automatic_sync_retries_without_new_writes_and_backs_off_a_failing_backend() {
    let (server, account) = server_with_account();
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let config = SyncConfig {
        auto_sync_max_backoff_ms: 400,
        network: NetworkConfig {
            max_attempts: 1,
            ..fast(&server).network
        },
        ..fast(&server)
    };
    let sync = SyncClient::new(Arc::clone(&store), config, Tokens::new(&["token-a"])).unwrap();
    let _keep = dir;

    // The backend fails for a while: the automatic sync backs off instead of hammering.
    server.inject(FaultPlan::new().repeat_on(
        "/v1/sync/push",
        Fault::Status {
            code: 500,
            retry_after_secs: None,
        },
        1000,
    ));
    add_plate(&store, "123ABC02");
    Arc::clone(&sync).start_auto_sync(20).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let failed = server.stats().status_count(500);
    assert!(failed >= 3, "it kept trying ({failed})");
    assert!(
        failed <= 12,
        "it backed off: {failed} requests in 1.5 s at a 20 ms interval"
    );

    // The backend recovers: the change goes through with no new write and no sync() call.
    server.clear_faults();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.records(&account).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.records(&account).len(), 1, "synced by the timer");
    sync.stop_auto_sync();
    let requests = server.stats().push_requests;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.stats().push_requests, requests, "stopped");
}

/// The push is pipelined: the next batch is planned while the backend applies the one
/// before. A record whose first change is in flight keeps its next change for a later
/// batch, based on the version the first one got: never sent early with a stale base (a
/// `conflict` the backend would answer).
#[tokio::test]
async fn a_records_next_change_waits_while_its_first_is_in_flight() {
    let (server, account) = server_with_account();
    let d = device(&server, Tokens::new(&["token-a"]));
    let first = d
        .store
        .add_vehicle(NewVehicle {
            plate: "100AAA01".into(),
            ..Default::default()
        })
        .unwrap();
    for n in 1..600 {
        d.store
            .add_vehicle(NewVehicle {
                plate: format!("{n:03}BBB02"),
                ..Default::default()
            })
            .unwrap();
    }
    // Change 601, for the record of change 1: its create is in the first batch (500).
    d.store
        .update_vehicle(
            first.id.clone(),
            VehiclePatch {
                nickname: Some("Family".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let summary = d.sync.sync().await.unwrap();
    assert_eq!(
        (summary.pushed, summary.pending, summary.conflicts),
        (601, 0, 0)
    );
    let stats = server.stats();
    assert_eq!(
        stats.changes_conflict, 0,
        "no change went out with a stale base"
    );
    assert_eq!(stats.changes_applied, 601, "each change applied once");
    assert_eq!(stats.push_requests, 3, "500, 100, then the edit");
    let on_server = server
        .records(&account)
        .into_iter()
        .find(|r| r.record_id == first.id)
        .unwrap();
    assert_eq!(on_server.version, 2);
    assert_eq!(on_server.fields["nickname"].as_deref(), Some("Family"));
}
