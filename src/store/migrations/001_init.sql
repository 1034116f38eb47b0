-- Schema v1 of the aparking-core store.
-- Every column holding personal data is a BLOB sealed with AES-256-GCM (see crypto/):
--   format byte || 96-bit nonce || ciphertext || 128-bit tag,
--   associated data = table, column, record id, key version.
-- *_index columns are blind indexes: HMAC-SHA256 of the canonical value.
-- Timestamps are milliseconds since the Unix epoch, in the clear (see docs/security.md).

-- The wrapped data key and the key-check canary. Exactly one row.
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_version INTEGER NOT NULL,
    wrapped_dek BLOB    NOT NULL,
    canary      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The user's profile. At most one row.
CREATE TABLE profile (
    id                 TEXT    PRIMARY KEY,
    singleton          INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1),
    phone              BLOB    NOT NULL,
    full_name          BLOB,
    email              BLOB,
    preferred_language BLOB,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE vehicles (
    id                       TEXT    PRIMARY KEY,
    plate_index              BLOB    NOT NULL UNIQUE,
    plate                    BLOB    NOT NULL,
    nickname                 BLOB,
    make                     BLOB,
    model                    BLOB,
    colour                   BLOB,
    registration_certificate BLOB,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);
CREATE INDEX vehicles_by_created ON vehicles (created_at);

CREATE TABLE documents (
    id           TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL
                 CHECK (kind IN ('driver_licence', 'vehicle_registration_certificate')),
    number_index BLOB    NOT NULL,
    number       BLOB    NOT NULL,
    issued_on    BLOB,
    expires_on   BLOB,
    vehicle_id   TEXT    REFERENCES vehicles (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (kind, number_index)
);
CREATE INDEX documents_by_created ON documents (created_at);
CREATE INDEX documents_by_vehicle ON documents (vehicle_id);
