//! Decoding and validation of request bodies.
//!
//! Every error names the field by its path (`events[3].kind`) and says what is expected;
//! no message ever repeats a submitted value.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::config::Limits;
use crate::error::ApiError;
use crate::protocol::{
    CREATE_ONLY_ENTITIES, DELETION_REASONS, EVENT_KINDS, PURPOSES, SCHEMA_VERSION,
    SYNC_ENTITY_FIELDS,
};

/// An event that passed validation, in the form it is stored.
#[derive(Debug, Clone)]
pub(crate) struct ValidEvent {
    pub id: String,
    pub kind: &'static str,
    pub purpose: &'static str,
    pub installation_id: String,
    pub recorded_at: String,
    pub recorded_at_ms: i64,
    pub data: String,
}

/// A deletion request that passed validation. `purposes` empty = every purpose.
#[derive(Debug, Clone)]
pub(crate) struct ValidDeletion {
    pub id: String,
    pub installation_ids: Vec<String>,
    pub purposes: Vec<&'static str>,
    pub reason: &'static str,
    pub created_at_ms: i64,
}

/// Operation of a pushed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Create (`base_version` null) or field patch.
    Upsert,
    /// Delete, whatever the current version.
    Delete,
}

/// A pushed change that passed validation.
#[derive(Debug, Clone)]
pub(crate) struct ValidChange {
    pub entity: &'static str,
    pub record_id: String,
    pub op: Op,
    pub base_version: Option<i64>,
    /// Fields of an upsert, by name: `None` clears the field.
    pub fields: Vec<(&'static str, Option<String>)>,
    /// The entity's field names (all of them).
    pub entity_fields: &'static [&'static str],
    pub create_only: bool,
}

/// Why a pushed change is answered `rejected`: a reason code and a field-path message
/// that never repeats a submitted value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    pub reason: &'static str,
    pub message: String,
}

impl From<ApiError> for Rejection {
    fn from(e: ApiError) -> Self {
        Rejection {
            reason: e.code,
            message: e.message,
        }
    }
}

/// One change of a push body: its id, the sync run that pushed it (the body's optional
/// `sync_id`), and the change or why it is rejected.
#[derive(Debug, Clone)]
pub(crate) struct PushedChange {
    pub change_id: String,
    pub sync_id: Option<String>,
    pub change: Result<ValidChange, Rejection>,
}

/// Decompresses a gzip body, reading at most `max + 1` bytes of output so that a small
/// body that inflates to gigabytes costs no more than `max` bytes of memory.
pub(crate) fn gunzip(raw: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(raw)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| ApiError::bad_request("invalid_gzip", "the body is not valid gzip data"))?;
    if out.len() > max {
        return Err(ApiError::too_large(
            "decompressed_body_too_large",
            format!("the decompressed body exceeds {max} bytes"),
        ));
    }
    Ok(out)
}

fn parse_json(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "invalid_body",
            "the body must be a JSON object",
        )),
        // Position only: serde_json's own text could quote part of the input.
        Err(e) => Err(ApiError::bad_request(
            "invalid_json",
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )),
    }
}

fn invalid(path: &str, expected: &str) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{path}: {expected}"))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn field<'a>(obj: &'a Map<String, Value>, path: &str, name: &str) -> Result<&'a Value, ApiError> {
    match obj.get(name) {
        Some(Value::Null) | None => Err(invalid(&join(path, name), "required")),
        Some(v) => Ok(v),
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| invalid(path, "must be a JSON object"))
}

fn array<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, ApiError> {
    v.as_array()
        .ok_or_else(|| invalid(path, "must be an array"))
}

