//! Scripted and random fault injection, seen from a real HTTP client.

mod common;

use std::time::{Duration, Instant};

use aparking_server::{Fault, FaultPlan, FaultTarget, RandomFaults, ReferenceServer, ServerConfig};
use common::*;
use serde_json::{json, Value};

fn start() -> ReferenceServer {
    ReferenceServer::start(ServerConfig::default()).expect("server starts")
}

#[tokio::test]
async fn status_503_with_retry_after_then_success() {
    let server = start();
    server.inject(FaultPlan::new().then_on(
        EVENTS,
        Fault::Status {
            code: 503,
            retry_after_secs: Some(1),
        },
    ));
    let c = client();
    let body = batch(&[event(&uuid(), "app_info", "statistics")]);
    let resp = c
        .post(server.base_url() + EVENTS)
        .header("Content-Encoding", "gzip")
        .body(gzip(body.to_string().as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "unavailable");
    assert!(server.stored_events().is_empty(), "not processed");

    let (status, resp) = post(&c, server.base_url() + EVENTS, &body, true).await;
    assert_eq!((status, &resp["accepted"]), (200, &json!(1)));
    let stats = server.stats();
    assert_eq!((stats.status_count(503), stats.status_count(200)), (1, 1));
    assert_eq!(
        (
            stats.faults.status,
            stats.faults.scripted,
            stats.faults.pending_scripted
        ),
        (1, 1, 0)
    );
    assert_eq!(stats.batches_received, 1);
}

#[tokio::test]
async fn drop_after_apply_stores_the_events_but_the_client_sees_an_error() {
    let server = start();
    server.inject(FaultPlan::new().then_on(EVENTS, Fault::DropAfterApply));
    let c = client();
    let body = batch(&[
        event(&uuid(), "session_start", "statistics"),
        event(&uuid(), "session_end", "statistics"),
    ]);
    let err = c
        .post(server.base_url() + EVENTS)
        .header("Content-Encoding", "gzip")
        .body(gzip(body.to_string().as_bytes()))
        .send()
        .await
        .expect_err("the connection is dropped without a response");
    // hyper: IncompleteMessage (connection closed before a response).
    assert!(
        err.is_request() && !err.is_timeout() && !err.is_status(),
        "{err:?}"
    );
    assert_eq!(server.stored_events().len(), 2, "applied before the drop");

    // The SDK's retry of the same batch: nothing new, both reported as duplicates.
    let (status, resp) = post(&c, server.base_url() + EVENTS, &body, true).await;
    assert_eq!(
        (status, resp),
        (
            200,
            json!({"accepted": 0, "duplicates": 2, "suppressed": 0})
        )
    );
    let stats = server.stats();
    assert_eq!(stats.faults.drop_after_apply, 1);
    assert_eq!(
        (
            stats.events_stored,
            stats.duplicate_events,
            stats.batches_received
        ),
        (2, 2, 2)
    );
    assert_eq!(
        stats.requests_by_status.values().sum::<u64>(),
        1,
        "the dropped request sent no response"
    );
}

#[tokio::test]
async fn drop_after_apply_on_deletion_requests() {
    let server = start();
    let c = client();
    let inst = uuid();
    post(
        &c,
        server.base_url() + EVENTS,
        &batch(&[event(&inst, "app_info", "statistics")]),
        false,
    )
    .await;
    server.inject(FaultPlan::new().then_on(DELETIONS, Fault::DropAfterApply));
    let body = json!({"schema_version": 1, "requests": [{"id": uuid(), "installation_ids": [inst],
        "purposes": [], "reason": "account_deleted", "created_at": "2026-02-02T00:00:00Z"}]});
    let sent = c
        .post(server.base_url() + DELETIONS)
        .body(body.to_string())
        .send()
        .await;
    assert!(sent.is_err());
    assert!(server.stored_events().is_empty());
    let (status, resp) = post(&c, server.base_url() + DELETIONS, &body, false).await;
    assert_eq!(
        (status, resp),
        (
            200,
            json!({"accepted": 0, "duplicates": 1, "events_deleted": 0})
        )
    );
}

#[tokio::test]
async fn faults_only_hit_their_path_and_delay_delays() {
    let server = start();
    server.inject(
        FaultPlan::new()
            .then_on(EVENTS, Fault::Delay(Duration::from_millis(300)))
            .then_on(
                EVENTS,
                Fault::Status {
                    code: 429,
                    retry_after_secs: None,
                },
            ),
    );
    let c = client();
    // Other paths are untouched.
    assert_eq!(
        c.get(server.base_url() + "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let t = Instant::now();
    let (status, _) = post(&c, server.base_url() + EVENTS, &batch(&[]), false).await;
    assert_eq!(status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let resp = c
        .post(server.base_url() + EVENTS)
        .body(batch(&[]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "rate_limited");
    let f = server.stats().faults;
    assert_eq!((f.delay, f.status, f.scripted), (1, 1, 2));

    // A queued fault can be withdrawn.
    server.inject(FaultPlan::new().then(Fault::Status {
        code: 500,
        retry_after_secs: None,
    }));
    server.clear_faults();
    assert_eq!(
        c.get(server.base_url() + "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn random_mode_is_seeded_and_counted() {
    let run = |seed| async move {
        let server = start();
        server.inject(FaultPlan::new().random(RandomFaults {
            share: 0.5,
            faults: vec![
                Fault::Status {
                    code: 500,
                    retry_after_secs: None,
                },
                Fault::Status {
                    code: 503,
                    retry_after_secs: Some(2),
                },
            ],
            seed,
            target: FaultTarget::PathPrefix("/v1/".into()),
        }));
        let c = client();
        let mut codes = Vec::new();
        for _ in 0..40 {
            codes.push(
                c.get(server.base_url() + "/v1/policy")
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        // /healthz is outside the target.
        assert_eq!(
            c.get(server.base_url() + "/healthz")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let stats = server.stats();
        let faulted = codes.iter().filter(|c| **c != 404).count() as u64;
        assert_eq!(stats.faults.random, faulted);
        assert_eq!(stats.status_count(500) + stats.status_count(503), faulted);
        assert!((8..=32).contains(&faulted), "{faulted} of 40");
        codes
    };
    assert_eq!(run(42).await, run(42).await);
}
