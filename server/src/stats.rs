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
