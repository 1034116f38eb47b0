//! Upload of the telemetry queue: deletion requests first, then events, in gzip JSON
//! batches, with a rate limit and retries (backoff with full jitter, Retry-After).

use super::{queue, TelemetryConfig};
use crate::consent::handle::StoreHandle;
use crate::error::{Error, Result};
use crate::locks::Locked;
use crate::net::{self, Backoff};
use crate::units::count;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest answer to an upload the SDK reads.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

const EVENTS_PATH: &str = "/v1/telemetry/events";
const DELETION_REQUESTS_PATH: &str = "/v1/telemetry/deletion-requests";
/// Most deletion requests in one POST (the protocol's limit).
const MAX_DELETION_REQUESTS_PER_BATCH: usize = 100;
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// What one `upload()` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct UploadSummary {
    /// Event batches the backend accepted.
    pub batches_sent: i64,
    /// Events in those batches.
    pub events_sent: i64,
    /// Of those, events the backend already had (sent before, answer lost).
    pub duplicates: i64,
    /// Deletion requests delivered.
    pub deletion_requests_sent: i64,
    /// Events the backend rejected (4xx) and that were dropped.
    pub events_rejected: i64,
    /// Requests repeated after a failure.
    pub retries: i64,
    /// Whether the queue was emptied. When not, `retryAfterMs` says when to try again.
    pub complete: bool,
    /// How long to wait before the next `upload()` when it stopped early.
    pub retry_after_ms: Option<i64>,
}

enum Outcome {
    Accepted(Value),
    Rejected(u16),
    GaveUp(Duration),
}

/// The HTTP side of telemetry.
pub(crate) struct Uploader {
    client: reqwest::Client,
    base: String,
    /// The endpoint's host, for the declared-host check.
    host: String,
    sent_at: Mutex<VecDeque<Instant>>,
    running: tokio::sync::Mutex<()>,
}

