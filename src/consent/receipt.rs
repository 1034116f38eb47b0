//! Consent receipts: the immutable proof of every accept and withdraw (P4.4, law No. 94-V;
//! fields after the Kantara Consent Receipt v1.1).

use super::policy::{PolicyOperator, PurposeDataCategories};
use super::purpose::Purpose;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// How the consent was collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    /// The first-run (onboarding) screen.
    OnboardingScreen,
    /// The app's privacy settings.
    SettingsScreen,
    /// The prompt shown when a new policy version is published.
    PolicyUpdatePrompt,
}

/// What a receipt records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// The user accepted a policy version with some purposes.
    Accept,
    /// The user withdrew some or all purposes.
    Withdraw,
}

/// Where and how the consent is given: recorded in the receipt.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConsentContext {
    /// The app's version (`4.2.0 (421)`).
    pub app_version: String,
    /// The locale the policy was shown in (`kk-KZ`, `ru-KZ`, `en`).
    pub locale: String,
    /// How the consent was collected.
    pub collection_method: CollectionMethod,
    /// The account the consent belongs to: the backend's opaque account id, never a name,
    /// phone or e-mail. Null / nil before sign-in: the backend binds the receipt to the
    /// account that uploads it.
    #[uniffi(default)]
    pub subject_id: Option<String>,
}

impl ConsentContext {
    pub(crate) fn validate(&self) -> Result<()> {
        let app_version = self.app_version.trim();
        if app_version.is_empty()
            || app_version.len() > 64
            || app_version.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "context.app_version",
                "must be 1 to 64 printable characters",
            ));
        }
        let locale = &self.locale;
        let locale_ok = (2..=35).contains(&locale.len())
            && locale
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !locale_ok {
            return Err(Error::invalid(
                "context.locale",
                "must be a language tag like kk-KZ",
            ));
        }
        if let Some(subject) = &self.subject_id {
            // An opaque id: no spaces, no '@' or '+' (an e-mail or phone is not an id).
            let opaque = (1..=128).contains(&subject.len())
                && subject
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
            if !opaque {
                return Err(Error::invalid(
                    "context.subject_id",
                    "must be an opaque account id: 1 to 128 of A-Z a-z 0-9 - _ . :",
                ));
            }
        }
        Ok(())
    }
}

/// The immutable record of one consent decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct ConsentReceipt {
    /// Receipt id (UUID).
    pub id: String,
    /// Accept or withdraw.
    pub action: ConsentAction,
    /// The policy version the decision is about.
    pub policy_version: i32,
    /// SHA-256 of that version's text.
    pub policy_text_sha256: String,
    /// Where that version is published.
    pub policy_url: String,
    /// The law that applies (`KZ`, P7.2).
    pub jurisdiction: String,
    /// Purposes the user consents to after this decision.
    pub purposes_granted: Vec<Purpose>,
    /// Purposes offered and not consented to after this decision.
    pub purposes_denied: Vec<Purpose>,
    /// When the decision was made.
    pub timestamp: SystemTime,
    /// The app's version.
    pub app_version: String,
    /// The locale the policy was shown in.
    pub locale: String,
    /// How the decision was collected.
    pub collection_method: CollectionMethod,
    /// Who processes the data (name and BIN), from the policy manifest.
    #[serde(default)]
    pub operator: Option<PolicyOperator>,
    /// The account the consent belongs to (opaque id), if the app knew it.
    #[serde(default)]
    pub subject_id: Option<String>,
    /// The date of that version's last update (`YYYY-MM-DD`).
    #[serde(default)]
    pub policy_last_updated: String,
    /// The data categories collected for each offered purpose, from the manifest.
    #[serde(default)]
    pub data_categories: Vec<PurposeDataCategories>,
    /// How long the consent lasts, in days; null / nil: until withdrawn.
    #[serde(default)]
    pub consent_duration_days: Option<i32>,
    /// Whether the data go to third parties.
    #[serde(default)]
    pub third_party_transfer: bool,
    /// Whether the data cross the border of Kazakhstan.
    #[serde(default)]
    pub cross_border_transfer: bool,
    /// Whether the data are made publicly available.
    #[serde(default)]
    pub publicly_available: bool,
    /// SHA-256 (hex) of the receipt before this one, null / nil for the first: the receipts
    /// form a hash chain, so a removed or edited receipt is detected.
    #[serde(default)]
    pub previous_receipt_sha256: Option<String>,
    /// SHA-256 (hex) of this receipt as stored (its canonical JSON: keys sorted, no
    /// spaces, this field left out).
    #[serde(skip)]
    pub receipt_sha256: String,
}