/// `items` (the array at `path`) when it has at most `max` elements; a longer one is a
/// `413 code`, "`path`: at most `max` `what`".
fn at_most<'a>(
    items: &'a Vec<Value>,
    path: &str,
    max: usize,
    code: &'static str,
    what: &str,
) -> Result<&'a Vec<Value>, ApiError> {
    if items.len() > max {
        return Err(ApiError::too_large(
            code,
            format!("{path}: at most {max} {what}"),
        ));
    }
    Ok(items)
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, ApiError> {
    v.as_str().ok_or_else(|| invalid(path, "must be a string"))
}

fn uuid(v: &Value, path: &str) -> Result<String, ApiError> {
    let s = string(v, path)?;
    // Hyphenated form only (36 characters); stored lower-case so ids compare exactly.
    if s.len() != 36 {
        return Err(invalid(path, "must be a hyphenated UUID"));
    }
    uuid::Uuid::try_parse(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| invalid(path, "must be a hyphenated UUID"))
}

/// Parses an RFC 3339 timestamp; returns it normalised to UTC and in Unix milliseconds.
fn timestamp(v: &Value, path: &str) -> Result<(String, i64), ApiError> {
    let s = string(v, path)?;
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| invalid(path, "must be an RFC 3339 timestamp"))?
        .to_offset(time::UtcOffset::UTC);
    let text = t
        .format(&Rfc3339)
        .map_err(|_| invalid(path, "must be an RFC 3339 timestamp"))?;
    Ok((text, (t.unix_timestamp_nanos() / 1_000_000) as i64))
}

fn one_of(
    v: &Value,
    path: &str,
    allowed: &[&'static str],
    code: &'static str,
    what: &str,
) -> Result<&'static str, ApiError> {
    let s = string(v, path)?;
    allowed.iter().copied().find(|a| *a == s).ok_or_else(|| {
        ApiError::bad_request(
            code,
            format!(
                "{path}: unknown {what} (expected one of {})",
                allowed.join(", ")
            ),
        )
    })
}

fn schema_version(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match field(obj, "", "schema_version")?.as_u64() {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "unsupported_schema_version",
            format!("schema_version: this server accepts {SCHEMA_VERSION}"),
        )),
        None => Err(invalid("schema_version", "must be an integer")),
    }
}

/// Validates a telemetry batch (already decompressed). All or nothing: one bad event
/// rejects the batch.
pub(crate) fn events_body(body: &[u8], limits: &Limits) -> Result<Vec<ValidEvent>, ApiError> {
    let top = parse_json(body)?;
    schema_version(&top)?;
    timestamp(field(&top, "", "sent_at")?, "sent_at")?;
    let events = at_most(
        array(field(&top, "", "events")?, "events")?,
        "events",
        limits.max_events_per_batch,
        "too_many_events",
        "events per batch",
    )?;
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let path = format!("events[{i}]");
        let e = object(e, &path)?;
        let id = uuid(field(e, &path, "id")?, &join(&path, "id"))?;
        let kind = one_of(
            field(e, &path, "kind")?,
            &join(&path, "kind"),
            &EVENT_KINDS,
            "unknown_kind",
            "kind",
        )?;
        let purpose = one_of(
            field(e, &path, "purpose")?,
            &join(&path, "purpose"),
            &PURPOSES,
            "unknown_purpose",
            "purpose",
        )?;
        let installation_id = uuid(
            field(e, &path, "installation_id")?,
            &join(&path, "installation_id"),
        )?;
        let (recorded_at, recorded_at_ms) =
            timestamp(field(e, &path, "recorded_at")?, &join(&path, "recorded_at"))?;
        let data = object(field(e, &path, "data")?, &join(&path, "data"))?;
        out.push(ValidEvent {
            id,
            kind,
            purpose,
            installation_id,
            recorded_at,
            recorded_at_ms,
            data: Value::Object(data.clone()).to_string(),
        });
    }
    Ok(out)
}

