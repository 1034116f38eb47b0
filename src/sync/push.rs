//! Push: the outbox to the backend (`POST /v1/sync/push`), batch by batch, with predicted
//! base versions, and the results applied in one local transaction per batch.

use super::mirror::{self, Mirrored};
use super::outbox::{self, Entity, Op};
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::model::fields::{field, from_json_value, to_json, FieldMap};
use rusqlite::Connection;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// At most this many changes per push request (protocol limit).
pub(crate) const MAX_CHANGES: u32 = 500;
/// The highest record version the client accepts from the backend.
pub(crate) const MAX_VERSION: i64 = 1 << 40;
/// At most this many bytes of change JSON per push request (protocol limit, with margin).
const MAX_BYTES: usize = 240 * 1024;

/// What a pushed change is about: a personal record (changed through the outbox, merged
/// by version) or a create-only record pushed from its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pushed {
    /// A profile, vehicle or document.
    Record(Entity),
    /// A consent receipt (create-only).
    ConsentReceipt,
    /// A connection complaint (create-only).
    Complaint,
}

impl Pushed {
    /// Its entity name on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Pushed::Record(entity) => entity.as_str(),
            Pushed::ConsentReceipt => "consent_receipt",
            Pushed::Complaint => "complaint",
        }
    }
}

/// One change as it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub change_id: String,
    pub entity: Pushed,
    pub record_id: String,
    pub op: Op,
    pub base_version: Option<i64>,
    pub fields: FieldMap,
}

impl Planned {
    /// The change as the push request carries it.
    pub fn to_wire(&self) -> Value {
        let mut change = json!({
            "change_id": self.change_id, "entity": self.entity.as_str(),
            "record_id": self.record_id, "op": self.op.as_str(),
            "base_version": self.base_version,
        });
        if self.op == Op::Upsert {
            change["fields"] = Value::Object(to_json(&self.fields));
        }
        change
    }
}

/// The next batch: pending receipts and complaints, then the outbox.
pub(crate) fn plan(
    conn: &Connection,
    keys: &StoreKeys,
    in_flight: &HashSet<(Pushed, String)>,
) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    let mut bytes = 0;
    let flying =
        |entity: Pushed, record_id: &str| in_flight.contains(&(entity, record_id.to_string()));
    // Receipts and complaints first (create-only), under the same byte limit.
    for planned in super::records::pending(conn, keys, MAX_CHANGES)? {
        if flying(planned.entity, &planned.record_id) {
            continue;
        }
        bytes += planned.to_wire().to_string().len();
        if !out.is_empty() && bytes > MAX_BYTES {
            return Ok(out);
        }
        out.push(planned);
    }
    // Then the outbox: at most one change per record per batch, based on the mirror's
    // version. A record's next change waits for the next batch, so an unapplied change
    // (conflict, exists) never makes the ones after it carry a wrong base version; a
    // record with a change in a batch still in flight waits the same way.
    let mut seen: HashSet<(Entity, String)> = HashSet::new();
    let left = MAX_CHANGES.saturating_sub(out.len() as u32);
    let pending = outbox::pending(conn, keys, left, |entity, record_id| {
        flying(Pushed::Record(entity), record_id) || !seen.insert((entity, record_id.to_string()))
    })?;
    for p in pending {
        let base = mirror::get(conn, keys, p.entity, &p.record_id)?
            .filter(|m| !m.deleted)
            .map(|m| m.version);
        let planned = Planned {
            change_id: p.change_id,
            entity: Pushed::Record(p.entity),
            record_id: p.record_id,
            op: p.op,
            base_version: base,
            fields: p.fields,
        };
        bytes += planned.to_wire().to_string().len();
        if !out.is_empty() && bytes > MAX_BYTES {
            break;
        }
        out.push(planned);
    }
    Ok(out)
}

/// What a push batch did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Applied {
    pub pushed: i64,
    /// Changes held for the pull (`conflict`, `exists`): not final.
    pub conflicts: i64,
    /// Conflicts settled here (`gone`: delete wins).
    pub resolved: i64,
    pub rejected: i64,
    /// A `conflict` named a version older than the one this store synced: the backend's
    /// past changed (restored from a backup).
    pub went_back: bool,
}

/// Writes the fields the backend corrected in an applied change into the local record (no
/// new outbox entry: the server already has them) and logs the local values they
/// replace. A field that a later pending change of the record sets again keeps its local
/// value: that change is newer than the correction and goes out after it. Returns how many
/// fields changed. Called once the applied change has left the outbox.
fn take_corrections(
    conn: &Connection,
    keys: &StoreKeys,
    entity: Entity,
    record_id: &str,
    corrected: &FieldMap,
) -> Result<i64> {
    let Some(mut local) = super::pull::local(conn, keys, entity, record_id)? else {
        return Ok(0);
    };
    let set_later = outbox::pending_fields(conn, keys, entity, record_id)?;
    let mut changed = 0;
    for (name, server) in corrected {
        if set_later.contains(name) {
            continue;
        }
        let here = field(&local, name);
        if here == *server {
            continue;
        }
        super::conflicts::log(
            conn,
            keys,
            entity,
            record_id,
            Some(name),
            here.as_deref(),
            server.as_deref(),
            super::conflicts::ConflictResolution::ServerWon,
        )?;
        local.insert(name.clone(), server.clone());
        changed += 1;
    }
    if changed > 0 {
        super::pull::write(conn, keys, entity, record_id, &local)?;
    }
    Ok(changed)
}

