//! The persisted side of telemetry: the sealed event queue, network samples kept for
//! complaints, deletion requests, pseudonymous installation ids and counters.

use crate::consent::handle::DeletionReason;
use crate::consent::{Purpose, PurposeSet};
use crate::crypto::StoreKeys;
use crate::error::Result;
use crate::store::db::{now_millis, time_of};
use crate::store::sealed::{take, RowSeal, SealedCell, SealedTable};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Pending telemetry events; sealed: the event's wire JSON.
pub(crate) static EVENTS: SealedTable = SealedTable {
    table: "telemetry_events",
    entity: crate::error::Entity::TelemetryEvent,
    fields: &["event"],
    blind_index: None,
};

/// Recent network-quality samples kept for connection complaints; sealed: sample JSON.
pub(crate) static NETWORK_SAMPLES: SealedTable = SealedTable {
    table: "network_samples",
    entity: crate::error::Entity::NetworkSample,
    fields: &["sample"],
    blind_index: None,
};

/// Support complaints (personal data); sealed: complaint JSON.
pub(crate) static COMPLAINTS: SealedTable = SealedTable {
    table: "complaints",
    entity: crate::error::Entity::Complaint,
    fields: &["complaint"],
    blind_index: None,
};

/// How many network samples are kept for complaints.
pub(crate) const NETWORK_SAMPLES_KEPT: u32 = 200;
/// Installation ids older than this many days are forgotten once reported.
const INSTALLATIONS_KEPT_DAYS: i64 = 400;

#[derive(Serialize)]
struct DeletionRequest<'a> {
    id: String,
    installation_ids: Vec<String>,
    purposes: Vec<&'a str>,
    reason: DeletionReason,
    created_at: String,
}

/// RFC 3339 time in UTC, second precision.
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    OffsetDateTime::from(time_of(ms))
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// After a consent change: purges the telemetry of the `revoked` purposes, queues a
/// deletion request naming every installation id used (when something was revoked), and
/// replaces the installation id. Runs in the consent change's transaction.
pub(crate) fn on_consent_change(
    conn: &Connection,
    revoked: PurposeSet,
    reason: DeletionReason,
) -> Result<()> {
    if !revoked.is_empty() {
        let purged = purge(conn, revoked)?;
        add_counter(conn, "events_purged", purged)?;
        queue_deletion_request(conn, revoked, reason)?;
    }
    rotate_installation(conn)?;
    Ok(())
}

/// Deletes pending events (and, for connection diagnostics, the kept samples) of `purposes`.
fn purge(conn: &Connection, purposes: PurposeSet) -> Result<u64> {
    let names: Vec<&str> = purposes.to_vec().into_iter().map(Purpose::as_str).collect();
    let marks = vec!["?"; names.len()].join(", ");
    let purged = conn.execute(
        &format!("DELETE FROM telemetry_events WHERE purpose IN ({marks})"),
        params_from_iter(names),
    )?;
    if purposes.contains(Purpose::ConnectionDiagnostics) {
        conn.execute("DELETE FROM network_samples", [])?;
    }
    Ok(purged as u64)
}

/// Most installation ids one deletion request names (the protocol's limit, docs/openapi.yaml).
pub(crate) const MAX_IDS_PER_DELETION_REQUEST: usize = 1000;

