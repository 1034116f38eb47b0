//! Sync with the backend (`docs/protocol.md`) on the personal channel.
//!
//! Landed so far:
//! - the outbox, written in the same transaction as every local change of a synced entity;
//! - the mirror (the last synced copy of each record) and this store's client id;
//! - **push**: the outbox to the backend in batches, idempotent on change ids, with bearer
//!   authentication (one refresh on 401), retries with backoff, and `SyncInProgress`;
//! - **pull**: remote changes merged field by field (three-way, the mirror as base),
//!   delete wins, the same plate created on two devices merged into the server's record,
//!   each page saved with its cursor, 410 resets the cursor.
//!
//! Next: the conflict log, the status observer, cancellation, the retry timer, the circuit
//! breaker and certificate pinning.

mod auth;
pub(crate) mod conflicts;
pub(crate) mod merge;
pub(crate) mod mirror;
pub(crate) mod outbox;
mod pull;
mod push;
mod quarantine;
mod records;

pub use auth::{AuthProvider, AuthProviderError};
pub use conflicts::{ConflictResolution, SyncConflict};
pub use quarantine::{QuarantineReason, QuarantinedEntry};

/// For `discardDamagedRecord`: forgets the damaged record `id` here without a
/// delete for the backend. Synced (a mirror entry, even a damaged one): its pending
/// changes and mirror entry go and the pull starts from the beginning, so the next sync
/// rewrites it from the backend's copy. Never synced: the row goes with its changes.
pub(crate) fn forget_damaged(
    conn: &rusqlite::Connection,
    keys: &crate::crypto::StoreKeys,
    entity: outbox::Entity,
    id: &str,
) -> Result<()> {
    let synced = match mirror::get(conn, keys, entity, id) {
        Ok(m) => m.is_some_and(|m| !m.deleted),
        Err(Error::Integrity { .. }) => true,
        Err(e) => return Err(e),
    };
    outbox::remove_record(conn, entity, id)?;
    if synced {
        mirror::forget(conn, entity, id)?;
        mirror::set_cursor(conn, None)?;
    } else {
        let table = entity.table();
        conn.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])?;
    }
    log::info!("a damaged {entity} was discarded here; the backend's copy stays");
    Ok(())
}

use crate::consent::handle::StoreHandle;
use crate::error::{ApiResult, Error, Result};
use crate::locks::Locked;
use crate::net::{self, Backoff, NetworkConfig};
use crate::subscription::{Observers, Subscription};
pub(crate) use crate::units::count;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const PUSH_PATH: &str = "/v1/sync/push";
const PULL_PATH: &str = "/v1/sync/pull";
const POLICY_PATH: &str = "/v1/policy";
const ACCOUNT_PATH: &str = "/v1/account";
/// The answer header of `GET /v1/policy` that carries the manifest's Ed25519 signature:
/// base64 of 64 bytes, over the exact body bytes.
pub const POLICY_SIGNATURE_HEADER: &str = "x-aparking-signature";
/// The largest answer the client reads (a 1,000-record page is far below).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// The largest policy manifest the client reads.
const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Records per pull page.
const PULL_LIMIT: u32 = 500;
/// The longest pull cursor the client accepts and saves (the reference backend's are 64
/// characters). A longer one is refused and not saved: it would make every later pull URL
/// too long to send (docs/protocol.md, "Cursors").
pub(crate) const MAX_CURSOR_LEN: usize = 1024;
/// The largest error answer the client reads to tell `invalid_cursor` from other refusals.
const MAX_ERROR_BYTES: usize = 4 * 1024;
/// Pull-then-push rounds in one sync (a push conflict triggers another pull).
const MAX_ROUNDS: u32 = 3;
/// At most this many push batches in one sync (500 changes each).
const MAX_BATCHES: u32 = 1000;

/// Where and how to sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncConfig {
    /// Base URL of the backend (https; http only to loopback).
    pub endpoint: String,
    /// Timeouts, retries and TLS trust (pinning, extra roots).
    #[uniffi(default)]
    pub network: NetworkConfig,
    /// Which side wins a field changed differently on both sides: the server (default)
    /// or this device.
    #[uniffi(default = false)]
    pub local_wins_conflicts: bool,
    /// Automatic sync (`startAutoSync`): after failures the wait doubles from the
    /// interval up to this many milliseconds (the circuit that stops hammering a failing
    /// backend).
    #[uniffi(default = 900000)]
    pub auto_sync_max_backoff_ms: i64,
    /// The Ed25519 public keys (base64 of the 32 raw bytes) that sign the policy manifest
    /// the backend serves. A served manifest is adopted only with a valid signature by one
    /// of them (`UntrustedPolicy` otherwise; consent unchanged). Empty: the backend's
    /// manifest is not fetched, and only the manifests the app publishes count.
    #[uniffi(default)]
    pub policy_public_keys: Vec<String>,
}

impl SyncConfig {
    /// The defaults, with `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        SyncConfig {
            endpoint: endpoint.into(),
            network: NetworkConfig::default(),
            local_wins_conflicts: false,
            auto_sync_max_backoff_ms: 900_000,
            policy_public_keys: Vec::new(),
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// Local changes the backend applied (or had applied before: a lost answer).
    pub pushed: i64,
    /// Remote changes applied locally.
    pub pulled: i64,
    /// Changes that met a change from another device (kept, or resolved by delete-wins).
    pub conflicts: i64,
    /// Changes the backend refused as invalid (dropped).
    pub rejected: i64,
    /// Local changes still waiting after this sync.
    pub pending: i64,
    /// The policy version the backend publishes, when it publishes one; a newer one than
    /// the version in force was adopted (collection stops until the user accepts it).
    pub policy_version: Option<i32>,
    /// How long the sync took.
    pub duration_ms: i64,
}

