//! What the synced record tables share: the local row a synced write replaces (`write_synced`
//! of vehicles and documents) and the values it replaces handed to the firewall's past
//! values; the sync-side reads and writes of a table whose unique value has a blind index
//! (`UniqueRecords`: vehicles by plate, documents by kind and number).

use super::db::{now_millis, stored_created_at, time_of};
use super::outbox::Entity;
use super::sealed::{RecordRows, SealedTable};
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::model::fields::FieldMap;
use rusqlite::{Connection, OptionalExtension};
use std::time::SystemTime;

/// After the user's own write of a record whose synced fields went from `before` (`None`:
/// a new record) to `after`, in its transaction: the values it no longer has go to the
/// firewall's past values, the changed fields to the sync outbox.
pub(crate) fn record_user_write(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
    before: Option<&FieldMap>,
    after: &FieldMap,
) -> Result<()> {
    if let Some(before) = before {
        super::past_values::remember_changed(conn, keys, before, after)?;
    }
    super::outbox::record_change(conn, keys, entity, id, before, after)
}

/// A table of synced records whose unique value (one per account) is found by the blind
/// index of `table`.
pub(crate) struct UniqueRecords<Stored, R> {
    /// The sealed table, with its blind index.
    pub table: &'static SealedTable,
    /// How its records are read.
    pub rows: RecordRows<Stored, R>,
    /// A record's fields under their sync wire names.
    pub fields: fn(&R) -> FieldMap,
}

impl<Stored, R> UniqueRecords<Stored, R> {
    /// The record's fields under their wire names, if it exists.
    pub(crate) fn synced_fields(
        &self,
        conn: &Connection,
        keys: &StoreKeys,
        id: &str,
    ) -> Result<Option<FieldMap>> {
        Ok(self.rows.get(conn, keys, id)?.map(|r| (self.fields)(&r)))
    }

    /// Before the record `id` is deleted (by the user or by sync): its values go to the
    /// firewall's past values. A damaged record has none to give.
    pub(crate) fn forget(&self, conn: &Connection, keys: &StoreKeys, id: &str) -> Result<()> {
        super::past_values::forget(conn, keys, self.synced_fields(conn, keys, id))
    }

    fn index_column(&self) -> Result<&'static str> {
        self.table
            .blind_index
            .as_ref()
            .map(|b| b.column)
            .ok_or(Error::Internal(
                "a unique record table without a blind index",
            ))
    }

    /// Frees the unique value of record `id` for another record within the caller's
    /// transaction (a swap of plates between two records, pulled one after the other): its
    /// blind index becomes a random placeholder until the record's own pulled change is
    /// written over it, which the caller makes sure of in the same savepoint.
    pub(crate) fn release_unique(&self, conn: &Connection, id: &str) -> Result<()> {
        let (table, column) = (self.table.table, self.index_column()?);
        conn.prepare_cached(&format!(
            "UPDATE {table} SET {column} = randomblob(32) WHERE id = ?1"
        ))?
        .execute([id])?;
        Ok(())
    }

    /// The other record (not `id`) whose blind index is `index`, if any.
    pub(crate) fn holder_of(
        &self,
        conn: &Connection,
        index: Vec<u8>,
        id: &str,
    ) -> Result<Option<String>> {
        let (table, column) = (self.table.table, self.index_column()?);
        let holder: Option<String> = conn
            .prepare_cached(&format!("SELECT id FROM {table} WHERE {column} = ?1"))?
            .query_row([index], |r| r.get(0))
            .optional()?;
        Ok(holder.filter(|h| h != id))
    }
}

/// The local row a synced write replaces, read before the write.
pub(crate) struct Replaced<R> {
    /// The record as it is, if its row exists and opens. A damaged row counts as absent
    /// here: it is repaired, rewritten whole from the synced fields.
    pub current: Option<R>,
    /// When the row was created, if it exists (damaged or not): the rewrite keeps it.
    created_at: Option<i64>,
    /// The time of this write.
    pub now: SystemTime,
}

impl<R> Replaced<R> {
    /// Reads what the synced write of `id` in `table` replaces; `current` is the table's
    /// own read of the record.
    pub(crate) fn read(
        conn: &Connection,
        table: &str,
        id: &str,
        current: Result<Option<R>>,
    ) -> Result<Self> {
        let current = match current {
            Err(Error::Integrity { .. }) => None,
            other => other?,
        };
        Ok(Replaced {
            current,
            created_at: stored_created_at(conn, table, id)?,
            now: time_of(now_millis()),
        })
    }

    /// Whether the write inserts a new row.
    pub(crate) fn is_new(&self) -> bool {
        self.created_at.is_none()
    }

    /// The creation time the written record keeps: the row's, or now for a new row.
    pub(crate) fn created_at(&self) -> SystemTime {
        self.created_at.map_or(self.now, time_of)
    }

    /// Hands the values of the replaced record that `written` no longer has to the
    /// firewall's past values (`fields` gives a record's fields by wire name).
    pub(crate) fn remember_replaced_values(
        &self,
        conn: &Connection,
        keys: &StoreKeys,
        written: &R,
        fields: fn(&R) -> FieldMap,
    ) -> Result<()> {
        match &self.current {
            Some(current) => {
                super::past_values::remember_changed(conn, keys, &fields(current), &fields(written))
            }
            None => Ok(()),
        }
    }
}
