//! Sync converges (issue #16, points 1 and 2): no change stays pending for ever, no record
//! is dropped silently, and no document links to a vehicle that is not live, with two
//! real stores and the reference backend on 127.0.0.1.
//!
//! - A number corrected on one device to the value another device has just added offline:
//!   the new record, never synced, is merged into the server's (logged `Merged`).
//! - A new number corrected before its first sync: the correction goes out with it.
//! - A synced vehicle moved to a plate another device has just given a new vehicle: it
//!   keeps the plate the server has for it (logged), and both vehicles are kept.
//! - Dates valid alone and invalid together: the server's dates are kept (logged), and a
//!   removal queued behind the edit reaches the server.
//! - A link to a vehicle removed on another device is dropped on the server and on every
//!   device; a vehicle removed on a device that has not seen a link made elsewhere: the
//!   device that made it unlinks when it pulls the removal, and the backend follows.
//! - A link the backend drops (its vehicle removed in an earlier batch) does not undo a
//!   newer link of the same document still waiting to be pushed.

mod common;

use aparking_core::{
    ConflictResolution, DocumentKind, DocumentPatch, NewDocument, Store, SyncClient, VehiclePatch,
};
use aparking_server::{ReferenceServer, ServerConfig};
use common::sync::*;
use common::*;
use std::sync::Arc;

const TOKEN: &str = "token-c";

struct Device {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    sync: Arc<SyncClient>,
}

fn device(server: &ReferenceServer, seed: u8) -> Device {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(seed));
    let sync = sync_client(&store, server, TOKEN);
    Device {
        _dir: dir,
        store,
        sync,
    }
}

fn setup() -> (ReferenceServer, String, Device, Device) {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let account = server.add_account(TOKEN);
    let (a, b) = (device(&server, 1), device(&server, 2));
    (server, account, a, b)
}

fn licence(number: &str) -> NewDocument {
    NewDocument {
        kind: DocumentKind::DriverLicence,
        number: number.into(),
        issued_on: None,
        expires_on: None,
        vehicle_id: None,
    }
}

/// Both devices synced until quiet: nothing pending anywhere.
async fn settle(a: &Device, b: &Device) {
    for d in [a, b, a, b] {
        d.sync.sync().await.unwrap();
    }
    assert_eq!(a.sync.pending_changes().unwrap(), 0, "nothing stuck on A");
    assert_eq!(b.sync.pending_changes().unwrap(), 0, "nothing stuck on B");
}

/// (id, number, link) of every document of a device, sorted.
fn documents(d: &Device) -> Vec<(String, String, Option<String>)> {
    let mut docs: Vec<_> = d
        .store
        .list_documents()
        .unwrap()
        .into_iter()
        .map(|x| (x.id, x.number, x.vehicle_id))
        .collect();
    docs.sort();
    docs
}

/// (id, plate) of every vehicle of a device, sorted.
fn vehicles(d: &Device) -> Vec<(String, String)> {
    let mut list: Vec<_> = d
        .store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| (v.id, v.plate.canonical))
        .collect();
    list.sort();
    list
}

fn live_on_server(server: &ReferenceServer, account: &str, entity: &str) -> usize {
    server
        .records(account)
        .iter()
        .filter(|r| r.entity == entity && !r.deleted)
        .count()
}

