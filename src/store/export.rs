//! `export_user_data`: everything personal as JSON, for the user's right of access
//! (policy clause P5.1, law No. 94-V).

use crate::consent::ConsentReceipt;
use crate::model::{Document, Profile, Vehicle};
use crate::telemetry::ConnectionComplaint;
use serde::Serialize;
use serde_json::json;
use std::time::SystemTime;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Name of the export format, the first field of every export.
pub(crate) const FORMAT: &str = "aparking-core/user-data-export";
/// Version of the export format.
pub(crate) const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Export<'a> {
    format: &'static str,
    format_version: u32,
    exported_at: String,
    profile: Option<ProfileOut<'a>>,
    vehicles: Vec<VehicleOut<'a>>,
    documents: Vec<DocumentOut<'a>>,
    consent_receipts: Vec<serde_json::Value>,
    consent_receipt_chain: serde_json::Value,
    complaints: Vec<serde_json::Value>,
    /// Records left out because their sealed row does not open (entity and id only).
    damaged_records: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct ProfileOut<'a> {
    id: &'a str,
    phone: &'a str,
    full_name: Option<&'a str>,
    email: Option<&'a str>,
    preferred_language: Option<&'static str>,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct VehicleOut<'a> {
    id: &'a str,
    plate: &'a str,
    plate_display: &'a str,
    nickname: Option<&'a str>,
    make: Option<&'a str>,
    model: Option<&'a str>,
    colour: Option<&'a str>,
    registration_certificate_number: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct DocumentOut<'a> {
    id: &'a str,
    kind: &'static str,
    number: &'a str,
    issued_on: Option<&'a str>,
    expires_on: Option<&'a str>,
    vehicle_id: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "invalid".to_string())
}

/// Serialises the records as the export document (pretty-printed JSON).
pub(crate) fn to_json(
    profile: Option<&Profile>,
    vehicles: &[Vehicle],
    documents: &[Document],
    receipts: &[ConsentReceipt],
    receipt_chain: Option<&crate::consent::ReceiptChain>,
    complaints: &[ConnectionComplaint],
    damaged: &[crate::model::RecordRef],
) -> serde_json::Result<String> {
    let export = Export {
        format: FORMAT,
        format_version: FORMAT_VERSION,
        exported_at: rfc3339(SystemTime::now()),
        profile: profile.map(|p| ProfileOut {
            id: &p.id,
            phone: &p.phone,
            full_name: p.full_name.as_deref(),
            email: p.email.as_deref(),
            preferred_language: p.preferred_language.map(|l| l.code()),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }),
        vehicles: vehicles
            .iter()
            .map(|v| VehicleOut {
                id: &v.id,
                plate: &v.plate.canonical,
                plate_display: &v.plate.display,
                nickname: v.nickname.as_deref(),
                make: v.make.as_deref(),
                model: v.model.as_deref(),
                colour: v.colour.as_deref(),
                registration_certificate_number: v.registration_certificate_number.as_deref(),
                created_at: rfc3339(v.created_at),
                updated_at: rfc3339(v.updated_at),
            })
            .collect(),
        documents: documents
            .iter()
            .map(|d| DocumentOut {
                id: &d.id,
                kind: d.kind.as_str(),
                number: &d.number,
                issued_on: d.issued_on.as_deref(),
                expires_on: d.expires_on.as_deref(),
                vehicle_id: d.vehicle_id.as_deref(),
                created_at: rfc3339(d.created_at),
                updated_at: rfc3339(d.updated_at),
            })
            .collect(),
        consent_receipts: receipts
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "action": r.action, "policy_version": r.policy_version,
                    "policy_text_sha256": r.policy_text_sha256, "policy_url": r.policy_url,
                    "jurisdiction": r.jurisdiction, "purposes_granted": r.purposes_granted,
                    "purposes_denied": r.purposes_denied, "timestamp": rfc3339(r.timestamp),
                    "app_version": r.app_version, "locale": r.locale,
                    "collection_method": r.collection_method, "operator": r.operator,
                    "subject_id": r.subject_id, "policy_last_updated": r.policy_last_updated,
                    "data_categories": r.data_categories,
                    "consent_duration_days": r.consent_duration_days,
                    "third_party_transfer": r.third_party_transfer,
                    "cross_border_transfer": r.cross_border_transfer,
                    "publicly_available": r.publicly_available,
                    "previous_receipt_sha256": r.previous_receipt_sha256,
                    "receipt_sha256": r.receipt_sha256,
                })
            })
            .collect(),
        consent_receipt_chain: json!({
            "verified": receipt_chain.is_some(),
            "length": receipt_chain.map(|c| c.length),
            "head_sha256": receipt_chain.and_then(|c| c.head_sha256.clone()),
        }),
        complaints: complaints
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "description": c.description, "created_at": rfc3339(c.created_at),
                    "network_samples": c.samples.len(),
                })
            })
            .collect(),
        damaged_records: damaged
            .iter()
            .map(|d| json!({"entity": d.entity.as_str(), "record_id": d.record_id}))
            .collect(),
    };
    serde_json::to_string_pretty(&export)
}
