//! A hostile or broken backend: answers larger than the client reads (declared or sent
//! chunked) are refused without buffering them, the sync fails with a typed `Network`
//! error, and nothing local is lost.

mod common;

use aparking_core::{NetworkConfig, SyncClient};
use aparking_server::{Fault, FaultPlan, ReferenceServer};
use common::sync::*;
use common::*;
use std::sync::Arc;

fn setup() -> (ReferenceServer, String, tempfile::TempDir, Arc<SyncClient>) {
    let (server, account) = server_with_account("token-h");
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    add_plate(&store, "123ABC02");
    let network = NetworkConfig {
        max_attempts: 2,
        ..fast_network()
    };
    let sync = sync_client_with(&store, &server, "token-h", network);
    (server, account, dir, sync)
}

#[tokio::test]
async fn an_oversized_push_answer_is_refused_and_the_change_is_pushed_later_once() {
    let (server, account, _dir, sync) = setup();
    for declared_length in [true, false] {
        server.inject(FaultPlan::new().repeat_on(
            "/v1/sync/push",
            Fault::Oversized {
                bytes: 17 * 1024 * 1024,
                declared_length,
            },
            2,
        ));
        let reason = network_reason(sync.sync().await.unwrap_err());
        assert_eq!(
            reason, "the answer is cut off or too large",
            "declared_length={declared_length}"
        );
        assert_eq!(sync.pending_changes().unwrap(), 1, "nothing lost");
    }
    assert_eq!(server.stats().faults.oversized, 4);
    assert_eq!(sync.sync().await.unwrap().pending, 0);
    assert_eq!(server.records(&account).len(), 1);
    assert_eq!(server.stats().changes_applied, 1);
}

#[tokio::test]
async fn an_oversized_policy_answer_is_refused() {
    let (server, _account, _dir, sync) = setup();
    // Retried like every request (setup allows 2 attempts): both answers are oversized.
    server.inject(FaultPlan::new().repeat_on(
        "/v1/policy",
        Fault::Oversized {
            bytes: 1024 * 1024,
            declared_length: false,
        },
        2,
    ));
    let reason = network_reason(sync.sync().await.unwrap_err());
    assert!(reason.contains("too large"), "{reason}");
    assert_eq!(server.stats().faults.oversized, 2);
    assert_eq!(sync.pending_changes().unwrap(), 1);
    sync.sync().await.unwrap();
    assert_eq!(sync.pending_changes().unwrap(), 0);
}
