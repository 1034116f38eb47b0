//! Row sealing: the personal fields of one row are encoded together and sealed as one
//! AES-256-GCM value in the row's `sealed` column, bound by its associated data to the
//! table, the column, the record id and the key version.
//!
//! One AEAD per row rather than per field (as application-services' logins keeps its
//! `secFields`): a field cannot be moved either way, since fields only exist inside an
//! authenticated blob, and reading a row costs one decryption instead of five, which keeps
//! the store within 1.3x of plain SQLite (docs/performance.md).
//!
//! Encoding of the plaintext (versioned, append-only): `LAYOUT_V1`, the number of fields,
//! then per field a tag byte (0 absent, 1 present) and, when present, a u32 little-endian
//! length and the UTF-8 bytes. Fields added by later versions go at the end; a shorter
//! record reads the missing fields as absent.

use crate::crypto::{FieldRef, StoreKeys};
use crate::error::{Error, Result};
use rusqlite::types::{FromSql, FromSqlResult, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row};
use zeroize::Zeroizing;

/// A `sealed` cell as read from SQLite: the bytes of a BLOB, or nothing for a cell of any
/// other type (TEXT, INTEGER, REAL, NULL), which only damage or tampering can put there.
/// Reading it never fails, so such a cell is reported by [`RowSeal::open`] as an integrity
/// failure of its record, not as a storage error of the whole query.
pub(crate) struct SealedCell(Option<Vec<u8>>);

impl SealedCell {
    /// The cell's bytes, when it holds a BLOB.
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }
}

impl FromSql for SealedCell {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(SealedCell(match value {
            ValueRef::Blob(bytes) => Some(bytes.to_vec()),
            _ => None,
        }))
    }
}

/// Name of the column that holds a row's sealed fields.
pub(crate) const SEALED_COLUMN: &str = "sealed";
const LAYOUT_V1: u8 = 1;

/// A table whose personal fields are sealed, for code that treats all of them alike
/// (key rotation).
pub(crate) struct SealedTable {
    /// Table name (also bound into every ciphertext's associated data).
    pub table: &'static str,
    /// What errors about its rows name.
    pub entity: crate::error::Entity,
    /// The sealed fields, in encoding order.
    pub fields: &'static [&'static str],
    /// The table's blind index, if it has one.
    pub blind_index: Option<BlindIndex>,
}

impl SealedTable {
    /// The rows `sql` selects from this table (its columns `id, sealed`, in that order,
    /// with `params` bound), the one sealed field of each opened and handed to `f` with the
    /// row's seal (whose `integrity_error` names the row when the opened value then fails to
    /// parse). A row that does not open is an `Integrity` error naming it.
    pub(crate) fn open_rows<T>(
        &'static self,
        conn: &Connection,
        keys: &StoreKeys,
        sql: &str,
        params: impl rusqlite::Params,
        mut f: impl FnMut(&RowSeal<'_>, String) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, SealedCell>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sealed) = row?;
            let seal = RowSeal::new(keys, self, &id);
            let text = take(&mut seal.open(sealed)?, 0).ok_or_else(|| seal.integrity_error())?;
            out.push(f(&seal, text)?);
        }
        Ok(out)
    }
}

/// Computes a row's blind index from its opened fields; `None` when a field is missing.
pub(crate) type ComputeIndex = fn(&StoreKeys, &[Option<String>]) -> Option<Vec<u8>>;

/// A blind-index column and how to compute it from the row's opened fields.
pub(crate) struct BlindIndex {
    /// The column holding the index.
    pub column: &'static str,
    /// Computes the index; `None` when the fields lack the indexed value.
    pub compute: ComputeIndex,
}

