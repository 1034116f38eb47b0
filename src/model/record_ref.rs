//! A reference to one stored record, for reports that must not carry its values.

/// One record by entity and id: what a damaged-record report names (never its values).
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct RecordRef {
    /// `profile`, `vehicle` or `document`.
    pub entity: String,
    /// The record's id.
    pub record_id: String,
}
