//! Keys: wrong key, unavailable key, bad key length, KEK and DEK rotation, shredding.

mod common;

use aparking_core::{AparkingError, InMemoryKeyProvider, Store};
use common::*;
use std::sync::Arc;

fn open_err(path: &std::path::Path, key: Arc<dyn aparking_core::KeyProvider>) -> AparkingError {
    Store::open(path.to_string_lossy().into_owned(), key).expect_err("open must fail")
}

#[test]
fn wrong_key_is_a_typed_error_and_leaves_the_file_unchanged() {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    store.close().unwrap();
    let before = files_in(dir.path());

    assert_eq!(open_err(&path, key(2)), AparkingError::WrongKey);

    let db_before = &before.iter().find(|(p, _)| p == &path).unwrap().1;
    assert_eq!(
        &std::fs::read(&path).unwrap(),
        db_before,
        "database byte-for-byte unchanged"
    );
    // The right key still opens it, with everything there.
    let store = open(&path, &key(1));
    assert_eq!(store.list_vehicles().unwrap().len(), 3);
}

#[test]
fn unavailable_key_is_a_typed_error() {
    let (_dir, path) = temp_store_path();
    open(&path, &key(1)).close().unwrap();
    match open_err(&path, Arc::new(UnavailableKey)) {
        AparkingError::KeyUnavailable { reason } => assert!(reason.contains("invalidated")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_key_of_the_wrong_length_is_invalid_input() {
    let (_dir, path) = temp_store_path();
    let short = Arc::new(InMemoryKeyProvider::from_bytes(&[1u8; 16]));
    assert!(matches!(
        open_err(&path, short),
        AparkingError::InvalidInput { field, .. } if field == "keyEncryptionKey"
    ));
}

#[test]
fn kek_rotation_rewraps_the_data_key() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let plates_before: Vec<_> = store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| v.plate)
        .collect();
    let key_version = store.info().unwrap().key_version;
    store.rotate_key_encryption_key(key(9)).unwrap();
    assert_eq!(
        store.info().unwrap().key_version,
        key_version,
        "the DEK is unchanged"
    );
    store.close().unwrap();

    assert_eq!(open_err(&path, key(1)), AparkingError::WrongKey);
    let store = open(&path, &key(9));
    let plates_after: Vec<_> = store
        .list_vehicles()
        .unwrap()
        .into_iter()
        .map(|v| v.plate)
        .collect();
    assert_eq!(plates_before, plates_after);
}

#[test]
fn dek_rotation_reencrypts_every_row() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let export_before = store.export_user_data().unwrap();
    common::export_schema::assert_valid(&serde_json::from_str(&export_before).unwrap());
    store.close().unwrap();
    let sealed_before = raw_sealed_values(&path);

    let store = open(&path, &key(1));
    store.rotate_data_key().unwrap();
    assert_eq!(store.info().unwrap().key_version, 2);
    // Lookups by blind index work with the new key.
    assert!(store
        .find_vehicle_by_plate("123ABC02".into())
        .unwrap()
        .is_some());
    store.close().unwrap();

    let sealed_after = raw_sealed_values(&path);
    assert_eq!(sealed_before.len(), sealed_after.len());
    for blob in &sealed_before {
        assert!(
            !sealed_after.contains(blob),
            "every sealed value was re-encrypted"
        );
    }
    let store = open(&path, &key(1));
    let export_after = store.export_user_data().unwrap();
    common::export_schema::assert_valid(&serde_json::from_str(&export_after).unwrap());
    assert_eq!(
        strip_exported_at(&export_before),
        strip_exported_at(&export_after)
    );
}

#[test]
fn delete_all_user_data_shreds_rows_and_the_old_key() {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    store.close().unwrap();
    let sealed_before = raw_sealed_values(&path);
    let wrapped_before = raw_wrapped_dek(&path);

    let store = open(&path, &key(1));
    store.delete_all_user_data().unwrap();
    let info = store.info().unwrap();
    assert!(!info.has_profile);
    assert_eq!(
        (info.vehicle_count, info.document_count, info.key_version),
        (0, 0, 2)
    );
    assert!(store.get_profile().unwrap().is_none());
    // The store stays usable.
    store
        .add_vehicle(aparking_core::NewVehicle {
            plate: "123ABC02".into(),
            ..Default::default()
        })
        .unwrap();
    store.close().unwrap();

    for (file, bytes) in files_in(dir.path()) {
        for blob in sealed_before.iter().chain(std::iter::once(&wrapped_before)) {
            assert!(
                !contains(&bytes, blob),
                "old ciphertext or wrapped key left in {}",
                file.display()
            );
        }
    }
}

/// Every sealed BLOB in the personal tables, read with plain SQLite.
fn raw_sealed_values(path: &std::path::Path) -> Vec<Vec<u8>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT sealed FROM profile",
        "SELECT sealed FROM vehicles",
        "SELECT sealed FROM documents",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, Option<Vec<u8>>>(0))
            .unwrap();
        out.extend(rows.filter_map(|r| r.unwrap()));
    }
    out
}

