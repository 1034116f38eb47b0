//! Keyed fingerprints of the personal values the user no longer has (a plate changed, a
//! document removed, an old phone number, a nickname replaced), so that the telemetry
//! PII firewall refuses them as it refuses current values (policy P3.1.1c).
//!
//! Only fingerprints are kept: HMAC-SHA256 of the value's folded form (as the firewall
//! matches it) under a random key of this table, each row sealed like every personal row.
//! A row is kept [`RETENTION_DAYS`] days, and at most [`MAX_ROWS`] rows (pruned once
//! [`PRUNE_STEP`] more have come); erasure
//! (`delete_all_user_data`) removes them all with the key. Schema v11.

use super::db::now_millis;
use super::sealed::{take, RowSeal, SealedCell, SealedTable};
use crate::crypto::{Fingerprinter, StoreKeys, FINGERPRINT_LEN};
use crate::error::Result;
use crate::formats::lookalike::fold_lenient;
use crate::model::fields::FieldMap;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use std::collections::HashSet;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// The table's sealed row: a fingerprint entry (JSON) or, in the row `key`, the key.
pub(crate) static TABLE: SealedTable = SealedTable {
    table: "firewall_past",
    entity: crate::error::Entity::PastValue,
    fields: &["value"],
    blind_index: None,
};

/// How long a past value stays refused in telemetry.
pub(crate) const RETENTION_DAYS: i64 = 180;
/// The most fingerprints kept (the oldest go first).
pub(crate) const MAX_ROWS: i64 = 2_000;
/// How far the table may grow past `MAX_ROWS` before it is pruned: the prune sorts the
/// table, so it runs once per `PRUNE_STEP` new rows instead of on every change.
pub(crate) const PRUNE_STEP: i64 = 100;
const KEY_ROW: &str = "key";
const DAY_MS: i64 = 86_400_000;

/// How the firewall matches a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A plate or document number: anywhere in the folded text.
    Code,
    /// A phone number's 10 national digits: anywhere in the text's digits.
    Phone,
    /// A word of a name: a word of the text.
    Word,
    /// A free-text value (nickname, make, model, colour): anywhere in the folded text.
    Text,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Code => "code",
            Kind::Phone => "phone",
            Kind::Word => "word",
            Kind::Text => "text",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Code, Kind::Phone, Kind::Word, Kind::Text]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The folded form of free text: compatibility forms (full width) made plain, then
/// look-alikes, case and separators folded, as the firewall folds an event's text.
pub(crate) fn text_form(value: &str) -> String {
    fold_lenient(&value.nfkc().collect::<String>())
}

/// The words of a name as the firewall matches them: lower-cased, 3 characters or more.
pub(crate) fn name_words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
}

/// The forms of one field's value (by its sync wire name) the firewall matches. E-mail
/// addresses are not kept: the firewall refuses every address. Dates, kinds and links are
/// not personal free text.
fn forms(field: &str, value: &str) -> Vec<(Kind, String)> {
    match field {
        "plate" | "number" | "registration_certificate_number" => {
            vec![(Kind::Code, fold_lenient(value))]
        }
        "phone" => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            (digits.len() >= 10)
                .then(|| (Kind::Phone, digits[digits.len() - 10..].to_string()))
                .into_iter()
                .collect()
        }
        "full_name" => name_words(value).map(|w| (Kind::Word, w)).collect(),
        "nickname" | "make" | "model" | "colour" => {
            let form = text_form(value);
            (form.chars().count() >= 3)
                .then_some((Kind::Text, form))
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    }
}

fn all_forms<'a>(
    fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Vec<(Kind, String)> {
    fields
        .into_iter()
        .filter_map(|(f, v)| v.map(|v| forms(f, v)))
        .flatten()
        .collect()
}

/// A record's fields as (wire name, value) pairs, for [`remember_replaced`].
pub(crate) fn pairs(fields: &FieldMap) -> impl Iterator<Item = (&str, Option<&str>)> {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
}

