//! The protocol's vocabulary: schema version, event kinds, purposes, entities and their
//! fields (docs/protocol.md).

/// The answer header of `GET /v1/policy` with the manifest's Ed25519 signature: base64
/// of 64 bytes, over the exact body bytes (docs/protocol.md).
pub const POLICY_SIGNATURE_HEADER: &str = "x-aparking-signature";

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
