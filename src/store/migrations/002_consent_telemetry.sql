-- Schema v2: consent (issue #3) and telemetry.
-- Sealed columns follow the v1 conventions (see 001_init.sql); every sealed table has an
-- `id TEXT` record id and a `sealed BLOB`, so key rotation treats them alike.

-- Policy manifests received (public documents, not sealed). The one in force is the
-- highest version.
CREATE TABLE policy_manifests (
    version     INTEGER PRIMARY KEY,
    manifest    TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);

-- The user's current consent, at most one row: the accepted policy version and the
-- purposes granted (bit mask, see consent/purpose.rs).
CREATE TABLE consent_current (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    policy_version INTEGER NOT NULL,
    granted        INTEGER NOT NULL,
    receipt_id     TEXT    NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Immutable consent receipts (proof of consent, law No. 94-V). sealed: receipt JSON.
CREATE TABLE consent_receipts (
    id          TEXT    PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    sealed      BLOB    NOT NULL,
    uploaded_at INTEGER
);
CREATE INDEX consent_receipts_by_created ON consent_receipts (created_at);

-- The telemetry queue. sealed: event JSON. purpose in the clear so that a withdrawal
-- purges by purpose without decrypting.
CREATE TABLE telemetry_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    purpose    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    sealed     BLOB    NOT NULL
);
CREATE INDEX telemetry_events_by_purpose ON telemetry_events (purpose);

-- Deletion requests for the backend. Never dropped by queue limits. Not sealed: they name
-- only pseudonymous installation ids, and must survive crypto-shredding.
CREATE TABLE telemetry_deletion_requests (
    id         TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    body       TEXT    NOT NULL
);

-- Pseudonymous installation ids; the current one has ended_at NULL.
CREATE TABLE telemetry_installations (
    id         TEXT    PRIMARY KEY,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    reported   INTEGER NOT NULL DEFAULT 0
);

-- Telemetry counters kept across restarts.
CREATE TABLE telemetry_counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Recent network-quality samples (connection_diagnostics), kept for complaints. sealed.
CREATE TABLE network_samples (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    recorded_at INTEGER NOT NULL,
    sealed      BLOB    NOT NULL
);

-- Support complaints, personal data sent on the personal channel. sealed: complaint JSON.
CREATE TABLE complaints (
    id         TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    sealed     BLOB    NOT NULL,
    sent_at    INTEGER
);
