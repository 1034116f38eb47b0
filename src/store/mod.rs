//! The encrypted local store: the user's profile, vehicles and documents in one SQLite
//! file, every personal value sealed (see [`crate::crypto`]).
//!
//! [`Store`] is the public object (a uniffi object and the Rust API). Its calls are local
//! and fast (microseconds to a few milliseconds: one SQLite transaction per write, with an
//! fsync at the default [`Durability::Full`]) and **block the calling thread**: call them from a background dispatcher
//! (`Dispatchers.IO` in Kotlin, a background task in Swift), not the UI thread.
//!
//! One `Store` may be shared by many threads: calls are serialised by a mutex around the
//! single connection.

pub(crate) mod db;
pub(crate) mod documents;
mod domains;
mod export;
pub(crate) mod keyring;
pub(crate) mod outbox;
pub(crate) mod past_values;
pub(crate) mod profile;
mod recovery;
mod reseal;
pub(crate) mod rollback;
mod schema;
pub(crate) mod sealed;
mod synced;
mod tables;
pub(crate) mod vault;
pub(crate) mod vehicles;

pub use db::Durability;
pub use recovery::{delete_store_files, move_store_aside};

use crate::consent::handle::{DeletionReason, StoreHandle};
use crate::consent::hub::ConsentHub;
use crate::consent::{Purpose, PurposeSet};
use crate::crypto::KeyProvider;
use crate::error::{ApiResult, Error, Result};
use crate::locks::Locked;
use crate::model::{
    Document, DocumentKind, DocumentPatch, NewDocument, NewVehicle, Profile, ProfilePatch,
    RecordKind, RecordRef, Vehicle, VehiclePatch,
};
pub use rollback::RollbackCounter;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use vault::{OpenStore, Vault};

/// The schema version this code writes.
pub const SCHEMA_VERSION: u32 = schema::LATEST_VERSION;

/// Facts about an open store, free of personal data (for diagnostics and support).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreInfo {
    /// Schema version of the database file.
    pub schema_version: i32,
    /// Version of the data key; it grows by one with every data-key rotation.
    pub key_version: i32,
    /// Whether a profile is saved.
    pub has_profile: bool,
    /// Number of vehicles.
    pub vehicle_count: i64,
    /// Number of documents.
    pub document_count: i64,
    /// When saves reach the disk, as the open connection has it.
    pub durability: Durability,
}

/// How to open a store (`openWithOptions`); every field has a default, so
/// `StoreOptions()` in Kotlin and Swift opens as `open` does.
#[derive(uniffi::Record, Default)]
pub struct StoreOptions {
    /// When a save reaches the disk; unset: full durability.
    #[uniffi(default = None)]
    pub durability: Option<Durability>,
    /// The host's monotonic counter that detects a file restored from an older copy (see
    /// `RollbackCounter`); unset: none is kept outside the file.
    #[uniffi(default = None)]
    pub rollback_counter: Option<Arc<dyn rollback::RollbackCounter>>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("durability", &self.durability)
            .field("rollback_counter", &self.rollback_counter.is_some())
            .finish()
    }
}

/// The encrypted store of the user's personal data.
///
/// Open it with `Store.open` (or `openWithOptions`); in Kotlin close it with `close()` (it
/// is `AutoCloseable`), in Swift let it go, in Rust drop it; `shutdown()` closes the file
/// at once.
#[derive(uniffi::Object)]
pub struct Store {
    path: PathBuf,
    handle: Arc<StoreHandle>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    fn open_with(
        path: PathBuf,
        key_provider: Arc<dyn KeyProvider>,
        options: StoreOptions,
    ) -> ApiResult<Arc<Self>> {
        let counter = options.rollback_counter;
        let durability = options.durability.unwrap_or_default();
        // One store per file per process: every component of the app then shares one
        // connection and one consent state. Opening an open file again checks the key and
        // returns the same store.
        let key = registry_key(&path);
        let mut registry = OPEN_STORES.locked();
        registry.retain(|_, store| store.strong_count() > 0);
        if let Some(existing) = registry.get(&key).and_then(std::sync::Weak::upgrade) {
            if existing.check_key(key_provider.as_ref())? {
                return Ok(existing);
            }
        }
        let existed = path.exists();
        let open = match Self::open_at(&path, key_provider, counter, durability) {
            Ok(open) => open,
            Err(e) => {
                if !existed {
                    // A refused open of a new path leaves no file behind.
                    for suffix in ["", "-wal", "-shm", "-journal"] {
                        let mut file = path.clone().into_os_string();
                        file.push(suffix);
                        let _ = std::fs::remove_file(file);
                    }
                }
                return Err(e.into());
            }
        };
        let consent = crate::consent::load_state(&open.conn, &open.ring.keys)?;
        let store = Arc::new(Store {
            path,
            handle: Arc::new(StoreHandle::new(
                Vault::new(open),
                ConsentHub::new(consent),
                crate::telemetry::queue::on_consent_change,
            )),
        });
        registry.insert(key, Arc::downgrade(&store));
        Ok(store)
    }

