//! The mirror: the last synced copy of each record, and this store's sync identity.

use crate::crypto::StoreKeys;
use crate::error::Result;
use crate::model::fields::{from_json, to_json, FieldMap};
use crate::store::db::now_millis;
use crate::store::outbox::Entity;
use crate::store::sealed::{take, RowSeal, SealedCell, SealedTable};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

/// Mirror rows are sealed: they hold personal values.
pub(crate) static MIRROR: SealedTable = SealedTable {
    table: "sync_mirror",
    entity: crate::error::Entity::SyncMirrorRecord,
    fields: &["fields"],
    blind_index: None,
};

/// A record as last synced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mirrored {
    pub version: i64,
    pub deleted: bool,
    pub fields: FieldMap,
}

/// Keys of the sealed copies of the clear `version` and `deleted` columns (no field is
/// named with two underscores).
const SEALED_VERSION: &str = "__version";
const SEALED_DELETED: &str = "__deleted";

fn mirror_id(entity: Entity, record_id: &str) -> String {
    format!("{entity}:{record_id}")
}

/// The mirror of one record, if it was ever synced.
pub(crate) fn get(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
) -> Result<Option<Mirrored>> {
    let id = mirror_id(entity, record_id);
    let row: Option<(i64, bool, SealedCell)> = conn
        .prepare_cached("SELECT version, deleted, sealed FROM sync_mirror WHERE id = ?1")?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((version, deleted, sealed)) = row else {
        return Ok(None);
    };
    let seal = RowSeal::new(keys, &MIRROR, &id);
    let json = take(&mut seal.open(sealed)?, 0).ok_or_else(|| seal.integrity_error())?;
    let mut payload = match serde_json::from_str(&json) {
        Ok(Value::Object(m)) => m,
        _ => return Err(seal.integrity_error()),
    };
    // The version and the deleted flag steer the merge: their sealed copies must match the
    // clear columns (entries written before the copies existed have none).
    let sealed_version = payload.remove(SEALED_VERSION);
    let sealed_deleted = payload.remove(SEALED_DELETED);
    if let (Some(v), Some(d)) = (sealed_version, sealed_deleted) {
        if v.as_i64() != Some(version) || d.as_bool() != Some(deleted) {
            return Err(seal.integrity_error());
        }
    }
    let fields = from_json(&payload).ok_or_else(|| seal.integrity_error())?;
    Ok(Some(Mirrored {
        version,
        deleted,
        fields,
    }))
}

/// Writes the mirror of one record.
pub(crate) fn put(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
    m: &Mirrored,
) -> Result<()> {
    let id = mirror_id(entity, record_id);
    let mut payload = to_json(&m.fields);
    payload.insert(SEALED_VERSION.into(), m.version.into());
    payload.insert(SEALED_DELETED.into(), m.deleted.into());
    let json = Value::Object(payload).to_string();
    let sealed = RowSeal::new(keys, &MIRROR, &id).seal(&[Some(&json)])?;
    conn.prepare_cached(
        "INSERT INTO sync_mirror (id, entity, record_id, version, deleted, sealed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, deleted = excluded.deleted, sealed = excluded.sealed",
    )?
    .execute(params![
        id,
        entity.as_str(),
        record_id,
        m.version,
        m.deleted,
        sealed
    ])?;
    Ok(())
}

/// This store's sync client id, made on first use.
pub(crate) fn client_id(conn: &Connection) -> Result<String> {
    if let Some(id) = conn
        .prepare_cached("SELECT client_id FROM sync_state WHERE id = 1")?
        .query_row([], |r| r.get::<_, String>(0))
        .optional()?
    {
        return Ok(id);
    }
    let id = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT INTO sync_state (id, client_id) VALUES (1, ?1)",
        [&id],
    )?;
    Ok(id)
}

/// Records the time of a completed sync.
pub(crate) fn mark_synced(conn: &Connection) -> Result<()> {
    conn.execute(
        "UPDATE sync_state SET last_sync_at = ?1 WHERE id = 1",
        [now_millis()],
    )?;
    Ok(())
}

