//! HTTP routes, the front middleware (faults, counters, request log) and handlers.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::config::Limits;
use crate::error::{json_response, ApiError};
use crate::faults::{ConnHandle, Fault, FaultState};
use crate::stats::{BatchInfo, ServerStats};
use crate::store::{LogEntry, Store};
use crate::sync::{Erasure, Outcome, PullError, ServerRecord};
use crate::validate;

/// Routes; anything else is logged as `*`.
const ROUTES: [&str; 7] = [
    "/healthz",
    "/v1/telemetry/events",
    "/v1/telemetry/deletion-requests",
    "/v1/policy",
    "/v1/sync/push",
    "/v1/sync/pull",
    "/v1/account",
];

/// State shared by the handlers and the [`ReferenceServer`](crate::ReferenceServer).
pub(crate) struct Shared {
    pub(crate) store: Store,
    /// Key of the tags that bind pull cursors to an account (`crate::sync`).
    pub(crate) cursor_key: ring::hmac::Key,
    pub(crate) stats: Mutex<ServerStats>,
    pub(crate) policy: RwLock<Option<Value>>,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) limits: Limits,
    pub(crate) signer: crate::policy::PolicySigner,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(
        store: Store,
        cursor_key: ring::hmac::Key,
        policy: Option<Value>,
        limits: Limits,
        signer: crate::policy::PolicySigner,
    ) -> Shared {
        Shared {
            store,
            cursor_key,
            stats: Mutex::default(),
            policy: RwLock::new(policy),
            faults: Mutex::default(),
            limits,
            signer,
        }
    }

    pub(crate) fn stats(&self) -> ServerStats {
        let mut s = lock(&self.stats).clone();
        s.faults = lock(&self.faults).stats.clone();
        s
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }
}

/// 410 `account_erased`: the account was erased since this client last synced; it
/// must delete its copy of the account's data and never push it back.
fn account_erased(erasure: &Erasure) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::GONE,
        "account_erased",
        "the account was erased on another device; delete the local copy of its data",
    );
    e.extra
        .insert("account_erasures".into(), erasure.count.into());
    let at = erasure.last_at_ms.and_then(|ms| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
    });
    if let Some(at) = at.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    }) {
        e.extra.insert("erased_at".into(), at.into());
    }
    e
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/telemetry/events", post(post_events))
        .route("/v1/telemetry/deletion-requests", post(post_deletions))
        .route("/v1/policy", get(get_policy))
        .route("/v1/sync/push", post(post_sync_push))
        .route("/v1/sync/pull", get(get_sync_pull))
        .route("/v1/account", delete(delete_account))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept this method",
            )
        })
        .layer(middleware::from_fn_with_state(shared.clone(), front))
        .with_state(shared)
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn fault_response(code: u16, retry_after_secs: Option<u64>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = match status.as_u16() {
        429 => "rate_limited",
        500 => "internal",
        502 => "bad_gateway",
        503 => "unavailable",
        504 => "gateway_timeout",
        _ => "injected_fault",
    };
    let mut resp = ApiError::new(status, code, "fault injected by the test plan").into_response();
    if let Some(secs) = retry_after_secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A 200 answer of `bytes` bytes of JSON white space, with or without Content-Length.
fn oversized_response(bytes: usize, declared_length: bool) -> Response {
    let chunk = vec![b' '; 64 * 1024];
    if declared_length {
        return (StatusCode::OK, vec![b' '; bytes]).into_response();
    }
    let chunks = (0..bytes.div_ceil(chunk.len()))
        .map(move |_| Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk.clone())));
    Response::new(axum::body::Body::from_stream(futures_util::stream::iter(
        chunks,
    )))
}