/// A step of a running sync, for a progress indicator.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncEvent {
    /// A sync started.
    Started,
    /// A batch of local changes was pushed.
    Pushed {
        /// Changes the backend applied in this batch.
        count: i64,
    },
    /// A page of remote changes was applied.
    Pulled {
        /// Records applied from this page.
        count: i64,
    },
    /// The backend's past did not match this store's (a new dataset generation, a cursor
    /// it refused, or a record version that went back: restored from a backup, or wiped):
    /// everything was pulled again and what the backend lacked is pushed again, without
    /// duplicates and without bringing back what was deleted.
    Reconciled {
        /// Why.
        reason: ReconcileReason,
        /// Records queued again because the backend no longer had them.
        repushed: i64,
    },
    /// The sync finished.
    Finished {
        /// What it did.
        summary: SyncSummary,
    },
    /// The sync failed or was cancelled; nothing is lost.
    Failed {
        /// The error.
        error: crate::error::AparkingError,
    },
    /// The sync status changed: sent at the end of every sync (just before `Finished` or
    /// `Failed`) and whenever automatic sync schedules its next attempt.
    StatusChanged {
        /// The status now.
        status: SyncStatus,
    },
}

/// What an app shows about sync, at one moment (`SyncClient.status()`, and
/// `SyncEvent.StatusChanged`).
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// Local changes waiting to be pushed.
    pub pending_changes: i64,
    /// Entries in the conflict log (`SyncClient.conflicts()`), until the app clears them.
    pub conflicts: i64,
    /// Whether a sync is running.
    pub running: bool,
    /// When the last sync that finished without error ended, in ms since the Unix epoch;
    /// Null / nil before the first.
    pub last_success_at_ms: Option<i64>,
    /// The error of the last sync this client ran, when it failed; null / nil after a
    /// success (and before the first sync).
    pub last_error: Option<crate::error::AparkingError>,
    /// When automatic sync tries next, in ms since the Unix epoch (after failures the
    /// wait grows); null / nil while automatic sync is off.
    pub next_auto_sync_at_ms: Option<i64>,
    /// Whether an account erasure was asked for and is not finished (see
    /// `SyncClient.deleteAccount()`).
    pub account_erasure_pending: bool,
    /// Sync entries set aside because they were damaged (`SyncClient.quarantined()`).
    pub quarantined: i64,
}

/// Why a sync reconciled with the backend (`SyncEvent.Reconciled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReconcileReason {
    /// The backend names another dataset generation (restored or wiped).
    NewGeneration,
    /// The backend refused the saved cursor (410 expired, or 400 unknown).
    CursorRefused,
    /// The backend holds a record at an older version than this store synced.
    VersionWentBack,
}

/// Told of every step of every sync. Implemented by the app (e.g. to drive a progress
/// indicator or a `Flow`); called on an SDK thread; must be quick and must not block.
#[uniffi::export(with_foreign)]
pub trait SyncObserver: Send + Sync {
    /// A step of a sync.
    fn on_sync_event(&self, event: SyncEvent);
}

/// Deletes all user data of the store a sync client is on (given by the layer that owns
/// the store: erasure spans every domain).
pub(crate) type EraseLocal = Arc<dyn Fn() -> Result<()> + Send + Sync>;

/// Syncs one store with the backend. Create one per store and keep it.
#[derive(uniffi::Object)]
pub struct SyncClient {
    store: Arc<StoreHandle>,
    /// Deletes every piece of user data in the store (the account's `deleteAllUserData`),
    /// for an account erased here or elsewhere.
    erase_local: EraseLocal,
    config: SyncConfig,
    auth: Arc<dyn AuthProvider>,
    client: reqwest::Client,
    base: String,
    /// The endpoint's host, for the declared-host check.
    host: String,
    /// The keys a served policy manifest must be signed with.
    policy_keys: crate::crypto::TrustedKeys,
    running: tokio::sync::Mutex<()>,
    cancelled: AtomicBool,
    /// The sync observers. The list-level state is whether a sync has started and not yet
    /// ended; an entry's, whether that observer subscribed while a sync ran and gets
    /// `Started` before that sync's next event. Both under one lock, so a new observer is
    /// either in an event's delivery or told it missed `Started`.
    observers: Arc<Observers<dyn SyncObserver, bool, bool>>,
    auto: Mutex<Option<AutoSync>>,
    /// The error of the last sync, null / nil after a success.
    last_error: Mutex<Option<crate::error::AparkingError>>,
    /// When automatic sync tries next (ms since the epoch), 0 while it is off.
    next_auto_at_ms: Arc<AtomicI64>,
    /// This client, for the work handed to the SDK's runtime (which must own what it uses).
    me: std::sync::Weak<SyncClient>,
}

/// The automatic-sync thread.
struct AutoSync {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient").finish_non_exhaustive()
    }
}

