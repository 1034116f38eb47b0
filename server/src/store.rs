//! SQLite storage: one file (`telemetry.sqlite3`) in the data directory, WAL mode, and
//! the telemetry tables. The personal channel's tables (accounts, tokens, records, change
//! log) belong to `crate::sync`, which creates them in the same file.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

use crate::validate::{ValidDeletion, ValidEvent};

/// Name of the database file inside the data directory.
pub(crate) const DB_FILE: &str = "telemetry.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    installation_id TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    recorded_at_ms  INTEGER NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    data            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_installation ON events (installation_id, purpose);

CREATE TABLE IF NOT EXISTS deletion_requests (
    id             TEXT PRIMARY KEY NOT NULL,
    reason         TEXT NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    events_deleted INTEGER NOT NULL
);
-- One row per (installation, purpose) a deletion request covers; purpose NULL = all.
-- Also used to refuse events recorded before the request that arrive after it.
CREATE TABLE IF NOT EXISTS deletion_scopes (
    request_id      TEXT NOT NULL REFERENCES deletion_requests (id),
    installation_id TEXT NOT NULL,
    purpose         TEXT,
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deletion_scopes_by_installation ON deletion_scopes (installation_id);

-- No client address, no body: method, route, status, timing and the fault applied.
CREATE TABLE IF NOT EXISTS request_log (
    id          INTEGER PRIMARY KEY,
    at_ms       INTEGER NOT NULL,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    status      INTEGER,
    duration_ms INTEGER NOT NULL,
    fault       TEXT
);

PRAGMA user_version = 3;
";

/// One event as stored by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Event id (lower-case hyphenated UUID).
    pub id: String,
    /// Event kind, e.g. `screen_view`.
    pub kind: String,
    /// Purpose the event was recorded for, e.g. `statistics`.
    pub purpose: String,
    /// Installation id (lower-case hyphenated UUID).
    pub installation_id: String,
    /// When the SDK recorded the event, RFC 3339 in UTC.
    pub recorded_at: String,
    /// The event's `data` object as received.
    pub data: serde_json::Value,
}

/// Outcome of storing one batch of events.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct EventOutcome {
    pub stored: u64,
    pub duplicates: u64,
    pub suppressed: u64,
}

/// Outcome of applying one body of deletion requests.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct DeletionOutcome {
    pub accepted: u64,
    pub duplicates: u64,
    pub events_deleted: u64,
}

/// One row of the request log.
pub(crate) struct LogEntry<'a> {
    pub at_ms: i64,
    pub method: &'a str,
    pub route: &'a str,
    pub status: Option<u16>,
    pub duration_ms: i64,
    pub fault: Option<&'static str>,
}

