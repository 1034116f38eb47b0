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
    /// Who collects and processes the data: the operator's name and BIN (law No. 94-V,
    /// Art. 8). Recorded in every receipt; a manifest published by the operator names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[uniffi(default)]
    pub operator: Option<PolicyOperator>,
    /// The categories of data collected for each purpose (`["app_usage",
    /// "device_model"]`): snake_case names, one entry per offered purpose at most.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[uniffi(default)]
    pub data_categories: Vec<PurposeDataCategories>,
    /// How long a consent given under this version lasts, in days; null / nil: until the
    /// user withdraws it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[uniffi(default)]
    pub consent_duration_days: Option<i32>,
    /// Whether the data collected under this version go to third parties (P4.3).
    #[serde(default)]
    #[uniffi(default = false)]
    pub third_party_transfer: bool,
    /// Whether the data cross the border of Kazakhstan (Art. 16).
    #[serde(default)]
    #[uniffi(default = false)]
    pub cross_border_transfer: bool,
    /// Whether the data are made publicly available.
    #[serde(default)]
    #[uniffi(default = false)]
    pub publicly_available: bool,
    /// The hosts allowed to receive personal data (sync, complaints, account erasure):
    /// `api.aparking.kz`, or `*.aparking.kz` for its subdomains. The SDK sends personal
    /// data to no other host (loopback excepted, for tests); empty: loopback only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[uniffi(default)]
    pub personal_data_hosts: Vec<String>,
    /// The hosts allowed to receive telemetry, in the same form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[uniffi(default)]
    pub telemetry_hosts: Vec<String>,
}

/// The operator of the personal data (law No. 94-V, Art. 1 and 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct PolicyOperator {
    /// The operator's registered name (`ТОО «Алматы спецтехпаркинг сервис»`).
    pub name: String,
    /// The operator's business identification number: 12 digits.
    pub bin: String,
}

/// The data categories one purpose collects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct PurposeDataCategories {
    /// The purpose.
    pub purpose: Purpose,
    /// The categories, snake_case (`app_usage`, `network_quality`, ...).
    pub categories: Vec<String>,
}

/// Which kind of data a request carries, for the declared-host check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataChannel {
    /// Personal data: sync, complaints, account erasure.
    Personal,
    /// Anonymous telemetry.
    Telemetry,
}

impl DataChannel {
    /// The channel's name in errors and docs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DataChannel::Personal => "personal data",
            DataChannel::Telemetry => "telemetry",
        }
    }
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
        if let Some(operator) = &self.operator {
            let name = operator.name.trim();
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "policy.operator.name",
                    "must be 1 to 200 printable characters",
                ));
            }
            if operator.bin.len() != 12 || !operator.bin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::invalid("policy.operator.bin", "must be 12 digits"));
            }
        }
        let mut described = Vec::new();
        for entry in &self.data_categories {
            if !self.purposes.contains(&entry.purpose) || described.contains(&entry.purpose) {
                return Err(Error::invalid(
                    "policy.data_categories",
                    "must describe each offered purpose at most once",
                ));
            }
            described.push(entry.purpose);
            if entry.categories.is_empty()
                || entry.categories.len() > 32
                || !entry.categories.iter().all(|c| is_category_name(c))
            {
                return Err(Error::invalid(
                    "policy.data_categories",
                    "must list 1 to 32 snake_case category names per purpose",
                ));
            }
        }
        if self
            .consent_duration_days
            .is_some_and(|d| !(1..=36_600).contains(&d))
        {
            return Err(Error::invalid(
                "policy.consent_duration_days",
                "must be 1 to 36600 days, or absent for until withdrawn",
            ));
        }
        for (hosts, field) in [
            (&self.personal_data_hosts, "policy.personal_data_hosts"),
            (&self.telemetry_hosts, "policy.telemetry_hosts"),
        ] {
            if hosts.len() > 32 || !hosts.iter().all(|h| is_host_pattern(h)) {
                return Err(Error::invalid(
                    field,
                    "must list up to 32 lower-case host names (optionally *.domain)",
                ));
            }
        }
        Ok(())
    }

    /// The hosts declared for `channel`.
    pub(crate) fn declared_hosts(&self, channel: DataChannel) -> &[String] {
        match channel {
            DataChannel::Personal => &self.personal_data_hosts,
            DataChannel::Telemetry => &self.telemetry_hosts,
        }
    }

    /// The categories this version collects for `purpose` (empty when not described).
    pub(crate) fn categories_of(&self, purpose: Purpose) -> Vec<String> {
        self.data_categories
            .iter()
            .find(|entry| entry.purpose == purpose)
            .map(|entry| entry.categories.clone())
            .unwrap_or_default()
    }

    /// Parses and validates a manifest from JSON (unknown fields are ignored).
    pub(crate) fn from_json(json: &str) -> Result<Self> {
        let manifest: PolicyManifest = serde_json::from_str(json)
            .map_err(|_| Error::invalid("policy", "not a policy manifest JSON document"))?;
        manifest.validate().map_err(Error::in_json)?;
        Ok(manifest)
    }
}