/// Applies the server's per-change results to the outbox, the mirror and (for `gone`)
/// the local data, in the caller's transaction.
pub(crate) fn apply_results(
    conn: &Connection,
    keys: &StoreKeys,
    plan: &[Planned],
    answer: &Value,
) -> Result<Applied> {
    let results: HashMap<&str, &Value> = answer["results"]
        .as_array()
        .ok_or(Error::Network {
            reason: "the backend's push answer has no results".into(),
            retry_after_ms: None,
        })?
        .iter()
        .filter_map(|r| Some((r["change_id"].as_str()?, r)))
        .collect();
    let mut applied = Applied::default();
    for change in plan {
        let Some(result) = results.get(change.change_id.as_str()) else {
            continue;
        };
        let Pushed::Record(entity) = change.entity else {
            match result["status"].as_str() {
                // Delivered (or already there: a create whose answer was lost).
                Some("applied") | Some("duplicate") | Some("conflict") => {
                    super::records::mark_sent(conn, change.entity, &change.record_id)?;
                    applied.pushed += 1;
                }
                // Invalid stays invalid: dropped from the queue (kept locally), logged.
                Some("rejected") => {
                    log::warn!(
                        "sync: a {} was rejected by the backend",
                        change.entity.as_str()
                    );
                    super::records::mark_sent(conn, change.entity, &change.record_id)?;
                    applied.rejected += 1;
                }
                _ => {}
            }
            continue;
        };
        let id = change.record_id.as_str();
        // A version outside 1..=2^40 is a hostile or broken answer: ignored.
        let version = result["version"]
            .as_i64()
            .filter(|v| (1..=MAX_VERSION).contains(v));
        match result["status"].as_str() {
            Some("applied") | Some("duplicate") => {
                let version = version.ok_or(Error::Network {
                    reason: "the backend's push answer lacks a version".into(),
                    retry_after_ms: None,
                })?;
                outbox::remove(conn, &change.change_id)?;
                let mirrored = if change.op == Op::Delete {
                    Mirrored {
                        version,
                        deleted: true,
                        fields: FieldMap::new(),
                    }
                } else {
                    // A change planned without a base version had no live mirror (one
                    // change per record per batch, so none appeared since): nothing to read.
                    let mut fields = match change.base_version {
                        None => FieldMap::new(),
                        Some(_) => mirror::get(conn, keys, entity, id)?
                            .filter(|m| !m.deleted)
                            .map(|m| m.fields)
                            .unwrap_or_default(),
                    };
                    fields.extend(change.fields.clone());
                    // Fields the backend set otherwise (a link to a vehicle that is not
                    // live any more): taken here too, the local value logged.
                    if let Some(corrected) = result["fields"].as_object() {
                        // Only fields this change sent, as strings or null.
                        let corrected: FieldMap = corrected
                            .iter()
                            .filter(|(name, _)| change.fields.contains_key(*name))
                            .filter_map(|(name, value)| {
                                Some((name.clone(), from_json_value(value)?))
                            })
                            .collect();
                        applied.resolved += take_corrections(conn, keys, entity, id, &corrected)?;
                        fields.extend(corrected);
                    }
                    Mirrored {
                        version,
                        deleted: false,
                        fields,
                    }
                };
                mirror::put(conn, keys, entity, id, &mirrored)?;
                applied.pushed += 1;
            }
            // Another device changed the record, or holds the same plate: the change stays
            // until a pull merges the records.
            Some("conflict") => {
                if version.is_some_and(|v| change.base_version.is_some_and(|base| v < base)) {
                    applied.went_back = true;
                }
                applied.conflicts += 1;
            }
            // Another record holds the plate or number (uniqueness). A synced record keeps
            // the value the server has for it (logged); a new one waits for the pull to
            // merge it with the holder. Either way its pending edits go out as one change,
            // so a later correction is not stuck behind this one.
            Some("exists") => {
                let synced = mirror::get(conn, keys, entity, id)?.is_some_and(|m| !m.deleted);
                if synced {
                    // All of it or nothing: the change then waits for the pull.
                    conn.execute_batch("SAVEPOINT kept_value")?;
                    match super::pull::revert_unique(conn, keys, entity, id) {
                        Ok(logged) => {
                            conn.execute_batch("RELEASE kept_value")?;
                            applied.resolved += super::count(logged);
                        }
                        Err(e) => {
                            log::warn!("sync: a {entity} could not keep its synced value ({e})");
                            conn.execute_batch("ROLLBACK TO kept_value; RELEASE kept_value")?;
                        }
                    }
                } else if outbox::coalesce_upserts(conn, keys, entity, id, &[])? {
                    // Never on the backend and removed here since: nothing to send.
                    outbox::remove_record(conn, entity, id)?;
                }
                applied.conflicts += 1;
            }
            // Deleted on the server: delete wins, locally too.
            Some("gone") => {
                // Deleted on another device: delete wins. What this device had goes to
                // the conflict log, so the user can see it.
                super::pull::log_delete_won(conn, keys, entity, id)?;
                super::pull::delete_local(conn, keys, entity, id)?;
                outbox::remove_record(conn, entity, id)?;
                let mirrored = Mirrored {
                    version: version.unwrap_or(0),
                    deleted: true,
                    fields: FieldMap::new(),
                };
                mirror::put(conn, keys, entity, id, &mirrored)?;
                applied.resolved += 1;
            }
            Some("rejected") => {
                log::warn!(
                    "sync: a {entity} change was rejected ({})",
                    result["reason"]
                        .as_str()
                        .unwrap_or("no reason")
                        .chars()
                        .take(40)
                        .collect::<String>()
                );
                outbox::remove(conn, &change.change_id)?;
                applied.rejected += 1;
            }
            _ => log::warn!("sync: an unknown push result was ignored"),
        }
    }
    Ok(applied)
}
