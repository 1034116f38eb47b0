-- Schema v10: how many erasures of the account the backend reported in the last pull
-- answer (docs/protocol.md, "Account erasure"). NULL: none seen yet. A backend reporting
-- more (410 account_erased) makes this device delete its copy of the account's data.
ALTER TABLE sync_state ADD COLUMN account_erasures INTEGER;
