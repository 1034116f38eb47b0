//! Helpers shared by the integration tests.
#![allow(dead_code)]

use aparking_core::{
    AparkingError, DocumentKind, Durability, InMemoryKeyProvider, KeyProvider, KeyProviderError,
    NewDocument, NewVehicle, ProfilePatch, Store, StoreOptions,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod child;
pub mod export_schema;
pub mod privacy;
pub mod sync;

/// Adds a vehicle with only its plate set; panics if the store refuses it.
pub fn add_plate(store: &Store, plate: &str) -> aparking_core::Vehicle {
    store
        .add_vehicle(NewVehicle {
            plate: plate.into(),
            ..Default::default()
        })
        .unwrap()
}

/// A KEK made of one repeated byte: distinct keys for distinct bytes.
pub fn key(byte: u8) -> Arc<dyn KeyProvider> {
    Arc::new(InMemoryKeyProvider::from_bytes(&[byte; 32]))
}

/// A key provider whose key cannot be had (an invalidated keystore key).
pub struct UnavailableKey;

impl KeyProvider for UnavailableKey {
    fn key_encryption_key(&self) -> Result<Vec<u8>, KeyProviderError> {
        Err(KeyProviderError::Unavailable {
            reason: "keystore key invalidated".into(),
        })
    }
}

/// A temporary directory and the path of a store file inside it.
pub fn temp_store_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("aparking.db");
    (dir, path)
}

/// The durability the crash, chaos and fault tests open their stores with:
/// `APARKING_TEST_DURABILITY=normal` runs them at `Durability::Normal` (tests/run-all.sh
/// runs them once so), anything else at the default.
pub fn test_durability() -> Durability {
    match std::env::var("APARKING_TEST_DURABILITY").as_deref() {
        Ok("normal") => Durability::Normal,
        _ => Durability::Full,
    }
}

/// Opens the store at `path` with `key`, at [`test_durability`].
pub fn open_store(path: String, key: Arc<dyn KeyProvider>) -> Result<Arc<Store>, AparkingError> {
    let options = StoreOptions {
        durability: Some(test_durability()),
        ..StoreOptions::default()
    };
    Store::open_with_options(path, key, options)
}

/// Opens the store at `path` with `key` (at [`test_durability`]).
pub fn open(path: &Path, key: &Arc<dyn KeyProvider>) -> Arc<Store> {
    open_store(path.to_string_lossy().into_owned(), key.clone()).expect("store opens")
}

/// The personal values the sample data is made of, as the user typed them.
pub struct Sample;

impl Sample {
    pub const PHONE: &'static str = "+7 701 234 56 78";
    pub const FULL_NAME: &'static str = "Айгерим Сапарова";
    pub const EMAIL: &'static str = "aigerim.saparova@example.kz";
    pub const PLATES: [&'static str; 3] = ["123 ABC 02", "777 KZX 01", "A 456 MNO"];
    pub const NICKNAMES: [&'static str; 3] = ["Семейная машина", "Work Sprinter", "Old Volga"];
    pub const CERTIFICATE: &'static str = "KZ01CR778899";
    pub const LICENCE: &'static str = "DL88112233";
    pub const VRC: &'static str = "VRC5566778";
}

/// Writes the sample profile, three vehicles and two documents.
pub fn fill_sample(store: &Store) {
    store
        .update_profile(ProfilePatch {
            phone: Some(Sample::PHONE.into()),
            full_name: Some(Sample::FULL_NAME.into()),
            email: Some(Sample::EMAIL.into()),
            ..Default::default()
        })
        .expect("profile");
    let mut first_vehicle = None;
    for (i, plate) in Sample::PLATES.iter().enumerate() {
        let v = store
            .add_vehicle(NewVehicle {
                plate: plate.to_string(),
                nickname: Some(Sample::NICKNAMES[i].into()),
                make: Some("Toyota".into()),
                model: Some("Camry".into()),
                colour: Some("white".into()),
                registration_certificate_number: (i == 0).then(|| Sample::CERTIFICATE.into()),
            })
            .expect("vehicle");
        first_vehicle.get_or_insert(v.id);
    }
    store
        .add_document(NewDocument {
            kind: DocumentKind::DriverLicence,
            number: Sample::LICENCE.into(),
            issued_on: Some("2020-01-15".into()),
            expires_on: Some("2030-01-15".into()),
            vehicle_id: None,
        })
        .expect("licence");
    store
        .add_document(NewDocument {
            kind: DocumentKind::VehicleRegistrationCertificate,
            number: Sample::VRC.into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: first_vehicle,
        })
        .expect("certificate");
}

/// Every file in `dir` (database, -wal, -shm, journal), read whole.
pub fn files_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read file");
            (p, bytes)
        })
        .collect()
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Flips one bit in the middle of the BLOB `column` of row `id` of `table`, from outside
/// the SDK, as an attacker with write access to the file would.
pub fn flip_byte(path: &std::path::Path, table: &str, column: &str, id: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut blob: Vec<u8> = conn
        .query_row(
            &format!("SELECT {column} FROM {table} WHERE id = ?1"),
            [id],
            |r| r.get(0),
        )
        .unwrap();
    let middle = blob.len() / 2;
    blob[middle] ^= 0x20;
    conn.execute(
        &format!("UPDATE {table} SET {column} = ?1 WHERE id = ?2"),
        rusqlite::params![blob, id],
    )
    .unwrap();
}
