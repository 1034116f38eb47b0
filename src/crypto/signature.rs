//! Ed25519 signatures of documents the backend publishes (the policy manifest), verified
//! with ring against public keys the app configures.

use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};

/// SHA-256 of `bytes`, lower-case hex (receipt hashes, policy text hashes).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// At most this many trusted keys (a current one and a few for rotation).
const MAX_KEYS: usize = 8;

/// The Ed25519 public keys whose signatures the app trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustedKeys(Vec<[u8; 32]>);

impl TrustedKeys {
    /// Parses base64 (standard alphabet) raw 32-byte Ed25519 public keys; `field` names
    /// the configuration field in the error.
    pub(crate) fn parse(field: &'static str, keys: &[String]) -> Result<Self> {
        if keys.len() > MAX_KEYS {
            return Err(Error::invalid(field, "must list at most 8 keys"));
        }
        keys.iter()
            .map(|key| {
                STANDARD
                    .decode(key.trim())
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or(Error::invalid(
                        field,
                        "must be base64 of 32-byte Ed25519 public keys",
                    ))
            })
            .collect::<Result<Vec<_>>>()
            .map(TrustedKeys)
    }

    /// Whether no key is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks that `signature` (base64 of 64 bytes) signs exactly `message` with one of
    /// the keys. `Ok(false)` when it does not, or is missing or malformed.
    pub(crate) fn verify(&self, message: &[u8], signature: Option<&str>) -> bool {
        let Some(signature) = signature.and_then(|s| STANDARD.decode(s.trim()).ok()) else {
            return false;
        };
        signature.len() == 64
            && self.0.iter().any(|key| {
                UnparsedPublicKey::new(&ED25519, key)
                    .verify(message, &signature)
                    .is_ok()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn key_pair() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    #[test]
    fn a_signature_verifies_only_with_its_key_and_message() {
        let (signer, other) = (key_pair(), key_pair());
        let trusted = TrustedKeys::parse(
            "keys",
            &[
                STANDARD.encode(other.public_key()),
                STANDARD.encode(signer.public_key()),
            ],
        )
        .unwrap();
        let message = br#"{"version":3}"#;
        let signature = STANDARD.encode(signer.sign(message));
        assert!(trusted.verify(message, Some(&signature)));
        assert!(!trusted.verify(br#"{"version":4}"#, Some(&signature)));
        assert!(!trusted.verify(message, None));
        assert!(!trusted.verify(message, Some("not base64!")));
        assert!(!trusted.verify(message, Some(&STANDARD.encode([0u8; 64]))));
        let only_other =
            TrustedKeys::parse("keys", &[STANDARD.encode(other.public_key())]).unwrap();
        assert!(!only_other.verify(message, Some(&signature)));
    }

    #[test]
    fn malformed_keys_are_refused_by_field() {
        for keys in [
            vec!["abc".to_string()],
            vec![STANDARD.encode([1u8; 31])],
            vec![STANDARD.encode([1u8; 32]); 9],
        ] {
            assert!(matches!(
                TrustedKeys::parse("policy_public_keys", &keys),
                Err(Error::InvalidInput {
                    field: "policy_public_keys",
                    ..
                })
            ));
        }
        assert!(TrustedKeys::parse("k", &[]).unwrap().is_empty());
    }
}
