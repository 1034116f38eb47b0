//! The backend's policy is trusted only when signed, and personal data and telemetry go
//! only to the hosts the policy in force declares (issue #15, points 3 and 4; law No.
//! 94-V, Art. 12).
//!
//! A served manifest that is unsigned, signed by another key, or whose signature covers
//! other bytes is refused with `UntrustedPolicy` and leaves consent as it was; with no
//! key configured the manifest is not even fetched. A sync or an upload to a host the
//! policy does not declare fails with `UndeclaredHost` before any connection is made
//! (the endpoint is an address nothing answers on: a request would end as `Network`), and
//! what was pending stays pending.

mod common;

use aparking_core::{AparkingError, Consent, NetworkConfig, Purpose, SyncClient, SyncConfig};
use aparking_server::{PolicySigning, ReferenceServer, ServerConfig};
use common::privacy::*;
use common::sync::*;
use common::*;
use serde_json::json;
use std::sync::Arc;

/// TEST-NET-1 (RFC 5737): documentation space, never routed.
const UNREACHABLE: &str = "https://192.0.2.1";

fn served_manifest(version: i32) -> serde_json::Value {
    json!({
        "version": version, "last_updated": "2026-06-01", "url": "https://aparking.kz/privacy",
        "text_sha256": "cd".repeat(32), "purposes": ["statistics", "connection_diagnostics"],
        "operator": {"name": "ТОО «Алматы спецтехпаркинг сервис»", "bin": "123456789012"},
        "personal_data_hosts": ["api.aparking.kz"],
    })
}

#[tokio::test]
async fn an_unsigned_or_mis_signed_manifest_is_refused_and_consent_stays_as_it_was() {
    let (server, account) = server_with_account("token-s");
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let consent = consent_with_policy(&store, 1);
    consent
        .accept_policy(1, vec![Purpose::Statistics], context())
        .unwrap();
    let before = consent.state();
    add_plate(&store, "123ABC02");
    let sync = sync_client(&store, &server, "token-s");
    server.set_policy(Some(served_manifest(2)));

    for signing in [
        PolicySigning::Unsigned,
        PolicySigning::OtherKey,
        PolicySigning::OtherBytes,
    ] {
        server.set_policy_signing(signing);
        match sync.sync().await {
            Err(AparkingError::UntrustedPolicy { reason }) => {
                assert!(reason.contains("policy manifest"), "{signing:?}: {reason}")
            }
            other => panic!("{signing:?}: {other:?}"),
        }
        assert_eq!(consent.state(), before, "{signing:?}: consent unchanged");
        assert_eq!(consent.policy_in_force().unwrap().version, 1);
        assert_eq!(sync.pending_changes().unwrap(), 1, "nothing lost");
    }
    assert!(
        server.records(&account).is_empty(),
        "and nothing was pushed"
    );

    server.set_policy_signing(PolicySigning::Valid);
    let summary = sync.sync().await.unwrap();
    assert_eq!(
        summary.policy_version,
        Some(2),
        "a valid signature is adopted"
    );
    assert_eq!(consent.policy_in_force().unwrap().version, 2);
    assert_eq!(summary.pending, 0);
}

#[tokio::test]
async fn with_no_key_configured_the_backends_manifest_is_not_fetched() {
    let (server, _account) = server_with_account("token-n");
    server.set_policy(Some(served_manifest(2)));
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    let config = SyncConfig {
        network: fast_network(),
        ..SyncConfig::new(server.base_url())
    };
    let sync =
        SyncClient::new(Arc::clone(&store), config, Arc::new(StaticToken("token-n"))).unwrap();
    let summary = sync.sync().await.unwrap();
    assert_eq!(summary.policy_version, None);
    assert!(Consent::new(Arc::clone(&store)).policy_in_force().is_none());
    assert_eq!(
        server.stats().status_count(200),
        1,
        "one pull, no policy request"
    );
}

#[test]
fn malformed_policy_keys_are_refused_when_the_client_is_made() {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    for keys in [vec!["not base64".to_string()], vec!["AAAA".to_string()]] {
        let config = SyncConfig {
            policy_public_keys: keys,
            ..SyncConfig::new(server.base_url())
        };
        match SyncClient::new(Arc::clone(&store), config, Arc::new(StaticToken("t"))) {
            Err(AparkingError::InvalidInput { field, .. }) => {
                assert_eq!(field, "policyPublicKeys")
            }
            other => panic!("{other:?}"),
        }
    }
}

fn quick_network() -> NetworkConfig {
    NetworkConfig {
        max_attempts: 1,
        connect_timeout_ms: 200,
        request_timeout_ms: 500,
        ..fast_network()
    }
}

#[tokio::test]
async fn personal_data_go_only_to_a_declared_host() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    add_plate(&store, "123ABC02");
    let consent = Consent::new(Arc::clone(&store));
    let config = SyncConfig {
        network: quick_network(),
        ..SyncConfig::new(UNREACHABLE)
    };
    let sync = SyncClient::new(Arc::clone(&store), config, Arc::new(StaticToken("t"))).unwrap();

    // No policy in force, then one that declares another host: refused before connecting.
    let mut manifest = policy(1);
    for step in 0..2 {
        match sync.sync().await {
            Err(AparkingError::UndeclaredHost { host, channel }) => {
                assert_eq!(
                    (host.as_str(), channel.as_str()),
                    ("192.0.2.1", "personal data")
                )
            }
            other => panic!("step {step}: {other:?}"),
        }
        assert_eq!(sync.pending_changes().unwrap(), 1, "nothing lost");
        manifest.personal_data_hosts = vec!["api.aparking.kz".into(), "*.aparking.kz".into()];
        consent.publish_policy(manifest.clone()).unwrap();
    }
    match sync.delete_account().await {
        Err(AparkingError::UndeclaredHost { .. }) => {}
        other => panic!("the erasure request too: {other:?}"),
    }
    assert_eq!(store.list_vehicles().unwrap().len(), 1);

    // Declared: the request is made (and fails, as nothing answers there).
    manifest.version = 2;
    manifest.personal_data_hosts = vec!["192.0.2.1".into()];
    consent.publish_policy(manifest).unwrap();
    match sync.sync().await {
        Err(AparkingError::Network { .. }) => {}
        other => panic!("a declared host is contacted: {other:?}"),
    }
    assert_eq!(sync.pending_changes().unwrap(), 1);
}

#[tokio::test]
async fn telemetry_goes_only_to_a_declared_host_and_stays_queued() {
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(1));
    consent_all_granted(&store);
    let telemetry = aparking_core::Telemetry::new(
        Arc::clone(&store),
        aparking_core::TelemetryConfig {
            network: quick_network(),
            ..fast_config(UNREACHABLE)
        },
    )
    .unwrap();
    telemetry.record(network_sample(-90));
    assert!(telemetry.flush(10_000));
    let queued = telemetry.pending_events(None).unwrap();
    assert_eq!(queued, 1);
    match telemetry.upload().await {
        Err(AparkingError::UndeclaredHost { host, channel }) => {
            assert_eq!(
                (host.as_str(), channel.as_str()),
                ("192.0.2.1", "telemetry")
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        telemetry.pending_events(None).unwrap(),
        queued,
        "nothing lost"
    );
    assert_eq!(telemetry.counters().unwrap().uploaded, 0);
}
