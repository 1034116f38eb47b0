//! `Subscription`: the handle an observer registration returns.

use std::sync::{Mutex, PoisonError};

/// A registered observer. Events flow until `cancel()` is called or the handle is
/// released (Kotlin `close()`/`use {}`, Swift: the last reference goes away), so keep it
/// for as long as you want events.
#[derive(uniffi::Object)]
pub struct Subscription {
    cancel: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Subscription {
    /// A subscription that runs `cancel` once, on `cancel()` or on drop.
    pub(crate) fn new(cancel: impl FnOnce() + Send + 'static) -> Self {
        Subscription {
            cancel: Mutex::new(Some(Box::new(cancel))),
        }
    }
}

#[uniffi::export]
impl Subscription {
    /// Stops the events. Calling it again does nothing.
    pub fn cancel(&self) {
        let cancel = self
            .cancel
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(cancel) = cancel {
            cancel();
        }
    }

    /// Whether events still flow: false once `cancel()` was called (in Kotlin, `close()`
    /// too).
    pub fn is_active(&self) -> bool {
        self.cancel
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn cancels_once_on_cancel_or_drop() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let sub = Subscription::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        assert!(sub.is_active());
        sub.cancel();
        sub.cancel();
        assert!(!sub.is_active());
        drop(sub);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let counted = Arc::clone(&calls);
        drop(Subscription::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