impl SyncClient {
    /// A sync client on `store` (`SyncClient::new` takes the public `Store`).
    pub(crate) fn on(
        store: Arc<StoreHandle>,
        erase_local: EraseLocal,
        config: SyncConfig,
        auth_provider: Arc<dyn AuthProvider>,
    ) -> ApiResult<Arc<Self>> {
        let (client, base) = net::client(&config.endpoint, &config.network)?;
        let policy_keys =
            crate::crypto::TrustedKeys::parse("policy_public_keys", &config.policy_public_keys)?;
        let host = net::host_of(&base)?;
        Ok(Arc::new_cyclic(|me| SyncClient {
            me: me.clone(),
            store,
            erase_local,
            config,
            auth: auth_provider,
            client,
            base,
            host,
            policy_keys,
            running: tokio::sync::Mutex::new(()),
            cancelled: AtomicBool::new(false),
            observers: Arc::default(),
            auto: Mutex::new(None),
            last_error: Mutex::new(None),
            next_auto_at_ms: Arc::new(AtomicI64::new(0)),
        }))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncClient {
    /// Syncs: pushes every pending local change, pulls remote changes and merges them
    /// (field by field, the server wins a field changed on both sides, delete wins), and
    /// pushes what the merge left. A second call while
    /// one runs fails at once with `SyncInProgress`. Killed or failed at any point, the
    /// next sync completes with nothing lost and nothing applied twice.
    ///
    /// The work runs on the SDK's own thread: awaiting it from the main thread costs that
    /// thread nothing but the wake-ups. Cancelling the caller (a coroutine's `withTimeout`,
    /// Swift's `Task.cancel()`) stops it at its next await point, what it saved staying
    /// saved, and returns once it has let go of the sync: the next sync can start at once.
    pub async fn sync(&self) -> ApiResult<SyncSummary> {
        let this = self.this()?;
        crate::runtime::run(async move { this.sync_here().await }).await?
    }

    /// The sync status now: pending changes, conflicts, whether a sync runs, the last
    /// success and error, the next automatic attempt. Reads the store (fast, may block).
    pub fn status(&self) -> ApiResult<SyncStatus> {
        self.status_with(self.running.try_lock().is_err())
    }

    /// Local changes waiting to be pushed.
    pub fn pending_changes(&self) -> ApiResult<i64> {
        Ok(self.store.read(|c, _| outbox::count(c).map(count))?)
    }

    /// The conflicts the merge settled, oldest first, with the losing values (sealed in
    /// the store; personal data: show them to the user, do not log them).
    pub fn conflicts(&self) -> ApiResult<Vec<SyncConflict>> {
        Ok(self.store.read(|c, r| conflicts::list(c, &r.keys))?)
    }

    /// Forgets the logged conflicts; returns how many there were.
    pub fn clear_conflicts(&self) -> ApiResult<i64> {
        Ok(self.store.write(|tx, _| conflicts::clear(tx).map(count))?)
    }

    /// The sync entries set aside because they were damaged (a pending change or a last
    /// synced copy whose sealed value does not open), oldest first. Each sync sets such
    /// entries aside before it starts and goes on with the rest: a lost change is replaced
    /// by the record's local copy (`requeued`), a lost synced copy by a pull from the
    /// beginning. Names records only, never their values.
    pub fn quarantined(&self) -> ApiResult<Vec<QuarantinedEntry>> {
        Ok(self.store.read(|c, _| quarantine::list(c))?)
    }

    /// Forgets the set-aside entries (after the app reported them); returns how many.
    pub fn clear_quarantine(&self) -> ApiResult<i64> {
        Ok(self.store.write(|tx, _| quarantine::clear(tx).map(count))?)
    }

    /// Deletes the user's account: first on the backend (`DELETE /v1/account`: every
    /// record and change), then every local record by crypto-shredding
    /// (`Store.deleteAllUserData()`) and this store's sync position. Waits for a running
    /// sync to finish.
    ///
    /// The erasure is recorded as pending before the request is sent. If the call is
    /// interrupted (the app killed, the coroutine cancelled) or the backend cannot be
    /// reached (`Network`: it may or may not have erased), the next `sync()` or
    /// `deleteAccount()` finishes it, so local data never outlives an erased account. A
    /// definite refusal (`AuthRequired`, an HTTP 4xx other than 429) clears it: nothing was
    /// erased. Retries used up on 429 or 5xx keep it.
    pub async fn delete_account(&self) -> ApiResult<()> {
        let this = self.this()?;
        crate::runtime::run(async move { this.delete_account_here().await }).await?
    }

    /// Whether an account erasure was asked for and is not finished yet (see
    /// `deleteAccount`): the app can show it and retry.
    pub fn is_account_erasure_pending(&self) -> ApiResult<bool> {
        Ok(self.store.read(|c, _| mirror::erasure_pending(c))?)
    }

    /// Starts syncing automatically every `intervalMs`, on an SDK thread, even when no
    /// new local change arrives (the retry timer). After a failure the wait doubles, up to
    /// `autoSyncMaxBackoffMs`, and goes back to the interval after a success. Calling
    /// it again while it runs changes nothing. An explicit `sync()` always tries at once.
    pub fn start_auto_sync(self: Arc<Self>, interval_ms: i64) -> ApiResult<()> {
        if interval_ms < 1 {
            return Err(Error::invalid("interval_ms", "must be positive").into());
        }
        let mut auto = self.auto.locked();
        if auto.is_some() {
            return Ok(());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let client = Arc::downgrade(&self);
        let max = net::millis(self.config.auto_sync_max_backoff_ms.max(interval_ms));
        let interval = net::millis(interval_ms);
        let stopping = Arc::clone(&stop);
        let next_at = Arc::clone(&self.next_auto_at_ms);
        next_at.store(
            crate::store::db::now_millis().saturating_add(interval_ms),
            Ordering::Release,
        );
        let thread = std::thread::Builder::new()
            .name("aparking-sync".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    log::error!("sync: the automatic-sync runtime could not start");
                    return;
                };
                let mut failures = 0u32;
                let mut wait = interval;
                loop {
                    let until = Instant::now() + wait;
                    while !stopping.load(Ordering::Acquire) && Instant::now() < until {
                        std::thread::park_timeout(until.saturating_duration_since(Instant::now()));
                    }
                    if stopping.load(Ordering::Acquire) {
                        return;
                    }
                    // Only a weak reference between runs: dropping the client ends the loop. The
                    // sync runs here, on this SDK thread (not handed to the runtime).
                    let Some(client) = client.upgrade() else {
                        return;
                    };
                    match runtime.block_on(client.sync_here()) {
                        Ok(_) => failures = 0,
                        Err(crate::error::AparkingError::SyncInProgress) => {}
                        Err(_) => failures = (failures + 1).min(16),
                    }
                    wait = interval
                        .saturating_mul(2u32.saturating_pow(failures))
                        .min(max);
                    next_at.store(
                        crate::store::db::now_millis()
                            .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
                        Ordering::Release,
                    );
                    if let Ok(status) = client.status() {
                        client.emit(SyncEvent::StatusChanged { status });
                    }
                }
            })
            .map_err(|_| Error::Internal("the automatic-sync thread could not start"))?;
        *auto = Some(AutoSync { stop, thread });
        Ok(())
    }

    /// Stops automatic sync (after the sync in flight, if any).
    pub fn stop_auto_sync(&self) {
        let auto = self.auto.locked().take();
        self.next_auto_at_ms.store(0, Ordering::Release);
        if let Some(auto) = auto {
            auto.stop.store(true, Ordering::Release);
            auto.thread.thread().unpark();
            if auto.thread.thread().id() != std::thread::current().id() {
                let _ = auto.thread.join();
            }
        }
    }

    /// Asks the running sync to stop after the batch or page in flight (or before its
    /// next request); it then fails with `SyncCancelled`. What was saved so far stays
    /// saved; the next sync carries on. Does nothing when no sync runs.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Registers an observer of sync progress (every step of every sync, manual or
    /// automatic). Events flow while the returned `Subscription` is kept and not cancelled.
    /// An observer that subscribes while a sync runs gets `Started` first, before that
    /// sync's next event, so it never sees a sync's progress or end without its start.
    pub fn subscribe(&self, observer: Arc<dyn SyncObserver>) -> Arc<Subscription> {
        self.observers
            .subscribe_with(observer, |run_started| *run_started)
    }
}

impl SyncClient {
    /// The status, with `running` as given (the end of a sync reports it finished).
    fn status_with(&self, running: bool) -> ApiResult<SyncStatus> {
        let (pending_changes, conflicts, last_success_at_ms, account_erasure_pending, quarantined) =
            self.store.read(|c, _| {
                Ok((
                    outbox::count(c).map(count)?,
                    conflicts::count(c).map(count)?,
                    mirror::last_synced_at(c)?,
                    mirror::erasure_pending(c)?,
                    quarantine::count(c).map(count)?,
                ))
            })?;
        let next = self.next_auto_at_ms.load(Ordering::Acquire);
        Ok(SyncStatus {
            pending_changes,
            conflicts,
            running,
            last_success_at_ms,
            last_error: self.last_error.locked().clone(),
            next_auto_sync_at_ms: (next > 0).then_some(next),
            account_erasure_pending,
            quarantined,
        })
    }

