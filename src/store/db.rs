//! The SQLite connection: opening, pragmas, and small helpers shared by the tables.

use crate::error::{Error, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a write waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// When a committed write reaches the disk (SQLite's `synchronous` in WAL mode).
///
/// Both survive a crash or kill of the app: a commit is in the write-ahead log before the
/// call returns. They differ on power loss or an OS crash: `Full` loses nothing that was
/// acknowledged; `Normal` may lose the last commits since the log was last synced (at a
/// checkpoint), never more, and the file stays consistent (data and their pending sync
/// changes go or stay together). docs/performance.md has the measured cost of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, uniffi::Enum)]
pub enum Durability {
    /// Every commit is synced to disk before the call returns (`synchronous=FULL`): an
    /// acknowledged save survives power loss. The default.
    #[default]
    Full,
    /// The write-ahead log is synced at checkpoints only (`synchronous=NORMAL`, what
    /// Android's framework and matrix-rust-sdk use): several times faster writes; a power
    /// loss may undo the last saves, consistently.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// Sets the connection's durability (outside a transaction).
pub(crate) fn set_durability(conn: &Connection, durability: Durability) -> Result<()> {
    conn.pragma_update(None, "synchronous", durability.pragma())?;
    Ok(())
}

/// The connection's durability, read back from SQLite (`synchronous`: 2 FULL, 1 NORMAL;
/// OFF and EXTRA, which the SDK never sets, read as the nearest).
pub(crate) fn durability(conn: &Connection) -> Result<Durability> {
    let level: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    Ok(if level >= 2 {
        Durability::Full
    } else {
        Durability::Normal
    })
}

/// Opens (or creates) the database file with the per-connection pragmas.
///
/// Nothing here writes to the file: an existing store is left byte-for-byte unchanged
/// until the key has been checked.
pub(crate) fn open_connection(path: &Path, durability: Durability) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(classify_open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Freed pages are overwritten with zeros; temporary tables and indexes stay in memory.
    conn.pragma_update_and_check(None, "secure_delete", "ON", |_| Ok(()))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    set_durability(&conn, durability)?;
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

/// The creation time (a clear column) of row `id` of `table` (`vehicles`, `documents`),
/// if the row exists, readable or not.
pub(crate) fn stored_created_at(conn: &Connection, table: &str, id: &str) -> Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(&format!("SELECT created_at FROM {table} WHERE id = ?1"))?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Turns a UNIQUE constraint failure into [`Error::AlreadyExists`] for `entity`.
pub(crate) fn unique_violation_as_exists(
    err: rusqlite::Error,
    entity: crate::model::kind::RecordKind,
) -> Error {
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
