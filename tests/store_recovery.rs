//! Recovery end to end against the reference backend: a lost key (`KeyUnavailable`) and a
//! damaged file (`StoreCorrupted`) end with a new store at the same path that the next sync
//! fills with everything synced before (docs/security.md, "Recovery").

mod common;

use aparking_core::{delete_store_files, move_store_aside, AparkingError, Store};
use aparking_server::ReferenceServer;
use common::sync::*;
use common::*;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

/// The user's data as a comparable snapshot (ids and values, sorted).
fn snapshot(store: &Store) -> (String, Vec<String>, Vec<String>) {
    let profile = format!(
        "{:?}",
        store
            .get_profile()
            .unwrap()
            .map(|p| (p.phone, p.full_name, p.email))
    );
    let mut vehicles: Vec<String> = store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| {
            format!(
                "{} {} {:?} {:?}",
                v.id, v.plate.canonical, v.nickname, v.registration_certificate_number
            )
        })
        .collect();
    vehicles.sort();
    let mut documents: Vec<String> = store
        .list_documents()
        .unwrap()
        .into_iter()
        .map(|d| format!("{} {:?} {} {:?}", d.id, d.kind, d.number, d.vehicle_id))
        .collect();
    documents.sort();
    (profile, vehicles, documents)
}

/// A store at `path` with the sample data, synced; returns its snapshot.
async fn synced_sample(
    path: &Path,
    server: &ReferenceServer,
) -> (String, Vec<String>, Vec<String>) {
    let store = open(path, &key(1));
    fill_sample(&store);
    let sync = sync_client(&store, server, "token-r");
    assert_eq!(sync.sync().await.unwrap().pending, 0);
    let before = snapshot(&store);
    drop(sync);
    store.close().unwrap();
    before
}

#[tokio::test]
async fn a_lost_key_is_key_unavailable_then_delete_reopen_and_sync_restores_everything() {
    let (server, _account) = server_with_account("token-r");
    let (_dir, path) = temp_store_path();
    let before = synced_sample(&path, &server).await;

    // The Keystore key was invalidated (a lock-screen change): the store cannot be opened.
    let lost = Store::open(
        path.to_string_lossy().into_owned(),
        Arc::new(UnavailableKey),
    );
    assert!(matches!(lost, Err(AparkingError::KeyUnavailable { .. })));

    // The documented recovery: delete the files, open a new store with a new key, sync.
    delete_store_files(path.to_string_lossy().into_owned()).unwrap();
    assert!(!path.exists());
    let store = open(&path, &key(2));
    assert_eq!(
        store.list_vehicles().unwrap().len(),
        0,
        "a new, empty store"
    );
    let sync = sync_client(&store, &server, "token-r");
    let summary = sync.sync().await.unwrap();
    assert_eq!(summary.pushed, 0);
    assert!(summary.pulled >= 6, "{summary:?}");
    assert_eq!(snapshot(&store), before, "everything synced came back");

    // And it keeps syncing as a normal device: a new change goes up once.
    add_plate(&store, "555TTT17");
    assert_eq!(sync.sync().await.unwrap().pushed, 1);
    assert_eq!(server.stats().changes_duplicate, 0);
}

#[tokio::test]
async fn a_damaged_file_is_store_corrupted_then_move_aside_reopen_and_sync_restores_everything() {
    let (server, _account) = server_with_account("token-r");
    let (dir, path) = temp_store_path();
    let before = synced_sample(&path, &server).await;

    // Overwrite the SQLite header: the file is no database any more.
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.write_all(&[0x5a; 100]).unwrap();
    drop(file);
    let damaged = std::fs::read(&path).unwrap();
    let err = Store::open(path.to_string_lossy().into_owned(), key(1)).unwrap_err();
    assert!(
        matches!(err, AparkingError::StoreCorrupted { .. }),
        "{err:?}"
    );

    let aside = move_store_aside(path.to_string_lossy().into_owned()).unwrap();
    assert!(aside.contains(".corrupt-"));
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        damaged,
        "kept as it was, for support"
    );
    assert!(!path.exists());

    let store = open(&path, &key(1));
    let sync = sync_client(&store, &server, "token-r");
    sync.sync().await.unwrap();
    assert_eq!(snapshot(&store), before, "everything synced came back");
    drop(dir);
}

#[test]
fn recovery_refuses_an_open_store_and_reports_a_missing_file() {
    let (_dir, path) = temp_store_path();
    let text = path.to_string_lossy().into_owned();
    let store = open(&path, &key(1));
    fill_sample(&store);
    for result in [
        delete_store_files(text.clone()).map(|_| String::new()),
        move_store_aside(text.clone()),
    ] {
        match result.unwrap_err() {
            AparkingError::InvalidInput { field, .. } => assert_eq!(field, "path"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }
    assert_eq!(
        store.list_vehicles().unwrap().len(),
        3,
        "nothing was touched"
    );

    // Once shut down, the files can go; a second delete finds nothing and is fine.
    store.close().unwrap();
    delete_store_files(text.clone()).unwrap();
    delete_store_files(text.clone()).unwrap();
    assert!(matches!(
        move_store_aside(text).unwrap_err(),
        AparkingError::NotFound { .. }
    ));
}
