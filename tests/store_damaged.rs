//! One damaged record never blocks anything else (issue #11, point 3). The damage is done
//! from outside the SDK, as an attacker or a failing disk would: a bit flipped in a sealed
//! value with SQL on the closed file.
//!
//! - lists and the export return every intact record and name the damaged ones;
//! - a damaged record discarded here comes back whole from the backend, and no delete
//!   reaches the backend; one never synced is simply gone;
//! - a pull repairs a damaged record from the backend's newer copy instead of skipping it;
//! - sync sets a damaged outbox entry or mirror row aside (quarantine, with a reason), goes
//!   on with the rest, and queues the record's local copy in place of the lost change.

mod common;

use aparking_core::{
    AparkingError, DocumentKind, NewDocument, QuarantineReason, RecordRef, Store, SyncClient,
    VehiclePatch,
};
use aparking_server::ReferenceServer;
use common::sync::*;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const TOKEN: &str = "token-damaged";

struct Device {
    _dir: tempfile::TempDir,
    path: PathBuf,
    seed: u8,
    store: Arc<Store>,
    sync: Arc<SyncClient>,
}

impl Device {
    /// Closes the store, runs `damage` on the file, opens it again.
    fn damage(&mut self, server: &ReferenceServer, damage: impl FnOnce(&Path)) {
        self.store.close().unwrap();
        damage(&self.path);
        self.store = open(&self.path, &key(self.seed));
        self.sync = sync_client(&self.store, server, TOKEN);
    }
}

fn device(server: &ReferenceServer, seed: u8) -> Device {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(seed));
    let sync = sync_client(&store, server, TOKEN);
    Device {
        _dir: dir,
        path,
        seed,
        store,
        sync,
    }
}

fn vehicle_ref(id: &str) -> RecordRef {
    RecordRef {
        entity: aparking_core::RecordKind::Vehicle,
        record_id: id.into(),
    }
}

fn plates(store: &Store) -> Vec<String> {
    let mut p: Vec<String> = store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| v.plate.canonical)
        .collect();
    p.sort();
    p
}

fn outbox_id(path: &Path, record_id: &str) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT id FROM sync_outbox WHERE record_id = ?1",
            [record_id],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn lists_and_the_export_keep_every_intact_record_and_name_the_damaged_ones() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let vehicles = store.list_vehicles().unwrap();
    let doc = store.list_documents().unwrap().remove(0);
    store.close().unwrap();
    flip_byte(&path, "vehicles", "sealed", &vehicles[0].id);
    flip_byte(&path, "documents", "sealed", &doc.id);

    let store = open(&path, &key(1));
    assert_eq!(store.list_vehicles().unwrap(), vehicles[1..].to_vec());
    assert_eq!(store.list_documents().unwrap().len(), 1);
    let damaged = store.damaged_records().unwrap();
    assert_eq!(
        damaged,
        vec![
            vehicle_ref(&vehicles[0].id),
            RecordRef {
                entity: aparking_core::RecordKind::Document,
                record_id: doc.id.clone()
            }
        ]
    );
    let export: serde_json::Value = common::export_schema::validated_export(&store);
    assert_eq!(export["vehicles"].as_array().unwrap().len(), 2);
    assert_eq!(export["documents"].as_array().unwrap().len(), 1);
    assert_eq!(
        export["damaged_records"],
        serde_json::json!([
            {"entity": "vehicle", "record_id": vehicles[0].id},
            {"entity": "document", "record_id": doc.id},
        ])
    );
    assert!(
        export["profile"].is_object(),
        "the intact profile is exported"
    );
    // The record itself still says what is wrong with it.
    assert!(matches!(
        store.get_vehicle(vehicles[0].id.clone()).unwrap_err(),
        AparkingError::IntegrityFailure { .. }
    ));
}

