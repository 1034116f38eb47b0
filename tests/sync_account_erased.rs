//! Erasure that is whole and reaches every device (issue #11, point 4), with real stores
//! and the reference backend on 127.0.0.1:
//!
//! - `deleteAllUserData()` resets the sync state with the data, so the next sync brings the
//!   account's data back whole;
//! - after `deleteAccount()` on one device, every other device learns it at its next sync
//!   (410 `account_erased`), deletes its copy, pushes none of it back (not even its offline
//!   edits) and fails with `AccountErased`; a new device gets nothing, and the account
//!   lives on for what is added after;
//! - a device that never stored the erasure count (an older SDK) learns it from its cursor;
//! - the backend zeroes the erased rows in its database file (`secure_delete`).

mod common;

use aparking_core::{AparkingError, Store, SyncClient};
use aparking_server::{ReferenceServer, ServerConfig};
use common::sync::*;
use common::*;
use std::path::PathBuf;
use std::sync::Arc;

const TOKEN: &str = "token-erased";

struct Device {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: Arc<Store>,
    sync: Arc<SyncClient>,
}

fn device(server: &ReferenceServer, seed: u8) -> Device {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(seed));
    let sync = sync_client(&store, server, TOKEN);
    Device {
        _dir: dir,
        path,
        store,
        sync,
    }
}

fn live_on_server(server: &ReferenceServer, account: &str) -> usize {
    server
        .records(account)
        .iter()
        .filter(|r| !r.deleted)
        .count()
}

#[tokio::test]
async fn delete_all_user_data_resets_the_sync_state_so_the_next_sync_restores_everything() {
    let (server, account) = server_with_account(TOKEN);
    let a = device(&server, 1);
    fill_sample(&a.store);
    a.sync.sync().await.unwrap();
    let before = live_on_server(&server, &account);
    assert_eq!(before, 6, "profile, three vehicles, two documents");

    a.store.delete_all_user_data().unwrap();
    assert!(a.store.list_vehicles().unwrap().is_empty());
    assert_eq!(a.sync.pending_changes().unwrap(), 0);
    let summary = a.sync.sync().await.unwrap();
    assert_eq!(summary.pulled, 6, "everything came back: {summary:?}");
    assert_eq!(a.store.list_vehicles().unwrap().len(), 3);
    assert_eq!(a.store.list_documents().unwrap().len(), 2);
    assert!(a.store.get_profile().unwrap().is_some());
    assert_eq!(
        live_on_server(&server, &account),
        before,
        "nothing removed there"
    );
}

#[tokio::test]
async fn an_account_erased_on_one_device_is_erased_on_every_other_at_its_next_sync() {
    let (server, account) = server_with_account(TOKEN);
    let (a, b) = (device(&server, 1), device(&server, 2));
    fill_sample(&a.store);
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    assert_eq!(b.store.list_vehicles().unwrap().len(), 3);
    // B, offline, adds a vehicle: it must not reach the erased account.
    add_plate(&b.store, "999ZZZ09");

    a.sync.delete_account().await.unwrap();
    assert_eq!(live_on_server(&server, &account), 0);

    let err = b.sync.sync().await.unwrap_err();
    assert_eq!(err, AparkingError::AccountErased);
    assert!(!err.to_string().is_empty());
    assert!(
        b.store.list_vehicles().unwrap().is_empty(),
        "B's copy is gone"
    );
    assert!(b.store.list_documents().unwrap().is_empty());
    assert!(b.store.get_profile().unwrap().is_none());
    assert_eq!(b.sync.pending_changes().unwrap(), 0, "nothing left to push");
    assert_eq!(
        live_on_server(&server, &account),
        0,
        "B pushed nothing back"
    );

    // Once learnt, B syncs as a new device of the account: nothing to pull.
    let again = b.sync.sync().await.unwrap();
    assert_eq!((again.pulled, again.pushed), (0, 0), "{again:?}");
    let c = device(&server, 3);
    assert_eq!(
        c.sync.sync().await.unwrap().pulled,
        0,
        "a new device gets nothing"
    );

    // The account lives on: what A adds after the erasure reaches B, and B's own edits
    // go out again.
    add_plate(&a.store, "123ABC02");
    a.sync.sync().await.unwrap();
    assert_eq!(b.sync.sync().await.unwrap().pulled, 1);
    add_plate(&b.store, "456DEF03");
    b.sync.sync().await.unwrap();
    assert_eq!(live_on_server(&server, &account), 2);
}

#[tokio::test]
async fn a_device_that_never_stored_the_erasure_count_learns_of_the_erasure_from_its_cursor() {
    let (server, account) = server_with_account(TOKEN);
    let (a, b) = (device(&server, 1), device(&server, 2));
    fill_sample(&a.store);
    a.sync.sync().await.unwrap();
    b.sync.sync().await.unwrap();
    // What an SDK from before the count kept: a cursor and a mirror, no count.
    let Device {
        _dir, path, store, ..
    } = b;
    store.close().unwrap();
    drop(store);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE sync_state SET account_erasures = NULL", [])
        .unwrap();
    let store = open(&path, &key(2));
    let sync = sync_client(&store, &server, TOKEN);

    a.sync.delete_account().await.unwrap();
    let err = sync.sync().await.unwrap_err();
    assert_eq!(err, AparkingError::AccountErased);
    assert!(store.list_vehicles().unwrap().is_empty());
    assert_eq!(
        live_on_server(&server, &account),
        0,
        "nothing pushed back as new records"
    );
}

#[tokio::test]
async fn the_backend_zeroes_the_erased_rows_in_its_database_file() {
    let data = tempfile::tempdir().unwrap();
    let server = ReferenceServer::start(ServerConfig {
        data_dir: Some(data.path().to_path_buf()),
        ..ServerConfig::default()
    })
    .unwrap();
    server.add_account(TOKEN);
    let a = device(&server, 1);
    // Long, distinctive values, so that a match in the file cannot be chance.
    for plate in ["111QWE11", "222RTY12", "333UIO13"] {
        add_plate(&a.store, plate);
    }
    a.sync.sync().await.unwrap();
    let on_disk = |needle: &[u8]| {
        files_in(data.path())
            .iter()
            .any(|(_, bytes)| contains(bytes, needle))
    };
    // The backend has the plates in its files (WAL or main) before the erasure.
    assert!(on_disk(b"111QWE11"), "the plate is stored in the clear");

    a.sync.delete_account().await.unwrap();
    for plate in ["111QWE11", "222RTY12", "333UIO13"] {
        assert!(
            !on_disk(plate.as_bytes()),
            "{plate}: the erased row's bytes are still in the backend's files"
        );
    }
}
