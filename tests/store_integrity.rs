//! Acceptance: a flipped byte in a sealed value is a typed integrity error for that
//! record only; ciphertexts moved between rows or fields do not open.

mod common;

use aparking_core::{AparkingError, Entity};
use common::*;

fn tamper(path: &std::path::Path, sql: &str, id: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    assert_eq!(conn.execute(sql, [id]).unwrap(), 1);
}

#[test]
fn one_flipped_byte_fails_that_record_only() {
    let (_dir, path) = temp_store_path();
    let key = key(1);
    let store = open(&path, &key);
    fill_sample(&store);
    let vehicles = store.list_vehicles().unwrap();
    store.close().unwrap();
    let bad = &vehicles[1];
    flip_byte(&path, "vehicles", "sealed", &bad.id);

    let store = open(&path, &key);
    let expected = AparkingError::IntegrityFailure {
        entity: Entity::Vehicle,
        record_id: bad.id.clone(),
    };
    assert_eq!(store.get_vehicle(bad.id.clone()).unwrap_err(), expected);
    assert_eq!(
        store.list_vehicles().unwrap(),
        vec![vehicles[0].clone(), vehicles[2].clone()],
        "the list leaves the damaged record out"
    );
    assert_eq!(
        store.damaged_records().unwrap(),
        vec![aparking_core::RecordRef {
            entity: aparking_core::RecordKind::Vehicle,
            record_id: bad.id.clone()
        }],
        "and the report names it"
    );
    for good in [&vehicles[0], &vehicles[2]] {
        assert_eq!(
            store.get_vehicle(good.id.clone()).unwrap().as_ref(),
            Some(good)
        );
    }
    assert!(store.get_profile().unwrap().is_some());
    assert_eq!(store.list_documents().unwrap().len(), 2);
    // The damaged record can be removed; then nothing is damaged.
    store.remove_vehicle(bad.id.clone()).unwrap();
    assert_eq!(store.list_vehicles().unwrap().len(), 2);
    assert!(store.damaged_records().unwrap().is_empty());
}

#[test]
fn flipped_bytes_in_profile_and_document_are_typed_too() {
    let (_dir, path) = temp_store_path();
    let key = key(1);
    let store = open(&path, &key);
    fill_sample(&store);
    let profile_id = store.get_profile().unwrap().unwrap().id;
    let doc = store.list_documents().unwrap().remove(0);
    store.close().unwrap();
    flip_byte(&path, "profile", "sealed", &profile_id);
    flip_byte(&path, "documents", "sealed", &doc.id);

    let store = open(&path, &key);
    assert!(matches!(store.get_profile().unwrap_err(),
        AparkingError::IntegrityFailure { entity, record_id } if entity == Entity::Profile && record_id == profile_id));
    assert!(matches!(store.get_document(doc.id.clone()).unwrap_err(),
        AparkingError::IntegrityFailure { entity, .. } if entity == Entity::Document));
    assert_eq!(store.list_vehicles().unwrap().len(), 3);
}

#[test]
fn a_ciphertext_moved_to_another_row_or_table_does_not_open() {
    let (_dir, path) = temp_store_path();
    let key = key(1);
    let store = open(&path, &key);
    fill_sample(&store);
    let v = store.list_vehicles().unwrap();
    let d = store.list_documents().unwrap();
    store.close().unwrap();

    // Row swap: vehicle 0's sealed fields copied into vehicle 1.
    tamper(
        &path,
        &format!(
        "UPDATE vehicles SET sealed = (SELECT sealed FROM vehicles WHERE id = '{}') WHERE id = ?1",
        v[0].id
    ),
        &v[1].id,
    );
    // Table swap: a vehicle's sealed fields copied into a document with the same id shape.
    tamper(
        &path,
        &format!(
        "UPDATE documents SET sealed = (SELECT sealed FROM vehicles WHERE id = '{}') WHERE id = ?1",
        v[2].id
    ),
        &d[0].id,
    );

    let store = open(&path, &key);
    assert!(matches!(store.get_vehicle(v[1].id.clone()).unwrap_err(),
        AparkingError::IntegrityFailure { record_id, .. } if record_id == v[1].id));
    assert!(matches!(store.get_document(d[0].id.clone()).unwrap_err(),
        AparkingError::IntegrityFailure { record_id, .. } if record_id == d[0].id));
    assert!(store.get_vehicle(v[0].id.clone()).unwrap().is_some());
    assert!(store.get_vehicle(v[2].id.clone()).unwrap().is_some());
    assert!(store.get_document(d[1].id.clone()).unwrap().is_some());
}