fn raw_wrapped_dek(path: &std::path::Path) -> Vec<u8> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT wrapped_dek FROM key_check", [], |r| r.get(0))
        .unwrap()
}

fn strip_exported_at(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v.as_object_mut().unwrap().remove("exported_at");
    v
}

/// Runs `sql` on the key record; `FLIP` flips one bit in the wrapped data key.
fn key_check_sql(path: &std::path::Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    if sql == "FLIP" {
        let mut wrapped: Vec<u8> = conn
            .query_row("SELECT wrapped_dek FROM key_check", [], |r| r.get(0))
            .unwrap();
        wrapped[20] ^= 1;
        conn.execute("UPDATE key_check SET wrapped_dek = ?1", [wrapped])
            .unwrap();
        return;
    }
    assert_eq!(conn.execute(sql, []).unwrap(), 1);
}

/// Issue #11, point 2: the KEK has a check of its own, so a damaged key record is told
/// from a wrong key: the recovery for each differs (docs/security.md, "Recovery paths").
#[test]
fn a_damaged_wrapped_key_or_key_version_is_store_corrupted_and_a_wrong_kek_is_still_wrong_key() {
    let damage = [
        "FLIP",
        "UPDATE key_check SET wrapped_dek = zeroblob(60)",
        "UPDATE key_check SET key_version = key_version + 1",
        "UPDATE key_check SET key_version = -1",
    ];
    for sql in damage {
        let (_dir, path) = temp_store_path();
        let store = open(&path, &key(1));
        fill_sample(&store);
        store.close().unwrap();
        drop(store);
        key_check_sql(&path, sql);
        let before = std::fs::read(&path).unwrap();
        match open_err(&path, key(1)) {
            AparkingError::StoreCorrupted { reason } => {
                assert!(reason.contains("key"), "{sql}: {reason}")
            }
            other => panic!("{sql}: {other:?}"),
        }
        assert_eq!(
            open_err(&path, key(2)),
            AparkingError::WrongKey,
            "{sql}: another key"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{sql}: the file is left as it was"
        );
    }
}

#[test]
fn a_store_from_before_the_kek_check_gets_it_on_open_and_keeps_telling_wrong_keys() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    store.close().unwrap();
    drop(store);
    // What schema v8 had: no tag (nor what v10 to v13 added).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "ALTER TABLE key_check DROP COLUMN kek_check;
         ALTER TABLE sync_state DROP COLUMN account_erasures;
         DROP TABLE firewall_past;
         DROP TABLE sync_quarantine;
         DROP TABLE store_epoch;
         PRAGMA user_version = 8;",
    )
    .unwrap();
    drop(conn);
    assert_eq!(
        open_err(&path, key(2)),
        AparkingError::WrongKey,
        "a wrong key, as before"
    );
    let store = open(&path, &key(1));
    assert_eq!(store.list_vehicles().unwrap().len(), 3);
    store.close().unwrap();
    drop(store);
    let tag: Option<Vec<u8>> = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT kek_check FROM key_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tag.map(|t| t.len()), Some(32), "the tag was added");
    key_check_sql(&path, "UPDATE key_check SET wrapped_dek = zeroblob(60)");
    assert!(matches!(
        open_err(&path, key(1)),
        AparkingError::StoreCorrupted { .. }
    ));
}

/// Issue #11, point 7: an all-zero or all-0xFF KEK (a buffer the keystore never filled) is
/// refused, and a refused open of a new path leaves no file behind.
#[test]
fn a_degenerate_or_unusable_key_is_refused_and_a_new_path_stays_empty() {
    let (dir, path) = temp_store_path();
    let refused: [(Arc<dyn aparking_core::KeyProvider>, &str); 4] = [
        (
            Arc::new(InMemoryKeyProvider::from_bytes(&[0u8; 32])),
            "all zero",
        ),
        (
            Arc::new(InMemoryKeyProvider::from_bytes(&[0xFFu8; 32])),
            "all 0xFF",
        ),
        (
            Arc::new(InMemoryKeyProvider::from_bytes(&[7u8; 31])),
            "short",
        ),
        (Arc::new(UnavailableKey), "unavailable"),
    ];
    for (provider, what) in refused {
        match open_err(&path, provider) {
            AparkingError::InvalidInput { field, .. } => {
                assert_eq!(field, "keyEncryptionKey", "{what}")
            }
            AparkingError::KeyUnavailable { .. } => assert_eq!(what, "unavailable"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(
            files_in(dir.path()).is_empty(),
            "{what}: no file left behind"
        );
    }
    // A real store is not touched by a refused open either, and a degenerate new KEK is
    // refused at rotation.
    let store = open(&path, &key(1));
    fill_sample(&store);
    assert!(matches!(
        store.rotate_key_encryption_key(Arc::new(InMemoryKeyProvider::from_bytes(&[0u8; 32]))),
        Err(AparkingError::InvalidInput { .. })
    ));
    store.close().unwrap();
    drop(store);
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(
        open_err(&path, Arc::new(InMemoryKeyProvider::from_bytes(&[0u8; 32]))),
        AparkingError::InvalidInput { .. }
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(open(&path, &key(1)).list_vehicles().unwrap().len(), 3);
}
