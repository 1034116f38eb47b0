//! # aparking-core
//!
//! The Rust core of the aparking.kz mobile SDK, used from Kotlin (Android, JVM) and
//! Swift (iOS) through uniffi, and from Rust directly.
//!
//! - [`store`]: the encrypted local store of the user's profile, vehicles and documents.
//! - [`crypto`]: envelope encryption with ring; the host supplies the key through
//!   [`KeyProvider`].
//! - [`formats`]: Kazakhstan plate, document-number, phone and e-mail formats.
//! - [`model`]: the records.
//! - [`error`]: the public [`AparkingError`].
//!
//! Start with [`Store::open`]; see `examples/quickstart.rs` and `docs/architecture.md`.

pub mod consent;
pub mod crypto;
pub mod error;
pub mod ffi;
pub mod formats;
mod locks;
pub mod logging;
pub mod model;
mod net;
mod runtime;
pub mod store;
mod subscription;
pub mod sync;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod units;

pub use consent::{
    CollectionMethod, Consent, ConsentAction, ConsentContext, ConsentObserver, ConsentReceipt,
    ConsentState, ConsentStatus, PolicyManifest, PolicyOperator, PolicyUpdate, Purpose,
    PurposeDataCategories, ReceiptChain,
};
pub use crypto::{InMemoryKeyProvider, KeyProvider, KeyProviderError};
pub use error::{AparkingError, Entity};
pub use formats::{PlateFormat, PlateNumber};
pub use logging::{set_log_sink, LogLevel, LogRecord, LogSink};
pub use model::*;
pub use net::NetworkConfig;
pub use store::{
    delete_store_files, move_store_aside, Durability, RollbackCounter, Store, StoreInfo,
    StoreOptions,
};
pub use subscription::Subscription;
pub use sync::{
    AuthProvider, AuthProviderError, ConflictResolution, QuarantineReason, QuarantinedEntry,
    ReconcileReason, SyncClient, SyncConfig, SyncConflict, SyncEvent, SyncObserver, SyncStatus,
    SyncSummary,
};
pub use telemetry::{
    ConnectionComplaint, NetworkSample, NetworkType, Telemetry, TelemetryConfig, TelemetryCounters,
    TelemetryEvent, UploadSummary,
};

uniffi::setup_scaffolding!();
