//! The sync outbox: every local change of a synced record writes exactly one entry, with
//! the changed fields, in the same transaction as the change.

mod common;

use aparking_core::testing::pending_sync_changes;
use aparking_core::{
    DocumentKind, DocumentPatch, NewDocument, NewVehicle, ProfileField, ProfilePatch, VehicleField,
    VehiclePatch,
};
use common::*;
use serde_json::json;

#[test]
fn each_change_writes_one_entry_with_the_changed_fields() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let car = store
        .add_vehicle(NewVehicle {
            plate: "123 авс 02".into(),
            make: Some("Kia".into()),
            ..Default::default()
        })
        .unwrap();
    store
        .update_vehicle(
            car.id.clone(),
            VehiclePatch {
                nickname: Some("Work".into()),
                clear: vec![VehicleField::Make],
                ..Default::default()
            },
        )
        .unwrap();
    // A patch that changes nothing writes nothing.
    store
        .update_vehicle(
            car.id.clone(),
            VehiclePatch {
                nickname: Some("Work".into()),
                ..Default::default()
            },
        )
        .unwrap();
    store
        .update_profile(ProfilePatch {
            phone: Some("+77012345678".into()),
            ..Default::default()
        })
        .unwrap();
    store
        .update_profile(ProfilePatch {
            email: Some("a@b.kz".into()),
            clear: vec![ProfileField::FullName],
            ..Default::default()
        })
        .unwrap();
    let doc = store
        .add_document(NewDocument {
            kind: DocumentKind::DriverLicence,
            number: "DL112233".into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: None,
        })
        .unwrap();
    store
        .update_document(
            doc.id.clone(),
            DocumentPatch {
                expires_on: Some("2031-01-01".into()),
                ..Default::default()
            },
        )
        .unwrap();
    store.remove_document(doc.id.clone()).unwrap();
    store.remove_vehicle(car.id.clone()).unwrap();

    let changes = pending_sync_changes(&store).unwrap();
    let profile_id = store.get_profile().unwrap().unwrap().id;
    let expected = vec![
        (
            "vehicle",
            car.id.as_str(),
            "upsert",
            json!({"plate": "123ABC02", "nickname": null, "make": "Kia", "model": null, "colour": null, "registration_certificate_number": null}),
        ),
        (
            "vehicle",
            car.id.as_str(),
            "upsert",
            json!({"nickname": "Work", "make": null}),
        ),
        (
            "profile",
            profile_id.as_str(),
            "upsert",
            json!({"phone": "+77012345678", "full_name": null, "email": null, "preferred_language": null}),
        ),
        (
            "profile",
            profile_id.as_str(),
            "upsert",
            json!({"email": "a@b.kz"}),
        ),
        (
            "document",
            doc.id.as_str(),
            "upsert",
            json!({"kind": "driver_licence", "number": "DL112233", "issued_on": null, "expires_on": null, "vehicle_id": null}),
        ),
        (
            "document",
            doc.id.as_str(),
            "upsert",
            json!({"expires_on": "2031-01-01"}),
        ),
        ("document", doc.id.as_str(), "delete", json!({})),
        ("vehicle", car.id.as_str(), "delete", json!({})),
    ];
    let got: Vec<_> = changes
        .iter()
        .map(|(e, r, o, f)| (e.as_str(), r.as_str(), o.as_str(), f.clone()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_failed_change_leaves_no_entry() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    add_plate(&store, "123ABC02");
    assert!(store
        .add_vehicle(NewVehicle {
            plate: "123 ABC 02".into(),
            ..Default::default()
        })
        .is_err());
    assert!(store
        .add_vehicle(NewVehicle {
            plate: "nope".into(),
            ..Default::default()
        })
        .is_err());
    assert!(store
        .update_profile(ProfilePatch {
            full_name: Some("x".into()),
            ..Default::default()
        })
        .is_err());
    assert_eq!(pending_sync_changes(&store).unwrap().len(), 1);
}

#[test]
fn entries_survive_reopening_and_key_rotation_and_go_with_erasure() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let before = pending_sync_changes(&store).unwrap();
    assert_eq!(before.len(), 6, "profile, three vehicles, two documents");
    store.rotate_data_key().unwrap();
    drop(store);
    let store = open(&path, &key(1));
    assert_eq!(pending_sync_changes(&store).unwrap(), before);
    store.delete_all_user_data().unwrap();
    assert!(pending_sync_changes(&store).unwrap().is_empty());
}
