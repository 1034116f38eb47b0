//! The telemetry channel over real HTTP on loopback.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use aparking_server::{ReferenceServer, ServerConfig};
use common::*;
use serde_json::{json, Value};

fn start() -> ReferenceServer {
    ReferenceServer::start(ServerConfig::default()).expect("server starts")
}

/// Synchronous use, no runtime: raw HTTP/1.1 over a std socket.
#[test]
fn healthz_works_without_a_runtime_and_shutdown_closes_the_port() {
    let server = start();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());
    assert_eq!(
        server.base_url(),
        format!("http://127.0.0.1:{}", addr.port())
    );
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("\r\n\r\nok"), "{text}");
    assert_eq!(server.stats().status_count(200), 1);
    let dir = server.data_dir().to_owned();
    assert!(dir.join("telemetry.sqlite3").exists());
    server.shutdown();
    assert!(TcpStream::connect(addr).is_err());
    assert!(!dir.exists(), "temporary data directory removed");
}

#[tokio::test]
async fn plain_and_gzip_batches_are_stored() {
    let server = start();
    let c = client();
    let inst = uuid();
    let plain = batch(&[
        event(&inst, "app_info", "statistics"),
        event(&inst, "screen_view", "service_improvement"),
    ]);
    let (status, body) = post(&c, server.base_url() + EVENTS, &plain, false).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"accepted": 2, "duplicates": 0, "suppressed": 0})
        )
    );
    let s = server.stats().last_batch.unwrap();
    assert!(!s.gzip);
    assert_eq!(s.compressed_bytes, s.decompressed_bytes);

    let events: Vec<Value> = (0..50)
        .map(|_| event(&inst, "network_quality", "connection_diagnostics"))
        .collect();
    let (status, body) = post(&c, server.base_url() + EVENTS, &batch(&events), true).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(50)));

    let stats = server.stats();
    let last = stats.last_batch.unwrap();
    assert!(
        last.gzip && last.compressed_bytes < last.decompressed_bytes,
        "{last:?}"
    );
    assert_eq!(last.events, 50);
    assert_eq!(
        (
            stats.events_stored,
            stats.batches_received,
            stats.max_events_in_batch
        ),
        (52, 2, 50)
    );

    let stored = server.stored_events();
    assert_eq!(stored.len(), 52);
    assert_eq!(stored[0].id, plain["events"][0]["id"].as_str().unwrap());
    assert_eq!(
        (stored[0].kind.as_str(), stored[0].purpose.as_str()),
        ("app_info", "statistics")
    );
    assert_eq!(stored[0].installation_id, inst);
    assert_eq!(stored[0].data, json!({"screen": "map", "n": 1}));
    assert_eq!(stored[0].recorded_at, "2026-02-01T10:00:00Z");
}

