//! The policy manifest: which version of the privacy policy is published, and what it
//! offers (policy clause P7.1).
//!
//! Versions are positive integers that only grow: a higher number is a newer policy. The
//! version in force is the highest one the SDK has received (from the app bundle or the
//! backend). A newer version takes effect as soon as it is received: collection stops
//! until the user accepts it.

use super::purpose::Purpose;
use crate::error::{ApiResult, Error, Result};
use serde::{Deserialize, Serialize};

/// A published version of the privacy policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct PolicyManifest {
    /// The version: a positive integer; higher is newer.
    pub version: i32,
    /// Date of the last update shown in the policy text (`YYYY-MM-DD`, P7.1).
    pub last_updated: String,
    /// Where the text is published (https).
    pub url: String,
    /// SHA-256 of the policy text, 64 lower-case hex digits: what exactly was accepted.
    pub text_sha256: String,
    /// The purposes this version offers for consent.
    pub purposes: Vec<Purpose>,
}

impl PolicyManifest {
    /// Checks every field; the error names the field.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.version < 1 {
            return Err(Error::invalid(
                "policy.version",
                "must be a positive integer",
            ));
        }
        crate::formats::validate_date("policy.last_updated", &self.last_updated)?;
        if !self.url.starts_with("https://")
            || self.url.len() > 2048
            || self.url.contains(char::is_whitespace)
        {
            return Err(Error::invalid("policy.url", "must be an https URL"));
        }
        if self.text_sha256.len() != 64
            || !self
                .text_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::invalid(
                "policy.text_sha256",
                "must be 64 lower-case hex digits",
            ));
        }
        if self.purposes.is_empty() {
            return Err(Error::invalid(
                "policy.purposes",
                "must offer at least one purpose",
            ));
        }
        let mut sorted = self.purposes.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.purposes.len() {
            return Err(Error::invalid(
                "policy.purposes",
                "must not repeat a purpose",
            ));
        }
        Ok(())
    }

    /// Parses and validates a manifest from JSON (unknown fields are ignored).
    pub(crate) fn from_json(json: &str) -> Result<Self> {
        let manifest: PolicyManifest = serde_json::from_str(json)
            .map_err(|_| Error::invalid("policy", "not a policy manifest JSON document"))?;
        manifest.validate()?;
        Ok(manifest)
    }
}

/// Parses and validates a policy manifest from JSON, as bundled with the app or served
/// by the backend: `{"version":3,"last_updated":"2026-01-15","url":"https://...",
/// "text_sha256":"<64 hex>","purposes":["statistics",...]}`.
#[uniffi::export]
pub fn parse_policy_manifest(json: String) -> ApiResult<PolicyManifest> {
    Ok(PolicyManifest::from_json(&json)?)
}

/// What publishing a manifest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PolicyUpdate {
    /// The manifest is newer than the one in force and now is in force: collection
    /// stops until the user accepts it.
    Adopted,
    /// The same version is already in force; nothing changed.
    AlreadyInForce,
    /// An older version than the one in force; ignored.
    Outdated,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn manifest(version: i32) -> PolicyManifest {
        PolicyManifest {
            version,
            last_updated: "2026-01-15".into(),
            url: "https://aparking.kz/privacy".into(),
            text_sha256: "ab".repeat(32),
            purposes: Purpose::ALL.to_vec(),
        }
    }

    #[test]
    fn json_round_trip_ignores_unknown_fields() {
        let json = r#"{"version":3,"last_updated":"2026-01-15","url":"https://aparking.kz/privacy",
            "text_sha256":"abababababababababababababababababababababababababababababababab",
            "purposes":["statistics","connection_diagnostics"],"title":"Политика"}"#;
        let m = PolicyManifest::from_json(json).unwrap();
        assert_eq!(m.version, 3);
        assert_eq!(
            m.purposes,
            vec![Purpose::Statistics, Purpose::ConnectionDiagnostics]
        );
    }

    #[test]
    fn invalid_manifests_name_the_field() {
        type Breaker = fn(&mut PolicyManifest);
        let cases: Vec<(Breaker, &str)> = vec![
            (|m| m.version = 0, "policy.version"),
            (
                |m| m.last_updated = "15.01.2026".into(),
                "policy.last_updated",
            ),
            (|m| m.url = "http://aparking.kz".into(), "policy.url"),
            (|m| m.text_sha256 = "AB".repeat(32), "policy.text_sha256"),
            (|m| m.purposes.clear(), "policy.purposes"),
            (
                |m| m.purposes = vec![Purpose::Statistics, Purpose::Statistics],
                "policy.purposes",
            ),
        ];
        for (break_it, field) in cases {
            let mut m = manifest(1);
            break_it(&mut m);
            assert!(
                matches!(m.validate(), Err(Error::InvalidInput { field: f, .. }) if f == field),
                "{field}"
            );
        }
        assert!(PolicyManifest::from_json("{").is_err());
        assert!(PolicyManifest::from_json(r#"{"version":1}"#).is_err());
    }
}
