//! Acceptance: no personal value can be found in any file of the store's directory.

mod common;

use common::*;

/// The spellings of `value` an attacker would grep for: as typed, upper and lower case,
/// and each of those without spaces, dashes or the leading plus.
fn spellings(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for v in [
        value.to_string(),
        value.to_uppercase(),
        value.to_lowercase(),
    ] {
        let compact: String = v
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '+'))
            .collect();
        out.push(v);
        out.push(compact);
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn no_personal_value_is_in_any_store_file() {
    let (dir, path) = temp_store_path();
    let key = key(1);
    let store = open(&path, &key);
    fill_sample(&store);
    assert_eq!(store.list_vehicles().unwrap().len(), 3);
    assert_eq!(store.list_documents().unwrap().len(), 2);
    store.close().unwrap();
    drop(store);

    let mut values: Vec<&str> = vec![
        Sample::PHONE,
        "+77012345678",
        Sample::FULL_NAME,
        "Айгерим",
        "Сапарова",
        Sample::EMAIL,
        Sample::CERTIFICATE,
        Sample::LICENCE,
        Sample::VRC,
        "2030-01-15",
    ];
    values.extend(Sample::PLATES);
    values.extend(Sample::NICKNAMES);

    let files = files_in(dir.path());
    assert!(!files.is_empty());
    assert!(
        files.iter().any(|(p, b)| p == &path && b.len() > 4096),
        "the database was written"
    );
    for (file, bytes) in &files {
        for value in &values {
            for spelling in spellings(value) {
                assert!(
                    !contains(bytes, spelling.as_bytes()),
                    "a personal value ({} bytes) was found in the clear in {}",
                    spelling.len(),
                    file.file_name().unwrap().to_string_lossy()
                );
            }
        }
    }
}

#[test]
fn the_scan_finds_values_stored_in_the_clear() {
    // Guards the test above: the same scan does find a value that sits in the file.
    let (dir, path) = temp_store_path();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('123ABC02');")
        .unwrap();
    drop(conn);
    let found = files_in(dir.path()).iter().any(|(_, b)| {
        spellings("123 abc 02")
            .iter()
            .any(|s| contains(b, s.as_bytes()))
    });
    assert!(found);
}