/// The state of the receipt chain, as checked by `Consent.verifyReceipts()`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReceiptChain {
    /// How many receipts the chain holds.
    pub length: i64,
    /// SHA-256 (hex) of the newest receipt; null / nil when there is none.
    pub head_sha256: Option<String>,
}

/// The receipts as one JSON document after the Kantara Consent Receipt 1.1 field names
/// (with ISO/IEC TS 27560's where Kantara has none), newest chain state included. Fields
/// the specifications do not have are under `x-aparking`.
pub(crate) fn kantara_export(
    receipts: &[ConsentReceipt],
    chain: Option<&ReceiptChain>,
) -> serde_json::Value {
    use serde_json::json;
    let secs = |t: SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let list: Vec<serde_json::Value> = receipts
        .iter()
        .map(|r| {
            let purposes: Vec<serde_json::Value> = r
                .purposes_granted
                .iter()
                .map(|p| (p, true))
                .chain(r.purposes_denied.iter().map(|p| (p, false)))
                .map(|(purpose, granted)| {
                    let categories = r
                        .data_categories
                        .iter()
                        .find(|entry| entry.purpose == *purpose)
                        .map(|entry| entry.categories.clone())
                        .unwrap_or_default();
                    json!({
                        "purpose": purpose.as_str(),
                        "consentType": "EXPLICIT",
                        "purposeCategory": [purpose.as_str()],
                        "piiCategory": categories,
                        "primaryPurpose": false,
                        "termination": match r.consent_duration_days {
                            Some(days) => format!("P{days}D"),
                            None => "until withdrawn".to_string(),
                        },
                        "thirdPartyDisclosure": r.third_party_transfer,
                        "x-aparking-granted": granted,
                    })
                })
                .collect();
            json!({
                "version": "KI-CR-v1.1.0",
                "jurisdiction": r.jurisdiction,
                "consentTimestamp": secs(r.timestamp),
                "collectionMethod": serde_json::to_value(r.collection_method).unwrap_or_default(),
                "consentReceiptID": r.id,
                "language": r.locale,
                "piiPrincipalId": r.subject_id,
                "piiControllers": r.operator.as_ref().map(|o| vec![json!({
                    "piiController": o.name,
                    "x-aparking-bin": o.bin,
                })]).unwrap_or_default(),
                "policyUrl": r.policy_url,
                "services": [{"service": "aparking", "purposes": purposes}],
                "sensitive": false,
                "x-aparking": {
                    "action": serde_json::to_value(r.action).unwrap_or_default(),
                    "policyVersion": r.policy_version,
                    "policyLastUpdated": r.policy_last_updated,
                    "policyTextSha256": r.policy_text_sha256,
                    "crossBorderTransfer": r.cross_border_transfer,
                    "publiclyAvailable": r.publicly_available,
                    "appVersion": r.app_version,
                    "previousReceiptSha256": r.previous_receipt_sha256,
                    "receiptSha256": r.receipt_sha256,
                },
            })
        })
        .collect();
    json!({
        "receipts": list,
        "chain": {
            "verified": chain.is_some(),
            "length": chain.map(|c| c.length),
            "headSha256": chain.and_then(|c| c.head_sha256.clone()),
        },
    })
}