/// Sets `table.sealed` of row `id` to a value of another SQLite type.
fn retype_sealed(path: &std::path::Path, table: &str, id: &str, value: rusqlite::types::Value) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let changed = conn
        .execute(
            &format!("UPDATE {table} SET sealed = ?1 WHERE id = ?2"),
            rusqlite::params![value, id],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

#[test]
fn a_sealed_cell_of_the_wrong_sqlite_type_is_an_integrity_failure_naming_its_record() {
    use rusqlite::types::Value;
    let (_dir, path) = temp_store_path();
    let key = key(1);
    let store = open(&path, &key);
    fill_sample(&store);
    let vehicles = store.list_vehicles().unwrap();
    let document = store.list_documents().unwrap()[0].clone();
    store.close().unwrap();

    // TEXT, INTEGER and REAL where a BLOB belongs (NULL is refused by the schema).
    let cases = [
        Value::Text("not a ciphertext".into()),
        Value::Integer(42),
        Value::Real(1.5),
    ];
    for (value, bad) in cases.into_iter().zip(&vehicles) {
        retype_sealed(&path, "vehicles", &bad.id, value.clone());
        let store = open(&path, &key);
        assert_eq!(
            store.get_vehicle(bad.id.clone()).unwrap_err(),
            AparkingError::IntegrityFailure {
                entity: Entity::Vehicle,
                record_id: bad.id.clone(),
            },
            "{value:?}: not Storage(invalid column type)"
        );
        // Removing it by id works, as for any damaged record.
        store.remove_vehicle(bad.id.clone()).unwrap();
        store.close().unwrap();
    }
    retype_sealed(&path, "documents", &document.id, Value::Text("x".into()));
    let store = open(&path, &key);
    assert_eq!(
        store.get_document(document.id.clone()).unwrap_err(),
        AparkingError::IntegrityFailure {
            entity: Entity::Document,
            record_id: document.id.clone(),
        }
    );
    assert!(
        store.get_profile().unwrap().is_some(),
        "the rest still reads"
    );
}

/// Issue #11, point 1: a lookup opens the row its blind index found and checks the value;
/// an index copied from another row answers `IntegrityFailure` for that row, never the
/// wrong record.
#[test]
fn a_lookup_whose_index_points_at_another_row_is_an_integrity_failure_not_a_wrong_answer() {
    let (_dir, path) = temp_store_path();
    let key = key(1);
    let store = open(&path, &key);
    let a = add_plate(&store, "123ABC02");
    let b = add_plate(&store, "456DEF03");
    let doc_a = store
        .add_document(aparking_core::NewDocument {
            kind: aparking_core::DocumentKind::DriverLicence,
            number: "DL50000001".into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: None,
        })
        .unwrap();
    let doc_b = store
        .add_document(aparking_core::NewDocument {
            kind: aparking_core::DocumentKind::DriverLicence,
            number: "DL50000002".into(),
            issued_on: None,
            expires_on: None,
            vehicle_id: None,
        })
        .unwrap();
    store.close().unwrap();
    drop(store);
    // Swap the clear blind indexes of the two vehicles and of the two documents.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for (table, column, x, y) in [
        ("vehicles", "plate_index", &a.id, &b.id),
        ("documents", "number_index", &doc_a.id, &doc_b.id),
    ] {
        let read = |id: &str| -> Vec<u8> {
            conn.query_row(
                &format!("SELECT {column} FROM {table} WHERE id = ?1"),
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        let (ix, iy) = (read(x), read(y));
        let set = |id: &str, value: &[u8]| {
            conn.execute(
                &format!("UPDATE {table} SET {column} = ?1 WHERE id = ?2"),
                rusqlite::params![value, id],
            )
            .unwrap();
        };
        set(x, b"swap");
        set(y, &ix);
        set(x, &iy);
    }
    drop(conn);
    let store = open(&path, &key);
    // B's row now carries A's index: looking A up finds B's row, which says otherwise.
    assert_eq!(
        store
            .find_vehicle_by_plate("123 ABC 02".into())
            .unwrap_err(),
        AparkingError::IntegrityFailure {
            entity: Entity::Vehicle,
            record_id: b.id.clone()
        }
    );
    assert_eq!(
        store
            .find_document_by_number(
                aparking_core::DocumentKind::DriverLicence,
                "DL50000001".into()
            )
            .unwrap_err(),
        AparkingError::IntegrityFailure {
            entity: Entity::Document,
            record_id: doc_b.id.clone()
        }
    );
}

/// Issue #11, point 1: the clear columns that steer sync (an outbox entry's entity, record
/// and operation; a mirror entry's version and deleted flag) have sealed copies: an edit
/// of one is an `IntegrityFailure` naming the entry, never a wrong push; the sync sets the
/// entry aside and goes on. A mirror entry whose entity is edited to no kind is set aside
/// too (no record is found under it).
#[tokio::test]
async fn an_edited_outbox_or_mirror_column_is_an_integrity_failure() {
    use aparking_core::testing::pending_sync_changes;
    let server =
        aparking_server::ReferenceServer::start(aparking_server::ServerConfig::default()).unwrap();
    server.add_account("token-i");
    let (_dir, path) = temp_store_path();
    let key = key(1);
    let store = open(&path, &key);
    let v = add_plate(&store, "123ABC02");
    let sync = common::sync::sync_client(&store, &server, "token-i");
    sync.sync().await.unwrap();
    add_plate(&store, "456DEF03");
    store.close().unwrap();
    drop((store, sync));

    for (sql, entity) in [
        ("UPDATE sync_outbox SET op = 'delete'", Entity::OutboxEntry),
        (
            "UPDATE sync_outbox SET entity = 'document'",
            Entity::OutboxEntry,
        ),
        (
            "UPDATE sync_outbox SET entity = 'lorry'",
            Entity::OutboxEntry,
        ),
        (
            "UPDATE sync_mirror SET version = version + 7",
            Entity::SyncMirrorRecord,
        ),
        (
            "UPDATE sync_mirror SET deleted = 1",
            Entity::SyncMirrorRecord,
        ),
        (
            "UPDATE sync_mirror SET entity = 'lorry'",
            Entity::SyncMirrorRecord,
        ),
    ] {
        let copy = path.with_extension("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let conn = rusqlite::Connection::open(&copy).unwrap();
        assert!(conn.execute(sql, []).unwrap() >= 1, "{sql}");
        drop(conn);
        let store = open(&copy, &key);
        if entity == Entity::OutboxEntry {
            match pending_sync_changes(&store) {
                Err(AparkingError::IntegrityFailure { entity: e, .. }) => {
                    assert_eq!(e, entity, "{sql}")
                }
                other => panic!("{sql}: {other:?}"),
            }
        }
        // The sync sets the edited entry aside (point 3) instead of trusting it, and goes
        // on: the edit below reaches the backend.
        store
            .update_vehicle(
                v.id.clone(),
                aparking_core::VehiclePatch {
                    nickname: Some("x".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let sync = common::sync::sync_client(&store, &server, "token-i");
        sync.sync().await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        let quarantined = sync.quarantined().unwrap();
        assert_eq!(quarantined.len(), 1, "{sql}");
        // The entry names the kind its clear column says, none when that names no kind.
        let named = if sql.contains("'lorry'") {
            None
        } else if sql.contains("'document'") {
            Some(aparking_core::RecordKind::Document)
        } else {
            Some(aparking_core::RecordKind::Vehicle)
        };
        assert_eq!(quarantined[0].entity, named, "{sql}");
        assert_eq!(sync.pending_changes().unwrap(), 0, "{sql}");
        store.close().unwrap();
        std::fs::remove_file(&copy).unwrap();
    }
}
