//! The privacy-policy manifest served on `GET /v1/policy`, and its Ed25519 signature.

use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::Value;

use crate::error::ServerError;
use crate::protocol::{POLICY_SIGNATURE_HEADER, PURPOSES};

/// How the server signs the manifest it serves (tests choose the broken ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicySigning {
    /// Signed with the server's key (the default).
    #[default]
    Valid,
    /// No signature header.
    Unsigned,
    /// Signed with another, freshly made key.
    OtherKey,
    /// The server's key, over other bytes than those served.
    OtherBytes,
}

/// The key that signs the served manifest, and the mode tests set.
pub(crate) struct PolicySigner {
    key: Ed25519KeyPair,
    other: Ed25519KeyPair,
    pub(crate) mode: Mutex<PolicySigning>,
}

impl PolicySigner {
    /// The signer of `pkcs8` (an Ed25519 PKCS#8 v1 or v2 document), or of a new key.
    pub(crate) fn new(pkcs8: Option<&[u8]>) -> crate::error::Result<PolicySigner> {
        let key = match pkcs8 {
            Some(der) => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| {
                ServerError::Config("the policy signing key is not an Ed25519 PKCS#8 key".into())
            })?,
            None => new_key_pair()?,
        };
        Ok(PolicySigner {
            key,
            other: new_key_pair()?,
            mode: Mutex::new(PolicySigning::Valid),
        })
    }

    /// The public key, base64 of its 32 bytes: what an app puts in
    /// `SyncConfig.policy_public_keys`.
    pub(crate) fn public_key(&self) -> String {
        STANDARD.encode(self.key.public_key().as_ref())
    }

    /// The signature header value for `body`, as the mode says.
    pub(crate) fn sign(&self, body: &[u8]) -> Option<String> {
        let mode = *self.mode.lock().unwrap_or_else(|e| e.into_inner());
        let signature = match mode {
            PolicySigning::Valid => self.key.sign(body),
            PolicySigning::Unsigned => return None,
            PolicySigning::OtherKey => self.other.sign(body),
            PolicySigning::OtherBytes => self.key.sign(&[body, b" "].concat()),
        };
        Some(STANDARD.encode(signature.as_ref()))
    }
}

/// A new Ed25519 key pair.
fn new_key_pair() -> crate::error::Result<Ed25519KeyPair> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| ServerError::Config("no randomness for a signing key".into()))?;
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| ServerError::Config("a new signing key did not parse".into()))
}

/// A new Ed25519 signing key as a PKCS#8 v2 document (for `--policy-key`).
pub fn generate_policy_signing_key() -> crate::error::Result<Vec<u8>> {
    Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map(|doc| doc.as_ref().to_vec())
        .map_err(|_| ServerError::Config("no randomness for a signing key".into()))
}

/// The header name, re-exported for the handler.
pub(crate) const SIGNATURE_HEADER: &str = POLICY_SIGNATURE_HEADER;

/// Checks that `manifest` has the shape the SDK expects:
/// `{"version": 3, "last_updated": "2026-01-15", "url": "https://...",
///   "text_sha256": "<64 lower-case hex>", "purposes": ["statistics", ...]}`
/// (other fields are allowed). The error names the offending field, never its value.
///
/// The CLI checks `--policy` files with it;
/// [`ReferenceServer::set_policy`](crate::ReferenceServer::set_policy) does not, so tests
/// can publish broken manifests.
pub fn validate_policy_manifest(manifest: &Value) -> Result<(), String> {
    let m = manifest
        .as_object()
        .ok_or("the manifest must be a JSON object")?;
    match m.get("version").and_then(Value::as_u64) {
        Some(v) if v >= 1 => {}
        _ => return Err("version: must be a positive integer".into()),
    }
    let date = m.get("last_updated").and_then(Value::as_str).unwrap_or("");
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if time::Date::parse(date, &date_format).is_err() {
        return Err("last_updated: must be a date YYYY-MM-DD".into());
    }
    if !m
        .get("url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.starts_with("https://") && u.len() > "https://".len())
    {
        return Err("url: must be an https URL".into());
    }
    if !m
        .get("text_sha256")
        .and_then(Value::as_str)
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return Err("text_sha256: must be 64 lower-case hex digits".into());
    }
    let purposes = m
        .get("purposes")
        .and_then(Value::as_array)
        .ok_or("purposes: must be an array")?;
    for (i, p) in purposes.iter().enumerate() {
        if !p.as_str().is_some_and(|p| PURPOSES.contains(&p)) {
            return Err(format!("purposes[{i}]: unknown purpose"));
        }
    }
    if let Some(operator) = m.get("operator") {
        let name_ok = operator["name"]
            .as_str()
            .is_some_and(|n| !n.trim().is_empty());
        let bin_ok = operator["bin"]
            .as_str()
            .is_some_and(|b| b.len() == 12 && b.bytes().all(|c| c.is_ascii_digit()));
        if !name_ok || !bin_ok {
            return Err("operator: must have a name and a 12-digit bin".into());
        }
    }
    for name in ["personal_data_hosts", "telemetry_hosts"] {
        if let Some(hosts) = m.get(name) {
            let ok = hosts.as_array().is_some_and(|list| {
                list.iter().all(|h| {
                    h.as_str().is_some_and(|h| {
                        !h.is_empty() && !h.contains(['/', ':', ' ']) && h == h.to_ascii_lowercase()
                    })
                })
            });
            if !ok {
                return Err(format!("{name}: must be an array of lower-case host names"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_the_manifest_shape() {
        let mut m = json!({"version": 3, "last_updated": "2026-01-15",
            "url": "https://aparking.kz/privacy", "text_sha256": "ab".repeat(32),
            "purposes": ["statistics", "connection_diagnostics"]});
        assert_eq!(validate_policy_manifest(&m), Ok(()));
        m["purposes"] = json!(["statistics", "selling"]);
        assert_eq!(
            validate_policy_manifest(&m),
            Err("purposes[1]: unknown purpose".into())
        );
        m["purposes"] = json!(["statistics"]);
        m["operator"] = json!({"name": "ТОО", "bin": "12345"});
        assert!(validate_policy_manifest(&m)
            .unwrap_err()
            .starts_with("operator"));
        m["operator"] = json!({"name": "ТОО", "bin": "123456789012"});
        m["personal_data_hosts"] = json!(["https://api.aparking.kz"]);
        assert!(validate_policy_manifest(&m)
            .unwrap_err()
            .starts_with("personal_data_hosts"));
        m["personal_data_hosts"] = json!(["api.aparking.kz"]);
        assert_eq!(validate_policy_manifest(&m), Ok(()));
        m["purposes"] = json!([]);
        m["last_updated"] = json!("15.01.2026");
        assert!(validate_policy_manifest(&m)
            .unwrap_err()
            .starts_with("last_updated"));
    }
}
