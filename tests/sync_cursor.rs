//! Every request of a sync retries the same way, and pull cursors are bounded and move
//! forward (issue #16, points 5 and 6): a dropped connection on the policy fetch is retried;
//! a cursor that is too long or goes back is refused and not saved; a cursor the backend no
//! longer knows (400 `invalid_cursor`) is reset and the pull restarts from the beginning.

mod common;

use aparking_core::SyncClient;
use aparking_server::{Fault, FaultPlan, ReferenceServer};
use common::sync::*;
use common::*;
use serde_json::json;
use std::sync::Arc;

const PULL: &str = "/v1/sync/pull";

/// A device of `token`'s account with one vehicle waiting to be pushed.
fn device(
    server: &ReferenceServer,
    token: &'static str,
    seed: u8,
    plate: &str,
) -> (
    tempfile::TempDir,
    Arc<aparking_core::Store>,
    Arc<SyncClient>,
) {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(seed));
    add_plate(&store, plate);
    let sync = sync_client(&store, server, token);
    (dir, store, sync)
}

/// A pull page the backend did not compute: `cursor` and `has_more` as given, no changes.
fn page(cursor: &str, has_more: bool) -> Fault {
    Fault::Answer {
        code: 200,
        body: json!({"changes": [], "cursor": cursor, "has_more": has_more}).to_string(),
    }
}

#[tokio::test]
async fn a_dropped_connection_or_a_503_on_the_policy_fetch_is_retried_like_push_and_pull() {
    let (server, account) = server_with_account("token-p");
    server.set_policy(Some(json!({
        "version": 2, "last_updated": "2026-01-15", "url": "https://aparking.kz/privacy",
        "text_sha256": "0".repeat(63) + "2", "purposes": ["statistics"]
    })));
    let (_dir, _store, sync) = device(&server, "token-p", 1, "123ABC02");
    server.inject(
        FaultPlan::new()
            .then_on("/v1/policy", Fault::DropAfterApply)
            .then_on(
                "/v1/policy",
                Fault::Status {
                    code: 503,
                    retry_after_secs: None,
                },
            ),
    );
    let summary = sync.sync().await.expect("the policy fetch is retried");
    assert_eq!(
        summary.policy_version,
        Some(2),
        "the third attempt fetched it"
    );
    assert_eq!(summary.pending, 0);
    let faults = server.stats().faults;
    assert_eq!((faults.drop_after_apply, faults.status), (1, 1));
    assert_eq!(
        server.records(&account).len(),
        1,
        "and the sync went on to push"
    );
}

#[tokio::test]
async fn a_policy_fetch_failing_past_its_retries_is_network_and_loses_nothing() {
    let (server, _account) = server_with_account("token-p");
    let (_dir, _store, sync) = device(&server, "token-p", 1, "123ABC02");
    // fast_network() allows 3 attempts.
    server.inject(FaultPlan::new().repeat_on(
        "/v1/policy",
        Fault::Status {
            code: 503,
            retry_after_secs: None,
        },
        3,
    ));
    let reason = network_reason(sync.sync().await.unwrap_err());
    assert_eq!(reason, "HTTP 503");
    assert_eq!(sync.pending_changes().unwrap(), 1, "nothing lost");
    assert_eq!(sync.sync().await.unwrap().pending, 0);
}

#[tokio::test]
async fn a_cursor_longer_than_the_limit_is_refused_and_not_saved() {
    let (server, account) = server_with_account("token-c");
    let (_dir, store, sync) = device(&server, "token-c", 2, "123ABC02");
    let huge = "c".repeat(300 * 1024);
    server.inject(FaultPlan::new().then_on(PULL, page(&huge, false)));
    let reason = network_reason(sync.sync().await.unwrap_err());
    assert_eq!(reason, "the backend's cursor is empty or too long");
    assert_eq!(server.stats().faults.answer, 1);
    assert_eq!(
        server.records(&account).len(),
        1,
        "the push before the pull is kept"
    );

    // The cursor was not saved: another device's record arrives with the next pull.
    let (_d2, _s2, other) = device(&server, "token-c", 3, "777KZA01");
    other.sync().await.unwrap();
    let summary = sync
        .sync()
        .await
        .expect("the next sync pulls from a sane cursor");
    assert_eq!(summary.pending, 0);
    assert_eq!(store.list_vehicles().unwrap().len(), 2);

    // An empty cursor is refused the same way.
    server.inject(FaultPlan::new().then_on(PULL, page("", false)));
    let reason = network_reason(sync.sync().await.unwrap_err());
    assert_eq!(reason, "the backend's cursor is empty or too long");
}

#[tokio::test]
async fn a_cursor_that_goes_back_is_refused_instead_of_followed() {
    let (server, _account) = server_with_account("token-b");
    let (_dir, store, sync) = device(&server, "token-b", 4, "123ABC02");
    // Page 1 ends at c-1, page 2 at c-2, page 3 sends the client back to c-1.
    server.inject(
        FaultPlan::new()
            .then_on(PULL, page("cursor-1", true))
            .then_on(PULL, page("cursor-2", true))
            .then_on(PULL, page("cursor-1", true)),
    );
    let reason = network_reason(sync.sync().await.unwrap_err());
    assert_eq!(reason, "the backend's cursor does not move forward");
    assert_eq!(
        server.stats().faults.answer,
        3,
        "stopped at the first repeat"
    );
    assert_eq!(server.stats().faults.pending_scripted, 0);

    // What was saved is cursor-2, which the real backend never issued: it answers 400
    // invalid_cursor, and the client resets and pulls from the start.
    let (_d2, _s2, other) = device(&server, "token-b", 5, "777KZA01");
    other.sync().await.unwrap();
    let summary = sync.sync().await.expect("an invalid cursor is reset");
    assert_eq!(summary.pending, 0);
    assert_eq!(store.list_vehicles().unwrap().len(), 2);
}

#[tokio::test]
async fn the_same_cursor_at_the_end_of_the_log_is_not_a_loop() {
    let (server, _account) = server_with_account("token-e");
    let (_dir, store, sync) = device(&server, "token-e", 6, "123ABC02");
    sync.sync().await.unwrap();
    // Nothing new: the backend answers the saved cursor again with has_more = false.
    for _ in 0..3 {
        assert_eq!(sync.sync().await.unwrap().pulled, 0);
    }
    assert_eq!(store.list_vehicles().unwrap().len(), 1);
}

#[tokio::test]
async fn an_invalid_cursor_answer_resets_the_cursor_and_the_pull_restarts() {
    let (server, _account) = server_with_account("token-i");
    let (_da, _a_store, a) = device(&server, "token-i", 7, "123ABC02");
    a.sync().await.unwrap();

    // B saves a cursor the backend never issued (as after a restore that lost it).
    let (_db, b_store, b) = device(&server, "token-i", 8, "777KZA01");
    server.inject(FaultPlan::new().then_on(PULL, page("not-a-cursor-of-this-backend", false)));
    b.sync().await.unwrap();
    assert_eq!(
        b_store.list_vehicles().unwrap().len(),
        1,
        "the fake page pulled nothing"
    );

    // The next pull is answered 400 invalid_cursor: B resets and pulls everything.
    let summary = b.sync().await.expect("reset and pulled from the start");
    assert!(summary.pulled >= 1, "{summary:?}");
    assert_eq!(b_store.list_vehicles().unwrap().len(), 2);
    assert_eq!(
        b.sync().await.unwrap().pending,
        0,
        "and the cursor works again"
    );
}
