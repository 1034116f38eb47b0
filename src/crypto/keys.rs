//! Data key, key-encryption key, derived subkeys, sealing and blind indexes.

use crate::error::{Error, Result};
use crate::locks::Locked;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};
use zeroize::Zeroizing;

/// Length of every symmetric key in the store (256 bits).
pub(crate) const KEY_LEN: usize = 32;
/// First byte of every sealed value: the ciphertext format version.
const SEALED_FORMAT_V1: u8 = 1;
const TAG_LEN: usize = 16;
const HKDF_SALT: &[u8] = b"aparking-core/hkdf-salt/v1";
const INFO_VALUES: &[u8] = b"aparking-core/values/v1";
const INFO_BLIND_INDEX: &[u8] = b"aparking-core/blind-index/v1";
const DEK_WRAP_AAD: &[u8] = b"aparking-core/dek-wrap/v1";
const KEK_CHECK_SALT: &[u8] = b"aparking-core/kek-check-salt/v1";
const KEK_CHECK_MESSAGE: &[u8] = b"aparking-core/kek-check/v1";

/// A key-encryption key as supplied by the host. Zeroized on drop.
pub(crate) struct KeyEncryptionKey(Zeroizing<Vec<u8>>);

impl KeyEncryptionKey {
    /// Takes the bytes from the provider; rejects any length but 32.
    pub(crate) fn new(bytes: Vec<u8>) -> Result<Self> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() != KEY_LEN {
            return Err(Error::invalid(
                "key_encryption_key",
                "must be exactly 32 bytes",
            ));
        }
        // An all-zero or all-0xFF key is a buffer never filled (a keystore call that
        // failed silently), not a key.
        if bytes.iter().all(|b| *b == 0) || bytes.iter().all(|b| *b == 0xFF) {
            return Err(Error::invalid(
                "key_encryption_key",
                "is all zero or all 0xFF bytes: not a key",
            ));
        }
        Ok(KeyEncryptionKey(bytes))
    }

    /// The check tag of this KEK: HMAC-SHA256, under a key derived from the KEK with HKDF,
    /// of a constant. Stored beside the wrapped data key, it tells a wrong KEK (the tag
    /// differs) from a damaged wrapped key (the tag matches, the unwrap fails). It reveals
    /// nothing about the KEK beyond what the wrapped key already does.
    pub(crate) fn check_tag(&self) -> Vec<u8> {
        hmac::sign(&self.check_key(), KEK_CHECK_MESSAGE)
            .as_ref()
            .to_vec()
    }

    /// Whether `tag` is this KEK's check tag (constant time).
    pub(crate) fn matches_check_tag(&self, tag: &[u8]) -> bool {
        hmac::verify(&self.check_key(), KEK_CHECK_MESSAGE, tag).is_ok()
    }

    fn check_key(&self) -> hmac::Key {
        hkdf::Salt::new(hkdf::HKDF_SHA256, KEK_CHECK_SALT)
            .extract(&self.0)
            .expand(&[KEK_CHECK_MESSAGE], hmac::HMAC_SHA256)
            .expect("HMAC-SHA256 key length is a valid HKDF output length")
            .into()
    }

    fn aead_key(&self) -> LessSafeKey {
        // The length was checked in `new`.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("32-byte key"))
    }
}

/// The store's data key (DEK). Zeroized on drop.
pub(crate) struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A fresh random data key.
    pub(crate) fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Crypto("random number generator"))?;
        Ok(DataKey(bytes))
    }

    /// Wraps the DEK with the KEK: `nonce || ciphertext || tag`, bound to `key_version`.
    pub(crate) fn wrap(&self, kek: &KeyEncryptionKey, key_version: u32) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(NONCE_LEN + KEY_LEN + TAG_LEN);
        seal_into(
            &kek.aead_key(),
            &wrap_aad(key_version),
            self.0.as_ref(),
            &mut buf,
        )?;
        Ok(buf)
    }

    /// Unwraps a DEK. Fails with [`Error::WrongKey`] when the KEK does not open it.
    pub(crate) fn unwrap(wrapped: &[u8], kek: &KeyEncryptionKey, key_version: u32) -> Result<Self> {
        let mut buf = Zeroizing::new(wrapped.to_vec());
        let len = open_in_place(&kek.aead_key(), &wrap_aad(key_version), &mut buf)
            .ok_or(Error::WrongKey)?;
        let bytes: [u8; KEY_LEN] = buf[NONCE_LEN..NONCE_LEN + len]
            .try_into()
            .map_err(|_| Error::WrongKey)?;
        Ok(DataKey(Zeroizing::new(bytes)))
    }
}