/// Validates a body of deletion requests (already decompressed).
pub(crate) fn deletion_body(body: &[u8], limits: &Limits) -> Result<Vec<ValidDeletion>, ApiError> {
    let top = parse_json(body)?;
    schema_version(&top)?;
    let requests = at_most(
        array(field(&top, "", "requests")?, "requests")?,
        "requests",
        limits.max_deletion_requests_per_batch,
        "too_many_deletion_requests",
        "deletion requests per body",
    )?;
    let mut out = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let path = format!("requests[{i}]");
        let r = object(r, &path)?;
        let id = uuid(field(r, &path, "id")?, &join(&path, "id"))?;

        let ids_path = join(&path, "installation_ids");
        let ids = at_most(
            array(field(r, &path, "installation_ids")?, &ids_path)?,
            &ids_path,
            limits.max_installation_ids_per_request,
            "too_many_installation_ids",
            "installation ids per request",
        )?;
        if ids.is_empty() {
            return Err(invalid(&ids_path, "must list at least one installation id"));
        }
        let mut installation_ids = Vec::with_capacity(ids.len());
        for (j, v) in ids.iter().enumerate() {
            let inst = uuid(v, &format!("{ids_path}[{j}]"))?;
            if !installation_ids.contains(&inst) {
                installation_ids.push(inst);
            }
        }

        let purposes_path = join(&path, "purposes");
        let mut purposes = Vec::new();
        // Absent, null or empty: every purpose.
        if let Some(v) = r.get("purposes").filter(|v| !v.is_null()) {
            for (j, p) in array(v, &purposes_path)?.iter().enumerate() {
                let p = one_of(
                    p,
                    &format!("{purposes_path}[{j}]"),
                    &PURPOSES,
                    "unknown_purpose",
                    "purpose",
                )?;
                if !purposes.contains(&p) {
                    purposes.push(p);
                }
            }
        }

        let reason = one_of(
            field(r, &path, "reason")?,
            &join(&path, "reason"),
            &DELETION_REASONS,
            "unknown_reason",
            "reason",
        )?;
        let (_, created_at_ms) =
            timestamp(field(r, &path, "created_at")?, &join(&path, "created_at"))?;
        out.push(ValidDeletion {
            id,
            installation_ids,
            purposes,
            reason,
            created_at_ms,
        });
    }
    Ok(out)
}

/// Validates a push body (already decompressed).
///
/// The envelope (`schema_version`, `client_id`, `changes`, each change's `change_id`) must
/// be valid or the whole body is refused (400). Past that, a change that is invalid on its
/// own (unknown entity or op, unknown field name, a value that is not a string or null,
/// ...) is kept as a [`Rejection`] and answered `rejected`, so that one bad change does not
/// block the others.
pub(crate) fn push_body(body: &[u8], limits: &Limits) -> Result<ValidPush, ApiError> {
    let top = parse_json(body)?;
    schema_version(&top)?;
    uuid(field(&top, "", "client_id")?, "client_id")?;
    // Optional: the account erasures the client has seen (as in a pull).
    let account_erasures = match top.get("account_erasures") {
        None | Some(Value::Null) => None,
        Some(v) => Some(erasure_count(v.as_i64())?),
    };
    // Optional: the client's id for this sync run, so its pulls leave these changes out.
    let sync_id = match top.get("sync_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(uuid(v, "sync_id")?),
    };
    let changes = at_most(
        array(field(&top, "", "changes")?, "changes")?,
        "changes",
        limits.max_changes_per_push,
        "too_many_changes",
        "changes per push",
    )?;
    let mut out = Vec::with_capacity(changes.len());
    for (i, c) in changes.iter().enumerate() {
        let path = format!("changes[{i}]");
        let c = object(c, &path)?;
        let change_id = uuid(field(c, &path, "change_id")?, &join(&path, "change_id"))?;
        out.push(PushedChange {
            change_id,
            sync_id: sync_id.clone(),
            change: change(c, &path).map_err(Rejection::from),
        });
    }
    Ok(ValidPush {
        changes: out,
        account_erasures,
    })
}

