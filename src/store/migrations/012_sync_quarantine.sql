-- Schema v12: sync's quarantine (issue #11, point 3). An outbox entry or mirror row whose
-- sealed value does not open (damaged or edited) is set aside here, by its clear entity
-- and record id, with why and whether the record's local copy was queued again; the sync
-- goes on with the rest. No personal value: the set-aside value is unreadable.
CREATE TABLE sync_quarantine (
    id         TEXT    PRIMARY KEY,
    entity     TEXT    NOT NULL,
    record_id  TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    requeued   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
