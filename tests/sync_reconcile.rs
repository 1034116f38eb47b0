//! A backend whose past changed is not trusted blindly (issue #16, point 4): restored from
//! an older backup (with or without declaring a new dataset generation) or wiped, it gets
//! back what it lost from the devices, with no duplicate and without bringing back what
//! was deleted before the backup, and the devices say so (`SyncEvent::Reconciled`).

mod common;

use aparking_core::{ReconcileReason, Store, SyncClient, SyncEvent, SyncObserver, VehiclePatch};
use aparking_server::ReferenceServer;
use common::sync::*;
use common::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "token-r";

struct Events(Mutex<Vec<SyncEvent>>);

impl SyncObserver for Events {
    fn on_sync_event(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Events {
    fn reconciled(&self) -> Vec<(ReconcileReason, i64)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                SyncEvent::Reconciled { reason, repushed } => Some((*reason, *repushed)),
                _ => None,
            })
            .collect()
    }
}

struct Device {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    sync: Arc<SyncClient>,
    events: Arc<Events>,
    _subscription: Arc<aparking_core::Subscription>,
}

fn device(url: &str, seed: u8) -> Device {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(seed));
    let sync = sync_client_at(&store, url, TOKEN, fast_network());
    let events = Arc::new(Events(Mutex::new(Vec::new())));
    let subscription = sync.subscribe(Arc::clone(&events) as Arc<dyn SyncObserver>);
    Device {
        _dir: dir,
        store,
        sync,
        events,
        _subscription: subscription,
    }
}

/// (id → nickname) of the live vehicles.
fn on_server(server: &ReferenceServer, account: &str) -> BTreeMap<String, Option<String>> {
    server
        .records(account)
        .into_iter()
        .filter(|r| r.entity == "vehicle" && !r.deleted)
        .map(|r| (r.record_id, r.fields.get("nickname").cloned().flatten()))
        .collect()
}

fn held(d: &Device) -> BTreeMap<String, Option<String>> {
    d.store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| (v.id, v.nickname))
        .collect()
}

fn nickname(d: &Device, id: &str, name: &str) {
    d.store
        .update_vehicle(
            id.to_string(),
            VehiclePatch {
                nickname: Some(name.into()),
                ..Default::default()
            },
        )
        .unwrap();
}

async fn restored_backend_gets_back_what_it_lost(declare_new_generation: bool) {
    let data = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let server = server_at(data.path(), 0);
    let port = server.local_addr().port();
    let account = server.add_account(TOKEN);
    let url = server.base_url();
    let (a, b) = (device(&url, 1), device(&url, 2));
    let kept = add_plate(&a.store, "123ABC02");
    let removed_later = add_plate(&a.store, "456DEF03");
    let removed_before = add_plate(&a.store, "789GHK04");
    a.store.remove_vehicle(removed_before.id.clone()).unwrap();
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();

    // The backup; then more work that it does not hold.
    server.shutdown();
    copy_dir(data.path(), backup.path());
    let server = server_at(data.path(), port);
    nickname(&a, &kept.id, "after the backup");
    let added = add_plate(&a.store, "111KZX01");
    a.store.remove_vehicle(removed_later.id.clone()).unwrap();
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    assert_eq!(held(&a), held(&b));

    // The backend is restored from the backup.
    server.shutdown();
    std::fs::remove_dir_all(data.path()).unwrap();
    copy_dir(backup.path(), data.path());
    let server = server_at(data.path(), port);
    if declare_new_generation {
        server.start_new_generation();
    }
    for d in [&a, &b, &a, &b] {
        d.sync.sync().await.unwrap();
    }
    let expected = BTreeMap::from([
        (kept.id.clone(), Some("after the backup".to_string())),
        (added.id.clone(), None),
    ]);
    assert_eq!(
        on_server(&server, &account),
        expected,
        "what the backup lacked is back"
    );
    for d in [&a, &b] {
        assert_eq!(held(d), expected, "nothing resurrected, nothing duplicated");
        assert_eq!(d.sync.pending_changes().unwrap(), 0);
    }
    assert!(server
        .records(&account)
        .iter()
        .all(|r| r.record_id != removed_before.id || r.deleted));
    let reasons = a.events.reconciled();
    assert!(!reasons.is_empty(), "A reported the reconciliation");
    if declare_new_generation {
        assert!(reasons
            .iter()
            .chain(b.events.reconciled().iter())
            .any(|(reason, _)| *reason == ReconcileReason::NewGeneration));
    }
}

#[tokio::test]
async fn a_backend_restored_from_an_older_backup_gets_back_what_it_lost() {
    restored_backend_gets_back_what_it_lost(false).await;
}

#[tokio::test]
async fn a_backend_restored_and_declared_a_new_generation_is_reconciled_the_same_way() {
    restored_backend_gets_back_what_it_lost(true).await;
}

#[tokio::test]
async fn a_wiped_backend_gets_every_record_back_once() {
    let data = tempfile::tempdir().unwrap();
    let server = server_at(data.path(), 0);
    let port = server.local_addr().port();
    let account = server.add_account(TOKEN);
    let url = server.base_url();
    let (a, b) = (device(&url, 1), device(&url, 2));
    fill_sample(&a.store);
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    let before = on_server(&server, &account);
    assert_eq!(before.len(), a.store.list_vehicles().unwrap().len());

    server.shutdown();
    std::fs::remove_dir_all(data.path()).unwrap();
    let server = server_at(data.path(), port);
    server.add_token(&account, TOKEN);
    for d in [&a, &b, &a, &b] {
        d.sync.sync().await.unwrap();
    }
    assert_eq!(
        on_server(&server, &account),
        before,
        "every vehicle back, once"
    );
    let records = server.records(&account);
    assert_eq!(
        records
            .iter()
            .filter(|r| r.entity == "document" && !r.deleted)
            .count(),
        a.store.list_documents().unwrap().len()
    );
    assert_eq!(records.iter().filter(|r| r.entity == "profile").count(), 1);
    for d in [&a, &b] {
        assert_eq!(held(d), before);
        assert_eq!(d.sync.pending_changes().unwrap(), 0);
        assert!(!d.events.reconciled().is_empty());
    }
    assert!(a.events.reconciled()[0].1 > 0, "A queued the records again");
}