#[tokio::test]
async fn a_number_corrected_to_one_added_offline_elsewhere_merges_the_two_documents() {
    let (server, account, a, b) = setup();
    let shared = a.store.add_document(licence("DL10000001")).unwrap();
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    // B adds DL10000002 offline; A corrects its licence to that very number.
    let added = b.store.add_document(licence("DL10000002")).unwrap();
    a.store
        .update_document(
            shared.id.clone(),
            DocumentPatch {
                number: Some("DL10000002".into()),
                ..Default::default()
            },
        )
        .unwrap();
    a.sync.sync().await.unwrap();

    settle(&a, &b).await;
    assert_eq!(documents(&a), documents(&b), "the devices agree");
    assert_eq!(documents(&b).len(), 1, "one licence with that number");
    assert_eq!(
        documents(&b)[0].0,
        shared.id,
        "the server's record kept its id"
    );
    assert_eq!(live_on_server(&server, &account, "document"), 1);
    let merged = b
        .sync
        .conflicts()
        .unwrap()
        .into_iter()
        .find(|c| c.resolution == ConflictResolution::Merged)
        .expect("the merge is in B's conflict log");
    assert_eq!(merged.record_id, added.id);
    assert_eq!(merged.merged_into.as_deref(), Some(shared.id.as_str()));
    match merged.local_record {
        Some(aparking_core::RecordValues::Document { document }) => {
            assert_eq!(document.number, "DL10000002")
        }
        other => panic!("the merged document's values: {other:?}"),
    }
}

#[tokio::test]
async fn a_new_number_corrected_before_its_first_sync_reaches_the_server() {
    let (server, account, a, b) = setup();
    a.store.add_document(licence("DL20000001")).unwrap();
    a.sync.sync().await.unwrap();
    // B has not pulled yet: it adds the same number, then corrects it, offline.
    let mine = b.store.add_document(licence("DL20000001")).unwrap();
    b.store
        .update_document(
            mine.id.clone(),
            DocumentPatch {
                number: Some("DL20000002".into()),
                ..Default::default()
            },
        )
        .unwrap();

    settle(&a, &b).await;
    assert_eq!(live_on_server(&server, &account, "document"), 2);
    assert_eq!(documents(&a), documents(&b));
    assert!(documents(&b)
        .iter()
        .any(|(id, number, _)| *id == mine.id && number == "DL20000002"));
}

#[tokio::test]
async fn a_synced_vehicle_moved_to_a_plate_just_used_elsewhere_keeps_its_plate_and_logs_it() {
    let (server, account, a, b) = setup();
    let v = add_plate(&a.store, "123ABC02");
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    // A gives a new vehicle 777KZX01; B, offline, moves V to 777KZX01 and renames it.
    let w = add_plate(&a.store, "777KZX01");
    a.sync.sync().await.unwrap();
    b.store
        .update_vehicle(
            v.id.clone(),
            VehiclePatch {
                plate: Some("777 KZX 01".into()),
                nickname: Some("Work".into()),
                ..Default::default()
            },
        )
        .unwrap();

    settle(&a, &b).await;
    let expected = {
        let mut e = vec![
            (v.id.clone(), "123ABC02".to_string()),
            (w.id.clone(), "777KZX01".to_string()),
        ];
        e.sort();
        e
    };
    assert_eq!(vehicles(&b), expected, "B lost no vehicle");
    assert_eq!(vehicles(&a), expected);
    assert_eq!(live_on_server(&server, &account, "vehicle"), 2);
    assert_eq!(
        a.store
            .get_vehicle(v.id.clone())
            .unwrap()
            .unwrap()
            .nickname
            .as_deref(),
        Some("Work"),
        "the rest of B's edit went through"
    );
    let logged = b.sync.conflicts().unwrap();
    assert!(
        logged.iter().any(|c| c.record_id == v.id
            && c.field
                == Some(aparking_core::RecordField::Vehicle {
                    field: aparking_core::VehicleField::Plate
                })
            && c.local_value.as_deref() == Some("777KZX01")
            && c.remote_value.as_deref() == Some("123ABC02")
            && c.resolution == ConflictResolution::ServerWon),
        "{logged:?}"
    );
}

fn dated(number: &str, issued: &str, expires: &str) -> NewDocument {
    NewDocument {
        issued_on: Some(issued.into()),
        expires_on: Some(expires.into()),
        ..licence(number)
    }
}

