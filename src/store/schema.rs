//! Schema versions and migrations.
//!
//! The version lives in `PRAGMA user_version`. Migrations run step by step (v0 → v1 →
//! ...) inside one IMMEDIATE transaction, so a crash leaves the old version intact. A
//! database newer than [`LATEST_VERSION`] is refused with `IncompatibleVersion` and left
//! untouched. `tests/fixtures/store_v1.db` is a frozen v1 store: every later migration is
//! tested as an upgrade from it.

use crate::error::{Error, Result};
use rusqlite::{Connection, Transaction};

/// One migration: the SQL that takes the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_init.sql"),
    include_str!("migrations/002_consent_telemetry.sql"),
    include_str!("migrations/003_sync_outbox.sql"),
    include_str!("migrations/004_sync_state.sql"),
    include_str!("migrations/005_erasure_pending.sql"),
    include_str!("migrations/006_deletion_coverage.sql"),
    include_str!("migrations/007_consent_chain.sql"),
    include_str!("migrations/008_sync_generation.sql"),
    include_str!("migrations/009_kek_check.sql"),
    include_str!("migrations/010_account_erasures.sql"),
    include_str!("migrations/011_firewall_past.sql"),
    include_str!("migrations/012_sync_quarantine.sql"),
    include_str!("migrations/013_store_epoch.sql"),
    include_str!("migrations/014_firewall_past_by_created.sql"),
];

/// The schema version this code writes.
pub(crate) const LATEST_VERSION: u32 = MIGRATIONS.len() as u32;

/// The version that added the sealed head of the consent-receipt chain.
pub(crate) const CONSENT_CHAIN_VERSION: u32 = 7;

/// Reads `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(super::db::classify_read_error)
}

/// Whether the database has no tables at all (a new or empty file).
pub(crate) fn is_empty(conn: &Connection) -> Result<bool> {
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(super::db::classify_read_error)?;
    Ok(tables == 0)
}

/// Refuses a database written by newer code.
pub(crate) fn check_supported(version: u32) -> Result<()> {
    if version > LATEST_VERSION {
        return Err(Error::IncompatibleVersion {
            found: version as i32,
            supported: LATEST_VERSION as i32,
        });
    }
    Ok(())
}

/// Runs every migration after `from`, then records the new version. The caller owns the
/// (IMMEDIATE) transaction and commits it.
pub(crate) fn migrate(tx: &Transaction<'_>, from: u32) -> Result<()> {
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql)?;
        log::info!("store schema migrated to v{}", index + 1);
    }
    tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    Ok(())
}