#[tokio::test]
async fn duplicate_ids_are_counted_once() {
    let server = start();
    let c = client();
    let inst = uuid();
    let e1 = event(&inst, "session_start", "statistics");
    let e2 = event(&inst, "session_end", "statistics");
    let (_, body) = post(
        &c,
        server.base_url() + EVENTS,
        &batch(&[e1.clone(), e1.clone()]),
        false,
    )
    .await;
    assert_eq!(
        (&body["accepted"], &body["duplicates"]),
        (&json!(1), &json!(1))
    );
    let (_, body) = post(&c, server.base_url() + EVENTS, &batch(&[e1, e2]), true).await;
    assert_eq!(
        (&body["accepted"], &body["duplicates"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(server.stored_events().len(), 2);
    let stats = server.stats();
    assert_eq!((stats.events_stored, stats.duplicate_events), (2, 2));
}

#[tokio::test]
async fn invalid_input_is_rejected_with_400_without_echo() {
    let server = start();
    let c = client();
    let inst = uuid();
    let secret = "SECRET-kind-9f2c";
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            {
                let mut e = event(&inst, "x", "statistics");
                e["kind"] = json!(secret);
                batch(&[e])
            },
            "unknown_kind",
            "events[0].kind",
        ),
        (
            {
                let mut e = event(&inst, "app_info", "x");
                e["purpose"] = json!(secret);
                batch(&[event(&inst, "app_info", "statistics"), e])
            },
            "unknown_purpose",
            "events[1].purpose",
        ),
        (
            {
                let mut e = event(&inst, "app_info", "statistics");
                e["installation_id"] = json!(secret);
                batch(&[e])
            },
            "invalid_field",
            "events[0].installation_id",
        ),
        (
            {
                let mut e = event(&inst, "app_info", "statistics");
                e["recorded_at"] = json!(secret);
                batch(&[e])
            },
            "invalid_field",
            "events[0].recorded_at",
        ),
        (
            {
                let mut e = event(&inst, "app_info", "statistics");
                e["data"] = json!(secret);
                batch(&[e])
            },
            "invalid_field",
            "events[0].data",
        ),
        (
            {
                let mut b = batch(&[]);
                b["schema_version"] = json!(2);
                b
            },
            "unsupported_schema_version",
            "schema_version",
        ),
        (
            {
                let mut b = batch(&[]);
                b["sent_at"] = json!(secret);
                b
            },
            "invalid_field",
            "sent_at",
        ),
        (
            json!({"schema_version": 1, "sent_at": "2026-02-01T10:00:00Z"}),
            "invalid_field",
            "events",
        ),
    ];
    for (body, code, field) in cases {
        for gz in [false, true] {
            let (status, resp) = post(&c, server.base_url() + EVENTS, &body, gz).await;
            assert_eq!(status, 400, "{resp}");
            assert_eq!(resp["error"], code, "{resp}");
            let message = resp["message"].as_str().unwrap();
            assert!(message.starts_with(field), "{message}");
            assert!(!resp.to_string().contains(secret), "{resp}");
        }
    }
    // Not JSON at all, and a gzip header over plain bytes.
    let resp = c
        .post(server.base_url() + EVENTS)
        .body(format!("{{\"kind\": \"{secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("invalid_json") && !text.contains(secret),
        "{text}"
    );
    let resp = c
        .post(server.base_url() + EVENTS)
        .header("Content-Encoding", "gzip")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_gzip");
    let resp = c
        .post(server.base_url() + EVENTS)
        .header("Content-Encoding", "br")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert!(server.stored_events().is_empty());
    assert_eq!(server.stats().batches_received, 0);
}

#[tokio::test]
async fn oversized_bodies_and_batches_get_413() {
    let server = start();
    let c = client();
    let inst = uuid();
    // Plain body just over 1 MiB.
    let mut e = event(&inst, "app_info", "statistics");
    e["data"] = json!({"pad": "x".repeat(1024 * 1024)});
    let (status, body) = post(&c, server.base_url() + EVENTS, &batch(&[e.clone()]), false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("body_too_large"))
    );
    // Gzip body over 1 MiB compressed (random-ish hex does not compress below half).
    let noise: String = (0..100_000).map(|_| uuid()).collect();
    e["data"] = json!({"pad": noise});
    let (status, body) = post(&c, server.base_url() + EVENTS, &batch(&[e]), true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("body_too_large"))
    );
    // 501 events.
    let events: Vec<Value> = (0..501)
        .map(|_| event(&inst, "error_count", "connection_diagnostics"))
        .collect();
    let (status, body) = post(&c, server.base_url() + EVENTS, &batch(&events), true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("too_many_events"))
    );
    // 500 is fine.
    let (status, body) = post(&c, server.base_url() + EVENTS, &batch(&events[..500]), true).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(500)));
    assert_eq!(server.stats().status_count(413), 3);
}

#[tokio::test]
async fn gzip_bomb_gets_413() {
    let server = start();
    // A valid batch whose padding inflates to 8 MiB from a few kilobytes.
    let mut e = event(&uuid(), "app_info", "statistics");
    e["data"] = json!({"pad": " ".repeat(8 * 1024 * 1024)});
    let compressed = gzip(batch(&[e]).to_string().as_bytes());
    assert!(compressed.len() < 64 * 1024, "{}", compressed.len());
    let resp = client()
        .post(server.base_url() + EVENTS)
        .header("Content-Encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "decompressed_body_too_large"
    );
    assert!(server.stored_events().is_empty());
}

fn deletion(installation_ids: &[&str], purposes: &[&str], created_at: &str) -> Value {
    json!({"id": uuid(), "installation_ids": installation_ids, "purposes": purposes,
           "reason": "consent_withdrawn", "created_at": created_at})
}

