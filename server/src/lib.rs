//! Reference backend of the aparking.kz SDK (`docs/protocol.md`, `docs/openapi.yaml`).
//!
//! It serves both channels of the protocol:
//! - the **telemetry channel**: anonymous event batches, deletion requests and the
//!   published privacy-policy manifest. Telemetry is anonymous by design: the channel has
//!   no authentication, events are keyed by an installation id and never by an account,
//!   and the request log keeps no client address;
//! - the **personal channel**: `POST /v1/sync/push`, `GET /v1/sync/pull` and
//!   `DELETE /v1/account`, authenticated with `Authorization: Bearer <token>`. Tokens are
//!   registered with [`ReferenceServer::add_account`] / [`ReferenceServer::add_token`]
//!   (or `--token` on the command line) and stored only as SHA-256 hashes.
//!
//! It is meant to run in-process in tests ([`ReferenceServer`]) and as a small standalone
//! binary (`aparking-server`).
//!
//! ```no_run
//! use aparking_server::{Fault, FaultPlan, ReferenceServer, ServerConfig};
//!
//! let server = ReferenceServer::start(ServerConfig::default()).unwrap();
//! server.inject(FaultPlan::new().then(Fault::Status { code: 503, retry_after_secs: Some(1) }));
//! println!("telemetry endpoint: {}/v1/telemetry/events", server.base_url());
//! // Personal channel: requests bearing `Authorization: Bearer token-1` act for `account`.
//! let account = server.add_account("token-1");
//! assert!(server.records(&account).is_empty());
//! let stats = server.stats();
//! assert_eq!((stats.events_stored, stats.changes_applied), (0, 0));
//! server.shutdown();
//! ```
#![deny(missing_docs)]

mod api;
mod faults;
mod policy;
mod runtime;
mod stats;
mod store;
mod sync;
mod tls;
mod validate;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use faults::{Fault, FaultPlan, FaultTarget, RandomFaults};
pub use policy::{generate_policy_signing_key, validate_policy_manifest, PolicySigning};

/// The answer header of `GET /v1/policy` with the manifest's Ed25519 signature: base64
/// of 64 bytes, over the exact body bytes (docs/protocol.md).
pub const POLICY_SIGNATURE_HEADER: &str = "x-aparking-signature";
pub use runtime::ReferenceServer;

pub use stats::{BatchInfo, FaultStats, ServerStats};
pub use store::StoredEvent;
pub use sync::ServerRecord;

/// Version of the JSON bodies this server accepts and returns (`schema_version`).
pub const SCHEMA_VERSION: u64 = 1;

/// Event kinds accepted on `POST /v1/telemetry/events`.
pub const EVENT_KINDS: [&str; 7] = [
    "app_info",
    "screen_view",
    "session_start",
    "session_end",
    "coarse_location",
    "network_quality",
    "error_count",
];

/// Processing purposes an event may be recorded for (and a deletion request may name).
pub const PURPOSES: [&str; 5] = [
    "personalization",
    "communication",
    "service_improvement",
    "statistics",
    "connection_diagnostics",
];

/// Reasons a deletion request may give.
pub const DELETION_REASONS: [&str; 3] = ["consent_withdrawn", "policy_changed", "account_deleted"];

/// Entity kinds of the personal channel and the wire names of their fields
/// (`docs/protocol.md`, "Sync"). A pushed change naming another entity, or a field not
/// listed for its entity, is rejected.
pub const SYNC_ENTITY_FIELDS: [(&str, &[&str]); 5] = [
    (
        "profile",
        &["phone", "full_name", "email", "preferred_language"],
    ),
    (
        "vehicle",
        &[
            "plate",
            "nickname",
            "make",
            "model",
            "colour",
            "registration_certificate_number",
        ],
    ),
    (
        "document",
        &["kind", "number", "issued_on", "expires_on", "vehicle_id"],
    ),
    (
        "consent_receipt",
        &[
            "action",
            "policy_version",
            "policy_text_sha256",
            "policy_url",
            "jurisdiction",
            "purposes_granted",
            "purposes_denied",
            "timestamp",
            "app_version",
            "locale",
            "collection_method",
            "operator_name",
            "operator_bin",
            "subject_id",
            "policy_last_updated",
            "data_categories",
            "consent_duration_days",
            "third_party_transfer",
            "cross_border_transfer",
            "publicly_available",
            "previous_receipt_sha256",
            "receipt_sha256",
        ],
    ),
    ("complaint", &["description", "created_at", "samples"]),
];

/// Entity kinds whose records are create-only: a second upsert, a patch or a delete of one
/// is rejected with reason `immutable`.
pub const CREATE_ONLY_ENTITIES: [&str; 2] = ["consent_receipt", "complaint"];

/// Errors of starting or running the reference server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file-system or socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The SQLite store could not be opened or used.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// The configuration is not usable; the text says why.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Result of the server's fallible operations.
pub type Result<T> = std::result::Result<T, ServerError>;

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

#[cfg(test)]
mod tests {
    #[test]
    fn server_handle_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::ReferenceServer>();
        check::<crate::ServerStats>();
        check::<crate::FaultPlan>();
        check::<crate::ServerRecord>();
    }
}
