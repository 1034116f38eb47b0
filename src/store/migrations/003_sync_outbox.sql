-- Schema v3: the sync outbox (issue #4, docs/protocol.md).
-- Every local change of a synced entity writes its entry here in the same transaction as
-- the change itself; an entry leaves only in the transaction that records the server's
-- answer. id is the change id: the server's idempotency key.
CREATE TABLE sync_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    entity     TEXT    NOT NULL,
    record_id  TEXT    NOT NULL,
    op         TEXT    NOT NULL CHECK (op IN ('upsert', 'delete')),
    created_at INTEGER NOT NULL,
    sealed     BLOB    NOT NULL
);
CREATE INDEX sync_outbox_by_record ON sync_outbox (entity, record_id);
