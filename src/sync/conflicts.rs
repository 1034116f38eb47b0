//! The conflict log: what the merge decided against one side, kept sealed for the host to
//! show to the user or to restore.

use crate::crypto::StoreKeys;
use crate::error::Result;
use crate::store::db::{now_millis, time_of};
use crate::store::sealed::{take, RowSeal, SealedCell, SealedTable};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::time::SystemTime;

/// Conflict entries are sealed: they hold personal values.
pub(crate) static CONFLICTS: SealedTable = SealedTable {
    table: "sync_conflicts",
    entity: "sync conflict",
    fields: &["conflict"],
    blind_index: None,
};

/// How a conflict was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConflictResolution {
    /// A field changed on both sides: the server's value was kept.
    ServerWon,
    /// A field changed on both sides: this device's value was kept (and pushed).
    LocalWon,
    /// The record was deleted on one side and edited on the other: the delete won.
    DeleteWon,
    /// Two records held the same plate or document number: this device's record, never
    /// synced, was merged into the server's (`recordId` is the one merged away,
    /// `localValue` its fields as a JSON object, `remoteValue` the id it was merged into).
    Merged,
}

impl ConflictResolution {
    fn as_str(self) -> &'static str {
        match self {
            ConflictResolution::ServerWon => "server_won",
            ConflictResolution::LocalWon => "local_won",
            ConflictResolution::DeleteWon => "delete_won",
            ConflictResolution::Merged => "merged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            ConflictResolution::ServerWon,
            ConflictResolution::LocalWon,
            ConflictResolution::DeleteWon,
            ConflictResolution::Merged,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One settled conflict.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncConflict {
    /// Entry id.
    pub id: String,
    /// `profile`, `vehicle` or `document`.
    pub entity: String,
    /// The record's id.
    pub record_id: String,
    /// The field, for a field conflict; null / nil for a delete.
    pub field: Option<String>,
    /// This device's value.
    pub local_value: Option<String>,
    /// The server's value.
    pub remote_value: Option<String>,
    /// How it was settled.
    pub resolution: ConflictResolution,
    /// When.
    pub resolved_at: SystemTime,
}

/// Logs a settled conflict.
#[allow(clippy::too_many_arguments)]
pub(crate) fn log(
    conn: &Connection,
    keys: &StoreKeys,
    entity: &str,
    record_id: &str,
    field: Option<&str>,
    local: Option<&str>,
    remote: Option<&str>,
    resolution: ConflictResolution,
) -> Result<()> {
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "entity": entity, "record_id": record_id, "field": field,
        "local": local, "remote": remote, "resolution": resolution.as_str(),
    });
    let sealed = RowSeal::new(keys, &CONFLICTS, &id).seal(&[Some(&body.to_string())])?;
    conn.prepare_cached("INSERT INTO sync_conflicts (id, created_at, sealed) VALUES (?1, ?2, ?3)")?
        .execute(params![id, now_millis(), sealed])?;
    Ok(())
}

/// Every logged conflict, oldest first.
pub(crate) fn list(conn: &Connection, keys: &StoreKeys) -> Result<Vec<SyncConflict>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, created_at, sealed FROM sync_conflicts ORDER BY created_at, rowid",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, SealedCell>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (id, at, sealed) = row?;
        let seal = RowSeal::new(keys, &CONFLICTS, &id);
        let json = take(&mut seal.open(sealed)?, 0).ok_or_else(|| seal.integrity_error())?;
        let v: Value = serde_json::from_str(&json).map_err(|_| seal.integrity_error())?;
        let text = |k: &str| v[k].as_str().map(str::to_string);
        Ok(SyncConflict {
            entity: text("entity").ok_or_else(|| seal.integrity_error())?,
            record_id: text("record_id").ok_or_else(|| seal.integrity_error())?,
            field: text("field"),
            local_value: text("local"),
            remote_value: text("remote"),
            resolution: v["resolution"]
                .as_str()
                .and_then(ConflictResolution::parse)
                .ok_or_else(|| seal.integrity_error())?,
            resolved_at: time_of(at),
            id,
        })
    })
    .collect()
}

/// How many conflicts the log holds (nothing opened).
pub(crate) fn count(conn: &Connection) -> Result<u64> {
    Ok(
        conn.query_row("SELECT count(*) FROM sync_conflicts", [], |r| {
            r.get::<_, i64>(0)
        })? as u64,
    )
}

/// Forgets the logged conflicts (after the host showed them).
pub(crate) fn clear(conn: &Connection) -> Result<u64> {
    Ok(conn.execute("DELETE FROM sync_conflicts", [])? as u64)
}
