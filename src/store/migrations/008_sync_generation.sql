-- Schema v8: the backend's dataset generation id last seen (docs/protocol.md,
-- "Reconciliation"). A pull answer naming another generation makes the client reconcile.
ALTER TABLE sync_state ADD COLUMN generation TEXT;
