//! Acceptance (issue #4): two stores on the same account edit offline; after both sync
//! they hold the same data, with the documented merge result (docs/protocol.md, "Merge
//! rules"), for each case.

mod common;

use aparking_core::{
    AuthProvider, AuthProviderError, DocumentKind, NetworkConfig, NewDocument, NewVehicle, Store,
    SyncClient, SyncConfig, Vehicle, VehiclePatch,
};
use aparking_server::{ReferenceServer, ServerConfig};
use common::*;
use std::collections::BTreeMap;
use std::sync::Arc;

struct Token;

impl AuthProvider for Token {
    fn bearer_token(&self, _refresh: bool) -> Result<String, AuthProviderError> {
        Ok("token-a".into())
    }
}

struct Device {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<Store>,
    sync: Arc<SyncClient>,
}

fn device(server: &ReferenceServer, local_wins: bool) -> Device {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let config = SyncConfig {
        network: NetworkConfig {
            retry_base_delay_ms: 5,
            retry_max_delay_ms: 50,
            ..NetworkConfig::default()
        },
        local_wins_conflicts: local_wins,
        policy_public_keys: vec![server.policy_public_key()],
        ..SyncConfig::new(server.base_url())
    };
    let sync = SyncClient::new(Arc::clone(&store), config, Arc::new(Token)).unwrap();
    Device {
        _dir: dir,
        path,
        store,
        sync,
    }
}

fn setup() -> (ReferenceServer, Device, Device) {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    server.add_account("token-a");
    let (a, b) = (device(&server, false), device(&server, false));
    (server, a, b)
}

/// Vehicles (id, fields) and documents (id, number, vehicle link) of a device.
type Held = (
    Vec<(String, BTreeMap<&'static str, Option<String>>)>,
    Vec<(String, String, Option<String>)>,
);

/// What a device holds, without timestamps.
fn data(d: &Device) -> Held {
    let vehicles = d
        .store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v: Vehicle| {
            let fields = BTreeMap::from([
                ("plate", Some(v.plate.canonical)),
                ("nickname", v.nickname),
                ("make", v.make),
                ("model", v.model),
                ("colour", v.colour),
            ]);
            (v.id, fields)
        })
        .collect();
    let mut documents: Vec<_> = d
        .store
        .list_documents()
        .unwrap()
        .into_iter()
        .map(|x| (x.id, x.number, x.vehicle_id))
        .collect();
    documents.sort();
    (vehicles, documents)
}

async fn sync_all(a: &Device, b: &Device) {
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    a.sync.sync().await.unwrap();
    assert_eq!(a.sync.pending_changes().unwrap(), 0);
    assert_eq!(b.sync.pending_changes().unwrap(), 0);
}

/// A vehicle created on A and pulled by B.
async fn shared_vehicle(a: &Device, b: &Device) -> String {
    let v = a
        .store
        .add_vehicle(NewVehicle {
            plate: "123ABC02".into(),
            make: Some("Kia".into()),
            ..Default::default()
        })
        .unwrap();
    a.sync.sync().await.unwrap();
    let summary = b.sync.sync().await.unwrap();
    assert_eq!(summary.pulled, 1);
    assert_eq!(
        b.store
            .get_vehicle(v.id.clone())
            .unwrap()
            .unwrap()
            .make
            .as_deref(),
        Some("Kia")
    );
    v.id
}

fn patch(d: &Device, id: &str, p: VehiclePatch) {
    d.store.update_vehicle(id.to_string(), p).unwrap();
}

#[tokio::test]
async fn the_same_field_edited_on_both_the_server_wins() {
    let (_server, a, b) = setup();
    let id = shared_vehicle(&a, &b).await;
    patch(
        &a,
        &id,
        VehiclePatch {
            colour: Some("red".into()),
            ..Default::default()
        },
    );
    patch(
        &b,
        &id,
        VehiclePatch {
            colour: Some("blue".into()),
            ..Default::default()
        },
    );
    a.sync.sync().await.unwrap();
    let summary = b.sync.sync().await.unwrap();
    assert_eq!(summary.conflicts, 1);
    sync_all(&a, &b).await;
    assert_eq!(data(&a), data(&b));
    assert_eq!(
        a.store.get_vehicle(id).unwrap().unwrap().colour.as_deref(),
        Some("red"),
        "the first to reach the server wins"
    );
    // The losing value is in B's conflict log, for the app to show.
    let log = b.sync.conflicts().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].field,
            log[0].local_value.as_deref(),
            log[0].remote_value.as_deref()
        ),
        (
            Some(aparking_core::RecordField::Vehicle {
                field: aparking_core::VehicleField::Colour
            }),
            Some("blue"),
            Some("red")
        )
    );
    assert_eq!(
        log[0].resolution,
        aparking_core::ConflictResolution::ServerWon
    );
    assert_eq!(b.sync.clear_conflicts().unwrap(), 1);
    assert!(b.sync.conflicts().unwrap().is_empty());
}

