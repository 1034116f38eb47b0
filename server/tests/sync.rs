//! The personal channel (push, pull, account erasure) over real HTTP on loopback.

mod common;

use aparking_server::{Fault, FaultPlan, ReferenceServer, ServerConfig};
use common::*;
use serde_json::{json, Value};

const PUSH: &str = "/v1/sync/push";
const PULL: &str = "/v1/sync/pull";
const ACCOUNT: &str = "/v1/account";

fn start() -> ReferenceServer {
    ReferenceServer::start(ServerConfig::default()).expect("server starts")
}

/// A client of one server, with helpers for the personal channel.
struct Api {
    c: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &ReferenceServer) -> Api {
        Api {
            c: client(),
            base: server.base_url(),
        }
    }

    /// Sends a push body as is; returns status and parsed body.
    async fn push_body(&self, token: &str, body: &Value, gz: bool) -> (u16, Value) {
        let bytes = body.to_string().into_bytes();
        let req = self
            .c
            .post(self.base.clone() + PUSH)
            .bearer_auth(token)
            .header("Content-Type", "application/json");
        let req = if gz {
            req.header("Content-Encoding", "gzip").body(gzip(&bytes))
        } else {
            req.body(bytes)
        };
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("response is not JSON"))
    }

    /// Pushes `changes` and returns the results (asserting a 200).
    async fn push(&self, token: &str, changes: &[Value]) -> Vec<Value> {
        let (status, body) = self.push_body(token, &push_body(changes), false).await;
        assert_eq!(status, 200, "{body}");
        let results = body["results"].as_array().expect("results").clone();
        assert_eq!(results.len(), changes.len());
        for (r, c) in results.iter().zip(changes) {
            assert_eq!(r["change_id"], c["change_id"]);
        }
        results
    }

    async fn pull_raw(&self, token: &str, query: &str) -> (u16, Value) {
        let resp = self
            .c
            .get(format!("{}{PULL}{query}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request failed");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("response is not JSON"))
    }

    /// One page (asserting a 200).
    async fn pull(&self, token: &str, cursor: Option<&str>, limit: Option<usize>) -> Value {
        let mut query = Vec::new();
        if let Some(c) = cursor {
            query.push(format!("cursor={c}"));
        }
        if let Some(l) = limit {
            query.push(format!("limit={l}"));
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let (status, body) = self.pull_raw(token, &query).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Pulls every page from `cursor`; returns the changes and the last cursor.
    async fn pull_all(
        &self,
        token: &str,
        mut cursor: Option<String>,
        limit: usize,
    ) -> (Vec<Value>, String, usize) {
        let mut changes = Vec::new();
        let mut pages = 0;
        loop {
            let page = self.pull(token, cursor.as_deref(), Some(limit)).await;
            pages += 1;
            let got = page["changes"].as_array().unwrap();
            assert!(got.len() <= limit);
            changes.extend(got.iter().cloned());
            cursor = Some(page["cursor"].as_str().unwrap().to_owned());
            if !page["has_more"].as_bool().unwrap() {
                return (changes, cursor.unwrap(), pages);
            }
        }
    }

    async fn delete_account(&self, token: Option<&str>) -> reqwest::Response {
        let req = self.c.delete(self.base.clone() + ACCOUNT);
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        req.send().await.expect("request failed")
    }
}

fn push_body(changes: &[Value]) -> Value {
    json!({"schema_version": 1, "client_id": "5b0f2a3c-1d4e-4f60-8a7b-9c0d1e2f3a4b",
           "changes": changes})
}

fn upsert(entity: &str, record_id: &str, base_version: Option<u64>, fields: Value) -> Value {
    json!({"change_id": uuid(), "entity": entity, "record_id": record_id, "op": "upsert",
           "base_version": base_version, "fields": fields})
}

fn delete(entity: &str, record_id: &str, base_version: Option<u64>) -> Value {
    json!({"change_id": uuid(), "entity": entity, "record_id": record_id, "op": "delete",
           "base_version": base_version})
}

fn status(r: &Value) -> &str {
    r["status"].as_str().unwrap()
}

#[tokio::test]
async fn personal_channel_requires_a_registered_bearer_token() {
    let server = start();
    let api = Api::new(&server);
    let token = "tok-alice-1";
    let account = server.add_account(token);
    assert_eq!(server.account_for_token(token).as_deref(), Some(&*account));
    let body = push_body(&[upsert(
        "vehicle",
        &uuid(),
        None,
        json!({"plate": "123ABC02"}),
    )]);

    // No header, another scheme, an empty token, an unknown token: 401, nothing applied.
    let url = api.base.clone() + PUSH;
    let attempts = [
        api.c.post(&url).body(body.to_string()),
        api.c
            .post(&url)
            .header("Authorization", format!("Basic {token}"))
            .body(body.to_string()),
        api.c
            .post(&url)
            .header("Authorization", "Bearer ")
            .body(body.to_string()),
        api.c
            .post(&url)
            .bearer_auth("tok-mallory")
            .body(body.to_string()),
        api.c.get(api.base.clone() + PULL),
        api.c.get(api.base.clone() + PULL).bearer_auth("nope"),
        api.c.delete(api.base.clone() + ACCOUNT),
        api.c.delete(api.base.clone() + ACCOUNT).bearer_auth("nope"),
    ];
    for req in attempts {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert!(!body.to_string().contains(token), "{body}");
    }
    assert!(server.records(&account).is_empty());

    // The token works, and a second token of the same account sees the same records.
    let results = api.push(token, body["changes"].as_array().unwrap()).await;
    assert_eq!(status(&results[0]), "applied");
    server.add_token(&account, "tok-alice-2");
    let page = api.pull("tok-alice-2", None, None).await;
    assert_eq!(page["changes"].as_array().unwrap().len(), 1);

    // Revoked: 401 again (the SDK then asks its AuthProvider for a fresh token).
    assert!(server.revoke_token(token));
    assert!(!server.revoke_token(token));
    let (status_code, body) = api.pull_raw(token, "").await;
    assert_eq!((status_code, &body["error"]), (401, &json!("unauthorized")));
    server.add_token(&account, "tok-alice-3");
    api.pull("tok-alice-3", None, None).await;
    assert_eq!(server.account_for_token(token), None);

    // Telemetry stays anonymous: no token needed there.
    let (code, _) = post(&api.c, api.base.clone() + EVENTS, &batch(&[]), false).await;
    assert_eq!(code, 200);
    let stats = server.stats();
    assert_eq!(stats.status_count(401), 9);
    assert_eq!((stats.push_requests, stats.changes_applied), (1, 1));
}

#[tokio::test]
async fn create_patch_delete_round_trip_with_versions() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("t");
    let v = uuid();

    let r = api
        .push(
            "t",
            &[upsert(
                "vehicle",
                &v,
                None,
                json!({"plate": "123ABC02", "nickname": "Home", "colour": "red"}),
            )],
        )
        .await;
    assert_eq!(
        r[0],
        json!({"change_id": r[0]["change_id"], "status": "applied", "version": 1})
    );

    // A patch: absent = unchanged, null = cleared.
    let r = api
        .push(
            "t",
            &[upsert(
                "vehicle",
                &v,
                Some(1),
                json!({"nickname": "Work car", "colour": null}),
            )],
        )
        .await;
    assert_eq!((status(&r[0]), &r[0]["version"]), ("applied", &json!(2)));
    let records = server.records(&account);
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(
        (
            rec.entity.as_str(),
            rec.record_id.as_str(),
            rec.version,
            rec.deleted
        ),
        ("vehicle", v.as_str(), 2, false)
    );
    let field = |name: &str| rec.fields.get(name).cloned();
    assert_eq!(field("plate"), Some(Some("123ABC02".into())));
    assert_eq!(field("nickname"), Some(Some("Work car".into())));
    assert_eq!(field("colour"), Some(None));
    // The whole record: every field of the entity, unset ones as null.
    assert_eq!(rec.fields.len(), 6);
    assert_eq!(field("registration_certificate_number"), Some(None));

    let page = api.pull("t", None, None).await;
    assert_eq!(
        page["changes"],
        json!([{"entity": "vehicle", "record_id": v, "version": 2, "deleted": false,
                "fields": {"plate": "123ABC02", "nickname": "Work car", "make": null,
                           "model": null, "colour": null,
                           "registration_certificate_number": null},
                "field_versions": {"plate": 1, "nickname": 2, "make": 1, "model": 1,
                                   "colour": 2, "registration_certificate_number": 1}}])
    );

    let r = api.push("t", &[delete("vehicle", &v, Some(2))]).await;
    assert_eq!((status(&r[0]), &r[0]["version"]), ("applied", &json!(3)));
    let rec = &server.records(&account)[0];
    assert!(rec.deleted && rec.fields.is_empty() && rec.version == 3);
    let page = api.pull("t", page["cursor"].as_str(), None).await;
    assert_eq!(
        page["changes"],
        json!([{"entity": "vehicle", "record_id": v, "version": 3, "deleted": true, "fields": {},
                "field_versions": {}}])
    );
    assert_eq!(page["has_more"], false);
    assert_eq!(server.stats().changes_applied, 3);
}