/// Encodes the fields of a row (the plaintext before sealing).
pub(crate) fn encode_fields(fields: &[Option<&str>]) -> Zeroizing<Vec<u8>> {
    let len = 2 + fields
        .iter()
        .map(|f| 1 + f.map_or(0, |s| 4 + s.len()))
        .sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    out.push(LAYOUT_V1);
    out.push(u8::try_from(fields.len()).expect("fewer than 256 fields"));
    for field in fields {
        match field {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
    out
}

/// Decodes `expected` fields; `None` when the bytes are not a valid encoding.
pub(crate) fn decode_fields(bytes: &[u8], expected: usize) -> Option<Vec<Option<String>>> {
    let (&layout, rest) = bytes.split_first()?;
    let (&count, mut rest) = rest.split_first()?;
    if layout != LAYOUT_V1 || usize::from(count) > expected {
        return None;
    }
    let mut fields = Vec::with_capacity(expected);
    for _ in 0..count {
        let (&tag, after) = rest.split_first()?;
        rest = after;
        match tag {
            0 => fields.push(None),
            1 => {
                let (len, after) = rest.split_first_chunk::<4>()?;
                let len = u32::from_le_bytes(*len) as usize;
                if after.len() < len {
                    return None;
                }
                let (text, after) = after.split_at(len);
                fields.push(Some(std::str::from_utf8(text).ok()?.to_string()));
                rest = after;
            }
            _ => return None,
        }
    }
    if !rest.is_empty() {
        return None;
    }
    fields.resize(expected, None);
    Some(fields)
}

/// The keys and the place of one row: seals and opens its fields.
pub(crate) struct RowSeal<'a> {
    keys: &'a StoreKeys,
    table: &'static SealedTable,
    id: &'a str,
}

impl<'a> RowSeal<'a> {
    /// Binds `keys` to the row `id` of `table`.
    pub fn new(keys: &'a StoreKeys, table: &'static SealedTable, id: &'a str) -> Self {
        RowSeal { keys, table, id }
    }

    fn place(&self) -> FieldRef<'a> {
        FieldRef {
            table: self.table.table,
            column: SEALED_COLUMN,
            record_id: self.id,
        }
    }

    /// Seals the row's fields, given in the table's field order.
    pub fn seal(&self, fields: &[Option<&str>]) -> Result<Vec<u8>> {
        debug_assert_eq!(fields.len(), self.table.fields.len());
        self.keys.seal(self.place(), &encode_fields(fields))
    }

    /// Opens the row's fields; a damaged or moved value, or a cell that is not a BLOB, is
    /// an integrity error naming this row.
    pub fn open(&self, sealed: SealedCell) -> Result<Vec<Option<String>>> {
        let sealed = sealed.0.ok_or_else(|| self.integrity_error())?;
        let plain = self
            .keys
            .open(self.place(), sealed)
            .ok_or_else(|| self.integrity_error())?;
        decode_fields(&plain, self.table.fields.len()).ok_or_else(|| self.integrity_error())
    }

    /// The row's id.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// An opened value as JSON; malformed JSON is this row's integrity error.
    pub fn json<T: serde::de::DeserializeOwned>(&self, text: &str) -> Result<T> {
        serde_json::from_str(text).map_err(|_| self.integrity_error())
    }

    /// The integrity error for this row.
    pub fn integrity_error(&self) -> Error {
        Error::Integrity {
            entity: self.table.entity,
            record_id: self.id.to_string(),
        }
    }
}

