//! The personal channel's storage: accounts and their bearer tokens, records and
//! tombstones, the per-account change log, idempotent push, paged pull with opaque
//! account-bound cursors, and account erasure.

use std::collections::BTreeMap;

use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{json, Map, Value};

use crate::store::Store;
use crate::validate::{Op, PushedChange, Rejection, ValidChange};

/// A record or tombstone of an account as the server holds it, see
/// [`ReferenceServer::records`](crate::ReferenceServer::records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRecord {
    /// Entity kind, e.g. `vehicle` (see [`SYNC_ENTITY_FIELDS`](crate::SYNC_ENTITY_FIELDS)).
    pub entity: String,
    /// The SDK's record id (lower-case hyphenated UUID).
    pub record_id: String,
    /// Current version: 1 at creation, bumped by every applied change.
    pub version: u64,
    /// Whether this is a tombstone.
    pub deleted: bool,
    /// Every field of the entity (`None`: unset or cleared); empty for a tombstone.
    pub fields: BTreeMap<String, Option<String>>,
    /// For each field, the version whose change last set it to a new value (a field is
    /// new at the record's creation); empty for a tombstone and for records written
    /// before the server kept these. A client's merge reads a field as changed by others
    /// when its version is above the one the client based its own change on, even if the
    /// value went back to the one it knew.
    pub field_versions: BTreeMap<String, u64>,
}

/// Result of one pushed change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Applied {
        version: i64,
    },
    /// Applied, with fields the server set otherwise than sent (a document's link to a
    /// vehicle that is not live is dropped): the client takes these values.
    Corrected {
        version: i64,
        fields: Value,
    },
    Duplicate {
        version: i64,
    },
    Conflict {
        version: i64,
    },
    Exists {
        existing_record_id: String,
        version: i64,
    },
    /// `version`: the tombstone's; `None` if the server has no such record at all.
    Gone {
        version: Option<i64>,
    },
    Rejected(Rejection),
}

impl Outcome {
    /// The wire form of the result for `change_id`.
    pub(crate) fn to_json(&self, change_id: &str) -> Value {
        match self {
            Outcome::Applied { version } => {
                json!({"change_id": change_id, "status": "applied", "version": version})
            }
            Outcome::Corrected { version, fields } => {
                json!({"change_id": change_id, "status": "applied", "version": version,
                       "fields": fields})
            }
            Outcome::Duplicate { version } => {
                json!({"change_id": change_id, "status": "duplicate", "version": version})
            }
            Outcome::Conflict { version } => {
                json!({"change_id": change_id, "status": "conflict", "version": version})
            }
            Outcome::Exists {
                existing_record_id,
                version,
            } => json!({"change_id": change_id, "status": "exists",
                        "existing_record_id": existing_record_id, "version": version}),
            Outcome::Gone { version: Some(v) } => {
                json!({"change_id": change_id, "status": "gone", "version": v})
            }
            Outcome::Gone { version: None } => json!({"change_id": change_id, "status": "gone"}),
            Outcome::Rejected(r) => json!({"change_id": change_id, "status": "rejected",
                                           "reason": r.reason, "message": r.message}),
        }
    }
}

/// Why a pull cursor is refused.
#[derive(Debug)]
pub(crate) enum PullError {
    /// Not a cursor this server issued for this account (400).
    Invalid,
    /// Issued for this account, but the log it points into is gone (410).
    Expired,
    /// The account was erased since the client last pulled (410 `account_erased`).
    Erased(Erasure),
    Storage(rusqlite::Error),
}

impl From<rusqlite::Error> for PullError {
    fn from(e: rusqlite::Error) -> Self {
        PullError::Storage(e)
    }
}

/// One page of a pull.
#[derive(Debug)]
pub(crate) struct PullPage {
    pub changes: Vec<ServerRecord>,
    pub cursor: String,
    pub has_more: bool,
    /// The dataset's generation id (`meta.generation`).
    pub generation: String,
    /// How many times the account was erased (`Erasure::count`).
    pub account_erasures: i64,
}