/// A data category name: 1 to 64 characters of `a-z`, `0-9` and `_`, starting with a letter.
fn is_category_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A declared host: a lower-case DNS name of at least two labels (`api.aparking.kz`), or
/// `*.` and such a name (its subdomains, not the name itself). No scheme, port or path.
fn is_host_pattern(pattern: &str) -> bool {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Whether `host` (a URL's host, lower case) matches one of `declared`; loopback
/// (`localhost`, 127.0.0.0/8, `::1`) always does, for tests and the quickstart.
pub(crate) fn host_is_declared(host: &str, declared: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    {
        return true;
    }
    declared
        .iter()
        .any(|pattern| match pattern.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => host == *pattern,
        })
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

    use crate::testing::policy as manifest;

    #[test]
    fn declared_hosts_match_exactly_or_by_subdomain_and_loopback_always() {
        let declared = vec![
            "api.aparking.kz".to_string(),
            "*.cdn.aparking.kz".to_string(),
        ];
        for host in [
            "api.aparking.kz",
            "API.aparking.kz.",
            "a.cdn.aparking.kz",
            "x.y.cdn.aparking.kz",
        ] {
            assert!(host_is_declared(host, &declared), "{host}");
        }
        for host in [
            "aparking.kz",
            "cdn.aparking.kz",
            "evilapi.aparking.kz",
            "api.aparking.kz.evil.example",
            "xcdn.aparking.kz",
            "api.example.com",
        ] {
            assert!(!host_is_declared(host, &declared), "{host}");
        }
        for host in ["127.0.0.1", "127.1.2.3", "[::1]", "localhost"] {
            assert!(host_is_declared(host, &[]), "{host}");
        }
        assert!(!host_is_declared("10.0.0.1", &[]));
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
            (
                |m| {
                    m.operator = Some(PolicyOperator {
                        name: "ТОО «Алматы спецтехпаркинг сервис»".into(),
                        bin: "12345678901".into(),
                    })
                },
                "policy.operator.bin",
            ),
            (
                |m| {
                    m.operator = Some(PolicyOperator {
                        name: " ".into(),
                        bin: "123456789012".into(),
                    })
                },
                "policy.operator.name",
            ),
            (
                |m| {
                    m.purposes = vec![Purpose::Statistics];
                    m.data_categories = vec![PurposeDataCategories {
                        purpose: Purpose::Communication,
                        categories: vec!["phone".into()],
                    }];
                },
                "policy.data_categories",
            ),
            (
                |m| {
                    m.data_categories = vec![PurposeDataCategories {
                        purpose: Purpose::Statistics,
                        categories: vec!["App Usage".into()],
                    }];
                },
                "policy.data_categories",
            ),
            (
                |m| m.consent_duration_days = Some(0),
                "policy.consent_duration_days",
            ),
            (
                |m| m.personal_data_hosts = vec!["https://api.aparking.kz".into()],
                "policy.personal_data_hosts",
            ),
            (
                |m| m.telemetry_hosts = vec!["kz".into()],
                "policy.telemetry_hosts",
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
        let mut full = manifest(1);
        full.operator = Some(PolicyOperator {
            name: "ТОО «Алматы спецтехпаркинг сервис»".into(),
            bin: "123456789012".into(),
        });
        full.data_categories = vec![PurposeDataCategories {
            purpose: Purpose::Statistics,
            categories: vec!["app_usage".into(), "device_model".into()],
        }];
        full.consent_duration_days = Some(365);
        full.personal_data_hosts = vec!["api.aparking.kz".into()];
        full.telemetry_hosts = vec!["*.aparking.kz".into()];
        assert!(full.validate().is_ok());
        assert_eq!(full.categories_of(Purpose::Statistics).len(), 2);
        assert!(full.categories_of(Purpose::Communication).is_empty());
        assert!(PolicyManifest::from_json("{").is_err());
        assert!(PolicyManifest::from_json(r#"{"version":1}"#).is_err());
    }
}
