//! The sync status an app shows (issue #11, point 8): `SyncClient::status()` and
//! `SyncEvent::StatusChanged`, with a real store and the reference backend on 127.0.0.1.

mod common;

use aparking_core::{
    AparkingError, NetworkConfig, SyncClient, SyncConfig, SyncEvent, SyncObserver, SyncStatus,
    VehiclePatch,
};
use aparking_server::{Fault, FaultPlan};
use common::sync::*;
use common::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TOKEN: &str = "token-status";

struct Events(Mutex<Vec<SyncEvent>>);

impl SyncObserver for Events {
    fn on_sync_event(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn status_reports_pending_changes_the_last_success_and_the_last_error() {
    let (server, _account) = server_with_account(TOKEN);
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let sync = sync_client(&store, &server, TOKEN);
    assert_eq!(sync.status().unwrap(), SyncStatus::default(), "nothing yet");

    add_plate(&store, "123ABC02");
    add_plate(&store, "456DEF03");
    assert_eq!(sync.status().unwrap().pending_changes, 2);

    let events = Arc::new(Events(Mutex::new(Vec::new())));
    let _subscription = sync.subscribe(events.clone());
    let before = now_ms();
    sync.sync().await.unwrap();
    let status = sync.status().unwrap();
    assert_eq!(status.pending_changes, 0);
    assert!(!status.running);
    assert!(status.last_error.is_none());
    let success = status.last_success_at_ms.expect("a success is recorded");
    assert!(success >= before && success <= now_ms(), "{success}");
    // The event comes just before Finished, with the same status.
    let seen = events.0.lock().unwrap().clone();
    let n = seen.len();
    assert!(
        matches!(seen[n - 1], SyncEvent::Finished { .. }),
        "{seen:?}"
    );
    assert_eq!(
        seen[n - 2],
        SyncEvent::StatusChanged {
            status: status.clone()
        }
    );

    // The backend unreachable: the error is kept, the last success stays.
    let unreachable = SyncClient::new(
        Arc::clone(&store),
        SyncConfig {
            network: NetworkConfig {
                max_attempts: 1,
                ..fast_network()
            },
            ..SyncConfig::new(format!("http://127.0.0.1:{}", free_port()))
        },
        Arc::new(StaticToken(TOKEN)),
    )
    .unwrap();
    add_plate(&store, "789GHK04");
    assert!(unreachable.sync().await.is_err());
    let failed = unreachable.status().unwrap();
    assert!(
        matches!(failed.last_error, Some(AparkingError::Network { .. })),
        "{failed:?}"
    );
    assert_eq!(failed.last_success_at_ms, Some(success));
    assert_eq!(failed.pending_changes, 1);
    // A success clears the error.
    sync.sync().await.unwrap();
    assert!(sync.status().unwrap().last_error.is_none());
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn status_is_running_while_a_sync_waits_on_the_backend() {
    let (server, _account) = server_with_account(TOKEN);
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let sync = sync_client(&store, &server, TOKEN);
    add_plate(&store, "123ABC02");
    server.inject(
        FaultPlan::new().then_on("/v1/sync/push", Fault::Delay(Duration::from_millis(300))),
    );
    let (result, running) = tokio::join!(sync.sync(), async {
        until_delay_faults(&server, 1).await;
        sync.status().unwrap().running
    });
    result.unwrap();
    assert!(running, "running while the push is held");
    assert!(!sync.status().unwrap().running);
}

#[tokio::test]
async fn status_counts_conflicts_and_names_the_next_automatic_attempt() {
    let (server, _account) = server_with_account(TOKEN);
    let (_da, path_a) = temp_store_path();
    let (_db, path_b) = temp_store_path();
    let (a, b) = (open(&path_a, &key(1)), open(&path_b, &key(2)));
    let (sa, sb) = (
        sync_client(&a, &server, TOKEN),
        sync_client(&b, &server, TOKEN),
    );
    let v = add_plate(&a, "123ABC02");
    sa.sync().await.unwrap();
    sb.sync().await.unwrap();
    for (store, name) in [(&a, "Mine"), (&b, "Ours")] {
        let patch = VehiclePatch {
            nickname: Some(name.into()),
            ..Default::default()
        };
        store.update_vehicle(v.id.clone(), patch).unwrap();
    }
    sa.sync().await.unwrap();
    sb.sync().await.unwrap();
    assert_eq!(sb.status().unwrap().conflicts, 1);
    assert_eq!(sb.conflicts().unwrap().len(), 1);
    sb.clear_conflicts().unwrap();
    assert_eq!(sb.status().unwrap().conflicts, 0);

    let events = Arc::new(Events(Mutex::new(Vec::new())));
    let _subscription = sb.subscribe(events.clone());
    let before = now_ms();
    Arc::clone(&sb).start_auto_sync(60_000).unwrap();
    let next = sb
        .status()
        .unwrap()
        .next_auto_sync_at_ms
        .expect("scheduled");
    assert!(
        next >= before + 60_000 && next <= now_ms() + 60_000,
        "{next} is one interval from now"
    );
    sb.stop_auto_sync();
    assert_eq!(sb.status().unwrap().next_auto_sync_at_ms, None);

    // Once an automatic sync ran, the status it announces names the next attempt.
    Arc::clone(&sb).start_auto_sync(20).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let scheduled = loop {
        let found = events.0.lock().unwrap().iter().find_map(|e| match e {
            SyncEvent::StatusChanged { status } => status.next_auto_sync_at_ms,
            _ => None,
        });
        if let Some(at) = found {
            break at;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no automatic sync ran"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    sb.stop_auto_sync();
    assert!(scheduled > before, "{scheduled}");
}

#[tokio::test]
async fn an_observer_subscribed_while_a_sync_runs_gets_started_first_and_only_once() {
    let (server, _account) = server_with_account(TOKEN);
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    add_plate(&store, "123ABC02");
    let sync = sync_client(&store, &server, TOKEN);
    let early = Arc::new(Events(Mutex::new(Vec::new())));
    let late = Arc::new(Events(Mutex::new(Vec::new())));
    let _early = sync.subscribe(early.clone());
    server.inject(
        FaultPlan::new().then_on("/v1/sync/push", Fault::Delay(Duration::from_millis(300))),
    );
    let late_subscription = Mutex::new(None);
    let (result, _) = tokio::join!(sync.sync(), async {
        until_delay_faults(&server, 1).await; // the sync has started; its push is held
        *late_subscription.lock().unwrap() = Some(sync.subscribe(late.clone()));
    });
    result.unwrap();
    for (who, events) in [("early", &early), ("late", &late)] {
        let seen = events.0.lock().unwrap().clone();
        let starts = seen
            .iter()
            .filter(|e| matches!(e, SyncEvent::Started))
            .count();
        assert_eq!(starts, 1, "{who}: {seen:?}");
        assert!(matches!(seen[0], SyncEvent::Started), "{who}: {seen:?}");
        assert!(
            matches!(seen.last(), Some(SyncEvent::Finished { .. })),
            "{who}: {seen:?}"
        );
    }
    // A later sync: the late observer gets its events like any other, Started once.
    late.0.lock().unwrap().clear();
    sync.sync().await.unwrap();
    let seen = late.0.lock().unwrap().clone();
    assert!(matches!(seen[0], SyncEvent::Started), "{seen:?}");
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, SyncEvent::Started))
            .count(),
        1
    );
    // Cancelled: nothing more, and it says so.
    let subscription = late_subscription.lock().unwrap().take().unwrap();
    subscription.cancel();
    assert!(!subscription.is_active());
    late.0.lock().unwrap().clear();
    sync.sync().await.unwrap();
    assert!(late.0.lock().unwrap().is_empty());
}