fn set_dates(d: &Device, id: &str, issued: Option<&str>, expires: Option<&str>) {
    d.store
        .update_document(
            id.to_string(),
            DocumentPatch {
                issued_on: issued.map(str::to_string),
                expires_on: expires.map(str::to_string),
                ..Default::default()
            },
        )
        .unwrap();
}

#[tokio::test]
async fn dates_valid_alone_and_invalid_together_keep_the_servers_and_nothing_is_stuck() {
    let (server, account, a, b) = setup();
    let doc = a
        .store
        .add_document(dated("DL30000001", "2020-01-01", "2030-01-01"))
        .unwrap();
    let other = a
        .store
        .add_document(dated("DL30000002", "2020-01-01", "2030-01-01"))
        .unwrap();
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    // A moves the issue dates forward; B, offline, moves the expiry dates back: each valid
    // alone, together they would expire before they are issued. B then removes `other`.
    set_dates(&a, &doc.id, Some("2026-01-01"), None);
    set_dates(&a, &other.id, Some("2026-01-01"), None);
    a.sync.sync().await.unwrap();
    set_dates(&b, &doc.id, None, Some("2025-01-01"));
    set_dates(&b, &other.id, None, Some("2025-01-01"));
    b.store.remove_document(other.id.clone()).unwrap();

    settle(&a, &b).await;
    for d in [&a, &b] {
        let kept = d.store.get_document(doc.id.clone()).unwrap().unwrap();
        assert_eq!(
            (kept.issued_on.as_deref(), kept.expires_on.as_deref()),
            (Some("2026-01-01"), Some("2030-01-01")),
            "the server's dates"
        );
        assert!(d.store.get_document(other.id.clone()).unwrap().is_none());
    }
    assert_eq!(
        live_on_server(&server, &account, "document"),
        1,
        "the removal went through"
    );
    assert!(b
        .sync
        .conflicts()
        .unwrap()
        .iter()
        .any(|c| c.record_id == doc.id
            && c.field
                == Some(aparking_core::RecordField::Document {
                    field: aparking_core::DocumentField::ExpiresOn
                })
            && c.local_value.as_deref() == Some("2025-01-01")));
}

/// A vehicle and an unlinked registration certificate made on A, synced to both.
async fn vehicle_and_certificate(
    a: &Device,
    b: &Device,
    number: &str,
) -> (aparking_core::Vehicle, aparking_core::Document) {
    let v = add_plate(&a.store, "123ABC02");
    let doc = a
        .store
        .add_document(NewDocument {
            kind: DocumentKind::VehicleRegistrationCertificate,
            number: number.into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: None,
        })
        .unwrap();
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    (v, doc)
}

/// Links `doc` to `vehicle` on device `d`.
fn link(d: &Device, doc: &str, vehicle: &str) {
    d.store
        .update_document(
            doc.to_string(),
            DocumentPatch {
                vehicle_id: Some(vehicle.to_string()),
                ..Default::default()
            },
        )
        .unwrap();
}

#[tokio::test]
async fn a_link_to_a_vehicle_removed_elsewhere_is_dropped_on_the_server_and_every_device() {
    let (server, account, a, b) = setup();
    let (v, doc) = vehicle_and_certificate(&a, &b, "AB123456").await;
    // A removes the vehicle; B, offline, links the certificate to it.
    a.store.remove_vehicle(v.id.clone()).unwrap();
    a.sync.sync().await.unwrap();
    link(&b, &doc.id, &v.id);

    settle(&a, &b).await;
    let on_server = server
        .records(&account)
        .into_iter()
        .find(|r| r.record_id == doc.id)
        .unwrap();
    assert_eq!(
        on_server.fields.get("vehicle_id").cloned().flatten(),
        None,
        "no dangling link"
    );
    for d in [&a, &b] {
        assert_eq!(
            d.store
                .get_document(doc.id.clone())
                .unwrap()
                .unwrap()
                .vehicle_id,
            None
        );
        assert!(d.store.list_vehicles().unwrap().is_empty());
    }
    assert!(b
        .sync
        .conflicts()
        .unwrap()
        .iter()
        .any(|c| c.record_id == doc.id
            && c.field
                == Some(aparking_core::RecordField::Document {
                    field: aparking_core::DocumentField::VehicleId
                })
            && c.local_value.as_deref() == Some(v.id.as_str())
            && c.remote_value.is_none()));
}

