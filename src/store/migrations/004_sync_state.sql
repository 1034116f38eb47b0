-- Schema v4: sync state (issue #4, docs/protocol.md).

-- The last synced copy of each record: its server version and fields (the base of the
-- three-way merge). id = entity ':' record_id. sealed: the fields as JSON.
CREATE TABLE sync_mirror (
    id        TEXT    PRIMARY KEY,
    entity    TEXT    NOT NULL,
    record_id TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    deleted   INTEGER NOT NULL DEFAULT 0,
    sealed    BLOB    NOT NULL
);
CREATE UNIQUE INDEX sync_mirror_by_record ON sync_mirror (entity, record_id);

-- This store's sync identity (not the telemetry installation id) and pull position.
CREATE TABLE sync_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    client_id    TEXT    NOT NULL,
    cursor       TEXT,
    last_sync_at INTEGER
);

-- Conflicts the merge settled: the losing value, for the host to show or restore.
-- sealed: the conflict as JSON (entity, record id, field, local and remote values, rule).
CREATE TABLE sync_conflicts (
    id         TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    sealed     BLOB    NOT NULL
);
