//! Property tests of the decoders that read what the SDK does not control (issue #6): sync
//! pull pages and push answers (decoded by a real `SyncClient` from a loopback backend),
//! policy manifests (bundled and served), and damaged store files. They drive the same
//! entry points as the fuzz targets (`fuzz/src/harness.rs`, included below), with random
//! and mutated inputs and bounded case counts, on the stable toolchain. They also replay
//! every seed of `fuzz/corpus/`, so an input a fuzzer found, once added there, is a
//! regression test here.
//!
//! `tests/properties.rs` covers the text parsers and the single-flip / random-bytes store
//! files; this file covers what it does not: structured hostile sync answers, both manifest
//! paths against each other, multiple flips, flips in the write-ahead log, and that values
//! read from a damaged file are values that were written.

#[path = "../fuzz/src/harness.rs"]
mod harness;

use harness::{remote, Harness};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// One harness for the whole file (its fixtures take a moment to build); tests take turns.
fn harness() -> MutexGuard<'static, Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| Mutex::new(Harness::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn every_seed_of_every_fuzz_target_passes() {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    for s in seeds("plate") {
        harness::check_plate(&text(&s));
    }
    for s in seeds("document_number") {
        harness::check_document_number(&text(&s));
    }
    for s in seeds("phone") {
        harness::check_phone(&text(&s));
    }
    let mut h = harness();
    for s in seeds("policy_manifest") {
        h.policy_manifest(&s);
    }
    for s in seeds("sync_pull") {
        let (flags, page) = s.split_first().expect("a flag byte");
        assert!(
            h.pull_page(page, flags & 1 == 1).is_some(),
            "the seed is JSON"
        );
    }
    for s in seeds("sync_push") {
        assert!(h.push_answer(&s).is_some(), "the seed is JSON");
    }
    for s in seeds("store_open") {
        let _ = h.open_damaged(&s);
    }
}

// ---------------------------------------------------------------------------------------
// Generators of nearly valid JSON: the shape of the protocol, with values drawn from valid
// ones, boundary ones and wrong types.

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("@p")),
        Just(json!("@v0")),
        Just(json!("@v1")),
        Just(json!("@v2")),
        Just(json!("@d0")),
        Just(json!("@d1")),
        Just(json!(remote::VEHICLE_1)),
        Just(json!(remote::VEHICLE_2)),
        Just(json!(remote::DOCUMENT_3)),
        Just(json!("44444444-4444-4444-8444-444444444444")),
        "[0-9a-f-]{0,40}".prop_map(Value::from),
        Just(json!(7)),
        Just(Value::Null),
    ]
}

fn version() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..6).prop_map(Value::from),
        Just(json!(-1)),
        Just(json!(1i64 << 40)),
        Just(json!((1i64 << 40) + 1)),
        Just(json!(i64::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(2.5)),
        Just(json!("3")),
        Just(Value::Null),
    ]
}

fn text_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop_oneof![
            Just("123 ABC 02"), Just("321CBA03"), Just("777KZX01"), Just("A 456 MNO"),
            Just("123ABC21"), Just("+7 705 111 22 33"), Just("+1 202 555 0100"),
            Just("DL88112233"), Just("DL 0011 2233"), Just("1234"), Just("driver_licence"),
            Just("vehicle_registration_certificate"), Just("passport"), Just("2030-01-15"),
            Just("2030-02-30"), Just("kk"), Just("ru"), Just("xx"), Just("a@b.kz"), Just("   "),
            Just(remote::VEHICLE_1), Just(remote::VEHICLE_2), Just("@v0"), Just("@v2"),
        ]
        .prop_map(Value::from),
        2 => "\\PC{0,30}".prop_map(Value::from),
        1 => Just(Value::Null),
        1 => prop_oneof![Just(json!(1)), Just(json!(true)), Just(json!([])), Just(json!({}))],
    ]
}

/// Every record field of the protocol (the reference backend's list) and one it lacks.
fn field_names() -> Vec<&'static str> {
    aparking_server::SYNC_ENTITY_FIELDS
        .iter()
        .filter(|(entity, _)| ["profile", "vehicle", "document"].contains(entity))
        .flat_map(|(_, names)| names.iter().copied())
        .chain(["unknown_field"])
        .collect()
}

fn fields() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => proptest::collection::btree_map(proptest::sample::select(field_names()), text_value(), 0..8)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        1 => Just(Value::Null),
        1 => Just(json!(["plate"])),
    ]
}

/// Sets `key` unless the value is the "absent" marker.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.into(), v);
    }
}

fn change() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just(json!("vehicle")),
            Just(json!("document")),
            Just(json!("profile")),
            Just(json!("consent_receipt")),
            Just(json!("complaint")),
            Just(json!("garage")),
            Just(json!(3)),
        ],
        id(),
        version(),
        proptest::option::weighted(
            0.3,
            prop_oneof![Just(json!(true)), Just(json!(false)), Just(json!("yes"))],
        ),
        proptest::option::weighted(0.9, fields()),
    )
        .prop_map(|(entity, record_id, version, deleted, fields)| {
            let mut m = Map::new();
            put(&mut m, "entity", Some(entity));
            put(&mut m, "record_id", Some(record_id));
            put(&mut m, "version", Some(version));
            put(&mut m, "deleted", deleted);
            put(&mut m, "fields", fields);
            Value::Object(m)
        })
}

