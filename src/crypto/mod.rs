//! Envelope encryption of personal values, with ring as the only crypto library.
//!
//! - The host supplies a key-encryption key (KEK) through [`KeyProvider`].
//! - The SDK makes a random 256-bit data key (DEK) and stores it only wrapped by the KEK
//!   (AES-256-GCM) in the `key_check` table, beside a canary sealed with the DEK.
//! - HKDF-SHA256 derives two subkeys from the DEK: one seals values (AES-256-GCM), one
//!   computes blind indexes (HMAC-SHA256) for lookups and uniqueness of plates and
//!   document numbers.
//! - Every sealed value is bound by its associated data to table, column, record id and
//!   key version: a ciphertext moved to another row or field fails to open.

mod fingerprint;
mod key_provider;
mod keys;
mod signature;

pub(crate) use fingerprint::{Fingerprinter, FINGERPRINT_LEN};
pub use key_provider::{InMemoryKeyProvider, KeyProvider, KeyProviderError};
pub(crate) use keys::{DataKey, FieldRef, KeyEncryptionKey, StoreKeys};
pub(crate) use signature::{sha256_hex, TrustedKeys};
