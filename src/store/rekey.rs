//! Data-key rotation: every sealed row and blind index re-encrypted in one transaction.

use super::keyring::{self, KeyRing};
use super::sealed::{decode_fields, SealedTable, SEALED_COLUMN};
use super::{documents, profile, vehicles};
use crate::crypto::{FieldRef, KeyEncryptionKey};
use crate::error::{Error, Result};
use rusqlite::{params, Transaction};

/// Every table with sealed fields, in the order their rows may be created (parents first).
pub(crate) static SEALED_TABLES: [&SealedTable; 13] = [
    &profile::TABLE,
    &vehicles::TABLE,
    &documents::TABLE,
    &crate::consent::RECEIPTS,
    &crate::consent::CHAIN,
    &crate::telemetry::queue::EVENTS,
    &crate::telemetry::queue::NETWORK_SAMPLES,
    &crate::telemetry::queue::COMPLAINTS,
    &crate::sync::outbox::OUTBOX,
    &crate::sync::mirror::MIRROR,
    &crate::sync::conflicts::CONFLICTS,
    &super::past_values::TABLE,
    &super::rollback::TABLE,
];

/// Makes a new data key (version + 1) and re-encrypts every row with it inside `tx`.
/// The caller commits; until then the old key and rows stay in force, so a crash at any
/// point leaves either the old or the new key with matching rows.
pub(crate) fn rotate_data_key(
    tx: &Transaction<'_>,
    old: &KeyRing,
    kek: &KeyEncryptionKey,
) -> Result<KeyRing> {
    let new = keyring::install_new(tx, kek, old.keys.version() + 1)?;
    for table in SEALED_TABLES {
        reseal_table(tx, table, old, &new)?;
    }
    Ok(new)
}

fn reseal_table(
    tx: &Transaction<'_>,
    t: &'static SealedTable,
    old: &KeyRing,
    new: &KeyRing,
) -> Result<()> {
    let rows = tx
        .prepare(&format!("SELECT id, {SEALED_COLUMN} FROM {}", t.table))?
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let index_column = t.blind_index.as_ref().map(|b| b.column);
    let mut update = tx.prepare(&match index_column {
        Some(column) => format!(
            "UPDATE {} SET {SEALED_COLUMN} = ?2, {column} = ?3 WHERE id = ?1",
            t.table
        ),
        None => format!("UPDATE {} SET {SEALED_COLUMN} = ?2 WHERE id = ?1", t.table),
    })?;
    for (id, sealed) in rows {
        let integrity = || Error::Integrity {
            entity: t.entity,
            record_id: id.clone(),
        };
        let place = FieldRef {
            table: t.table,
            column: SEALED_COLUMN,
            record_id: &id,
        };
        let plain = old.keys.open(place, sealed).ok_or_else(integrity)?;
        let resealed = new.keys.seal(place, &plain)?;
        match &t.blind_index {
            Some(index) => {
                let fields = decode_fields(&plain, t.fields.len()).ok_or_else(integrity)?;
                let value = (index.compute)(&new.keys, &fields).ok_or_else(integrity)?;
                update.execute(params![id, resealed, value])?;
            }
            None => {
                update.execute(params![id, resealed])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every table of the schema with a sealed column is in `SEALED_TABLES`, and nothing
    /// else: a table added without registering it would keep its rows under the old data
    /// key after a rotation (unreadable) and survive an erasure.
    #[test]
    fn the_registered_sealed_tables_are_the_schemas_tables_with_a_sealed_column() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        super::super::schema::migrate(&tx, 0).unwrap();
        tx.commit().unwrap();
        let in_schema: BTreeSet<String> = conn
            .prepare(
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
                  WHERE m.type = 'table' AND c.name = ?1",
            )
            .unwrap()
            .query_map([SEALED_COLUMN], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let registered: BTreeSet<String> =
            SEALED_TABLES.iter().map(|t| t.table.to_string()).collect();
        assert_eq!(
            registered.len(),
            SEALED_TABLES.len(),
            "a table registered twice"
        );
        assert_eq!(in_schema, registered);
    }
}