fn page() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(change(), 0..6),
        proptest::option::weighted(
            0.95,
            prop_oneof![Just(json!("c2")), Just(json!("c1")), Just(json!(5))],
        ),
        proptest::option::weighted(
            0.95,
            prop_oneof![Just(json!(false)), Just(json!(true)), Just(json!(0))],
        ),
    )
        .prop_map(|(changes, cursor, has_more)| {
            let mut m = Map::new();
            m.insert("changes".into(), Value::Array(changes));
            put(&mut m, "cursor", cursor);
            put(&mut m, "has_more", has_more);
            Value::Object(m)
        })
}

fn result() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            (0u8..6).prop_map(|i| json!(format!("#{i}"))),
            "[0-9a-f-]{0,36}".prop_map(Value::from),
            Just(Value::Null),
        ],
        prop_oneof![
            Just("applied"),
            Just("duplicate"),
            Just("conflict"),
            Just("exists"),
            Just("gone"),
            Just("rejected"),
            Just("teapot"),
        ]
        .prop_map(Value::from),
        proptest::option::weighted(0.7, version()),
        proptest::option::weighted(0.2, text_value()),
    )
        .prop_map(|(change_id, status, version, reason)| {
            let mut m = Map::new();
            put(&mut m, "change_id", Some(change_id));
            put(&mut m, "status", Some(status));
            put(&mut m, "version", version);
            put(&mut m, "reason", reason);
            Value::Object(m)
        })
}

fn answer() -> impl Strategy<Value = Value> {
    prop_oneof![
        9 => proptest::collection::vec(result(), 0..8).prop_map(|r| json!({ "results": r })),
        1 => prop_oneof![Just(json!({"results": null})), Just(json!({})), Just(json!([])), Just(json!("ok"))],
    ]
}

fn manifest() -> impl Strategy<Value = Value> {
    let purposes = proptest::collection::vec(
        prop_oneof![
            4 => proptest::sample::select(&[
                "personalization", "communication", "service_improvement", "statistics",
                "connection_diagnostics",
            ][..]).prop_map(Value::from),
            1 => "[a-z_]{0,12}".prop_map(Value::from),
        ],
        0..7,
    );
    (
        prop_oneof![
            (0i64..8).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            Just(json!("4"))
        ],
        prop_oneof![
            Just("2026-01-15"),
            Just("2026-02-30"),
            Just("15.01.2026"),
            Just("")
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just("https://aparking.kz/privacy"),
            Just("http://aparking.kz"),
            Just("https://a b"),
            Just("")
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just("ab".repeat(32)),
            Just("AB".repeat(32)),
            "[0-9a-f]{63,65}"
        ]
        .prop_map(Value::from),
        purposes,
    )
        .prop_map(|(version, last_updated, url, sha, purposes)| {
            json!({"version": version, "last_updated": last_updated, "url": url,
                   "text_sha256": sha, "purposes": purposes})
        })
}

/// Byte-level damage to a valid JSON document: flips, cuts, duplicated spans.
fn mutated(json: Value) -> impl Strategy<Value = Vec<u8>> {
    let bytes = json.to_string().into_bytes();
    let len = bytes.len().max(1);
    proptest::collection::vec((0..len, any::<u8>(), 0u8..3), 1..4).prop_map(move |edits| {
        let mut b = bytes.clone();
        for (at, byte, how) in edits {
            let at = at % b.len().max(1);
            match how {
                0 if !b.is_empty() => b[at] ^= byte | 1,
                1 => b.truncate(at),
                _ => {
                    let span: Vec<u8> = b[at..(at + 8).min(b.len())].to_vec();
                    b.splice(at..at, span);
                }
            }
        }
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn hostile_pull_pages(page in page(), local_wins in any::<bool>()) {
        prop_assert!(harness().pull_page(page.to_string().as_bytes(), local_wins).is_some());
    }

    #[test]
    fn mutated_pull_pages(bytes in page().prop_flat_map(mutated)) {
        harness().pull_page(&bytes, false);
    }

    #[test]
    fn hostile_push_answers(answer in answer()) {
        prop_assert!(harness().push_answer(answer.to_string().as_bytes()).is_some());
    }

    #[test]
    fn mutated_push_answers(bytes in answer().prop_flat_map(mutated)) {
        harness().push_answer(&bytes);
    }

    #[test]
    fn manifests_read_alike_bundled_and_served(m in manifest(), duplicate in any::<bool>()) {
        let mut text = m.to_string();
        if duplicate {
            // A repeated key: the served path keeps the last, the bundled one refuses.
            text.insert_str(text.len() - 1, r#","version":9"#);
        }
        harness().policy_manifest(text.as_bytes());
    }

    #[test]
    fn mutated_manifests(bytes in manifest().prop_flat_map(mutated)) {
        harness().policy_manifest(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Several flips at once, in the database or in its write-ahead log.
    #[test]
    fn damaged_stores_and_logs(mode in 0u8..2, flips in proptest::collection::vec(any::<[u8; 4]>(), 1..6)) {
        let mut data = vec![mode];
        data.extend(flips.concat());
        let _ = harness().open_damaged(&data);
    }

    /// Random bytes behind a valid SQLite header: past the magic number, into the parser.
    #[test]
    fn files_with_a_valid_header(rest in proptest::collection::vec(any::<u8>(), 0..8192)) {
        let mut data = vec![2u8];
        data.extend_from_slice(b"SQLite format 3\0\x10\x00\x01\x01\x00\x40\x20\x20");
        data.extend(rest);
        let _ = harness().open_damaged(&data);
    }
}
