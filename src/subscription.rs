//! `Subscription`: the handle an observer registration returns, and `Observers`: the
//! list of registered observers of one kind that the domains deliver their events to.

use crate::locks::Locked;
use std::sync::{Arc, Mutex, MutexGuard};

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
        let cancel = self.cancel.locked().take();
        if let Some(cancel) = cancel {
            cancel();
        }
    }

    /// Whether events still flow: false once `cancel()` was called (in Kotlin, `close()`
    /// too).
    pub fn is_active(&self) -> bool {
        self.cancel.locked().is_some()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The registered observers of one kind, in subscription order: each entry an observer
/// with its own state `E`, plus a list-level state `S`, all under one lock. Delivery copies
/// the observers out under the lock and calls them after releasing it, so an observer may
/// call back into the SDK (subscribe, cancel, read) from its callback.
pub(crate) struct Observers<O: ?Sized, S = (), E = ()> {
    list: Mutex<List<O, S, E>>,
}

/// What [`Observers`] keeps under its lock.
struct List<O: ?Sized, S, E> {
    /// The id the next entry gets.
    next_id: u64,
    entries: Vec<Entry<O, E>>,
    state: S,
}

/// One registered observer and its state.
struct Entry<O: ?Sized, E> {
    id: u64,
    observer: Arc<O>,
    state: E,
}

impl<O: ?Sized, S: Default, E> Default for Observers<O, S, E> {
    fn default() -> Self {
        Observers::new(S::default())
    }
}

impl<O: ?Sized, S, E> Observers<O, S, E> {
    /// No observers, and `state` as the list-level state.
    pub fn new(state: S) -> Self {
        Observers {
            list: Mutex::new(List {
                next_id: 0,
                entries: Vec::new(),
                state,
            }),
        }
    }

    /// Tells every observer, in subscription order. Under the lock, `update` changes the
    /// list-level state, then `take` turns each entry's state into what its delivery needs;
    /// after the lock is released, `call` runs for each observer with that value.
    pub fn deliver_with<T>(
        &self,
        update: impl FnOnce(&mut S),
        mut take: impl FnMut(&mut E) -> T,
        mut call: impl FnMut(&O, T),
    ) {
        let targets: Vec<(Arc<O>, T)> = {
            let mut guard = self.lock();
            let list = &mut *guard;
            update(&mut list.state);
            list.entries
                .iter_mut()
                .map(|e| (Arc::clone(&e.observer), take(&mut e.state)))
                .collect()
        };
        for (observer, value) in targets {
            call(&observer, value);
        }
    }

    /// Calls `call` for every observer, in subscription order, after releasing the lock.
    pub fn deliver(&self, mut call: impl FnMut(&O)) {
        self.deliver_with(|_| {}, |_| (), |observer, ()| call(observer));
    }

    /// Removes entry `id`, if it is still there. The observer is released after the lock.
    fn remove(&self, id: u64) {
        let removed = {
            let mut list = self.lock();
            let index = list.entries.iter().position(|e| e.id == id);
            index.map(|i| list.entries.remove(i))
        };
        drop(removed);
    }

    fn lock(&self) -> MutexGuard<'_, List<O, S, E>> {
        self.list.locked()
    }
}

