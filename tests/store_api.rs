//! The store API: profile, vehicles, documents, export, closing, validation errors.

mod common;

use aparking_core::{
    AparkingError, DocumentField, DocumentKind, DocumentPatch, Language, NewDocument, NewVehicle,
    PlateFormat, ProfileField, ProfilePatch, VehicleField, VehiclePatch,
};
use common::*;

fn vehicle(plate: &str) -> NewVehicle {
    NewVehicle {
        plate: plate.into(),
        ..Default::default()
    }
}

#[test]
fn cyrillic_and_latin_plates_find_the_same_vehicle_and_collide() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let added = store.add_vehicle(vehicle("123 авс 02")).unwrap();
    assert_eq!(added.plate.canonical, "123ABC02");
    assert_eq!(added.plate.display, "123 ABC 02");
    assert_eq!(added.plate.format, PlateFormat::Current);

    let found = store.find_vehicle_by_plate("123ABC02".into()).unwrap();
    assert_eq!(found.as_ref(), Some(&added));
    assert_eq!(
        store
            .find_vehicle_by_plate("123-АВС-02".into())
            .unwrap()
            .as_ref(),
        Some(&added)
    );

    assert_eq!(
        store.add_vehicle(vehicle("123ABC02")).unwrap_err(),
        AparkingError::AlreadyExists {
            entity: aparking_core::RecordKind::Vehicle
        }
    );
    assert_eq!(store.list_vehicles().unwrap().len(), 1);
    assert!(store
        .find_vehicle_by_plate("999ABC02".into())
        .unwrap()
        .is_none());
}