#[tokio::test]
async fn a_vehicle_removed_where_its_link_is_unknown_ends_with_no_link_anywhere() {
    let (server, account, a, b) = setup();
    let (v, doc) = vehicle_and_certificate(&a, &b, "AB654321").await;
    // A links the certificate; B, which has not pulled the link, removes the vehicle.
    link(&a, &doc.id, &v.id);
    a.sync.sync().await.unwrap();
    b.store.remove_vehicle(v.id.clone()).unwrap();
    b.sync.sync().await.unwrap();
    // A pulls the delete and unlinks its certificate, as a change that reaches the backend.
    settle(&a, &b).await;
    let on_server = server
        .records(&account)
        .into_iter()
        .find(|r| r.record_id == doc.id)
        .unwrap();
    assert_eq!(
        on_server.fields.get("vehicle_id").cloned().flatten(),
        None,
        "no dangling link on the backend"
    );
    assert_eq!(documents(&a), documents(&b));
    assert_eq!(
        a.store.get_document(doc.id).unwrap().unwrap().vehicle_id,
        None
    );
}

/// Found by the chaos test: a link the backend dropped (its vehicle was removed in an
/// earlier batch) used to be written back over the record's newer link, still pending.
#[tokio::test]
async fn a_dropped_link_to_a_removed_vehicle_does_not_undo_a_newer_link_still_pending() {
    let (server, account, a, b) = setup();
    let (gone, doc) = vehicle_and_certificate(&a, &b, "AB777777").await;
    let kept = add_plate(&a.store, "456DEF02");
    a.sync.sync().await.unwrap();
    // Offline: an edit first, so that the link to `gone` goes out in a batch after its
    // removal; then the removal (which unlinks), then a link to `kept`.
    a.store
        .update_document(
            doc.id.clone(),
            DocumentPatch {
                number: Some("AB777778".into()),
                ..Default::default()
            },
        )
        .unwrap();
    link(&a, &doc.id, &gone.id);
    a.store.remove_vehicle(gone.id.clone()).unwrap();
    link(&a, &doc.id, &kept.id);

    a.sync.sync().await.unwrap();
    let here = a.store.get_document(doc.id.clone()).unwrap().unwrap();
    assert_eq!(
        here.vehicle_id.as_deref(),
        Some(kept.id.as_str()),
        "the newer link stays"
    );
    let on_server = server
        .records(&account)
        .into_iter()
        .find(|r| r.record_id == doc.id)
        .unwrap();
    assert_eq!(
        on_server
            .fields
            .get("vehicle_id")
            .cloned()
            .flatten()
            .as_deref(),
        Some(kept.id.as_str())
    );
    assert!(
        a.sync.conflicts().unwrap().is_empty(),
        "nothing to report: the dropped link was already replaced here"
    );
    settle(&a, &b).await;
    assert_eq!(documents(&a), documents(&b));
}

fn set_plate(d: &Device, id: &str, plate: &str) {
    let patch = VehiclePatch {
        plate: Some(plate.into()),
        ..Default::default()
    };
    d.store.update_vehicle(id.to_string(), patch).unwrap();
}

fn rename(d: &Device, id: &str, nickname: &str) {
    let patch = VehiclePatch {
        nickname: Some(nickname.into()),
        ..Default::default()
    };
    d.store.update_vehicle(id.to_string(), patch).unwrap();
}