fn wrap_aad(key_version: u32) -> Vec<u8> {
    let mut aad = DEK_WRAP_AAD.to_vec();
    aad.extend_from_slice(&key_version.to_be_bytes());
    aad
}

/// Where a sealed value lives; bound into the associated data of its ciphertext.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldRef<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub record_id: &'a str,
}

/// The subkeys derived from one data key, with the key version they belong to.
pub(crate) struct StoreKeys {
    version: u32,
    values: LessSafeKey,
    blind_index: hmac::Key,
    /// The fingerprinter last opened under these keys, with the sealed bytes it came from.
    fingerprinter: std::sync::Mutex<Option<(Vec<u8>, crate::crypto::Fingerprinter)>>,
}

struct OkmLen(usize);

impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

impl StoreKeys {
    /// Derives the value key and the blind-index key from `dek` with HKDF-SHA256.
    pub(crate) fn derive(dek: &DataKey, version: u32) -> Result<Self> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(dek.0.as_ref());
        let expand = |info: &[u8]| -> Result<Zeroizing<[u8; KEY_LEN]>> {
            let mut out = Zeroizing::new([0u8; KEY_LEN]);
            let info = [info];
            prk.expand(&info, OkmLen(KEY_LEN))
                .and_then(|okm| okm.fill(out.as_mut()))
                .map_err(|_| Error::Crypto("hkdf"))?;
            Ok(out)
        };
        let value_key = expand(INFO_VALUES)?;
        let index_key = expand(INFO_BLIND_INDEX)?;
        Ok(StoreKeys {
            version,
            values: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, value_key.as_ref())
                    .map_err(|_| Error::Crypto("aead key"))?,
            ),
            blind_index: hmac::Key::new(hmac::HMAC_SHA256, index_key.as_ref()),
            fingerprinter: std::sync::Mutex::new(None),
        })
    }

    /// The fingerprinter whose key is sealed as `sealed` under these keys: `open` makes it
    /// the first time, and it is kept for the next call with the same bytes (the key row is
    /// read on every remembered value, and opening it, an AEAD open and an HMAC key set-up,
    /// was a tenth of an update's work). Other bytes (a key made after an erasure, a row
    /// whose insert was rolled back) are opened afresh.
    pub(crate) fn fingerprinter_for(
        &self,
        sealed: &[u8],
        open: impl FnOnce() -> Result<crate::crypto::Fingerprinter>,
    ) -> Result<crate::crypto::Fingerprinter> {
        let mut cached = self.fingerprinter.locked();
        if let Some((bytes, fingerprinter)) = cached.as_ref() {
            if bytes.as_slice() == sealed {
                return Ok(fingerprinter.clone());
            }
        }
        let fingerprinter = open()?;
        *cached = Some((sealed.to_vec(), fingerprinter.clone()));
        Ok(fingerprinter)
    }

    /// The key version these subkeys belong to.
    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// Seals `plaintext` for `field`: `format || nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, field: FieldRef<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(SEALED_FORMAT_V1);
        seal_into(&self.values, self.aad(field).as_ref(), plaintext, &mut out)?;
        Ok(out)
    }

    /// Opens a value sealed for `field`, decrypting in place; `None` when it was altered,
    /// moved or sealed with another key. The plaintext is zeroized when dropped.
    pub(crate) fn open(&self, field: FieldRef<'_>, sealed: Vec<u8>) -> Option<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(sealed);
        if buf.first() != Some(&SEALED_FORMAT_V1) {
            return None;
        }
        let len = open_in_place(&self.values, self.aad(field).as_ref(), &mut buf[1..])?;
        buf.copy_within(1 + NONCE_LEN..1 + NONCE_LEN + len, 0);
        buf.truncate(len);
        Some(buf)
    }

    /// Blind index of a canonical value within a domain (`plate`, `document_number`):
    /// HMAC-SHA256 keyed by the blind-index subkey, over `domain || 0 || parts joined by 0`.
    pub(crate) fn blind_index(&self, domain: &str, parts: &[&str]) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.blind_index);
        ctx.update(domain.as_bytes());
        for part in parts {
            ctx.update(&[0]);
            ctx.update(part.as_bytes());
        }
        ctx.sign().as_ref().to_vec()
    }

    fn aad(&self, field: FieldRef<'_>) -> AadBuf {
        let mut aad = AadBuf::default();
        for part in [field.table, field.column, field.record_id] {
            aad.push(part.as_bytes());
            aad.push(&[0]);
        }
        aad.push(&self.version.to_be_bytes());
        aad
    }
}

