//! Sync's quarantine: an outbox entry or mirror row whose sealed value
//! does not open is set aside at the start of each sync, so one damaged entry never stops
//! the rest. What can be recovered is: a set-aside change is replaced by the record's
//! current local copy (queued whole, or its removal), and a set-aside mirror row by a pull
//! from the beginning. The host reads the list (`SyncClient::quarantined`) and clears it.

use super::mirror;
use super::outbox::{self, Entity};
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::model::RecordKind;
use crate::store::db::now_millis;
use rusqlite::{params, Connection};

/// Why a sync entry was set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QuarantineReason {
    /// A pending change did not open: it was replaced by the record's local copy when
    /// that could be read (`requeued`).
    OutboxEntryDamaged,
    /// The last synced copy of a record did not open: the next pull starts from the
    /// beginning and brings the backend's copy back.
    MirrorEntryDamaged,
}

impl QuarantineReason {
    fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::OutboxEntryDamaged => "outbox_entry_damaged",
            QuarantineReason::MirrorEntryDamaged => "mirror_entry_damaged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            QuarantineReason::OutboxEntryDamaged,
            QuarantineReason::MirrorEntryDamaged,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One set-aside sync entry (no personal value: only what names the record).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QuarantinedEntry {
    /// The record's kind, as the damaged row's clear column says; null / nil when that
    /// column names no kind (it was edited).
    pub entity: Option<RecordKind>,
    /// The record's id, as the damaged row's clear column says.
    pub record_id: String,
    /// Why it was set aside.
    pub reason: QuarantineReason,
    /// Whether the record's local copy was queued in its place (nothing is lost then).
    pub requeued: bool,
    /// When, in ms since the Unix epoch.
    pub at_ms: i64,
}

/// Sets aside every damaged outbox entry and mirror row; returns how many.
pub(crate) fn sweep(conn: &Connection, keys: &StoreKeys) -> Result<u64> {
    let mut set_aside = 0;
    for (change_id, entity, record_id) in outbox::damaged(conn, keys)? {
        conn.execute("DELETE FROM sync_outbox WHERE id = ?1", [&change_id])?;
        let requeued = match Entity::parse(&entity) {
            Some(kind) => requeue(conn, keys, kind, &record_id)?,
            None => false,
        };
        add(
            conn,
            &entity,
            &record_id,
            QuarantineReason::OutboxEntryDamaged,
            requeued,
        )?;
        set_aside += 1;
    }
    for (entity, record_id) in mirror::all_records(conn)? {
        match mirror::get(conn, keys, entity, &record_id) {
            Ok(_) => {}
            Err(Error::Integrity { .. }) => {
                mirror::forget(conn, entity, &record_id)?;
                mirror::set_cursor(conn, None)?;
                add(
                    conn,
                    entity.as_str(),
                    &record_id,
                    QuarantineReason::MirrorEntryDamaged,
                    true,
                )?;
                set_aside += 1;
            }
            Err(e) => return Err(e),
        }
    }
    // A row whose entity column was edited to no kind: the pull from the beginning brings
    // the record's mirror back under its own name.
    for (entity, record_id) in mirror::remove_rows_naming_no_entity(conn)? {
        mirror::set_cursor(conn, None)?;
        add(
            conn,
            &entity,
            &record_id,
            QuarantineReason::MirrorEntryDamaged,
            true,
        )?;
        set_aside += 1;
    }
    if set_aside > 0 {
        log::warn!("sync: {set_aside} damaged sync entries set aside");
    }
    Ok(set_aside)
}

/// Queues the record's local state in place of a lost change: the whole record, or its
/// removal when it is gone here but synced. `false` when the local copy cannot be read.
fn requeue(conn: &Connection, keys: &StoreKeys, entity: Entity, record_id: &str) -> Result<bool> {
    match super::pull::local(conn, keys, entity, record_id) {
        Ok(Some(fields)) => {
            outbox::replace_upserts(conn, keys, entity, record_id, fields)?;
            Ok(true)
        }
        Ok(None) => {
            let synced =
                matches!(mirror::get(conn, keys, entity, record_id), Ok(Some(m)) if !m.deleted);
            if synced && !outbox::pending_delete(conn, entity, record_id)? {
                outbox::record_delete(conn, keys, entity, record_id)?;
            }
            Ok(true)
        }
        Err(Error::Integrity { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn add(
    conn: &Connection,
    entity: &str,
    record_id: &str,
    reason: QuarantineReason,
    requeued: bool,
) -> Result<()> {
    conn.execute(
        "INSERT INTO sync_quarantine (id, entity, record_id, reason, requeued, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            uuid::Uuid::new_v4().to_string(),
            entity,
            record_id,
            reason.as_str(),
            requeued,
            now_millis()
        ],
    )?;
    Ok(())
}

/// The set-aside entries, oldest first.
pub(crate) fn list(conn: &Connection) -> Result<Vec<QuarantinedEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT entity, record_id, reason, requeued, created_at FROM sync_quarantine
          ORDER BY created_at, rowid",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (entity, record_id, reason, requeued, at_ms) = row?;
        // An unknown reason (edited by hand) reads as the more cautious one.
        let reason =
            QuarantineReason::parse(&reason).unwrap_or(QuarantineReason::OutboxEntryDamaged);
        out.push(QuarantinedEntry {
            entity: RecordKind::parse(&entity),
            record_id,
            reason,
            requeued,
            at_ms,
        });
    }
    Ok(out)
}

/// How many entries are set aside.
pub(crate) fn count(conn: &Connection) -> Result<u64> {
    Ok(
        conn.query_row("SELECT count(*) FROM sync_quarantine", [], |r| {
            r.get::<_, i64>(0)
        })? as u64,
    )
}

/// Forgets the list; returns how many entries there were.
pub(crate) fn clear(conn: &Connection) -> Result<u64> {
    Ok(conn.execute("DELETE FROM sync_quarantine", [])? as u64)
}