    /// The erasure itself (the caller holds the running lock and has set the pending mark).
    async fn erase_account(&self) -> Result<()> {
        let mut token = None;
        let answer = self
            .request(
                reqwest::Method::DELETE,
                ACCOUNT_PATH,
                None,
                Auth::Account(&mut token),
                (MAX_ANSWER_BYTES, json_answer),
            )
            .await;
        match answer {
            // 410: nothing left to erase.
            Ok(Answer::Ok(_) | Answer::Gone) => {}
            // A definite refusal (a 400 naming a cursor cannot answer this request, so it
            // is one too): nothing was erased, and retrying would not help.
            Ok(Answer::InvalidCursor)
            | Err(Error::Refused { .. })
            | Err(Error::AuthRequired(_)) => {
                self.blocking(|s| s.write(|tx, _| mirror::set_erasure_pending(tx, false)))
                    .await?;
                return Err(match answer {
                    Err(e) => e,
                    Ok(_) => Error::Refused { status: 400 },
                });
            }
            // No answer, an answer lost, retries used up (429, 5xx), cancelled, or a local
            // failure: the backend may have erased or will on the next try. Keep the mark.
            Err(e) => return Err(e),
        }
        let erase_local = Arc::clone(&self.erase_local);
        self.blocking(move |s| {
            erase_local()?;
            s.write(|tx, _| {
                mirror::set_cursor(tx, None)?;
                mirror::set_account_erasures(tx, None)?;
                mirror::set_erasure_pending(tx, false)
            })
        })
        .await?;
        log::info!("sync: account deleted on the backend and locally");
        Ok(())
    }

    /// One sync; an account erased elsewhere (410 `account_erased` on a push or pull)
    /// deletes the local copy of its data, then fails with `AccountErased`.
    async fn run(&self) -> ApiResult<SyncSummary> {
        let result = self.run_once().await;
        if !matches!(result, Err(crate::error::AparkingError::AccountErased)) {
            return result;
        }
        log::warn!("sync: the account was erased on another device; deleting its data here");
        let erase_local = Arc::clone(&self.erase_local);
        self.blocking(move |s| {
            erase_local()?;
            // The next pull adopts the backend's count.
            s.write(|tx, _| mirror::set_account_erasures(tx, None))
        })
        .await?;
        result
    }

    async fn run_once(&self) -> ApiResult<SyncSummary> {
        let started = Instant::now();
        let mut summary = SyncSummary::default();
        let mut token: Option<String> = None;
        if self
            .blocking(|s| s.read(|c, _| mirror::erasure_pending(c)))
            .await?
        {
            // An account erasure was interrupted: finish it; there is nothing to sync.
            self.erase_account().await?;
            summary.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            return Ok(summary);
        }
        // Damaged sync entries are set aside first, so that they block nothing.
        let client_id = self
            .blocking(|s| {
                s.write(|tx, r| {
                    quarantine::sweep(tx, &r.keys)?;
                    mirror::client_id(tx)
                })
            })
            .await?;
        // This run's id, in its pushes and pulls: the pulls leave out what this run pushed.
        let sync_id = uuid::Uuid::new_v4().to_string();
        summary.policy_version = self.fetch_policy().await?;
        // Push first: a change whose answer was lost last time is re-sent with the same
        // change id, answered `duplicate`, and the mirror catches up before the pull, so
        // the pull never mistakes our own change for a remote one. Then pull and merge;
        // push again what the merge left (conflicts resolved, records merged).
        let mut reconcile = None;
        for _ in 0..MAX_ROUNDS {
            self.push_all(
                &client_id,
                &sync_id,
                &mut token,
                &mut summary,
                &mut reconcile,
            )
            .await?;
            self.pull_all(&sync_id, &mut token, &mut summary, &mut reconcile)
                .await?;
            if self.pending_changes()? == 0 {
                break;
            }
        }
        self.push_all(&client_id, &sync_id, &mut token, &mut summary, &mut None)
            .await?;
        summary.pending = self
            .blocking(|s| {
                s.write(|tx, _| {
                    mirror::mark_synced(tx)?;
                    outbox::count(tx).map(count)
                })
            })
            .await?;
        summary.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        log::info!(
            "sync: {} pulled, {} pushed, {} conflicts, {} pending",
            summary.pulled,
            summary.pushed,
            summary.conflicts,
            summary.pending
        );
        Ok(summary)
    }
}

impl SyncClient {
    /// This client as an `Arc` (it is only ever made as one).
    fn this(&self) -> Result<Arc<SyncClient>> {
        self.me
            .upgrade()
            .ok_or(Error::Internal("the sync client is being dropped"))
    }

