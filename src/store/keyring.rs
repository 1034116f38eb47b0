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

/// The key record as stored: key version, wrapped data key, canary, KEK check tag.
type KeyRecord = (i64, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

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
        "INSERT OR REPLACE INTO key_check
             (id, key_version, wrapped_dek, canary, kek_check, created_at, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?5)",
        params![version, wrapped, canary, kek.check_tag(), now],
    )?;
    Ok(KeyRing { dek, keys })
}

/// Unwraps the data key with `kek` and checks the canary. Reads only.
///
/// - the KEK's check tag differs (or, for a store from before the tag, the KEK does not
///   open the wrapped key): [`Error::WrongKey`];
/// - the tag matches but the wrapped key or its version does not open: the key record is
///   damaged, [`Error::Corrupted`];
/// - the data key opens but the canary does not: [`Error::Corrupted`].
pub(crate) fn load(conn: &Connection, kek: &KeyEncryptionKey) -> Result<KeyRing> {
    // Stores before schema v9 have no tag column until they are migrated (after this).
    let has_tag: bool = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('key_check') WHERE name = 'kek_check'",
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )
        .map_err(super::db::classify_read_error)?;
    let sql = if has_tag {
        "SELECT key_version, wrapped_dek, canary, kek_check FROM key_check WHERE id = 1"
    } else {
        "SELECT key_version, wrapped_dek, canary, NULL FROM key_check WHERE id = 1"
    };
    let row: Option<KeyRecord> = conn
        .query_row(sql, [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()
        .map_err(super::db::classify_read_error)?;
    let (version, wrapped, canary, kek_check) =
        row.ok_or(Error::Corrupted("the key record is missing"))?;
    let kek_is_right = match &kek_check {
        Some(tag) if kek.matches_check_tag(tag) => true,
        Some(_) => return Err(Error::WrongKey),
        None => false,
    };
    let damaged = || Error::Corrupted("the wrapped data key is damaged");
    let version = match u32::try_from(version) {
        Ok(v) => v,
        Err(_) if kek_is_right => return Err(damaged()),
        Err(_) => return Err(Error::WrongKey),
    };
    let dek = match DataKey::unwrap(&wrapped, kek, version) {
        Ok(dek) => dek,
        Err(Error::WrongKey) if kek_is_right => return Err(damaged()),
        Err(e) => return Err(e),
    };
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
        "UPDATE key_check SET wrapped_dek = ?1, kek_check = ?2, updated_at = ?3 WHERE id = 1",
        params![wrapped, kek.check_tag(), now_millis()],
    )?;
    Ok(())
}

/// Stores the KEK's check tag if the key record has none yet (a store from before schema
/// v9), once the KEK was shown to open the store.
pub(crate) fn add_missing_check_tag(tx: &Transaction<'_>, kek: &KeyEncryptionKey) -> Result<()> {
    tx.execute(
        "UPDATE key_check SET kek_check = ?1 WHERE id = 1 AND kek_check IS NULL",
        params![kek.check_tag()],
    )?;
    Ok(())
}