    /// What the domains on this store hold of it.
    pub(crate) fn handle(&self) -> &Arc<StoreHandle> {
        &self.handle
    }

    fn open_at(
        path: &Path,
        provider: Arc<dyn KeyProvider>,
        counter: Option<Arc<dyn rollback::RollbackCounter>>,
        durability: Durability,
    ) -> Result<OpenStore> {
        // The key first: a key that cannot be had or is unusable opens nothing (and, for
        // a new path, creates nothing).
        let kek = keyring::fetch_kek(provider.as_ref())?;
        let mut conn = db::open_connection(path, durability)?;
        let version = schema::user_version(&conn)?;
        schema::check_supported(version)?;
        let ring = if version == 0 {
            if !schema::is_empty(&conn)? {
                return Err(Error::Corrupted("the file is not an aparking store"));
            }
            db::enable_wal(&conn)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            schema::migrate(&tx, 0)?;
            let ring = keyring::install_new(&tx, &kek, 1)?;
            if let Some(counter) = &counter {
                rollback::check_at_open(&tx, &ring.keys, counter.as_ref(), true)?;
            }
            tx.commit()?;
            log::info!("created a new store (schema v{})", schema::LATEST_VERSION);
            ring
        } else {
            // Check the key before anything is written: with a wrong key the file stays
            // byte-for-byte as it was.
            let ring = keyring::load(&conn, &kek)?;
            if version < schema::LATEST_VERSION {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                schema::migrate(&tx, version)?;
                if version < schema::CONSENT_CHAIN_VERSION {
                    // The consent of an older store gets its sealed chain head (needs the
                    // data key, so it is not plain SQL).
                    crate::consent::anchor_existing_receipts(&tx, &ring.keys)?;
                }
                // The KEK opened the store: record its check tag.
                keyring::add_missing_check_tag(&tx, &kek)?;
                tx.commit()?;
            }
            if let Some(counter) = &counter {
                // Before anything is written: a rolled-back file stays as it was.
                rollback::check_at_open(&conn, &ring.keys, counter.as_ref(), false)?;
            }
            db::enable_wal(&conn)?;
            ring
        };
        log::info!(
            "store opened (schema v{}, key v{})",
            schema::LATEST_VERSION,
            ring.keys.version()
        );
        Ok(OpenStore {
            conn,
            ring,
            provider,
            counter,
            durability,
        })
    }

