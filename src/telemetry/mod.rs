//! Consent-gated telemetry (policy clauses P0, P2.2.3-P2.2.5, P3.1.1, P3.1.1c).
//!
//! `record()` is cheap and never blocks: on the caller's thread it reads the consent mask
//! (one atomic load), drops and counts an event whose purpose is not allowed now, and
//! otherwise pushes it into a bounded lock-free buffer (overflow is counted, never waits).
//! A worker thread takes events from the buffer, re-checks consent under the store's
//! lock, coarsens them, runs the PII firewall, seals them and appends them to the bounded
//! queue in the store. `upload()` sends the queue in gzip JSON batches.
//!
//! See `docs/telemetry.md` for every event, field, purpose and clause.

mod complaint;
mod event;
mod firewall;
pub(crate) mod queue;
mod upload;
mod worker;

pub(crate) use complaint::list as complaints_in;
pub use complaint::{ConnectionComplaint, NetworkSample};
pub use event::{NetworkType, TelemetryEvent};
pub(crate) use firewall::PersonalValues;
pub use upload::UploadSummary;

use crate::consent::handle::StoreHandle;
use crate::consent::Purpose;
use crate::error::{ApiResult, Error};
use crate::net::NetworkConfig;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use worker::Worker;

/// Limits and endpoints of the telemetry pipeline. Defaults follow Glean's.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TelemetryConfig {
    /// Base URL of the telemetry backend (https; http only to loopback).
    pub endpoint: String,
    /// Timeouts, retries and TLS trust (pinning, extra roots).
    #[uniffi(default)]
    pub network: NetworkConfig,
    /// Most events kept in the queue; the oldest are dropped (and counted) beyond it.
    #[uniffi(default = 10000)]
    pub max_queue_events: i32,
    /// Most bytes of event JSON kept in the queue.
    #[uniffi(default = 5242880)]
    pub max_queue_bytes: i64,
    /// Most events in one upload batch (at most 500).
    #[uniffi(default = 500)]
    pub max_batch_events: i32,
    /// Most bytes of JSON (before gzip) in one upload batch (at most 1 MiB).
    #[uniffi(default = 1048576)]
    pub max_batch_bytes: i32,
    /// Most upload requests per minute.
    #[uniffi(default = 15)]
    pub max_uploads_per_minute: i32,
    /// Days before the pseudonymous installation id is replaced (it is also replaced on
    /// every consent change).
    #[uniffi(default = 30)]
    pub installation_id_lifetime_days: i32,
    /// Capacity of the in-memory buffer between `record()` and the worker (at most 65536):
    /// a burst of this many `record()` calls is kept whole however slow the disk. The
    /// buffer grows with use, so its memory is at most this many events.
    #[uniffi(default = 16384)]
    pub buffer_capacity: i32,
    /// Decimal places kept of coordinates: 2 (about 1.1 km, the finest allowed), 1 or 0.
    #[uniffi(default = 2)]
    pub location_decimals: i32,
}

impl TelemetryConfig {
    /// The defaults, with `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        TelemetryConfig {
            endpoint: endpoint.into(),
            network: NetworkConfig::default(),
            max_queue_events: 10_000,
            max_queue_bytes: 5 * 1024 * 1024,
            max_batch_events: 500,
            max_batch_bytes: 1024 * 1024,
            max_uploads_per_minute: 15,
            installation_id_lifetime_days: 30,
            buffer_capacity: 16_384,
            location_decimals: 2,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let positive = [
            (i64::from(self.max_queue_events), "max_queue_events"),
            (self.max_queue_bytes, "max_queue_bytes"),
            (i64::from(self.max_batch_events), "max_batch_events"),
            (i64::from(self.max_batch_bytes), "max_batch_bytes"),
            (
                i64::from(self.max_uploads_per_minute),
                "max_uploads_per_minute",
            ),
            (i64::from(self.buffer_capacity), "buffer_capacity"),
            (
                i64::from(self.installation_id_lifetime_days),
                "installation_id_lifetime_days",
            ),
        ];
        if let Some((_, field)) = positive.iter().find(|(v, _)| *v < 1) {
            return Err(Error::invalid(field, "must be positive"));
        }
        if self.max_batch_events > 500 {
            return Err(Error::invalid("max_batch_events", "must be at most 500"));
        }
        if self.max_batch_bytes > 1024 * 1024 {
            return Err(Error::invalid(
                "max_batch_bytes",
                "must be at most 1048576 (1 MiB)",
            ));
        }
        if self.buffer_capacity > 65_536 {
            return Err(Error::invalid("buffer_capacity", "must be at most 65536"));
        }
        if !(0..=2).contains(&self.location_decimals) {
            return Err(Error::invalid("location_decimals", "must be 0, 1 or 2"));
        }
        self.network.validate()
    }
}

/// The pipeline's counters, kept across restarts. Nothing in them identifies anyone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TelemetryCounters {
    /// Events dropped on the caller's thread because their purpose was not allowed.
    pub dropped_no_consent: HashMap<Purpose, i64>,
    /// Events dropped because the in-memory buffer was full.
    pub dropped_buffer_full: i64,
    /// Events dropped by the PII firewall, by purpose.
    pub dropped_firewall: HashMap<Purpose, i64>,
    /// Events lost because their batch could not be written (store closed, disk full).
    pub dropped_store_error: i64,
    /// Events dropped as invalid (empty or over-long strings, bad coordinates).
    pub dropped_invalid: i64,
    /// Oldest events dropped to keep the queue within its limits.
    pub dropped_queue_full: i64,
    /// Events stored in the queue.
    pub stored: i64,
    /// Pending events purged because consent ended.
    pub purged: i64,
    /// Events the backend accepted.
    pub uploaded: i64,
    /// Events the backend rejected (4xx) and that were dropped.
    pub rejected: i64,
}