#[tokio::test]
async fn field_versions_name_the_change_that_last_set_each_field() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("t");
    let v = uuid();
    let steps = [
        json!({"plate": "123ABC02", "nickname": "Home"}),
        json!({"nickname": "Work"}),
        // Set back to its first value: still a change of the field (an "ABA").
        json!({"nickname": "Home"}),
        // The same value again, and a field sent unchanged: not a change of those fields.
        json!({"nickname": "Home", "plate": "123ABC02", "colour": "red"}),
    ];
    for (base, fields) in steps.iter().enumerate() {
        let base = (base > 0).then_some(base as u64);
        let r = api
            .push("t", &[upsert("vehicle", &v, base, fields.clone())])
            .await;
        assert_eq!(status(&r[0]), "applied", "{r:?}");
    }
    let rec = &server.records(&account)[0];
    assert_eq!(rec.version, 4);
    let versions: Vec<(&str, u64)> = rec
        .field_versions
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        versions,
        [
            ("colour", 4),
            ("make", 1),
            ("model", 1),
            ("nickname", 3),
            ("plate", 1),
            ("registration_certificate_number", 1)
        ]
    );
    let page = api.pull("t", None, None).await;
    assert_eq!(page["changes"][0]["field_versions"]["nickname"], 3);
}

#[tokio::test]
async fn a_re_sent_change_id_is_a_duplicate_and_is_not_applied_again() {
    let server = start();
    let api = Api::new(&server);
    server.add_account("t");
    let (v, p) = (uuid(), uuid());
    let changes = vec![
        upsert("vehicle", &v, None, json!({"plate": "777AAA01"})),
        upsert("vehicle", &v, Some(1), json!({"make": "Lada"})),
        upsert("profile", &p, None, json!({"phone": "+77010000000"})),
    ];
    let first = api.push("t", &changes).await;
    assert_eq!(
        first
            .iter()
            .map(|r| (status(r), r["version"].as_u64().unwrap()))
            .collect::<Vec<_>>(),
        [("applied", 1), ("applied", 2), ("applied", 1)]
    );
    // The same body again, and again gzip: every change a duplicate with its stored
    // version; nothing applied a second time.
    for gz in [false, true] {
        let (code, body) = api.push_body("t", &push_body(&changes), gz).await;
        assert_eq!(code, 200);
        let again: Vec<(String, u64)> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (status(r).to_owned(), r["version"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            again,
            [
                ("duplicate".into(), 1),
                ("duplicate".into(), 2),
                ("duplicate".into(), 1)
            ]
        );
    }
    // A change id repeated inside one push: applied once.
    let c = upsert("vehicle", &v, Some(2), json!({"model": "Niva"}));
    let r = api.push("t", &[c.clone(), c]).await;
    assert_eq!((status(&r[0]), status(&r[1])), ("applied", "duplicate"));
    assert_eq!(r[1]["version"], 3);

    let stats = server.stats();
    assert_eq!(
        (
            stats.changes_applied,
            stats.changes_duplicate,
            stats.push_requests
        ),
        (4, 7, 4)
    );
}

#[tokio::test]
async fn a_stale_base_version_is_a_conflict_until_merged() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("phone");
    server.add_token(&account, "tablet");
    let v = uuid();
    api.push(
        "phone",
        &[upsert("vehicle", &v, None, json!({"plate": "001KZ02"}))],
    )
    .await;

    // Both devices edit version 1; the phone gets there first.
    let r = api
        .push(
            "phone",
            &[upsert("vehicle", &v, Some(1), json!({"nickname": "A"}))],
        )
        .await;
    assert_eq!(r[0]["version"], 2);
    let tablet_change = upsert("vehicle", &v, Some(1), json!({"colour": "white"}));
    let r = api
        .push("tablet", std::slice::from_ref(&tablet_change))
        .await;
    assert_eq!(
        r[0],
        json!({"change_id": tablet_change["change_id"], "status": "conflict", "version": 2})
    );
    // Creating a record that exists is a conflict too.
    let r = api
        .push(
            "tablet",
            &[upsert("vehicle", &v, None, json!({"plate": "001KZ02"}))],
        )
        .await;
    assert_eq!((status(&r[0]), &r[0]["version"]), ("conflict", &json!(2)));

    // The tablet pulls, merges and re-pushes the same change id on the current version:
    // a conflict was not recorded, so it applies now.
    let mut merged = tablet_change.clone();
    merged["base_version"] = json!(2);
    let r = api.push("tablet", &[merged]).await;
    assert_eq!((status(&r[0]), &r[0]["version"]), ("applied", &json!(3)));
    let rec = &server.records(&account)[0];
    assert_eq!(rec.fields["nickname"].as_deref(), Some("A"));
    assert_eq!(rec.fields["colour"].as_deref(), Some("white"));
    let stats = server.stats();
    assert_eq!((stats.changes_conflict, stats.changes_applied), (2, 3));
}

