-- Schema v1 of the aparking-core store.
--
-- `sealed` columns hold a row's personal fields, encoded together and sealed with
-- AES-256-GCM (see store/sealed.rs and crypto/keys.rs):
--   format byte || 96-bit nonce || ciphertext || 128-bit tag,
--   associated data = table, column, record id, key version.
-- `*_index` columns are blind indexes: HMAC-SHA256 of the canonical value.
-- Ids are random UUIDs. Timestamps are milliseconds since the Unix epoch, in the clear
-- (see docs/security.md).

-- The wrapped data key and the key-check canary. Exactly one row.
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_version INTEGER NOT NULL,
    wrapped_dek BLOB    NOT NULL,
    canary      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The user's profile, at most one row.
-- sealed: phone, full_name, email, preferred_language.
CREATE TABLE profile (
    id         TEXT    PRIMARY KEY,
    singleton  INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1),
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- sealed: plate, nickname, make, model, colour, registration_certificate.
-- plate_index: HMAC of the canonical plate.
CREATE TABLE vehicles (
    id          TEXT    PRIMARY KEY,
    plate_index BLOB    NOT NULL UNIQUE,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX vehicles_by_created ON vehicles (created_at);

-- sealed: kind, number, issued_on, expires_on.
-- number_index: HMAC of the kind and the canonical number (unique per kind).
CREATE TABLE documents (
    id           TEXT    PRIMARY KEY,
    number_index BLOB    NOT NULL UNIQUE,
    sealed       BLOB    NOT NULL,
    vehicle_id   TEXT    REFERENCES vehicles (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX documents_by_created ON documents (created_at);
CREATE INDEX documents_by_vehicle ON documents (vehicle_id);
