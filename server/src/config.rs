//! The server's configuration: address, data directory, limits, TLS.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Size and count limits applied to every request.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest request body as sent on the wire, compressed or not (413 beyond). 1 MiB.
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression (413 beyond). 4 MiB.
    pub max_decompressed_bytes: usize,
    /// Most events in one batch (413 beyond). 500.
    pub max_events_per_batch: usize,
    /// Most deletion requests in one body (413 beyond). 100.
    pub max_deletion_requests_per_batch: usize,
    /// Most installation ids in one deletion request (413 beyond). 1000.
    pub max_installation_ids_per_request: usize,
    /// Time allowed to receive a whole request body (408 beyond). 30 s.
    pub body_read_timeout: Duration,
    /// Most changes in one `POST /v1/sync/push` (413 beyond). 500.
    pub max_changes_per_push: usize,
    /// Largest `POST /v1/sync/push` body after decompression (413 beyond). 256 KiB.
    pub max_push_bytes: usize,
    /// Largest `limit` of `GET /v1/sync/pull` (400 beyond). 1000.
    pub max_pull_limit: usize,
    /// `limit` of `GET /v1/sync/pull` when the query has none. 500.
    pub default_pull_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_decompressed_bytes: 4 * 1024 * 1024,
            max_events_per_batch: 500,
            max_deletion_requests_per_batch: 100,
            max_installation_ids_per_request: 1000,
            body_read_timeout: Duration::from_secs(30),
            max_changes_per_push: 500,
            max_push_bytes: 256 * 1024,
            max_pull_limit: 1000,
            default_pull_limit: 500,
        }
    }
}

/// Configuration of a [`ReferenceServer`].
///
/// Build it with struct-update syntax:
/// `ServerConfig { data_dir: Some(dir), ..ServerConfig::default() }`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:0`: loopback, ephemeral port.
    pub bind: SocketAddr,
    /// Directory of the SQLite file (created if missing). `None`: a fresh directory under
    /// the system temporary directory, removed again when the server shuts down.
    pub data_dir: Option<PathBuf>,
    /// Policy manifest served on `GET /v1/policy` (404 while `None`).
    pub policy: Option<serde_json::Value>,
    /// Request limits.
    pub limits: Limits,
    /// How long a shutdown waits for requests in flight before cutting them. 3 s.
    pub shutdown_grace: Duration,
    /// Serve HTTPS with this certificate instead of plain HTTP. `None` (the default):
    /// HTTP, which the SDK accepts on loopback only.
    pub tls: Option<TlsConfig>,
    /// The Ed25519 key (PKCS#8 DER) that signs the served policy manifest. `None` (the
    /// default): a new key each start; read it with
    /// [`ReferenceServer::policy_public_key`].
    pub policy_signing_key_pkcs8: Option<Vec<u8>>,
}

/// A certificate chain and its private key, PEM, for HTTPS.
#[derive(Clone)]
pub struct TlsConfig {
    /// The server certificate first, then any intermediates.
    pub cert_chain_pem: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key_pem: String,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            data_dir: None,
            policy: None,
            limits: Limits::default(),
            shutdown_grace: Duration::from_secs(3),
            tls: None,
            policy_signing_key_pkcs8: None,
        }
    }
}
