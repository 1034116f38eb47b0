//! Errors: the internal [`Error`] used inside the crate and the public [`AparkingError`]
//! that crosses the FFI.
//!
//! No message carries personal data: fields and reasons are fixed strings chosen by this
//! crate, record ids are random UUIDs, and SQLite failures are reduced to their error code.

use crate::model::kind::RecordKind;
use rusqlite::ErrorCode;

/// What an error names: a kind of personal record, or another thing the store keeps (an
/// integrity failure can name any of them; a missing store file is `StoreFile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Entity {
    /// The user's profile.
    Profile,
    /// A vehicle.
    Vehicle,
    /// A document.
    Document,
    /// A consent receipt.
    ConsentReceipt,
    /// The head of the chain of consent receipts.
    ConsentReceiptChain,
    /// A queued telemetry event.
    TelemetryEvent,
    /// A queued network sample.
    NetworkSample,
    /// A complaint.
    Complaint,
    /// An entry of the sync conflict log.
    SyncConflict,
    /// The last synced copy of a record.
    SyncMirrorRecord,
    /// A change waiting to be synced.
    OutboxEntry,
    /// A personal value the telemetry firewall still blocks after it changed.
    PastValue,
    /// The store's rollback epoch.
    StoreEpoch,
    /// The store's database file.
    StoreFile,
}