/// A hands vehicle Y's plate to vehicle X (Y first moves to a third plate) and edits Y
/// again afterwards, so the pull lists X, holding the plate B's copy of Y still has,
/// before Y's move. Returns (X, Y).
async fn hand_plate_over(a: &Device, b: &Device) -> (String, String) {
    let x = add_plate(&a.store, "123ABC02").id;
    let y = add_plate(&a.store, "456DEF03").id;
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    set_plate(a, &y, "789GHK04");
    set_plate(a, &x, "456DEF03");
    rename(a, &y, "later");
    a.sync.sync().await.unwrap();
    (x, y)
}

/// A plate handed from one vehicle to another, pulled before the holder's own move: the
/// pull applies the move first and then the handed plate, in one page; nothing is
/// skipped and the devices agree.
#[tokio::test]
async fn a_plate_handed_to_another_vehicle_is_pulled_before_the_holders_move() {
    let (server, account, a, b) = setup();
    let (x, y) = hand_plate_over(&a, &b).await;
    let summary = b.sync.sync().await.unwrap();
    assert_eq!(summary.rejected, 0, "nothing skipped: {summary:?}");
    assert_eq!(vehicles(&b), vehicles(&a));
    let plate = |id: &str| {
        b.store
            .get_vehicle(id.into())
            .unwrap()
            .unwrap()
            .plate
            .canonical
    };
    assert_eq!(plate(&x), "456DEF03");
    assert_eq!(plate(&y), "789GHK04");
    assert_eq!(live_on_server(&server, &account, "vehicle"), 2);
    settle(&a, &b).await;
}

/// The same with the handed plate and the holder's move on two pages (500 other vehicles
/// between them), and the pull cut short after the first (the second page's request
/// fails): the saved cursor stays before the first page, so the next sync fetches the
/// handed plate again and nothing is lost.
#[tokio::test]
async fn a_handed_plate_waiting_across_pages_survives_a_pull_cut_short() {
    use aparking_server::{Fault, FaultPlan};
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    server.add_account(TOKEN);
    let a = device(&server, 1);
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(2));
    let network = aparking_core::NetworkConfig {
        max_attempts: 1,
        ..fast_network()
    };
    let sync = sync_client_with(&store, &server, TOKEN, network);
    let b = Device {
        _dir: dir,
        store,
        sync,
    };
    let x = add_plate(&a.store, "123ABC02").id;
    let y = add_plate(&a.store, "456DEF03").id;
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    set_plate(&a, &y, "789GHK04");
    set_plate(&a, &x, "456DEF03");
    for n in 0..500 {
        // 2012 legal-entity plates: 3 digits, 2 letters, region.
        add_plate(
            &a.store,
            &format!("{:03}AB{:02}", 100 + n % 900, 1 + n / 900),
        );
    }
    rename(&a, &y, "later");
    a.sync.sync().await.unwrap();
    // The first page (X and 499 others) passes; the second fails.
    server.inject(
        FaultPlan::new()
            .then_on("/v1/sync/pull", Fault::Delay(std::time::Duration::ZERO))
            .then_on(
                "/v1/sync/pull",
                Fault::Status {
                    code: 503,
                    retry_after_secs: None,
                },
            ),
    );
    assert!(b.sync.sync().await.is_err(), "the pull was cut short");
    b.sync.sync().await.unwrap();
    let plate = b.store.get_vehicle(x).unwrap().unwrap().plate.canonical;
    assert_eq!(plate, "456DEF03", "X's plate was fetched again");
    assert_eq!(vehicles(&b), vehicles(&a));
}

