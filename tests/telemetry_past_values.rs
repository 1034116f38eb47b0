//! The PII firewall knows more than today's values (issue #11, point 6): values the user
//! had before (a corrected document number, a removed document, a replaced nickname, a
//! former name, a value another device changed) and every free-text personal field are
//! refused in telemetry, in any case and with look-alike and full-width variants; past
//! values are kept only as sealed keyed fingerprints, survive a data-key rotation and go
//! with an erasure.

mod common;

use aparking_core::{
    DocumentKind, DocumentPatch, NewDocument, NewVehicle, ProfilePatch, Purpose, Store, Telemetry,
    TelemetryEvent, VehiclePatch,
};
use common::privacy::*;
use common::sync::*;
use common::*;
use std::path::Path;
use std::sync::Arc;

const NOWHERE: &str = "http://127.0.0.1:9";

fn licence(number: &str) -> NewDocument {
    NewDocument {
        kind: DocumentKind::DriverLicence,
        number: number.into(),
        issued_on: None,
        expires_on: None,
        vehicle_id: None,
    }
}

fn screen(name: &str) -> TelemetryEvent {
    TelemetryEvent::ScreenView {
        screen: name.into(),
    }
}

/// Telemetry with every purpose granted.
fn granted(store: &Arc<Store>) -> Arc<Telemetry> {
    let t = telemetry(store, NOWHERE);
    consent_with_policy(store, 1)
        .accept_policy(1, Purpose::ALL.to_vec(), context())
        .unwrap();
    t
}

/// Records `screens`; returns how many the firewall dropped and how many were queued.
fn outcome(t: &Telemetry, screens: &[&str]) -> (i64, i64) {
    let before: i64 = t.counters().unwrap().dropped_firewall.values().sum();
    let queued = t.pending_events(None).unwrap();
    for s in screens {
        t.record(screen(s));
    }
    assert!(t.flush(5_000));
    let dropped: i64 = t.counters().unwrap().dropped_firewall.values().sum();
    (dropped - before, t.pending_events(None).unwrap() - queued)
}

fn past_rows(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM firewall_past", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn values_the_user_had_before_and_free_text_are_refused_in_every_spelling() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    store
        .update_profile(ProfilePatch {
            phone: Some("+7 701 111 22 33".into()),
            full_name: Some("Aigerim Bekova".into()),
            ..Default::default()
        })
        .unwrap();
    let doc = store.add_document(licence("DL77001122")).unwrap();
    let removed = store.add_document(licence("KZ55667788")).unwrap();
    let car = store
        .add_vehicle(NewVehicle {
            plate: "123ABC02".into(),
            nickname: Some("Bumblebee".into()),
            make: Some("Skoda".into()),
            ..Default::default()
        })
        .unwrap();
    // Then each value changes or goes.
    let patch = DocumentPatch {
        number: Some("DL77009999".into()),
        ..Default::default()
    };
    store.update_document(doc.id, patch).unwrap();
    store.remove_document(removed.id).unwrap();
    let patch = VehiclePatch {
        nickname: Some("Optimus".into()),
        ..Default::default()
    };
    store.update_vehicle(car.id, patch).unwrap();
    let patch = ProfilePatch {
        full_name: Some("Dana Bekova".into()),
        phone: Some("+7 702 444 55 66".into()),
        ..Default::default()
    };
    store.update_profile(patch).unwrap();
    assert!(past_rows(&path) > 0, "fingerprints are kept");

    let t = granted(&store);
    let refused = [
        "help_dl77001122",         // the corrected number, lower case
        "doc_КZ55667788",          // the removed one, a Cyrillic look-alike
        "ＢＵＭＢＬＥＢＥＥ_card", // the replaced nickname, full width
        "bumble-bee",              // and with a separator
        "hello_aigerim",           // a word of the former name
        "optimus_screen",          // today's nickname (free text)
        "skoda_settings",          // today's make
    ];
    assert_eq!(outcome(&t, &refused), (refused.len() as i64, 0));
    // Other text still goes: the firewall does not refuse everything.
    assert_eq!(
        outcome(&t, &["parking_map", "bumble", "help_dl7700"]),
        (0, 3)
    );
}

#[test]
fn a_corrected_number_stays_refused_after_a_key_rotation_and_a_reopen() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let doc = store.add_document(licence("DL66001122")).unwrap();
    let patch = DocumentPatch {
        number: Some("DL66003344".into()),
        ..Default::default()
    };
    store.update_document(doc.id, patch).unwrap();
    store.rotate_data_key().unwrap();
    let t = granted(&store);
    assert_eq!(outcome(&t, &["doc_dl66001122"]), (1, 0), "after a rotation");
    drop(t);
    store.close().unwrap();
    drop(store);
    // Reopened: still refused (the fingerprints and their key are in the file).
    let store = open(&path, &key(1));
    let t = telemetry(&store, NOWHERE);
    assert_eq!(outcome(&t, &["doc_dl66001122", "map"]), (1, 1));
}

#[test]
fn erasure_removes_the_fingerprints_with_their_key() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let doc = store.add_document(licence("DL44001122")).unwrap();
    store.remove_document(doc.id).unwrap();
    assert_eq!(past_rows(&path), 2, "one fingerprint and its key");
    store.delete_all_user_data().unwrap();
    assert_eq!(past_rows(&path), 0);
}

#[tokio::test]
async fn a_nickname_another_device_replaced_is_refused_here_once_pulled() {
    let (server, _account) = server_with_account("token-past");
    let (_da, path_a) = temp_store_path();
    let (_db, path_b) = temp_store_path();
    let (a, b) = (open(&path_a, &key(1)), open(&path_b, &key(2)));
    let (sa, sb) = (
        sync_client(&a, &server, "token-past"),
        sync_client(&b, &server, "token-past"),
    );
    let car = a
        .add_vehicle(NewVehicle {
            plate: "123ABC02".into(),
            nickname: Some("Lightning".into()),
            ..Default::default()
        })
        .unwrap();
    sa.sync().await.unwrap();
    sb.sync().await.unwrap();
    let patch = VehiclePatch {
        nickname: Some("Mater".into()),
        ..Default::default()
    };
    a.update_vehicle(car.id, patch).unwrap();
    sa.sync().await.unwrap();
    assert_eq!(past_rows(&path_b), 0, "nothing replaced on B yet");
    sb.sync().await.unwrap();
    let t = granted(&b);
    assert_eq!(outcome(&t, &["lightning_mcqueen", "map"]), (1, 1));
}
