//! The telemetry worker: the buffer between `record()` and the store, and the thread that
//! drains it.

use super::event::TelemetryEvent;
use super::firewall::Firewall;
use super::{queue, TelemetryConfig, TelemetryCounters};
use crate::consent::handle::StoreHandle;
use crate::consent::hub::ConsentHub;
use crate::consent::Purpose;
use crate::error::Result;
use crate::locks::Locked;
use crate::store::db::millis_of;
use crossbeam_queue::SegQueue;
use rusqlite::Connection;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant, SystemTime};

/// Most events the worker takes from the buffer into one transaction.
const BATCH: usize = 1024;
/// How long the worker sleeps when the buffer is empty (it is woken earlier when the
/// buffer fills up, on flush and on stop).
const IDLE: Duration = Duration::from_millis(200);

struct Recorded {
    event: TelemetryEvent,
    at: SystemTime,
    /// The purpose's revocation count when recorded.
    revocation: u64,
}

/// Counters touched on the caller's thread (atomics), moved into the store by the worker.
#[derive(Default)]
struct HotCounters {
    no_consent: [AtomicU64; 5],
    buffer_full: AtomicU64,
    /// Events lost because their batch could not be written (store closed, disk full).
    store_error: AtomicU64,
}

/// A snapshot of the hot counters not yet moved into the store.
pub(crate) struct HotSnapshot {
    no_consent: [u64; 5],
    buffer_full: u64,
    store_error: u64,
}

struct Shared {
    /// Grows in segments as events come, so an idle or quiet app holds almost nothing;
    /// `capacity` bounds it.
    buffer: SegQueue<Recorded>,
    capacity: usize,
    hub: Arc<ConsentHub>,
    hot: HotCounters,
    enqueued: AtomicU64,
    processed: Mutex<u64>,
    processed_changed: Condvar,
    stopping: AtomicBool,
    stopped: AtomicBool,
    thread: OnceLock<Thread>,
    /// Events ever lost to a failed batch write (never decreases).
    store_failures: AtomicU64,
    /// `store_failures` when the last flush returned.
    failures_reported: AtomicU64,
}

/// Owns the worker thread.
pub(crate) struct Worker {
    shared: Arc<Shared>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    /// Starts the worker thread for `store`.
    pub fn start(store: Arc<StoreHandle>, config: TelemetryConfig) -> Self {
        let shared = Arc::new(Shared {
            buffer: SegQueue::new(),
            capacity: config.buffer_capacity.max(1) as usize,
            hub: Arc::clone(store.consent_hub()),
            hot: HotCounters::default(),
            enqueued: AtomicU64::new(0),
            processed: Mutex::new(0),
            processed_changed: Condvar::new(),
            stopping: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            thread: OnceLock::new(),
            store_failures: AtomicU64::new(0),
            failures_reported: AtomicU64::new(0),
        });
        let for_thread = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("aparking-telemetry".into())
            .spawn(move || run(&for_thread, &store, &config))
            .expect("the telemetry worker thread starts");
        let _ = shared.thread.set(handle.thread().clone());
        Worker {
            shared,
            handle: Mutex::new(Some(handle)),
        }
    }

    /// The caller's side: consent check, then a lock-free push.
    #[inline]
    pub fn record(&self, event: TelemetryEvent) {
        let s = &*self.shared;
        let purpose = event.purpose();
        let revocation = s.hub.revocation(purpose);
        if !s.hub.is_allowed(purpose) {
            s.hot.no_consent[purpose.index()].fetch_add(1, Ordering::Relaxed);
            return;
        }
        if s.stopping.load(Ordering::Relaxed) {
            s.hot.buffer_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let recorded = Recorded {
            event,
            at: SystemTime::now(),
            revocation,
        };
        // Threads recording at the same instant may pass the check together: the buffer
        // then holds at most `capacity` plus one event per such thread.
        let len = s.buffer.len();
        if len >= s.capacity {
            s.hot.buffer_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        s.buffer.push(recorded);
        s.enqueued.fetch_add(1, Ordering::Release);
        if (len + 1) * 2 >= s.capacity {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Some(t) = self.shared.thread.get() {
            t.unpark();
        }
    }

    /// Waits until everything enqueued before the call was processed; `false` on
    /// timeout or when part of it could not be stored.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.wake();
        self.shared.flush(timeout)
    }

    /// A handle that can flush from another thread (`upload()` flushes on a blocking task,
    /// never on the caller's thread).
    pub fn flusher(&self) -> Flusher {
        Flusher(Arc::clone(&self.shared))
    }

    /// The hot counters not yet moved into the store.
    pub fn hot_counters(&self) -> Arc<dyn Fn() -> HotSnapshot + Send + Sync> {
        let shared = Arc::clone(&self.shared);
        Arc::new(move || shared.hot.snapshot())
    }

    /// Processes what is buffered, then stops the thread.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.wake();
        let handle = self.handle.locked().take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                log::error!("the telemetry worker panicked");
            }
        }
        // An event that raced into the buffer after the worker's last pass is counted as
        // dropped, so that no flush waits for it.
        self.shared.stopped.store(true, Ordering::Release);
        let mut stranded = 0;
        while self.shared.buffer.pop().is_some() {
            stranded += 1;
        }
        self.shared
            .hot
            .buffer_full
            .fetch_add(stranded, Ordering::Relaxed);
        self.shared.mark_processed(stranded);
    }
}