/// Two vehicles that swapped plates (through a third) on A: on B each pulled plate is
/// held by the other vehicle, a cycle; the pull frees one and applies both.
#[tokio::test]
async fn two_vehicles_that_swapped_plates_elsewhere_swap_here_too() {
    let (_server, _account, a, b) = setup();
    let x = add_plate(&a.store, "123ABC02").id;
    let y = add_plate(&a.store, "456DEF03").id;
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    for (id, plate) in [(&x, "789GHK04"), (&y, "123ABC02"), (&x, "456DEF03")] {
        set_plate(&a, id, plate);
        a.sync.sync().await.unwrap();
    }
    let summary = b.sync.sync().await.unwrap();
    assert_eq!(summary.rejected, 0, "nothing skipped: {summary:?}");
    let plate = |id: &str| {
        b.store
            .get_vehicle(id.into())
            .unwrap()
            .unwrap()
            .plate
            .canonical
    };
    assert_eq!(
        (plate(&x), plate(&y)),
        ("456DEF03".into(), "123ABC02".into())
    );
    // The lookup by plate finds each vehicle under its new plate.
    let found = b.store.find_vehicle_by_plate("456 DEF 03".into()).unwrap();
    assert_eq!(found.map(|v| v.id), Some(x.clone()));
    assert_eq!(vehicles(&b), vehicles(&a));
    settle(&a, &b).await;
}

/// The same for two licences that swapped numbers on A (the number index is freed and
/// rewritten, as the plate's is).
#[tokio::test]
async fn two_licences_that_swapped_numbers_elsewhere_swap_here_too() {
    let (_server, _account, a, b) = setup();
    let x = a.store.add_document(licence("DL50000001")).unwrap().id;
    let y = a.store.add_document(licence("DL50000002")).unwrap().id;
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    for (id, number) in [(&x, "DL50000003"), (&y, "DL50000001"), (&x, "DL50000002")] {
        let patch = DocumentPatch {
            number: Some(number.into()),
            ..Default::default()
        };
        a.store.update_document(id.clone(), patch).unwrap();
        a.sync.sync().await.unwrap();
    }
    let summary = b.sync.sync().await.unwrap();
    assert_eq!(summary.rejected, 0, "nothing skipped: {summary:?}");
    assert_eq!(documents(&b), documents(&a));
    let found = b
        .store
        .find_document_by_number(DocumentKind::DriverLicence, "DL50000002".into())
        .unwrap();
    assert_eq!(found.map(|d| d.id), Some(x));
    settle(&a, &b).await;
}

/// B moves a synced licence C to the number A's licence E has on the server, then adds a
/// new licence N with C's old number. The push answers `exists` for C: C goes back to its
/// server number, which N holds here; N, never synced, is folded into C (logged
/// `Merged`). Nothing stays pending.
#[tokio::test]
async fn a_synced_number_going_back_to_a_value_a_new_record_holds_folds_that_record_in() {
    let (server, account, a, b) = setup();
    let c = a.store.add_document(licence("DL60000002")).unwrap().id;
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    let e = a.store.add_document(licence("DL60000003")).unwrap().id;
    a.sync.sync().await.unwrap();
    let patch = DocumentPatch {
        number: Some("DL60000003".into()),
        ..Default::default()
    };
    b.store.update_document(c.clone(), patch).unwrap();
    let n = b.store.add_document(licence("DL60000002")).unwrap().id;
    b.sync.sync().await.unwrap();
    assert_eq!(b.sync.pending_changes().unwrap(), 0, "nothing stuck on B");
    let numbers: Vec<(String, String)> = documents(&b).into_iter().map(|d| (d.0, d.1)).collect();
    let mut expected = vec![
        (c.clone(), "DL60000002".to_string()),
        (e, "DL60000003".into()),
    ];
    expected.sort();
    assert_eq!(numbers, expected);
    let logged = b.sync.conflicts().unwrap();
    assert!(
        logged.iter().any(|x| x.record_id == c
            && x.field
                == Some(aparking_core::RecordField::Document {
                    field: aparking_core::DocumentField::Number
                })
            && x.local_value.as_deref() == Some("DL60000003")
            && x.resolution == ConflictResolution::ServerWon),
        "{logged:?}"
    );
    assert!(
        logged.iter().any(|x| x.record_id == n
            && x.merged_into.as_deref() == Some(c.as_str())
            && x.resolution == ConflictResolution::Merged),
        "{logged:?}"
    );
    settle(&a, &b).await;
    assert_eq!(documents(&a), documents(&b));
    assert_eq!(live_on_server(&server, &account, "document"), 2);
}

