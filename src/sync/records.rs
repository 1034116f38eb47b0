//! Create-only entities on the personal channel: consent receipts (proof of consent, P4.4)
//! and connection complaints (P2.2.5, P8). They are pushed from their own tables
//! (`uploaded_at` / `sent_at` null = pending), with the record id as the change id: a
//! re-send after a lost answer is a `duplicate`, never a second record.

use super::outbox::Op;
use super::push::{Planned, Pushed};
use crate::consent::ConsentReceipt;
use crate::crypto::StoreKeys;
use crate::error::Result;
use crate::model::fields::FieldMap;
use crate::store::db::now_millis;

use crate::telemetry::queue::{rfc3339_millis, COMPLAINTS};
use rusqlite::Connection;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

fn text(v: impl Into<String>) -> Option<String> {
    Some(v.into())
}

/// The wire name of a value that serializes as a string (an enum of the receipt).
fn name_of(v: impl serde::Serialize) -> Option<String> {
    serde_json::to_value(v).ok()?.as_str().map(str::to_string)
}

/// Pending receipts and complaints as planned create changes, up to `limit`.
pub(crate) fn pending(conn: &Connection, keys: &StoreKeys, limit: u32) -> Result<Vec<Planned>> {
    let mut out = crate::consent::RECEIPTS.open_rows(
        conn,
        keys,
        "SELECT id, sealed FROM consent_receipts WHERE uploaded_at IS NULL ORDER BY created_at, rowid LIMIT ?1",
        [limit],
        |seal, json| {
            let r: ConsentReceipt = seal.json(&json)?;
            let fields = receipt_fields(r, &json);
            Ok(create(Pushed::ConsentReceipt, seal.id().to_string(), fields))
        },
    )?;
    let left = limit.saturating_sub(out.len() as u32);
    out.extend(COMPLAINTS.open_rows(
        conn,
        keys,
        "SELECT id, sealed FROM complaints WHERE sent_at IS NULL ORDER BY created_at, rowid LIMIT ?1",
        [left],
        |seal, json| {
            let v: Value = seal.json(&json)?;
            Ok(create(Pushed::Complaint, seal.id().to_string(), complaint_fields(&v)))
        },
    )?);
    Ok(out)
}

/// A receipt's fields on the wire (`docs/protocol.md`, "Consent receipts"); `json` is the
/// receipt as sealed, whose hash the receipt carries.
fn receipt_fields(r: ConsentReceipt, json: &str) -> FieldMap {
    let list = |p: &[crate::consent::Purpose]| {
        text(
            serde_json::to_string(&p.iter().map(|x| x.as_str()).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    };
    let mut fields = FieldMap::new();
    fields.insert("action".into(), name_of(r.action));
    fields.insert("policy_version".into(), text(r.policy_version.to_string()));
    fields.insert("policy_text_sha256".into(), text(r.policy_text_sha256));
    fields.insert("policy_url".into(), text(r.policy_url));
    fields.insert("jurisdiction".into(), text(r.jurisdiction));
    fields.insert("purposes_granted".into(), list(&r.purposes_granted));
    fields.insert("purposes_denied".into(), list(&r.purposes_denied));
    fields.insert(
        "timestamp".into(),
        text(
            time::OffsetDateTime::from(r.timestamp)
                .format(&Rfc3339)
                .unwrap_or_default(),
        ),
    );
    fields.insert("app_version".into(), text(r.app_version));
    fields.insert("locale".into(), text(r.locale));
    fields.insert("collection_method".into(), name_of(r.collection_method));
    // Law No. 94-V, Art. 8, and the chain link (docs/protocol.md, "Consent receipts").
    if let Some(operator) = &r.operator {
        fields.insert("operator_name".into(), text(operator.name.clone()));
        fields.insert("operator_bin".into(), text(operator.bin.clone()));
    }
    if let Some(subject) = &r.subject_id {
        fields.insert("subject_id".into(), text(subject.clone()));
    }
    fields.insert("policy_last_updated".into(), text(r.policy_last_updated));
    fields.insert(
        "data_categories".into(),
        text(serde_json::to_string(&r.data_categories).unwrap_or_default()),
    );
    fields.insert(
        "consent_duration_days".into(),
        text(
            r.consent_duration_days
                .map_or("until_withdrawn".into(), |d| d.to_string()),
        ),
    );
    for (name, flag) in [
        ("third_party_transfer", r.third_party_transfer),
        ("cross_border_transfer", r.cross_border_transfer),
        ("publicly_available", r.publicly_available),
    ] {
        fields.insert(name.into(), text(flag.to_string()));
    }
    if let Some(previous) = &r.previous_receipt_sha256 {
        fields.insert("previous_receipt_sha256".into(), text(previous.clone()));
    }
    fields.insert(
        "receipt_sha256".into(),
        text(crate::crypto::sha256_hex(json.as_bytes())),
    );
    fields
}

/// A complaint's fields on the wire, from the complaint as sealed.
fn complaint_fields(v: &Value) -> FieldMap {
    let mut fields = FieldMap::new();
    fields.insert(
        "description".into(),
        v["description"].as_str().map(str::to_string),
    );
    fields.insert(
        "created_at".into(),
        text(rfc3339_millis(v["created_at"].as_i64().unwrap_or(0))),
    );
    fields.insert("samples".into(), text(v["samples"].to_string()));
    fields
}

fn create(entity: Pushed, id: String, fields: FieldMap) -> Planned {
    Planned {
        change_id: id.clone(),
        entity,
        record_id: id,
        op: Op::Upsert,
        base_version: None,
        fields,
    }
}

/// Marks a create-only record as delivered (a personal record is not: its outbox entry
/// goes instead).
pub(crate) fn mark_sent(conn: &Connection, entity: Pushed, id: &str) -> Result<()> {
    let sql = match entity {
        Pushed::ConsentReceipt => "UPDATE consent_receipts SET uploaded_at = ?1 WHERE id = ?2",
        Pushed::Complaint => "UPDATE complaints SET sent_at = ?1 WHERE id = ?2",
        Pushed::Record(_) => return Ok(()),
    };
    conn.prepare_cached(sql)?
        .execute(rusqlite::params![now_millis(), id])?;
    Ok(())
}