#[tokio::test]
async fn deletion_requests_delete_matching_events_and_are_idempotent() {
    let server = start();
    let c = client();
    let (a, b) = (uuid(), uuid());
    let events = vec![
        event(&a, "app_info", "statistics"),
        event(&a, "screen_view", "statistics"),
        event(&a, "network_quality", "connection_diagnostics"),
        event(&a, "screen_view", "personalization"),
        event(&b, "screen_view", "statistics"),
    ];
    post(&c, server.base_url() + EVENTS, &batch(&events), true).await;

    // Statistics only, for installation a.
    let stats_only = json!({"schema_version": 1, "requests": [deletion(&[&a], &["statistics"], "2026-02-02T00:00:00Z")]});
    let (status, body) = post(&c, server.base_url() + DELETIONS, &stats_only, true).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"accepted": 1, "duplicates": 0, "events_deleted": 2})
        )
    );
    // The same request again: a duplicate that deletes nothing.
    let (status, body) = post(&c, server.base_url() + DELETIONS, &stats_only, false).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"accepted": 0, "duplicates": 1, "events_deleted": 0})
        )
    );
    let left: Vec<(String, String)> = server
        .stored_events()
        .into_iter()
        .map(|e| (e.installation_id, e.purpose))
        .collect();
    assert_eq!(
        left,
        [
            (a.clone(), "connection_diagnostics".into()),
            (a.clone(), "personalization".into()),
            (b.clone(), "statistics".into())
        ]
    );

    // Empty purposes: everything of installation a.
    let all =
        json!({"schema_version": 1, "requests": [deletion(&[&a], &[], "2026-02-02T00:00:00Z")]});
    let (_, body) = post(&c, server.base_url() + DELETIONS, &all, false).await;
    assert_eq!(body["events_deleted"], 2);
    assert!(server
        .stored_events()
        .iter()
        .all(|e| e.installation_id == b));

    // A retried batch recorded before the deletion does not bring the events back.
    let (_, body) = post(&c, server.base_url() + EVENTS, &batch(&events), false).await;
    assert_eq!(
        body,
        json!({"accepted": 0, "duplicates": 1, "suppressed": 4})
    );
    let stats = server.stats();
    assert_eq!(
        (
            stats.deletion_requests,
            stats.duplicate_deletion_requests,
            stats.events_deleted,
            stats.suppressed_events
        ),
        (2, 1, 4, 4)
    );

    // Invalid reason and purpose: 400 without echo.
    let mut bad = deletion(&[&a], &["statistics"], "2026-02-02T00:00:00Z");
    bad["reason"] = json!("SECRET-reason");
    let (status, body) = post(
        &c,
        server.base_url() + DELETIONS,
        &json!({"schema_version": 1, "requests": [bad]}),
        false,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unknown_reason"))
    );
    assert!(!body.to_string().contains("SECRET"));
    let bad = deletion(&[&a], &["SECRET-purpose"], "2026-02-02T00:00:00Z");
    let (status, body) = post(
        &c,
        server.base_url() + DELETIONS,
        &json!({"schema_version": 1, "requests": [bad]}),
        false,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unknown_purpose"))
    );
    assert!(!body.to_string().contains("SECRET"));
}

#[tokio::test]
async fn policy_is_404_until_set_then_200() {
    let server = start();
    let c = client();
    let resp = c
        .get(server.base_url() + "/v1/policy")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "no_policy");
    let v4 = json!({"version": 4, "last_updated": "2026-03-01", "url": "https://aparking.kz/privacy",
                    "text_sha256": "0f".repeat(32), "purposes": ["statistics", "connection_diagnostics"]});
    assert_eq!(aparking_server::validate_policy_manifest(&v4), Ok(()));
    server.set_policy(Some(v4.clone()));
    let resp = c
        .get(server.base_url() + "/v1/policy")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), v4);
    server.set_policy(None);
    assert_eq!(
        c.get(server.base_url() + "/v1/policy")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let server = start();
    let c = client();
    let resp = c.get(server.base_url() + "/v1/nope").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "not_found");
    let resp = c.get(server.base_url() + EVENTS).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "method_not_allowed"
    );
}

#[tokio::test]
async fn events_survive_a_restart_on_the_same_data_dir() {
    let dir = std::env::temp_dir().join(format!("aparking-server-test-{}", uuid()));
    let config = ServerConfig {
        data_dir: Some(dir.clone()),
        ..ServerConfig::default()
    };
    let e = event(&uuid(), "coarse_location", "service_improvement");
    let server = ReferenceServer::start(config.clone()).unwrap();
    post(
        &client(),
        server.base_url() + EVENTS,
        &batch(std::slice::from_ref(&e)),
        true,
    )
    .await;
    server.shutdown();
    assert!(dir.exists(), "a given data directory is kept");
    let server = ReferenceServer::start(config).unwrap();
    let (_, body) = post(&client(), server.base_url() + EVENTS, &batch(&[e]), true).await;
    assert_eq!(body["duplicates"], 1);
    assert_eq!(server.stored_events().len(), 1);
    drop(server);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn too_many_deletion_requests_or_installation_ids_get_413_naming_the_limit() {
    let server = start();
    let c = client();
    let a = uuid();
    // 101 requests in one body (the limit is 100).
    let requests: Vec<Value> = (0..101)
        .map(|_| deletion(&[&a], &["statistics"], "2026-02-02T00:00:00Z"))
        .collect();
    let body = json!({"schema_version": 1, "requests": requests});
    let (status, answer) = post(&c, server.base_url() + DELETIONS, &body, true).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (413, Some("too_many_deletion_requests"))
    );
    assert!(answer["message"]
        .as_str()
        .is_some_and(|m| m.contains("at most 100")));
    // 1,001 installation ids in one request (the limit is 1,000); 1,000 are fine.
    let ids: Vec<String> = (0..1001).map(|_| uuid()).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    for (ids, expected) in [(&refs[..], 413), (&refs[..1000], 200)] {
        let body = json!({"schema_version": 1,
                          "requests": [deletion(ids, &["statistics"], "2026-02-02T00:00:00Z")]});
        let (status, answer) = post(&c, server.base_url() + DELETIONS, &body, true).await;
        assert_eq!(status, expected, "{answer}");
        if expected == 413 {
            assert_eq!(answer["error"], "too_many_installation_ids");
            assert!(answer["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("requests[0].installation_ids: at most 1000")));
        }
    }
}
