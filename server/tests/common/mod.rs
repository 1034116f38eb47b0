//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;

use flate2::{write::GzEncoder, Compression};
use serde_json::{json, Value};

pub const EVENTS: &str = "/v1/telemetry/events";
pub const DELETIONS: &str = "/v1/telemetry/deletion-requests";

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn event(installation_id: &str, kind: &str, purpose: &str) -> Value {
    json!({
        "id": uuid(),
        "kind": kind,
        "purpose": purpose,
        "installation_id": installation_id,
        "recorded_at": "2026-02-01T10:00:00Z",
        "data": {"screen": "map", "n": 1},
    })
}

pub fn batch(events: &[Value]) -> Value {
    json!({"schema_version": 1, "sent_at": "2026-02-01T10:00:05+05:00", "events": events})
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// POSTs `body` as JSON, gzip-compressed if asked; returns status and parsed body.
pub async fn post(client: &reqwest::Client, url: String, body: &Value, gz: bool) -> (u16, Value) {
    let bytes = body.to_string().into_bytes();
    let req = client.post(url).header("Content-Type", "application/json");
    let req = if gz {
        req.header("Content-Encoding", "gzip").body(gzip(&bytes))
    } else {
        req.body(bytes)
    };
    let resp = req.send().await.expect("request failed");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("response is not JSON"))
}
