//! A hostile or broken backend: answers larger than the client reads (declared or sent
//! chunked) are refused without buffering them, the sync fails with a typed `Network`
//! error, and nothing local is lost.

mod common;

use aparking_core::{
    AparkingError, AuthProvider, AuthProviderError, NetworkConfig, NewVehicle, SyncClient,
    SyncConfig,
};
use aparking_server::{Fault, FaultPlan, ReferenceServer, ServerConfig};
use common::*;
use std::sync::Arc;

struct Token;

impl AuthProvider for Token {
    fn bearer_token(&self, _refresh: bool) -> Result<String, AuthProviderError> {
        Ok("token-h".into())
    }
}

fn setup() -> (ReferenceServer, String, tempfile::TempDir, Arc<SyncClient>) {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let account = server.add_account("token-h");
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    store
        .add_vehicle(NewVehicle {
            plate: "123ABC02".into(),
            ..Default::default()
        })
        .unwrap();
    let config = SyncConfig {
        network: NetworkConfig {
            max_attempts: 2,
            retry_base_delay_ms: 1,
            retry_max_delay_ms: 5,
            ..NetworkConfig::default()
        },
        ..SyncConfig::new(server.base_url())
    };
    let sync = SyncClient::new(store, config, Arc::new(Token)).unwrap();
    (server, account, dir, sync)
}

fn network_reason(err: AparkingError) -> String {
    match err {
        AparkingError::Network { reason, .. } => reason,
        other => panic!("expected Network, got {other:?}"),
    }
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
            reason, "invalid answer",
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
    server.inject(FaultPlan::new().then_on(
        "/v1/policy",
        Fault::Oversized {
            bytes: 1024 * 1024,
            declared_length: false,
        },
    ));
    let reason = network_reason(sync.sync().await.unwrap_err());
    assert!(reason.contains("too large"), "{reason}");
    assert_eq!(sync.pending_changes().unwrap(), 1);
    sync.sync().await.unwrap();
    assert_eq!(sync.pending_changes().unwrap(), 0);
}
