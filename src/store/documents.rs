//! The `documents` table.

use super::db::{millis_of, now_millis, time_of, unique_violation_as_exists};
use super::outbox::{self, Entity, FieldMap, Op};
use super::sealed::{
    patch_optional, refuse_clear_required, take, BlindIndex, RowSeal, SealedCell, SealedTable,
};
use super::synced::{record_user_write, Replaced, UniqueRecords};
use super::vehicles;
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::formats::{canonical_document_number, validate_date};
use crate::model::fields::{field, fields};
use crate::model::{Document, DocumentField, DocumentKind, DocumentPatch, NewDocument};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// The documents' sealed fields and the number's blind index.
pub(crate) static TABLE: SealedTable = SealedTable {
    table: "documents",
    entity: crate::error::Entity::Document,
    fields: &["kind", "number", "issued_on", "expires_on"],
    blind_index: Some(BlindIndex {
        column: "number_index",
        compute: |keys, fields| match (&fields[0], &fields[1]) {
            (Some(kind), Some(number)) => Some(number_index_of(keys, kind, number)),
            _ => None,
        },
    }),
};

const SELECT: &str = "SELECT id, sealed, vehicle_id, created_at, updated_at FROM documents";

/// Blind index of a document number, per kind: the same number may exist once per kind.
fn number_index_of(keys: &StoreKeys, kind: &str, canonical: &str) -> Vec<u8> {
    keys.blind_index("document_number", &[kind, canonical])
}