#[tokio::test]
async fn the_same_field_edited_on_both_with_local_wins_configured() {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    server.add_account("token-a");
    let (a, b) = (device(&server, false), device(&server, true));
    let id = shared_vehicle(&a, &b).await;
    patch(
        &a,
        &id,
        VehiclePatch {
            colour: Some("red".into()),
            ..Default::default()
        },
    );
    patch(
        &b,
        &id,
        VehiclePatch {
            colour: Some("blue".into()),
            ..Default::default()
        },
    );
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    sync_all(&a, &b).await;
    assert_eq!(data(&a), data(&b));
    assert_eq!(
        a.store.get_vehicle(id).unwrap().unwrap().colour.as_deref(),
        Some("blue")
    );
}

#[tokio::test]
async fn different_fields_edited_on_each_side_both_survive() {
    let (_server, a, b) = setup();
    let id = shared_vehicle(&a, &b).await;
    patch(
        &a,
        &id,
        VehiclePatch {
            nickname: Some("Work".into()),
            ..Default::default()
        },
    );
    patch(
        &b,
        &id,
        VehiclePatch {
            colour: Some("white".into()),
            ..Default::default()
        },
    );
    sync_all(&a, &b).await;
    assert_eq!(data(&a), data(&b));
    let v = b.store.get_vehicle(id).unwrap().unwrap();
    assert_eq!(
        (
            v.nickname.as_deref(),
            v.colour.as_deref(),
            v.make.as_deref()
        ),
        (Some("Work"), Some("white"), Some("Kia"))
    );
}

#[tokio::test]
async fn delete_on_one_side_wins_over_an_edit_on_the_other() {
    let (_server, a, b) = setup();
    let id = shared_vehicle(&a, &b).await;
    a.store.remove_vehicle(id.clone()).unwrap();
    patch(
        &b,
        &id,
        VehiclePatch {
            nickname: Some("still mine".into()),
            ..Default::default()
        },
    );
    sync_all(&a, &b).await;
    assert_eq!(data(&a), data(&b));
    assert!(b.store.get_vehicle(id).unwrap().is_none(), "delete wins");
    let conflict = &b.sync.conflicts().unwrap()[0];
    assert_eq!(
        conflict.resolution,
        aparking_core::ConflictResolution::DeleteWon
    );
    // What this device had is logged, so the user can see what the delete removed.
    let Some(aparking_core::RecordValues::Vehicle { vehicle: lost }) = &conflict.local_record
    else {
        panic!("the vehicle's values are logged: {conflict:?}")
    };
    assert_eq!(lost.nickname.as_deref(), Some("still mine"), "{lost:?}");
    assert_eq!(lost.plate, "123ABC02", "{lost:?}");
    // The values are ready to add again, as the user would when the app offers it.
    let back = b.store.add_vehicle(lost.clone()).unwrap();
    assert_eq!(
        (back.plate.canonical.as_str(), back.nickname.as_deref()),
        ("123ABC02", Some("still mine"))
    );
}

