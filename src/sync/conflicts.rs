//! The conflict log: what the merge decided against one side, kept sealed for the host to
//! show to the user or to restore.

use crate::crypto::StoreKeys;
use crate::error::Result;
use crate::model::{RecordField, RecordKind, RecordValues};
use crate::store::db::{now_millis, time_of};
use crate::store::sealed::{take, RowSeal, SealedCell, SealedTable};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::time::SystemTime;

/// Conflict entries are sealed: they hold personal values.
pub(crate) static CONFLICTS: SealedTable = SealedTable {
    table: "sync_conflicts",
    entity: crate::error::Entity::SyncConflict,
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
    /// The record was deleted on one side and edited on the other: the delete won
    /// (`localRecord` holds this device's values that it removed).
    DeleteWon,
    /// Two records held the same plate or document number: this device's record, never
    /// synced, was merged into the server's (`recordId` is the one merged away,
    /// `localRecord` its values, `mergedInto` the id it was merged into).
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

/// One settled conflict. Which fields are set depends on `resolution`: `field`,
/// `localValue` and `remoteValue` for `ServerWon` and `LocalWon`; `localRecord` for
/// `DeleteWon`; `localRecord` and `mergedInto` for `Merged`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncConflict {
    /// Entry id.
    pub id: String,
    /// What kind of record it is.
    pub entity: RecordKind,
    /// The record's id (for `Merged`, the record merged away).
    pub record_id: String,
    /// `ServerWon` / `LocalWon`: the field both sides changed. Null / nil otherwise, and
    /// for a field this version has no name for.
    pub field: Option<RecordField>,
    /// `ServerWon` / `LocalWon`: this device's value of the field (null / nil: cleared).
    pub local_value: Option<String>,
    /// `ServerWon` / `LocalWon`: the server's value of the field (null / nil: cleared).
    pub remote_value: Option<String>,
    /// `DeleteWon`: this device's values that the delete removed; `Merged`: the values of
    /// the record merged away. Ready to add again; null / nil when they could not be read
    /// (a damaged record) and for the other resolutions.
    pub local_record: Option<RecordValues>,
    /// `Merged`: the id of the server's record this one was merged into.
    pub merged_into: Option<String>,
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
    entity: RecordKind,
    record_id: &str,
    field: Option<&str>,
    local: Option<&str>,
    remote: Option<&str>,
    resolution: ConflictResolution,
) -> Result<()> {
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "entity": entity.as_str(), "record_id": record_id, "field": field,
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
        let entity = v["entity"]
            .as_str()
            .and_then(RecordKind::parse)
            .ok_or_else(|| seal.integrity_error())?;
        let resolution = v["resolution"]
            .as_str()
            .and_then(ConflictResolution::parse)
            .ok_or_else(|| seal.integrity_error())?;
        let mut conflict = SyncConflict {
            entity,
            record_id: text("record_id").ok_or_else(|| seal.integrity_error())?,
            field: None,
            local_value: None,
            remote_value: None,
            local_record: None,
            merged_into: None,
            resolution,
            resolved_at: time_of(at),
            id,
        };
        match resolution {
            ConflictResolution::ServerWon | ConflictResolution::LocalWon => {
                conflict.field = v["field"]
                    .as_str()
                    .and_then(|name| RecordField::parse(entity, name));
                conflict.local_value = text("local");
                conflict.remote_value = text("remote");
            }
            ConflictResolution::DeleteWon | ConflictResolution::Merged => {
                conflict.local_record = text("local").and_then(|json| record_values(entity, &json));
                if resolution == ConflictResolution::Merged {
                    conflict.merged_into = text("remote");
                }
            }
        }
        Ok(conflict)
    })
    .collect()
}

/// The values of a logged record (a JSON object of its synced fields).
fn record_values(entity: RecordKind, json: &str) -> Option<RecordValues> {
    let fields: serde_json::Map<String, Value> = serde_json::from_str(json).ok()?;
    RecordValues::from_fields(
        entity,
        fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    )
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
