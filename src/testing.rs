//! Test hooks for this crate's own tests, benchmarks and examples: compiled only with the
//! `testing` feature (which the crate's dev-dependency on itself turns on) or in its unit
//! tests. Not part of the SDK: an app build has none of this, and nothing here is exported
//! to Kotlin or Swift.

use crate::consent::{PolicyManifest, Purpose};
use crate::error::AparkingError;
use crate::store::Store;

/// Caps the database at `pages` pages (`PRAGMA max_page_count`, this connection only), to
/// simulate a full disk. Returns the number of pages in use.
pub fn limit_pages(store: &Store, pages: u32) -> Result<u32, AparkingError> {
    Ok(store.handle().read(|c, _| {
        c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        Ok(c.query_row("PRAGMA page_count", [], |r| r.get(0))?)
    })?)
}

/// The pending sync changes (outbox entries), oldest first, as (entity, record id, op,
/// fields).
pub fn pending_sync_changes(
    store: &Store,
) -> Result<Vec<(String, String, String, serde_json::Value)>, AparkingError> {
    Ok(store.handle().read(|c, r| {
        let pending = crate::sync::outbox::pending(c, &r.keys, u32::MAX, |_, _| false)?;
        Ok(pending
            .into_iter()
            .map(|p| {
                (
                    p.entity.as_str().to_string(),
                    p.record_id,
                    p.op.as_str().to_string(),
                    serde_json::Value::Object(crate::model::fields::to_json(&p.fields)),
                )
            })
            .collect())
    })?)
}

/// A policy manifest of `version` that offers every purpose, with a text hash made of the
/// version (each version has its own text).
pub fn policy(version: i32) -> PolicyManifest {
    PolicyManifest {
        version,
        last_updated: "2026-01-15".into(),
        url: "https://aparking.kz/privacy".into(),
        text_sha256: format!("{:064x}", version),
        purposes: Purpose::ALL.to_vec(),
        operator: None,
        data_categories: Vec::new(),
        consent_duration_days: None,
        third_party_transfer: false,
        cross_border_transfer: false,
        publicly_available: false,
        personal_data_hosts: Vec::new(),
        telemetry_hosts: Vec::new(),
    }
}