/// The telemetry pipeline of one store. Create one per store and keep it for the app's
/// life; `shutdown()` (or dropping it) stops the worker after storing what was recorded.
#[derive(uniffi::Object)]
pub struct Telemetry {
    store: Arc<StoreHandle>,
    config: TelemetryConfig,
    worker: Worker,
    uploader: upload::Uploader,
    /// This pipeline, for the upload handed to the SDK's runtime.
    me: std::sync::Weak<Telemetry>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Telemetry {
    /// Starts the pipeline on `store` with `config` (`Telemetry::new` takes the public
    /// `Store`).
    pub(crate) fn on(store: Arc<StoreHandle>, config: TelemetryConfig) -> ApiResult<Arc<Self>> {
        config.validate()?;
        let uploader = upload::Uploader::new(&config)?;
        let worker = Worker::start(Arc::clone(&store), config.clone());
        Ok(Arc::new_cyclic(|me| Telemetry {
            me: me.clone(),
            store,
            config,
            worker,
            uploader,
        }))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Telemetry {
    /// Records an event. Never blocks and never fails: an event whose purpose is not
    /// allowed now is dropped and counted; so is one that finds the buffer full.
    pub fn record(&self, event: TelemetryEvent) {
        self.worker.record(event);
    }

    /// Records several events in one call: the same as `record()` for each, for hosts
    /// that buffer on their side (one FFI round trip per batch instead of per event; the
    /// Kotlin `TelemetryRecorder` does this).
    pub fn record_all(&self, events: Vec<TelemetryEvent>) {
        for event in events {
            self.worker.record(event);
        }
    }

    /// Waits until every event recorded before this call is stored or dropped (at most
    /// `timeoutMs`); returns false on timeout, or when a batch could not be written since
    /// the previous flush (counted in `droppedStoreError`). For tests and before the app goes to
    /// the background.
    pub fn flush(&self, timeout_ms: i64) -> bool {
        self.worker.flush(crate::net::millis(timeout_ms))
    }

    /// The counters.
    pub fn counters(&self) -> ApiResult<TelemetryCounters> {
        let hot = self.worker.hot_counters();
        Ok(self.store.read(|c, _| worker::counters(c, &hot))?)
    }

    /// Number of events waiting for upload, of one purpose or of all.
    #[uniffi::method(default(purpose = None))]
    pub fn pending_events(&self, purpose: Option<Purpose>) -> ApiResult<i64> {
        Ok(self
            .store
            .read(|c, _| queue::pending_events(c, purpose).map(crate::units::count))?)
    }

    /// Number of deletion requests waiting for upload.
    pub fn pending_deletion_requests(&self) -> ApiResult<i64> {
        Ok(self
            .store
            .read(|c, _| queue::pending_deletion_requests(c).map(crate::units::count))?)
    }

    /// The pseudonymous installation ids used so far, oldest first (the last is current).
    pub fn installation_ids(&self) -> ApiResult<Vec<String>> {
        Ok(self.store.read(|c, _| queue::installation_ids(c))?)
    }

    /// Sends pending deletion requests, then pending events, in gzip JSON batches. Retries
    /// 5xx, 429 and network failures with backoff (honouring Retry-After) up to
    /// `maxAttempts` per request, drops a batch the backend rejects with another 4xx,
    /// and stops early at the rate limit. Nothing unsent is lost: it stays queued.
    ///
    /// The work runs on the SDK's own thread (see `SyncClient.sync`); cancelling the caller
    /// stops it at its next await point, and nothing unsent is lost.
    pub async fn upload(&self) -> ApiResult<UploadSummary> {
        let this = self.me.upgrade().ok_or(crate::error::Error::Internal(
            "the telemetry pipeline is being dropped",
        ))?;
        crate::runtime::run(async move {
            let flusher = this.worker.flusher();
            let _ =
                tokio::task::spawn_blocking(move || flusher.flush(Duration::from_secs(5))).await;
            Ok(this
                .uploader
                .upload(Arc::clone(&this.store), &this.config)
                .await?)
        })
        .await?
    }

    /// Files a support complaint about connection quality (P2.2.5, P8) with the network
    /// samples recorded in the last `samplesWindowMinutes`. The complaint is personal
    /// data: stored sealed with the user's data and sent on the personal channel (sync),
    /// never the telemetry one.
    pub fn file_connection_complaint(
        &self,
        description: String,
        samples_window_minutes: i32,
    ) -> ApiResult<ConnectionComplaint> {
        self.worker.flush(Duration::from_secs(5));
        Ok(self.store.write(|tx, ring| {
            complaint::file(tx, &ring.keys, &description, samples_window_minutes)
        })?)
    }

    /// The complaints filed, oldest first.
    pub fn complaints(&self) -> ApiResult<Vec<ConnectionComplaint>> {
        Ok(self.store.read(|c, ring| complaint::list(c, &ring.keys))?)
    }

    /// Stores what was recorded and stops the worker. Later `record()` calls are counted
    /// as dropped. Called on drop too.
    pub fn shutdown(&self) {
        self.worker.stop();
    }
}
