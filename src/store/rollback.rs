//! Rollback detection. A copy of the store file restored over the
//! current one (from a backup, or kept by an attacker) would bring back withdrawn consent
//! and erased data unnoticed: the file is valid, only old.
//!
//! The store keeps an epoch, sealed in `store_epoch`, raised in the same transaction as
//! every consent change, erasure and data-key rotation. The host may keep a monotonic
//! counter outside the file ([`RollbackCounter`]: Android a Keystore-protected
//! preference, iOS a Keychain item with `ThisDeviceOnly`), which the store raises to the
//! epoch after each commit. An existing file opened with an epoch below the counter is
//! refused with `StoreRolledBack`. A crash between the commit and the raise leaves the
//! file ahead of the counter, which the next open catches up. Without a counter the epoch
//! is kept all the same and nothing is checked (docs/security.md says what that leaves).

use super::sealed::{take, RowSeal, SealedCell, SealedTable};
use crate::crypto::{KeyProviderError, StoreKeys};
use crate::error::{Error, Result};
use rusqlite::{Connection, OptionalExtension};

/// The epoch's sealed row.
pub(crate) static TABLE: SealedTable = SealedTable {
    table: "store_epoch",
    entity: crate::error::Entity::StoreEpoch,
    fields: &["epoch"],
    blind_index: None,
};

const ROW: &str = "epoch";

/// A monotonic counter kept by the host outside the store file, so that a store file
/// restored from an older copy is detected (`AparkingError.StoreRolledBack`). Android: a
/// preference encrypted by a Keystore key; iOS: a Keychain item
/// (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`, not in backups). Called on the
/// thread of the store call that changed consent, erased or rotated the data key, and at
/// open; must not call back into the store.
#[uniffi::export(with_foreign)]
pub trait RollbackCounter: Send + Sync {
    /// The counter's value; 0 when it was never raised.
    fn value(&self) -> Result<i64, KeyProviderError>;
    /// Raises the counter to `value` (a value not above the current one changes nothing).
    fn raise_to(&self, value: i64) -> Result<(), KeyProviderError>;
}

/// The file's epoch (0 when none was written yet).
pub(crate) fn epoch(conn: &Connection, keys: &StoreKeys) -> Result<i64> {
    let Some(cell) = conn
        .prepare_cached("SELECT sealed FROM store_epoch WHERE id = ?1")?
        .query_row([ROW], |r| r.get::<_, SealedCell>(0))
        .optional()?
    else {
        return Ok(0);
    };
    let seal = RowSeal::new(keys, &TABLE, ROW);
    let text = seal
        .open(cell)
        .ok()
        .and_then(|mut f| take(&mut f, 0))
        .ok_or(Error::Corrupted("the store's epoch record is damaged"))?;
    text.parse()
        .map_err(|_| Error::Corrupted("the store's epoch record is damaged"))
}

/// Sets the file's epoch in the caller's transaction.
pub(crate) fn set_epoch(conn: &Connection, keys: &StoreKeys, value: i64) -> Result<()> {
    let sealed = RowSeal::new(keys, &TABLE, ROW).seal(&[Some(&value.to_string())])?;
    conn.prepare_cached(
        "INSERT INTO store_epoch (id, sealed) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
    )?
    .execute(rusqlite::params![ROW, sealed])?;
    Ok(())
}

/// Raises the file's epoch by one in the caller's transaction; returns the new value, for
/// [`raise_counter`] after the commit.
pub(crate) fn advance(conn: &Connection, keys: &StoreKeys) -> Result<i64> {
    let next = epoch(conn, keys)?.saturating_add(1);
    set_epoch(conn, keys, next)?;
    Ok(next)
}

/// After a commit: the host's counter follows the file. A failure is only logged: the
/// file is ahead, and the next open raises the counter.
pub(crate) fn raise_counter(counter: Option<&dyn RollbackCounter>, epoch: i64) {
    if let Some(counter) = counter {
        if counter.raise_to(epoch).is_err() {
            log::warn!("the rollback counter could not be raised; the next open retries");
        }
    }
}

/// At open, with a counter: refuses a file older than the counter (`created`: a new
/// file, which starts at the counter instead), and catches the counter up with a file
/// ahead of it.
pub(crate) fn check_at_open(
    conn: &Connection,
    keys: &StoreKeys,
    counter: &dyn RollbackCounter,
    created: bool,
) -> Result<()> {
    let expected = counter
        .value()
        .map_err(|e| Error::KeyUnavailable(e.to_string()))?;
    let found = epoch(conn, keys)?;
    if created {
        if expected > found {
            set_epoch(conn, keys, expected)?;
        }
        return Ok(());
    }
    if found < expected {
        log::error!("the store file is older than its rollback counter ({found} < {expected})");
        return Err(Error::RolledBack { found, expected });
    }
    if found > expected {
        raise_counter(Some(counter), found);
    }
    Ok(())
}
