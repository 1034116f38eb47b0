//! HTTPS against the reference backend with a test CA: the extra root, SPKI pinning (on
//! the server's certificate and on an intermediate), and typed failures that lose nothing.

mod common;

use aparking_core::{
    AparkingError, Consent, NetworkConfig, Purpose, SyncClient, SyncConfig, Telemetry,
    TelemetryConfig, TelemetryEvent,
};
use aparking_server::{ReferenceServer, ServerConfig, TlsConfig};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::privacy::{context, policy};
use common::sync::*;
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PublicKeyData,
};
use ring::digest::{digest, SHA256};
use std::sync::Arc;

/// A test PKI: root CA → intermediate CA → server certificate for 127.0.0.1 and localhost.
struct Pki {
    root_pem: String,
    server: TlsConfig,
    server_pin: String,
    intermediate_pin: String,
    root_pin: String,
}

fn pin_of(key: &KeyPair) -> String {
    STANDARD.encode(digest(&SHA256, &key.subject_public_key_info()))
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params
}

fn pki() -> Pki {
    let root_key = KeyPair::generate().unwrap();
    let root_pin = pin_of(&root_key);
    let root = CertifiedIssuer::self_signed(ca_params("aparking test root"), root_key).unwrap();
    let intermediate_key = KeyPair::generate().unwrap();
    let intermediate_pin = pin_of(&intermediate_key);
    let intermediate = CertifiedIssuer::signed_by(
        ca_params("aparking test intermediate"),
        intermediate_key,
        &root,
    )
    .unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&server_key, &intermediate)
        .unwrap();
    Pki {
        root_pem: root.pem(),
        server: TlsConfig {
            cert_chain_pem: server_cert.pem() + &intermediate.pem(),
            private_key_pem: server_key.serialize_pem(),
        },
        server_pin: pin_of(&server_key),
        intermediate_pin,
        root_pin,
    }
}

fn https_server(pki: &Pki) -> (ReferenceServer, String) {
    let server = ReferenceServer::start(ServerConfig {
        tls: Some(pki.server.clone()),
        ..ServerConfig::default()
    })
    .unwrap();
    let account = server.add_account("token-tls");
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    (server, account)
}

fn network(pki: &Pki, pins: &[&str]) -> NetworkConfig {
    NetworkConfig {
        max_attempts: 3,
        retry_base_delay_ms: 1,
        retry_max_delay_ms: 5,
        extra_root_certificates_pem: vec![pki.root_pem.clone()],
        pinned_spki_sha256: pins.iter().map(|p| p.to_string()).collect(),
        ..NetworkConfig::default()
    }
}

/// A store with one vehicle waiting, and a sync client for `server` with `network`.
fn device(
    server: &ReferenceServer,
    network: NetworkConfig,
) -> (
    tempfile::TempDir,
    Arc<aparking_core::Store>,
    Arc<SyncClient>,
) {
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(3));
    add_plate(&store, "123ABC02");
    let sync = sync_client_with(&store, server, "token-tls", network);
    (dir, store, sync)
}

#[tokio::test]
async fn the_extra_root_makes_the_test_ca_trusted_and_sync_works_over_https() {
    let pki = pki();
    let (server, account) = https_server(&pki);
    let (_dir, _store, sync) = device(&server, network(&pki, &[]));
    let summary = sync.sync().await.unwrap();
    assert_eq!(summary.pushed, 1);
    assert_eq!(server.records(&account).len(), 1);
}

#[tokio::test]
async fn without_the_extra_root_the_certificate_is_refused_at_once_and_nothing_is_lost() {
    let pki = pki();
    let (server, account) = https_server(&pki);
    let (_dir, _store, sync) = device(
        &server,
        NetworkConfig {
            extra_root_certificates_pem: vec![],
            ..network(&pki, &[])
        },
    );
    match sync.sync().await.unwrap_err() {
        AparkingError::Network {
            reason,
            retry_after_ms,
        } => {
            assert_eq!(reason, "certificate not trusted");
            assert_eq!(retry_after_ms, None, "a refused certificate is not retried");
        }
        other => panic!("expected Network, got {other:?}"),
    }
    assert_eq!(sync.pending_changes().unwrap(), 1, "the change still waits");
    assert!(server.records(&account).is_empty());
    assert_eq!(server.stats().push_requests, 0);
}

