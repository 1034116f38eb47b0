//! The outbox: one entry per local change of a synced record (profile, vehicle, document),
//! written in the transaction of the change. Consent receipts and complaints are
//! create-only: they are pushed from their own tables (`uploaded_at`, `sent_at`). `sealed` holds the change's fields as a JSON object (wire names of
//! `docs/protocol.md`): for an `upsert`, the fields set or changed (null = cleared); for a
//! `delete`, an empty object.

use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::store::sealed::{take, RowSeal, SealedCell};
use rusqlite::Connection;
use serde_json::{Map, Value};

use crate::model::fields::{from_json, FieldMap};
pub(crate) use crate::store::outbox::{record, record_delete, Entity, Op, OUTBOX};
use crate::store::outbox::{SEALED_ENTITY, SEALED_OP, SEALED_RECORD};

/// The change's fields, once its sealed copies of the clear columns are checked against
/// them and removed; `None` on a mismatch or a value that is neither a string nor null.
/// Entries written before the copies existed have none and pass as they are.
fn checked_fields(
    mut payload: Map<String, Value>,
    entity: Entity,
    record_id: &str,
    op: Op,
) -> Option<FieldMap> {
    let copies = [
        (payload.remove(SEALED_ENTITY), entity.as_str()),
        (payload.remove(SEALED_RECORD), record_id),
        (payload.remove(SEALED_OP), op.as_str()),
    ];
    let matching = copies.iter().all(|(copy, clear)| match copy {
        None => true,
        Some(c) => c.as_str() == Some(*clear),
    });
    from_json(&payload).filter(|_| matching)
}

/// A pending change, opened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingChange {
    pub change_id: String,
    pub entity: Entity,
    pub record_id: String,
    pub op: Op,
    pub fields: FieldMap,
}

/// The pending changes, oldest first, up to `limit`, leaving out (unopened) the rows
/// whose entity and record id `skip` refuses (a row naming no entity is not left out: it
/// does not open). A row that does not open fails the read, so callers run after the
/// quarantine sweep, as every sync does.
pub(crate) fn pending(
    conn: &Connection,
    keys: &StoreKeys,
    limit: u32,
    mut skip: impl FnMut(Entity, &str) -> bool,
) -> Result<Vec<PendingChange>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, entity, record_id, op, sealed FROM sync_outbox ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while out.len() < limit as usize {
        let Some(r) = rows.next()? else { break };
        let (entity, record_id): (String, String) = (r.get(1)?, r.get(2)?);
        if Entity::parse(&entity).is_some_and(|e| skip(e, &record_id)) {
            continue;
        }
        out.push(open_entry(
            keys,
            r.get(0)?,
            entity,
            record_id,
            r.get(3)?,
            r.get(4)?,
        )?);
    }
    Ok(out)
}

/// Opens one outbox row: its sealed fields, checked against the clear columns (which
/// must name an entity and an operation).
fn open_entry(
    keys: &StoreKeys,
    change_id: String,
    entity: String,
    record_id: String,
    op: String,
    sealed: SealedCell,
) -> Result<PendingChange> {
    let seal = RowSeal::new(keys, &OUTBOX, &change_id);
    let (Some(entity), Some(op)) = (Entity::parse(&entity), Op::parse(&op)) else {
        return Err(seal.integrity_error());
    };
    let json = take(&mut seal.open(sealed)?, 0).ok_or_else(|| seal.integrity_error())?;
    let fields = match serde_json::from_str(&json) {
        Ok(Value::Object(m)) => {
            checked_fields(m, entity, &record_id, op).ok_or_else(|| seal.integrity_error())?
        }
        _ => return Err(seal.integrity_error()),
    };
    Ok(PendingChange {
        change_id,
        entity,
        record_id,
        op,
        fields,
    })
}