/// When the last sync that finished without error ended (ms since the epoch).
pub(crate) fn last_synced_at(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT last_sync_at FROM sync_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .flatten())
}

/// The saved pull cursor.
pub(crate) fn cursor(conn: &Connection) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT cursor FROM sync_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Whether an account erasure was asked for and not finished.
pub(crate) fn erasure_pending(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT erasure_pending FROM sync_state WHERE id = 1")?
        .query_row([], |r| r.get::<_, i64>(0))
        .optional()?
        .is_some_and(|v| v != 0))
}

/// Marks an account erasure as asked for (`true`) or finished (`false`).
pub(crate) fn set_erasure_pending(conn: &Connection, pending: bool) -> Result<()> {
    conn.execute(
        "UPDATE sync_state SET erasure_pending = ?1 WHERE id = 1",
        [i64::from(pending)],
    )?;
    Ok(())
}

/// Saves the pull cursor (in the transaction that applied its page).
pub(crate) fn set_cursor(conn: &Connection, cursor: Option<&str>) -> Result<()> {
    conn.execute("UPDATE sync_state SET cursor = ?1 WHERE id = 1", [cursor])?;
    Ok(())
}

/// The backend's dataset generation last seen.
pub(crate) fn generation(conn: &Connection) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT generation FROM sync_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Saves the backend's dataset generation (in the transaction of a pulled page).
pub(crate) fn set_generation(conn: &Connection, generation: &str) -> Result<()> {
    conn.execute(
        "UPDATE sync_state SET generation = ?1 WHERE id = 1",
        [generation],
    )?;
    Ok(())
}

/// How many erasures of the account the backend last reported (`None`: none seen yet).
pub(crate) fn account_erasures(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT account_erasures FROM sync_state WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Saves the erasure count of a pull answer (`None`: forget it, after this device erased
/// the account itself: the next pull adopts the backend's).
pub(crate) fn set_account_erasures(conn: &Connection, count: Option<i64>) -> Result<()> {
    conn.execute(
        "UPDATE sync_state SET account_erasures = ?1 WHERE id = 1",
        [count],
    )?;
    Ok(())
}

/// Every record the mirror holds as live on the server: (entity, record id). Read from the
/// clear columns, nothing opened.
pub(crate) fn live_records(conn: &Connection) -> Result<Vec<(Entity, String)>> {
    records(
        conn,
        "SELECT entity, record_id FROM sync_mirror WHERE deleted = 0",
    )
}

/// Every record the mirror holds, live or deleted: (entity, record id), from the clear
/// columns.
pub(crate) fn all_records(conn: &Connection) -> Result<Vec<(Entity, String)>> {
    records(conn, "SELECT entity, record_id FROM sync_mirror")
}

/// The (entity, record id) rows `sql` selects; a row whose entity column names no entity
/// (edited by hand) is left out: no record of this store is found under it.
fn records(conn: &Connection, sql: &str) -> Result<Vec<(Entity, String)>> {
    let rows = conn
        .prepare_cached(sql)?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(entity, id)| Some((Entity::parse(&entity)?, id)))
        .collect())
}

/// Deletes the mirror rows whose clear entity column names no record kind (edited by
/// hand: no record is found under them, and their sealed value no longer matches its
/// place); returns them as (entity, record id) from their clear columns.
pub(crate) fn remove_rows_naming_no_entity(conn: &Connection) -> Result<Vec<(String, String)>> {
    let rows = conn
        .prepare_cached("SELECT entity, record_id FROM sync_mirror")?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let unnamed: Vec<(String, String)> = rows
        .into_iter()
        .filter(|(entity, _)| Entity::parse(entity).is_none())
        .collect();
    for (entity, record_id) in &unnamed {
        conn.execute(
            "DELETE FROM sync_mirror WHERE entity = ?1 AND record_id = ?2",
            [entity, record_id],
        )?;
    }
    Ok(unnamed)
}

/// Forgets the mirror of one record (the backend does not have it).
pub(crate) fn forget(conn: &Connection, entity: Entity, record_id: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM sync_mirror WHERE entity = ?1 AND record_id = ?2",
        [entity.as_str(), record_id],
    )?;
    Ok(())
}
