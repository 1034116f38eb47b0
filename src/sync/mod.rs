//! Sync with the backend (issue #4, `docs/protocol.md`). This part: the outbox, written in
//! the same transaction as every local change of a synced entity.

pub(crate) mod outbox;