#[test]
fn malformed_input_is_invalid_input_naming_the_field_not_the_value() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let err = store.add_vehicle(vehicle("12 ЖЖ 99")).unwrap_err();
    match &err {
        AparkingError::InvalidInput { field, reason } => {
            assert_eq!(field, "plate");
            assert!(reason.contains("123 ABC 02") && !reason.contains("ЖЖ"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("ЖЖ"));
    assert!(
        matches!(store.find_vehicle_by_plate("nope".into()).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "plate")
    );
    assert!(
        matches!(store.add_vehicle(NewVehicle { nickname: Some("  ".into()), ..vehicle("123ABC02") }).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "nickname")
    );
    assert!(
        matches!(store.update_profile(ProfilePatch { phone: Some("+1 555 0100".into()), ..Default::default() }).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "phone")
    );
    assert!(
        matches!(store.add_document(NewDocument { kind: DocumentKind::DriverLicence, number: "12".into(), issued_on: None, expires_on: None, vehicle_id: None }).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "number")
    );
    // Nothing half-written by the failures.
    assert_eq!(store.info().unwrap().vehicle_count, 0);
}

#[test]
fn profile_requires_a_phone_and_updates_partially() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    assert!(store.get_profile().unwrap().is_none());
    assert_eq!(
        aparking_core::model::required_profile_fields(),
        vec![ProfileField::Phone]
    );
    assert_eq!(
        store
            .update_profile(ProfilePatch {
                full_name: Some("Arman".into()),
                ..Default::default()
            })
            .unwrap_err(),
        AparkingError::InvalidInput {
            field: "phone".into(),
            reason: "is required".into()
        }
    );

    let created = store
        .update_profile(ProfilePatch {
            phone: Some("8 (701) 234-56-78".into()),
            email: Some("Arman@Example.KZ".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(created.phone, "+77012345678");
    assert_eq!(created.email.as_deref(), Some("Arman@example.kz"));

    let updated = store
        .update_profile(ProfilePatch {
            full_name: Some(" Арман Бекович ".into()),
            preferred_language: Some(Language::Kk),
            clear: vec![ProfileField::Email],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(updated.phone, "+77012345678", "kept");
    assert_eq!(updated.full_name.as_deref(), Some("Арман Бекович"));
    assert_eq!(updated.email, None, "cleared");
    assert_eq!(updated.preferred_language, Some(Language::Kk));
    assert_eq!(
        (updated.id.as_str(), updated.created_at),
        (created.id.as_str(), created.created_at)
    );
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(store.get_profile().unwrap(), Some(updated));

    assert!(store
        .update_profile(ProfilePatch {
            clear: vec![ProfileField::Phone],
            ..Default::default()
        })
        .is_err());
    assert!(store
        .update_profile(ProfilePatch {
            email: Some("a@b.kz".into()),
            clear: vec![ProfileField::Email],
            ..Default::default()
        })
        .is_err());
}

#[test]
fn vehicles_update_remove_and_not_found() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let a = store
        .add_vehicle(NewVehicle {
            nickname: Some("Mine".into()),
            make: Some("Kia".into()),
            ..vehicle("001AAA01")
        })
        .unwrap();
    let b = store.add_vehicle(vehicle("A123BC")).unwrap();
    assert_eq!(b.plate.format, PlateFormat::Legacy);

    let a2 = store
        .update_vehicle(
            a.id.clone(),
            VehiclePatch {
                plate: Some("002 aaa 01".into()),
                colour: Some("чёрный".into()),
                registration_certificate_number: Some("ab 12 34 56".into()),
                clear: vec![VehicleField::Make],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(a2.plate.canonical, "002AAA01");
    assert_eq!(a2.nickname.as_deref(), Some("Mine"));
    assert_eq!(a2.make, None);
    assert_eq!(a2.colour.as_deref(), Some("чёрный"));
    assert_eq!(
        a2.registration_certificate_number.as_deref(),
        Some("AB123456")
    );
    assert!(
        store
            .find_vehicle_by_plate("001AAA01".into())
            .unwrap()
            .is_none(),
        "old index gone"
    );
    assert_eq!(
        store.find_vehicle_by_plate("002AAA01".into()).unwrap(),
        Some(a2.clone())
    );

    // Renaming onto another vehicle's plate collides.
    assert_eq!(
        store
            .update_vehicle(
                a.id.clone(),
                VehiclePatch {
                    plate: Some("A 123 BC".into()),
                    ..Default::default()
                }
            )
            .unwrap_err(),
        AparkingError::AlreadyExists {
            entity: aparking_core::RecordKind::Vehicle
        }
    );
    assert!(store
        .update_vehicle(
            a.id.clone(),
            VehiclePatch {
                clear: vec![VehicleField::Plate],
                ..Default::default()
            }
        )
        .is_err());

    assert_eq!(
        store.list_vehicles().unwrap(),
        vec![a2.clone(), b.clone()],
        "oldest first"
    );
    store.remove_vehicle(a.id.clone()).unwrap();
    assert_eq!(
        store.remove_vehicle(a.id.clone()).unwrap_err(),
        AparkingError::NotFound {
            entity: aparking_core::Entity::Vehicle
        }
    );
    assert!(store.get_vehicle(a.id.clone()).unwrap().is_none());
    assert_eq!(
        store
            .update_vehicle("no-such-id".into(), VehiclePatch::default())
            .unwrap_err(),
        AparkingError::NotFound {
            entity: aparking_core::Entity::Vehicle
        }
    );
    assert_eq!(store.list_vehicles().unwrap(), vec![b]);
}

#[test]
fn documents_crud_lookup_and_vehicle_link() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let car = store.add_vehicle(vehicle("123ABC02")).unwrap();
    let licence = store
        .add_document(NewDocument {
            kind: DocumentKind::DriverLicence,
            number: "ав 12-34 56".into(),
            issued_on: Some("2021-03-04".into()),
            expires_on: Some("2031-03-04".into()),
            vehicle_id: None,
        })
        .unwrap();
    assert_eq!(licence.number, "AB123456");
    let vrc = store
        .add_document(NewDocument {
            kind: DocumentKind::VehicleRegistrationCertificate,
            number: "AB123456".into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: Some(car.id.clone()),
        })
        .unwrap();
    // Same number, other kind: allowed. Same kind: duplicate.
    assert_eq!(
        store
            .add_document(NewDocument {
                kind: DocumentKind::DriverLicence,
                number: "AB 123456".into(),
                issued_on: None,
                expires_on: None,
                vehicle_id: None
            })
            .unwrap_err(),
        AparkingError::AlreadyExists {
            entity: aparking_core::RecordKind::Document
        }
    );
    assert_eq!(
        store
            .find_document_by_number(DocumentKind::DriverLicence, "АВ123456".into())
            .unwrap(),
        Some(licence.clone())
    );
    assert_eq!(
        store
            .find_document_by_number(
                DocumentKind::VehicleRegistrationCertificate,
                "ab-123456".into()
            )
            .unwrap(),
        Some(vrc.clone())
    );
    // Validation of dates and links.
    assert!(matches!(
        store.update_document(licence.id.clone(), DocumentPatch { expires_on: Some("2020-01-01".into()), ..Default::default() }).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "expiresOn"
    ));
    assert!(matches!(
        store.update_document(licence.id.clone(), DocumentPatch { issued_on: Some("2021-02-30".into()), ..Default::default() }).unwrap_err(),
        AparkingError::InvalidInput { field, .. } if field == "issuedOn"
    ));
    assert_eq!(
        store
            .update_document(
                licence.id.clone(),
                DocumentPatch {
                    vehicle_id: Some("missing".into()),
                    ..Default::default()
                }
            )
            .unwrap_err(),
        AparkingError::NotFound {
            entity: aparking_core::Entity::Vehicle
        }
    );
    let licence2 = store
        .update_document(
            licence.id.clone(),
            DocumentPatch {
                clear: vec![DocumentField::ExpiresOn],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (
            licence2.issued_on.as_deref(),
            licence2.expires_on.as_deref()
        ),
        (Some("2021-03-04"), None)
    );

    // Removing the vehicle unlinks its certificate.
    store.remove_vehicle(car.id).unwrap();
    assert_eq!(
        store
            .get_document(vrc.id.clone())
            .unwrap()
            .unwrap()
            .vehicle_id,
        None
    );
    store.remove_document(vrc.id.clone()).unwrap();
    assert_eq!(store.list_documents().unwrap(), vec![licence2]);
    assert_eq!(
        store.remove_document(vrc.id).unwrap_err(),
        AparkingError::NotFound {
            entity: aparking_core::Entity::Document
        }
    );
}

#[test]
fn export_holds_everything_personal() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let json: serde_json::Value = common::export_schema::validated_export(&store);
    assert_eq!(json["format"], "aparking-core/user-data-export");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["profile"]["phone"], "+77012345678");
    assert_eq!(json["profile"]["full_name"], Sample::FULL_NAME);
    assert_eq!(json["profile"]["email"], Sample::EMAIL);
    let plates: Vec<_> = json["vehicles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["plate_display"].as_str().unwrap())
        .collect();
    assert_eq!(plates, Sample::PLATES.to_vec());
    assert_eq!(
        json["vehicles"][0]["registration_certificate_number"],
        Sample::CERTIFICATE
    );
    let numbers: Vec<_> = json["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, vec![Sample::LICENCE, Sample::VRC]);
    assert_eq!(
        json["documents"][1]["vehicle_id"],
        json["vehicles"][0]["id"]
    );
}

#[test]
fn a_closed_store_says_so() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    store.close().unwrap();
    store.close().unwrap();
    assert_eq!(
        store.list_vehicles().unwrap_err(),
        AparkingError::StoreClosed
    );
    assert_eq!(
        store.add_vehicle(vehicle("123ABC02")).unwrap_err(),
        AparkingError::StoreClosed
    );
}

#[test]
fn data_survives_reopening() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let before = (
        store.get_profile().unwrap(),
        store.list_vehicles().unwrap(),
        store.list_documents().unwrap(),
    );
    drop(store);
    let store = open(&path, &key(1));
    let after = (
        store.get_profile().unwrap(),
        store.list_vehicles().unwrap(),
        store.list_documents().unwrap(),
    );
    assert_eq!(before, after);
}

#[test]
fn a_company_car_and_a_foreign_owners_car_can_be_added_and_found_as_typed() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let company = store.add_vehicle(vehicle("123 ав 02")).unwrap();
    assert_eq!(company.plate.format, PlateFormat::CurrentLegalEntity);
    assert_eq!(company.plate.display, "123 AB 02");
    let foreign = store.add_vehicle(vehicle("Н-5678-17")).unwrap();
    assert_eq!(foreign.plate.format, PlateFormat::CurrentForeign);
    assert_eq!(
        (
            foreign.plate.canonical.as_str(),
            foreign.plate.region.as_str()
        ),
        ("H567817", "17")
    );
    assert_eq!(
        store.find_vehicle_by_plate("123AB02".into()).unwrap(),
        Some(company.clone())
    );
    assert_eq!(
        store.find_vehicle_by_plate("h 5678 17".into()).unwrap(),
        Some(foreign)
    );
    assert_eq!(
        store.add_vehicle(vehicle("123-AB-02")).unwrap_err(),
        AparkingError::AlreadyExists {
            entity: aparking_core::RecordKind::Vehicle
        }
    );
    // The private 2012 plate with the same digits is another plate.
    store.add_vehicle(vehicle("123 ABC 02")).unwrap();
    assert_eq!(store.list_vehicles().unwrap().len(), 3);
    assert_eq!(
        aparking_core::ffi::plate_region_name(company.plate.region, Language::Kk).as_deref(),
        Some("Алматы")
    );
    assert_eq!(
        aparking_core::ffi::plate_region_name("18".into(), Language::Ru).as_deref(),
        Some("Абайская область")
    );
    assert_eq!(
        aparking_core::ffi::plate_region_name("O".into(), Language::En),
        None
    );
}