#[tokio::test]
async fn a_damaged_record_discarded_here_comes_back_whole_and_the_backend_keeps_it() {
    let (server, account) = server_with_account(TOKEN);
    let mut a = device(&server, 1);
    fill_sample(&a.store);
    let vehicles = a.store.list_vehicles().unwrap();
    let linked = a
        .store
        .add_document(NewDocument {
            kind: DocumentKind::VehicleRegistrationCertificate,
            number: "VRC1234567".into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: Some(vehicles[0].id.clone()),
        })
        .unwrap();
    a.sync.sync().await.unwrap();
    let never_synced = add_plate(&a.store, "999ZZZ09");
    let bad = vehicles[0].id.clone();
    let (bad_id, unsynced_id) = (bad.clone(), never_synced.id.clone());
    a.damage(&server, |p| {
        flip_byte(p, "vehicles", "sealed", &bad_id);
        flip_byte(p, "vehicles", "sealed", &unsynced_id);
    });

    assert_eq!(
        a.store
            .discard_damaged_record(vehicle_ref(&vehicles[1].id))
            .unwrap_err(),
        AparkingError::InvalidInput {
            field: "record".into(),
            reason: "is not a damaged record".into()
        },
        "an intact record is removed with remove_vehicle"
    );
    a.store.discard_damaged_record(vehicle_ref(&bad)).unwrap();
    a.store
        .discard_damaged_record(vehicle_ref(&never_synced.id))
        .unwrap();
    a.sync.sync().await.unwrap();

    let back = a.store.get_vehicle(bad.clone()).unwrap().expect("restored");
    assert_eq!(
        aparking_core::Vehicle {
            updated_at: vehicles[0].updated_at,
            ..back
        },
        vehicles[0],
        "every value back, and its creation time"
    );
    assert!(a
        .store
        .get_vehicle(never_synced.id.clone())
        .unwrap()
        .is_none());
    assert!(a.store.damaged_records().unwrap().is_empty());
    assert_eq!(a.store.list_vehicles().unwrap().len(), vehicles.len());
    let on_server = server.records(&account);
    assert!(
        on_server.iter().any(|r| r.record_id == bad && !r.deleted),
        "no delete reached the backend"
    );
    assert!(!on_server.iter().any(|r| r.record_id == never_synced.id));
    let doc = a.store.get_document(linked.id).unwrap().unwrap();
    assert_eq!(doc.vehicle_id, Some(bad), "the link survived the repair");
    assert_eq!(a.sync.pending_changes().unwrap(), 0);
}

#[tokio::test]
async fn a_pull_repairs_a_damaged_record_from_the_backends_newer_copy() {
    let (server, _account) = server_with_account(TOKEN);
    let (mut a, b) = (device(&server, 1), device(&server, 2));
    let v = add_plate(&a.store, "123ABC02");
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    let id = v.id.clone();
    a.damage(&server, |p| flip_byte(p, "vehicles", "sealed", &id));
    let patch = VehiclePatch {
        nickname: Some("Repaired".into()),
        ..Default::default()
    };
    b.store.update_vehicle(v.id.clone(), patch).unwrap();
    b.sync.sync().await.unwrap();

    let summary = a.sync.sync().await.unwrap();
    assert_eq!(summary.rejected, 0, "not skipped: {summary:?}");
    let repaired = a.store.get_vehicle(v.id).unwrap().unwrap();
    assert_eq!(repaired.nickname.as_deref(), Some("Repaired"));
    assert!(a.store.damaged_records().unwrap().is_empty());
}