/// A record damaged on this device (a flipped byte in its sealed value) and deleted on
/// another: the delete still wins here, with nothing to log, and sync is not blocked.
#[tokio::test]
async fn a_damaged_record_deleted_on_another_device_is_deleted_here_too() {
    let (_server, a, b) = setup();
    let id = shared_vehicle(&a, &b).await;
    patch(
        &b,
        &id,
        VehiclePatch {
            nickname: Some("pending here".into()),
            ..Default::default()
        },
    );
    a.store.remove_vehicle(id.clone()).unwrap();
    a.sync.sync().await.unwrap();
    {
        let conn = rusqlite::Connection::open(&b.path).unwrap();
        let mut sealed: Vec<u8> = conn
            .query_row("SELECT sealed FROM vehicles WHERE id = ?1", [&id], |r| {
                r.get(0)
            })
            .unwrap();
        let middle = sealed.len() / 2;
        sealed[middle] ^= 0x20;
        conn.execute(
            "UPDATE vehicles SET sealed = ?1 WHERE id = ?2",
            rusqlite::params![sealed, id],
        )
        .unwrap();
    }
    assert!(
        matches!(
            b.store.get_vehicle(id.clone()),
            Err(aparking_core::AparkingError::IntegrityFailure { .. })
        ),
        "the record is damaged"
    );

    let summary = b
        .sync
        .sync()
        .await
        .expect("the damaged record does not block sync");
    assert_eq!(summary.pending, 0);
    assert!(
        b.store.get_vehicle(id.clone()).unwrap().is_none(),
        "delete wins"
    );
    assert_eq!(data(&a), data(&b));
    let conflict = b
        .sync
        .conflicts()
        .unwrap()
        .into_iter()
        .find(|c| c.record_id == id)
        .expect("the delete is logged");
    assert_eq!(
        conflict.resolution,
        aparking_core::ConflictResolution::DeleteWon
    );
    assert_eq!(conflict.local_record, None, "nothing readable to keep");
}

#[tokio::test]
async fn an_edit_on_one_side_loses_to_a_delete_on_the_other() {
    let (_server, a, b) = setup();
    let id = shared_vehicle(&a, &b).await;
    patch(
        &a,
        &id,
        VehiclePatch {
            nickname: Some("edited".into()),
            ..Default::default()
        },
    );
    a.sync.sync().await.unwrap();
    b.store.remove_vehicle(id.clone()).unwrap();
    sync_all(&a, &b).await;
    assert_eq!(data(&a), data(&b));
    assert!(a.store.get_vehicle(id).unwrap().is_none(), "delete wins");
}

