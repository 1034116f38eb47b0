//! Quickstart: the encrypted store in a temporary directory, with an in-memory key.
//!
//! `cargo run --example quickstart`
//!
//! Apps pass a `KeyProvider` backed by the Android Keystore or the iOS Keychain instead
//! of `InMemoryKeyProvider`, and a path in the app's private files directory.

use aparking_core::{
    AparkingError, DocumentKind, InMemoryKeyProvider, Language, NewDocument, NewVehicle,
    ProfilePatch, Store, VehiclePatch,
};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path().to_path_buf();
    let path = dir.join("aparking.db");
    let key = Arc::new(InMemoryKeyProvider::random());

    println!(
        "aparking-core {} — quickstart",
        aparking_core::ffi::sdk_version()
    );
    let store = Store::open(path.to_string_lossy().into_owned(), key.clone())?;
    println!("1. opened a new encrypted store at {}", path.display());

    let profile = store.update_profile(ProfilePatch {
        phone: Some("8 (701) 234-56-78".into()),
        full_name: Some("Айгерим Сапарова".into()),
        preferred_language: Some(Language::Kk),
        ..Default::default()
    })?;
    println!(
        "2. saved the profile (phone normalised to E.164: {} digits)",
        profile.phone.len() - 1
    );

    let car = store.add_vehicle(NewVehicle {
        plate: "123 авс 02".into(), // typed with Cyrillic letters
        nickname: Some("Семейная".into()),
        make: Some("Toyota".into()),
        ..Default::default()
    })?;
    store.add_vehicle(NewVehicle {
        plate: "A 456 MNO".into(),
        ..Default::default()
    })?;
    println!(
        "3. added 2 vehicles; the Cyrillic plate was stored as {} (display \"{}\")",
        car.plate.canonical, car.plate.display
    );

    let found = store.find_vehicle_by_plate("123ABC02".into())?;
    println!(
        "4. found it again typed in Latin: {}",
        found.map(|v| v.id == car.id).unwrap_or(false)
    );

    match store.add_vehicle(NewVehicle {
        plate: "123-ABC-02".into(),
        ..Default::default()
    }) {
        Err(AparkingError::AlreadyExists { entity }) => {
            println!("5. the same plate again: AlreadyExists({entity})")
        }
        other => println!("5. unexpected: {other:?}"),
    }
    match store.add_vehicle(NewVehicle {
        plate: "12 ЖЖ 99".into(),
        ..Default::default()
    }) {
        Err(e) => println!("6. a malformed plate: {e}"),
        Ok(_) => println!("6. unexpected: accepted"),
    }

    store.add_document(NewDocument {
        kind: DocumentKind::VehicleRegistrationCertificate,
        number: "ав 12-34 56".into(),
        issued_on: Some("2024-03-01".into()),
        expires_on: None,
        vehicle_id: Some(car.id.clone()),
    })?;
    store.update_vehicle(
        car.id.clone(),
        VehiclePatch {
            colour: Some("white".into()),
            ..Default::default()
        },
    )?;
    println!("7. added a registration certificate linked to the car and set the car's colour");

    store.rotate_data_key()?;
    let info = store.info()?;
    println!(
        "8. rotated the data key: key v{}, schema v{}, {} vehicles, {} documents",
        info.key_version, info.schema_version, info.vehicle_count, info.document_count
    );

    let export = store.export_user_data()?;
    println!(
        "9. exported the user's data: {} bytes of JSON",
        export.len()
    );
    store.close()?;

    let plain_hits = ["123ABC02", "Айгерим", "AB123456"]
        .iter()
        .filter(|v| {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| {
                    std::fs::read(f.path())
                        .map(|b| b.windows(v.len()).any(|w| w == v.as_bytes()))
                        .unwrap_or(false)
                })
        })
        .count();
    println!("10. closed the store; personal values found in the clear in its files: {plain_hits}");

    let wrong = Store::open(
        path.to_string_lossy().into_owned(),
        Arc::new(InMemoryKeyProvider::random()),
    );
    println!(
        "11. opening with another key: {}",
        wrong.err().map(|e| e.to_string()).unwrap_or_default()
    );

    let store = Store::open(path.to_string_lossy().into_owned(), key)?;
    store.delete_all_user_data()?;
    println!(
        "12. deleted all user data (crypto-shredding): {} vehicles left",
        store.info()?.vehicle_count
    );
    store.close()?;
    println!("done.");
    Ok(())
}