    /// For an open store: whether `provider`'s key opens it (`WrongKey` if not). `false`
    /// when the store is closed.
    fn check_key(&self, provider: &dyn KeyProvider) -> Result<bool> {
        let guard = self.handle.lock();
        let Some(open) = guard.as_ref() else {
            return Ok(false);
        };
        let kek = keyring::fetch_kek(provider)?;
        keyring::load(&open.conn, &kek)?;
        Ok(true)
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `deleteAllUserData`: every sealed table emptied, the consent reset, a new data key,
    /// in one transaction; then the write-ahead log truncated.
    pub(crate) fn erase_all(&self) -> Result<()> {
        let mut guard = self.handle.lock();
        let open = guard.as_mut().ok_or(Error::Closed)?;
        let kek = keyring::fetch_kek(open.provider.as_ref())?;
        let tx = open
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let epoch = rollback::epoch(&tx, &open.ring.keys)?.saturating_add(1);
        // Documents first: they refer to vehicles.
        for table in tables::SEALED_TABLES.iter().rev() {
            tx.execute(&format!("DELETE FROM {}", table.table), [])?;
        }
        // The sync position goes with the mirror: a later sync pulls the account's data
        // from the start (or nothing, if the account was erased). The client id and the
        // erasure marks stay.
        tx.execute(
            "UPDATE sync_state SET cursor = NULL, generation = NULL WHERE id = 1",
            [],
        )?;
        let consent = crate::consent::erase_in(&tx, &open.ring.keys)?;
        // Telemetry of every purpose purged, a deletion request queued, the installation
        // id replaced.
        crate::telemetry::queue::on_consent_change(
            &tx,
            PurposeSet::of(&Purpose::ALL),
            DeletionReason::AccountDeleted,
        )?;
        let ring = keyring::install_new(&tx, &kek, open.ring.keys.version() + 1)?;
        rollback::set_epoch(&tx, &ring.keys, epoch)?;
        tx.commit()?;
        rollback::raise_counter(open.counter.as_deref(), epoch);
        self.handle.consent_hub().set_state(consent);
        open.ring = ring;
        let checkpoint = checkpoint_truncate(&open.conn);
        drop(guard);
        self.handle.consent_hub().notify();
        checkpoint?;
        log::info!("all user data deleted");
        Ok(())
    }
}

#[uniffi::export]
impl Store {
    /// Opens the store at `path` (created when missing), with the key-encryption key from
    /// `keyProvider`. A file already open in this process is not opened twice: when the
    /// key opens it, the same `Store` is returned (its key provider stays the first one).
    ///
    /// Errors: `WrongKey` (the key does not open this store; nothing is modified),
    /// `KeyUnavailable`, `StoreCorrupted`, `IncompatibleVersion`, `Storage`.
    #[uniffi::constructor]
    pub fn open(path: String, key_provider: Arc<dyn KeyProvider>) -> ApiResult<Arc<Self>> {
        Self::open_with(PathBuf::from(path), key_provider, StoreOptions::default())
    }

    /// Opens (or creates) the store at `path`, as `open` does, with `options`: the
    /// durability of saves and an optional rollback counter. A store already open in this
    /// process is returned as it is (its options stay the first open's).
    #[uniffi::constructor]
    pub fn open_with_options(
        path: String,
        key_provider: Arc<dyn KeyProvider>,
        options: StoreOptions,
    ) -> ApiResult<Arc<Self>> {
        Self::open_with(PathBuf::from(path), key_provider, options)
    }

    /// Opens (or creates) the store at `path`, as `open` does, and checks it
    /// against the host's `rollbackCounter`: an existing file older than the counter (a
    /// copy restored over the current file) is refused with `StoreRolledBack` and left
    /// unchanged. From then on every consent change, erasure and data-key rotation raises
    /// the counter. Opening a store that is already open returns it as it is.
    #[uniffi::constructor]
    pub fn open_with_rollback_counter(
        path: String,
        key_provider: Arc<dyn KeyProvider>,
        rollback_counter: Arc<dyn rollback::RollbackCounter>,
    ) -> ApiResult<Arc<Self>> {
        let options = StoreOptions {
            rollback_counter: Some(rollback_counter),
            ..StoreOptions::default()
        };
        Self::open_with(PathBuf::from(path), key_provider, options)
    }

    /// Closes the store now: checkpoints the write-ahead log and closes the file. Every
    /// later call fails with `StoreClosed`; closing twice is harmless. A call already
    /// running finishes first.
    ///
    /// Kotlin and Swift see this as `shutdown()`: their `close()` / deinit release the
    /// object (and close the file once no call holds it), while `shutdown()` closes the
    /// database at once even if other references to the object remain.
    #[uniffi::method(name = "shutdown")]
    pub fn close(&self) -> ApiResult<()> {
        let taken = self.handle.lock().take();
        if let Some(open) = taken {
            open.conn.close().map_err(|(_, e)| Error::from(e))?;
            log::info!("store closed");
        }
        Ok(())
    }

    /// The profile, or null / nil before it is first saved.
    pub fn get_profile(&self) -> ApiResult<Option<Profile>> {
        Ok(self.handle.read(|c, r| profile::get(c, &r.keys))?)
    }

    /// Updates the profile with `patch` (creating it on first use; `phone` is required
    /// then) and returns the result.
    pub fn update_profile(&self, patch: ProfilePatch) -> ApiResult<Profile> {
        Ok(self
            .handle
            .write(|tx, r| profile::update(tx, &r.keys, patch))?)
    }