#[tokio::test]
async fn the_same_plate_created_on_both_becomes_one_vehicle() {
    let (server, a, b) = setup();
    let va = a
        .store
        .add_vehicle(NewVehicle {
            plate: "123ABC02".into(),
            nickname: Some("Family".into()),
            ..Default::default()
        })
        .unwrap();
    let vb = b
        .store
        .add_vehicle(NewVehicle {
            plate: "123 авс 02".into(),
            colour: Some("white".into()),
            ..Default::default()
        })
        .unwrap();
    let doc = b
        .store
        .add_document(NewDocument {
            kind: DocumentKind::VehicleRegistrationCertificate,
            number: "AB123456".into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: Some(vb.id.clone()),
        })
        .unwrap();
    sync_all(&a, &b).await;
    assert_eq!(data(&a), data(&b));
    let vehicles = b.store.list_vehicles().unwrap();
    assert_eq!(vehicles.len(), 1, "one vehicle");
    assert_eq!(vehicles[0].id, va.id, "the id the server had first");
    assert_eq!(
        (
            vehicles[0].nickname.as_deref(),
            vehicles[0].colour.as_deref()
        ),
        (Some("Family"), Some("white"))
    );
    assert_eq!(
        b.store.get_document(doc.id).unwrap().unwrap().vehicle_id,
        Some(va.id),
        "the certificate follows"
    );
    assert_eq!(
        server
            .records(&server.account_for_token("token-a").unwrap())
            .iter()
            .filter(|r| r.entity == "vehicle" && !r.deleted)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_whole_store_syncs_to_a_new_device_and_an_expired_cursor_repulls() {
    let (server, a, b) = setup();
    fill_sample(&a.store);
    a.sync.sync().await.unwrap();
    let summary = b.sync.sync().await.unwrap();
    assert_eq!(summary.pulled, 6);
    assert_eq!(data(&a), data(&b));
    assert_eq!(
        a.store.get_profile().unwrap().unwrap().phone,
        b.store.get_profile().unwrap().unwrap().phone
    );

    server.expire_cursors(&server.account_for_token("token-a").unwrap());
    patch(
        &a,
        &a.store.list_vehicles().unwrap()[0].id,
        VehiclePatch {
            nickname: Some("after expiry".into()),
            ..Default::default()
        },
    );
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    assert_eq!(data(&a), data(&b), "a full re-pull merges idempotently");
}

#[tokio::test]
async fn the_policy_the_backend_publishes_takes_effect_and_account_deletion_erases_both_sides() {
    use aparking_core::{Consent, ConsentStatus, Purpose};
    let (server, a, b) = setup();
    let account = server.account_for_token("token-a").unwrap();
    fill_sample(&a.store);
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    assert_eq!(b.store.list_vehicles().unwrap().len(), 3);

    // The backend publishes policy v2: the next sync adopts it.
    server.set_policy(Some(serde_json::json!({
        "version": 2, "last_updated": "2026-06-01", "url": "https://aparking.kz/privacy",
        "text_sha256": "cd".repeat(32), "purposes": ["statistics", "connection_diagnostics"],
    })));
    assert_eq!(a.sync.sync().await.unwrap().policy_version, Some(2));
    let consent = Consent::new(Arc::clone(&a.store));
    assert_eq!(
        consent.status(Purpose::Statistics),
        ConsentStatus::PolicyNotAccepted { current_version: 2 }
    );

    // Deleting the account erases the backend's copy and this device's data.
    a.sync.delete_account().await.unwrap();
    assert!(
        server.records(&account).iter().all(|r| r.deleted) || server.records(&account).is_empty()
    );
    assert_eq!(a.store.list_vehicles().unwrap().len(), 0);
    assert!(a.store.get_profile().unwrap().is_none());
    let summary = a.sync.sync().await.unwrap();
    assert_eq!(
        (summary.pushed, summary.pulled, summary.pending),
        (0, 0, 0),
        "nothing comes back"
    );
}

#[tokio::test]
async fn a_profile_edited_before_the_first_sync_on_a_second_device_keeps_its_edits() {
    // Review finding: several changes of one record in one batch carried predicted base
    // versions; when the first was answered `exists`, the next was `gone` and the local
    // profile and its edits were deleted.
    use aparking_core::{Language, ProfilePatch};
    let (_server, a, b) = setup();
    a.store
        .update_profile(ProfilePatch {
            phone: Some("+77011112233".into()),
            ..Default::default()
        })
        .unwrap();
    a.sync.sync().await.unwrap();
    b.store
        .update_profile(ProfilePatch {
            phone: Some("+77011112233".into()),
            ..Default::default()
        })
        .unwrap();
    b.store
        .update_profile(ProfilePatch {
            email: Some("new@example.kz".into()),
            preferred_language: Some(Language::Ru),
            ..Default::default()
        })
        .unwrap();
    sync_all(&a, &b).await;
    let (pa, pb) = (
        a.store.get_profile().unwrap().unwrap(),
        b.store.get_profile().unwrap().unwrap(),
    );
    assert_eq!(
        pb.email.as_deref(),
        Some("new@example.kz"),
        "the edit survived"
    );
    assert_eq!(pb.preferred_language, Some(Language::Ru));
    assert_eq!(
        (pa.id, pa.email, pa.preferred_language),
        (pb.id, pb.email, pb.preferred_language)
    );
}

#[tokio::test]
async fn a_document_pulled_before_its_vehicle_keeps_its_link() {
    // Review finding: the link was dropped locally but kept in the mirror, and the next
    // merge pushed `vehicle_id: null` to the server.
    let (server, a, b) = setup();
    let car = add_plate(&a.store, "123ABC02");
    let doc = a
        .store
        .add_document(NewDocument {
            kind: DocumentKind::VehicleRegistrationCertificate,
            number: "AB123456".into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: Some(car.id.clone()),
        })
        .unwrap();
    // The vehicle's latest change now comes after the document's in the server's log.
    patch(
        &a,
        &car.id,
        VehiclePatch {
            nickname: Some("later".into()),
            ..Default::default()
        },
    );
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    assert_eq!(
        b.store
            .get_document(doc.id.clone())
            .unwrap()
            .unwrap()
            .vehicle_id,
        Some(car.id.clone())
    );
    a.store
        .update_document(
            doc.id.clone(),
            aparking_core::DocumentPatch {
                issued_on: Some("2024-01-01".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sync_all(&a, &b).await;
    let account = server.account_for_token("token-a").unwrap();
    let remote = server
        .records(&account)
        .into_iter()
        .find(|r| r.record_id == doc.id)
        .unwrap();
    assert_eq!(
        remote.fields["vehicle_id"].as_deref(),
        Some(car.id.as_str()),
        "the link survives on the server"
    );
    assert_eq!(data(&a), data(&b));
}

#[tokio::test]
async fn a_field_set_back_elsewhere_is_a_conflict_for_a_device_still_on_the_first_value() {
    // A, B and C share a vehicle coloured "white" (C's merge base). B paints it red, A
    // sets it back to white, and C, which never saw red, paints it black offline. By
    // values alone the server did not change the colour since C's base; its field version
    // says it did: C's edit is a logged conflict, not a silent overwrite of A's.
    let (server, a, b) = setup();
    let c = device(&server, false);
    let id = shared_vehicle(&a, &b).await;
    let colour = |d: &Device, value: &str| {
        patch(
            d,
            &id,
            VehiclePatch {
                colour: Some(value.into()),
                ..Default::default()
            },
        )
    };
    colour(&a, "white");
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    c.sync.sync().await.unwrap();
    colour(&b, "red");
    b.sync.sync().await.unwrap();
    a.sync.sync().await.unwrap();
    colour(&a, "white");
    a.sync.sync().await.unwrap();
    colour(&c, "black");
    let summary = c.sync.sync().await.unwrap();
    assert_eq!(summary.conflicts, 1, "{summary:?}");
    for d in [&a, &b, &c] {
        d.sync.sync().await.unwrap();
        assert_eq!(d.sync.pending_changes().unwrap(), 0);
    }
    assert_eq!(
        c.store
            .get_vehicle(id.clone())
            .unwrap()
            .unwrap()
            .colour
            .as_deref(),
        Some("white"),
        "the value that reached the server first stays"
    );
    assert_eq!(data(&a), data(&c));
    assert_eq!(data(&b), data(&c));
    let log = c.sync.conflicts().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].field,
            log[0].local_value.as_deref(),
            log[0].remote_value.as_deref()
        ),
        (
            Some(aparking_core::RecordField::Vehicle {
                field: aparking_core::VehicleField::Colour
            }),
            Some("black"),
            Some("white")
        )
    );
}

#[tokio::test]
async fn with_local_wins_a_field_set_back_elsewhere_is_overwritten_and_logged() {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    server.add_account("token-a");
    let (a, b, c) = (
        device(&server, false),
        device(&server, false),
        device(&server, true),
    );
    let id = shared_vehicle(&a, &b).await;
    c.sync.sync().await.unwrap();
    let set_make = |d: &Device, value: &str| {
        patch(
            d,
            &id,
            VehiclePatch {
                make: Some(value.into()),
                ..Default::default()
            },
        )
    };
    set_make(&b, "Lada");
    b.sync.sync().await.unwrap();
    a.sync.sync().await.unwrap();
    set_make(&a, "Kia");
    a.sync.sync().await.unwrap();
    set_make(&c, "Toyota");
    c.sync.sync().await.unwrap();
    a.sync.sync().await.unwrap();
    assert_eq!(
        a.store.get_vehicle(id).unwrap().unwrap().make.as_deref(),
        Some("Toyota"),
        "the configured local win reached the server"
    );
    let log = c.sync.conflicts().unwrap();
    assert_eq!(log.len(), 1, "the overwritten value is logged: {log:?}");
    assert_eq!(
        (
            log[0].local_value.as_deref(),
            log[0].remote_value.as_deref()
        ),
        (Some("Toyota"), Some("Kia"))
    );
    assert_eq!(
        log[0].resolution,
        aparking_core::ConflictResolution::LocalWon
    );
}

#[tokio::test]
async fn a_link_moved_from_a_removed_vehicle_to_another_is_no_conflict_where_the_removal_unlinked_it(
) {
    // A removes the vehicle a document links to and links the document to another one.
    // B, pulling the removal, unlinks the document itself (as a removal here does); the
    // document's new link then arrives: B's unlink only followed the removal, so the new
    // link is taken without a conflict.
    let (_server, a, b) = setup();
    let old = shared_vehicle(&a, &b).await;
    let doc = a
        .store
        .add_document(NewDocument {
            kind: DocumentKind::VehicleRegistrationCertificate,
            number: "AB1234567".into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: Some(old.clone()),
        })
        .unwrap();
    sync_all(&a, &b).await;
    a.store.remove_vehicle(old).unwrap();
    let new = a
        .store
        .add_vehicle(NewVehicle {
            plate: "456DEF03".into(),
            ..Default::default()
        })
        .unwrap();
    a.store
        .update_document(
            doc.id.clone(),
            aparking_core::DocumentPatch {
                vehicle_id: Some(new.id.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    sync_all(&a, &b).await;
    assert_eq!(data(&a), data(&b));
    assert_eq!(
        b.store.get_document(doc.id).unwrap().unwrap().vehicle_id,
        Some(new.id)
    );
    assert!(
        b.sync.conflicts().unwrap().is_empty(),
        "{:?}",
        b.sync.conflicts()
    );
}
