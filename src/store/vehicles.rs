//! The `vehicles` table.

use super::db::{millis_of, now_millis, time_of, unique_violation_as_exists};
use super::outbox::{self, Entity, FieldMap};
use super::sealed::{
    patch_optional, refuse_clear_required, take, BlindIndex, RowSeal, SealedCell, SealedTable,
};
use super::synced::{record_user_write, Replaced, UniqueRecords};
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::formats::{canonical_document_number, plate, validate_text};
use crate::model::fields::{field, fields};
use crate::model::{NewVehicle, Vehicle, VehicleField, VehiclePatch};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// The vehicles' sealed fields and the plate's blind index.
pub(crate) static TABLE: SealedTable = SealedTable {
    table: "vehicles",
    entity: crate::error::Entity::Vehicle,
    fields: &[
        "plate",
        "nickname",
        "make",
        "model",
        "colour",
        "registration_certificate",
    ],
    blind_index: Some(BlindIndex {
        column: "plate_index",
        compute: |keys, fields| fields[0].as_deref().map(|p| plate_index(keys, p)),
    }),
};

const TEXT_MAX_CHARS: usize = 64;
/// The columns `read_row` takes, as a literal for `concat!`.
macro_rules! select {
    () => {
        "SELECT id, sealed, created_at, updated_at FROM vehicles"
    };
}
const SELECT: &str = select!();

/// Blind index of a canonical plate.
fn plate_index(keys: &StoreKeys, canonical: &str) -> Vec<u8> {
    keys.blind_index("plate", &[canonical])
}

/// A row as read, before its sealed fields are opened.
pub(crate) struct SealedRow {
    id: String,
    sealed: SealedCell,
    created_at: i64,
    updated_at: i64,
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<SealedRow> {
    Ok(SealedRow {
        id: r.get(0)?,
        sealed: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
    })
}

fn open_row(keys: &StoreKeys, row: SealedRow) -> Result<Vehicle> {
    let seal = RowSeal::new(keys, &TABLE, &row.id);
    let mut f = seal.open(row.sealed)?;
    let canonical = take(&mut f, 0).ok_or_else(|| seal.integrity_error())?;
    let plate = plate::from_canonical(canonical).ok_or_else(|| seal.integrity_error())?;
    Ok(Vehicle {
        plate,
        nickname: take(&mut f, 1),
        make: take(&mut f, 2),
        model: take(&mut f, 3),
        colour: take(&mut f, 4),
        registration_certificate_number: take(&mut f, 5),
        created_at: time_of(row.created_at),
        updated_at: time_of(row.updated_at),
        id: row.id,
    })
}

/// The vehicle's fields under their sync wire names.
fn sync_fields(v: &Vehicle) -> FieldMap {
    fields([
        ("plate", Some(v.plate.canonical.clone())),
        ("nickname", v.nickname.clone()),
        ("make", v.make.clone()),
        ("model", v.model.clone()),
        ("colour", v.colour.clone()),
        (
            "registration_certificate_number",
            v.registration_certificate_number.clone(),
        ),
    ])
}

fn text(field: &'static str) -> impl Fn(&str) -> Result<String> {
    move |v| validate_text(field, v, TEXT_MAX_CHARS)
}

fn certificate(v: &str) -> Result<String> {
    canonical_document_number("registration_certificate_number", v)
}

fn write(conn: &Connection, keys: &StoreKeys, v: &Vehicle, insert: bool) -> Result<()> {
    let sealed = RowSeal::new(keys, &TABLE, &v.id).seal(&[
        Some(&v.plate.canonical),
        v.nickname.as_deref(),
        v.make.as_deref(),
        v.model.as_deref(),
        v.colour.as_deref(),
        v.registration_certificate_number.as_deref(),
    ])?;
    let sql = if insert {
        "INSERT INTO vehicles (id, plate_index, sealed, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)"
    } else {
        "UPDATE vehicles SET plate_index = ?2, sealed = ?3, created_at = ?4, updated_at = ?5
         WHERE id = ?1"
    };
    conn.prepare_cached(sql)?
        .execute(params![
            v.id,
            plate_index(keys, &v.plate.canonical),
            sealed,
            millis_of(v.created_at),
            millis_of(v.updated_at),
        ])
        .map_err(|e| unique_violation_as_exists(e, crate::model::RecordKind::Vehicle))?;
    Ok(())
}

/// Validates and adds a vehicle. The same plate twice is [`Error::AlreadyExists`].
pub(crate) fn add(conn: &Connection, keys: &StoreKeys, input: NewVehicle) -> Result<Vehicle> {
    let now = time_of(now_millis());
    let vehicle = Vehicle {
        id: uuid::Uuid::new_v4().to_string(),
        plate: plate::parse(&input.plate)?,
        nickname: input
            .nickname
            .as_deref()
            .map(text("nickname"))
            .transpose()?,
        make: input.make.as_deref().map(text("make")).transpose()?,
        model: input.model.as_deref().map(text("model")).transpose()?,
        colour: input.colour.as_deref().map(text("colour")).transpose()?,
        registration_certificate_number: input
            .registration_certificate_number
            .as_deref()
            .map(certificate)
            .transpose()?,
        created_at: now,
        updated_at: now,
    };
    write(conn, keys, &vehicle, true)?;
    record_user_write(
        conn,
        keys,
        Entity::Vehicle,
        &vehicle.id,
        None,
        &sync_fields(&vehicle),
    )?;
    Ok(vehicle)
}

/// Applies `patch` to the vehicle `id`.
pub(crate) fn update(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    patch: VehiclePatch,
) -> Result<Vehicle> {
    let current = ROWS.get(conn, keys, id)?.ok_or(Error::NotFound {
        entity: crate::error::Entity::Vehicle,
    })?;
    let before = sync_fields(&current);
    let clears = |f: VehicleField| patch.clear.contains(&f);
    refuse_clear_required("plate", clears(VehicleField::Plate))?;
    let vehicle = Vehicle {
        plate: match patch.plate {
            Some(p) => plate::parse(&p)?,
            None => current.plate,
        },
        nickname: patch_optional(
            "nickname",
            current.nickname,
            patch.nickname,
            clears(VehicleField::Nickname),
            text("nickname"),
        )?,
        make: patch_optional(
            "make",
            current.make,
            patch.make,
            clears(VehicleField::Make),
            text("make"),
        )?,
        model: patch_optional(
            "model",
            current.model,
            patch.model,
            clears(VehicleField::Model),
            text("model"),
        )?,
        colour: patch_optional(
            "colour",
            current.colour,
            patch.colour,
            clears(VehicleField::Colour),
            text("colour"),
        )?,
        registration_certificate_number: patch_optional(
            "registration_certificate_number",
            current.registration_certificate_number,
            patch.registration_certificate_number,
            clears(VehicleField::RegistrationCertificateNumber),
            certificate,
        )?,
        updated_at: time_of(now_millis()),
        ..current
    };
    write(conn, keys, &vehicle, false)?;
    let after = sync_fields(&vehicle);
    record_user_write(
        conn,
        keys,
        Entity::Vehicle,
        &vehicle.id,
        Some(&before),
        &after,
    )?;
    Ok(vehicle)
}

/// Removes the vehicle `id` (its documents stay, unlinked). Works on a damaged record too.
pub(crate) fn remove(conn: &Connection, keys: &StoreKeys, id: &str) -> Result<()> {
    // Documents linked to the vehicle lose the link (`ON DELETE SET NULL` in the schema);
    // each unlink is a change of the document and goes to the outbox like any other, so
    // the backend unlinks them too. Recorded without opening the documents: a damaged one
    // is unlinked as well.
    for document in super::documents::linked_to(conn, id)? {
        super::documents::set_link(conn, keys, &document, None)?;
    }
    SYNCED.forget(conn, keys, id)?;
    super::sealed::delete_row(conn, "vehicles", TABLE.entity, id)?;
    outbox::record_delete(conn, keys, Entity::Vehicle, id)
}

/// How the vehicles table is read: `get` (the record `id`, if it exists), `list` (every
/// record, oldest first; a damaged one fails the list with its id) and `list_intact` (every
/// intact record and the ids of the damaged ones, which are left out).
pub(crate) const ROWS: super::sealed::RecordRows<SealedRow, Vehicle> = super::sealed::RecordRows {
    select: SELECT,
    read: read_row,
    open: open_row,
};

/// The vehicle with this plate (typed in any accepted form), found by its blind index.
pub(crate) fn find_by_plate(
    conn: &Connection,
    keys: &StoreKeys,
    typed: &str,
) -> Result<Option<Vehicle>> {
    let plate = plate::parse(typed)?;
    let row = conn
        .prepare_cached(concat!(select!(), " WHERE plate_index = ?1"))?
        .query_row([plate_index(keys, &plate.canonical)], read_row)
        .optional()?;
    let Some(vehicle) = row.map(|r| open_row(keys, r)).transpose()? else {
        return Ok(None);
    };
    // The index is a clear column: a row that answers for another plate (an index copied
    // from another row) is damage, never a silent wrong answer.
    if vehicle.plate.canonical != plate.canonical {
        return Err(Error::Integrity {
            entity: TABLE.entity,
            record_id: vehicle.id,
        });
    }
    Ok(Some(vehicle))
}

/// Whether a vehicle with this id exists.
pub(crate) fn exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM vehicles WHERE id = ?1")?
        .exists([id])?)
}

