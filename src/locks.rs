//! `Locked`: a mutex's guard even after a thread panicked while holding it. Every value the
//! SDK keeps behind a mutex stays consistent across a panic (the store's writes are
//! transactions that roll back when dropped; the rest are whole values swapped in one
//! assignment), so a poisoned lock is used as it is instead of failing every later call.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, poisoned or not.
pub(crate) trait Locked<T> {
    /// The guard; a lock poisoned by a panic is taken over.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_poisoned_by_a_panic_is_taken_over() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let poisoner = std::sync::Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("poison the lock");
        })
        .join();
        assert!(m.is_poisoned());
        *m.locked() += 1;
        assert_eq!(*m.locked(), 2);
    }
}