impl<O, S, E> Observers<O, S, E>
where
    O: ?Sized + Send + Sync + 'static,
    S: Send + 'static,
    E: Send + 'static,
{
    /// Registers `observer` with the entry state `entry` computes from the list-level
    /// state, under the same lock (so no delivery comes between reading that state and
    /// adding the entry). The returned `Subscription` removes the entry on `cancel()` or
    /// drop; it does nothing once the list itself is gone.
    pub fn subscribe_with(
        self: &Arc<Self>,
        observer: Arc<O>,
        entry: impl FnOnce(&S) -> E,
    ) -> Arc<Subscription> {
        let id = {
            let mut list = self.lock();
            let id = list.next_id;
            list.next_id += 1;
            let state = entry(&list.state);
            list.entries.push(Entry {
                id,
                observer,
                state,
            });
            id
        };
        let list = Arc::downgrade(self);
        Arc::new(Subscription::new(move || {
            if let Some(list) = list.upgrade() {
                list.remove(id);
            }
        }))
    }

    /// Registers `observer` with the default entry state; see [`Self::subscribe_with`].
    pub fn subscribe(self: &Arc<Self>, observer: Arc<O>) -> Arc<Subscription>
    where
        E: Default,
    {
        self.subscribe_with(observer, |_| E::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{mpsc, TryLockError, Weak};
    use std::time::Duration;

    /// The observer kind of these tests: a callback given an event name.
    type Callback = dyn Fn(&str) + Send + Sync;
    /// What the observers heard, as `observer:event`.
    type Log = Arc<Mutex<Vec<String>>>;

    /// An observer named `name` that writes what it hears to `log`.
    fn recorder(log: &Log, name: &'static str) -> Arc<Callback> {
        let log = Arc::clone(log);
        Arc::new(move |event: &str| log.lock().unwrap().push(format!("{name}:{event}")))
    }

    /// The log so far, emptied.
    fn taken(log: &Log) -> Vec<String> {
        std::mem::take(&mut *log.lock().unwrap())
    }

    /// Runs `f` on its own thread; fails if it does not return within 10 s (a deadlock).
    fn within_timeout<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the call deadlocked or panicked")
    }

    #[test]
    fn delivers_to_every_observer_in_subscription_order() {
        let observers = Arc::new(Observers::<Callback>::default());
        let log = Log::default();
        let _a = observers.subscribe(recorder(&log, "a"));
        let _b = observers.subscribe(recorder(&log, "b"));
        observers.deliver(|o| o("1"));
        observers.deliver(|o| o("2"));
        assert_eq!(taken(&log), ["a:1", "b:1", "a:2", "b:2"]);
    }

    #[test]
    fn cancel_removes_only_its_entry() {
        let observers = Arc::new(Observers::<Callback>::default());
        let log = Log::default();
        let _a = observers.subscribe(recorder(&log, "a"));
        let b = observers.subscribe(recorder(&log, "b"));
        let _c = observers.subscribe(recorder(&log, "c"));
        b.cancel();
        assert!(!b.is_active());
        observers.deliver(|o| o("1"));
        b.cancel();
        observers.deliver(|o| o("2"));
        assert_eq!(taken(&log), ["a:1", "c:1", "a:2", "c:2"]);
    }

    #[test]
    fn drop_removes_the_entry_and_releases_the_observer() {
        let observers = Arc::new(Observers::<Callback>::default());
        let log = Log::default();
        let a = recorder(&log, "a");
        let sub = observers.subscribe(Arc::clone(&a));
        assert_eq!(Arc::strong_count(&a), 2);
        drop(sub);
        assert_eq!(Arc::strong_count(&a), 1);
        observers.deliver(|o| o("1"));
        assert!(taken(&log).is_empty());
    }

    #[test]
    fn a_subscription_does_not_keep_its_list() {
        let observers = Arc::new(Observers::<Callback>::default());
        let a = recorder(&Log::default(), "a");
        let sub = observers.subscribe(Arc::clone(&a));
        drop(observers);
        assert_eq!(Arc::strong_count(&a), 1);
        sub.cancel();
        assert!(!sub.is_active());
    }

    #[test]
    fn an_observer_may_subscribe_and_cancel_from_its_callback() {
        let log = within_timeout(|| {
            let observers = Arc::new(Observers::<Callback>::default());
            let log = Log::default();
            let own: Arc<Mutex<Option<Arc<Subscription>>>> = Arc::default();
            let added: Arc<Mutex<Vec<Arc<Subscription>>>> = Arc::default();
            let callback: Arc<Callback> = {
                let list = Arc::downgrade(&observers);
                let (log, own, added) = (Arc::clone(&log), Arc::clone(&own), Arc::clone(&added));
                Arc::new(move |event: &str| {
                    log.lock().unwrap().push(format!("self:{event}"));
                    let list = list.upgrade().unwrap();
                    let new = list.subscribe(recorder(&log, "new"));
                    added.lock().unwrap().push(new);
                    let own = own.lock().unwrap().take();
                    if let Some(own) = own {
                        own.cancel();
                    }
                })
            };
            *own.lock().unwrap() = Some(observers.subscribe(callback));
            observers.deliver(|o| o("1"));
            observers.deliver(|o| o("2"));
            taken(&log)
        });
        assert_eq!(log, ["self:1", "new:2"]);
    }

    #[test]
    fn a_removed_observer_is_released_after_the_lock() {
        /// Subscribes a new observer to `list` when dropped.
        struct SubscribesOnDrop {
            list: Weak<Observers<Callback>>,
            log: Log,
            added: Arc<Mutex<Vec<Arc<Subscription>>>>,
        }
        impl Drop for SubscribesOnDrop {
            fn drop(&mut self) {
                if let Some(list) = self.list.upgrade() {
                    let new = list.subscribe(recorder(&self.log, "new"));
                    self.added.lock().unwrap().push(new);
                }
            }
        }
        let log = within_timeout(|| {
            let observers = Arc::new(Observers::<Callback>::default());
            let log = Log::default();
            let added = Arc::default();
            let guard = SubscribesOnDrop {
                list: Arc::downgrade(&observers),
                log: Arc::clone(&log),
                added: Arc::clone(&added),
            };
            let sub = observers.subscribe(Arc::new(move |_: &str| {
                let _ = &guard;
            }));
            sub.cancel();
            observers.deliver(|o| o("1"));
            taken(&log)
        });
        assert_eq!(log, ["new:1"]);
    }

    #[test]
    fn state_hooks_run_under_the_lock_and_callbacks_after_it() {
        let observers = Arc::new(Observers::<Callback, (), ()>::default());
        let locked = || matches!(observers.list.try_lock(), Err(TryLockError::WouldBlock));
        let _sub = observers.subscribe_with(recorder(&Log::default(), "a"), |_| {
            assert!(locked(), "subscribe_with's hook ran outside the lock");
        });
        let mut calls = 0;
        observers.deliver_with(
            |_| assert!(locked(), "the list-state hook ran outside the lock"),
            |_| assert!(locked(), "the entry-state hook ran outside the lock"),
            |_, ()| {
                assert!(!locked(), "the observer was called under the lock");
                calls += 1;
            },
        );
        assert_eq!(calls, 1);
    }

    /// Sync's rule: the list state is whether a run started, an entry's whether it joined
    /// during a run and is owed `start` before that run's next event.
    #[test]
    fn an_observer_joining_mid_run_is_owed_the_start_once() {
        let observers = Arc::new(Observers::<Callback, bool, bool>::default());
        let log = Log::default();
        let emit = |event: &'static str| {
            let starts = event == "start";
            observers.deliver_with(
                |running| match event {
                    "start" => *running = true,
                    "end" => *running = false,
                    _ => {}
                },
                |owed| std::mem::take(owed) && !starts,
                |o, owed| {
                    if owed {
                        o("start");
                    }
                    o(event);
                },
            );
        };
        let join = |name| observers.subscribe_with(recorder(&log, name), |running| *running);
        let _early = join("early");
        emit("start");
        let _late = join("late");
        emit("step");
        emit("step");
        emit("end");
        let _after = join("after");
        emit("start");
        assert_eq!(
            taken(&log),
            [
                "early:start",
                "early:step",
                "late:start",
                "late:step",
                "early:step",
                "late:step",
                "early:end",
                "late:end",
                "early:start",
                "late:start",
                "after:start",
            ]
        );
    }

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