#[tokio::test]
async fn delete_wins_and_later_changes_are_gone() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("t");
    let d = uuid();
    api.push(
        "t",
        &[
            upsert(
                "document",
                &d,
                None,
                json!({"kind": "passport", "number": "N1"}),
            ),
            upsert("document", &d, Some(1), json!({"issued_on": "2020-01-01"})),
            upsert("document", &d, Some(2), json!({"expires_on": "2030-01-01"})),
        ],
    )
    .await;

    // A delete on a stale version (another device edited since): applied anyway.
    let r = api.push("t", &[delete("document", &d, Some(1))]).await;
    assert_eq!((status(&r[0]), &r[0]["version"]), ("applied", &json!(4)));
    // Everything after that is gone, with the tombstone's version.
    let r = api
        .push(
            "t",
            &[
                upsert("document", &d, Some(3), json!({"number": "N2"})),
                upsert("document", &d, Some(4), json!({"number": "N2"})),
                delete("document", &d, Some(4)),
                delete("document", &d, None),
                upsert("document", &d, None, json!({"kind": "passport"})),
            ],
        )
        .await;
    for x in &r {
        assert_eq!((status(x), &x["version"]), ("gone", &json!(4)), "{x}");
    }
    // A record the server never had: gone, without a version.
    let r = api
        .push(
            "t",
            &[
                delete("vehicle", &uuid(), Some(2)),
                upsert("vehicle", &uuid(), Some(5), json!({"nickname": "x"})),
            ],
        )
        .await;
    for x in &r {
        assert_eq!(x.as_object().unwrap().len(), 2, "{x}");
        assert_eq!(status(x), "gone");
    }
    let records = server.records(&account);
    assert_eq!(records.len(), 1);
    assert!(records[0].deleted && records[0].version == 4);
    let stats = server.stats();
    assert_eq!((stats.changes_applied, stats.changes_gone), (4, 7));
}