/// The erasure fact the backend keeps for an account (never its data): how many times it
/// was erased, and when last, so that every device learns it at its next sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Erasure {
    pub count: i64,
    pub last_at_ms: Option<i64>,
    /// The cursor epoch the last erasure started: older cursors predate it.
    pub epoch: Option<i64>,
}

impl Erasure {
    /// Whether a client that has seen `known` erasures, or pulls with a cursor of
    /// `cursor_epoch`, missed one.
    pub(crate) fn missed_by(&self, known: Option<i64>, cursor_epoch: Option<i64>) -> bool {
        match known {
            Some(known) => known < self.count,
            None => matches!((cursor_epoch, self.epoch), (Some(c), Some(e)) if c < e),
        }
    }
}

/// The personal channel's tables, in the store's file.
const SCHEMA: &str = "
-- Personal channel. An account: the epoch is embedded in pull cursors (bumping it
-- expires them), last_seq is the sequence number of its latest change-log entry.
-- erasures, erased_epoch, erased_at_ms: the erasure fact (how many times the account was
-- erased, the cursor epoch the last erasure started, when), kept so that every device of
-- the account learns of it; never any of the erased data.
CREATE TABLE IF NOT EXISTS accounts (
    id           TEXT PRIMARY KEY NOT NULL,
    epoch        INTEGER NOT NULL DEFAULT 0,
    last_seq     INTEGER NOT NULL DEFAULT 0,
    erasures     INTEGER NOT NULL DEFAULT 0,
    erased_epoch INTEGER,
    erased_at_ms INTEGER
);
-- Bearer tokens, as SHA-256 of the token (never the token itself).
CREATE TABLE IF NOT EXISTS tokens (
    token_sha256 BLOB PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id)
);
CREATE INDEX IF NOT EXISTS tokens_by_account ON tokens (account_id);
-- Current state of every record and tombstone. fields: JSON object of every field of the
-- entity (null when unset), '{}' for a tombstone. unique_key: the value that must be
-- unique per account and entity among live records (vehicle plate, document kind and
-- number, the profile), NULL otherwise. last_seq: sequence number of its latest change.
-- field_versions (added by migration below): JSON object, field -> the version that last
-- set it to a new value; NULL for rows written before it was kept.
CREATE TABLE IF NOT EXISTS sync_records (
    account_id TEXT NOT NULL,
    entity     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    fields     TEXT NOT NULL,
    unique_key TEXT,
    last_seq   INTEGER NOT NULL,
    last_sync TEXT,
    PRIMARY KEY (account_id, entity, record_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS sync_records_unique
    ON sync_records (account_id, entity, unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS sync_records_by_seq ON sync_records (account_id, last_seq);
-- The change log: one entry per applied change.
CREATE TABLE IF NOT EXISTS sync_log (
    account_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    change_id  TEXT NOT NULL,
    entity     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    PRIMARY KEY (account_id, seq)
);
-- Change ids applied, with the version they produced (idempotency of pushes).
CREATE TABLE IF NOT EXISTS sync_change_ids (
    account_id TEXT NOT NULL,
    change_id  TEXT NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (account_id, change_id)
);
-- Server secrets (the key that binds pull cursors to their account).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
";

/// Creates the personal channel's tables in `store`'s file (columns added since the first
/// files were written are added to those) and returns the key of cursor tags.
pub(crate) fn open(store: &Store) -> rusqlite::Result<hmac::Key> {
    let conn = store.lock();
    conn.execute_batch(SCHEMA)?;
    // Columns that came after the first files were written: added to those. last_sync:
    // the client's sync run that made a record's latest change; the erasure fact.
    for (table, column, declaration) in [
        ("sync_records", "last_sync", "TEXT"),
        ("sync_records", "field_versions", "TEXT"),
        ("accounts", "erasures", "INTEGER NOT NULL DEFAULT 0"),
        ("accounts", "erased_epoch", "INTEGER"),
        ("accounts", "erased_at_ms", "INTEGER"),
    ] {
        let present: bool = conn.query_row(
            "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !present {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {declaration}"
            ))?;
        }
    }
    let key = cursor_key(&conn)?;
    generation(&conn)?;
    Ok(key)
}

/// The dataset's generation id: a random UUID made with the database, replaced when the
/// operator declares the data restored (`ReferenceServer::start_new_generation`,
/// `--new-generation`). A wiped backend starts with a new one. Clients that see it change
/// reconcile (docs/protocol.md, "Reconciliation").
pub(crate) fn generation(conn: &Connection) -> rusqlite::Result<String> {
    const NAME: &str = "generation";
    let read = |conn: &Connection| {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [NAME], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()
    };
    if let Some(bytes) = read(conn)? {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    let fresh = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
        params![NAME, fresh.as_bytes()],
    )?;
    Ok(read(conn)?.map_or(fresh, |b| String::from_utf8_lossy(&b).into_owned()))
}

/// Replaces the generation id (after a restore from a backup).
pub(crate) fn new_generation(conn: &Connection) -> rusqlite::Result<String> {
    let fresh = uuid::Uuid::new_v4().to_string();
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?1)",
        [fresh.as_bytes()],
    )?;
    Ok(fresh)
}

