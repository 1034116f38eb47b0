//! Recovery from a store that cannot be opened: `KeyUnavailable` (the key is gone for
//! good) and `StoreCorrupted` (the file is damaged). Both end with a new, empty store at
//! the same path that the next sync fills from the backend.

use super::{registry_key, Registry, OPEN_STORES};
use crate::error::{ApiResult, Error};
use crate::locks::Locked;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

/// The files SQLite keeps for a database at `path`: the file, its write-ahead log, its
/// shared-memory index and a rollback journal.
fn companions(path: &Path) -> [PathBuf; 4] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        path.to_path_buf(),
        with("-wal"),
        with("-shm"),
        with("-journal"),
    ]
}

/// Refuses while a `Store` of this process has the file open. The returned guard holds the
/// registry that `Store::open` takes while opening: keep it across the file operations, so
/// that no store opens the file meanwhile.
fn ensure_closed(path: &Path) -> Result<MutexGuard<'static, Registry>, Error> {
    let registry = OPEN_STORES.locked();
    let open = registry
        .get(&registry_key(path))
        .and_then(std::sync::Weak::upgrade)
        .is_some_and(|store| store.handle().lock().is_some());
    if open {
        return Err(Error::invalid(
            "path",
            "the store is open in this process; call shutdown() first",
        ));
    }
    Ok(registry)
}

/// A file-system failure as a public `Storage` error (its kind only: no path).
fn storage(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Storage(format!("could not {what}: {:?}", e.kind()))
}

/// Deletes the store at `path` with its journal files. The recovery from
/// `KeyUnavailable` when the key is gone for good (e.g. the Keystore key was invalidated
/// by a lock-screen change): nothing in the file can be read again. Changes not yet
/// synced are lost with it; everything synced comes back with the next sync into a new
/// store opened at the same path. Missing files are not an error. Refused
/// (`InvalidInput`, field `path`) while the store is open in this process.
#[uniffi::export]
pub fn delete_store_files(path: String) -> ApiResult<()> {
    let path = PathBuf::from(path);
    let _no_open = ensure_closed(&path)?;
    for file in companions(&path) {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(storage("delete the store files")(e).into()),
        }
    }
    log::warn!("store: files deleted for recovery");
    Ok(())
}

/// Moves a store that gave `StoreCorrupted` aside, with its journal files, to
/// `<path>.corrupt-<unix millis>`, and returns that path. A new store can then be opened
/// at `path` and filled by the next sync; keep the old file for a support case or delete
/// it. Refused (`InvalidInput`, field `path`) while the store is open in this process;
/// `NotFound` when there is no file.
#[uniffi::export]
pub fn move_store_aside(path: String) -> ApiResult<String> {
    let path = PathBuf::from(path);
    let _no_open = ensure_closed(&path)?;
    if !path.exists() {
        return Err(Error::NotFound {
            entity: crate::error::Entity::StoreFile,
        }
        .into());
    }
    let stamp = crate::store::db::now_millis();
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{stamp}"));
    let aside = PathBuf::from(aside);
    for (from, to) in companions(&path).into_iter().zip(companions(&aside)) {
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(storage("move the store aside")(e).into()),
        }
    }
    log::warn!("store: moved aside for recovery");
    aside
        .into_os_string()
        .into_string()
        .map_err(|_| Error::invalid("path", "not valid UTF-8").into())
}