/// Associated data built on the stack (no allocation on the hot path), spilling to the
/// heap only for unusually long record ids.
struct AadBuf {
    inline: [u8; 96],
    len: usize,
    spilled: Option<Vec<u8>>,
}

impl Default for AadBuf {
    fn default() -> Self {
        AadBuf {
            inline: [0; 96],
            len: 0,
            spilled: None,
        }
    }
}

impl AadBuf {
    fn push(&mut self, bytes: &[u8]) {
        if let Some(v) = &mut self.spilled {
            v.extend_from_slice(bytes);
        } else if self.len + bytes.len() <= self.inline.len() {
            self.inline[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            let mut v = self.inline[..self.len].to_vec();
            v.extend_from_slice(bytes);
            self.spilled = Some(v);
        }
    }
}

impl AsRef<[u8]> for AadBuf {
    fn as_ref(&self) -> &[u8] {
        self.spilled.as_deref().unwrap_or(&self.inline[..self.len])
    }
}

/// Appends `nonce || ciphertext || tag` of `plaintext` to `out`, with a fresh random nonce.
fn seal_into(key: &LessSafeKey, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Error::Crypto("random number generator"))?;
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[start..],
        )
        .map_err(|_| Error::Crypto("seal"))?;
    out.extend_from_slice(tag.as_ref());
    Ok(())
}