    /// Adds a vehicle. A plate already saved (in any typed form) gives `AlreadyExists`.
    pub fn add_vehicle(&self, vehicle: NewVehicle) -> ApiResult<Vehicle> {
        Ok(self
            .handle
            .write(|tx, r| vehicles::add(tx, &r.keys, vehicle))?)
    }

    /// Updates the vehicle `id` with `patch` and returns the result.
    pub fn update_vehicle(&self, id: String, patch: VehiclePatch) -> ApiResult<Vehicle> {
        Ok(self
            .handle
            .write(|tx, r| vehicles::update(tx, &r.keys, &id, patch))?)
    }

    /// Removes the vehicle `id`; its documents stay, unlinked. `NotFound` if absent.
    pub fn remove_vehicle(&self, id: String) -> ApiResult<()> {
        Ok(self
            .handle
            .write(|tx, r| vehicles::remove(tx, &r.keys, &id))?)
    }

    /// The vehicle `id`, or null / nil.
    pub fn get_vehicle(&self, id: String) -> ApiResult<Option<Vehicle>> {
        Ok(self
            .handle
            .read(|c, r| vehicles::ROWS.get(c, &r.keys, &id))?)
    }

    /// Every intact vehicle, oldest first. A damaged one (its sealed row does not open)
    /// is left out, never failing the list: `damaged_records()` names it.
    pub fn list_vehicles(&self) -> ApiResult<Vec<Vehicle>> {
        Ok(self.handle.read(|c, r| {
            Ok(warn_damaged(
                "vehicle",
                vehicles::ROWS.list_intact(c, &r.keys)?,
            ))
        })?)
    }

    /// The vehicle with this plate, typed in any accepted form (`123 авс 02` finds
    /// `123ABC02`), or null / nil. A malformed plate gives `InvalidInput`.
    pub fn find_vehicle_by_plate(&self, plate: String) -> ApiResult<Option<Vehicle>> {
        Ok(self
            .handle
            .read(|c, r| vehicles::find_by_plate(c, &r.keys, &plate))?)
    }

    /// Adds a document. The same kind and number twice gives `AlreadyExists`.
    pub fn add_document(&self, document: NewDocument) -> ApiResult<Document> {
        Ok(self
            .handle
            .write(|tx, r| documents::add(tx, &r.keys, document))?)
    }

    /// Updates the document `id` with `patch` and returns the result.
    pub fn update_document(&self, id: String, patch: DocumentPatch) -> ApiResult<Document> {
        Ok(self
            .handle
            .write(|tx, r| documents::update(tx, &r.keys, &id, patch))?)
    }

    /// Removes the document `id`. `NotFound` if absent.
    pub fn remove_document(&self, id: String) -> ApiResult<()> {
        Ok(self
            .handle
            .write(|tx, r| documents::remove(tx, &r.keys, &id))?)
    }

    /// The document `id`, or null / nil.
    pub fn get_document(&self, id: String) -> ApiResult<Option<Document>> {
        Ok(self
            .handle
            .read(|c, r| documents::ROWS.get(c, &r.keys, &id))?)
    }

    /// Every intact document, oldest first. A damaged one is left out, never failing the
    /// list: `damaged_records()` names it.
    pub fn list_documents(&self) -> ApiResult<Vec<Document>> {
        Ok(self.handle.read(|c, r| {
            Ok(warn_damaged(
                "document",
                documents::ROWS.list_intact(c, &r.keys)?,
            ))
        })?)
    }

    /// The personal records whose sealed row does not open (damaged or tampered with),
    /// profile first, then vehicles and documents: what the lists leave out. Their values
    /// are unreadable; `discardDamagedRecord` removes one here without touching the
    /// backend's copy, which the next sync brings back.
    pub fn damaged_records(&self) -> ApiResult<Vec<RecordRef>> {
        Ok(self.handle.read(|c, r| damaged_in(c, &r.keys))?)
    }

