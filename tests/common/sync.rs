//! Helpers for the sync tests: a fixed bearer token, fast retries, a client, a backend.
#![allow(dead_code)]

use aparking_core::{
    AparkingError, AuthProvider, AuthProviderError, NetworkConfig, Store, SyncClient, SyncConfig,
};
use aparking_server::{ReferenceServer, ServerConfig};
use std::path::Path;
use std::sync::Arc;

/// An `AuthProvider` that always gives the same token.
pub struct StaticToken(pub &'static str);

impl AuthProvider for StaticToken {
    fn bearer_token(&self, _refresh: bool) -> Result<String, AuthProviderError> {
        Ok(self.0.into())
    }
}

/// Millisecond backoff, the default attempts and timeouts.
pub fn fast_network() -> NetworkConfig {
    NetworkConfig {
        retry_base_delay_ms: 1,
        retry_max_delay_ms: 5,
        ..NetworkConfig::default()
    }
}

/// A sync client of `store` for the backend at `base_url` with `network`, authenticating
/// with `token` (a child process knows its backend by URL only).
pub fn sync_client_at(
    store: &Arc<Store>,
    base_url: &str,
    token: &'static str,
    network: NetworkConfig,
) -> Arc<SyncClient> {
    let config = SyncConfig {
        network,
        ..SyncConfig::new(base_url)
    };
    SyncClient::new(Arc::clone(store), config, Arc::new(StaticToken(token))).unwrap()
}

/// A sync client of `store` for `server` with `network`, authenticating with `token`.
pub fn sync_client_with(
    store: &Arc<Store>,
    server: &ReferenceServer,
    token: &'static str,
    network: NetworkConfig,
) -> Arc<SyncClient> {
    let config = SyncConfig {
        network,
        // The manifest the backend serves is trusted when signed with its key.
        policy_public_keys: vec![server.policy_public_key()],
        ..SyncConfig::new(server.base_url())
    };
    SyncClient::new(Arc::clone(store), config, Arc::new(StaticToken(token))).unwrap()
}

/// A sync client of `store` for `server` with fast retries.
pub fn sync_client(
    store: &Arc<Store>,
    server: &ReferenceServer,
    token: &'static str,
) -> Arc<SyncClient> {
    sync_client_with(store, server, token, fast_network())
}

/// A reference backend on 127.0.0.1 with one account reached by `token`; returns the
/// account id too.
pub fn server_with_account(token: &str) -> (ReferenceServer, String) {
    let server = ReferenceServer::start(ServerConfig::default()).unwrap();
    let account = server.add_account(token);
    (server, account)
}

/// Waits (at most 30 s) until `server` has taken `count` `Fault::Delay` faults: the delay is
/// counted when its request arrives, before it is held, so a test can act while the backend
/// holds a request, however loaded the machine is, instead of sleeping for a guessed time.
pub async fn until_delay_faults(server: &ReferenceServer, count: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.stats().faults.delay < count {
        assert!(
            std::time::Instant::now() < deadline,
            "no delayed request arrived in 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// The reason of a `Network` error; panics on any other error.
pub fn network_reason(err: AparkingError) -> String {
    match err {
        AparkingError::Network { reason, .. } => reason,
        other => panic!("expected Network, got {other:?}"),
    }
}

/// A reference backend keeping its data in `dir` (kept after shutdown, so a test can
/// copy, restore or restart it), on 127.0.0.1:`port` (0: any free port).
pub fn server_at(dir: &Path, port: u16) -> ReferenceServer {
    ReferenceServer::start(ServerConfig {
        data_dir: Some(dir.to_path_buf()),
        bind: ([127, 0, 0, 1], port).into(),
        ..ServerConfig::default()
    })
    .unwrap()
}

/// Copies the files of directory `from` into `to` (created when missing).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