/// A valid push body.
#[derive(Debug)]
pub(crate) struct ValidPush {
    pub changes: Vec<PushedChange>,
    /// As in [`PullQuery::account_erasures`].
    pub account_erasures: Option<i64>,
}

fn change(c: &Map<String, Value>, path: &str) -> Result<ValidChange, ApiError> {
    let entity_path = join(path, "entity");
    let entity_name = string(field(c, path, "entity")?, &entity_path)?;
    let Some((entity, entity_fields)) = SYNC_ENTITY_FIELDS
        .iter()
        .copied()
        .find(|(e, _)| *e == entity_name)
    else {
        let names: Vec<&str> = SYNC_ENTITY_FIELDS.iter().map(|(e, _)| *e).collect();
        return Err(ApiError::bad_request(
            "unknown_entity",
            format!(
                "{entity_path}: unknown entity (expected one of {})",
                names.join(", ")
            ),
        ));
    };
    let record_id = uuid(field(c, path, "record_id")?, &join(path, "record_id"))?;
    let op = match one_of(
        field(c, path, "op")?,
        &join(path, "op"),
        &["upsert", "delete"],
        "unknown_op",
        "op",
    )? {
        "upsert" => Op::Upsert,
        _ => Op::Delete,
    };
    let version_path = join(path, "base_version");
    let base_version = match c.get("base_version") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 => Some(n),
            _ => return Err(invalid(&version_path, "must be a positive integer or null")),
        },
    };
    let mut fields = Vec::new();
    if op == Op::Upsert {
        let fields_path = join(path, "fields");
        if let Some(v) = c.get("fields").filter(|v| !v.is_null()) {
            for (name, value) in object(v, &fields_path)? {
                // The name is submitted text: name the entity's fields, never the name.
                let Some(known) = entity_fields.iter().copied().find(|f| *f == name) else {
                    return Err(invalid(
                        &fields_path,
                        &format!(
                            "unknown field name for entity {entity} (expected one of {})",
                            entity_fields.join(", ")
                        ),
                    ));
                };
                let value = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    _ => {
                        return Err(invalid(
                            &join(&fields_path, known),
                            "must be a string or null",
                        ))
                    }
                };
                fields.push((known, value));
            }
        }
    }
    Ok(ValidChange {
        entity,
        record_id,
        op,
        base_version,
        fields,
        entity_fields,
        create_only: CREATE_ONLY_ENTITIES.contains(&entity),
    })
}

/// Query of `GET /v1/sync/pull`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PullQuery {
    pub cursor: Option<String>,
    pub limit: usize,
    /// The pulling client's current sync run (`sync_id`, as in its pushes of this run):
    /// records whose latest change that run pushed are left out of the page (the client
    /// has them from the push answers), the cursor still moves past them. Absent: every
    /// record.
    pub sync_id: Option<String>,
    /// How many erasures of the account the client has seen (`account_erasures` of its
    /// last pull answer). Fewer than the account has had: 410 `account_erased`. Absent: a
    /// client new to the account (or from before erasures were counted).
    pub account_erasures: Option<i64>,
}