fn queue_deletion_request(
    conn: &Connection,
    purposes: PurposeSet,
    reason: DeletionReason,
) -> Result<()> {
    // Ids an earlier request already named for every one of these purposes are left out:
    // they were replaced at that consent change and collected nothing since.
    let mask = i64::from(purposes.0);
    let installation_ids: Vec<String> = conn
        .prepare_cached(
            "SELECT id FROM telemetry_installations WHERE (deleted_purposes & ?1) != ?1
             ORDER BY started_at, rowid",
        )?
        .query_map([mask], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if installation_ids.is_empty() {
        return Ok(()); // nothing was collected under an id not covered yet
    }
    let now = now_millis();
    for ids in installation_ids.chunks(MAX_IDS_PER_DELETION_REQUEST) {
        let request = DeletionRequest {
            id: uuid::Uuid::new_v4().to_string(),
            installation_ids: ids.to_vec(),
            purposes: purposes.to_vec().into_iter().map(Purpose::as_str).collect(),
            reason,
            created_at: rfc3339_millis(now),
        };
        conn.prepare_cached(
            "INSERT INTO telemetry_deletion_requests (id, created_at, body) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![request.id, now, serde_json::to_string(&request)?])?;
    }
    conn.execute(
        "UPDATE telemetry_installations SET reported = 1, deleted_purposes = deleted_purposes | ?1",
        [mask],
    )?;
    conn.execute(
        "DELETE FROM telemetry_installations WHERE ended_at IS NOT NULL AND reported = 1 AND ended_at < ?1",
        [now - INSTALLATIONS_KEPT_DAYS * 86_400_000],
    )?;
    Ok(())
}

/// Ends the current installation id and starts a new one.
fn rotate_installation(conn: &Connection) -> Result<String> {
    let now = now_millis();
    conn.execute(
        "UPDATE telemetry_installations SET ended_at = ?1 WHERE ended_at IS NULL",
        [now],
    )?;
    let id = uuid::Uuid::new_v4().to_string();
    conn.prepare_cached("INSERT INTO telemetry_installations (id, started_at) VALUES (?1, ?2)")?
        .execute(params![id, now])?;
    Ok(id)
}

/// The current installation id, replaced when older than `lifetime_ms`.
pub(crate) fn current_installation(conn: &Connection, lifetime_ms: i64) -> Result<String> {
    let current: Option<(String, i64)> = conn
        .prepare_cached(
            "SELECT id, started_at FROM telemetry_installations WHERE ended_at IS NULL",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match current {
        Some((id, started)) if now_millis() - started < lifetime_ms => Ok(id),
        _ => rotate_installation(conn),
    }
}

/// Every installation id ever used and still remembered (for tests and diagnostics).
pub(crate) fn installation_ids(conn: &Connection) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT id FROM telemetry_installations ORDER BY started_at, rowid")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Adds `by` to a persisted counter.
pub(crate) fn add_counter(conn: &Connection, name: &str, by: u64) -> Result<()> {
    if by > 0 {
        conn.prepare_cached(
            "INSERT INTO telemetry_counters (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        )?
        .execute(params![name, by as i64])?;
    }
    Ok(())
}

/// A persisted counter's value.
pub(crate) fn counter(conn: &Connection, name: &str) -> Result<u64> {
    Ok(conn
        .prepare_cached("SELECT value FROM telemetry_counters WHERE name = ?1")?
        .query_row([name], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0) as u64)
}

/// Appends an event to the queue, sealed.
pub(crate) fn push_event(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    purpose: Purpose,
    json: &str,
) -> Result<()> {
    let sealed = RowSeal::new(keys, &EVENTS, id).seal(&[Some(json)])?;
    conn.prepare_cached(
        "INSERT INTO telemetry_events (id, purpose, created_at, size, sealed) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, purpose.as_str(), now_millis(), json.len() as i64, sealed])?;
    Ok(())
}

/// Drops the oldest events until the queue holds at most `max_events` and `max_bytes`;
/// returns how many were dropped. Deletion requests live elsewhere and are never dropped.
pub(crate) fn enforce_limits(conn: &Connection, max_events: u64, max_bytes: u64) -> Result<u64> {
    let (count, bytes): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(size), 0) FROM telemetry_events",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (count, bytes) = (count as u64, bytes as u64);
    if count <= max_events && bytes <= max_bytes {
        return Ok(0);
    }
    // Walk from the oldest, dropping until both limits hold.
    let mut to_drop = 0u64;
    let (mut c, mut b) = (count, bytes);
    {
        let mut stmt = conn.prepare_cached("SELECT size FROM telemetry_events ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while c > max_events || b > max_bytes {
            let Some(row) = rows.next()? else { break };
            let size: i64 = row.get(0)?;
            c -= 1;
            b = b.saturating_sub(size as u64);
            to_drop += 1;
        }
    }
    conn.execute(
        "DELETE FROM telemetry_events WHERE seq IN (SELECT seq FROM telemetry_events ORDER BY seq LIMIT ?1)",
        [to_drop as i64],
    )?;
    Ok(to_drop)
}

/// Number of pending events, of one purpose or all.
pub(crate) fn pending_events(conn: &Connection, purpose: Option<Purpose>) -> Result<u64> {
    let n: i64 = match purpose {
        Some(p) => conn.query_row(
            "SELECT count(*) FROM telemetry_events WHERE purpose = ?1",
            [p.as_str()],
            |r| r.get(0),
        )?,
        None => conn.query_row("SELECT count(*) FROM telemetry_events", [], |r| r.get(0))?,
    };
    Ok(n as u64)
}

/// Number of pending deletion requests.
pub(crate) fn pending_deletion_requests(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM telemetry_deletion_requests",
        [],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// The oldest events, as `(seq, id, wire JSON)`, up to `max_events` and `max_bytes` of JSON
/// (at least one event when any is pending).
pub(crate) fn oldest_events(
    conn: &Connection,
    keys: &StoreKeys,
    max_events: u32,
    max_bytes: u64,
) -> Result<Vec<(i64, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, size, sealed, purpose FROM telemetry_events ORDER BY seq LIMIT ?1",
    )?;
    let mut rows = stmt.query([max_events])?;
    let mut out = Vec::new();
    let mut bytes = 0u64;
    while let Some(row) = rows.next()? {
        let (seq, id, size, sealed, purpose): (i64, String, i64, SealedCell, String) = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        );
        if !out.is_empty() && bytes + size as u64 > max_bytes {
            break;
        }
        bytes += size as u64;
        let seal = RowSeal::new(keys, &EVENTS, &id);
        // The clear purpose (what a withdrawal purges by) must be the sealed event's: an
        // event whose purpose column was edited escaped its purge, and is never sent.
        let opened = seal
            .open(sealed)
            .ok()
            .and_then(|mut f| take(&mut f, 0))
            .filter(|json| {
                serde_json::from_str::<serde_json::Value>(json)
                    .is_ok_and(|v| v["purpose"].as_str() == Some(purpose.as_str()))
            });
        match opened {
            Some(json) => out.push((seq, id, json)),
            // A damaged event cannot be sent; it is dropped with the batch's ids.
            None => {
                log::warn!("telemetry: a damaged queued event was dropped unsent");
                out.push((seq, id, String::new()))
            }
        }
    }
    Ok(out)
}

/// Removes sent (or rejected) events by seq.
pub(crate) fn remove_events(conn: &Connection, seqs: &[i64]) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM telemetry_events WHERE seq = ?1")?;
    for seq in seqs {
        stmt.execute([seq])?;
    }
    Ok(())
}

/// Pending deletion requests as `(id, body JSON)`, oldest first.
pub(crate) fn deletion_requests(conn: &Connection) -> Result<Vec<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, body FROM telemetry_deletion_requests ORDER BY created_at, rowid",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Removes delivered deletion requests.
pub(crate) fn remove_deletion_requests(conn: &Connection, ids: &[String]) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM telemetry_deletion_requests WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

/// Keeps a network sample for complaints (sealed), trimming to the last
/// [`NETWORK_SAMPLES_KEPT`].
pub(crate) fn keep_network_sample(
    conn: &Connection,
    keys: &StoreKeys,
    id: &str,
    recorded_at: i64,
    json: &str,
) -> Result<()> {
    let sealed = RowSeal::new(keys, &NETWORK_SAMPLES, id).seal(&[Some(json)])?;
    conn.prepare_cached(
        "INSERT INTO network_samples (id, recorded_at, sealed) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id, recorded_at, sealed])?;
    conn.prepare_cached(
        "DELETE FROM network_samples WHERE seq NOT IN (SELECT seq FROM network_samples ORDER BY seq DESC LIMIT ?1)",
    )?
    .execute([NETWORK_SAMPLES_KEPT])?;
    Ok(())
}

/// The kept network samples recorded at or after `since_ms`, oldest first, as JSON.
pub(crate) fn network_samples_since(
    conn: &Connection,
    keys: &StoreKeys,
    since_ms: i64,
) -> Result<Vec<String>> {
    NETWORK_SAMPLES.open_rows(
        conn,
        keys,
        "SELECT id, sealed FROM network_samples WHERE recorded_at >= ?1 ORDER BY seq",
        [since_ms],
        |_, json| Ok(json),
    )
}
