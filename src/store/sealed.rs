//! Sealing and opening the personal columns of one row, and applying patches to them.

use crate::crypto::{FieldRef, StoreKeys};
use crate::error::{Error, Result};

/// Describes a table's sealed columns, so that key rotation can re-encrypt any table.
pub(crate) struct SealedTable {
    /// Table name (also bound into every ciphertext's associated data).
    pub table: &'static str,
    /// Entity name used in errors (`vehicle`).
    pub entity: &'static str,
    /// The sealed columns.
    pub columns: &'static [&'static str],
    /// `(index column, source column, domain)` of the table's blind index, if any.
    pub blind_index: Option<(&'static str, &'static str, &'static str)>,
}

/// The keys and the place of one row: seals and opens its columns.
pub(crate) struct RowSeal<'a> {
    pub keys: &'a StoreKeys,
    pub table: &'static SealedTable,
    pub id: &'a str,
}

impl<'a> RowSeal<'a> {
    /// Binds `keys` to the row `id` of `table`.
    pub fn new(keys: &'a StoreKeys, table: &'static SealedTable, id: &'a str) -> Self {
        RowSeal { keys, table, id }
    }

    fn field(&self, column: &'static str) -> FieldRef<'a> {
        FieldRef {
            table: self.table.table,
            column,
            record_id: self.id,
        }
    }

    /// Seals a value for `column`.
    pub fn seal(&self, column: &'static str, value: &str) -> Result<Vec<u8>> {
        self.keys.seal_str(self.field(column), value)
    }

    /// Seals an optional value for `column`.
    pub fn seal_opt(&self, column: &'static str, value: Option<&str>) -> Result<Option<Vec<u8>>> {
        value.map(|v| self.seal(column, v)).transpose()
    }

    /// Opens `column`; a damaged value is an integrity error naming this row.
    pub fn open(&self, column: &'static str, sealed: &[u8]) -> Result<String> {
        self.keys
            .open_str(self.table.entity, self.field(column), sealed)
    }

    /// Opens an optional `column`.
    pub fn open_opt(
        &self,
        column: &'static str,
        sealed: Option<Vec<u8>>,
    ) -> Result<Option<String>> {
        sealed.map(|s| self.open(column, &s)).transpose()
    }

    /// The integrity error for this row.
    pub fn integrity_error(&self) -> Error {
        Error::Integrity {
            entity: self.table.entity,
            record_id: self.id.to_string(),
        }
    }
}

/// Applies one optional field of a patch: `clear` removes it, `new` (validated by
/// `validate`) replaces it, neither keeps `current`.
pub(crate) fn patch_optional<T>(
    field: &'static str,
    current: Option<T>,
    new: Option<String>,
    clear: bool,
    validate: impl FnOnce(&str) -> Result<T>,
) -> Result<Option<T>> {
    match (new, clear) {
        (Some(_), true) => Err(Error::invalid(field, "is both set and cleared")),
        (None, true) => Ok(None),
        (Some(v), false) => validate(&v).map(Some),
        (None, false) => Ok(current),
    }
}

/// Refuses to clear a required field.
pub(crate) fn refuse_clear_required(field: &'static str, cleared: bool) -> Result<()> {
    if cleared {
        Err(Error::invalid(field, "is required and cannot be cleared"))
    } else {
        Ok(())
    }
}