/// Before a record is deleted: all its values become past values. `read` is the record as
/// read; a damaged one has none to give.
pub(crate) fn forget(
    conn: &Connection,
    keys: &StoreKeys,
    read: Result<Option<FieldMap>>,
) -> Result<()> {
    match read {
        Ok(Some(fields)) => remember_replaced(conn, keys, pairs(&fields), []),
        Ok(None) | Err(crate::error::Error::Integrity { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// [`remember_replaced`] for a record whose fields went from `before` to `after`.
pub(crate) fn remember_changed(
    conn: &Connection,
    keys: &StoreKeys,
    before: &FieldMap,
    after: &FieldMap,
) -> Result<()> {
    remember_replaced(conn, keys, pairs(before), pairs(after))
}

/// Remembers every value of `before` (a record's fields by wire name) that `after` no
/// longer has; `after` empty for a removed record. In the caller's transaction.
pub(crate) fn remember_replaced<'a>(
    conn: &Connection,
    keys: &StoreKeys,
    before: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    after: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<()> {
    let kept: HashSet<(Kind, String)> = all_forms(after).into_iter().collect();
    let gone: HashSet<(Kind, String)> = all_forms(before)
        .into_iter()
        .filter(|f| !kept.contains(f))
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    let fingerprinter = fingerprinter(conn, keys)?;
    let now = now_millis();
    for (kind, mut form) in gone {
        let fp = fingerprinter.fingerprint(kind.as_str(), &form);
        let entry = json!({
            "kind": kind.as_str(),
            "len": form.chars().count(),
            "fp": hex(&fp),
        })
        .to_string();
        zeroize::Zeroize::zeroize(&mut form);
        let id = uuid::Uuid::new_v4().to_string();
        let sealed = RowSeal::new(keys, &TABLE, &id).seal(&[Some(&entry)])?;
        conn.prepare_cached(
            "INSERT INTO firewall_past (id, created_at, sealed) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, now, sealed])?;
    }
    prune(conn, now)
}

/// Drops fingerprints past their retention and the oldest beyond `MAX_ROWS`, once the
/// table holds `PRUNE_STEP` rows more than that (or its oldest row is past retention).
///
/// Runs after every remembered value, so the check reads index entries only: the oldest
/// `created_at` (index `firewall_past_by_created`) and the span of rowids, which bounds the
/// number of rows from above (rows only ever get the next rowid). Only when that bound
/// passes the limit are the rows counted (a scan of the table), and the oldest beyond the
/// cap deleted if they are really too many (through the index, so about `PRUNE_STEP`
/// rows are read).
fn prune(conn: &Connection, now: i64) -> Result<()> {
    const SPAN_AND_OLDEST: &str = "SELECT (SELECT max(rowid) FROM firewall_past)
          - (SELECT rowid FROM firewall_past WHERE id != ?1 ORDER BY rowid LIMIT 1) + 1,
        (SELECT created_at FROM firewall_past WHERE id != ?1 ORDER BY created_at LIMIT 1)";
    const COUNT: &str = "SELECT count(*) FROM firewall_past WHERE id != ?1";
    let cutoff = now - RETENTION_DAYS * DAY_MS;
    let (rows_at_most, oldest): (Option<i64>, Option<i64>) = conn
        .prepare_cached(SPAN_AND_OLDEST)?
        .query_row([KEY_ROW], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if oldest.is_some_and(|t| t < cutoff) {
        conn.prepare_cached("DELETE FROM firewall_past WHERE id != ?1 AND created_at < ?2")?
            .execute(params![KEY_ROW, cutoff])?;
    }
    if rows_at_most.unwrap_or(0) <= MAX_ROWS + PRUNE_STEP {
        return Ok(());
    }
    let rows: i64 = conn
        .prepare_cached(COUNT)?
        .query_row([KEY_ROW], |r| r.get(0))?;
    if rows > MAX_ROWS + PRUNE_STEP {
        // The oldest beyond the cap, through the index: about PRUNE_STEP rows deleted.
        conn.prepare_cached(
            "DELETE FROM firewall_past WHERE rowid IN (
                 SELECT rowid FROM firewall_past WHERE id != ?1 ORDER BY created_at LIMIT ?2)",
        )?
        .execute(params![KEY_ROW, rows - MAX_ROWS])?;
    }
    Ok(())
}

/// The table's key, made on first use.
fn fingerprinter(conn: &Connection, keys: &StoreKeys) -> Result<Fingerprinter> {
    if let Some(f) = stored_fingerprinter(conn, keys)? {
        return Ok(f);
    }
    let (fingerprinter, key) = Fingerprinter::generate()?;
    let key_hex = Zeroizing::new(hex(&key));
    let sealed = RowSeal::new(keys, &TABLE, KEY_ROW).seal(&[Some(key_hex.as_str())])?;
    conn.execute(
        "INSERT INTO firewall_past (id, created_at, sealed) VALUES (?1, ?2, ?3)",
        params![KEY_ROW, now_millis(), sealed],
    )?;
    Ok(fingerprinter)
}

fn stored_fingerprinter(conn: &Connection, keys: &StoreKeys) -> Result<Option<Fingerprinter>> {
    let Some(cell) = conn
        .prepare_cached("SELECT sealed FROM firewall_past WHERE id = ?1")?
        .query_row([KEY_ROW], |r| r.get::<_, SealedCell>(0))
        .optional()?
    else {
        return Ok(None);
    };
    let Some(sealed) = cell.bytes().map(<[u8]>::to_vec) else {
        return open_fingerprinter(keys, cell).map(Some);
    };
    keys.fingerprinter_for(&sealed, || open_fingerprinter(keys, cell))
        .map(Some)
}

/// Opens the sealed key row.
fn open_fingerprinter(keys: &StoreKeys, cell: SealedCell) -> Result<Fingerprinter> {
    let seal = RowSeal::new(keys, &TABLE, KEY_ROW);
    let key_hex =
        Zeroizing::new(take(&mut seal.open(cell)?, 0).ok_or_else(|| seal.integrity_error())?);
    let key = Zeroizing::new(unhex(&key_hex).ok_or_else(|| seal.integrity_error())?);
    Fingerprinter::from_key(&key)
}

/// The fingerprints the firewall refuses, with their key.
pub(crate) struct PastValues {
    /// `None` while no value was ever remembered.
    pub fingerprinter: Option<Fingerprinter>,
    /// (kind, length in characters of the folded form, fingerprint).
    pub entries: Vec<(Kind, usize, [u8; FINGERPRINT_LEN])>,
}

/// Every fingerprint kept (a damaged row fails the read: the firewall then fails closed).
pub(crate) fn load(conn: &Connection, keys: &StoreKeys) -> Result<PastValues> {
    let Some(fingerprinter) = stored_fingerprinter(conn, keys)? else {
        return Ok(PastValues {
            fingerprinter: None,
            entries: Vec::new(),
        });
    };
    let entries = TABLE.open_rows(
        conn,
        keys,
        "SELECT id, sealed FROM firewall_past WHERE id != ?1",
        [KEY_ROW],
        |seal, json| {
            let v: Value = seal.json(&json)?;
            let kind = v["kind"].as_str().and_then(Kind::parse);
            let len = v["len"].as_u64().and_then(|n| usize::try_from(n).ok());
            let fp = v["fp"]
                .as_str()
                .and_then(unhex)
                .filter(|b| b.len() == FINGERPRINT_LEN);
            let (Some(kind), Some(len), Some(fp)) = (kind, len, fp) else {
                return Err(seal.integrity_error());
            };
            let mut bytes = [0u8; FINGERPRINT_LEN];
            bytes.copy_from_slice(&fp);
            Ok((kind, len, bytes))
        },
    )?;
    Ok(PastValues {
        fingerprinter: Some(fingerprinter),
        entries,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_with(rows: i64, now: i64) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("migrations/011_firewall_past.sql"))
            .unwrap();
        conn.execute_batch(include_str!("migrations/014_firewall_past_by_created.sql"))
            .unwrap();
        conn.execute("INSERT INTO firewall_past VALUES (?1, 0, x'00')", [KEY_ROW])
            .unwrap();
        for i in 0..rows {
            conn.execute(
                "INSERT INTO firewall_past VALUES (?1, ?2, x'00')",
                params![format!("row{i}"), now - rows + i],
            )
            .unwrap();
        }
        conn
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row(
            "SELECT count(*) FROM firewall_past WHERE id != 'key'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn the_table_is_pruned_to_the_newest_once_a_step_past_the_cap() {
        let now = now_millis();
        let conn = table_with(MAX_ROWS + PRUNE_STEP, now);
        prune(&conn, now).unwrap();
        assert_eq!(count(&conn), MAX_ROWS + PRUNE_STEP, "within the step: kept");
        conn.execute(
            "INSERT INTO firewall_past VALUES ('newest', ?1, x'00')",
            [now],
        )
        .unwrap();
        prune(&conn, now).unwrap();
        assert_eq!(count(&conn), MAX_ROWS);
        let oldest: String = conn
            .query_row(
                "SELECT id FROM firewall_past WHERE id != 'key' ORDER BY created_at LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(oldest, format!("row{}", PRUNE_STEP + 1), "the oldest went");
        let key_kept: i64 = conn
            .query_row(
                "SELECT count(*) FROM firewall_past WHERE id = 'key'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(key_kept, 1, "the table's key stays");
    }

    /// Full-table-scan steps made so far by the cached statement `sql`.
    fn scan_steps(conn: &Connection, sql: &str) -> i32 {
        conn.prepare_cached(sql)
            .unwrap()
            .get_status(rusqlite::StatementStatus::FullscanStep)
    }

    #[test]
    fn the_check_after_each_value_scans_nothing_below_the_cap() {
        let now = now_millis();
        let conn = table_with(MAX_ROWS, now);
        for _ in 0..3 {
            prune(&conn, now).unwrap();
        }
        assert_eq!(count(&conn), MAX_ROWS);
        // The statements `prune` prepares, by their text in this file.
        let source = include_str!("past_values.rs");
        let span = source.split("SPAN_AND_OLDEST: &str = \"").nth(1).unwrap();
        let span = span.split("\";").next().unwrap();
        assert!(span.contains("max(rowid)"), "{span}");
        // Each check steps past the key row to the first fingerprint (in rowid order and in
        // `created_at` order): two steps, whatever the size of the table.
        let steps = scan_steps(&conn, span);
        assert!(
            steps <= 3 * 2,
            "{steps} scan steps for 3 checks of {MAX_ROWS} rows"
        );
        let counted = "SELECT count(*) FROM firewall_past WHERE id != ?1";
        assert_eq!(scan_steps(&conn, counted), 0, "no count below the cap");
    }

    #[test]
    fn a_rowid_span_wider_than_the_rows_is_counted_and_nothing_is_pruned() {
        let now = now_millis();
        let conn = table_with(10, now);
        conn.execute(
            "INSERT INTO firewall_past (rowid, id, created_at, sealed)
             VALUES (?1, 'far', ?2, x'00')",
            params![10 * (MAX_ROWS + PRUNE_STEP), now],
        )
        .unwrap();
        prune(&conn, now).unwrap();
        assert_eq!(count(&conn), 11, "11 rows are under the cap: none pruned");
    }

    #[test]
    fn a_row_past_its_retention_goes_even_below_the_cap() {
        let now = now_millis();
        let conn = table_with(10, now);
        conn.execute(
            "INSERT INTO firewall_past VALUES ('stale', ?1, x'00')",
            [now - RETENTION_DAYS * DAY_MS - 1],
        )
        .unwrap();
        prune(&conn, now).unwrap();
        assert_eq!(count(&conn), 10);
    }

    #[test]
    fn forms_fold_codes_and_text_and_keep_phone_digits_and_name_words() {
        assert_eq!(
            forms("plate", "123 авс 02"),
            vec![(Kind::Code, "123ABC02".into())]
        );
        assert_eq!(
            forms("phone", "+7 701 234 56 78"),
            vec![(Kind::Phone, "7012345678".into())]
        );
        assert_eq!(
            forms("full_name", "Aigerim Bekova"),
            vec![
                (Kind::Word, "aigerim".into()),
                (Kind::Word, "bekova".into())
            ]
        );
        assert_eq!(
            forms("nickname", "Ｗork car"),
            vec![(Kind::Text, "WORKCAR".into())]
        );
        assert!(
            forms("nickname", "ab").is_empty(),
            "too short to match safely"
        );
        assert!(forms("email", "a@b.kz").is_empty());
        assert!(forms("issued_on", "2020-01-01").is_empty());
        assert_eq!(unhex(&hex(&[0, 7, 255])), Some(vec![0, 7, 255]));
        assert_eq!(unhex("abc"), None);
    }
}