#[tokio::test]
async fn a_damaged_outbox_entry_is_set_aside_and_the_local_copy_is_sent_instead() {
    let (server, account) = server_with_account(TOKEN);
    let mut a = device(&server, 1);
    let first = add_plate(&a.store, "123ABC02");
    let second = add_plate(&a.store, "456DEF03");
    let change = outbox_id(&a.path, &first.id);
    a.damage(&server, |p| flip_byte(p, "sync_outbox", "sealed", &change));

    let summary = a.sync.sync().await.unwrap();
    assert_eq!(summary.pending, 0, "{summary:?}");
    let quarantined = a.sync.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let q = &quarantined[0];
    assert_eq!(
        (q.entity, q.record_id.as_str(), q.reason, q.requeued),
        (
            Some(aparking_core::RecordKind::Vehicle),
            first.id.as_str(),
            QuarantineReason::OutboxEntryDamaged,
            true
        )
    );
    assert_eq!(a.sync.status().unwrap().quarantined, 1);
    // Both vehicles reached the backend: the damaged change was replaced by the local copy.
    let live: Vec<_> = server
        .records(&account)
        .into_iter()
        .filter(|r| !r.deleted)
        .map(|r| r.record_id)
        .collect();
    assert!(
        live.contains(&first.id) && live.contains(&second.id),
        "{live:?}"
    );
    assert_eq!(a.sync.clear_quarantine().unwrap(), 1);
    assert_eq!(a.sync.status().unwrap().quarantined, 0);
}

#[tokio::test]
async fn a_damaged_removal_in_the_outbox_is_queued_again_and_reaches_the_backend() {
    let (server, account) = server_with_account(TOKEN);
    let mut a = device(&server, 1);
    let kept = add_plate(&a.store, "123ABC02");
    let removed = add_plate(&a.store, "456DEF03");
    a.sync.sync().await.unwrap();
    a.store.remove_vehicle(removed.id.clone()).unwrap();
    let change = outbox_id(&a.path, &removed.id);
    a.damage(&server, |p| flip_byte(p, "sync_outbox", "sealed", &change));

    let summary = a.sync.sync().await.unwrap();
    assert_eq!(summary.pending, 0, "{summary:?}");
    let q = a.sync.quarantined().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(
        (q[0].record_id.as_str(), q[0].reason, q[0].requeued),
        (
            removed.id.as_str(),
            QuarantineReason::OutboxEntryDamaged,
            true
        )
    );
    // The removal was queued again from the local state (gone here, synced before) and
    // reached the backend; the other vehicle is untouched.
    let records = server.records(&account);
    let state = |id: &str| {
        records
            .iter()
            .find(|r| r.record_id == id)
            .map(|r| r.deleted)
    };
    assert_eq!(
        state(&removed.id),
        Some(true),
        "the backend holds the removal"
    );
    assert_eq!(state(&kept.id), Some(false));
    assert_eq!(plates(&a.store), ["123ABC02"]);
}

#[tokio::test]
async fn a_damaged_mirror_row_is_set_aside_and_the_record_still_converges() {
    let (server, _account) = server_with_account(TOKEN);
    let (mut a, b) = (device(&server, 1), device(&server, 2));
    let v = add_plate(&a.store, "123ABC02");
    add_plate(&a.store, "456DEF03");
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    let mirror_id = format!("vehicle:{}", v.id);
    a.damage(&server, |p| {
        flip_byte(p, "sync_mirror", "sealed", &mirror_id)
    });
    let patch = VehiclePatch {
        nickname: Some("From B".into()),
        ..Default::default()
    };
    b.store.update_vehicle(v.id.clone(), patch).unwrap();
    b.sync.sync().await.unwrap();

    a.sync.sync().await.unwrap();
    let q = a.sync.quarantined().unwrap();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].reason, QuarantineReason::MirrorEntryDamaged);
    let here = a.store.get_vehicle(v.id.clone()).unwrap().unwrap();
    assert_eq!(here.nickname.as_deref(), Some("From B"));
    assert_eq!(plates(&a.store), plates(&b.store));
    // A's own edit still goes out with a repaired base.
    let patch = VehiclePatch {
        colour: Some("white".into()),
        ..Default::default()
    };
    a.store.update_vehicle(v.id.clone(), patch).unwrap();
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    let there = b.store.get_vehicle(v.id).unwrap().unwrap();
    assert_eq!(there.colour.as_deref(), Some("white"));
    assert_eq!(a.sync.pending_changes().unwrap(), 0);
}
