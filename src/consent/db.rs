//! SQL of consent: policy manifests, the current consent and the sealed receipts.

use super::policy::PolicyManifest;
use super::purpose::PurposeSet;
use super::receipt::ConsentReceipt;
use super::ConsentState;
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::store::db::now_millis;
use crate::store::sealed::{take, RowSeal, SealedCell, SealedTable};
use rusqlite::{params, Connection, OptionalExtension};

/// Receipts are sealed: they name the purposes a user granted.
pub(crate) static RECEIPTS: SealedTable = SealedTable {
    table: "consent_receipts",
    entity: "consent receipt",
    fields: &["receipt"],
    blind_index: None,
};

/// The policy in force: the highest version received.
pub(crate) fn policy_in_force(conn: &Connection) -> Result<Option<PolicyManifest>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT manifest FROM policy_manifests ORDER BY version DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    json.map(|j| {
        PolicyManifest::from_json(&j)
            .map_err(|_| Error::Corrupted("a stored policy manifest is invalid"))
    })
    .transpose()
}

/// The manifest of one version, if received.
pub(crate) fn policy(conn: &Connection, version: i32) -> Result<Option<PolicyManifest>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT manifest FROM policy_manifests WHERE version = ?1")?
        .query_row([version], |r| r.get(0))
        .optional()?;
    json.map(|j| {
        PolicyManifest::from_json(&j)
            .map_err(|_| Error::Corrupted("a stored policy manifest is invalid"))
    })
    .transpose()
}

/// Stores a manifest (the caller checked that it is newer).
pub(crate) fn insert_policy(conn: &Connection, manifest: &PolicyManifest) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO policy_manifests (version, manifest, received_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![
        manifest.version,
        serde_json::to_string(manifest)?,
        now_millis()
    ])?;
    Ok(())
}

/// The accepted version and the purposes granted, if the user ever accepted.
pub(crate) fn current(conn: &Connection) -> Result<Option<(i32, PurposeSet)>> {
    Ok(conn
        .prepare_cached("SELECT policy_version, granted FROM consent_current WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, PurposeSet(r.get(1)?))))
        .optional()?)
}

/// Records the current consent.
pub(crate) fn set_current(
    conn: &Connection,
    version: i32,
    granted: PurposeSet,
    receipt_id: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO consent_current (id, policy_version, granted, receipt_id, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4)",
    )?
    .execute(params![version, granted.0, receipt_id, now_millis()])?;
    Ok(())
}

/// Forgets the current consent (account deletion).
pub(crate) fn clear_current(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM consent_current", [])?;
    Ok(())
}

/// Computes the consent state from the stored policy and consent.
pub(crate) fn load_state(conn: &Connection) -> Result<ConsentState> {
    let policy = policy_in_force(conn)?;
    let current = current(conn)?;
    let (accepted_version, granted) = match current {
        Some((v, g)) => (Some(v), g),
        None => (None, PurposeSet::EMPTY),
    };
    let allowed = match &policy {
        Some(p) if accepted_version == Some(p.version) => granted.and(PurposeSet::of(&p.purposes)),
        _ => PurposeSet::EMPTY,
    };
    Ok(ConsentState {
        policy_in_force: policy,
        accepted_version,
        granted: granted.to_vec(),
        allowed: allowed.to_vec(),
    })
}

/// Stores a receipt, sealed.
pub(crate) fn insert_receipt(
    conn: &Connection,
    keys: &StoreKeys,
    receipt: &ConsentReceipt,
) -> Result<()> {
    let json = serde_json::to_string(receipt)?;
    let sealed = RowSeal::new(keys, &RECEIPTS, &receipt.id).seal(&[Some(&json)])?;
    conn.prepare_cached(
        "INSERT INTO consent_receipts (id, created_at, sealed) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![receipt.id, now_millis(), sealed])?;
    Ok(())
}

/// Every receipt, oldest first.
pub(crate) fn receipts(conn: &Connection, keys: &StoreKeys) -> Result<Vec<ConsentReceipt>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, sealed FROM consent_receipts ORDER BY created_at, rowid")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, SealedCell>(1)?))
    })?;
    rows.map(|row| {
        let (id, sealed) = row?;
        let seal = RowSeal::new(keys, &RECEIPTS, &id);
        let json = take(&mut seal.open(sealed)?, 0).ok_or_else(|| seal.integrity_error())?;
        serde_json::from_str(&json).map_err(|_| seal.integrity_error())
    })
    .collect()
}