    /// Gives up the local copy of the damaged record `record` without sending a delete. A
    /// record that was synced is rewritten whole from the backend's copy at the next sync
    /// (its row stays, still named by `damagedRecords`, until then, so that documents
    /// keep their link to a vehicle; its pending changes and last synced copy are
    /// forgotten and the next pull starts from the beginning). One never synced is
    /// deleted at once, with its pending changes. A record that is not damaged is
    /// `InvalidInput` (remove it with `removeVehicle` / `removeDocument`: that deletes
    /// it everywhere).
    pub fn discard_damaged_record(&self, record: RecordRef) -> ApiResult<()> {
        Ok(self.handle.write(|tx, r| {
            if !damaged_in(tx, &r.keys)?.contains(&record) {
                return Err(Error::invalid("record", "is not a damaged record"));
            }
            crate::sync::forget_damaged(tx, &r.keys, record.entity, &record.record_id)
        })?)
    }

    /// The document of `kind` with this number, typed in any accepted form, or null / nil.
    pub fn find_document_by_number(
        &self,
        kind: DocumentKind,
        number: String,
    ) -> ApiResult<Option<Document>> {
        Ok(self
            .handle
            .read(|c, r| documents::find_by_number(c, &r.keys, kind, &number))?)
    }

    /// Everything personal the store holds, as JSON (the user's right of access): profile,
    /// vehicles, documents, consent receipts and complaints. The document's shape is the
    /// JSON Schema `docs/export.schema.json` (format version 1); every field is present,
    /// absent values are null.
    pub fn export_user_data(&self) -> ApiResult<String> {
        Ok(self.handle.read(|c, r| {
            let damaged = damaged_in(c, &r.keys)?;
            let profile = profile::get(c, &r.keys).or_else(|e| match e {
                Error::Integrity { .. } => Ok(None),
                e => Err(e),
            })?;
            let (vehicles, _) = vehicles::ROWS.list_intact(c, &r.keys)?;
            let (documents, _) = documents::ROWS.list_intact(c, &r.keys)?;
            let receipts = crate::consent::receipts_in(c, &r.keys)?;
            // A broken chain does not stop the export: the document says so.
            let chain = crate::consent::verify_chain(c, &r.keys).ok();
            let complaints = crate::telemetry::complaints_in(c, &r.keys)?;
            Ok(export::to_json(
                profile.as_ref(),
                &vehicles,
                &documents,
                &receipts,
                chain.as_ref(),
                &complaints,
                &damaged,
            )?)
        })?)
    }

    /// Deletes all of the user's data by crypto-shredding: rows are removed (profile,
    /// vehicles, documents, consent receipts, pending telemetry, complaints), the data key
    /// is destroyed and replaced by a new one, freed pages are zeroed and the write-ahead
    /// log is truncated. Consent ends (collection stops) and a telemetry deletion request
    /// is queued. The sync state is reset with the data (outbox, mirror, conflict log and
    /// pull position), so a later sync brings the account's data back from the backend,
    /// whole, or nothing if the account was erased there. The store stays open and empty.
    pub fn delete_all_user_data(&self) -> ApiResult<()> {
        Ok(self.erase_all()?)
    }

    /// Rotates the data key: a new random key, every value re-encrypted in one
    /// transaction. A crash at any point leaves the store readable with the old or the
    /// new key.
    pub fn rotate_data_key(&self) -> ApiResult<()> {
        let mut guard = self.handle.lock();
        let open = guard.as_mut().ok_or(Error::Closed)?;
        let kek = keyring::fetch_kek(open.provider.as_ref())?;
        let tx = open
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::from)?;
        let ring = reseal::rotate_data_key(&tx, &open.ring, &kek, &tables::SEALED_TABLES)?;
        let epoch = rollback::advance(&tx, &ring.keys)?;
        tx.commit().map_err(Error::from)?;
        rollback::raise_counter(open.counter.as_deref(), epoch);
        open.ring = ring;
        checkpoint_truncate(&open.conn)?;
        log::info!("data key rotated to v{}", open.ring.keys.version());
        Ok(())
    }