/// The vehicles as sync reads and frees them, by plate.
pub(crate) static SYNCED: UniqueRecords<SealedRow, Vehicle> = UniqueRecords {
    table: &TABLE,
    rows: ROWS,
    fields: sync_fields,
};

/// Sync: writes the vehicle `id` from synced fields, validated like user input, without
/// an outbox entry.
pub(crate) fn write_synced(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    f: &FieldMap,
) -> Result<()> {
    let value = |name: &str| field(f, name);
    let replaced = Replaced::read(conn, "vehicles", id, ROWS.get(conn, keys, id))?;
    let vehicle = Vehicle {
        id: id.to_string(),
        plate: plate::parse(&value("plate").ok_or(Error::invalid("plate", "is required"))?)?,
        nickname: value("nickname")
            .as_deref()
            .map(text("nickname"))
            .transpose()?,
        make: value("make").as_deref().map(text("make")).transpose()?,
        model: value("model").as_deref().map(text("model")).transpose()?,
        colour: value("colour").as_deref().map(text("colour")).transpose()?,
        registration_certificate_number: value("registration_certificate_number")
            .as_deref()
            .map(certificate)
            .transpose()?,
        created_at: replaced.created_at(),
        updated_at: replaced.now,
    };
    replaced.remember_replaced_values(conn, keys, &vehicle, sync_fields)?;
    write(conn, keys, &vehicle, replaced.is_new())
}

/// Sync: another local vehicle with the plate in `f`, if any.
pub(crate) fn duplicate_of(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    f: &FieldMap,
) -> Result<Option<String>> {
    let Some(Ok(p)) = field(f, "plate").map(|p| plate::parse(&p)) else {
        return Ok(None);
    };
    SYNCED.holder_of(conn, plate_index(keys, &p.canonical), id)
}