/// Applies the next fault for the request, counts the response and logs the request.
async fn front(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = req.uri().path();
    let route = ROUTES.iter().copied().find(|r| *r == path).unwrap_or("*");
    let method = req.method().clone();
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|c| c.0.clone());
    let fault = shared.faults().next_for(path);

    let mut dropped = false;
    let response = match &fault {
        Some(Fault::Status {
            code,
            retry_after_secs,
        }) => fault_response(*code, *retry_after_secs),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(*d).await;
            next.run(req).await
        }
        Some(Fault::Oversized {
            bytes,
            declared_length,
        }) => oversized_response(*bytes, *declared_length),
        Some(Fault::Answer { code, body }) => (
            StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response(),
        Some(Fault::DropAfterApply) => {
            // The handler has committed when it returns; the write of its response then
            // fails and hyper closes the socket without sending a byte.
            let response = next.run(req).await;
            if let Some(conn) = conn {
                conn.poison();
                dropped = true;
            } else {
                log::error!("DropAfterApply without a connection handle; answering instead");
            }
            response
        }
        None => next.run(req).await,
    };

    let status = (!dropped).then(|| response.status().as_u16());
    if let Some(code) = status {
        *lock(&shared.stats)
            .requests_by_status
            .entry(code)
            .or_default() += 1;
    }
    let duration_ms = started.elapsed().as_millis() as i64;
    let fault_name = fault.as_ref().map(Fault::name);
    log::info!(
        "{method} {route} {} {duration_ms}ms{}",
        status.map_or("dropped".to_owned(), |s| s.to_string()),
        fault_name.map_or(String::new(), |f| format!(" fault={f}")),
    );
    let entry_method = method.as_str().to_owned();
    let log_shared = shared.clone();
    let logged = tokio::task::spawn_blocking(move || {
        log_shared.store.log_request(&LogEntry {
            at_ms: now_ms(),
            method: &entry_method,
            route,
            status,
            duration_ms,
            fault: fault_name,
        })
    })
    .await;
    if !matches!(logged, Ok(Ok(()))) {
        log::warn!("could not write the request log");
    }
    response
}

/// Reads the whole body, at most `limit` bytes. Past the limit the rest is read and
/// discarded (up to 8 times the limit) so that the client gets to read the 413 instead of
/// a connection reset.
async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
    limits: &Limits,
) -> Result<Vec<u8>, ApiError> {
    let drain_cap = limit.saturating_mul(8);
    let too_large = || {
        ApiError::too_large(
            "body_too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > drain_cap as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
        let mut total = 0usize;
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let frame = frame.map_err(|_| {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            })?;
            if let Ok(data) = frame.into_data() {
                total = total.saturating_add(data.len());
                if total <= limit {
                    buf.extend_from_slice(&data);
                } else if total > drain_cap {
                    break;
                }
            }
        }
        if total > limit {
            return Err(too_large());
        }
        Ok(buf)
    };
    tokio::time::timeout(limits.body_read_timeout, read)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body was not received in time",
            )
        })?
}

/// Whether the body is gzip, from `Content-Encoding` (absent or `identity`: plain).
fn is_gzip(headers: &HeaderMap) -> Result<bool, ApiError> {
    let unsupported = || {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
            "Content-Encoding must be gzip or identity",
        )
    };
    let mut values = headers.get_all(header::CONTENT_ENCODING).iter();
    let Some(value) = values.next() else {
        return Ok(false);
    };
    if values.next().is_some() {
        return Err(unsupported());
    }
    let value = value.to_str().map_err(|_| unsupported())?.trim();
    if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
        Ok(true)
    } else if value.is_empty() || value.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(unsupported())
    }
}

/// Reads, decodes and size-checks a body; returns (wire bytes, decoded body, gzip).
async fn decoded_body(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
) -> Result<(usize, Vec<u8>, bool), ApiError> {
    decoded_body_within(shared, headers, body, shared.limits.max_decompressed_bytes).await
}

