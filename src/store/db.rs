//! The SQLite connection: opening, pragmas, and small helpers shared by the tables.

use crate::error::{Error, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a write waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (or creates) the database file with the per-connection pragmas.
///
/// Nothing here writes to the file: an existing store is left byte-for-byte unchanged
/// until the key has been checked.
pub(crate) fn open_connection(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(classify_open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Freed pages are overwritten with zeros; temporary tables and indexes stay in memory.
    conn.pragma_update_and_check(None, "secure_delete", "ON", |_| Ok(()))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every commit is on disk before it is acknowledged: nothing the user saved is lost,
    // even on power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Switches the database to write-ahead logging. Must run outside a transaction; on a
/// database already in WAL mode it changes nothing.
pub(crate) fn enable_wal(conn: &Connection) -> Result<()> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("journal_mode stayed {mode}");
    }
    Ok(())
}

/// Maps failures to open the file: a file that is not a database is a corrupted store.
fn classify_open_error(err: rusqlite::Error) -> Error {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            Error::Corrupted("the file is not a database")
        }
        _ => Error::Sqlite(err),
    }
}

/// Maps a read of the file's header or schema: a damaged file is a corrupted store.
pub(crate) fn classify_read_error(err: rusqlite::Error) -> Error {
    classify_open_error(err)
}

/// Turns a UNIQUE constraint failure into [`Error::AlreadyExists`] for `entity`.
pub(crate) fn unique_violation_as_exists(err: rusqlite::Error, entity: &'static str) -> Error {
    match &err {
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Error::AlreadyExists { entity }
        }
        _ => Error::Sqlite(err),
    }
}

/// Milliseconds since the Unix epoch, as stored in `created_at` / `updated_at`.
pub(crate) fn now_millis() -> i64 {
    millis_of(SystemTime::now())
}

/// Converts a time to stored milliseconds (times before 1970 are stored as 0).
pub(crate) fn millis_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Converts stored milliseconds back to a time.
pub(crate) fn time_of(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}
