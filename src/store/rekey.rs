//! Data-key rotation: every sealed value and blind index re-encrypted in one transaction.

use super::keyring::{self, KeyRing};
use super::sealed::SealedTable;
use super::{documents, profile, vehicles};
use crate::crypto::{FieldRef, KeyEncryptionKey};
use crate::error::{Error, Result};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Transaction};

/// Every table with sealed columns.
pub(crate) static SEALED_TABLES: [&SealedTable; 3] =
    [&profile::TABLE, &vehicles::TABLE, &documents::TABLE];

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
    let columns = t.columns.join(", ");
    let mut select = tx.prepare(&format!("SELECT id, {columns} FROM {}", t.table))?;
    let rows = select
        .query_map([], |r| {
            let id: String = r.get(0)?;
            let values = (0..t.columns.len())
                .map(|i| r.get::<_, Option<Vec<u8>>>(i + 1))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((id, values))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut assignments: Vec<String> = t.columns.iter().map(|c| format!("{c} = ?")).collect();
    if let Some((index_column, _, _)) = t.blind_index {
        assignments.push(format!("{index_column} = ?"));
    }
    let mut update = tx.prepare(&format!(
        "UPDATE {} SET {} WHERE id = ?",
        t.table,
        assignments.join(", ")
    ))?;
    for (id, values) in rows {
        let mut params: Vec<Value> = Vec::with_capacity(t.columns.len() + 2);
        let mut index_value = None;
        for (column, sealed) in t.columns.iter().zip(values) {
            let field = FieldRef {
                table: t.table,
                column,
                record_id: &id,
            };
            let resealed = match sealed {
                Some(s) => {
                    let plain = old.keys.open(field, &s).ok_or_else(|| Error::Integrity {
                        entity: t.entity,
                        record_id: id.clone(),
                    })?;
                    if let Some((_, source, domain)) = t.blind_index {
                        if source == *column {
                            let canonical =
                                std::str::from_utf8(&plain).map_err(|_| Error::Integrity {
                                    entity: t.entity,
                                    record_id: id.clone(),
                                })?;
                            index_value = Some(new.keys.blind_index(domain, canonical));
                        }
                    }
                    Value::Blob(new.keys.seal(field, &plain)?)
                }
                None => Value::Null,
            };
            params.push(resealed);
        }
        if t.blind_index.is_some() {
            let index = index_value.ok_or_else(|| Error::Integrity {
                entity: t.entity,
                record_id: id.clone(),
            })?;
            params.push(Value::Blob(index));
        }
        params.push(Value::Text(id));
        update.execute(params_from_iter(params))?;
    }
    Ok(())
}
