-- Schema v13: the store's epoch (issue #11, point 5), sealed: a number raised by every
-- consent change, erasure and data-key rotation. A host-held monotonic counter
-- (`RollbackCounter`) is raised to it after each commit; a file whose epoch is below the
-- counter was restored from an older copy (`StoreRolledBack`).
CREATE TABLE store_epoch (
    id     TEXT PRIMARY KEY CHECK (id = 'epoch'),
    sealed BLOB NOT NULL
);
