-- An account erasure asked for but not yet finished: set before `DELETE /v1/account` is
-- sent, cleared in the transaction that wipes the local data. A sync finds it set after a
-- crash or a dropped call and finishes the erasure first.
ALTER TABLE sync_state ADD COLUMN erasure_pending INTEGER NOT NULL DEFAULT 0;
