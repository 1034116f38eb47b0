//! Property tests over hostile input (issue #6 runs longer fuzzing; these run in every
//! test run): the parsers never panic and never echo their input in errors; a file of
//! random bytes, or a damaged store, gives a typed error, never a panic.

mod common;

use aparking_core::formats::{
    normalize_document_number, normalize_email, normalize_phone, parse_plate,
};
use aparking_core::{consent::parse_policy_manifest, AparkingError, Store};
use common::*;
use proptest::prelude::*;

fn no_echo(err: &AparkingError, input: &str) -> bool {
    input.chars().count() < 4 || !err.to_string().contains(input)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn text_parsers_never_panic_nor_echo(input in "\\PC{0,40}") {
        for result in [
            parse_plate(input.clone()).map(|p| p.canonical),
            normalize_document_number(input.clone()),
            normalize_phone(input.clone()),
            normalize_email(input.clone()),
        ] {
            if let Err(e) = result {
                prop_assert!(matches!(e, AparkingError::InvalidInput { .. }), "not InvalidInput");
                prop_assert!(no_echo(&e, &input));
            }
        }
    }

    #[test]
    fn policy_manifest_parsing_never_panics(input in "\\PC{0,200}") {
        if let Err(e) = parse_policy_manifest(input) {
            prop_assert!(matches!(e, AparkingError::InvalidInput { .. }), "not InvalidInput");
        }
    }

    #[test]
    fn structured_but_wrong_manifests_are_rejected(version in any::<i64>(), purposes in proptest::collection::vec("[a-z_]{0,24}", 0..6)) {
        let json = serde_json::json!({
            "version": version, "last_updated": "2026-01-15", "url": "https://aparking.kz/p",
            "text_sha256": "ab".repeat(32), "purposes": purposes,
        })
        .to_string();
        let _ = parse_policy_manifest(json);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn opening_random_bytes_is_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..16_384)) {
        let (_dir, path) = temp_store_path();
        std::fs::write(&path, &bytes).unwrap();
        match Store::open(path.to_string_lossy().into_owned(), key(1)) {
            // An empty file is a new, empty database: it becomes a store.
            Ok(_) => prop_assert!(bytes.is_empty()),
            Err(e) => prop_assert!(matches!(e, AparkingError::StoreCorrupted { .. }), "{e:?}"),
        }
    }

    #[test]
    fn a_damaged_store_never_panics(offset in 0usize..65_536, byte in any::<u8>()) {
        let (_dir, path) = temp_store_path();
        let store = open(&path, &key(1));
        fill_sample(&store);
        store.close().unwrap();
        drop(store);
        let mut bytes = std::fs::read(&path).unwrap();
        let offset = offset % bytes.len();
        bytes[offset] ^= byte | 1;
        std::fs::write(&path, &bytes).unwrap();
        // Whatever the damage: a typed error at open, or a store whose reads give typed
        // errors or data. Never a panic.
        if let Ok(store) = Store::open(path.to_string_lossy().into_owned(), key(1)) {
            let _ = store.list_vehicles();
            let _ = store.list_documents();
            let _ = store.get_profile();
            // What it exports from a damaged file still matches the schema.
            if let Ok(export) = store.export_user_data() {
                common::export_schema::assert_valid(&serde_json::from_str(&export).unwrap());
            }
            let _ = store.info();
        }
    }
}
