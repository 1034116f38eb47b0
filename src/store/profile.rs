//! The `profile` table: one row at most.

use super::db::{millis_of, now_millis, time_of};
use super::outbox::{Entity, FieldMap};
use super::sealed::{
    patch_optional, refuse_clear_required, take, RowSeal, SealedCell, SealedTable,
};
use super::synced::record_user_write;
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::formats::person::{canonical_email, canonical_phone};
use crate::formats::validate_text;
use crate::model::fields::{field, fields};
use crate::model::{Language, Profile, ProfileField, ProfilePatch};
use rusqlite::{params, Connection, OptionalExtension};

/// The profile's sealed fields.
pub(crate) static TABLE: SealedTable = SealedTable {
    table: "profile",
    entity: crate::error::Entity::Profile,
    fields: &["phone", "full_name", "email", "preferred_language"],
    blind_index: None,
};

const FULL_NAME_MAX_CHARS: usize = 200;

/// The profile's fields under their sync wire names.
fn sync_fields(p: &Profile) -> FieldMap {
    fields([
        ("phone", Some(p.phone.clone())),
        ("full_name", p.full_name.clone()),
        ("email", p.email.clone()),
        (
            "preferred_language",
            p.preferred_language.map(|l| l.code().to_string()),
        ),
    ])
}

/// Reads and opens the profile, if there is one.
pub(crate) fn get(conn: &Connection, keys: &StoreKeys) -> Result<Option<Profile>> {
    let row = conn
        .prepare_cached("SELECT id, sealed, created_at, updated_at FROM profile")?
        .query_row([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, SealedCell>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((id, sealed, created, updated)) = row else {
        return Ok(None);
    };
    let seal = RowSeal::new(keys, &TABLE, &id);
    let mut f = seal.open(sealed)?;
    let preferred_language = match take(&mut f, 3) {
        Some(code) => Some(Language::from_code(&code).ok_or_else(|| seal.integrity_error())?),
        None => None,
    };
    Ok(Some(Profile {
        phone: take(&mut f, 0).ok_or_else(|| seal.integrity_error())?,
        full_name: take(&mut f, 1),
        email: take(&mut f, 2),
        preferred_language,
        created_at: time_of(created),
        updated_at: time_of(updated),
        id,
    }))
}

/// Applies `patch`, creating the profile when there is none (then `phone` is required).
pub(crate) fn update(conn: &Connection, keys: &StoreKeys, patch: ProfilePatch) -> Result<Profile> {
    let clears = |f: ProfileField| patch.clear.contains(&f);
    refuse_clear_required("phone", clears(ProfileField::Phone))?;
    let current = get(conn, keys)?;
    let now = now_millis();
    let phone = match (patch.phone, &current) {
        (Some(p), _) => canonical_phone(&p)?,
        (None, Some(c)) => c.phone.clone(),
        (None, None) => return Err(Error::invalid("phone", "is required")),
    };
    let full_name = patch_optional(
        "full_name",
        current.as_ref().and_then(|c| c.full_name.clone()),
        patch.full_name,
        clears(ProfileField::FullName),
        |v| validate_text("full_name", v, FULL_NAME_MAX_CHARS),
    )?;
    let email = patch_optional(
        "email",
        current.as_ref().and_then(|c| c.email.clone()),
        patch.email,
        clears(ProfileField::Email),
        canonical_email,
    )?;
    let preferred_language = match (
        patch.preferred_language,
        clears(ProfileField::PreferredLanguage),
    ) {
        (Some(_), true) => {
            return Err(Error::invalid(
                "preferred_language",
                "is both set and cleared",
            ))
        }
        (None, true) => None,
        (Some(l), false) => Some(l),
        (None, false) => current.as_ref().and_then(|c| c.preferred_language),
    };
    let (id, created) = match &current {
        Some(c) => (c.id.clone(), millis_of(c.created_at)),
        None => (uuid::Uuid::new_v4().to_string(), now),
    };
    let sealed = RowSeal::new(keys, &TABLE, &id).seal(&[
        Some(&phone),
        full_name.as_deref(),
        email.as_deref(),
        preferred_language.map(Language::code),
    ])?;
    conn.prepare_cached(
        "INSERT INTO profile (id, sealed, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
    )?
    .execute(params![id, sealed, created, now])?;
    let profile = Profile {
        id,
        phone,
        full_name,
        email,
        preferred_language,
        created_at: time_of(created),
        updated_at: time_of(now),
    };
    let before = current.as_ref().map(sync_fields);
    let after = sync_fields(&profile);
    record_user_write(
        conn,
        keys,
        Entity::Profile,
        &profile.id,
        before.as_ref(),
        &after,
    )?;
    Ok(profile)
}

/// Sync: the profile's fields under their wire names, if it is the profile `id`.
pub(crate) fn synced_fields(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
) -> Result<Option<FieldMap>> {
    Ok(get(conn, keys)?
        .filter(|p| p.id == id)
        .map(|p| sync_fields(&p)))
}

/// Sync: writes the profile `id` from synced fields, validated like user input, without
/// an outbox entry. The caller removed any other local profile first.
pub(crate) fn write_synced(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    f: &FieldMap,
) -> Result<()> {
    let value = |name: &str| field(f, name);
    let now = now_millis();
    // A damaged row is repaired: rewritten whole from the synced fields.
    let current = match get(conn, keys) {
        Err(Error::Integrity { .. }) => None,
        other => other?,
    }
    .filter(|p| p.id == id);
    let created = current.as_ref().map_or(now, |p| millis_of(p.created_at));
    let phone = canonical_phone(&value("phone").ok_or(Error::invalid("phone", "is required"))?)?;
    let full_name = value("full_name")
        .as_deref()
        .map(|v| validate_text("full_name", v, FULL_NAME_MAX_CHARS))
        .transpose()?;
    let email = value("email").as_deref().map(canonical_email).transpose()?;
    let language = match value("preferred_language") {
        Some(code) => Some(
            Language::from_code(&code)
                .ok_or(Error::invalid("preferred_language", "is not kk, ru or en"))?,
        ),
        None => None,
    };
    let sealed = RowSeal::new(keys, &TABLE, id).seal(&[
        Some(&phone),
        full_name.as_deref(),
        email.as_deref(),
        language.map(Language::code),
    ])?;
    if let Some(current) = &current {
        let after = [
            ("phone", Some(phone.as_str())),
            ("full_name", full_name.as_deref()),
        ];
        super::past_values::remember_replaced(
            conn,
            keys,
            super::past_values::pairs(&sync_fields(current)),
            after,
        )?;
    }
    conn.prepare_cached(
        "INSERT INTO profile (id, sealed, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
    )?
    .execute(params![id, sealed, created, now])?;
    Ok(())
}

/// Before the profile is deleted by sync: its values go to the firewall's past values.
pub(crate) fn forget(conn: &Connection, keys: &StoreKeys) -> Result<()> {
    super::past_values::forget(
        conn,
        keys,
        get(conn, keys).map(|r| r.as_ref().map(sync_fields)),
    )
}

/// Sync: the local profile's id when it is not `id` (one profile per account).
pub(crate) fn duplicate_of(conn: &Connection, id: &str) -> Result<Option<String>> {
    let other: Option<String> = conn
        .prepare_cached("SELECT id FROM profile")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(other.filter(|o| o != id))
}