/// [`decoded_body`] with the decoded size also capped at `decoded_limit`: a plain body
/// may have at most `min(max_body_bytes, decoded_limit)` bytes, a gzip body at most
/// `max_body_bytes` on the wire and `min(max_decompressed_bytes, decoded_limit)` decoded.
async fn decoded_body_within(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
    decoded_limit: usize,
) -> Result<(usize, Vec<u8>, bool), ApiError> {
    let limits = &shared.limits;
    let gzip = is_gzip(headers)?;
    let wire_limit = if gzip {
        limits.max_body_bytes
    } else {
        limits.max_body_bytes.min(decoded_limit)
    };
    let raw = read_body(headers, body, wire_limit, limits).await?;
    let wire = raw.len();
    if !gzip {
        return Ok((wire, raw, false));
    }
    let max = limits.max_decompressed_bytes.min(decoded_limit);
    let decoded = tokio::task::spawn_blocking(move || validate::gunzip(&raw, max))
        .await
        .map_err(|_| ApiError::internal())??;
    Ok((wire, decoded, true))
}

async fn post_events(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (wire, decoded, gzip) = decoded_body(&shared, &headers, body).await?;
    let work = shared.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let events = validate::events_body(&decoded, &work.limits)?;
        let outcome = work.store.insert_events(&events, now_ms()).map_err(|e| {
            log::error!("storing events failed: {e}");
            ApiError::internal()
        })?;
        // Counted in the blocking task, which runs to the end even if the client goes.
        let count = events.len() as u64;
        {
            let mut s = lock(&work.stats);
            s.events_stored += outcome.stored;
            s.duplicate_events += outcome.duplicates;
            s.suppressed_events += outcome.suppressed;
            s.batches_received += 1;
            s.max_events_in_batch = s.max_events_in_batch.max(count);
            s.last_batch = Some(BatchInfo {
                compressed_bytes: wire as u64,
                decompressed_bytes: decoded.len() as u64,
                gzip,
                events: count,
            });
        }
        Ok::<_, ApiError>(outcome)
    })
    .await
    .map_err(|_| ApiError::internal())??;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "accepted": outcome.stored,
            "duplicates": outcome.duplicates,
            "suppressed": outcome.suppressed,
        }),
    ))
}

async fn post_deletions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (_, decoded, _) = decoded_body(&shared, &headers, body).await?;
    let work = shared.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let requests = validate::deletion_body(&decoded, &work.limits)?;
        work.store
            .apply_deletions(&requests, now_ms())
            .map_err(|e| {
                log::error!("applying deletion requests failed: {e}");
                ApiError::internal()
            })
    })
    .await
    .map_err(|_| ApiError::internal())??;

    {
        let mut s = lock(&shared.stats);
        s.deletion_requests += outcome.accepted;
        s.duplicate_deletion_requests += outcome.duplicates;
        s.events_deleted += outcome.events_deleted;
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "events_deleted": outcome.events_deleted,
        }),
    ))
}

async fn get_policy(State(shared): State<Arc<Shared>>) -> Response {
    let policy = shared
        .policy
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match policy {
        Some(p) => {
            let body = p.to_string();
            let signature = shared.signer.sign(body.as_bytes());
            let mut resp = (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response();
            // Clients revalidate every time: a new version must reach them at once.
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            if let Some(value) = signature.and_then(|s| HeaderValue::from_str(&s).ok()) {
                resp.headers_mut()
                    .insert(crate::policy::SIGNATURE_HEADER, value);
            }
            resp
        }
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_policy",
            "no policy manifest is published",
        )
        .into_response(),
    }
}

/// The account of the request's bearer token, or 401.
async fn authenticate(shared: &Arc<Shared>, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthorized)?;
    let work = shared.clone();
    tokio::task::spawn_blocking(move || work.store.account_for_token(&token))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            log::error!("looking up a token failed: {e}");
            ApiError::internal()
        })?
        .ok_or_else(ApiError::unauthorized)
}