/// Flushes the worker's buffer from any thread.
pub(crate) struct Flusher(Arc<Shared>);

impl Flusher {
    /// See [`Worker::flush`].
    pub fn flush(&self, timeout: Duration) -> bool {
        if let Some(t) = self.0.thread.get() {
            t.unpark();
        }
        self.0.flush(timeout)
    }
}

impl HotCounters {
    fn snapshot(&self) -> HotSnapshot {
        HotSnapshot {
            no_consent: std::array::from_fn(|i| self.no_consent[i].load(Ordering::Relaxed)),
            buffer_full: self.buffer_full.load(Ordering::Relaxed),
            store_error: self.store_error.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    fn flush(&self, timeout: Duration) -> bool {
        let target = self.enqueued.load(Ordering::Acquire);
        let deadline = Instant::now() + timeout;
        let mut processed = self.processed.locked();
        while *processed < target {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            processed = self
                .processed_changed
                .wait_timeout(processed, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        // False when any batch failed since the previous flush returned.
        let failures = self.store_failures.load(Ordering::Acquire);
        self.failures_reported.swap(failures, Ordering::AcqRel) == failures
    }

    fn mark_processed(&self, n: u64) {
        let mut processed = self.processed.locked();
        *processed += n;
        self.processed_changed.notify_all();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared, store: &StoreHandle, config: &TelemetryConfig) {
    loop {
        let mut batch = Vec::new();
        while batch.len() < BATCH {
            match shared.buffer.pop() {
                Some(r) => batch.push(r),
                None => break,
            }
        }
        let n = batch.len() as u64;
        if n > 0 || shared.stopping.load(Ordering::Acquire) {
            let hot = shared.hot.snapshot();
            match store.write(|tx, ring| process(tx, &ring.keys, shared, config, batch, &hot)) {
                // The hot counts now live in the store: take them out of the atomics.
                Ok(()) => {
                    for p in Purpose::ALL {
                        let i = p.index();
                        shared.hot.no_consent[i].fetch_sub(hot.no_consent[i], Ordering::Relaxed);
                    }
                    shared
                        .hot
                        .buffer_full
                        .fetch_sub(hot.buffer_full, Ordering::Relaxed);
                    shared
                        .hot
                        .store_error
                        .fetch_sub(hot.store_error, Ordering::Relaxed);
                }
                Err(e) => {
                    shared.hot.store_error.fetch_add(n, Ordering::Release);
                    shared.store_failures.fetch_add(n, Ordering::Release);
                    // The public form: SQLite failures reduced to their code.
                    let e = crate::error::AparkingError::from(e);
                    log::warn!("telemetry: {n} events could not be stored: {e}");
                }
            }
            shared.mark_processed(n);
        }
        if n == 0 {
            if shared.stopping.load(Ordering::Acquire) && shared.buffer.is_empty() {
                return;
            }
            std::thread::park_timeout(IDLE);
        }
    }
}

/// Stores a batch in one transaction: consent re-checked under the store's lock, events
/// coarsened, firewalled, sealed and queued; limits enforced; counters moved.
fn process(
    tx: &Connection,
    keys: &crate::crypto::StoreKeys,
    shared: &Shared,
    config: &TelemetryConfig,
    batch: Vec<Recorded>,
    hot: &HotSnapshot,
) -> Result<()> {
    let mut no_consent = [0u64; 5];
    let mut firewalled = [0u64; 5];
    let (mut invalid, mut stored) = (0u64, 0u64);
    if !batch.is_empty() {
        let firewall = match super::PersonalValues::load(tx, keys) {
            Ok(values) => Firewall::new(&values),
            Err(_) => Firewall::unavailable(),
        };
        let lifetime_ms = i64::from(config.installation_id_lifetime_days) * 86_400_000;
        let installation = queue::current_installation(tx, lifetime_ms)?;
        for r in batch {
            let purpose = r.event.purpose();
            // A consent change that committed after record() wins, even when the purpose
            // was granted again since.
            if !shared.hub.is_allowed(purpose) || shared.hub.revocation(purpose) != r.revocation {
                no_consent[purpose.index()] += 1;
                continue;
            }
            let Some(data) = r.event.wire_data(config.location_decimals as u8) else {
                invalid += 1;
                continue;
            };
            if r.event
                .strings()
                .iter()
                .any(|s| firewall.check(s).is_some())
            {
                firewalled[purpose.index()] += 1;
                continue;
            }
            let id = uuid::Uuid::new_v4().to_string();
            let at = millis_of(r.at);
            let wire = json!({
                "id": id,
                "kind": r.event.kind(),
                "purpose": purpose.as_str(),
                "installation_id": installation,
                "recorded_at": queue::rfc3339_millis(at),
                "data": data,
            });
            queue::push_event(tx, keys, &id, purpose, &wire.to_string())?;
            if purpose == Purpose::ConnectionDiagnostics {
                let sample = json!({ "recorded_at": at, "data": wire["data"] });
                queue::keep_network_sample(tx, keys, &id, at, &sample.to_string())?;
            }
            stored += 1;
        }
    }
    let over = queue::enforce_limits(
        tx,
        config.max_queue_events as u64,
        config.max_queue_bytes as u64,
    )?;
    queue::add_counter(tx, "stored", stored)?;
    queue::add_counter(tx, "dropped_invalid", invalid)?;
    queue::add_counter(tx, "dropped_queue_full", over)?;
    for p in Purpose::ALL {
        let i = p.index();
        let name = format!("dropped_no_consent.{}", p.as_str());
        queue::add_counter(tx, &name, hot.no_consent[i] + no_consent[i])?;
        let name = format!("dropped_firewall.{}", p.as_str());
        queue::add_counter(tx, &name, firewalled[i])?;
    }
    queue::add_counter(tx, "dropped_buffer_full", hot.buffer_full)?;
    queue::add_counter(tx, "dropped_store_error", hot.store_error)?;
    Ok(())
}

/// Reads the counters: the store's plus the hot ones not yet moved (read under the same
/// lock as the move, so nothing is counted twice or missed).
pub(crate) fn counters(
    conn: &Connection,
    hot: &Arc<dyn Fn() -> HotSnapshot + Send + Sync>,
) -> Result<TelemetryCounters> {
    let snapshot = hot();
    let count = |name: &str, extra: u64| -> Result<i64> {
        Ok(crate::units::count(queue::counter(conn, name)? + extra))
    };
    let by_purpose = |prefix: &str, extra: &[u64; 5]| -> Result<HashMap<Purpose, i64>> {
        Purpose::ALL
            .iter()
            .map(|p| {
                let name = format!("{prefix}.{}", p.as_str());
                Ok((*p, count(&name, extra[p.index()])?))
            })
            .collect()
    };
    Ok(TelemetryCounters {
        dropped_no_consent: by_purpose("dropped_no_consent", &snapshot.no_consent)?,
        dropped_buffer_full: count("dropped_buffer_full", snapshot.buffer_full)?,
        dropped_store_error: count("dropped_store_error", snapshot.store_error)?,
        dropped_firewall: by_purpose("dropped_firewall", &[0; 5])?,
        dropped_invalid: count("dropped_invalid", 0)?,
        dropped_queue_full: count("dropped_queue_full", 0)?,
        stored: count("stored", 0)?,
        purged: count("events_purged", 0)?,
        uploaded: count("uploaded", 0)?,
        rejected: count("rejected", 0)?,
    })
}

#[cfg(test)]
mod size_tests {
    use super::Recorded;

    #[test]
    fn a_full_default_buffer_stays_under_two_and_a_half_mib() {
        // The bound docs/performance.md states: the default capacity times one buffered
        // event (SegQueue adds a word per slot), besides the event's own strings.
        let per_event = std::mem::size_of::<Recorded>() + std::mem::size_of::<usize>();
        let capacity = crate::telemetry::TelemetryConfig::new("https://example.invalid")
            .buffer_capacity as usize;
        assert!(
            per_event * capacity <= 5 * 512 * 1024,
            "{per_event} bytes a slot"
        );
        eprintln!(
            "{per_event} bytes a slot, {} KiB at most",
            per_event * capacity / 1024
        );
    }
}
