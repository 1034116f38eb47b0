//! Counters of a running server, since it started.

use std::collections::BTreeMap;

/// Sizes of one accepted event batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInfo {
    /// Body size as received on the wire (equal to `decompressed_bytes` if not gzip).
    pub compressed_bytes: u64,
    /// Body size after decompression.
    pub decompressed_bytes: u64,
    /// Whether the body was sent with `Content-Encoding: gzip`.
    pub gzip: bool,
    /// Number of events in the batch.
    pub events: u64,
}

/// Counters of injected faults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// `Fault::Status` faults applied.
    pub status: u64,
    /// `Fault::DropAfterApply` faults applied.
    pub drop_after_apply: u64,
    /// `Fault::Delay` faults applied.
    pub delay: u64,
    /// `Fault::Oversized` answers sent.
    pub oversized: u64,
    /// `Fault::Answer` answers sent.
    pub answer: u64,
    /// Faults taken from the scripted queue.
    pub scripted: u64,
    /// Faults drawn by the random mode.
    pub random: u64,
    /// Scripted faults still queued.
    pub pending_scripted: usize,
}

/// Snapshot of the server's counters, see [`ReferenceServer::stats`](crate::ReferenceServer::stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Events newly stored.
    pub events_stored: u64,
    /// Events received again under an id already stored (not stored again).
    pub duplicate_events: u64,
    /// Events refused because a deletion request received earlier covers them
    /// (same installation and purpose, recorded no later than the request).
    pub suppressed_events: u64,
    /// Event batches accepted (answered 200, or processed before a dropped connection).
    pub batches_received: u64,
    /// Most events in one accepted batch.
    pub max_events_in_batch: u64,
    /// The last accepted batch.
    pub last_batch: Option<BatchInfo>,
    /// Deletion requests newly applied.
    pub deletion_requests: u64,
    /// Deletion requests received again under an id already applied.
    pub duplicate_deletion_requests: u64,
    /// Events deleted by deletion requests.
    pub events_deleted: u64,
    /// `POST /v1/sync/push` requests processed (answered 200, or processed before a
    /// dropped connection).
    pub push_requests: u64,
    /// `GET /v1/sync/pull` requests answered with a page.
    pub pull_requests: u64,
    /// Records sent in pull pages, all pages together.
    pub records_pulled: u64,
    /// Pushed changes actually applied (status `applied`). A change id is applied at most
    /// once, so this never grows on a re-sent change.
    pub changes_applied: u64,
    /// Pushed changes answered `duplicate` (change id applied before; not applied again).
    pub changes_duplicate: u64,
    /// Pushed changes answered `conflict` (stale `base_version`).
    pub changes_conflict: u64,
    /// Pushed changes answered `exists` (plate, document kind and number, or profile
    /// already held by another record of the account).
    pub changes_exists: u64,
    /// Pushed changes answered `gone` (record deleted on the server, or unknown to it).
    pub changes_gone: u64,
    /// Pushed changes answered `rejected` (invalid, or a change of a create-only record).
    pub changes_rejected: u64,
    /// `DELETE /v1/account` requests processed.
    pub account_erasures: u64,
    /// Responses sent, by status code (a connection dropped by a fault sends none).
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Injected faults.
    pub faults: FaultStats,
}

impl ServerStats {
    /// Responses sent with status `code`.
    pub fn status_count(&self, code: u16) -> u64 {
        self.requests_by_status.get(&code).copied().unwrap_or(0)
    }
}
