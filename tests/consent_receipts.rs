//! Consent receipts under law No. 94-V, Art. 8 (issue #15, point 2): each receipt states
//! the operator, the subject, the purposes granted and refused with their data
//! categories, the duration, the transfers, the policy version, date and hash, and how
//! and when consent was collected; the receipts form a hash chain under a sealed head, so
//! a removed, edited or reordered receipt is detected on open, on request and in exports,
//! and the consent in force cannot be edited in the clear.

mod common;

use aparking_core::{
    AparkingError, CollectionMethod, Consent, ConsentContext, PolicyManifest, PolicyOperator,
    Purpose, PurposeDataCategories, Store,
};
use common::privacy::*;
use common::*;
use std::path::Path;
use std::sync::Arc;

const BIN: &str = "123456789012";

fn art8_policy(version: i32) -> PolicyManifest {
    PolicyManifest {
        operator: Some(PolicyOperator {
            name: "ТОО «Алматы спецтехпаркинг сервис»".into(),
            bin: BIN.into(),
        }),
        data_categories: vec![
            PurposeDataCategories {
                purpose: Purpose::Statistics,
                categories: vec!["app_usage".into(), "device_model".into()],
            },
            PurposeDataCategories {
                purpose: Purpose::ConnectionDiagnostics,
                categories: vec!["network_quality".into()],
            },
        ],
        consent_duration_days: Some(365),
        cross_border_transfer: false,
        third_party_transfer: false,
        publicly_available: false,
        ..policy(version)
    }
}

fn signed_in_context() -> ConsentContext {
    ConsentContext {
        subject_id: Some("acct-7f3a".into()),
        collection_method: CollectionMethod::SettingsScreen,
        ..context()
    }
}

/// A store with three receipts (accept, withdraw one purpose, withdraw all); closed.
fn store_with_three_receipts(path: &Path) -> Vec<aparking_core::ConsentReceipt> {
    let store = open(path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    consent.publish_policy(art8_policy(1)).unwrap();
    consent
        .accept_policy(
            1,
            vec![Purpose::Statistics, Purpose::ConnectionDiagnostics],
            signed_in_context(),
        )
        .unwrap();
    consent
        .withdraw(vec![Purpose::ConnectionDiagnostics], signed_in_context())
        .unwrap();
    consent.withdraw_all(signed_in_context()).unwrap();
    let receipts = consent.receipts().unwrap();
    store.close().unwrap();
    receipts
}

fn sql(path: &Path, statement: &str, params: impl rusqlite::Params) -> usize {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute(statement, params)
        .unwrap()
}

fn broken_at(store: &Arc<Store>) -> String {
    match Consent::new(Arc::clone(store)).verify_receipts() {
        Err(AparkingError::IntegrityFailure { entity, record_id }) => {
            assert_eq!(entity, aparking_core::Entity::ConsentReceipt);
            record_id
        }
        other => panic!("the chain verified: {other:?}"),
    }
}

fn export_chain_verified(store: &Store) -> bool {
    let export: serde_json::Value = common::export_schema::validated_export(store);
    export["consent_receipt_chain"]["verified"]
        .as_bool()
        .unwrap()
}

#[test]
fn a_receipt_records_what_article_8_asks_and_names_its_predecessor() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    consent.publish_policy(art8_policy(1)).unwrap();
    let accepted = consent
        .accept_policy(1, vec![Purpose::Statistics], signed_in_context())
        .unwrap();
    let operator = accepted.operator.clone().unwrap();
    assert_eq!(
        (operator.bin.as_str(), accepted.subject_id.as_deref()),
        (BIN, Some("acct-7f3a"))
    );
    assert_eq!(accepted.purposes_granted, vec![Purpose::Statistics]);
    assert!(accepted
        .purposes_denied
        .contains(&Purpose::ConnectionDiagnostics));
    assert_eq!(
        accepted.data_categories.len(),
        2,
        "categories of every offered purpose described"
    );
    assert_eq!(accepted.consent_duration_days, Some(365));
    assert_eq!(accepted.policy_last_updated, "2026-01-15");
    assert!(!accepted.cross_border_transfer && !accepted.third_party_transfer);
    assert_eq!(accepted.collection_method, CollectionMethod::SettingsScreen);
    assert_eq!(accepted.previous_receipt_sha256, None, "the first receipt");
    assert_eq!(accepted.receipt_sha256.len(), 64);

    let withdrawn = consent.withdraw_all(signed_in_context()).unwrap();
    assert_eq!(
        withdrawn.previous_receipt_sha256.as_deref(),
        Some(accepted.receipt_sha256.as_str())
    );
    let stored = consent.receipts().unwrap();
    assert_eq!(
        stored,
        vec![accepted, withdrawn.clone()],
        "read back as returned, hashes included"
    );
    let chain = consent.verify_receipts().unwrap();
    assert_eq!(
        (chain.length, chain.head_sha256),
        (2, Some(withdrawn.receipt_sha256.clone()))
    );
    assert!(consent.state().receipts_verified);

    let kantara: serde_json::Value =
        serde_json::from_str(&consent.export_receipts_json().unwrap()).unwrap();
    let first = &kantara["receipts"][0];
    assert_eq!(first["version"], "KI-CR-v1.1.0");
    assert_eq!(first["piiPrincipalId"], "acct-7f3a");
    assert_eq!(first["piiControllers"][0]["x-aparking-bin"], BIN);
    let purposes = first["services"][0]["purposes"].as_array().unwrap();
    let statistics = purposes
        .iter()
        .find(|p| p["purpose"] == "statistics")
        .unwrap();
    assert_eq!(
        statistics["piiCategory"],
        serde_json::json!(["app_usage", "device_model"])
    );
    assert_eq!(statistics["termination"], "P365D");
    assert_eq!(kantara["chain"]["verified"], true);
    assert_eq!(kantara["chain"]["length"], 2);
    assert!(export_chain_verified(&store));
}