    /// Rotates the key-encryption key: the data key is re-wrapped with the key from
    /// `newKeyProvider` (one row written), which the store uses from now on.
    pub fn rotate_key_encryption_key(
        &self,
        new_key_provider: Arc<dyn KeyProvider>,
    ) -> ApiResult<()> {
        let mut guard = self.handle.lock();
        let open = guard.as_mut().ok_or(Error::Closed)?;
        let kek = keyring::fetch_kek(new_key_provider.as_ref())?;
        let tx = open
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::from)?;
        keyring::rewrap(&tx, &open.ring, &kek)?;
        tx.commit().map_err(Error::from)?;
        open.provider = new_key_provider;
        log::info!("key-encryption key rotated");
        Ok(())
    }

    /// Facts about the store, free of personal data.
    pub fn info(&self) -> ApiResult<StoreInfo> {
        Ok(self.handle.read(|c, r| {
            let count = |table: &str| -> Result<i64> {
                Ok(
                    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                        row.get(0)
                    })?,
                )
            };
            Ok(StoreInfo {
                schema_version: schema::user_version(c)? as i32,
                key_version: r.keys.version() as i32,
                has_profile: count("profile")? > 0,
                vehicle_count: count("vehicles")?,
                document_count: count("documents")?,
                durability: db::durability(c)?,
            })
        })?)
    }
}

/// Logs how many records a list left out (never their ids' values: ids are random).
fn warn_damaged<T>(entity: &str, (intact, damaged): (Vec<T>, Vec<String>)) -> Vec<T> {
    if !damaged.is_empty() {
        log::warn!(
            "{} damaged {entity} record(s) left out of the list",
            damaged.len()
        );
    }
    intact
}

/// The damaged personal records (see `Store.damagedRecords()`).
fn damaged_in(conn: &Connection, keys: &crate::crypto::StoreKeys) -> Result<Vec<RecordRef>> {
    let mut out = Vec::new();
    let profile_id: Option<String> = conn
        .query_row("SELECT id FROM profile", [], |r| r.get(0))
        .optional()?;
    if let (Some(id), Err(Error::Integrity { .. })) = (profile_id, profile::get(conn, keys)) {
        out.push(RecordRef {
            entity: RecordKind::Profile,
            record_id: id,
        });
    }
    let refs = |entity: RecordKind, ids: Vec<String>| {
        ids.into_iter()
            .map(move |record_id| RecordRef { entity, record_id })
    };
    out.extend(refs(
        RecordKind::Vehicle,
        vehicles::ROWS.list_intact(conn, keys)?.1,
    ));
    out.extend(refs(
        RecordKind::Document,
        documents::ROWS.list_intact(conn, keys)?.1,
    ));
    Ok(out)
}

/// The stores of this process by canonical path.
type Registry = std::collections::HashMap<PathBuf, std::sync::Weak<Store>>;

/// The stores open in this process, by canonical path.
static OPEN_STORES: once_cell::sync::Lazy<Mutex<Registry>> =
    once_cell::sync::Lazy::new(Default::default);

/// The canonical form of a store path (the file itself may not exist yet).
fn registry_key(path: &Path) -> PathBuf {
    let file = path.file_name().map(PathBuf::from).unwrap_or_default();
    match path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    }) {
        Some(dir) => dir
            .canonicalize()
            .map(|d| d.join(&file))
            .unwrap_or_else(|_| path.to_path_buf()),
        None => path.to_path_buf(),
    }
}

/// Copies the write-ahead log into the database and truncates it to zero bytes, so
/// that old page images do not linger in the `-wal` file.
///
/// SQLite reports a checkpoint blocked by another connection's reader in the result row,
/// not as an error: it is retried for up to a second, then reported, so that erasure never
/// claims success while old page images are still in the log.
fn checkpoint_truncate(conn: &Connection) -> Result<()> {
    for attempt in 0..40 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            return Ok(());
        }
        if attempt < 39 {
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }
    Err(Error::Storage(
        "the write-ahead log is held by another connection; close it and retry".to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::InMemoryKeyProvider;

    #[test]
    fn a_change_that_advances_the_epoch_is_synced_even_under_normal_durability() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db").to_string_lossy().into_owned();
        let options = StoreOptions {
            durability: Some(Durability::Normal),
            ..StoreOptions::default()
        };
        let store =
            Store::open_with_options(path, Arc::new(InMemoryKeyProvider::random()), options)
                .unwrap();
        let advancing = store
            .handle()
            .write_advancing_then(|tx, _| db::durability(tx), |_| ())
            .unwrap();
        assert_eq!(advancing, Durability::Full);
        let plain = store.handle().write(|tx, _| db::durability(tx)).unwrap();
        assert_eq!(plain, Durability::Normal);
        assert_eq!(store.info().unwrap().durability, Durability::Normal);
    }
}
