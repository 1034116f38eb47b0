//! Data-key rotation: every sealed row and blind index of the tables it is given
//! re-encrypted in one transaction. It names no domain: the account hands it the list.

use super::keyring::{self, KeyRing};
use super::sealed::{decode_fields, SealedTable, SEALED_COLUMN};
use crate::crypto::{FieldRef, KeyEncryptionKey};
use crate::error::{Error, Result};
use rusqlite::{params, Transaction};

/// Makes a new data key (version + 1) and re-encrypts every row of `tables` with it
/// inside `tx`.
/// The caller commits; until then the old key and rows stay in force, so a crash at any
/// point leaves either the old or the new key with matching rows.
pub(crate) fn rotate_data_key(
    tx: &Transaction<'_>,
    old: &KeyRing,
    kek: &KeyEncryptionKey,
    tables: &[&'static SealedTable],
) -> Result<KeyRing> {
    let new = keyring::install_new(tx, kek, old.keys.version() + 1)?;
    for table in tables {
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
