//! Schema versions: the frozen v1 fixture, newer files, files that are not stores.

mod common;

use aparking_core::{AparkingError, DocumentKind, Store};
use common::*;
use std::path::Path;

const FIXTURE_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store_v1.db");
/// The KEK the v1 fixture was written with.
const FIXTURE_KEY: u8 = 0x11;

fn open_err(path: &Path) -> AparkingError {
    Store::open(path.to_string_lossy().into_owned(), key(1)).unwrap_err()
}

#[test]
fn the_frozen_v1_store_opens_and_reads() {
    let (_dir, path) = temp_store_path();
    std::fs::copy(FIXTURE_V1, &path).unwrap();
    let store = open(&path, &key(FIXTURE_KEY));
    assert_eq!(
        store.info().unwrap().schema_version as u32,
        aparking_core::store::SCHEMA_VERSION
    );
    assert_eq!(store.get_profile().unwrap().unwrap().phone, "+77012345678");
    let plates: Vec<_> = store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| v.plate.display)
        .collect();
    assert_eq!(plates, Sample::PLATES.to_vec());
    let licence = store
        .find_document_by_number(DocumentKind::DriverLicence, Sample::LICENCE.into())
        .unwrap()
        .unwrap();
    assert_eq!(licence.expires_on.as_deref(), Some("2030-01-15"));
    // And it stays writable.
    store
        .add_vehicle(aparking_core::NewVehicle {
            plate: "555 XYZ 17".into(),
            ..Default::default()
        })
        .unwrap();
}

#[test]
fn a_newer_schema_is_refused_and_left_unchanged() {
    let (_dir, path) = temp_store_path();
    open(&path, &key(1)).close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    assert_eq!(
        open_err(&path),
        AparkingError::IncompatibleVersion {
            found: 99,
            supported: aparking_core::store::SCHEMA_VERSION as i32
        }
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_file_that_is_not_a_database_is_store_corrupted() {
    let (_dir, path) = temp_store_path();
    std::fs::write(&path, vec![0x5Au8; 8192]).unwrap();
    assert!(matches!(
        open_err(&path),
        AparkingError::StoreCorrupted { .. }
    ));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        vec![0x5Au8; 8192],
        "left for the app to move aside"
    );
}

#[test]
fn a_foreign_database_is_not_taken_over() {
    let (_dir, path) = temp_store_path();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT);")
        .unwrap();
    drop(conn);
    assert!(matches!(
        open_err(&path),
        AparkingError::StoreCorrupted { .. }
    ));
}

#[test]
fn a_store_without_its_key_record_is_store_corrupted() {
    let (_dir, path) = temp_store_path();
    open(&path, &key(1)).close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM key_check", []).unwrap();
    drop(conn);
    assert!(matches!(
        open_err(&path),
        AparkingError::StoreCorrupted { .. }
    ));
}

/// Writes `tests/fixtures/store_v1.db`. Run once, by hand, on the commit that introduced
/// schema v1; never again (the fixture is frozen):
/// `cargo test --test store_migrations -- --ignored write_v1_fixture`
#[test]
#[ignore]
fn write_v1_fixture() {
    assert_eq!(
        aparking_core::store::SCHEMA_VERSION,
        1,
        "the fixture must be written by v1 code"
    );
    let path = Path::new(FIXTURE_V1);
    assert!(
        !path.exists(),
        "the v1 fixture is frozen; delete it only if you mean it"
    );
    let store = open(path, &key(FIXTURE_KEY));
    fill_sample(&store);
    store.close().unwrap();
}
