//! Acceptance: a flipped byte in a sealed value is a typed integrity error for that
//! record only; ciphertexts moved between rows or fields do not open.

mod common;

use aparking_core::AparkingError;
use common::*;

fn tamper(path: &std::path::Path, sql: &str, id: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    assert_eq!(conn.execute(sql, [id]).unwrap(), 1);
}

fn flip_byte(path: &std::path::Path, table: &str, column: &str, id: &str) {
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
        entity: "vehicle".into(),
        record_id: bad.id.clone(),
    };
    assert_eq!(store.get_vehicle(bad.id.clone()).unwrap_err(), expected);
    assert_eq!(
        store.list_vehicles().unwrap_err(),
        expected,
        "the list names the damaged record"
    );
    for good in [&vehicles[0], &vehicles[2]] {
        assert_eq!(
            store.get_vehicle(good.id.clone()).unwrap().as_ref(),
            Some(good)
        );
    }
    assert!(store.get_profile().unwrap().is_some());
    assert_eq!(store.list_documents().unwrap().len(), 2);
    // The damaged record can be removed; then everything lists again.
    store.remove_vehicle(bad.id.clone()).unwrap();
    assert_eq!(store.list_vehicles().unwrap().len(), 2);
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
        AparkingError::IntegrityFailure { entity, record_id } if entity == "profile" && record_id == profile_id));
    assert!(matches!(store.get_document(doc.id.clone()).unwrap_err(),
        AparkingError::IntegrityFailure { entity, .. } if entity == "document"));
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
                entity: "vehicle".into(),
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
            entity: "document".into(),
            record_id: document.id.clone(),
        }
    );
    assert!(
        store.get_profile().unwrap().is_some(),
        "the rest still reads"
    );
}