    /// `delete_account()`, on the SDK's runtime.
    async fn delete_account_here(&self) -> ApiResult<()> {
        let _running = self.running.lock().await;
        self.cancelled.store(false, Ordering::Release);
        self.blocking(|s| {
            s.write(|tx, _| {
                mirror::client_id(tx)?; // the sync state row exists from here on
                mirror::set_erasure_pending(tx, true)
            })
        })
        .await?;
        Ok(self.erase_account().await?)
    }

    /// `sync()`, on the SDK's runtime.
    async fn sync_here(&self) -> ApiResult<SyncSummary> {
        let _running = self.running.try_lock().map_err(|_| Error::SyncInProgress)?;
        self.cancelled.store(false, Ordering::Release);
        self.emit(SyncEvent::Started);
        let result = self.run().await;
        *self.last_error.locked() = result.clone().err();
        // The status as of the end of this run (its lock is released right after).
        if let Ok(status) = self.status_with(false) {
            self.emit(SyncEvent::StatusChanged { status });
        }
        match &result {
            Ok(summary) => self.emit(SyncEvent::Finished {
                summary: summary.clone(),
            }),
            Err(e) => self.emit(SyncEvent::Failed { error: e.clone() }),
        }
        result
    }
}

/// A successful answer (decoded), 410 Gone, or 400 `invalid_cursor`.
enum Answer<T> {
    Ok(T),
    Gone,
    InvalidCursor,
}

/// Whose request it is: the account's (a bearer token, refreshed once after a 401) or
/// nobody's (the public policy endpoint: no token is fetched or sent).
enum Auth<'a> {
    Account(&'a mut Option<String>),
    Public,
}

/// Decodes a JSON answer body (push, pull, account); `None` (garbled) is retried.
fn json_answer(_headers: &reqwest::header::HeaderMap, body: Vec<u8>) -> Option<Value> {
    if body.is_empty() {
        return Some(Value::Null); // 204 No Content
    }
    serde_json::from_slice(&body).ok()
}

/// What the backend got wrong (a malformed page or cursor): a `Network` failure.
fn backend_error(reason: &str) -> Error {
    Error::Network {
        reason: reason.into(),
        retry_after_ms: None,
    }
}

impl SyncClient {
    /// Fetches the policy manifest the backend publishes and hands it to consent: a newer
    /// version than the one in force takes effect at once (P7.1). Retried like every other
    /// request (`request`); a 404 means the backend publishes none.
    async fn fetch_policy(&self) -> Result<Option<i32>> {
        if self.policy_keys.is_empty() {
            // Nothing to verify a served manifest with: the backend's policy is not read.
            return Ok(None);
        }
        let network = |reason: &str| Error::Network {
            reason: reason.into(),
            retry_after_ms: None,
        };
        let signed = |headers: &reqwest::header::HeaderMap, body: Vec<u8>| {
            let signature = headers
                .get(POLICY_SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Some((body, signature))
        };
        let (bytes, signature) = match self
            .request(
                reqwest::Method::GET,
                POLICY_PATH,
                None,
                Auth::Public,
                (MAX_POLICY_BYTES, signed),
            )
            .await
        {
            Ok(Answer::Ok(answer)) => answer,
            Err(Error::Refused { status: 404 }) => return Ok(None),
            Ok(Answer::Gone) => return Err(network("HTTP 410")),
            Ok(Answer::InvalidCursor) => return Err(Error::Refused { status: 400 }),
            Err(e) => return Err(e),
        };
        // The signature covers the exact bytes served; nothing is parsed before it checks.
        if !self.policy_keys.verify(&bytes, signature.as_deref()) {
            log::warn!("sync: the backend's policy manifest is unsigned or mis-signed; ignored");
            return Err(Error::UntrustedPolicy(if signature.is_none() {
                "the backend's policy manifest is not signed"
            } else {
                "the backend's policy manifest signature does not verify with a configured key"
            }));
        }
        // Decoded straight into the manifest type and validated as a bundled manifest is
        // (`parse_policy_manifest`): repeated keys are refused the same way on both paths.
        // What the backend got wrong is a `Network` failure, never the app's `InvalidInput`.
        let manifest: crate::consent::PolicyManifest = serde_json::from_slice(&bytes)
            .map_err(|_| network("the backend's policy manifest is malformed"))?;
        manifest
            .validate()
            .map_err(|_| network("the backend's policy manifest is invalid"))?;
        let version = manifest.version;
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || {
            crate::consent::Consent::on(store).adopt_policy(manifest)
        })
        .await
        {
            Ok(Ok(_)) => Ok(Some(version)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Internal("a consent task failed")),
        }
    }

