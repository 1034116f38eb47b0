//! The steps the record tables share when sync writes a record from the backend's fields
//! (`write_synced` of vehicles and documents): the local row a synced write replaces, and
//! the values it replaces handed to the firewall's past values.

use super::db::{now_millis, stored_created_at, time_of};
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::model::fields::FieldMap;
use rusqlite::Connection;
use std::time::SystemTime;

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