/// B moves a synced licence to a number another licence has on the server, then removes
/// it before syncing: the edit (answered `exists`) does not hold the removal back.
#[tokio::test]
async fn a_removal_behind_an_edit_answered_exists_reaches_the_server() {
    let (server, account, a, b) = setup();
    let c = a.store.add_document(licence("DL70000001")).unwrap().id;
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    a.store.add_document(licence("DL70000002")).unwrap();
    a.sync.sync().await.unwrap();
    let patch = DocumentPatch {
        number: Some("DL70000002".into()),
        ..Default::default()
    };
    b.store.update_document(c.clone(), patch).unwrap();
    b.store.remove_document(c.clone()).unwrap();
    settle(&a, &b).await;
    assert_eq!(live_on_server(&server, &account, "document"), 1);
    assert!(
        a.store.get_document(c).unwrap().is_none(),
        "removed everywhere"
    );
    assert_eq!(documents(&a), documents(&b));
}

/// B adds a licence with a number A's licence already has on the server and removes it
/// before syncing: the create, answered `exists`, is dropped with the removal (the record
/// never reached the backend), so neither waits for ever.
#[tokio::test]
async fn a_new_record_removed_before_its_create_was_accepted_leaves_nothing_pending() {
    let (server, account, a, b) = setup();
    a.store.add_document(licence("DL80000001")).unwrap();
    a.sync.sync().await.unwrap();
    let n = b.store.add_document(licence("DL80000001")).unwrap().id;
    b.store.remove_document(n).unwrap();
    settle(&a, &b).await;
    assert_eq!(live_on_server(&server, &account, "document"), 1);
    assert_eq!(documents(&a), documents(&b));
}

/// B swaps the plates of two synced vehicles locally (through a third plate) while A
/// renames both: B's pushes conflict, the pull merges each swap step into one change, and
/// each merged plate is then held on the server by the other vehicle (`exists` for both).
/// Each goes back to its server plate (logged with the lost value) instead of the two
/// waiting for each other for ever.
#[tokio::test]
async fn a_local_swap_merged_into_one_change_per_vehicle_settles_instead_of_waiting() {
    let (_server, _account, a, b) = setup();
    let x = add_plate(&a.store, "123ABC02").id;
    let y = add_plate(&a.store, "456DEF03").id;
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    rename(&a, &x, "Ax");
    rename(&a, &y, "Ay");
    a.sync.sync().await.unwrap();
    set_plate(&b, &x, "789GHK04");
    set_plate(&b, &y, "123ABC02");
    set_plate(&b, &x, "456DEF03");
    settle(&a, &b).await;
    assert_eq!(vehicles(&b), vehicles(&a));
    let logged = b.sync.conflicts().unwrap();
    let plate_of = |d: &Device, id: &str| {
        d.store
            .get_vehicle(id.into())
            .unwrap()
            .unwrap()
            .plate
            .canonical
    };
    let swapped = plate_of(&a, &x) == "456DEF03" && plate_of(&a, &y) == "123ABC02";
    let kept = plate_of(&a, &x) == "123ABC02" && plate_of(&a, &y) == "456DEF03";
    assert!(swapped || kept, "one consistent outcome");
    if kept {
        for (id, lost) in [(&x, "456DEF03"), (&y, "123ABC02")] {
            assert!(
                logged.iter().any(|c| &c.record_id == id
                    && c.field
                        == Some(aparking_core::RecordField::Vehicle {
                            field: aparking_core::VehicleField::Plate
                        })
                    && c.local_value.as_deref() == Some(lost)
                    && c.resolution == ConflictResolution::ServerWon),
                "the lost swap is logged: {logged:?}"
            );
        }
    }
}