#[test]
fn a_subject_id_that_is_not_an_opaque_id_is_refused() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = consent_with_policy(&store, 1);
    for subject in ["aigerim@example.kz", "+77012345678", "a b", ""] {
        let context = ConsentContext {
            subject_id: Some(subject.into()),
            ..context()
        };
        match consent.accept_policy(1, vec![], context) {
            Err(AparkingError::InvalidInput { field, reason }) => {
                assert_eq!(field, "context.subjectId");
                assert!(!reason.contains(subject) || subject.is_empty());
            }
            other => panic!("{subject}: {other:?}"),
        }
    }
    assert!(consent.receipts().unwrap().is_empty());
}

#[test]
fn a_removed_receipt_is_detected_on_open_on_request_and_in_exports() {
    for (victim, expected_at) in [(1usize, 2usize), (2, 2), (0, 1)] {
        let (_dir, path) = temp_store_path();
        let receipts = store_with_three_receipts(&path);
        sql(
            &path,
            "DELETE FROM consent_receipts WHERE id = ?1",
            [&receipts[victim].id],
        );
        let store = open(&path, &key(1));
        let consent = Consent::new(Arc::clone(&store));
        assert!(
            !consent.state().receipts_verified,
            "removed #{victim}: seen on open"
        );
        assert_eq!(
            broken_at(&store),
            receipts[expected_at].id,
            "removed #{victim}"
        );
        assert!(!export_chain_verified(&store));
        let kantara: serde_json::Value =
            serde_json::from_str(&consent.export_receipts_json().unwrap()).unwrap();
        assert_eq!(kantara["chain"]["verified"], false);
        // The consent in force is still the one the sealed head records.
        assert_eq!(consent.state().accepted_version, Some(1));
        assert!(consent.state().granted.is_empty());
    }
}