/// SHA-256 of a bearer token: the only form in which tokens are stored.
fn token_hash(token: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// The key of cursor tags, created at random with the database and kept in `meta`.
pub(crate) fn cursor_key(conn: &Connection) -> rusqlite::Result<hmac::Key> {
    const NAME: &str = "cursor_key";
    let read = |conn: &Connection| {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [NAME], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()
    };
    let bytes = match read(conn)? {
        Some(b) => b,
        None => {
            let mut fresh = [0u8; 32];
            SystemRandom::new().fill(&mut fresh).map_err(|_| {
                rusqlite::Error::ToSqlConversionFailure(Box::new(std::io::Error::other(
                    "the system random generator failed",
                )))
            })?;
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                params![NAME, fresh.as_slice()],
            )?;
            // Another process may have won the race: use what is stored.
            read(conn)?.unwrap_or_else(|| fresh.to_vec())
        }
    };
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

const CURSOR_TAG_LEN: usize = 16;
const CURSOR_LEN: usize = 8 + 8 + CURSOR_TAG_LEN;

fn cursor_tag(key: &hmac::Key, account_id: &str, epoch: i64, seq: i64) -> [u8; CURSOR_TAG_LEN] {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"aparking-pull-cursor-v1\0");
    ctx.update(account_id.as_bytes());
    ctx.update(b"\0");
    ctx.update(&epoch.to_be_bytes());
    ctx.update(&seq.to_be_bytes());
    let mut tag = [0u8; CURSOR_TAG_LEN];
    tag.copy_from_slice(&ctx.sign().as_ref()[..CURSOR_TAG_LEN]);
    tag
}

