//! The vault: one SQLite connection behind a mutex, its key ring, and the transactions
//! every write runs in (the epoch raised for changes the rollback counter follows). It
//! names no domain: the records, consent, telemetry and sync tables are theirs, reached
//! through `read` and `write`.

use super::db::{self, Durability};
use super::keyring::KeyRing;
use super::rollback::{self, RollbackCounter};
use crate::crypto::KeyProvider;
use crate::error::{Error, Result};
use crate::locks::Locked;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::sync::{Arc, Mutex, MutexGuard};

/// An open database: the connection, its key ring and what opened it.
pub(crate) struct OpenStore {
    pub(crate) conn: Connection,
    pub(crate) ring: KeyRing,
    pub(crate) provider: Arc<dyn KeyProvider>,
    /// The host's rollback counter, if it keeps one (`Store::open_with_rollback_counter`).
    pub(crate) counter: Option<Arc<dyn RollbackCounter>>,
    /// The durability the store was opened with.
    pub(crate) durability: Durability,
}

/// The open database of one store file, shared by the store and every domain on it.
pub(crate) struct Vault {
    state: Mutex<Option<OpenStore>>,
}

impl Vault {
    /// The vault of a database just opened.
    pub(crate) fn new(open: OpenStore) -> Self {
        Vault {
            state: Mutex::new(Some(open)),
        }
    }

    /// The open database under the lock (`None` once closed).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<OpenStore>> {
        // A panic while the lock was held cannot leave a half-written row: every write
        // is a transaction that rolls back when dropped.
        self.state.locked()
    }

    /// Runs `f` on the connection under the store's lock (reads).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection, &KeyRing) -> Result<T>) -> Result<T> {
        let guard = self.lock();
        let open = guard.as_ref().ok_or(Error::Closed)?;
        f(&open.conn, &open.ring)
    }

    /// Runs `f` in an IMMEDIATE transaction under the store's lock and commits.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &KeyRing) -> Result<T>,
    ) -> Result<T> {
        self.transact(false, f, |_| ())
    }

    /// Like [`Vault::write`], for a change the rollback counter follows (a consent
    /// change): the store's epoch is raised in the transaction, the host's counter after
    /// the commit. `after_commit` runs with the value while the lock is still held (to
    /// publish in-memory state that must not run ahead of the data).
    pub(crate) fn write_advancing_then<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &KeyRing) -> Result<T>,
        after_commit: impl FnOnce(&T),
    ) -> Result<T> {
        self.transact(true, f, after_commit)
    }

    /// One IMMEDIATE transaction under the lock: `f`, the epoch raised when `advance`, the
    /// commit, `after_commit`, then the host's rollback counter.
    ///
    /// A change that advances the epoch (consent, erasure, key rotation) is synced to disk
    /// at its commit even under `Durability::Normal`: a withdrawal undone by a power loss
    /// would collect what the user refused, and a file behind the counter would read as
    /// rolled back.
    fn transact<T>(
        &self,
        advance: bool,
        f: impl FnOnce(&Transaction<'_>, &KeyRing) -> Result<T>,
        after_commit: impl FnOnce(&T),
    ) -> Result<T> {
        let mut guard = self.lock();
        let open = guard.as_mut().ok_or(Error::Closed)?;
        let sync_this = advance && open.durability != Durability::Full;
        if sync_this {
            db::set_durability(&open.conn, Durability::Full)?;
        }
        let result = Self::commit(open, advance, f);
        if sync_this {
            db::set_durability(&open.conn, open.durability)?;
        }
        let (value, epoch) = result?;
        after_commit(&value);
        if let Some(epoch) = epoch {
            rollback::raise_counter(open.counter.as_deref(), epoch);
        }
        Ok(value)
    }

    /// `f` in an IMMEDIATE transaction, the epoch raised when `advance`, committed.
    fn commit<T>(
        open: &mut OpenStore,
        advance: bool,
        f: impl FnOnce(&Transaction<'_>, &KeyRing) -> Result<T>,
    ) -> Result<(T, Option<i64>)> {
        let tx = open
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx, &open.ring)?;
        let epoch = advance
            .then(|| rollback::advance(&tx, &open.ring.keys))
            .transpose()?;
        tx.commit()?;
        Ok((value, epoch))
    }
}