#[tokio::test]
async fn a_pin_on_the_server_key_or_on_the_intermediate_lets_the_sync_through() {
    let pki = pki();
    let (server, account) = https_server(&pki);
    for pin in [&pki.server_pin, &pki.intermediate_pin] {
        let (_dir, _store, sync) = device(
            &server,
            network(&pki, &["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", pin]),
        );
        assert_eq!(sync.sync().await.unwrap().pending, 0);
    }
    // The `sha256/` prefix OkHttp writes is accepted too.
    let prefixed = format!("sha256/{}", pki.server_pin);
    let (_dir, _store, sync) = device(&server, network(&pki, &[&prefixed]));
    sync.sync().await.unwrap();
    assert_eq!(server.records(&account).len(), 1, "one plate, merged");
}

#[tokio::test]
async fn a_pin_that_matches_no_presented_key_fails_with_a_typed_error_and_keeps_the_data() {
    let pki = pki();
    let (server, account) = https_server(&pki);
    // The root is trusted but is not in the chain the server sends: pinning it does not
    // match (pins apply to the server certificate and the intermediates it presents).
    let (_dir, store, sync) = device(&server, network(&pki, &[&pki.root_pin]));
    match sync.sync().await.unwrap_err() {
        AparkingError::Network {
            reason,
            retry_after_ms,
        } => {
            assert_eq!(reason, "certificate pin mismatch");
            assert_eq!(retry_after_ms, None);
        }
        other => panic!("expected Network, got {other:?}"),
    }
    assert_eq!(sync.pending_changes().unwrap(), 1);
    assert_eq!(store.list_vehicles().unwrap().len(), 1);
    assert!(server.records(&account).is_empty());
}

#[tokio::test]
async fn telemetry_uses_the_same_trust_settings() {
    let pki = pki();
    let (server, _account) = https_server(&pki);
    let (_dir, path) = temp_store_path();
    let store = open(&path, &key(4));
    let consent = Consent::new(Arc::clone(&store));
    consent.publish_policy(policy(1)).unwrap();
    consent
        .accept_policy(1, vec![Purpose::ServiceImprovement], context())
        .unwrap();
    let upload = |pins: &[&str]| {
        let config = TelemetryConfig {
            network: network(&pki, pins),
            ..TelemetryConfig::new(server.base_url())
        };
        Telemetry::new(Arc::clone(&store), config).unwrap()
    };

    let pinned_wrong = upload(&[&pki.root_pin]);
    pinned_wrong.record(TelemetryEvent::SessionStart);
    assert!(pinned_wrong.flush(5_000));
    let summary = pinned_wrong.upload().await.unwrap();
    assert!(!summary.complete);
    assert_eq!(summary.events_sent, 0);
    assert_eq!(
        pinned_wrong.pending_events(None).unwrap(),
        1,
        "kept for later"
    );
    pinned_wrong.shutdown();

    let pinned_right = upload(&[&pki.intermediate_pin]);
    let summary = pinned_right.upload().await.unwrap();
    assert!(summary.complete);
    assert_eq!(summary.events_sent, 1);
    assert_eq!(server.stats().events_stored, 1);
}

#[test]
fn bad_trust_settings_are_refused_when_the_client_is_made() {
    let pki = pki();
    let (server, _account) = https_server(&pki);
    let (dir, path) = temp_store_path();
    let store = open(&path, &key(5));
    let _keep = dir;
    // The field as Kotlin and Swift spell the NetworkConfig property.
    for (network, field) in [
        (
            NetworkConfig {
                pinned_spki_sha256: vec!["too short".into()],
                ..NetworkConfig::default()
            },
            "pinnedSpkiSha256",
        ),
        (
            NetworkConfig {
                extra_root_certificates_pem: vec!["-----BEGIN NOTHING-----".into()],
                ..NetworkConfig::default()
            },
            "extraRootCertificatesPem",
        ),
        (
            NetworkConfig {
                max_attempts: 0,
                ..NetworkConfig::default()
            },
            "maxAttempts",
        ),
    ] {
        let config = SyncConfig {
            network,
            ..SyncConfig::new(server.base_url())
        };
        match SyncClient::new(
            Arc::clone(&store),
            config,
            Arc::new(StaticToken("token-tls")),
        )
        .unwrap_err()
        {
            AparkingError::InvalidInput { field: f, .. } => assert_eq!(f, field),
            other => panic!("expected InvalidInput for {field}, got {other:?}"),
        }
    }
}