/// A row as read, before its sealed fields are opened.
pub(crate) struct SealedRow {
    id: String,
    sealed: SealedCell,
    vehicle_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<SealedRow> {
    Ok(SealedRow {
        id: r.get(0)?,
        sealed: r.get(1)?,
        vehicle_id: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

fn open_row(keys: &StoreKeys, row: SealedRow) -> Result<Document> {
    let seal = RowSeal::new(keys, &TABLE, &row.id);
    let mut f = seal.open(row.sealed)?;
    let kind = take(&mut f, 0)
        .as_deref()
        .and_then(DocumentKind::parse)
        .ok_or_else(|| seal.integrity_error())?;
    Ok(Document {
        kind,
        number: take(&mut f, 1).ok_or_else(|| seal.integrity_error())?,
        issued_on: take(&mut f, 2),
        expires_on: take(&mut f, 3),
        vehicle_id: row.vehicle_id,
        created_at: time_of(row.created_at),
        updated_at: time_of(row.updated_at),
        id: row.id,
    })
}

/// The document's fields under their sync wire names.
fn sync_fields(d: &Document) -> FieldMap {
    fields([
        ("kind", Some(d.kind.as_str().to_string())),
        ("number", Some(d.number.clone())),
        ("issued_on", d.issued_on.clone()),
        ("expires_on", d.expires_on.clone()),
        ("vehicle_id", d.vehicle_id.clone()),
    ])
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
            return Err(Error::NotFound {
                entity: crate::error::Entity::Vehicle,
            });
        }
    }
    Ok(())
}

fn write(conn: &Connection, keys: &StoreKeys, d: &Document, insert: bool) -> Result<()> {
    check_links(conn, d)?;
    let kind = d.kind.as_str();
    let sealed = RowSeal::new(keys, &TABLE, &d.id).seal(&[
        Some(kind),
        Some(&d.number),
        d.issued_on.as_deref(),
        d.expires_on.as_deref(),
    ])?;
    let sql = if insert {
        "INSERT INTO documents (id, number_index, sealed, vehicle_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    } else {
        "UPDATE documents SET number_index = ?2, sealed = ?3, vehicle_id = ?4, created_at = ?5,
             updated_at = ?6
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![
            d.id,
            number_index_of(keys, kind, &d.number),
            sealed,
            d.vehicle_id,
            millis_of(d.created_at),
            millis_of(d.updated_at),
        ])
        .map_err(|e| unique_violation_as_exists(e, crate::model::RecordKind::Document))?;
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
    record_user_write(
        conn,
        keys,
        Entity::Document,
        &document.id,
        None,
        &sync_fields(&document),
    )?;
    Ok(document)
}

/// Applies `patch` to the document `id`.
pub(crate) fn update(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    patch: DocumentPatch,
) -> Result<Document> {
    let current = ROWS.get(conn, keys, id)?.ok_or(Error::NotFound {
        entity: crate::error::Entity::Document,
    })?;
    let before = sync_fields(&current);
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
    let after = sync_fields(&document);
    record_user_write(
        conn,
        keys,
        Entity::Document,
        &document.id,
        Some(&before),
        &after,
    )?;
    Ok(document)
}

/// Removes the document `id`. Works on a damaged record too.
pub(crate) fn remove(conn: &Connection, keys: &StoreKeys, id: &str) -> Result<()> {
    SYNCED.forget(conn, keys, id)?;
    super::sealed::delete_row(conn, "documents", TABLE.entity, id)?;
    outbox::record_delete(conn, keys, Entity::Document, id)
}

/// How the documents table is read: `get` (the record `id`, if it exists), `list` (every
/// record, oldest first; a damaged one fails the list with its id) and `list_intact` (every
/// intact record and the ids of the damaged ones, which are left out).
pub(crate) const ROWS: super::sealed::RecordRows<SealedRow, Document> = super::sealed::RecordRows {
    select: SELECT,
    read: read_row,
    open: open_row,
};

/// The document of `kind` with this number (typed in any accepted form).
pub(crate) fn find_by_number(
    conn: &Connection,
    keys: &StoreKeys,
    kind: DocumentKind,
    typed: &str,
) -> Result<Option<Document>> {
    let canonical = number(typed)?;
    let index = number_index_of(keys, kind.as_str(), &canonical);
    let row = conn
        .prepare_cached(&format!("{SELECT} WHERE number_index = ?1"))?
        .query_row([index], read_row)
        .optional()?;
    let Some(document) = row.map(|r| open_row(keys, r)).transpose()? else {
        return Ok(None);
    };
    // The index is a clear column: a row that answers for another number is damage.
    if document.number != canonical || document.kind != kind {
        return Err(Error::Integrity {
            entity: TABLE.entity,
            record_id: document.id,
        });
    }
    Ok(Some(document))
}

/// The documents as sync reads and frees them, by kind and number.
pub(crate) static SYNCED: UniqueRecords<SealedRow, Document> = UniqueRecords {
    table: &TABLE,
    rows: ROWS,
    fields: sync_fields,
};

/// Sync: writes the document `id` from synced fields, validated like user input, without
/// an outbox entry. A link to a vehicle this store does not have is dropped.
pub(crate) fn write_synced(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    f: &FieldMap,
) -> Result<()> {
    let value = |name: &str| field(f, name);
    let replaced = Replaced::read(conn, "documents", id, ROWS.get(conn, keys, id))?;
    let kind = value("kind")
        .as_deref()
        .and_then(DocumentKind::parse)
        .ok_or(Error::invalid("kind", "is not a document kind"))?;
    let vehicle_id = match value("vehicle_id") {
        Some(v) if vehicles::exists(conn, &v)? => Some(v),
        _ => None,
    };
    let document = Document {
        id: id.to_string(),
        kind,
        number: number(&value("number").ok_or(Error::invalid("number", "is required"))?)?,
        issued_on: value("issued_on")
            .as_deref()
            .map(date("issued_on"))
            .transpose()?,
        expires_on: value("expires_on")
            .as_deref()
            .map(date("expires_on"))
            .transpose()?,
        vehicle_id,
        created_at: replaced.created_at(),
        updated_at: replaced.now,
    };
    replaced.remember_replaced_values(conn, keys, &document, sync_fields)?;
    write(conn, keys, &document, replaced.is_new())
}

/// Sync: another local document of the same kind and number as `f`, if any.
pub(crate) fn duplicate_of(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    f: &FieldMap,
) -> Result<Option<String>> {
    let value = |name: &str| field(f, name);
    let (Some(kind), Some(Ok(n))) = (value("kind"), value("number").map(|n| number(&n))) else {
        return Ok(None);
    };
    SYNCED.holder_of(conn, number_index_of(keys, &kind, &n), id)
}

/// The ids of the documents linked to the vehicle `vehicle_id` (read without opening them:
/// damaged ones included).
pub(crate) fn linked_to(conn: &Connection, vehicle_id: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM documents WHERE vehicle_id = ?1")?
        .query_map([vehicle_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Links the document `id` to `vehicle_id` (or unlinks it) and records the change in the
/// outbox.
pub(crate) fn set_link(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    vehicle_id: Option<&str>,
) -> Result<()> {
    conn.prepare_cached("UPDATE documents SET vehicle_id = ?1 WHERE id = ?2")?
        .execute(params![vehicle_id, id])?;
    let patch = fields([("vehicle_id", vehicle_id.map(str::to_string))]);
    outbox::record(conn, keys, Entity::Document, id, Op::Upsert, patch)
}
