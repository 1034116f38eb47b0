//! Every export matches `docs/export.schema.json` (JSON Schema 2020-12): a full one (every
//! kind of record, consent given and withdrawn under a manifest with every Art. 8 field, a
//! complaint, a damaged record), an empty one, and the tests elsewhere that export, through
//! `common::export_schema::validated_export`. The last test shows that the schema and its
//! validator refuse what an export must not be.

mod common;

use aparking_core::{PolicyOperator, Purpose, PurposeDataCategories};
use common::export_schema::{assert_valid, schema, validated_export, violations};
use common::privacy::*;
use common::*;
use serde_json::{json, Value};

/// A telemetry endpoint nothing listens on: this test uploads nothing.
const NOWHERE: &str = "http://127.0.0.1:9";

/// A store holding one of everything an export can show; its export, validated.
fn full_export() -> Value {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    fill_sample(&store);
    let consent = aparking_core::Consent::new(std::sync::Arc::clone(&store));
    consent
        .publish_policy(aparking_core::PolicyManifest {
            operator: Some(PolicyOperator {
                name: "ТОО «Алматы спецтехпаркинг сервис»".into(),
                bin: "123456789012".into(),
            }),
            data_categories: vec![PurposeDataCategories {
                purpose: Purpose::ConnectionDiagnostics,
                categories: vec!["network_quality".into()],
            }],
            consent_duration_days: Some(365),
            ..policy(2)
        })
        .unwrap();
    consent
        .accept_policy(2, Purpose::ALL.to_vec(), context())
        .unwrap();
    let t = telemetry(&store, NOWHERE);
    t.record(network_sample(-97));
    t.file_connection_complaint("Связь пропадает у ТРЦ Mega".into(), 60)
        .unwrap();
    consent
        .withdraw(vec![Purpose::Statistics], context())
        .unwrap();
    t.shutdown();
    let damaged = store.list_vehicles().unwrap()[2].id.clone();
    store.close().unwrap();
    flip_byte(&path, "vehicles", "sealed", &damaged);

    let store = open(&path, &key(1));
    let export = validated_export(&store);
    // Every part of the schema was exercised.
    for part in [
        "vehicles",
        "documents",
        "consent_receipts",
        "complaints",
        "damaged_records",
    ] {
        assert!(!export[part].as_array().unwrap().is_empty(), "{part}");
    }
    assert!(export["profile"].is_object());
    assert!(export["consent_receipts"][0]["operator"].is_object());
    assert_eq!(export["consent_receipt_chain"]["verified"], true);
    export
}

#[test]
fn a_full_export_matches_the_schema() {
    let export = full_export();
    assert_eq!(export["consent_receipts"].as_array().unwrap().len(), 2);
    assert_eq!(export["damaged_records"][0]["entity"], "vehicle");
}

#[test]
fn the_export_of_an_empty_store_matches_the_schema() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let export = validated_export(&store);
    assert!(export["profile"].is_null());
    assert_eq!(export["vehicles"], json!([]));
}

/// A change made to a copy of a valid export.
type Edit = dyn Fn(&mut Value);

#[test]
fn the_schema_refuses_what_an_export_must_not_be() {
    let export = full_export();
    let broken = |edit: &Edit| {
        let mut copy = export.clone();
        edit(&mut copy);
        violations(schema(), schema(), &copy)
    };
    let cases: [(&str, &Edit); 9] = [
        ("/vehicles/0: has the undeclared field \"vin\"", &|e| {
            e["vehicles"][0]["vin"] = json!("X")
        }),
        ("/vehicles/0: lacks the required field \"plate\"", &|e| {
            e["vehicles"][0].as_object_mut().unwrap().remove("plate");
        }),
        ("/format_version: is 2, expected 1", &|e| {
            e["format_version"] = json!(2)
        }),
        ("/documents/0/kind: \"passport\" is not one of", &|e| {
            e["documents"][0]["kind"] = json!("passport")
        }),
        (
            "/profile/created_at: \"yesterday\" is not a date-time",
            &|e| e["profile"]["created_at"] = json!("yesterday"),
        ),
        (
            "/documents/0/issued_on: \"15.01.2020\" is not a date",
            &|e| e["documents"][0]["issued_on"] = json!("15.01.2020"),
        ),
        (
            "/consent_receipts/0/purposes_granted/0: \"marketing\" is not one of",
            &|e| e["consent_receipts"][0]["purposes_granted"][0] = json!("marketing"),
        ),
        (
            "/complaints/0/network_samples: is string, expected integer",
            &|e| e["complaints"][0]["network_samples"] = json!("1"),
        ),
        (
            "/consent_receipts/1/previous_receipt_sha256: matches none of the 2 alternatives",
            &|e| e["consent_receipts"][1]["previous_receipt_sha256"] = json!("abc"),
        ),
    ];
    assert!(violations(schema(), schema(), &export).is_empty());
    for (expected, edit) in cases {
        let found = broken(edit);
        assert!(
            found.iter().any(|v| v.starts_with(expected)),
            "expected {expected:?}, found {found:?}"
        );
    }
    // Nulls where the schema allows them are fine.
    let mut nulls = export.clone();
    nulls["profile"]["email"] = Value::Null;
    nulls["documents"][0]["issued_on"] = Value::Null;
    assert_valid(&nulls);
}