#[tokio::test]
async fn the_same_plate_or_document_under_two_ids_exists() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("a");
    server.add_account("b");
    let (v1, v2) = (uuid(), uuid());

    // Two devices created the same plate offline; the first to reach the server keeps
    // its id.
    let r = api
        .push(
            "a",
            &[
                upsert(
                    "vehicle",
                    &v1,
                    None,
                    json!({"plate": "123ABC02", "make": "Kia"}),
                ),
                upsert(
                    "vehicle",
                    &v2,
                    None,
                    json!({"plate": "123ABC02", "colour": "blue"}),
                ),
            ],
        )
        .await;
    assert_eq!(status(&r[0]), "applied");
    assert_eq!(
        r[1],
        json!({"change_id": r[1]["change_id"], "status": "exists",
               "existing_record_id": v1, "version": 1})
    );
    // The plate is unique per account only.
    let r = api
        .push(
            "b",
            &[upsert("vehicle", &v2, None, json!({"plate": "123ABC02"}))],
        )
        .await;
    assert_eq!(status(&r[0]), "applied");

    // Documents: unique by (kind, number).
    let (d1, d2, d3) = (uuid(), uuid(), uuid());
    let r = api
        .push(
            "a",
            &[
                upsert(
                    "document",
                    &d1,
                    None,
                    json!({"kind": "passport", "number": "N123"}),
                ),
                upsert(
                    "document",
                    &d2,
                    None,
                    json!({"kind": "passport", "number": "N123"}),
                ),
                upsert(
                    "document",
                    &d3,
                    None,
                    json!({"kind": "driving_licence", "number": "N123"}),
                ),
                // A patch that would make a duplicate is refused the same way.
                upsert("document", &d3, Some(1), json!({"kind": "passport"})),
            ],
        )
        .await;
    let got: Vec<(&str, &Value)> = r
        .iter()
        .map(|x| (status(x), &x["existing_record_id"]))
        .collect();
    assert_eq!(
        got,
        [
            ("applied", &Value::Null),
            ("exists", &json!(d1)),
            ("applied", &Value::Null),
            ("exists", &json!(d1)),
        ]
    );

    // One profile per account.
    let (p1, p2) = (uuid(), uuid());
    let r = api
        .push(
            "a",
            &[
                upsert("profile", &p1, None, json!({"phone": "+77010000001"})),
                upsert("profile", &p2, None, json!({"phone": "+77010000002"})),
            ],
        )
        .await;
    assert_eq!((status(&r[0]), status(&r[1])), ("applied", "exists"));
    assert_eq!(r[1]["existing_record_id"], p1);

    // Once the holder is deleted, the plate is free again.
    api.push("a", &[delete("vehicle", &v1, None)]).await;
    let r = api
        .push(
            "a",
            &[upsert("vehicle", &v2, None, json!({"plate": "123ABC02"}))],
        )
        .await;
    assert_eq!(status(&r[0]), "applied");
    let live: Vec<String> = server
        .records(&account)
        .into_iter()
        .filter(|r| !r.deleted && r.entity == "vehicle")
        .map(|r| r.record_id)
        .collect();
    assert_eq!(live, [v2]);
    assert_eq!(server.stats().changes_exists, 4);
}