/// Decrypts `nonce || ciphertext || tag` in place; returns the plaintext length (the
/// plaintext then starts at `buf[NONCE_LEN]`). `None` on any authentication failure.
fn open_in_place(key: &LessSafeKey, aad: &[u8], buf: &mut [u8]) -> Option<usize> {
    if buf.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ciphertext) = buf.split_at_mut(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    key.open_in_place(nonce, Aad::from(aad), ciphertext)
        .ok()
        .map(|plain| plain.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprinter_is_opened_once_per_sealed_key_row() {
        let keys = keys(1);
        let opened = std::cell::Cell::new(0);
        let open = |byte: u8| {
            opened.set(opened.get() + 1);
            crate::crypto::Fingerprinter::from_key(&[byte; 32])
        };
        let a = keys.fingerprinter_for(b"row a", || open(1)).unwrap();
        let again = keys.fingerprinter_for(b"row a", || open(1)).unwrap();
        assert_eq!(opened.get(), 1, "the same sealed bytes: not opened again");
        assert_eq!(a.fingerprint("word", "x"), again.fingerprint("word", "x"));
        let b = keys.fingerprinter_for(b"row b", || open(2)).unwrap();
        assert_eq!(opened.get(), 2, "other bytes: opened afresh");
        assert_ne!(a.fingerprint("word", "x"), b.fingerprint("word", "x"));
        assert!(keys
            .fingerprinter_for(b"row c", || Err(Error::Crypto("test")))
            .is_err());
        keys.fingerprinter_for(b"row c", || open(3)).unwrap();
        assert_eq!(
            opened.get(),
            3,
            "a failed open cached nothing for its bytes"
        );
    }

    fn keys(version: u32) -> StoreKeys {
        StoreKeys::derive(&DataKey::generate().unwrap(), version).unwrap()
    }

    const FIELD: FieldRef<'static> = FieldRef {
        table: "vehicles",
        column: "sealed",
        record_id: "id-1",
    };

    #[test]
    fn sealed_values_round_trip_with_fresh_nonces() {
        let k = keys(1);
        let a = k.seal(FIELD, b"123ABC02").unwrap();
        let b = k.seal(FIELD, b"123ABC02").unwrap();
        assert_ne!(a, b, "a fresh nonce every time");
        assert_eq!(k.open(FIELD, a).unwrap().as_slice(), b"123ABC02");
        assert_eq!(
            k.open(FIELD, k.seal(FIELD, b"").unwrap())
                .unwrap()
                .as_slice(),
            b""
        );
    }

    #[test]
    fn moved_or_flipped_ciphertexts_fail_to_open() {
        let k = keys(1);
        let sealed = k.seal(FIELD, b"123ABC02").unwrap();
        let other_row = FieldRef {
            record_id: "id-2",
            ..FIELD
        };
        let other_column = FieldRef {
            column: "other",
            ..FIELD
        };
        let other_table = FieldRef {
            table: "documents",
            ..FIELD
        };
        for place in [other_row, other_column, other_table] {
            assert!(k.open(place, sealed.clone()).is_none());
        }
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(k.open(FIELD, bad).is_none(), "flip at byte {i}");
        }
        assert!(k.open(FIELD, sealed[..10].to_vec()).is_none());
        assert!(k.open(FIELD, Vec::new()).is_none());
    }

    #[test]
    fn long_record_ids_spill_the_aad_to_the_heap() {
        let k = keys(1);
        let long_id = "x".repeat(300);
        let field = FieldRef {
            record_id: &long_id,
            ..FIELD
        };
        let sealed = k.seal(field, b"v").unwrap();
        assert_eq!(k.open(field, sealed.clone()).unwrap().as_slice(), b"v");
        let shorter = "x".repeat(299);
        assert!(k
            .open(
                FieldRef {
                    record_id: &shorter,
                    ..FIELD
                },
                sealed
            )
            .is_none());
    }

    #[test]
    fn key_version_is_bound() {
        let dek = DataKey::generate().unwrap();
        let v1 = StoreKeys::derive(&dek, 1).unwrap();
        let v2 = StoreKeys::derive(&dek, 2).unwrap();
        let sealed = v1.seal(FIELD, b"x").unwrap();
        assert!(v2.open(FIELD, sealed).is_none());
    }

    #[test]
    fn dek_wrap_needs_the_right_kek() {
        let dek = DataKey::generate().unwrap();
        let kek = KeyEncryptionKey::new(vec![7u8; 32]).unwrap();
        let wrapped = dek.wrap(&kek, 1).unwrap();
        let back = DataKey::unwrap(&wrapped, &kek, 1).unwrap();
        assert_eq!(back.0.as_ref(), dek.0.as_ref());
        let wrong = KeyEncryptionKey::new(vec![8u8; 32]).unwrap();
        assert!(matches!(
            DataKey::unwrap(&wrapped, &wrong, 1),
            Err(Error::WrongKey)
        ));
        assert!(matches!(
            DataKey::unwrap(&wrapped, &kek, 2),
            Err(Error::WrongKey)
        ));
        assert!(KeyEncryptionKey::new(vec![0u8; 16]).is_err());
    }

    #[test]
    fn blind_index_is_keyed_and_domain_separated() {
        let a = keys(1);
        let b = keys(1);
        assert_eq!(
            a.blind_index("plate", &["123ABC02"]),
            a.blind_index("plate", &["123ABC02"])
        );
        assert_ne!(
            a.blind_index("plate", &["123ABC02"]),
            b.blind_index("plate", &["123ABC02"])
        );
        assert_ne!(
            a.blind_index("plate", &["123ABC02"]),
            a.blind_index("document_number", &["123ABC02"])
        );
        assert_ne!(
            a.blind_index("d", &["ab", "c"]),
            a.blind_index("d", &["a", "bc"])
        );
    }
}
