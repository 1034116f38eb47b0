//! Sync with the backend (issue #4, `docs/protocol.md`). Landed so far: the outbox, written
//! in the same transaction as every local change of a synced entity, and the field-level
//! three-way merge. The engine (push, pull, auth) comes next.

#[allow(dead_code)] // used by the sync engine, which lands next; tested on its own now
pub(crate) mod merge;
pub(crate) mod outbox;