/// A cursor: lower-case hex of epoch (8 bytes), sequence number (8 bytes) and a 16-byte
/// HMAC tag binding both to the account.
fn encode_cursor(key: &hmac::Key, account_id: &str, epoch: i64, seq: i64) -> String {
    let mut bytes = Vec::with_capacity(CURSOR_LEN);
    bytes.extend_from_slice(&epoch.to_be_bytes());
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&cursor_tag(key, account_id, epoch, seq));
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(epoch, seq)` of a cursor issued for `account_id`; `None` if it is not one.
fn decode_cursor(key: &hmac::Key, account_id: &str, cursor: &str) -> Option<(i64, i64)> {
    if cursor.len() != CURSOR_LEN * 2 || !cursor.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; CURSOR_LEN];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&cursor[2 * i..2 * i + 2], 16).ok()?;
    }
    let epoch = i64::from_be_bytes(bytes[..8].try_into().ok()?);
    let seq = i64::from_be_bytes(bytes[8..16].try_into().ok()?);
    let expected = cursor_tag(key, account_id, epoch, seq);
    // Constant-time comparison.
    let diff = expected
        .iter()
        .zip(&bytes[16..])
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    (diff == 0).then_some((epoch, seq))
}

/// The value that must be unique among the live records of an account and entity.
fn unique_key(entity: &str, fields: &Map<String, Value>) -> Option<String> {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match entity {
        // One profile per account.
        "profile" => Some(String::new()),
        "vehicle" => text("plate").map(str::to_owned),
        "document" => match (text("kind"), text("number")) {
            (Some(kind), Some(number)) => Some(format!("{kind}\u{1f}{number}")),
            _ => None,
        },
        _ => None,
    }
}

fn parse_fields(text: &str) -> BTreeMap<String, Option<String>> {
    serde_json::from_str(text).unwrap_or_else(|e| {
        log::error!("stored record fields are not a JSON object of strings: {e}");
        BTreeMap::new()
    })
}

/// The stored field versions (`NULL` for rows written before the server kept them).
fn parse_field_versions(text: Option<&str>) -> BTreeMap<String, u64> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// Reads the columns `entity, record_id, version, deleted, fields, field_versions`.
fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ServerRecord> {
    let fields: String = r.get(4)?;
    let field_versions: Option<String> = r.get(5)?;
    Ok(ServerRecord {
        entity: r.get(0)?,
        record_id: r.get(1)?,
        version: r.get::<_, i64>(2)?.max(0) as u64,
        deleted: r.get(3)?,
        fields: parse_fields(&fields),
        field_versions: parse_field_versions(field_versions.as_deref()),
    })
}

/// The field versions after an upsert that wrote `new` at `version` over `old` (`None`
/// for a new record): a field whose value changed gets `version`. A field of a row written
/// before versions were kept, and unchanged since, stays without one: clients compare its
/// value instead.
fn next_field_versions(
    old: Option<(&Map<String, Value>, &str)>,
    new: &Map<String, Value>,
    version: i64,
) -> String {
    let mut versions = old
        .map(|(_, stored)| parse_field_versions(Some(stored)))
        .unwrap_or_default();
    let version = version.max(0) as u64;
    for (name, value) in new {
        let same = old.is_some_and(|(fields, _)| fields.get(name) == Some(value));
        if !same {
            versions.insert(name.clone(), version);
        }
    }
    versions.retain(|name, _| new.contains_key(name));
    serde_json::to_string(&versions).unwrap_or_else(|_| "{}".to_owned())
}

/// The new state of a record written by an applied change.
struct Write<'a> {
    account_id: &'a str,
    change_id: &'a str,
    sync_id: Option<&'a str>,
    change: &'a ValidChange,
    version: i64,
    deleted: bool,
    fields: String,
    field_versions: String,
    unique_key: Option<String>,
    now_ms: i64,
}

impl Store {
    /// A new account reached with `token` (which is moved to it if it was registered).
    pub(crate) fn add_account(&self, token: &str) -> rusqlite::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("INSERT INTO accounts (id) VALUES (?1)", [&id])?;
        tx.execute(
            "INSERT OR REPLACE INTO tokens (token_sha256, account_id) VALUES (?1, ?2)",
            params![token_hash(token), id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Maps `token` to `account_id`, creating the account if it does not exist.
    pub(crate) fn add_token(&self, account_id: &str, token: &str) -> rusqlite::Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO accounts (id) VALUES (?1)",
            [account_id],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO tokens (token_sha256, account_id) VALUES (?1, ?2)",
            params![token_hash(token), account_id],
        )?;
        tx.commit()
    }

    /// Forgets `token`; whether it was registered.
    pub(crate) fn revoke_token(&self, token: &str) -> rusqlite::Result<bool> {
        Ok(self.lock().execute(
            "DELETE FROM tokens WHERE token_sha256 = ?1",
            [token_hash(token)],
        )? > 0)
    }

    /// The account `token` belongs to, if it is registered.
    pub(crate) fn account_for_token(&self, token: &str) -> rusqlite::Result<Option<String>> {
        self.lock()
            .prepare_cached("SELECT account_id FROM tokens WHERE token_sha256 = ?1")?
            .query_row([token_hash(token)], |r| r.get(0))
            .optional()
    }

    /// Makes every cursor issued so far for the account answer 410.
    pub(crate) fn expire_cursors(&self, account_id: &str) -> rusqlite::Result<()> {
        self.lock().execute(
            "UPDATE accounts SET epoch = epoch + 1 WHERE id = ?1",
            [account_id],
        )?;
        Ok(())
    }

    /// Deletes every record, tombstone, log entry and applied change id of the account
    /// and expires its cursors; the account and its tokens stay. Returns the number of
    /// records and tombstones deleted.
    pub(crate) fn erase_account(&self, account_id: &str, now_ms: i64) -> rusqlite::Result<u64> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let deleted = tx.execute(
            "DELETE FROM sync_records WHERE account_id = ?1",
            [account_id],
        )?;
        tx.execute("DELETE FROM sync_log WHERE account_id = ?1", [account_id])?;
        tx.execute(
            "DELETE FROM sync_change_ids WHERE account_id = ?1",
            [account_id],
        )?;
        // The erasure fact stays (how many, when, from which cursor epoch), not the data.
        tx.execute(
            "UPDATE accounts SET epoch = epoch + 1, erasures = erasures + 1,
                    erased_epoch = epoch + 1, erased_at_ms = ?2
              WHERE id = ?1",
            params![account_id, now_ms],
        )?;
        tx.commit()?;
        // secure_delete zeroed the freed pages; the write-ahead log still holds the old
        // page images until it is checkpointed and truncated.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            log::warn!("checkpointing after an erasure failed: {e}");
        }
        Ok(deleted as u64)
    }

    /// The account's erasure fact.
    pub(crate) fn erasure(&self, account_id: &str) -> rusqlite::Result<Erasure> {
        erasure_of(&self.lock(), account_id)
    }

    /// Every record and tombstone of the account, in the order of their latest change.
    /// Declares the data restored: a new generation id, so that clients reconcile.
    pub(crate) fn start_new_generation(&self) -> rusqlite::Result<String> {
        new_generation(&self.lock())
    }

    pub(crate) fn records(&self, account_id: &str) -> rusqlite::Result<Vec<ServerRecord>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT entity, record_id, version, deleted, fields, field_versions FROM sync_records
              WHERE account_id = ?1 ORDER BY last_seq",
        )?;
        let rows = stmt.query_map([account_id], record_from_row)?;
        rows.collect()
    }

    /// Applies pushed changes in order, each with the record of its change id, all in one
    /// transaction. A storage error applies none of them (a retry applies them once).
    pub(crate) fn push(
        &self,
        account_id: &str,
        changes: &[PushedChange],
        now_ms: i64,
    ) -> rusqlite::Result<Vec<Outcome>> {
        let mut conn = self.lock();
        // One transaction for the batch: one commit (one write of the log) instead of one
        // per change. A failure applies none of them; the client sends the batch again and
        // the change ids keep each change applied once.
        let tx = conn.transaction()?;
        let out = changes
            .iter()
            .enumerate()
            .map(|(i, c)| apply(&tx, account_id, i, c, now_ms))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(out)
    }

    /// Up to `limit` records changed after `cursor` (from the start if `None`), each once
    /// at its current version, in the order of their latest change. With `sync_id`, records
    /// whose latest change that sync run pushed are left out (the client holds them from
    /// the push answers: no echo); the cursor moves past them all the same.
    ///
    /// A client that missed an erasure of the account (`known_erasures` below the count,
    /// or, from a client that does not send it, a cursor from before the erasure) gets
    /// `Erased`: its data must go, never come back as new records.
    pub(crate) fn pull(
        &self,
        account_id: &str,
        cursor: Option<&str>,
        limit: usize,
        sync_id: Option<&str>,
        known_erasures: Option<i64>,
        cursor_key: &hmac::Key,
    ) -> Result<PullPage, PullError> {
        let conn = self.lock();
        let erasure = erasure_of(&conn, account_id)?;
        let cursor_epoch = cursor
            .and_then(|c| decode_cursor(cursor_key, account_id, c))
            .map(|(epoch, _)| epoch);
        if erasure.missed_by(known_erasures, cursor_epoch) {
            return Err(PullError::Erased(erasure));
        }
        let (epoch, last_seq): (i64, i64) = conn
            .query_row(
                "SELECT epoch, last_seq FROM accounts WHERE id = ?1",
                [account_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or((0, 0));
        let from = match cursor {
            None => 0,
            Some(c) => {
                let (cursor_epoch, seq) =
                    decode_cursor(cursor_key, account_id, c).ok_or(PullError::Invalid)?;
                // Ours, but from before an expiry or erasure, or past the log (restored
                // from an older copy): the log it points into is gone.
                if cursor_epoch != epoch || seq > last_seq || seq < 0 {
                    return Err(PullError::Expired);
                }
                seq
            }
        };
        let mut stmt = conn.prepare_cached(
            "SELECT entity, record_id, version, deleted, fields, field_versions, last_seq
               FROM sync_records
              WHERE account_id = ?1 AND last_seq > ?2
                AND (?4 IS NULL OR last_sync IS NOT ?4)
              ORDER BY last_seq LIMIT ?3",
        )?;
        let mut next = from;
        let mut changes = Vec::new();
        let mut rows = stmt.query(params![account_id, from, limit as i64 + 1, sync_id])?;
        let mut has_more = false;
        while let Some(r) = rows.next()? {
            if changes.len() == limit {
                has_more = true;
                break;
            }
            changes.push(record_from_row(r)?);
            next = r.get(6)?;
        }
        if !has_more {
            // Every record up to the end of the log was looked at, the left-out ones too.
            next = last_seq;
        }
        drop(rows);
        drop(stmt);
        Ok(PullPage {
            changes,
            cursor: encode_cursor(cursor_key, account_id, epoch, next),
            has_more,
            generation: generation(&conn)?,
            account_erasures: erasure.count,
        })
    }
}

fn erasure_of(conn: &Connection, account_id: &str) -> rusqlite::Result<Erasure> {
    Ok(conn
        .prepare_cached("SELECT erasures, erased_at_ms, erased_epoch FROM accounts WHERE id = ?1")?
        .query_row([account_id], |r| {
            Ok(Erasure {
                count: r.get(0)?,
                last_at_ms: r.get(1)?,
                epoch: r.get(2)?,
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// Applies change number `index` of a push inside `tx`.
fn apply(
    tx: &Transaction<'_>,
    account_id: &str,
    index: usize,
    pushed: &PushedChange,
    now_ms: i64,
) -> rusqlite::Result<Outcome> {
    let seen: Option<i64> = tx
        .prepare_cached(
            "SELECT version FROM sync_change_ids WHERE account_id = ?1 AND change_id = ?2",
        )?
        .query_row(params![account_id, pushed.change_id], |r| r.get(0))
        .optional()?;
    if let Some(version) = seen {
        return Ok(Outcome::Duplicate { version });
    }
    let c = match &pushed.change {
        Ok(c) => c,
        Err(r) => return Ok(Outcome::Rejected(r.clone())),
    };
    let row: Option<(i64, bool, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT version, deleted, fields, field_versions FROM sync_records
              WHERE account_id = ?1 AND entity = ?2 AND record_id = ?3",
        )?
        .query_row(params![account_id, c.entity, c.record_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let (current, stored_versions) = match row {
        Some((version, deleted, fields, versions)) => (Some((version, deleted, fields)), versions),
        None => (None, None),
    };
    let path = format!("changes[{index}]");
    let immutable = |what: &str| {
        Outcome::Rejected(Rejection {
            reason: "immutable",
            message: format!(
                "{path}.{what}: {} records are create-only (no patch, no delete, no second create)",
                c.entity
            ),
        })
    };
    let save = |version: i64,
                deleted: bool,
                fields: String,
                field_versions: String,
                unique_key: Option<String>| {
        write(
            tx,
            &Write {
                account_id,
                change_id: &pushed.change_id,
                sync_id: pushed.sync_id.as_deref(),
                change: c,
                version,
                deleted,
                fields,
                field_versions,
                unique_key,
                now_ms,
            },
        )
    };

    match c.op {
        Op::Delete => {
            if c.create_only {
                return Ok(immutable("op"));
            }
            match current {
                None => Ok(Outcome::Gone { version: None }),
                Some((version, true, _)) => Ok(Outcome::Gone {
                    version: Some(version),
                }),
                // Delete wins: applied whatever the base version.
                Some((version, false, _)) => {
                    save(version + 1, true, "{}".to_owned(), "{}".to_owned(), None)?;
                    Ok(Outcome::Applied {
                        version: version + 1,
                    })
                }
            }
        }
        Op::Upsert => {
            if c.create_only && c.base_version.is_some() {
                return Ok(immutable("base_version"));
            }
            if c.create_only {
                if let Some((version, false, stored)) = &current {
                    // The same record sent again (a client re-sending what a restored
                    // backend may lack): a duplicate. Anything else is a second create.
                    let mut sent = Map::new();
                    for name in c.entity_fields {
                        sent.insert((*name).to_owned(), Value::Null);
                    }
                    for (name, value) in &c.fields {
                        sent.insert(
                            (*name).to_owned(),
                            value.clone().map_or(Value::Null, Value::String),
                        );
                    }
                    if serde_json::from_str::<Value>(stored).ok() == Some(Value::Object(sent)) {
                        return Ok(Outcome::Duplicate { version: *version });
                    }
                }
                if current.is_some() {
                    return Ok(immutable("record_id"));
                }
            }
            let (mut fields, version, old) = match (c.base_version, current) {
                (_, Some((version, true, _))) => {
                    return Ok(Outcome::Gone {
                        version: Some(version),
                    })
                }
                (None, Some((version, false, _))) => return Ok(Outcome::Conflict { version }),
                (Some(_), None) => return Ok(Outcome::Gone { version: None }),
                (Some(base), Some((version, false, _))) if base != version => {
                    return Ok(Outcome::Conflict { version })
                }
                (Some(_), Some((version, false, stored))) => {
                    let fields = match serde_json::from_str::<Value>(&stored) {
                        Ok(Value::Object(m)) => m,
                        _ => Map::new(),
                    };
                    (fields.clone(), version + 1, Some(fields))
                }
                (None, None) => (Map::new(), 1, None),
            };
            for name in c.entity_fields {
                fields.entry(*name).or_insert(Value::Null);
            }
            for (name, value) in &c.fields {
                fields.insert(
                    (*name).to_owned(),
                    value.clone().map_or(Value::Null, Value::String),
                );
            }
            // A document never links to a deleted vehicle: such a link is dropped, and the
            // answer says so. A vehicle the server does not know yet is left linked: the
            // device that made the link pushes that vehicle, or relinks the document after
            // merging it into another, in the same sync.
            let mut corrected = None;
            if c.entity == "document" {
                if let Some(vehicle_id) = fields.get("vehicle_id").and_then(Value::as_str) {
                    if vehicle_is_deleted(tx, account_id, vehicle_id)? {
                        fields.insert("vehicle_id".to_owned(), Value::Null);
                        corrected = Some(json!({"vehicle_id": null}));
                    }
                }
            }
            let key = unique_key(c.entity, &fields);
            if let Some(key) = &key {
                let holder: Option<(String, i64)> = tx
                    .prepare_cached(
                        "SELECT record_id, version FROM sync_records
                          WHERE account_id = ?1 AND entity = ?2 AND unique_key = ?3
                            AND record_id <> ?4",
                    )?
                    .query_row(params![account_id, c.entity, key, c.record_id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                if let Some((existing_record_id, version)) = holder {
                    return Ok(Outcome::Exists {
                        existing_record_id,
                        version,
                    });
                }
            }
            let old_versions = stored_versions.unwrap_or_else(|| "{}".to_owned());
            let field_versions = next_field_versions(
                old.as_ref().map(|o| (o, old_versions.as_str())),
                &fields,
                version,
            );
            save(
                version,
                false,
                Value::Object(fields).to_string(),
                field_versions,
                key,
            )?;
            Ok(match corrected {
                Some(fields) => Outcome::Corrected { version, fields },
                None => Outcome::Applied { version },
            })
        }
    }
}

/// Whether the account's vehicle `vehicle_id` was deleted (a tombstone).
fn vehicle_is_deleted(
    tx: &Transaction<'_>,
    account_id: &str,
    vehicle_id: &str,
) -> rusqlite::Result<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM sync_records WHERE account_id = ?1 AND entity = 'vehicle'
               AND record_id = ?2 AND deleted = 1",
        )?
        .query_row(params![account_id, vehicle_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Writes the record's new state, appends it to the change log under the account's next
/// sequence number and records the change id.
fn write(tx: &Transaction<'_>, w: &Write<'_>) -> rusqlite::Result<()> {
    let seq: i64 = tx
        .prepare_cached(
            "UPDATE accounts SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
        )?
        .query_row([w.account_id], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO sync_records (account_id, entity, record_id, version, deleted, fields,
                                   unique_key, last_seq, last_sync, field_versions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (account_id, entity, record_id) DO UPDATE SET
             version = excluded.version, deleted = excluded.deleted, fields = excluded.fields,
             unique_key = excluded.unique_key, last_seq = excluded.last_seq,
             last_sync = excluded.last_sync, field_versions = excluded.field_versions",
    )?
    .execute(params![
        w.account_id,
        w.change.entity,
        w.change.record_id,
        w.version,
        w.deleted,
        w.fields,
        w.unique_key,
        seq,
        w.sync_id,
        w.field_versions
    ])?;
    tx.prepare_cached(
        "INSERT INTO sync_log (account_id, seq, change_id, entity, record_id, version, deleted,
                               at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        w.account_id,
        seq,
        w.change_id,
        w.change.entity,
        w.change.record_id,
        w.version,
        w.deleted,
        w.now_ms
    ])?;
    tx.prepare_cached(
        "INSERT INTO sync_change_ids (account_id, change_id, version) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![w.account_id, w.change_id, w.version])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_bound_to_their_account() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 32]);
        let c = encode_cursor(&key, "a", 3, 42);
        assert_eq!(c.len(), 64);
        assert_eq!(decode_cursor(&key, "a", &c), Some((3, 42)));
        assert_eq!(decode_cursor(&key, "b", &c), None);
        let mut tampered = c.clone().into_bytes();
        tampered[31] = if tampered[31] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(decode_cursor(&key, "a", &tampered), None);
        assert_eq!(decode_cursor(&key, "a", "zz"), None);
        assert_eq!(decode_cursor(&key, "a", &"é".repeat(32)), None);
    }

    #[test]
    fn unique_keys() {
        let m = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            unique_key("vehicle", &m(json!({"plate": "123ABC02"}))),
            Some("123ABC02".into())
        );
        assert_eq!(unique_key("vehicle", &m(json!({"plate": null}))), None);
        assert_eq!(
            unique_key("document", &m(json!({"kind": "passport", "number": null}))),
            None
        );
        assert_eq!(unique_key("profile", &Map::new()), Some(String::new()));
        assert_eq!(unique_key("complaint", &Map::new()), None);
    }
}