#[tokio::test]
async fn receipts_and_complaints_are_create_only() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("t");
    let (rc, cp) = (uuid(), uuid());
    let receipt = json!({"action": "accept", "policy_version": "3",
        "policy_text_sha256": "ab".repeat(32), "policy_url": "https://aparking.kz/privacy",
        "jurisdiction": "KZ", "purposes_granted": "[\"statistics\"]", "purposes_denied": "[]",
        "timestamp": "2026-02-01T10:00:00Z", "app_version": "4.2.0 (421)", "locale": "kk-KZ",
        "collection_method": "onboarding_screen"});
    let r = api
        .push(
            "t",
            &[
                upsert("consent_receipt", &rc, None, receipt.clone()),
                upsert(
                    "complaint",
                    &cp,
                    None,
                    json!({"description": "no signal",
                    "created_at": "2026-02-01T10:00:00Z", "samples": "[]"}),
                ),
            ],
        )
        .await;
    assert!(r
        .iter()
        .all(|x| status(x) == "applied" && x["version"] == 1));

    // The same receipt again (re-sent after a restore): a duplicate, nothing changes.
    let again = api
        .push(
            "t",
            &[upsert("consent_receipt", &rc, None, receipt.clone())],
        )
        .await;
    assert_eq!(
        (status(&again[0]), &again[0]["version"]),
        ("duplicate", &json!(1))
    );
    let mut edited = receipt;
    edited["locale"] = json!("ru-KZ");
    let r = api
        .push(
            "t",
            &[
                upsert("consent_receipt", &rc, None, edited),
                upsert("consent_receipt", &rc, Some(1), json!({"locale": "ru-KZ"})),
                delete("consent_receipt", &rc, Some(1)),
                upsert("complaint", &cp, None, json!({"description": "edited"})),
                delete("complaint", &cp, None),
            ],
        )
        .await;
    for x in &r {
        assert_eq!(
            (status(x), &x["reason"]),
            ("rejected", &json!("immutable")),
            "{x}"
        );
        assert!(
            x["message"].as_str().unwrap().starts_with("changes["),
            "{x}"
        );
    }
    let records = server.records(&account);
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.version == 1 && !r.deleted));
    assert_eq!(
        records[1].fields["description"].as_deref(),
        Some("no signal")
    );
    let stats = server.stats();
    assert_eq!((stats.changes_applied, stats.changes_rejected), (2, 5));
}

