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
mod config;
mod error;
mod faults;
mod policy;
mod protocol;
mod runtime;
mod stats;
mod store;
mod sync;
mod tls;
mod validate;

pub use faults::{Fault, FaultPlan, FaultTarget, RandomFaults};
pub use policy::{generate_policy_signing_key, validate_policy_manifest, PolicySigning};

pub use runtime::ReferenceServer;

pub use config::{Limits, ServerConfig, TlsConfig};
pub use error::{Result, ServerError};
pub use protocol::*;
pub use stats::{BatchInfo, FaultStats, ServerStats};
pub use store::StoredEvent;
pub use sync::ServerRecord;

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
