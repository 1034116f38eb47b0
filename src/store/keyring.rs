//! The `key_check` row: creating, checking and rotating the store's keys.

use super::db::now_millis;
use crate::crypto::{DataKey, FieldRef, KeyEncryptionKey, KeyProvider, StoreKeys};
use crate::error::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

const CANARY_FIELD: FieldRef<'static> = FieldRef {
    table: "key_check",
    column: "canary",
    record_id: "1",
};
const CANARY_PLAINTEXT: &[u8] = b"aparking-core key check v1";

/// The unwrapped data key and the subkeys derived from it.
pub(crate) struct KeyRing {
    pub dek: DataKey,
    pub keys: StoreKeys,
}

/// Asks the host for its key-encryption key.
pub(crate) fn fetch_kek(provider: &dyn KeyProvider) -> Result<KeyEncryptionKey> {
    let bytes = provider.key_encryption_key().map_err(
        |crate::crypto::KeyProviderError::Unavailable { reason }| Error::KeyUnavailable(reason),
    )?;
    KeyEncryptionKey::new(bytes)
}

/// Makes a new data key with `version`, stores it wrapped by `kek` with a fresh canary
/// (replacing any previous row), and returns it.
pub(crate) fn install_new(
    tx: &Transaction<'_>,
    kek: &KeyEncryptionKey,
    version: u32,
) -> Result<KeyRing> {
    let dek = DataKey::generate()?;
    let keys = StoreKeys::derive(&dek, version)?;
    let wrapped = dek.wrap(kek, version)?;
    let canary = keys.seal(CANARY_FIELD, CANARY_PLAINTEXT)?;
    let now = now_millis();
    tx.execute(
        "INSERT OR REPLACE INTO key_check (id, key_version, wrapped_dek, canary, created_at, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?4)",
        params![version, wrapped, canary, now],
    )?;
    Ok(KeyRing { dek, keys })
}

/// Unwraps the data key with `kek` and checks the canary. Reads only.
///
/// - the KEK does not open the wrapped key: [`Error::WrongKey`];
/// - the data key opens but the canary does not: [`Error::Corrupted`].
pub(crate) fn load(conn: &Connection, kek: &KeyEncryptionKey) -> Result<KeyRing> {
    let row: Option<(u32, Vec<u8>, Vec<u8>)> = conn
        .query_row(
            "SELECT key_version, wrapped_dek, canary FROM key_check WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(super::db::classify_read_error)?;
    let (version, wrapped, canary) = row.ok_or(Error::Corrupted("the key record is missing"))?;
    let dek = DataKey::unwrap(&wrapped, kek, version)?;
    let keys = StoreKeys::derive(&dek, version)?;
    if keys
        .open(CANARY_FIELD, canary)
        .as_deref()
        .map(Vec::as_slice)
        != Some(CANARY_PLAINTEXT)
    {
        return Err(Error::Corrupted("the key check failed"));
    }
    Ok(KeyRing { dek, keys })
}

/// Re-wraps the current data key with a new KEK (KEK rotation: O(1), no row changes).
pub(crate) fn rewrap(tx: &Transaction<'_>, ring: &KeyRing, kek: &KeyEncryptionKey) -> Result<()> {
    let version = ring.keys.version();
    let wrapped = ring.dek.wrap(kek, version)?;
    tx.execute(
        "UPDATE key_check SET wrapped_dek = ?1, updated_at = ?2 WHERE id = 1",
        params![wrapped, now_millis()],
    )?;
    Ok(())
}