#[tokio::test]
async fn invalid_changes_are_rejected_one_by_one_and_bad_envelopes_get_400() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("t");
    let secret = "SECRET-4417";
    let v = uuid();
    let changes = [
        upsert(secret, &uuid(), None, json!({})),
        upsert(
            "vehicle",
            &uuid(),
            None,
            json!({"plate": "1", (secret): "x"}),
        ),
        upsert("vehicle", &uuid(), None, json!({"plate": 42})),
        upsert(
            "vehicle",
            &uuid(),
            None,
            json!({"nickname": secret, "vin": "x"}),
        ),
        json!({"change_id": uuid(), "entity": "vehicle", "record_id": secret, "op": "upsert"}),
        json!({"change_id": uuid(), "entity": "vehicle", "record_id": uuid(), "op": secret}),
        upsert("vehicle", &v, None, json!({"plate": "555XYZ05"})),
    ];
    let r = api.push("t", &changes).await;
    let got: Vec<(&str, &str)> = r
        .iter()
        .map(|x| (status(x), x["reason"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        got,
        [
            ("rejected", "unknown_entity"),
            ("rejected", "invalid_field"),
            ("rejected", "invalid_field"),
            ("rejected", "invalid_field"),
            ("rejected", "invalid_field"),
            ("rejected", "unknown_op"),
            ("applied", ""),
        ]
    );
    let paths = [
        "changes[0].entity: unknown entity",
        "changes[1].fields: unknown field name for entity vehicle",
        "changes[2].fields.plate: must be a string or null",
        "changes[3].fields: unknown field name",
        "changes[4].record_id: must be a hyphenated UUID",
        "changes[5].op: unknown op",
    ];
    for (x, path) in r.iter().zip(paths) {
        let message = x["message"].as_str().unwrap();
        assert!(message.starts_with(path), "{message}");
    }
    assert!(!Value::Array(r.clone()).to_string().contains(secret));
    assert_eq!(server.records(&account).len(), 1);
    // A rejected change is not recorded: re-sent, it is rejected again.
    let r = api.push("t", &changes[..1]).await;
    assert_eq!(status(&r[0]), "rejected");

    // The envelope is all or nothing: 400, nothing applied.
    let good = upsert("vehicle", &uuid(), None, json!({"plate": "9"}));
    let cases = [
        (
            json!({"schema_version": 1, "changes": [good.clone()]}),
            "client_id",
        ),
        (
            json!({"schema_version": 2, "client_id": uuid(), "changes": [good.clone()]}),
            "schema_version",
        ),
        (json!({"schema_version": 1, "client_id": uuid()}), "changes"),
        (push_body(&[good.clone(), json!(secret)]), "changes[1]"),
        (
            push_body(&[
                good.clone(),
                json!({"change_id": secret, "entity": "vehicle"}),
            ]),
            "changes[1].change_id",
        ),
    ];
    for (body, path) in cases {
        let (code, resp) = api.push_body("t", &body, false).await;
        assert_eq!(code, 400, "{resp}");
        assert!(
            resp["message"].as_str().unwrap().starts_with(path),
            "{resp}"
        );
        assert!(!resp.to_string().contains(secret), "{resp}");
    }
    assert_eq!(server.records(&account).len(), 1);
    let stats = server.stats();
    assert_eq!((stats.changes_rejected, stats.changes_applied), (7, 1));
}

#[tokio::test]
async fn pull_pages_latest_versions_in_log_order_with_tombstones() {
    let server = start();
    let api = Api::new(&server);
    server.add_account("t");
    let ids: Vec<String> = (0..5).map(|_| uuid()).collect();
    let creates: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| upsert("vehicle", id, None, json!({"plate": format!("P{i}")})))
        .collect();
    api.push("t", &creates).await;
    // ids[1] changes twice more, ids[3] is deleted: the log is 0 2 4 1 3 in latest order.
    api.push(
        "t",
        &[
            upsert("vehicle", &ids[1], Some(1), json!({"nickname": "x"})),
            upsert("vehicle", &ids[1], Some(2), json!({"nickname": "y"})),
            delete("vehicle", &ids[3], Some(1)),
        ],
    )
    .await;

    let (changes, cursor, pages) = api.pull_all("t", None, 2).await;
    assert_eq!(pages, 3);
    let order: Vec<(&str, u64, bool)> = changes
        .iter()
        .map(|c| {
            (
                c["record_id"].as_str().unwrap(),
                c["version"].as_u64().unwrap(),
                c["deleted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (ids[0].as_str(), 1, false),
            (ids[2].as_str(), 1, false),
            (ids[4].as_str(), 1, false),
            (ids[1].as_str(), 3, false),
            (ids[3].as_str(), 2, true),
        ]
    );
    assert_eq!(changes[3]["fields"]["nickname"], "y");
    assert_eq!(changes[4]["fields"], json!({}));

    // Nothing new: an empty page; then only what changed since.
    let page = api.pull("t", Some(&cursor), None).await;
    assert_eq!(
        (page["changes"].as_array().unwrap().len(), &page["has_more"]),
        (0, &json!(false))
    );
    let cursor = page["cursor"].as_str().unwrap().to_owned();
    api.push(
        "t",
        &[upsert("vehicle", &ids[0], Some(1), json!({"make": "Kia"}))],
    )
    .await;
    let page = api.pull("t", Some(&cursor), Some(1000)).await;
    let changes = page["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (&changes[0]["record_id"], &changes[0]["version"]),
        (&json!(ids[0]), &json!(2))
    );

    // A record changed between two pages moves to a later page instead of being lost.
    // The log is now 2 4 1 3 0; ids[1] changes after the first page.
    let first = api.pull("t", None, Some(2)).await;
    api.push(
        "t",
        &[upsert("vehicle", &ids[1], Some(3), json!({"make": "Audi"}))],
    )
    .await;
    let (rest, _, _) = api
        .pull_all("t", first["cursor"].as_str().map(str::to_owned), 2)
        .await;
    let mut seen: Vec<&str> = first["changes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(&rest)
        .map(|c| c["record_id"].as_str().unwrap())
        .collect();
    assert_eq!(seen.len(), 5, "each record once");
    assert_eq!(rest.last().unwrap()["record_id"], ids[1]);
    seen.sort();
    let mut all: Vec<&str> = ids.iter().map(String::as_str).collect();
    all.sort();
    assert_eq!(seen, all);
    assert_eq!(rest.last().unwrap()["fields"]["make"], "Audi");

    // Limits: 1 to 1000.
    for bad in ["?limit=0", "?limit=1001", "?limit=x"] {
        let (code, body) = api.pull_raw("t", bad).await;
        assert_eq!(
            (code, &body["error"]),
            (400, &json!("invalid_field")),
            "{bad}"
        );
        assert!(body["message"].as_str().unwrap().starts_with("limit"));
    }
    assert_eq!(server.stats().pull_requests, 8);
}

#[tokio::test]
async fn pull_default_limit_is_500() {
    let server = start();
    let api = Api::new(&server);
    server.add_account("t");
    for _ in 0..2 {
        let creates: Vec<Value> = (0..300)
            .map(|_| upsert("complaint", &uuid(), None, json!({"description": "d"})))
            .collect();
        api.push("t", &creates).await;
    }
    let page = api.pull("t", None, None).await;
    assert_eq!(page["changes"].as_array().unwrap().len(), 500);
    assert_eq!(page["has_more"], true);
    let page = api.pull("t", page["cursor"].as_str(), None).await;
    assert_eq!(page["changes"].as_array().unwrap().len(), 100);
    assert_eq!(page["has_more"], false);
}

#[tokio::test]
async fn cursors_are_bound_to_their_account_and_can_expire() {
    let server = start();
    let api = Api::new(&server);
    let alice = server.add_account("alice");
    server.add_account("bob");
    api.push(
        "alice",
        &[upsert("vehicle", &uuid(), None, json!({"plate": "A1"}))],
    )
    .await;
    api.push(
        "bob",
        &[upsert("vehicle", &uuid(), None, json!({"plate": "B1"}))],
    )
    .await;
    let alice_cursor = api.pull("alice", None, None).await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    // Alice's cursor is no cursor for Bob, nor is garbage.
    for cursor in [alice_cursor.as_str(), "not-a-cursor", &"0".repeat(64)] {
        let (code, body) = api.pull_raw("bob", &format!("?cursor={cursor}")).await;
        assert_eq!(
            (code, &body["error"]),
            (400, &json!("invalid_cursor")),
            "{body}"
        );
        assert!(!body.to_string().contains(cursor), "{body}");
    }
    // An empty cursor is no cursor.
    assert_eq!(
        api.pull("bob", Some(""), None).await["changes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // After a compaction or restore: 410, and a pull from the start gets everything.
    api.push(
        "alice",
        &[upsert("vehicle", &uuid(), None, json!({"plate": "A2"}))],
    )
    .await;
    server.expire_cursors(&alice);
    let (code, body) = api
        .pull_raw("alice", &format!("?cursor={alice_cursor}"))
        .await;
    assert_eq!((code, &body["error"]), (410, &json!("cursor_expired")));
    let (changes, cursor, _) = api.pull_all("alice", None, 500).await;
    assert_eq!(changes.len(), 2);
    // The new cursor works.
    let page = api.pull("alice", Some(&cursor), None).await;
    assert!(page["changes"].as_array().unwrap().is_empty());
    assert_eq!(server.stats().status_count(410), 1);
}

#[tokio::test]
async fn oversized_pushes_get_413() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("t");
    let creates: Vec<Value> = (0..501)
        .map(|_| upsert("complaint", &uuid(), None, json!({"description": "d"})))
        .collect();
    let (code, body) = api.push_body("t", &push_body(&creates), true).await;
    assert_eq!((code, &body["error"]), (413, &json!("too_many_changes")));
    // 500 is fine.
    let (code, body) = api.push_body("t", &push_body(&creates[..500]), true).await;
    assert_eq!(code, 200, "{body}");

    // Over 256 KiB: plain, and gzip once decompressed.
    let big = vec![upsert(
        "complaint",
        &uuid(),
        None,
        json!({"description": "x".repeat(256 * 1024)}),
    )];
    let (code, body) = api.push_body("t", &push_body(&big), false).await;
    assert_eq!((code, &body["error"]), (413, &json!("body_too_large")));
    let (code, body) = api.push_body("t", &push_body(&big), true).await;
    assert_eq!(
        (code, &body["error"]),
        (413, &json!("decompressed_body_too_large"))
    );
    // Just under the limit is fine.
    let fits = vec![upsert(
        "complaint",
        &uuid(),
        None,
        json!({"description": "x".repeat(255 * 1024)}),
    )];
    let (code, _) = api.push_body("t", &push_body(&fits), false).await;
    assert_eq!(code, 200);
    assert_eq!(server.records(&account).len(), 501);
    assert_eq!(server.stats().status_count(413), 3);
}

#[tokio::test]
async fn account_erasure_deletes_everything_of_the_account() {
    let server = start();
    let api = Api::new(&server);
    let alice = server.add_account("alice");
    let bob = server.add_account("bob");
    let v = uuid();
    for token in ["alice", "bob"] {
        api.push(
            token,
            &[
                upsert("vehicle", &v, None, json!({"plate": "123ABC02"})),
                delete("vehicle", &v, Some(1)),
                upsert("profile", &uuid(), None, json!({"phone": "+77010000000"})),
            ],
        )
        .await;
    }
    let cursor = api.pull("alice", None, None).await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let resp = api.delete_account(Some("alice")).await;
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.unwrap().is_empty());
    assert!(server.records(&alice).is_empty(), "records and tombstones");
    assert_eq!(server.records(&bob).len(), 2, "other accounts untouched");
    // The log is gone: old cursors are answered `account_erased`; a full pull is empty;
    // the token still works.
    let (code, body) = api.pull_raw("alice", &format!("?cursor={cursor}")).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (410, Some("account_erased"))
    );
    let page = api.pull("alice", None, None).await;
    assert_eq!(page["changes"], json!([]));
    // Erasing again is fine.
    assert_eq!(api.delete_account(Some("alice")).await.status(), 204);
    assert_eq!(server.stats().account_erasures, 2);
}

/// The erasure fact: every pull answer counts the account's erasures; a push or pull of a
/// client that has seen fewer (or, without a count, pulls with a cursor from before the
/// erasure) is 410 `account_erased` with the count and time, and a push is refused whole.
#[tokio::test]
async fn a_client_that_missed_an_erasure_is_told_and_its_push_is_refused_whole() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("t");
    api.push(
        "t",
        &[upsert(
            "vehicle",
            &uuid(),
            None,
            json!({"plate": "123ABC02"}),
        )],
    )
    .await;
    let page = api.pull("t", None, None).await;
    assert_eq!(page["account_erasures"], 0);
    let old_cursor = page["cursor"].as_str().unwrap().to_owned();
    assert_eq!(api.delete_account(Some("t")).await.status(), 204);

    let stale = api.pull_raw("t", "?account_erasures=0").await;
    assert_eq!(stale.0, 410, "{}", stale.1);
    assert_eq!(stale.1["error"], "account_erased");
    assert_eq!(stale.1["account_erasures"], 1);
    let erased_at = stale.1["erased_at"].as_str().expect("erased_at");
    assert!(
        erased_at.ends_with('Z') && erased_at.len() >= 20,
        "{erased_at}"
    );
    // Without a count, the cursor from before the erasure tells it.
    let legacy = api.pull_raw("t", &format!("?cursor={old_cursor}")).await;
    assert_eq!(
        (legacy.0, legacy.1["error"].as_str()),
        (410, Some("account_erased"))
    );

    let mut body = push_body(&[upsert(
        "vehicle",
        &uuid(),
        None,
        json!({"plate": "456DEF03"}),
    )]);
    body["account_erasures"] = json!(0);
    let (code, answer) = api.push_body("t", &body, false).await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (410, Some("account_erased"))
    );
    assert!(server.records(&account).is_empty(), "nothing applied");

    // Up to date: accepted; the count is in every page.
    body["account_erasures"] = json!(1);
    assert_eq!(api.push_body("t", &body, false).await.0, 200);
    let fresh = api.pull_raw("t", "?account_erasures=1").await;
    assert_eq!(
        (fresh.0, fresh.1["account_erasures"].as_i64()),
        (200, Some(1))
    );
    assert_eq!(fresh.1["changes"].as_array().unwrap().len(), 1);
    for bad in [
        "?account_erasures=-1",
        "?account_erasures=x",
        "?account_erasures=",
    ] {
        assert_eq!(api.pull_raw("t", bad).await.0, 400, "{bad}");
    }
    body["account_erasures"] = json!("1");
    assert_eq!(api.push_body("t", &body, false).await.0, 400);
}