#[test]
fn an_edited_receipt_is_detected_and_named() {
    let (_dir, path) = temp_store_path();
    let receipts = store_with_three_receipts(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut blob: Vec<u8> = conn
        .query_row(
            "SELECT sealed FROM consent_receipts WHERE id = ?1",
            [&receipts[1].id],
            |r| r.get(0),
        )
        .unwrap();
    let middle = blob.len() / 2;
    blob[middle] ^= 1;
    conn.execute(
        "UPDATE consent_receipts SET sealed = ?1 WHERE id = ?2",
        rusqlite::params![blob, receipts[1].id],
    )
    .unwrap();
    drop(conn);
    let store = open(&path, &key(1));
    assert!(!Consent::new(Arc::clone(&store)).state().receipts_verified);
    assert_eq!(broken_at(&store), receipts[1].id);
}

#[test]
fn reordered_timestamps_change_nothing_and_a_missing_chain_head_is_detected() {
    let (_dir, path) = temp_store_path();
    let receipts = store_with_three_receipts(&path);
    // Timestamps in the clear are not what orders the chain: swapping them changes nothing.
    sql(
        &path,
        "UPDATE consent_receipts SET created_at = 0 WHERE id = ?1",
        [&receipts[2].id],
    );
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    assert!(consent.state().receipts_verified);
    assert_eq!(consent.verify_receipts().unwrap().length, 3);
    store.close().unwrap();
    drop(consent);
    // A receipt added behind the head's back (here: the chain head removed, so the last
    // receipt hangs loose) is no chain either.
    sql(&path, "DELETE FROM consent_chain", []);
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    assert!(!consent.state().receipts_verified);
    assert_eq!(
        broken_at(&store),
        receipts[2].id,
        "the oldest by time, as stored"
    );
    assert_eq!(
        consent.state().accepted_version,
        None,
        "no authenticated consent: none"
    );
}

#[test]
fn editing_the_consent_in_the_clear_grants_nothing() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = consent_with_policy(&store, 1);
    consent
        .accept_policy(1, vec![Purpose::Statistics], context())
        .unwrap();
    store.close().unwrap();
    drop(consent);
    // Every purpose's bit set in the clear copy of the consent.
    sql(&path, "UPDATE consent_current SET granted = 31", []);
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    assert_eq!(consent.state().granted, vec![Purpose::Statistics]);
    assert!(!consent.is_allowed(Purpose::ServiceImprovement));
    assert!(consent.is_allowed(Purpose::Statistics));
}

#[test]
fn a_damaged_chain_head_stops_collection_until_the_user_decides_again() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = consent_all_granted(&store);
    store.close().unwrap();
    drop(consent);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut blob: Vec<u8> = conn
        .query_row("SELECT sealed FROM consent_chain", [], |r| r.get(0))
        .unwrap();
    let last = blob.len() - 1;
    blob[last] ^= 1;
    conn.execute("UPDATE consent_chain SET sealed = ?1", [blob])
        .unwrap();
    drop(conn);
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    assert!(
        Purpose::ALL.iter().all(|p| !consent.is_allowed(*p)),
        "fails closed"
    );
    assert!(!consent.state().receipts_verified);
    // Deciding again works and is chained behind a fresh head.
    let again = consent
        .accept_policy(1, vec![Purpose::Statistics], context())
        .unwrap();
    assert!(consent.is_allowed(Purpose::Statistics));
    assert_eq!(again.previous_receipt_sha256, None);
}

#[test]
fn a_store_from_before_the_chain_is_anchored_on_open() {
    let (_dir, path) = temp_store_path();
    let receipts = store_with_three_receipts(&path);
    // What schema v6 had: no chain head (nor what v8 to v13 added).
    sql(&path, "DROP TABLE consent_chain", []);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "ALTER TABLE sync_state DROP COLUMN generation;
             ALTER TABLE sync_state DROP COLUMN account_erasures;
             ALTER TABLE key_check DROP COLUMN kek_check;
             DROP TABLE firewall_past;
             DROP TABLE sync_quarantine;
             DROP TABLE store_epoch;",
        )
        .unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 6)
        .unwrap();
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    assert!(consent.state().receipts_verified);
    assert_eq!(consent.state().accepted_version, Some(1));
    let chain = consent.verify_receipts().unwrap();
    assert_eq!(
        chain.head_sha256.as_deref(),
        Some(receipts[2].receipt_sha256.as_str())
    );
    let next = consent
        .accept_policy(1, vec![Purpose::Statistics], context())
        .unwrap();
    assert_eq!(next.previous_receipt_sha256, chain.head_sha256);
    assert_eq!(consent.verify_receipts().unwrap().length, 4);
}

#[test]
fn key_rotation_and_erasure_keep_the_chain_whole() {
    let (_dir, path) = temp_store_path();
    store_with_three_receipts(&path);
    let store = open(&path, &key(1));
    let consent = Consent::new(Arc::clone(&store));
    store.rotate_data_key().unwrap();
    assert_eq!(consent.verify_receipts().unwrap().length, 3);
    store.delete_all_user_data().unwrap();
    assert_eq!(consent.verify_receipts().unwrap().length, 0);
    assert!(consent.state().receipts_verified);
    let fresh = consent
        .accept_policy(1, vec![Purpose::Statistics], context())
        .unwrap();
    assert_eq!(
        fresh.previous_receipt_sha256, None,
        "a new chain after erasure"
    );
}
