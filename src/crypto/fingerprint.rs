//! Keyed fingerprints (HMAC-SHA256) of personal values the user no longer has, for the
//! telemetry PII firewall: a match can be told, the value cannot be read back.
//!
//! The key is random, made once per store and kept sealed beside the fingerprints
//! (`firewall_past`), so a data-key rotation re-seals it instead of invalidating them.

use crate::error::{Error, Result};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Length of a fingerprint key and of a fingerprint, in bytes.
pub(crate) const FINGERPRINT_LEN: usize = 32;

/// Computes fingerprints under one key.
#[derive(Clone)]
pub(crate) struct Fingerprinter {
    key: hmac::Key,
}

impl Fingerprinter {
    /// A new random key, returned with the fingerprinter (to be sealed by the caller).
    pub(crate) fn generate() -> Result<(Self, Zeroizing<Vec<u8>>)> {
        let mut bytes = Zeroizing::new(vec![0u8; FINGERPRINT_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut_slice())
            .map_err(|_| Error::Crypto("random fingerprint key"))?;
        Ok((Self::from_key(&bytes)?, bytes))
    }

    /// The fingerprinter of a stored key.
    pub(crate) fn from_key(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != FINGERPRINT_LEN {
            return Err(Error::Crypto("fingerprint key length"));
        }
        Ok(Fingerprinter {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        })
    }

    /// The fingerprint of `value` of kind `kind` (`code`, `phone`, `word`, `text`).
    pub(crate) fn fingerprint(&self, kind: &str, value: &str) -> [u8; FINGERPRINT_LEN] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(kind.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        let mut out = [0u8; FINGERPRINT_LEN];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_key_kind_and_value() {
        let (a, key) = Fingerprinter::generate().unwrap();
        let again = Fingerprinter::from_key(&key).unwrap();
        assert_eq!(
            a.fingerprint("code", "123ABC02"),
            again.fingerprint("code", "123ABC02")
        );
        assert_ne!(
            a.fingerprint("code", "123ABC02"),
            a.fingerprint("text", "123ABC02")
        );
        assert_ne!(
            a.fingerprint("code", "123ABC02"),
            a.fingerprint("code", "123ABC03")
        );
        let (b, _) = Fingerprinter::generate().unwrap();
        assert_ne!(
            a.fingerprint("code", "123ABC02"),
            b.fingerprint("code", "123ABC02")
        );
        assert!(Fingerprinter::from_key(&[1; 16]).is_err());
    }
}