    /// Pulls every page after the saved cursor; each page and its cursor are saved in one
    /// transaction. A 410 (expired cursor) or a 400 `invalid_cursor` resets the cursor and
    /// pulls from the start, once. A cursor that is empty, longer than `MAX_CURSOR_LEN`, or
    /// one this pull has already seen (it does not move forward) is refused, `Network`, and
    /// not saved: what the pages before it saved stays. The pull names this sync run
    /// (`sync_id`, sent with its pushes too), so the backend leaves out the records whose
    /// latest change this run pushed: their answers already put those versions in the
    /// mirror (no echo). Changes of earlier runs are never left out, so a store restored
    /// from an old copy still gets back what it pushed after that copy was made.
    async fn pull_all(
        &self,
        sync_id: &str,
        token: &mut Option<String>,
        summary: &mut SyncSummary,
        reconcile: &mut Option<ReconcileReason>,
    ) -> Result<()> {
        let mut reset = false;
        let mut seen = std::collections::HashSet::new();
        // While reconciling: every record the backend listed.
        let mut listed: std::collections::HashSet<(outbox::Entity, String)> = Default::default();
        let mut reconciling = reconcile.is_some();
        if reconciling {
            self.blocking(|s| s.write(|tx, _| mirror::set_cursor(tx, None)))
                .await?;
        }
        let known_generation = self
            .blocking(|s| s.read(|c, _| mirror::generation(c)))
            .await?;
        let mut cursor = self.blocking(|s| s.read(|c, _| mirror::cursor(c))).await?;
        // Changes waiting for another record's change further on (`pull::apply_page`),
        // and, while any waits, the cursor saved instead of the newest: the one before
        // the page they came in, so that a pull cut short fetches them again.
        let mut waiting: Vec<serde_json::Value> = Vec::new();
        let mut held_cursor: Option<String> = None;
        for _ in 0..MAX_BATCHES {
            self.check_cancelled()?;
            // A reconciliation pull lists everything, this run's own pushes too.
            let mut path = if reconciling {
                format!("{PULL_PATH}?limit={PULL_LIMIT}")
            } else {
                format!("{PULL_PATH}?limit={PULL_LIMIT}&sync_id={sync_id}")
            };
            let erasures = self
                .blocking(|s| s.read(|c, _| mirror::account_erasures(c)))
                .await?;
            if let Some(n) = erasures {
                path.push_str(&format!("&account_erasures={n}"));
            }
            if let Some(c) = &cursor {
                seen.insert(c.clone());
                path.push_str("&cursor=");
                path.extend(url::form_urlencoded::byte_serialize(c.as_bytes()));
            }
            let page = match self
                .request(
                    reqwest::Method::GET,
                    &path,
                    None,
                    Auth::Account(token),
                    (MAX_ANSWER_BYTES, json_answer),
                )
                .await?
            {
                Answer::Ok(page) => page,
                Answer::Gone | Answer::InvalidCursor if !reset => {
                    log::warn!(
                        "sync: the backend refused the saved cursor; pulling from the start"
                    );
                    reset = true;
                    seen.clear();
                    listed.clear();
                    (cursor, held_cursor) = (None, None);
                    waiting.clear();
                    if !reconciling {
                        reconciling = true;
                        *reconcile = Some(ReconcileReason::CursorRefused);
                    }
                    self.blocking(|s| s.write(|tx, _| mirror::set_cursor(tx, None)))
                        .await?;
                    continue;
                }
                Answer::Gone | Answer::InvalidCursor => {
                    return Err(backend_error("the backend refused the cursor twice"))
                }
            };
            let malformed = || backend_error("the backend's pull answer is malformed");
            let changes = page["changes"].as_array().cloned().ok_or_else(malformed)?;
            let next = page["cursor"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(malformed)?;
            let has_more = page["has_more"].as_bool().ok_or_else(malformed)?;
            let generation = page["generation"]
                .as_str()
                .filter(|g| !g.is_empty() && g.len() <= 64)
                .map(str::to_string);
            let page_erasures = page["account_erasures"]
                .as_i64()
                .filter(|n| (0..=1 << 31).contains(n));
            if let (Some(known), Some(now)) = (&known_generation, &generation) {
                if known != now && !reconciling {
                    log::warn!("sync: the backend names another dataset generation; reconciling");
                    reconciling = true;
                    *reconcile = Some(ReconcileReason::NewGeneration);
                    seen.clear();
                    (cursor, held_cursor) = (None, None);
                    waiting.clear();
                    self.blocking(|s| s.write(|tx, _| mirror::set_cursor(tx, None)))
                        .await?;
                    continue;
                }
            }
            if reconciling {
                for c in &changes {
                    let entity = c["entity"].as_str().and_then(outbox::Entity::parse);
                    if let (Some(e), Some(id)) = (entity, c["record_id"].as_str()) {
                        listed.insert((e, id.to_string()));
                    }
                }
            }
            if next.is_empty() || next.len() > MAX_CURSOR_LEN {
                return Err(backend_error("the backend's cursor is empty or too long"));
            }
            // The same cursor again at the end of the log is fine (nothing new); any other
            // repeat means the backend went back to a place this pull has passed: it would
            // loop, so stop instead of following it.
            let at_end_again = !has_more && cursor.as_deref() == Some(next.as_str());
            if !at_end_again && seen.contains(&next) {
                return Err(backend_error("the backend's cursor does not move forward"));
            }
            let winner = if self.config.local_wins_conflicts {
                merge::Winner::Local
            } else {
                merge::Winner::Server
            };
            if waiting.is_empty() {
                held_cursor = cursor.clone();
            }
            let before_page = held_cursor.clone();
            let saved_next = next.clone();
            let (pulled, still_waiting) = self
                .blocking(move |s| {
                    s.write(|tx, r| {
                        let pulled = pull::apply_page(
                            tx,
                            &r.keys,
                            &changes,
                            &mut waiting,
                            winner,
                            reconciling,
                            !has_more,
                        )?;
                        let saved = if waiting.is_empty() {
                            Some(saved_next.as_str())
                        } else {
                            before_page.as_deref()
                        };
                        mirror::set_cursor(tx, saved)?;
                        if let Some(generation) = &generation {
                            mirror::set_generation(tx, generation)?;
                        }
                        if page_erasures.is_some() {
                            mirror::set_account_erasures(tx, page_erasures)?;
                        }
                        Ok((pulled, waiting))
                    })
                })
                .await?;
            waiting = still_waiting;
            cursor = Some(next);
            summary.pulled += pulled.applied;
            self.emit(SyncEvent::Pulled {
                count: pulled.applied,
            });
            summary.conflicts += pulled.conflicts;
            summary.rejected += pulled.invalid;
            if !has_more {
                if let Some(reason) = reconcile.take() {
                    let repushed = self
                        .blocking(move |s| {
                            s.write(|tx, r| pull::repush_missing(tx, &r.keys, &listed))
                        })
                        .await?;
                    log::info!(
                        "sync: reconciled with the backend; {repushed} records to push again"
                    );
                    self.emit(SyncEvent::Reconciled { reason, repushed });
                }
                break;
            }
        }
        Ok(())
    }

    /// Pushes the outbox batch by batch; returns how many changes conflicted.
    async fn push_all(
        &self,
        client_id: &str,
        sync_id: &str,
        token: &mut Option<String>,
        summary: &mut SyncSummary,
        reconcile: &mut Option<ReconcileReason>,
    ) -> Result<u64> {
        let mut conflicts = 0;
        let erasures = self
            .blocking(|s| s.read(|c, _| mirror::account_erasures(c)))
            .await?;
        // Pipelined: while the backend applies one batch, the answers to the one before are
        // applied here and the next is planned (without the records in flight, whose next
        // change waits for their answer). Batches are still sent and applied in order.
        let mut batch = self.plan_push(HashSet::new()).await?;
        let mut answered: Option<(Vec<push::Planned>, Value)> = None;
        let mut stop = false;
        for _ in 0..MAX_BATCHES {
            if let Err(e) = self.check_cancelled() {
                if let Some((plan, answer)) = answered.take() {
                    self.apply_push(plan, answer, summary, reconcile, &mut conflicts)
                        .await?;
                }
                return Err(e);
            }
            if stop {
                break;
            }
            if batch.is_empty() {
                // Nothing else to plan while a batch was in flight: apply its answers, then
                // plan again with nothing in flight (the records it held may have more).
                let Some((plan, answer)) = answered.take() else {
                    break;
                };
                if self
                    .apply_push(plan, answer, summary, reconcile, &mut conflicts)
                    .await?
                {
                    break;
                }
                batch = self.plan_push(HashSet::new()).await?;
                continue;
            }
            let body = json!({
                "schema_version": 1,
                "client_id": client_id,
                "sync_id": sync_id,
                "account_erasures": erasures,
                "changes": batch.iter().map(push::Planned::to_wire).collect::<Vec<_>>(),
            });
            let in_flight: HashSet<(push::Pushed, String)> = batch
                .iter()
                .map(|p| (p.entity, p.record_id.clone()))
                .collect();
            let previous = answered.take();
            let send = self.request(
                reqwest::Method::POST,
                PUSH_PATH,
                Some(&body),
                Auth::Account(token),
                (MAX_ANSWER_BYTES, json_answer),
            );
            let meanwhile = async {
                let progress = match previous {
                    Some((plan, answer)) => {
                        let applied = self.apply_batch(plan, answer).await?;
                        Some(applied)
                    }
                    None => None,
                };
                let next = self.plan_push(in_flight).await?;
                Ok::<_, Error>((progress, next))
            };
            let (sent, done) = tokio::join!(send, meanwhile);
            let (progress, next) = done?;
            if let Some(applied) = progress {
                stop = self.count_applied(applied, summary, reconcile, &mut conflicts);
            }
            let answer = match sent? {
                Answer::Ok(answer) => answer,
                Answer::Gone => return Err(backend_error("HTTP 410")),
                Answer::InvalidCursor => return Err(Error::Refused { status: 400 }),
            };
            answered = Some((batch, answer));
            batch = next;
        }
        if let Some((plan, answer)) = answered {
            self.apply_push(plan, answer, summary, reconcile, &mut conflicts)
                .await?;
        }
        Ok(conflicts as u64)
    }

    /// The next push batch, leaving out the records of a batch in flight.
    async fn plan_push(
        &self,
        in_flight: HashSet<(push::Pushed, String)>,
    ) -> Result<Vec<push::Planned>> {
        self.blocking(move |s| s.read(|c, r| push::plan(c, &r.keys, &in_flight)))
            .await
    }

    /// Applies the backend's answers to one batch (its own transaction).
    async fn apply_batch(&self, plan: Vec<push::Planned>, answer: Value) -> Result<push::Applied> {
        self.blocking(move |s| s.write(|tx, r| push::apply_results(tx, &r.keys, &plan, &answer)))
            .await
    }

    /// Applies one batch's answers and counts them; `true` when the batch made no progress.
    async fn apply_push(
        &self,
        plan: Vec<push::Planned>,
        answer: Value,
        summary: &mut SyncSummary,
        reconcile: &mut Option<ReconcileReason>,
        conflicts: &mut i64,
    ) -> Result<bool> {
        let applied = self.apply_batch(plan, answer).await?;
        Ok(self.count_applied(applied, summary, reconcile, conflicts))
    }

    /// Adds one applied batch to the summary and tells the observers; `true` when it made no
    /// progress (only changes waiting for a pull are left), so the push should stop.
    fn count_applied(
        &self,
        applied: push::Applied,
        summary: &mut SyncSummary,
        reconcile: &mut Option<ReconcileReason>,
        conflicts: &mut i64,
    ) -> bool {
        summary.pushed += applied.pushed;
        self.emit(SyncEvent::Pushed {
            count: applied.pushed,
        });
        summary.conflicts += applied.resolved;
        summary.rejected += applied.rejected;
        *conflicts += applied.conflicts;
        if applied.went_back && reconcile.is_none() {
            log::warn!("sync: the backend holds a record at an older version; reconciling");
            *reconcile = Some(ReconcileReason::VersionWentBack);
        }
        applied.pushed + applied.rejected == 0
    }

    fn check_cancelled(&self) -> Result<()> {
        if self.cancelled.load(Ordering::Acquire) {
            return Err(Error::SyncCancelled);
        }
        Ok(())
    }

    fn emit(&self, event: SyncEvent) {
        let starts = matches!(event, SyncEvent::Started);
        self.observers.deliver_with(
            |run_started| match event {
                SyncEvent::Started => *run_started = true,
                SyncEvent::Finished { .. } | SyncEvent::Failed { .. } => *run_started = false,
                _ => {}
            },
            |owes_started| std::mem::take(owes_started) && !starts,
            |observer, owes_started| {
                if owes_started {
                    observer.on_sync_event(SyncEvent::Started);
                }
                observer.on_sync_event(event.clone());
            },
        );
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&StoreHandle) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Internal("a store task failed")),
        }
    }

    async fn token(&self, refresh: bool) -> Result<String> {
        let auth = Arc::clone(&self.auth);
        match tokio::task::spawn_blocking(move || auth.bearer_token(refresh)).await {
            Ok(Ok(token)) => Ok(token),
            Ok(Err(AuthProviderError::SignedOut { reason })) => Err(Error::AuthRequired(reason)),
            Err(_) => Err(Error::Internal("the auth provider task failed")),
        }
    }

    /// Sends a request (a gzip JSON body when given), for the account with its bearer token
    /// (one token refresh on 401) or to a public endpoint without one; retries with backoff
    /// on 429, 5xx, network failures and answers that are cut off, larger than `max_answer`
    /// bytes, or that `decode` refuses. Every request of a sync goes through here, so all retry alike.
    async fn request<T>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        mut auth: Auth<'_>,
        (max_answer, decode): (
            usize,
            impl Fn(&reqwest::header::HeaderMap, Vec<u8>) -> Option<T>,
        ),
    ) -> Result<Answer<T>> {
        if let Auth::Account(_) = auth {
            // Personal data go only to a host the policy in force declares (law No. 94-V,
            // Art. 12): checked before anything is sent or any token is fetched.
            self.store
                .consent_hub()
                .require_declared_host(&self.host, crate::consent::DataChannel::Personal)?;
        }
        let compressed = match body {
            Some(body) => {
                // The fastest level: a third of the default's CPU time for a push batch,
                // about a tenth more bytes (docs/performance.md).
                let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
                std::io::Write::write_all(&mut gz, body.to_string().as_bytes())
                    .map_err(|_| Error::Internal("gzip"))?;
                Some(gz.finish().map_err(|_| Error::Internal("gzip"))?)
            }
            None => None,
        };
        let network = &self.config.network;
        let mut backoff = Backoff::new(network.retry_base_delay(), network.retry_max_delay());
        let mut refreshed = false;
        let mut attempt = 0;
        let mut last = String::from("no attempt");
        let mut wait = Duration::ZERO;
        while attempt < network.attempts() {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
            }
            let bearer = match &mut auth {
                Auth::Account(token) => Some(match token {
                    Some(t) => t.clone(),
                    None => token.insert(self.token(false).await?).clone(),
                }),
                Auth::Public => None,
            };
            // Cancelled while the app fetched a token, or between attempts: send nothing.
            self.check_cancelled()?;
            let mut builder = self
                .client
                .request(method.clone(), format!("{}{path}", self.base));
            if let Some(bearer) = bearer {
                builder = builder.bearer_auth(bearer);
            }
            if let Some(compressed) = &compressed {
                builder = builder
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(reqwest::header::CONTENT_ENCODING, "gzip")
                    .body(compressed.clone());
            }
            let retry_after = match builder.send().await {
                Ok(r) if r.status().is_success() => {
                    // A cut-off, oversized or garbled answer: a push may have been applied;
                    // resending the same change ids is safe.
                    let headers = r.headers().clone();
                    match net::read_limited(r, max_answer).await {
                        None => {
                            last = "the answer is cut off or too large".into();
                            None
                        }
                        Some(bytes) => match decode(&headers, bytes) {
                            Some(v) => return Ok(Answer::Ok(v)),
                            None => {
                                last = "invalid answer".into();
                                None
                            }
                        },
                    }
                }
                Ok(r) if r.status() == reqwest::StatusCode::GONE => {
                    // `{"error": "account_erased"}`: the account's data must go.
                    let erased = net::read_limited(r, MAX_ERROR_BYTES)
                        .await
                        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                        .is_some_and(|v| v["error"] == "account_erased");
                    if erased {
                        return Err(Error::AccountErased);
                    }
                    return Ok(Answer::Gone);
                }
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    let Auth::Account(token) = &mut auth else {
                        return Err(Error::Refused { status: 401 });
                    };
                    if refreshed {
                        return Err(Error::AuthRequired("the backend refused the token".into()));
                    }
                    refreshed = true;
                    **token = Some(self.token(true).await?);
                    continue; // a refresh is not a failed attempt
                }
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    last = format!("HTTP {}", r.status().as_u16());
                    net::retry_after(&r)
                }
                Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {
                    // `{"error": "invalid_cursor"}`: the pull resets its cursor.
                    let invalid_cursor = net::read_limited(r, MAX_ERROR_BYTES)
                        .await
                        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                        .is_some_and(|v| v["error"] == "invalid_cursor");
                    if invalid_cursor {
                        return Ok(Answer::InvalidCursor);
                    }
                    return Err(Error::Refused { status: 400 });
                }
                Ok(r) => {
                    return Err(Error::Refused {
                        status: r.status().as_u16(),
                    })
                }
                Err(e) => {
                    let (reason, retryable) = net::describe(&e);
                    if !retryable {
                        return Err(Error::Network {
                            reason: reason.into(),
                            retry_after_ms: None,
                        });
                    }
                    last = reason.into();
                    None
                }
            };
            wait = backoff.next_delay(retry_after);
            attempt += 1;
        }
        Err(Error::Network {
            reason: last,
            retry_after_ms: Some(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
        })
    }
}

impl Drop for SyncClient {
    fn drop(&mut self) {
        // The thread holds only a weak reference; it ends at its next wake-up. Never join
        // here: the last reference may be dropped on that very thread.
        if let Some(auto) = self
            .auto
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            auto.stop.store(true, Ordering::Release);
            auto.thread.thread().unpark();
        }
    }
}