/// Takes field `i` out of opened fields.
pub(crate) fn take(fields: &mut [Option<String>], i: usize) -> Option<String> {
    fields.get_mut(i).and_then(Option::take)
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

/// How a table of sealed records is read: `select` (the columns `read` takes, no WHERE),
/// `read` (a row as it is stored) and `open` (the row opened into its record; a damaged
/// one is an `Integrity` error naming it). Lists are oldest first.
pub(crate) struct RecordRows<Stored, Record> {
    pub select: &'static str,
    pub read: fn(&Row<'_>) -> rusqlite::Result<Stored>,
    pub open: fn(&StoreKeys, Stored) -> Result<Record>,
}

impl<Stored, Record> RecordRows<Stored, Record> {
    /// The record `id`, if it exists.
    pub fn get(&self, conn: &Connection, keys: &StoreKeys, id: &str) -> Result<Option<Record>> {
        let row = conn
            .prepare_cached(&format!("{} WHERE id = ?1", self.select))?
            .query_row([id], self.read)
            .optional()?;
        row.map(|r| (self.open)(keys, r)).transpose()
    }

    /// Every record, oldest first. A damaged one fails the whole list with its id.
    pub fn list(&self, conn: &Connection, keys: &StoreKeys) -> Result<Vec<Record>> {
        let mut stmt = conn.prepare_cached(&self.ordered())?;
        let rows = stmt.query_map([], self.read)?;
        rows.map(|r| (self.open)(keys, r?)).collect()
    }

    /// Every intact record, oldest first, and the ids of the damaged ones (a sealed row
    /// that does not open), which are left out.
    pub fn list_intact(
        &self,
        conn: &Connection,
        keys: &StoreKeys,
    ) -> Result<(Vec<Record>, Vec<String>)> {
        let mut stmt = conn.prepare_cached(&self.ordered())?;
        let rows = stmt.query_map([], self.read)?;
        let (mut intact, mut damaged) = (Vec::new(), Vec::new());
        for row in rows {
            match (self.open)(keys, row?) {
                Ok(record) => intact.push(record),
                Err(Error::Integrity { record_id, .. }) => damaged.push(record_id),
                Err(e) => return Err(e),
            }
        }
        Ok((intact, damaged))
    }

    fn ordered(&self) -> String {
        format!("{} ORDER BY created_at, rowid", self.select)
    }
}

/// Deletes row `id` of `table`: `NotFound` naming `entity` when there is none.
pub(crate) fn delete_row(
    conn: &Connection,
    table: &str,
    entity: crate::error::Entity,
    id: &str,
) -> Result<()> {
    match conn
        .prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?
        .execute([id])?
    {
        0 => Err(Error::NotFound { entity }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    static NOTES: SealedTable = SealedTable {
        table: "notes",
        entity: crate::error::Entity::Complaint,
        fields: &["text"],
        blind_index: None,
    };

    #[test]
    fn open_rows_opens_the_selected_rows_and_names_one_that_does_not_open() {
        let keys = StoreKeys::derive(&crate::crypto::DataKey::generate().unwrap(), 1).unwrap();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE notes (id TEXT PRIMARY KEY, n INTEGER, sealed BLOB)")
            .unwrap();
        for (id, n) in [("a", 1), ("b", 2), ("c", 3)] {
            let sealed = RowSeal::new(&keys, &NOTES, id)
                .seal(&[Some(&format!("note {id}"))])
                .unwrap();
            conn.execute(
                "INSERT INTO notes VALUES (?1, ?2, ?3)",
                rusqlite::params![id, n, sealed],
            )
            .unwrap();
        }
        let sql = "SELECT id, sealed FROM notes WHERE n >= ?1 ORDER BY n";
        let opened = NOTES
            .open_rows(&conn, &keys, sql, [2], |seal, text| {
                Ok(format!("{}={text}", seal.id()))
            })
            .unwrap();
        assert_eq!(opened, ["b=note b", "c=note c"]);
        // A value moved to another row does not open there: the error names that row.
        conn.execute_batch(
            "UPDATE notes SET sealed = (SELECT sealed FROM notes WHERE id = 'b') WHERE id = 'c'",
        )
        .unwrap();
        match NOTES.open_rows(&conn, &keys, sql, [2], |_, text| Ok(text)) {
            Err(Error::Integrity { record_id, .. }) => assert_eq!(record_id, "c"),
            other => panic!("expected the integrity error of row c, got {other:?}"),
        }
        // A value that opens but does not parse is named by the callback's seal.
        match NOTES.open_rows(&conn, &keys, sql, [1], |seal, text| {
            seal.json::<serde_json::Value>(&text)
        }) {
            Err(Error::Integrity { record_id, .. }) => assert_eq!(record_id, "a"),
            other => panic!("expected the integrity error of row a, got {other:?}"),
        }
    }

    #[test]
    fn shorter_records_read_missing_fields_as_absent() {
        let bytes = encode_fields(&[Some("a"), None]);
        assert_eq!(
            decode_fields(&bytes, 3).unwrap(),
            vec![Some("a".into()), None, None]
        );
        assert!(
            decode_fields(&bytes, 1).is_none(),
            "more fields than expected"
        );
    }

    #[test]
    fn malformed_encodings_are_rejected() {
        for bad in [
            &[][..],
            &[1],
            &[2, 0],
            &[1, 1, 7],
            &[1, 1, 1, 5, 0, 0, 0, b'a'],
            &[1, 1, 1, 1, 0, 0, 0, 0xff],
            &[1, 0, 9],
        ] {
            assert!(decode_fields(bad, 4).is_none(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn fields_round_trip(fields in proptest::collection::vec(proptest::option::of("\\PC{0,40}"), 0..8)) {
            let refs: Vec<Option<&str>> = fields.iter().map(|f| f.as_deref()).collect();
            let bytes = encode_fields(&refs);
            prop_assert_eq!(decode_fields(&bytes, fields.len()).unwrap(), fields);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_fields(&bytes, 6);
        }
    }
}