/// The outbox rows that do not open (damaged or edited): (change id, entity, record id)
/// from their clear columns.
pub(crate) fn damaged(
    conn: &Connection,
    keys: &StoreKeys,
) -> Result<Vec<(String, String, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, entity, record_id, op, sealed FROM sync_outbox")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, SealedCell>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (change_id, entity, record_id, op, sealed) = row?;
        let ids = (change_id.clone(), entity.clone(), record_id.clone());
        match open_entry(keys, change_id, entity, record_id, op, sealed) {
            Ok(_) => {}
            Err(Error::Integrity { .. }) => out.push(ids),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Number of pending changes.
pub(crate) fn count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row("SELECT count(*) FROM sync_outbox", [], |r| r.get(0))?;
    Ok(n as u64)
}

/// Number of pending changes of one record.
pub(crate) fn pending_for(conn: &Connection, entity: Entity, record_id: &str) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM sync_outbox WHERE entity = ?1 AND record_id = ?2")?
        .query_row([entity.as_str(), record_id], |r| r.get(0))?;
    Ok(n as u64)
}

/// The fields the pending upserts of one record set (the user's own edits not yet pushed).
pub(crate) fn pending_fields(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
) -> Result<std::collections::BTreeSet<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, op, sealed FROM sync_outbox WHERE entity = ?1 AND record_id = ?2 AND op = 'upsert'",
    )?;
    let rows = stmt.query_map([entity.as_str(), record_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, SealedCell>(2)?,
        ))
    })?;
    let mut out = std::collections::BTreeSet::new();
    for row in rows {
        let (change_id, op, sealed) = row?;
        let entry = open_entry(
            keys,
            change_id,
            entity.as_str().into(),
            record_id.into(),
            op,
            sealed,
        )?;
        out.extend(entry.fields.into_keys());
    }
    Ok(out)
}

/// Whether a delete of the record is pending.
pub(crate) fn pending_delete(conn: &Connection, entity: Entity, record_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM sync_outbox WHERE entity = ?1 AND record_id = ?2 AND op = 'delete'",
        )?
        .exists([entity.as_str(), record_id])?)
}

/// Drops every pending change of a record (delete wins, or the record was merged away).
pub(crate) fn remove_record(conn: &Connection, entity: Entity, record_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM sync_outbox WHERE entity = ?1 AND record_id = ?2")?
        .execute([entity.as_str(), record_id])?;
    Ok(())
}

/// After a merge: the record's pending upserts are replaced by one carrying what the local
/// side still has to push (nothing when the merge left nothing to push).
pub(crate) fn replace_upserts(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
    to_push: FieldMap,
) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM sync_outbox WHERE entity = ?1 AND record_id = ?2 AND op = 'upsert'",
    )?
    .execute([entity.as_str(), record_id])?;
    record(conn, keys, entity, record_id, Op::Upsert, to_push)
}

/// The pending upserts of one record merged into one entry under a new change id (later
/// changes override earlier ones field by field), with `drop` removed from it. Only for
/// changes the backend certainly did not apply (answered `exists` or `conflict`), so that
/// a later correction goes out with them instead of waiting behind them. Returns whether
/// a delete of the record is pending (then nothing is rewritten).
pub(crate) fn coalesce_upserts(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
    drop: &[&str],
) -> Result<bool> {
    if pending_delete(conn, entity, record_id)? {
        return Ok(true);
    }
    let changes = OUTBOX.open_rows(
        conn,
        keys,
        "SELECT id, sealed FROM sync_outbox WHERE entity = ?1 AND record_id = ?2 AND op = 'upsert'
          ORDER BY seq",
        [entity.as_str(), record_id],
        |seal, json| match seal.json(&json)? {
            Value::Object(m) => checked_fields(m, entity, record_id, Op::Upsert)
                .ok_or_else(|| seal.integrity_error()),
            _ => Err(seal.integrity_error()),
        },
    )?;
    // Later changes override earlier ones, field by field.
    let mut fields: FieldMap = changes.into_iter().flatten().collect();
    for name in drop {
        fields.remove(*name);
    }
    replace_upserts(conn, keys, entity, record_id, fields)?;
    Ok(false)
}

/// Removes a change the server answered.
pub(crate) fn remove(conn: &Connection, change_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM sync_outbox WHERE id = ?1")?
        .execute([change_id])?;
    Ok(())
}