pub(crate) struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    pub(crate) fn open(dir: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(dir.join(DB_FILE))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Every statement of a push or pull stays prepared (the default keeps 16).
        conn.set_prepared_statement_cache_capacity(64);
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("SQLite refused WAL mode; running in {mode} mode");
        }
        // Deleted rows (an erased account, deleted events) are zeroed in the file, not
        // just unlinked.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls
        // back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores new events in one transaction. Ids already stored count as duplicates;
    /// events covered by an earlier deletion request (same installation, purpose covered,
    /// recorded no later than the request was created) are suppressed, not stored.
    pub(crate) fn insert_events(
        &self,
        events: &[ValidEvent],
        now_ms: i64,
    ) -> rusqlite::Result<EventOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut out = EventOutcome::default();
        {
            let mut exists = tx.prepare_cached("SELECT 1 FROM events WHERE id = ?1")?;
            let mut covered = tx.prepare_cached(
                "SELECT 1 FROM deletion_scopes WHERE installation_id = ?1
                   AND (purpose IS NULL OR purpose = ?2) AND created_at_ms >= ?3 LIMIT 1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (id, kind, purpose, installation_id, recorded_at,
                                     recorded_at_ms, received_at_ms, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for e in events {
                if exists.exists(params![e.id])? {
                    out.duplicates += 1;
                } else if covered.exists(params![e.installation_id, e.purpose, e.recorded_at_ms])? {
                    out.suppressed += 1;
                } else {
                    insert.execute(params![
                        e.id,
                        e.kind,
                        e.purpose,
                        e.installation_id,
                        e.recorded_at,
                        e.recorded_at_ms,
                        now_ms,
                        e.data,
                    ])?;
                    out.stored += 1;
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Applies deletion requests in one transaction; a request id already applied is a
    /// duplicate and deletes nothing again.
    pub(crate) fn apply_deletions(
        &self,
        requests: &[ValidDeletion],
        now_ms: i64,
    ) -> rusqlite::Result<DeletionOutcome> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut out = DeletionOutcome::default();
        for r in requests {
            let known: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM deletion_requests WHERE id = ?1",
                    params![r.id],
                    |row| row.get(0),
                )
                .optional()?;
            if known.is_some() {
                out.duplicates += 1;
                continue;
            }
            let mut deleted = 0u64;
            {
                let mut del_all =
                    tx.prepare_cached("DELETE FROM events WHERE installation_id = ?1")?;
                let mut del_purpose = tx.prepare_cached(
                    "DELETE FROM events WHERE installation_id = ?1 AND purpose = ?2",
                )?;
                for inst in &r.installation_ids {
                    if r.purposes.is_empty() {
                        deleted += del_all.execute(params![inst])? as u64;
                    } else {
                        for p in &r.purposes {
                            deleted += del_purpose.execute(params![inst, p])? as u64;
                        }
                    }
                }
            }
            tx.execute(
                "INSERT INTO deletion_requests (id, reason, created_at_ms, received_at_ms,
                                                events_deleted)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.id, r.reason, r.created_at_ms, now_ms, deleted as i64],
            )?;
            {
                let mut scope = tx.prepare_cached(
                    "INSERT INTO deletion_scopes (request_id, installation_id, purpose,
                                                  created_at_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                )?;
                for inst in &r.installation_ids {
                    if r.purposes.is_empty() {
                        scope.execute(params![r.id, inst, None::<&str>, r.created_at_ms])?;
                    } else {
                        for p in &r.purposes {
                            scope.execute(params![r.id, inst, p, r.created_at_ms])?;
                        }
                    }
                }
            }
            out.accepted += 1;
            out.events_deleted += deleted;
        }
        tx.commit()?;
        Ok(out)
    }

    /// Every stored event, in the order it was stored.
    pub(crate) fn stored_events(&self) -> rusqlite::Result<Vec<StoredEvent>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, kind, purpose, installation_id, recorded_at, data
               FROM events ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            let data: String = r.get(5)?;
            Ok(StoredEvent {
                id: r.get(0)?,
                kind: r.get(1)?,
                purpose: r.get(2)?,
                installation_id: r.get(3)?,
                recorded_at: r.get(4)?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            })
        })?;
        rows.collect()
    }

    pub(crate) fn log_request(&self, e: &LogEntry<'_>) -> rusqlite::Result<()> {
        self.lock()
            .prepare_cached(
                "INSERT INTO request_log (at_ms, method, route, status, duration_ms, fault)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                e.at_ms,
                e.method,
                e.route,
                e.status,
                e.duration_ms,
                e.fault
            ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, inst: &str, purpose: &'static str, at_ms: i64) -> ValidEvent {
        ValidEvent {
            id: id.into(),
            kind: "screen_view",
            purpose,
            installation_id: inst.into(),
            recorded_at: "2026-01-01T00:00:00Z".into(),
            recorded_at_ms: at_ms,
            data: "{}".into(),
        }
    }

    #[test]
    fn deletion_deletes_and_suppresses_late_arrivals() {
        let dir = std::env::temp_dir().join(format!("aparking-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir).unwrap();
        let out = store
            .insert_events(
                &[
                    event("a", "i1", "statistics", 10),
                    event("b", "i1", "personalization", 10),
                    event("a", "i1", "statistics", 10),
                ],
                0,
            )
            .unwrap();
        assert_eq!((out.stored, out.duplicates), (2, 1));
        let del = ValidDeletion {
            id: "d1".into(),
            installation_ids: vec!["i1".into()],
            purposes: vec!["statistics"],
            reason: "consent_withdrawn",
            created_at_ms: 20,
        };
        let out = store.apply_deletions(&[del.clone(), del], 0).unwrap();
        assert_eq!(
            (out.accepted, out.duplicates, out.events_deleted),
            (1, 1, 1)
        );
        // Recorded before the request: refused; recorded after it: stored.
        let out = store
            .insert_events(
                &[
                    event("a", "i1", "statistics", 10),
                    event("c", "i1", "statistics", 30),
                ],
                0,
            )
            .unwrap();
        assert_eq!((out.stored, out.duplicates, out.suppressed), (1, 0, 1));
        let ids: Vec<_> = store
            .stored_events()
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ["b", "c"]);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
