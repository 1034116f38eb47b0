//! Consent receipts: the immutable proof of every accept and withdraw (P4.4, law No. 94-V;
//! fields after the Kantara Consent Receipt v1.1).

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
}