/// Minimal `application/x-www-form-urlencoded` decoding of one query component; `None`
/// if it is not valid percent-encoded UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Parses the query string of `GET /v1/sync/pull`: `cursor` (absent or empty: from the
/// start) and `limit` (1 to `limits.max_pull_limit`, default `limits.default_pull_limit`).
/// Other parameters are ignored; for a repeated one the first occurrence counts.
pub(crate) fn pull_query(query: Option<&str>, limits: &Limits) -> Result<PullQuery, ApiError> {
    let mut cursor: Option<Option<String>> = None;
    let mut limit: Option<Option<String>> = None;
    let mut sync_id: Option<Option<String>> = None;
    let mut erasures: Option<Option<String>> = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match form_decode(name).as_deref() {
            Some("cursor") => &mut cursor,
            Some("limit") => &mut limit,
            Some("sync_id") => &mut sync_id,
            Some("account_erasures") => &mut erasures,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(form_decode(value));
        }
    }
    let cursor = match cursor {
        None => None,
        Some(None) => return Err(invalid("cursor", "must be a cursor from an earlier pull")),
        Some(Some(c)) if c.is_empty() => None,
        Some(Some(c)) => Some(c),
    };
    let max = limits.max_pull_limit;
    let limit = match limit {
        None => limits.default_pull_limit.min(max),
        Some(v) => v
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| invalid("limit", &format!("must be an integer from 1 to {max}")))?,
    };
    let sync_id = match sync_id {
        None => None,
        Some(v) => Some(
            v.filter(|v| uuid::Uuid::parse_str(v).is_ok())
                .ok_or_else(|| {
                    invalid(
                        "sync_id",
                        "must be the sync_id of this run's pushes (a UUID)",
                    )
                })?,
        ),
    };
    let account_erasures = match erasures {
        None => None,
        Some(v) => Some(erasure_count(v.and_then(|v| v.parse::<i64>().ok()))?),
    };
    Ok(PullQuery {
        cursor,
        limit,
        sync_id,
        account_erasures,
    })
}