#[tokio::test]
async fn drop_after_apply_on_push_then_retry_gives_duplicates() {
    let server = start();
    let api = Api::new(&server);
    let account = server.add_account("t");
    let changes = vec![
        upsert("vehicle", &uuid(), None, json!({"plate": "A"})),
        upsert("vehicle", &uuid(), None, json!({"plate": "B"})),
        upsert("profile", &uuid(), None, json!({"phone": "+77010000000"})),
    ];
    // A 503 first: nothing processed.
    server.inject(
        FaultPlan::new()
            .then_on(
                PUSH,
                Fault::Status {
                    code: 503,
                    retry_after_secs: Some(1),
                },
            )
            .then_on(PUSH, Fault::DropAfterApply),
    );
    let (code, _) = api.push_body("t", &push_body(&changes), true).await;
    assert_eq!(code, 503);
    assert!(server.records(&account).is_empty());

    // Applied, then the connection drops before the answer.
    let err = api
        .c
        .post(api.base.clone() + PUSH)
        .bearer_auth("t")
        .body(push_body(&changes).to_string())
        .send()
        .await
        .expect_err("the connection is dropped without a response");
    assert!(err.is_request() && !err.is_status(), "{err:?}");
    assert_eq!(server.records(&account).len(), 3, "applied before the drop");

    // The SDK re-sends the same change ids.
    let r = api.push("t", &changes).await;
    assert!(
        r.iter()
            .all(|x| status(x) == "duplicate" && x["version"] == 1),
        "{r:?}"
    );
    let stats = server.stats();
    assert_eq!(
        (
            stats.changes_applied,
            stats.changes_duplicate,
            stats.push_requests
        ),
        (3, 3, 2)
    );
    assert_eq!(stats.faults.drop_after_apply, 1);

    // The same on pull: the retried pull from the same cursor gets the same page.
    server.inject(FaultPlan::new().then_on(PULL, Fault::DropAfterApply));
    let dropped = api
        .c
        .get(api.base.clone() + PULL)
        .bearer_auth("t")
        .send()
        .await;
    assert!(dropped.is_err());
    assert_eq!(
        api.pull("t", None, None).await["changes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn accounts_records_and_cursors_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("aparking-server-sync-test-{}", uuid()));
    let config = ServerConfig {
        data_dir: Some(dir.clone()),
        ..ServerConfig::default()
    };
    let change = upsert("vehicle", &uuid(), None, json!({"plate": "X1"}));
    let token = "tok-RAW-TOKEN-never-stored-8812";
    let server = ReferenceServer::start(config.clone()).unwrap();
    let account = server.add_account(token);
    let api = Api::new(&server);
    api.push(token, std::slice::from_ref(&change)).await;
    let cursor = api.pull(token, None, None).await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    server.shutdown();

    let server = ReferenceServer::start(config).unwrap();
    let api = Api::new(&server);
    assert_eq!(server.account_for_token(token).as_deref(), Some(&*account));
    let r = api.push(token, &[change]).await;
    assert_eq!(status(&r[0]), "duplicate");
    let page = api.pull(token, Some(&cursor), None).await;
    assert_eq!(page["changes"], json!([]));
    // Only the token's hash is stored, never the token.
    drop(server);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    std::fs::remove_dir_all(dir).unwrap();
}
