//! The host's side of key management.

use crate::crypto::keys::KEY_LEN;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Why a [`KeyProvider`] could not supply the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyProviderError {
    /// The key cannot be had now or ever again (keystore locked, key invalidated after a
    /// lock-screen change, user cancelled authentication). `reason` is shown in
    /// `AparkingError.KeyUnavailable`; it must not contain secrets.
    #[error("key unavailable: {reason}")]
    Unavailable { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyProviderError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The foreign exception's text is not forwarded: it may quote key material.
        KeyProviderError::Unavailable {
            reason: "the key provider failed unexpectedly".to_string(),
        }
    }
}

/// Supplies the key-encryption key (KEK) that wraps the store's data key.
///
/// Implemented by the app: on Android backed by the Android Keystore (for example a
/// random 32-byte secret kept encrypted by a non-exportable Keystore key), on iOS by the
/// Keychain (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`). The store calls it when
/// it opens and when the KEK is rotated; it must not call back into the store.
#[uniffi::export(with_foreign)]
pub trait KeyProvider: Send + Sync {
    /// Returns the KEK: exactly 32 bytes of key material.
    fn key_encryption_key(&self) -> Result<Vec<u8>, KeyProviderError>;
}

/// A KEK held in memory: for tests, the quickstart and host-side tools. Never for apps:
/// the key would not outlive the process.
pub struct InMemoryKeyProvider {
    key: Zeroizing<Vec<u8>>,
}

impl InMemoryKeyProvider {
    /// A provider with a fresh random key.
    pub fn random() -> Self {
        let mut key = Zeroizing::new(vec![0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(&mut key)
            .expect("the system random number generator failed");
        InMemoryKeyProvider { key }
    }

    /// A provider with the given key bytes (copied; the copy is zeroized on drop).
    pub fn from_bytes(key: &[u8]) -> Self {
        InMemoryKeyProvider {
            key: Zeroizing::new(key.to_vec()),
        }
    }
}

impl std::fmt::Debug for InMemoryKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InMemoryKeyProvider(..)")
    }
}

impl KeyProvider for InMemoryKeyProvider {
    fn key_encryption_key(&self) -> Result<Vec<u8>, KeyProviderError> {
        Ok(self.key.to_vec())
    }
}