/// An `account_erasures` value: an integer from 0 to 2^31.
fn erasure_count(value: Option<i64>) -> Result<i64, ApiError> {
    value.filter(|n| (0..=1 << 31).contains(n)).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_field",
            "account_erasures: must be the count of the last pull answer (an integer from 0)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "0b8e5a4e-3c1f-4b7a-9a59-8f1a2b3c4d5e";
    const INST: &str = "7d4c2f1e-aaaa-4bbb-8ccc-0123456789ab";

    fn batch(event: Value) -> Vec<u8> {
        json!({"schema_version": 1, "sent_at": "2026-02-01T10:00:00+05:00", "events": [event]})
            .to_string()
            .into_bytes()
    }

    fn event() -> Value {
        json!({"id": ID, "kind": "screen_view", "purpose": "statistics",
               "installation_id": INST, "recorded_at": "2026-02-01T09:59:00.123+05:00",
               "data": {"screen": "map"}, "extra_field": true})
    }

    #[test]
    fn accepts_a_valid_batch_and_normalises_times() {
        let events = events_body(&batch(event()), &Limits::default()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].recorded_at, "2026-02-01T04:59:00.123Z");
        assert_eq!(events[0].recorded_at_ms % 1000, 123);
        assert_eq!(events[0].data, r#"{"screen":"map"}"#);
    }

    #[test]
    fn errors_never_echo_submitted_values() {
        let secret = "SECRET-VALUE-42";
        for (key, code) in [
            ("kind", "unknown_kind"),
            ("purpose", "unknown_purpose"),
            ("id", "invalid_field"),
            ("installation_id", "invalid_field"),
            ("recorded_at", "invalid_field"),
        ] {
            let mut e = event();
            e[key] = json!(secret);
            let err = events_body(&batch(e), &Limits::default()).unwrap_err();
            assert_eq!(err.code, code, "{key}");
            assert!(err.message.contains(&format!("events[0].{key}")));
            assert!(!err.message.contains(secret), "{}", err.message);
        }
        let err = events_body(
            format!("{{\"x\": \"{secret}").as_bytes(),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.code, "invalid_json");
        assert!(!err.message.contains(secret));
    }

    #[test]
    fn gunzip_stops_at_the_cap() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&vec![b' '; 1000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 1000).unwrap().len(), 1000);
        assert_eq!(
            gunzip(&gz, 999).unwrap_err().code,
            "decompressed_body_too_large"
        );
        assert_eq!(gunzip(b"not gzip", 10).unwrap_err().code, "invalid_gzip");
    }

    #[test]
    fn deletion_purposes_default_to_all_and_dedupe() {
        let body = json!({"schema_version": 1, "requests": [{
            "id": ID, "installation_ids": [INST, INST.to_uppercase()],
            "reason": "policy_changed", "created_at": "2026-02-01T10:00:00Z"}]});
        let reqs = deletion_body(body.to_string().as_bytes(), &Limits::default()).unwrap();
        assert_eq!(reqs[0].installation_ids, [INST]);
        assert!(reqs[0].purposes.is_empty());
    }

    fn push(changes: Value) -> Vec<u8> {
        json!({"schema_version": 1, "client_id": INST, "changes": changes})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn push_rejects_bad_changes_one_by_one_without_echo() {
        let secret = "SECRET-7731";
        let body = push(json!([
            {"change_id": ID, "entity": "vehicle", "record_id": INST, "op": "upsert",
             "base_version": null, "fields": {"plate": "123ABC02", "colour": null}},
            {"change_id": ID, "entity": secret, "record_id": INST, "op": "upsert"},
            {"change_id": ID, "entity": "vehicle", "record_id": INST, "op": "upsert",
             "fields": {(secret): "x"}},
            {"change_id": ID, "entity": "vehicle", "record_id": INST, "op": "upsert",
             "fields": {"plate": 7}},
            {"change_id": ID, "entity": "vehicle", "record_id": INST, "op": secret},
            {"change_id": ID, "entity": "vehicle", "record_id": INST, "op": "delete",
             "base_version": 0},
            {"change_id": ID, "entity": "complaint", "record_id": INST, "op": "delete"},
        ]));
        let changes = push_body(&body, &Limits::default()).unwrap().changes;
        let ok = changes[0].change.as_ref().unwrap();
        assert_eq!(
            ok.fields,
            [("colour", None), ("plate", Some("123ABC02".into()))]
        );
        assert_eq!(
            (ok.op, ok.base_version, ok.create_only),
            (Op::Upsert, None, false)
        );
        let expected = [
            ("unknown_entity", "changes[1].entity"),
            ("invalid_field", "changes[2].fields:"),
            ("invalid_field", "changes[3].fields.plate"),
            ("unknown_op", "changes[4].op"),
            ("invalid_field", "changes[5].base_version"),
        ];
        for (i, (reason, path)) in expected.iter().enumerate() {
            let r = changes[i + 1].change.as_ref().unwrap_err();
            assert_eq!(r.reason, *reason, "{i}");
            assert!(r.message.starts_with(path), "{}", r.message);
            assert!(!r.message.contains(secret), "{}", r.message);
        }
        assert!(changes[6].change.as_ref().unwrap().create_only);

        // The envelope is all or nothing.
        let err = push_body(&push(json!([{"change_id": secret}])), &Limits::default()).unwrap_err();
        assert_eq!(
            err.message,
            "changes[0].change_id: must be a hyphenated UUID"
        );
        let err = push_body(&push(json!(vec![json!({}); 501])), &Limits::default()).unwrap_err();
        assert_eq!(err.code, "too_many_changes");
    }

    #[test]
    fn pull_query_defaults_and_limits() {
        let l = Limits::default();
        assert_eq!(
            pull_query(None, &l).unwrap(),
            PullQuery {
                cursor: None,
                limit: 500,
                sync_id: None,
                account_erasures: None,
            }
        );
        let q = pull_query(Some("x=1&cursor=ab%2Bc&limit=1000&limit=3"), &l).unwrap();
        assert_eq!((q.cursor.as_deref(), q.limit), (Some("ab+c"), 1000));
        assert_eq!(
            pull_query(Some("cursor=&limit=1"), &l).unwrap().cursor,
            None
        );
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=ten",
            "cursor=%zz",
            "sync_id=not-a-uuid",
            "sync_id=",
        ] {
            assert_eq!(pull_query(Some(bad), &l).unwrap_err().code, "invalid_field");
        }
        let q = pull_query(Some(&format!("sync_id={ID}")), &l).unwrap();
        assert_eq!(q.sync_id.as_deref(), Some(ID));
    }
}
