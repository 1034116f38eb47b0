//! Rollback is detected (issue #11, point 5): with a host-held monotonic counter
//! (`RollbackCounter`), a copy of the store file restored over the current one is refused
//! with `StoreRolledBack` and left unchanged; without one it opens as before (the case
//! docs/security.md says is not covered).

mod common;

use aparking_core::{AparkingError, Consent, KeyProviderError, Purpose, RollbackCounter, Store};
use common::privacy::*;
use common::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// A counter in memory, as a Keychain item or Keystore-protected preference would be.
#[derive(Default)]
struct Counter {
    value: AtomicI64,
    broken: AtomicBool,
}

impl RollbackCounter for Counter {
    fn value(&self) -> Result<i64, KeyProviderError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(KeyProviderError::Unavailable {
                reason: "keychain locked".into(),
            });
        }
        Ok(self.value.load(Ordering::SeqCst))
    }

    fn raise_to(&self, value: i64) -> Result<(), KeyProviderError> {
        self.value.fetch_max(value, Ordering::SeqCst);
        Ok(())
    }
}

fn open_counted(path: &Path, counter: &Arc<Counter>) -> Result<Arc<Store>, AparkingError> {
    Store::open_with_rollback_counter(
        path.to_str().unwrap().into(),
        key(1),
        Arc::clone(counter) as Arc<dyn RollbackCounter>,
    )
}

fn now(counter: &Counter) -> i64 {
    counter.value.load(Ordering::SeqCst)
}

#[test]
fn a_copy_restored_over_the_store_is_refused_and_left_unchanged() {
    let (_dir, path) = temp_store_path();
    let counter = Arc::new(Counter::default());
    let store = open_counted(&path, &counter).unwrap();
    let consent = consent_all_granted(&store);
    let granted_at = now(&counter);
    assert!(granted_at > 0, "a consent change raises the counter");
    store.close().unwrap();
    drop((consent, store));
    let copy = path.with_extension("copy");
    std::fs::copy(&path, &copy).unwrap();

    // The user withdraws; then the old copy (consent granted) is put back.
    let store = open_counted(&path, &counter).unwrap();
    Consent::new(Arc::clone(&store))
        .withdraw(Purpose::ALL.to_vec(), context())
        .unwrap();
    assert!(now(&counter) > granted_at);
    store.close().unwrap();
    drop(store);
    std::fs::copy(&copy, &path).unwrap();
    let before = std::fs::read(&path).unwrap();

    let err = open_counted(&path, &counter).unwrap_err();
    assert_eq!(
        err,
        AparkingError::StoreRolledBack {
            file_epoch: granted_at,
            expected_epoch: now(&counter)
        }
    );
    assert!(!err.to_string().is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), before, "left as it was");

    // Without a counter the old copy opens, consent granted again: what the counter is for.
    let store = open(&path, &key(1));
    let state = Consent::new(Arc::clone(&store)).state();
    assert!(!state.allowed.is_empty(), "not covered without a counter");
}

#[test]
fn erasure_and_key_rotation_raise_the_counter_and_a_lagging_counter_catches_up() {
    let (_dir, path) = temp_store_path();
    let counter = Arc::new(Counter::default());
    let store = open_counted(&path, &counter).unwrap();
    fill_sample(&store);
    store.rotate_data_key().unwrap();
    let rotated = now(&counter);
    assert_eq!(rotated, 1);
    store.delete_all_user_data().unwrap();
    assert_eq!(now(&counter), 2, "erasure raises it too");
    store.close().unwrap();
    drop(store);

    // A crash between a commit and the raise leaves the counter behind: caught up.
    counter.value.store(1, Ordering::SeqCst);
    let store = open_counted(&path, &counter).unwrap();
    assert_eq!(now(&counter), 2);
    store.close().unwrap();
    drop(store);

    // A counter that cannot be read opens nothing.
    counter.broken.store(true, Ordering::SeqCst);
    assert!(matches!(
        open_counted(&path, &counter).unwrap_err(),
        AparkingError::KeyUnavailable { .. }
    ));
}

#[test]
fn a_new_store_starts_at_the_counter_so_a_reinstall_is_not_a_rollback() {
    let (_dir, path) = temp_store_path();
    // The counter survived a reinstall (an iOS Keychain item does); the new file is fine.
    let counter = Arc::new(Counter::default());
    counter.value.store(7, Ordering::SeqCst);
    let store = open_counted(&path, &counter).unwrap();
    let consent = consent_all_granted(&store);
    assert!(now(&counter) > 7, "the new file continues from the counter");
    store.close().unwrap();
    drop((consent, store));
    assert!(open_counted(&path, &counter).is_ok());
}