impl Uploader {
    pub fn new(config: &TelemetryConfig) -> Result<Self> {
        let (client, base) = net::client(&config.endpoint, &config.network)?;
        let host = net::host_of(&base)?;
        Ok(Uploader {
            client,
            base,
            host,
            sent_at: Mutex::new(VecDeque::new()),
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// Takes a request slot from the per-minute budget, or says how long until one frees.
    fn take_slot(&self, per_minute: u32) -> std::result::Result<(), Duration> {
        let mut sent = self.sent_at.locked();
        let now = Instant::now();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
        {
            sent.pop_front();
        }
        if sent.len() >= per_minute as usize {
            return Err(RATE_WINDOW - now.duration_since(sent[0]));
        }
        sent.push_back(now);
        Ok(())
    }

    /// Sends one gzip JSON body with retries.
    async fn send(
        &self,
        path: &str,
        body: &Value,
        config: &TelemetryConfig,
        summary: &mut UploadSummary,
    ) -> Result<Outcome> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(body.to_string().as_bytes())
            .map_err(|_| Error::Internal("gzip"))?;
        let compressed = gz.finish().map_err(|_| Error::Internal("gzip"))?;
        let mut backoff = Backoff::new(
            config.network.retry_base_delay(),
            config.network.retry_max_delay(),
        );
        let mut wait = Duration::ZERO;
        for attempt in 0..config.network.attempts() {
            if attempt > 0 {
                summary.retries += 1;
                tokio::time::sleep(wait).await;
            }
            if let Err(until) = self.take_slot(config.max_uploads_per_minute as u32) {
                return Ok(Outcome::GaveUp(until));
            }
            let response = self
                .client
                .post(format!("{}{path}", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(compressed.clone())
                .send()
                .await;
            let retry_after = match response {
                Ok(r) if r.status().is_success() => {
                    // The answer is a small summary; a larger one is not read.
                    let bytes = net::read_limited(r, MAX_ANSWER_BYTES).await;
                    let value = bytes
                        .and_then(|b| serde_json::from_slice(&b).ok())
                        .unwrap_or(Value::Null);
                    return Ok(Outcome::Accepted(value));
                }
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    log::info!("telemetry upload: HTTP {}, will retry", r.status().as_u16());
                    net::retry_after(&r)
                }
                Ok(r) => return Ok(Outcome::Rejected(r.status().as_u16())),
                Err(e) => {
                    let (reason, retryable) = net::describe(&e);
                    if !retryable {
                        log::warn!("telemetry upload: {reason}; not retried");
                        return Ok(Outcome::GaveUp(config.network.retry_max_delay()));
                    }
                    log::info!("telemetry upload: network error ({reason}), will retry");
                    None
                }
            };
            wait = backoff.next_delay(retry_after);
        }
        Ok(Outcome::GaveUp(wait))
    }

    /// The whole upload.
    pub async fn upload(
        &self,
        store: Arc<StoreHandle>,
        config: &TelemetryConfig,
    ) -> Result<UploadSummary> {
        let _one_at_a_time = self.running.lock().await;
        let mut summary = UploadSummary::default();
        // Telemetry goes only to a host the policy in force declares for it (law No. 94-V,
        // Art. 12); nothing is sent and the queue stays as it is otherwise.
        store
            .consent_hub()
            .require_declared_host(&self.host, crate::consent::DataChannel::Telemetry)?;

        loop {
            // Deletion requests go first, and are looked for again before every batch: a
            // withdrawal during the upload must not wait for the next upload.
            if let Some(wait) = self
                .send_deletion_requests(&store, config, &mut summary)
                .await?
            {
                summary.retry_after_ms = Some(wait);
                return Ok(summary);
            }
            let (max_events, max_bytes) = (
                config.max_batch_events as u32,
                config.max_batch_bytes as u64,
            );
            let batch = blocking(&store, move |s| {
                s.read(|c, r| queue::oldest_events(c, &r.keys, max_events, max_bytes))
            })
            .await?;
            if batch.is_empty() {
                if let Some(wait) = self
                    .send_deletion_requests(&store, config, &mut summary)
                    .await?
                {
                    summary.retry_after_ms = Some(wait);
                    return Ok(summary);
                }
                summary.complete = true;
                return Ok(summary);
            }
            let seqs: Vec<i64> = batch.iter().map(|(seq, _, _)| *seq).collect();
            let events: Vec<Value> = batch
                .iter()
                .filter_map(|(_, _, j)| serde_json::from_str(j).ok())
                .collect();
            let body = json!({
                "schema_version": 1,
                "sent_at": queue::rfc3339_millis(crate::store::db::now_millis()),
                "events": events,
            });
            let n = events.len() as u64;
            match self.send(EVENTS_PATH, &body, config, &mut summary).await? {
                Outcome::Accepted(answer) => {
                    summary.batches_sent += 1;
                    summary.events_sent += count(n);
                    summary.duplicates += count(answer["duplicates"].as_u64().unwrap_or(0));
                    blocking(&store, move |s| {
                        s.write(|tx, _| {
                            queue::remove_events(tx, &seqs)?;
                            queue::add_counter(tx, "uploaded", n)
                        })
                    })
                    .await?;
                }
                Outcome::Rejected(status) => {
                    log::warn!(
                        "telemetry: a batch of {n} events was refused with HTTP {status}; dropped"
                    );
                    summary.events_rejected += count(n);
                    blocking(&store, move |s| {
                        s.write(|tx, _| {
                            queue::remove_events(tx, &seqs)?;
                            queue::add_counter(tx, "rejected", n)
                        })
                    })
                    .await?;
                }
                Outcome::GaveUp(wait) => {
                    summary.retry_after_ms = Some(millis_of(wait));
                    return Ok(summary);
                }
            }
        }
    }
}

impl Uploader {
    /// Sends every pending deletion request. `Some(wait)` when they could not be
    /// delivered (they are kept: deletion requests are never dropped).
    async fn send_deletion_requests(
        &self,
        store: &Arc<StoreHandle>,
        config: &TelemetryConfig,
        summary: &mut UploadSummary,
    ) -> Result<Option<i64>> {
        let requests = blocking(store, |s| s.read(|c, _| queue::deletion_requests(c))).await?;
        if requests.is_empty() {
            return Ok(None);
        }
        // Batches within the protocol's limits: at most 100 requests and 1,000
        // installation ids a POST (a request names at most 1,000 ids itself).
        let mut batches: Vec<Vec<(String, Value)>> = Vec::new();
        let mut ids_in_batch = 0usize;
        for (id, body) in requests {
            let Ok(value) = serde_json::from_str::<Value>(&body) else {
                continue; // written by this SDK; unreadable would be a bug, not data
            };
            let ids = value["installation_ids"].as_array().map_or(0, Vec::len);
            let full = batches.last().map_or(true, |b| {
                b.len() >= MAX_DELETION_REQUESTS_PER_BATCH
                    || ids_in_batch + ids > queue::MAX_IDS_PER_DELETION_REQUEST
            });
            if full {
                batches.push(Vec::new());
                ids_in_batch = 0;
            }
            ids_in_batch += ids;
            batches.last_mut().expect("pushed above").push((id, value));
        }
        for batch in batches {
            let (ids, bodies): (Vec<String>, Vec<Value>) = batch.into_iter().unzip();
            let body = json!({ "schema_version": 1, "requests": bodies });
            match self
                .send(DELETION_REQUESTS_PATH, &body, config, summary)
                .await?
            {
                Outcome::Accepted(_) => {
                    summary.deletion_requests_sent += count(ids.len() as u64);
                    blocking(store, move |s| {
                        s.write(|tx, _| queue::remove_deletion_requests(tx, &ids))
                    })
                    .await?;
                }
                Outcome::Rejected(status) => {
                    log::warn!("telemetry: deletion requests refused with HTTP {status}; kept");
                    return Ok(Some(config.network.retry_max_delay_ms));
                }
                Outcome::GaveUp(wait) => return Ok(Some(millis_of(wait))),
            }
        }
        Ok(None)
    }
}

/// Runs store work off the async executor's thread.
async fn blocking<T: Send + 'static>(
    store: &Arc<StoreHandle>,
    f: impl FnOnce(&StoreHandle) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(result) => result,
        Err(_) => Err(Error::Internal("a store task failed")),
    }
}

/// A wait in whole milliseconds, for the API.
fn millis_of(wait: Duration) -> i64 {
    i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)
}
