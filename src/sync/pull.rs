//! Pull: remote changes applied locally with the three-way merge (`docs/protocol.md`,
//! "Merge rules"), the page and its cursor in one transaction.

use super::conflicts::{self, ConflictResolution};
use super::merge::{merge, merge_values, FieldMap, Winner};
use super::mirror::{self, Mirrored};
use super::outbox::{self, Entity};
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::model::fields::{field, from_json, to_json};
use crate::store::{documents, profile, vehicles};
use rusqlite::Connection;
use serde_json::Value;
use std::collections::BTreeSet;

/// What a page did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Pulled {
    pub applied: i64,
    pub conflicts: i64,
    pub invalid: i64,
}

/// The local record's synced fields (`None`: no such record here).
pub(crate) fn local(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
) -> Result<Option<FieldMap>> {
    match entity {
        Entity::Profile => profile::synced_fields(conn, keys, id),
        Entity::Vehicle => vehicles::SYNCED.synced_fields(conn, keys, id),
        Entity::Document => documents::SYNCED.synced_fields(conn, keys, id),
    }
}

/// The local record as a JSON object of its synced fields, for the conflict log when a
/// remote delete wins over it (the user can still see, and re-enter, what was lost).
/// A damaged record has nothing to show: `None`, so that the delete still goes through.
fn local_values_json(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
) -> Result<Option<String>> {
    match local(conn, keys, entity, id) {
        Ok(fields) => Ok(fields.map(|f| Value::Object(to_json(&f)).to_string())),
        Err(Error::Integrity { .. }) => {
            log::warn!("a damaged {entity} is deleted by a remote delete; its values are lost");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Writes the local record from synced fields (no outbox entry).
pub(crate) fn write(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
    f: &FieldMap,
) -> Result<()> {
    match entity {
        Entity::Profile => profile::write_synced(conn, keys, id, f),
        Entity::Vehicle => vehicles::write_synced(conn, keys, id, f),
        Entity::Document => documents::write_synced(conn, keys, id, f),
    }
}

/// Another local record holding the unique value of `f` (plate, document kind and number;
/// a profile under another id).
fn duplicate(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
    f: &FieldMap,
) -> Result<Option<String>> {
    match entity {
        Entity::Profile => profile::duplicate_of(conn, id),
        Entity::Vehicle => vehicles::duplicate_of(conn, keys, id, f),
        Entity::Document => documents::duplicate_of(conn, keys, id, f),
    }
}

/// Logs that a remote delete wins over the local record `id` (with its values, read
/// before the caller deletes it).
pub(crate) fn log_delete_won(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
) -> Result<()> {
    let lost = local_values_json(conn, keys, entity, id)?;
    conflicts::log(
        conn,
        keys,
        entity,
        id,
        None,
        lost.as_deref(),
        None,
        ConflictResolution::DeleteWon,
    )
}

/// Frees the unique value (plate; kind and number) of record `id` for another record, in
/// the caller's savepoint. A profile has none.
fn release_unique(conn: &Connection, entity: Entity, id: &str) -> Result<()> {
    match entity {
        Entity::Profile => Ok(()),
        Entity::Vehicle => vehicles::SYNCED.release_unique(conn, id),
        Entity::Document => documents::SYNCED.release_unique(conn, id),
    }
}

/// Deletes a local record (a remote delete, or a record merged into another), its values
/// kept as the firewall's past values.
pub(crate) fn delete_local(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
) -> Result<()> {
    match entity {
        Entity::Profile => profile::forget(conn, keys)?,
        Entity::Vehicle => vehicles::SYNCED.forget(conn, keys, id)?,
        Entity::Document => documents::SYNCED.forget(conn, keys, id)?,
    }
    conn.prepare_cached(&format!("DELETE FROM {} WHERE id = ?1", entity.table()))?
        .execute([id])?;
    Ok(())
}

/// The fields of a remote record: strings or nulls only.
fn remote_fields(change: &Value) -> Option<FieldMap> {
    from_json(change["fields"].as_object()?)
}

/// Logs the fields a merge settled, each with the side whose value was kept.
fn log_field_conflicts(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
    settled: &[super::merge::FieldConflict],
) -> Result<()> {
    for c in settled {
        let resolution = match c.kept {
            Winner::Server => ConflictResolution::ServerWon,
            Winner::Local => ConflictResolution::LocalWon,
        };
        conflicts::log(
            conn,
            keys,
            entity,
            id,
            Some(&c.field),
            c.local.as_deref(),
            c.remote.as_deref(),
            resolution,
        )?;
    }
    Ok(())
}

/// Whether the record is on the server as this store last saw it (a live mirror).
fn is_synced(conn: &Connection, keys: &StoreKeys, entity: Entity, id: &str) -> Result<bool> {
    Ok(mirror::get(conn, keys, entity, id)?.is_some_and(|m| !m.deleted))
}

/// The uniqueness rule, for a synced record `id` whose unique value (plate, document kind
/// and number) the server gave to another record: `id` keeps the value the server holds
/// for it (the mirror's), its pending change loses that field, and the conflict log keeps
/// the value it had. Returns the conflicts logged. `UniqueHeld` when the server's value is
/// the contested one too: the server has changed `id` since, and the pull retries the
/// record that wants the value once that change is applied (`apply_page`).
///
/// The value it goes back to may be held here by another record, moved to it locally:
/// a record never synced is folded into `id` (logged `Merged`, as in the pull), a synced
/// one keeps its own server value in turn.
pub(crate) fn revert_unique(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
) -> Result<u64> {
    revert_unique_at(conn, keys, entity, id, &mut Vec::new())
}

/// How many synced records in a row `revert_unique` sends back to their server values.
const MAX_REVERT_DEPTH: u32 = 4;

fn revert_unique_at(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
    reverting: &mut Vec<String>,
) -> Result<u64> {
    let mirrored = mirror::get(conn, keys, entity, id)?
        .filter(|m| !m.deleted)
        .ok_or(Error::invalid("record", "is not synced"))?;
    let Some(mut fields) = local(conn, keys, entity, id)? else {
        // Removed here since: its delete is pending, and its edits are moot.
        outbox::replace_upserts(conn, keys, entity, id, FieldMap::new())?;
        return Ok(0);
    };
    let mut logged = 0;
    for unique in entity.unique_fields() {
        let server = field(&mirrored.fields, unique);
        let here = field(&fields, unique);
        if server == here {
            continue;
        }
        conflicts::log(
            conn,
            keys,
            entity,
            id,
            Some(unique),
            here.as_deref(),
            server.as_deref(),
            ConflictResolution::ServerWon,
        )?;
        fields.insert(unique.to_string(), server);
        logged += 1;
    }
    if logged == 0 {
        // The server gave the value to another record, so it has changed this one since
        // the mirror's version: that change is further on in the pull.
        return Err(Error::UniqueHeld {
            entity,
            holder: id.to_string(),
        });
    }
    outbox::coalesce_upserts(conn, keys, entity, id, entity.unique_fields())?;
    let mut folded = None;
    if let Some(holder) = duplicate(conn, keys, entity, id, &fields)? {
        if reverting.contains(&holder) {
            // A cycle (records that swapped values here): the holder, further up this
            // chain, goes back to its own server value once this one is written.
            release_unique(conn, entity, &holder)?;
        } else if is_synced(conn, keys, entity, &holder)? {
            if reverting.len() as u32 >= MAX_REVERT_DEPTH {
                return Err(Error::invalid(
                    "record",
                    "holds a value moved too many times",
                ));
            }
            reverting.push(id.to_string());
            logged += revert_unique_at(conn, keys, entity, &holder, reverting)?;
        } else {
            let (merged, moved) =
                fold_unsynced(conn, keys, entity, &holder, &fields, Winner::Server)?;
            logged += merged.conflicts.len() as u64;
            log_field_conflicts(conn, keys, entity, id, &merged.conflicts)?;
            fields = merged.fields;
            folded = Some((holder, merged.to_push, moved));
        }
    }
    write(conn, keys, entity, id, &fields)?;
    if let Some((holder, to_push, (relink, values))) = folded {
        for doc in relink {
            documents::set_link(conn, keys, &doc, Some(id))?;
        }
        outbox::record(conn, keys, entity, id, outbox::Op::Upsert, to_push)?;
        conflicts::log(
            conn,
            keys,
            entity,
            &holder,
            None,
            Some(&values),
            Some(id),
            ConflictResolution::Merged,
        )?;
        logged += 1;
    }
    log::info!(
        "sync: a {entity} kept its synced plate or number: another record holds the new one"
    );
    Ok(logged)
}

/// Folds `holder`, a record never synced, into the synced record whose fields are `into`
/// (`winner` decides where both are set): `holder` is deleted with its pending
/// changes. Returns the merge, the documents that linked to `holder` (a vehicle; the
/// caller links them to the record it went into once that is written) and `holder`'s
/// values as JSON for the conflict log.
fn fold_unsynced(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    holder: &str,
    into: &FieldMap,
    winner: Winner,
) -> Result<(super::merge::Merged, (Vec<String>, String))> {
    let fields = local(conn, keys, entity, holder)?.unwrap_or_default();
    let merged = merge_values(None, &fields, into, winner);
    let relink = if entity == Entity::Vehicle {
        documents::linked_to(conn, holder)?
    } else {
        Vec::new()
    };
    delete_local(conn, keys, entity, holder)?;
    outbox::remove_record(conn, entity, holder)?;
    let values = Value::Object(to_json(&fields)).to_string();
    Ok((merged, (relink, values)))
}

/// Dates that contradict each other after a merge (a document expiring before it is
/// issued, each side having changed one date): the server's dates are kept, the local
/// ones go to the conflict log and are not pushed. Returns the conflicts logged.
fn settle_dates(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    merged: &mut super::merge::Merged,
    remote: &FieldMap,
) -> Result<u64> {
    let (issued, expires) = (
        field(&merged.fields, "issued_on"),
        field(&merged.fields, "expires_on"),
    );
    // ISO dates compare correctly as strings.
    if !matches!((&issued, &expires), (Some(i), Some(e)) if e < i) {
        return Ok(0);
    }
    let mut logged = 0;
    for date in ["issued_on", "expires_on"] {
        let (here, server) = (field(&merged.fields, date), field(remote, date));
        if here == server {
            continue;
        }
        conflicts::log(
            conn,
            keys,
            Entity::Document,
            id,
            Some(date),
            here.as_deref(),
            server.as_deref(),
            ConflictResolution::ServerWon,
        )?;
        merged.fields.insert(date.to_string(), server);
        merged.to_push.remove(date);
        merged.conflicts.retain(|c| c.field != date);
        logged += 1;
    }
    Ok(logged)
}

/// Reconciliation, for a live record the backend holds at an older version than this
/// store synced (it was restored from a backup): the backend's copy becomes the base, and
/// what this store has beyond it is pushed again: a delete it had synced, or every field
/// that differs. Nothing local changes.
fn reconcile_one(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    id: &str,
    deleted_here: bool,
    change: &Value,
    version: i64,
) -> Result<u64> {
    let invalid = || Error::invalid("pulled record", "is malformed");
    let mut remote = remote_fields(change).ok_or_else(invalid)?;
    remote.retain(|k, _| entity.has_field(k));
    let m = Mirrored {
        version,
        deleted: false,
        fields: remote.clone(),
    };
    mirror::put(conn, keys, entity, id, &m)?;
    match local(conn, keys, entity, id)? {
        // Deleted here (synced, or pending): the delete goes out again, never resurrected.
        None => {
            if deleted_here || !outbox::pending_delete(conn, entity, id)? {
                outbox::remove_record(conn, entity, id)?;
                outbox::record_delete(conn, keys, entity, id)?;
            }
        }
        Some(here) => {
            let differing: FieldMap = here
                .into_iter()
                .filter(|(k, v)| field(&remote, k) != *v)
                .collect();
            outbox::replace_upserts(conn, keys, entity, id, differing)?;
        }
    }
    Ok(0)
}

/// After a reconciliation pull: every record the mirror holds as live that the backend
/// did not list (`seen`) was lost by it; each is pushed again as a new record from the
/// local copy (a record deleted here is just forgotten). Consent receipts and complaints
/// are queued again too (the backend answers `duplicate` for those it has). Returns how
/// many records were queued.
pub(crate) fn repush_missing(
    conn: &Connection,
    keys: &StoreKeys,
    seen: &std::collections::HashSet<(Entity, String)>,
) -> Result<i64> {
    let mut queued = 0;
    for (entity, id) in mirror::live_records(conn)? {
        if seen.contains(&(entity, id.clone())) {
            continue;
        }
        mirror::forget(conn, entity, &id)?;
        outbox::remove_record(conn, entity, &id)?;
        if let Some(fields) = local(conn, keys, entity, &id)? {
            outbox::record(conn, keys, entity, &id, outbox::Op::Upsert, fields)?;
            queued += 1;
        }
    }
    conn.execute("UPDATE consent_receipts SET uploaded_at = NULL", [])?;
    conn.execute("UPDATE complaints SET sent_at = NULL", [])?;
    Ok(queued)
}

/// What became of one pulled change.
enum Tried {
    Applied(u64),
    NotForThisStore,
    /// Its plate or number is still held by a local record whose change comes later.
    Waiting,
    Invalid,
}

/// Applies one change under its own savepoint: an invalid record (a hostile or buggy
/// backend) is skipped and counted, never half-applied.
fn try_one(
    conn: &Connection,
    keys: &StoreKeys,
    change: &Value,
    winner: Winner,
    reconciling: bool,
) -> Result<Tried> {
    conn.execute_batch("SAVEPOINT pulled_record")?;
    let tried = match apply_one(conn, keys, change, winner, reconciling) {
        Ok(Some(conflicts)) => Tried::Applied(conflicts),
        Ok(None) => Tried::NotForThisStore,
        Err(Error::UniqueHeld { .. }) => Tried::Waiting,
        Err(e) => {
            log::warn!("sync: a pulled record was invalid and skipped ({e})");
            Tried::Invalid
        }
    };
    if matches!(tried, Tried::Waiting | Tried::Invalid) {
        conn.execute_batch("ROLLBACK TO pulled_record")?;
    }
    conn.execute_batch("RELEASE pulled_record")?;
    Ok(tried)
}

fn count(pulled: &mut Pulled, tried: &Tried) {
    match tried {
        Tried::Applied(conflicts) => {
            pulled.applied += 1;
            pulled.conflicts += super::count(*conflicts);
        }
        Tried::Invalid => pulled.invalid += 1,
        Tried::NotForThisStore | Tried::Waiting => {}
    }
}

/// Applies one page of remote changes in the caller's transaction, each under its own
/// savepoint (`try_one`).
///
/// A change whose plate or number a synced local record still holds, because that
/// record's own change (moving it to another value, or deleting it) comes later in the
/// pull, waits in `waiting` and is retried after each page, until the holder's change is
/// in. On the `last` page, what still waits is a cycle (two records that swapped plates):
/// the holder's value is freed and its change applied right after, in one savepoint; a
/// change whose holder has no change in the pull (a backend contradicting itself) is
/// skipped as invalid.
pub(crate) fn apply_page(
    conn: &Connection,
    keys: &StoreKeys,
    changes: &[Value],
    waiting: &mut Vec<Value>,
    winner: Winner,
    reconciling: bool,
    last: bool,
) -> Result<Pulled> {
    let mut pulled = Pulled::default();
    // Documents last: the vehicles they link to may come later in the same page.
    let mut ordered: Vec<&Value> = changes.iter().collect();
    ordered.sort_by_key(|c| c["entity"].as_str() == Some("document"));
    for change in ordered {
        let tried = try_one(conn, keys, change, winner, reconciling)?;
        if matches!(tried, Tried::Waiting) {
            waiting.push(change.clone());
        }
        count(&mut pulled, &tried);
    }
    loop {
        let mut progress = false;
        for change in std::mem::take(waiting) {
            let tried = try_one(conn, keys, &change, winner, reconciling)?;
            if matches!(tried, Tried::Waiting) {
                waiting.push(change);
            } else {
                progress = true;
            }
            count(&mut pulled, &tried);
        }
        if progress {
            continue;
        }
        if !last || waiting.is_empty() {
            return Ok(pulled);
        }
        let change = waiting.remove(0);
        let mut rest = waiting.clone();
        conn.execute_batch("SAVEPOINT freed_value")?;
        match apply_chain(conn, keys, &change, &mut rest, winner, reconciling) {
            Ok(chain) => {
                conn.execute_batch("RELEASE freed_value")?;
                pulled.applied += chain.applied;
                pulled.conflicts += chain.conflicts;
                *waiting = rest;
            }
            Err(e) => {
                conn.execute_batch("ROLLBACK TO freed_value; RELEASE freed_value")?;
                log::warn!("sync: a pulled record was invalid and skipped ({e})");
                pulled.invalid += 1;
            }
        }
    }
}

/// Applies `change`; when a local record holds the value it wants and that record's own
/// change is in `rest`, frees the value, applies `change`, then the holder's change (which
/// may free a third record's value in turn). The caller's savepoint undoes it all on `Err`.
fn apply_chain(
    conn: &Connection,
    keys: &StoreKeys,
    change: &Value,
    rest: &mut Vec<Value>,
    winner: Winner,
    reconciling: bool,
) -> Result<Pulled> {
    let mut chain = Pulled::default();
    let mut current = change.clone();
    loop {
        let conflicts = match apply_one(conn, keys, &current, winner, reconciling) {
            Err(Error::UniqueHeld { entity, holder }) => {
                let of_holder = |c: &Value| {
                    c["entity"].as_str() == Some(entity.as_str())
                        && c["record_id"].as_str() == Some(&holder)
                };
                let Some(at) = rest.iter().position(of_holder) else {
                    return Err(Error::UniqueHeld { entity, holder });
                };
                release_unique(conn, entity, &holder)?;
                let conflicts = apply_one(conn, keys, &current, winner, reconciling)?;
                current = rest.remove(at);
                conflicts
            }
            other => {
                let conflicts = other?;
                chain.applied += i64::from(conflicts.is_some());
                chain.conflicts += super::count(conflicts.unwrap_or(0));
                return Ok(chain);
            }
        };
        chain.applied += i64::from(conflicts.is_some());
        chain.conflicts += super::count(conflicts.unwrap_or(0));
    }
}

/// A document's link in `base`.
fn base_link(base: Option<&FieldMap>) -> Option<String> {
    base.and_then(|b| field(b, "vehicle_id"))
}

/// Whether a document's local unlink is moot: it was linked (in `base`) to a vehicle that
/// is gone here, and the server links it to another vehicle. The local unlink then only
/// followed that vehicle's removal, and must not count as an edit against the new link.
fn moot_unlink(
    conn: &Connection,
    base: Option<&FieldMap>,
    local: &FieldMap,
    remote: &FieldMap,
) -> Result<bool> {
    let link = |f: &FieldMap| field(f, "vehicle_id");
    let (Some(was), None, Some(now)) = (base_link(base), link(local), link(remote)) else {
        return Ok(false);
    };
    Ok(was != now && !vehicles::exists(conn, &was)?)
}

/// The fields a pulled record's `field_versions` say were set after `base_version` (the
/// version of the copy the local change is based on). Absent, malformed or without a base:
/// none, and the merge compares values alone.
fn set_since(change: &Value, base_version: Option<i64>) -> BTreeSet<String> {
    let (Some(base), Some(versions)) = (base_version, change["field_versions"].as_object()) else {
        return BTreeSet::new();
    };
    versions
        .iter()
        .filter(|(_, v)| v.as_i64().is_some_and(|v| v > base))
        .map(|(k, _)| k.clone())
        .collect()
}

/// `Some(conflicts)` when applied, `None` when not for this store (already held, or an
/// entity this client does not pull).
fn apply_one(
    conn: &Connection,
    keys: &StoreKeys,
    change: &Value,
    winner: Winner,
    reconciling: bool,
) -> Result<Option<u64>> {
    let invalid = || crate::error::Error::invalid("pulled record", "is malformed");
    let (Some(entity_name), Some(id), Some(version)) = (
        change["entity"].as_str(),
        change["record_id"].as_str(),
        change["version"].as_i64(),
    ) else {
        return Err(invalid());
    };
    let Some(entity) = Entity::parse(entity_name) else {
        return Ok(None); // receipts and complaints are push-only from this client
    };
    if uuid::Uuid::parse_str(id).is_err() || !(1..=super::push::MAX_VERSION).contains(&version) {
        return Err(invalid());
    }
    let before = mirror::get(conn, keys, entity, id)?;
    let remote_deleted = change["deleted"].as_bool() == Some(true);
    if let Some(held) = before.as_ref().filter(|m| m.version >= version) {
        // Normally: already held (our own change coming back, or a repeated page). While
        // reconciling, an older copy than ours means the backend lost what we synced.
        if !reconciling || (held.version == version && held.deleted == remote_deleted) {
            return Ok(None);
        }
        if !remote_deleted {
            return reconcile_one(conn, keys, entity, id, held.deleted, change, version).map(Some);
        }
    }
    if remote_deleted {
        // Delete wins over any local edit.
        let had_pending = outbox::pending_for(conn, entity, id)? > 0;
        if had_pending {
            log_delete_won(conn, keys, entity, id)?;
        }
        if entity == Entity::Vehicle {
            // As when the user removes a vehicle here: its documents lose the link, each
            // unlink a change pushed like any other, so the backend (where another device
            // may have made the link) ends unlinked too.
            for document in documents::linked_to(conn, id)? {
                documents::set_link(conn, keys, &document, None)?;
            }
        }
        delete_local(conn, keys, entity, id)?;
        outbox::remove_record(conn, entity, id)?;
        mirror::put(
            conn,
            keys,
            entity,
            id,
            &Mirrored {
                version,
                deleted: true,
                fields: FieldMap::new(),
            },
        )?;
        return Ok(Some(u64::from(had_pending)));
    }
    let mut remote = remote_fields(change).ok_or_else(invalid)?;
    // Only the fields this client knows: a newer server's extra fields are ignored, never
    // pushed back as nulls.
    remote.retain(|k, _| entity.has_field(k));
    let base_version = before.as_ref().filter(|m| !m.deleted).map(|m| m.version);
    let mut base = before.filter(|m| !m.deleted).map(|m| m.fields);
    // A damaged local record is repaired from the server's copy: rewritten whole; its
    // pending changes, made to what can no longer be read, are dropped.
    let mut local_fields = match local(conn, keys, entity, id) {
        Err(Error::Integrity { .. }) => {
            log::warn!("sync: a damaged {entity} is repaired from the backend's copy");
            outbox::remove_record(conn, entity, id)?;
            base = None;
            None
        }
        other => other?,
    };
    let mut relink = Vec::new();
    let mut extra_conflicts = 0u64;
    // A never-synced local record merged into this one (logged as `Merged`).
    let mut merged_into: Option<(String, Option<String>)> = None;
    if local_fields.is_none() {
        if outbox::pending_delete(conn, entity, id)? {
            // Our delete wins; it is pushed next, based on this version.
            let m = Mirrored {
                version,
                deleted: false,
                fields: remote,
            };
            mirror::put(conn, keys, entity, id, &m)?;
            return Ok(Some(1));
        }
        // The same plate (document, profile) created here under another id: merge it
        // into the server's record and drop the local id. A synced record moved to that
        // value here keeps its own instead (the server gave the value to this one).
        let dup = duplicate(conn, keys, entity, id, &remote)?;
        let dup_synced = match &dup {
            Some(dup) if entity != Entity::Profile => is_synced(conn, keys, entity, dup)?,
            _ => false,
        };
        if dup_synced {
            extra_conflicts += revert_unique(conn, keys, entity, dup.as_deref().unwrap_or(""))?;
        } else if let Some(dup) = dup {
            local_fields = local(conn, keys, entity, &dup)?;
            let values = local_fields
                .as_ref()
                .map(|f| Value::Object(to_json(f)).to_string());
            merged_into = Some((dup.clone(), values));
            base = None;
            if entity == Entity::Vehicle {
                relink = documents::linked_to(conn, &dup)?;
            }
            delete_local(conn, keys, entity, &dup)?;
            outbox::remove_record(conn, entity, &dup)?;
        }
    }
    let conflicts = match local_fields {
        None => {
            write(conn, keys, entity, id, &remote)?;
            0
        }
        Some(mut local_fields) => {
            let mut touched = outbox::pending_fields(conn, keys, entity, id)?;
            if entity == Entity::Document
                && moot_unlink(conn, base.as_ref(), &local_fields, &remote)?
            {
                // The unlink only followed the removal of the vehicle it linked to; the
                // server links the document to a live one since: no user edit to weigh.
                local_fields.insert("vehicle_id".into(), base_link(base.as_ref()));
                touched.remove("vehicle_id");
            }
            let set_remotely = set_since(change, base_version);
            let mut merged = merge(
                base.as_ref(),
                &local_fields,
                &remote,
                winner,
                &touched,
                &set_remotely,
            );
            if entity == Entity::Document {
                extra_conflicts += settle_dates(conn, keys, id, &mut merged, &remote)?;
            }
            // The merged value (plate, number) held by another local record: a never-synced
            // one is merged into this record; a synced one keeps its server value.
            if merged_into.is_none() && entity != Entity::Profile {
                if let Some(other) = duplicate(conn, keys, entity, id, &merged.fields)? {
                    if is_synced(conn, keys, entity, &other)? {
                        extra_conflicts += revert_unique(conn, keys, entity, &other)?;
                    } else if local(conn, keys, entity, &other)?.is_some() {
                        let (folded, (docs, values)) =
                            fold_unsynced(conn, keys, entity, &other, &merged.fields, winner)?;
                        log_field_conflicts(conn, keys, entity, id, &folded.conflicts)?;
                        extra_conflicts += folded.conflicts.len() as u64;
                        merged.to_push.extend(folded.to_push);
                        merged.fields = folded.fields;
                        relink = docs;
                        merged_into = Some((other, Some(values)));
                    }
                }
            }
            log_field_conflicts(conn, keys, entity, id, &merged.conflicts)?;
            write(conn, keys, entity, id, &merged.fields)?;
            outbox::replace_upserts(conn, keys, entity, id, merged.to_push)?;
            merged.conflicts.len() as u64
        }
    };
    for doc in relink {
        documents::set_link(conn, keys, &doc, Some(id))?;
    }
    if let Some((away, values)) = &merged_into {
        // Nothing is dropped silently: the log names the record merged away.
        conflicts::log(
            conn,
            keys,
            entity,
            away,
            None,
            values.as_deref(),
            Some(id),
            ConflictResolution::Merged,
        )?;
    }
    let conflicts = conflicts + extra_conflicts;
    // The mirror holds the server's record, except a document's link to a vehicle this
    // store does not have (yet): it holds what was written, so that the next merge does
    // not read the dropped link as a local change and clear it on the server.
    let mut mirrored = remote;
    if entity == Entity::Document {
        let written = local(conn, keys, entity, id)?.and_then(|f| field(&f, "vehicle_id"));
        mirrored.insert("vehicle_id".into(), written);
    }
    let m = Mirrored {
        version,
        deleted: false,
        fields: mirrored,
    };
    mirror::put(conn, keys, entity, id, &m)?;
    Ok(Some(conflicts))
}

#[cfg(test)]
mod tests {
    use super::set_since;
    use serde_json::json;

    #[test]
    fn field_versions_above_the_base_name_the_fields_set_since() {
        let change = json!({"field_versions": {"plate": 1, "nickname": 4, "colour": 3}});
        let names: Vec<String> = set_since(&change, Some(3)).into_iter().collect();
        assert_eq!(names, ["nickname"]);
        assert!(
            set_since(&change, None).is_empty(),
            "no base: values decide"
        );
    }

    #[test]
    fn absent_or_malformed_field_versions_name_nothing() {
        for change in [
            json!({}),
            json!({"field_versions": "nickname"}),
            json!({"field_versions": [4]}),
            json!({"field_versions": {"nickname": "4", "colour": null, "make": 4.5}}),
        ] {
            assert!(set_since(&change, Some(1)).is_empty(), "{change}");
        }
    }
}