impl Entity {
    /// Its name in messages (`vehicle`, `consent receipt`).
    pub fn words(self) -> &'static str {
        match self {
            Entity::Profile => "profile",
            Entity::Vehicle => "vehicle",
            Entity::Document => "document",
            Entity::ConsentReceipt => "consent receipt",
            Entity::ConsentReceiptChain => "consent receipt chain",
            Entity::TelemetryEvent => "telemetry event",
            Entity::NetworkSample => "network sample",
            Entity::Complaint => "complaint",
            Entity::SyncConflict => "sync conflict",
            Entity::SyncMirrorRecord => "sync mirror record",
            Entity::OutboxEntry => "outbox entry",
            Entity::PastValue => "past value",
            Entity::StoreEpoch => "store epoch",
            Entity::StoreFile => "store file",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

impl From<RecordKind> for Entity {
    fn from(kind: RecordKind) -> Self {
        match kind {
            RecordKind::Profile => Entity::Profile,
            RecordKind::Vehicle => Entity::Vehicle,
            RecordKind::Document => Entity::Document,
        }
    }
}

/// The crate's internal error. Converted to [`AparkingError`] at the API boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// `field`: the Rust name (snake_case, dotted for a nested field); the public error
    /// names the Kotlin / Swift property instead (`property_path`).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        field: &'static str,
        reason: &'static str,
    },
    /// A malformed value in a JSON document the app gave (a policy manifest): `field` is the
    /// document's key path, kept as it is in the public error.
    #[error("invalid {field}: {reason}")]
    InvalidJson {
        field: &'static str,
        reason: &'static str,
    },
    #[error("{entity} already exists")]
    AlreadyExists { entity: RecordKind },
    #[error("{entity} not found")]
    NotFound { entity: Entity },
    #[error("wrong key")]
    WrongKey,
    #[error("key unavailable: {0}")]
    KeyUnavailable(String),
    #[error("integrity check failed for a {entity} record")]
    Integrity { entity: Entity, record_id: String },
    #[error("store corrupted: {0}")]
    Corrupted(&'static str),
    #[error("store schema version {found} is newer than this SDK supports ({supported})")]
    IncompatibleVersion { found: i32, supported: i32 },
    #[error("store is closed")]
    Closed,
    #[error("no policy is in force")]
    NoPolicy,
    #[error("authentication required: {0}")]
    AuthRequired(String),
    #[error("a sync is already running")]
    SyncInProgress,
    #[error("the sync was cancelled")]
    SyncCancelled,
    #[error("network: {reason}")]
    Network {
        reason: String,
        retry_after_ms: Option<i64>,
    },
    /// The backend answered with an HTTP error that is not retried (a 4xx other than 401
    /// and 429): it certainly did nothing. Public as `Network { reason: "HTTP <status>" }`.
    #[error("network: HTTP {status}")]
    Refused { status: u16 },
    #[error("policy version {accepted} is not the version in force ({in_force})")]
    PolicyVersionMismatch { accepted: i32, in_force: i32 },
    #[error("{channel} may not be sent to host {host}: the policy in force does not declare it")]
    UndeclaredHost { host: String, channel: &'static str },
    #[error("untrusted policy: {0}")]
    UntrustedPolicy(&'static str),
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
    #[error("the store file is older than its rollback counter ({found} < {expected})")]
    RolledBack { found: i64, expected: i64 },
    /// Sync: the backend says the account was erased since this device last synced.
    #[error("the account was erased on another device")]
    AccountErased,
    /// Sync: a pulled value (plate, number) is still held by another synced local record,
    /// whose own newer change is further on in the pull. The pull retries it later.
    #[error("a pulled {entity}'s plate or number is still held by another local record")]
    UniqueHeld { entity: RecordKind, holder: String },
    #[error("internal: {0}")]
    Internal(&'static str),
    /// A file-system or journal failure outside SQLite's own errors (its kind only: no
    /// path).
    #[error("storage: {0}")]
    Storage(String),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),
}

/// Shorthand for results carrying the internal error.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the SDK reports to the app.
///
/// Kotlin sees a sealed `AparkingException` hierarchy, Swift an `AparkingError` enum.
/// Messages never contain personal data: they name fields and entities, never values.
/// `toString()` (Kotlin) and `description` (Swift) give the sentence below each case;
/// `message` (Kotlin and Swift) gives it with a capital letter and a full stop ("The key
/// does not open this store."), and the fields stay readable as properties.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum AparkingError {
    /// A value given by the app is malformed. `field` names it as Kotlin and Swift spell
    /// the property or parameter (`plate`, `expiresOn`, `context.subjectId`, `maxAttempts`),
    /// or, in a JSON document the app gave (`parsePolicyManifest`, `publishPolicyJson`), as
    /// the document's key path (`policy.last_updated`). `reason` says what is expected. The
    /// value itself is never echoed.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },
    /// A record with the same unique value (plate, document number) already exists.
    #[error("{entity} already exists")]
    AlreadyExists { entity: RecordKind },
    /// The record (or file) asked for does not exist.
    #[error("{entity} not found")]
    NotFound { entity: Entity },
    /// The key-encryption key does not open this store. Nothing was modified.
    #[error("the key does not open this store")]
    WrongKey,
    /// The key provider could not supply the key (locked keystore, invalidated key, ...).
    /// Recovery: reset local data and restore from the backend.
    #[error("the key is unavailable: {reason}")]
    KeyUnavailable { reason: String },
    /// A stored value failed its authenticity check (tampered or damaged). Other records
    /// remain readable; the damaged one can be removed by id.
    #[error("integrity check failed for {entity} record {record_id}")]
    IntegrityFailure { entity: Entity, record_id: String },
    /// The database file is not a valid store. Recovery: move it aside and restore
    /// from the backend.
    #[error("the store is corrupted: {reason}")]
    StoreCorrupted { reason: String },
    /// The database was written by a newer SDK. Nothing was modified.
    #[error("store schema version {found} is newer than the supported version {supported}")]
    IncompatibleVersion { found: i32, supported: i32 },
    /// The store was closed; open a new one.
    #[error("the store is closed")]
    StoreClosed,
    /// The backend refused the token twice (after one refresh), or the auth provider has
    /// none: sign the user in again.
    #[error("authentication required: {reason}")]
    AuthRequired { reason: String },
    /// Another sync of this store is running; this call did nothing.
    #[error("a sync is already running")]
    SyncInProgress,
    /// The sync was cancelled; what it saved stays saved, the next sync carries on.
    #[error("the sync was cancelled")]
    SyncCancelled,
    /// The account was erased (on another device, or by the operator) since this device
    /// last synced. The SDK has already deleted this device's copy of the account's data
    /// (as `deleteAllUserData` does) and pushes none of it back; the app should sign the
    /// user out. The next sync starts afresh on the empty store.
    #[error("the account was erased on another device; its data on this device were deleted")]
    AccountErased,
    /// The store file is older than the host's rollback counter (`RollbackCounter`): it
    /// was restored from an older copy, which could bring back withdrawn consent or erased
    /// data. Nothing was changed. Recovery: `moveStoreAside(path)`, open a new store, sync
    /// (everything synced comes back), and ask the user for consent again.
    #[error("the store file was restored from an older copy (epoch {file_epoch}, expected at least {expected_epoch})")]
    StoreRolledBack {
        /// The epoch the file holds.
        file_epoch: i64,
        /// The epoch the counter expects, at least.
        expected_epoch: i64,
    },
    /// The backend could not be reached or kept failing after retries. Nothing is lost;
    /// try again after `retryAfterMs` when given.
    #[error("network failure: {reason}")]
    Network {
        reason: String,
        retry_after_ms: Option<i64>,
    },
    /// No policy manifest has been published, so there is nothing to accept or withdraw.
    #[error("no privacy policy is in force")]
    NoPolicy,
    /// Only the policy version in force can be accepted; show that one.
    #[error("policy version {accepted} is not the version in force ({in_force})")]
    PolicyVersionMismatch { accepted: i32, in_force: i32 },
    /// The disk (or the database size limit) is full. Nothing stored before was lost.
    #[error("the storage is full")]
    StorageFull,
    /// The request would send `channel` data (`personal data` or `telemetry`) to `host`,
    /// which the policy in force does not declare for it (law No. 94-V, Art. 12). Nothing
    /// was sent and nothing is lost: publish a manifest that declares the host, or fix the
    /// endpoint.
    #[error("{channel} may not be sent to {host}: the privacy policy in force does not declare that host")]
    UndeclaredHost { host: String, channel: String },
    /// The policy manifest the backend served is not signed by a configured key (or not
    /// at all). It was ignored; the consent state is unchanged.
    #[error("the backend's privacy policy was refused: {reason}")]
    UntrustedPolicy { reason: String },
    /// Another storage failure; `reason` is an SQLite error code name.
    #[error("storage error: {reason}")]
    Storage { reason: String },
    /// A bug or an unexpected condition inside the SDK.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl From<Error> for AparkingError {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidInput { field, reason } => AparkingError::InvalidInput {
                field: property_path(field),
                reason: reason.to_string(),
            },
            Error::InvalidJson { field, reason } => AparkingError::InvalidInput {
                field: field.to_string(),
                reason: reason.to_string(),
            },
            Error::AlreadyExists { entity } => AparkingError::AlreadyExists { entity },
            Error::NotFound { entity } => AparkingError::NotFound { entity },
            Error::WrongKey => AparkingError::WrongKey,
            Error::KeyUnavailable(reason) => AparkingError::KeyUnavailable { reason },
            Error::Integrity { entity, record_id } => {
                AparkingError::IntegrityFailure { entity, record_id }
            }
            Error::Corrupted(reason) => AparkingError::StoreCorrupted {
                reason: reason.to_string(),
            },
            Error::IncompatibleVersion { found, supported } => {
                AparkingError::IncompatibleVersion { found, supported }
            }
            Error::Closed => AparkingError::StoreClosed,
            Error::NoPolicy => AparkingError::NoPolicy,
            Error::AuthRequired(reason) => AparkingError::AuthRequired { reason },
            Error::SyncInProgress => AparkingError::SyncInProgress,
            Error::SyncCancelled => AparkingError::SyncCancelled,
            Error::Network {
                reason,
                retry_after_ms,
            } => AparkingError::Network {
                reason,
                retry_after_ms,
            },
            Error::Refused { status } => AparkingError::Network {
                reason: format!("HTTP {status}"),
                retry_after_ms: None,
            },
            Error::PolicyVersionMismatch { accepted, in_force } => {
                AparkingError::PolicyVersionMismatch { accepted, in_force }
            }
            Error::UndeclaredHost { host, channel } => AparkingError::UndeclaredHost {
                host,
                channel: channel.to_string(),
            },
            Error::UntrustedPolicy(reason) => AparkingError::UntrustedPolicy {
                reason: reason.to_string(),
            },
            Error::Crypto(what) => AparkingError::Internal {
                reason: format!("crypto: {what}"),
            },
            Error::Internal(what) => AparkingError::Internal {
                reason: what.to_string(),
            },
            Error::AccountErased => AparkingError::AccountErased,
            Error::RolledBack { found, expected } => AparkingError::StoreRolledBack {
                file_epoch: found,
                expected_epoch: expected,
            },
            Error::UniqueHeld { .. } => AparkingError::Network {
                reason: "the backend's records hold one plate or number twice".to_string(),
                retry_after_ms: None,
            },
            Error::Storage(reason) => AparkingError::Storage { reason },
            Error::Sqlite(e) => from_sqlite(&e),
            Error::Serialization(_) => AparkingError::Internal {
                reason: "serialization failed".to_string(),
            },
        }
    }
}