async fn post_sync_push(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let account = authenticate(&shared, &headers).await?;
    let max = shared.limits.max_push_bytes;
    let (_, decoded, _) = decoded_body_within(&shared, &headers, body, max).await?;
    let work = shared.clone();
    let results = tokio::task::spawn_blocking(move || {
        let push = validate::push_body(&decoded, &work.limits)?;
        let erasure = work.store.erasure(&account).map_err(|e| {
            log::error!("reading an account's erasures failed: {e}");
            ApiError::internal()
        })?;
        if erasure.missed_by(push.account_erasures, None) {
            return Err(account_erased(&erasure));
        }
        let changes = push.changes;
        let outcomes = work.store.push(&account, &changes, now_ms()).map_err(|e| {
            log::error!("applying pushed changes failed: {e}");
            ApiError::internal()
        })?;
        // Counted here, in the blocking task, which runs to the end even when the client
        // disconnects and the handler is dropped: the counts match what was committed.
        {
            let mut s = lock(&work.stats);
            s.push_requests += 1;
            for o in &outcomes {
                let counter = match o {
                    Outcome::Applied { .. } | Outcome::Corrected { .. } => &mut s.changes_applied,
                    Outcome::Duplicate { .. } => &mut s.changes_duplicate,
                    Outcome::Conflict { .. } => &mut s.changes_conflict,
                    Outcome::Exists { .. } => &mut s.changes_exists,
                    Outcome::Gone { .. } => &mut s.changes_gone,
                    Outcome::Rejected(_) => &mut s.changes_rejected,
                };
                *counter += 1;
            }
        }
        Ok::<_, ApiError>(
            changes
                .iter()
                .zip(outcomes)
                .map(|(c, o)| (c.change_id.clone(), o))
                .collect::<Vec<_>>(),
        )
    })
    .await
    .map_err(|_| ApiError::internal())??;
    let results: Vec<Value> = results.iter().map(|(id, o)| o.to_json(id)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "results": results }),
    ))
}

fn record_json(r: &ServerRecord) -> Value {
    json!({
        "entity": r.entity,
        "record_id": r.record_id,
        "version": r.version,
        "deleted": r.deleted,
        "fields": r.fields,
        "field_versions": r.field_versions,
    })
}

async fn get_sync_pull(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let account = authenticate(&shared, &headers).await?;
    let query = validate::pull_query(uri.query(), &shared.limits)?;
    let work = shared.clone();
    let page = tokio::task::spawn_blocking(move || {
        work.store.pull(
            &account,
            query.cursor.as_deref(),
            query.limit,
            query.sync_id.as_deref(),
            query.account_erasures,
            &work.cursor_key,
        )
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| match e {
        PullError::Erased(erasure) => account_erased(&erasure),
        PullError::Invalid => ApiError::bad_request(
            "invalid_cursor",
            "cursor: not a cursor issued to this account; omit it to pull from the start",
        ),
        PullError::Expired => ApiError::new(
            StatusCode::GONE,
            "cursor_expired",
            "cursor: the change log from this cursor is gone; pull again from the start",
        ),
        PullError::Storage(e) => {
            log::error!("reading a pull page failed: {e}");
            ApiError::internal()
        }
    })?;
    {
        let mut stats = lock(&shared.stats);
        stats.pull_requests += 1;
        stats.records_pulled += page.changes.len() as u64;
    }
    let changes: Vec<Value> = page.changes.iter().map(record_json).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"changes": changes, "cursor": page.cursor, "has_more": page.has_more,
                "generation": page.generation, "account_erasures": page.account_erasures}),
    ))
}

async fn delete_account(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let account = authenticate(&shared, &headers).await?;
    let work = shared.clone();
    tokio::task::spawn_blocking(move || work.store.erase_account(&account, now_ms()))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            log::error!("erasing an account failed: {e}");
            ApiError::internal()
        })?;
    lock(&shared.stats).account_erasures += 1;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
    )
        .into_response())
}
