//! The `documents` table.

use super::db::{millis_of, now_millis, time_of, unique_violation_as_exists};
use super::sealed::{patch_optional, refuse_clear_required, RowSeal, SealedTable};
use super::vehicles;
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::formats::{canonical_document_number, validate_date};
use crate::model::{Document, DocumentField, DocumentKind, DocumentPatch, NewDocument};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// The documents' sealed columns and the number's blind index.
pub(crate) static TABLE: SealedTable = SealedTable {
    table: "documents",
    entity: "document",
    columns: &["number", "issued_on", "expires_on"],
    blind_index: Some(("number_index", "number", NUMBER_DOMAIN)),
};

/// Blind-index domain of document numbers.
pub(crate) const NUMBER_DOMAIN: &str = "document_number";
const SELECT: &str = "SELECT id, kind, number, issued_on, expires_on, vehicle_id, created_at,
    updated_at FROM documents";

struct SealedRow {
    id: String,
    kind: String,
    number: Vec<u8>,
    issued_on: Option<Vec<u8>>,
    expires_on: Option<Vec<u8>>,
    vehicle_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<SealedRow> {
    Ok(SealedRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        number: r.get(2)?,
        issued_on: r.get(3)?,
        expires_on: r.get(4)?,
        vehicle_id: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn open_row(keys: &StoreKeys, row: SealedRow) -> Result<Document> {
    let seal = RowSeal::new(keys, &TABLE, &row.id);
    Ok(Document {
        kind: DocumentKind::parse(&row.kind).ok_or_else(|| seal.integrity_error())?,
        number: seal.open("number", &row.number)?,
        issued_on: seal.open_opt("issued_on", row.issued_on)?,
        expires_on: seal.open_opt("expires_on", row.expires_on)?,
        vehicle_id: row.vehicle_id,
        created_at: time_of(row.created_at),
        updated_at: time_of(row.updated_at),
        id: row.id,
    })
}

fn number(v: &str) -> Result<String> {
    canonical_document_number("number", v)
}

fn date(field: &'static str) -> impl Fn(&str) -> Result<String> {
    move |v| Ok(validate_date(field, v)?.to_string())
}

/// Checks the dates' order and that the linked vehicle exists.
fn check_links(conn: &Connection, d: &Document) -> Result<()> {
    if let (Some(issued), Some(expires)) = (&d.issued_on, &d.expires_on) {
        // ISO dates compare correctly as strings.
        if expires < issued {
            return Err(Error::invalid("expires_on", "is before the issue date"));
        }
    }
    if let Some(vehicle_id) = &d.vehicle_id {
        if !vehicles::exists(conn, vehicle_id)? {
            return Err(Error::NotFound { entity: "vehicle" });
        }
    }
    Ok(())
}

fn write(conn: &Connection, keys: &StoreKeys, d: &Document, insert: bool) -> Result<()> {
    check_links(conn, d)?;
    let seal = RowSeal::new(keys, &TABLE, &d.id);
    let sql = if insert {
        "INSERT INTO documents (id, kind, number_index, number, issued_on, expires_on,
             vehicle_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    } else {
        "UPDATE documents SET kind = ?2, number_index = ?3, number = ?4, issued_on = ?5,
             expires_on = ?6, vehicle_id = ?7, created_at = ?8, updated_at = ?9
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![
            d.id,
            d.kind.as_str(),
            keys.blind_index(NUMBER_DOMAIN, &d.number),
            seal.seal("number", &d.number)?,
            seal.seal_opt("issued_on", d.issued_on.as_deref())?,
            seal.seal_opt("expires_on", d.expires_on.as_deref())?,
            d.vehicle_id,
            millis_of(d.created_at),
            millis_of(d.updated_at),
        ])
        .map_err(|e| unique_violation_as_exists(e, "document"))?;
    Ok(())
}

/// Validates and adds a document. The same kind and number twice is
/// [`Error::AlreadyExists`].
pub(crate) fn add(conn: &Connection, keys: &StoreKeys, input: NewDocument) -> Result<Document> {
    let now = time_of(now_millis());
    let document = Document {
        id: uuid::Uuid::new_v4().to_string(),
        kind: input.kind,
        number: number(&input.number)?,
        issued_on: input
            .issued_on
            .as_deref()
            .map(date("issued_on"))
            .transpose()?,
        expires_on: input
            .expires_on
            .as_deref()
            .map(date("expires_on"))
            .transpose()?,
        vehicle_id: input.vehicle_id,
        created_at: now,
        updated_at: now,
    };
    write(conn, keys, &document, true)?;
    Ok(document)
}

/// Applies `patch` to the document `id`.
pub(crate) fn update(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    patch: DocumentPatch,
) -> Result<Document> {
    let current = get(conn, keys, id)?.ok_or(Error::NotFound { entity: "document" })?;
    let clears = |f: DocumentField| patch.clear.contains(&f);
    refuse_clear_required("number", clears(DocumentField::Number))?;
    let document = Document {
        number: match patch.number {
            Some(n) => number(&n)?,
            None => current.number,
        },
        issued_on: patch_optional(
            "issued_on",
            current.issued_on,
            patch.issued_on,
            clears(DocumentField::IssuedOn),
            date("issued_on"),
        )?,
        expires_on: patch_optional(
            "expires_on",
            current.expires_on,
            patch.expires_on,
            clears(DocumentField::ExpiresOn),
            date("expires_on"),
        )?,
        vehicle_id: patch_optional(
            "vehicle_id",
            current.vehicle_id,
            patch.vehicle_id,
            clears(DocumentField::VehicleId),
            |v| Ok(v.to_string()),
        )?,
        updated_at: time_of(now_millis()),
        ..current
    };
    write(conn, keys, &document, false)?;
    Ok(document)
}

/// Removes the document `id`. Works on a damaged record too.
pub(crate) fn remove(conn: &Connection, id: &str) -> Result<()> {
    match conn
        .prepare_cached("DELETE FROM documents WHERE id = ?1")?
        .execute([id])?
    {
        0 => Err(Error::NotFound { entity: "document" }),
        _ => Ok(()),
    }
}

/// The document `id`, if it exists.
pub(crate) fn get(conn: &Connection, keys: &StoreKeys, id: &str) -> Result<Option<Document>> {
    let row = conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], read_row)
        .optional()?;
    row.map(|r| open_row(keys, r)).transpose()
}

/// Every document, oldest first. A damaged record fails the whole list with its id.
pub(crate) fn list(conn: &Connection, keys: &StoreKeys) -> Result<Vec<Document>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY created_at, rowid"))?;
    let rows = stmt.query_map([], read_row)?;
    rows.map(|r| open_row(keys, r?)).collect()
}

/// The document of `kind` with this number (typed in any accepted form).
pub(crate) fn find_by_number(
    conn: &Connection,
    keys: &StoreKeys,
    kind: DocumentKind,
    typed: &str,
) -> Result<Option<Document>> {
    let index = keys.blind_index(NUMBER_DOMAIN, &number(typed)?);
    let row = conn
        .prepare_cached(&format!("{SELECT} WHERE kind = ?1 AND number_index = ?2"))?
        .query_row(params![kind.as_str(), index], read_row)
        .optional()?;
    row.map(|r| open_row(keys, r)).transpose()
}