/// Maps an SQLite error to the public error by its code only: SQLite's own messages can
/// quote constraint names and, in rare cases, values.
fn from_sqlite(err: &rusqlite::Error) -> AparkingError {
    match err.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => AparkingError::StorageFull,
        Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => {
            AparkingError::StoreCorrupted {
                reason: "the database file is damaged or not a database".to_string(),
            }
        }
        Some(code) => AparkingError::Storage {
            reason: format!("{code:?}"),
        },
        None => AparkingError::Storage {
            reason: sqlite_error_kind(err).to_string(),
        },
    }
}

fn sqlite_error_kind(err: &rusqlite::Error) -> &'static str {
    match err {
        rusqlite::Error::QueryReturnedNoRows => "no rows",
        rusqlite::Error::InvalidColumnType(..) => "invalid column type",
        rusqlite::Error::InvalidPath(_) => "invalid path",
        rusqlite::Error::NulError(_) => "NUL byte in a string",
        _ => "sqlite failure",
    }
}

/// Result type of the public API.
pub type ApiResult<T> = std::result::Result<T, AparkingError>;

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        Error::InvalidInput { field, reason }
    }

    /// This error, for a value read from a JSON document: an `InvalidInput` keeps its field
    /// as the document's key path (see [`Error::InvalidJson`]); any other error is unchanged.
    pub(crate) fn in_json(self) -> Self {
        match self {
            Error::InvalidInput { field, reason } => Error::InvalidJson { field, reason },
            other => other,
        }
    }
}

/// `field`'s path as Kotlin and Swift spell it: each dotted segment from snake_case to
/// lowerCamelCase (`context.subject_id` becomes `context.subjectId`).
fn property_path(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        match c {
            '_' => upper = !out.is_empty() && !out.ends_with('.'),
            '.' => {
                upper = false;
                out.push('.');
            }
            c if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_input_names_the_kotlin_and_swift_property_and_json_keeps_its_keys() {
        for (rust, public) in [
            ("plate", "plate"),
            ("expires_on", "expiresOn"),
            ("context.subject_id", "context.subjectId"),
            ("policy.operator.bin", "policy.operator.bin"),
            ("extra_root_certificates_pem", "extraRootCertificatesPem"),
        ] {
            let e: AparkingError = Error::invalid(rust, "r").into();
            assert_eq!(
                e,
                AparkingError::InvalidInput {
                    field: public.into(),
                    reason: "r".into()
                }
            );
            let e: AparkingError = Error::invalid(rust, "r").in_json().into();
            assert!(matches!(e, AparkingError::InvalidInput { field, .. } if field == rust));
        }
        assert!(matches!(Error::Closed.in_json(), Error::Closed));
    }
}
