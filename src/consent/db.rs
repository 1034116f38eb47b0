//! SQL of consent: policy manifests, the current consent and the sealed receipts.

use super::policy::PolicyManifest;
use super::purpose::PurposeSet;
use super::receipt::{ConsentReceipt, ReceiptChain};
use super::ConsentState;
use crate::crypto::StoreKeys;
use crate::error::{Error, Result};
use crate::store::db::now_millis;
use crate::store::sealed::{take, RowSeal, SealedCell, SealedTable};
use rusqlite::{params, Connection, OptionalExtension};

/// Receipts are sealed: they name the purposes a user granted.
pub(crate) static RECEIPTS: SealedTable = SealedTable {
    table: "consent_receipts",
    entity: crate::error::Entity::ConsentReceipt,
    fields: &["receipt"],
    blind_index: None,
};

/// The head of the receipt chain, sealed: it authenticates the consent in force.
pub(crate) static CHAIN: SealedTable = SealedTable {
    table: "consent_chain",
    entity: crate::error::Entity::ConsentReceiptChain,
    fields: &["head"],
    blind_index: None,
};

/// The record id of the one chain-head row.
const CHAIN_ROW: &str = "head";

/// The sealed head of the receipt chain and the consent the receipts leave in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ChainHead {
    head_id: String,
    head_sha256: String,
    length: i64,
    policy_version: i32,
    granted: u32,
}

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

/// The accepted version and the purposes granted, from the sealed chain head: `None` when
/// the user never decided (or the data were erased). A head that does not open is an
/// `Integrity` error.
pub(crate) fn current(conn: &Connection, keys: &StoreKeys) -> Result<Option<(i32, PurposeSet)>> {
    Ok(chain_head(conn, keys)?.map(|h| (h.policy_version, PurposeSet(h.granted))))
}

/// The sealed chain head, if any.
fn chain_head(conn: &Connection, keys: &StoreKeys) -> Result<Option<ChainHead>> {
    let sealed: Option<SealedCell> = conn
        .prepare_cached("SELECT sealed FROM consent_chain WHERE id = ?1")?
        .query_row([CHAIN_ROW], |r| r.get(0))
        .optional()?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let seal = RowSeal::new(keys, &CHAIN, CHAIN_ROW);
    let json = take(&mut seal.open(sealed)?, 0).ok_or_else(|| seal.integrity_error())?;
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|_| seal.integrity_error())
}

/// Writes the chain head.
fn set_chain_head(conn: &Connection, keys: &StoreKeys, head: &ChainHead) -> Result<()> {
    let json = serde_json::to_string(head)?;
    let sealed = RowSeal::new(keys, &CHAIN, CHAIN_ROW).seal(&[Some(&json)])?;
    conn.prepare_cached("INSERT OR REPLACE INTO consent_chain (id, sealed) VALUES (?1, ?2)")?
        .execute(params![CHAIN_ROW, sealed])?;
    Ok(())
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
    conn.execute("DELETE FROM consent_chain", [])?;
    Ok(())
}

/// Computes the consent state from the stored policy and the sealed chain head, and
/// checks the receipt chain. A chain head that does not open counts as no consent (nothing
/// is collected until the user decides again); a broken chain is reported in
/// `receipts_verified` and logged, the consent the head authenticates stays in force.
pub(crate) fn load_state(conn: &Connection, keys: &StoreKeys) -> Result<ConsentState> {
    let policy = policy_in_force(conn)?;
    let (current, head_ok) = match current(conn, keys) {
        Ok(current) => (current, true),
        Err(Error::Integrity { .. }) => (None, false),
        Err(e) => return Err(e),
    };
    let receipts_verified = head_ok
        && match verify_chain(conn, keys) {
            Ok(_) => true,
            Err(Error::Integrity { .. }) => false,
            Err(e) => return Err(e),
        };
    if !receipts_verified {
        log::warn!(
            "consent: the receipt chain failed verification (a receipt was removed or damaged)"
        );
    }
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
        receipts_verified,
    })
}

/// Stores a new receipt, sealed, as the chain's new head: it names the current head's
/// hash, and the head then records it with the consent it leaves (`version`, `granted`).
/// Fills in `receipt.previous_receipt_sha256` and `receipt.receipt_sha256`.
pub(crate) fn append_receipt(
    conn: &Connection,
    keys: &StoreKeys,
    receipt: &mut ConsentReceipt,
    version: i32,
    granted: PurposeSet,
) -> Result<()> {
    // A head that does not open starts the chain again; verification still fails on the
    // receipts before it, so the damage stays visible.
    let head = chain_head(conn, keys).unwrap_or(None);
    receipt.previous_receipt_sha256 = head.as_ref().map(|h| h.head_sha256.clone());
    // Stored as canonical JSON (serde_json's maps are sorted): the hash is over these bytes.
    let json = serde_json::to_value(&*receipt)?.to_string();
    receipt.receipt_sha256 = crate::crypto::sha256_hex(json.as_bytes());
    let sealed = RowSeal::new(keys, &RECEIPTS, &receipt.id).seal(&[Some(&json)])?;
    conn.prepare_cached(
        "INSERT INTO consent_receipts (id, created_at, sealed) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![receipt.id, now_millis(), sealed])?;
    set_chain_head(
        conn,
        keys,
        &ChainHead {
            head_id: receipt.id.clone(),
            head_sha256: receipt.receipt_sha256.clone(),
            length: head.map_or(0, |h| h.length) + 1,
            policy_version: version,
            granted: granted.0,
        },
    )
}

/// One stored receipt: its id, the JSON as stored, and that JSON's hash.
struct StoredReceipt {
    id: String,
    json: String,
    sha256: String,
}

/// Every receipt as stored, oldest first; a receipt that does not open is an `Integrity`
/// error naming it.
fn stored_receipts(conn: &Connection, keys: &StoreKeys) -> Result<Vec<StoredReceipt>> {
    RECEIPTS.open_rows(
        conn,
        keys,
        "SELECT id, sealed FROM consent_receipts ORDER BY created_at, rowid",
        [],
        |seal, json| {
            let sha256 = crate::crypto::sha256_hex(json.as_bytes());
            Ok(StoredReceipt {
                id: seal.id().to_string(),
                json,
                sha256,
            })
        },
    )
}

/// Every receipt, oldest first, with its hash.
pub(crate) fn receipts(conn: &Connection, keys: &StoreKeys) -> Result<Vec<ConsentReceipt>> {
    stored_receipts(conn, keys)?
        .into_iter()
        .map(|stored| {
            let mut receipt: ConsentReceipt =
                serde_json::from_str(&stored.json).map_err(|_| Error::Integrity {
                    entity: RECEIPTS.entity,
                    record_id: stored.id.clone(),
                })?;
            receipt.receipt_sha256 = stored.sha256;
            Ok(receipt)
        })
        .collect()
}

/// Checks the receipt chain: from the sealed head back through each receipt's
/// `previous_receipt_sha256` to the first, every receipt reached exactly once and none
/// left over. Receipts written before the chain existed (no `previous_receipt_sha256`
/// field) may come first; the oldest chained receipt then names the newest of them. An
/// `Integrity` error names the receipt where the chain breaks (or the head's receipt,
/// when it is the one missing).
pub(crate) fn verify_chain(conn: &Connection, keys: &StoreKeys) -> Result<ReceiptChain> {
    let stored = stored_receipts(conn, keys)?;
    let head = chain_head(conn, keys)?;
    let broken = |record_id: &str| Error::Integrity {
        entity: RECEIPTS.entity,
        record_id: record_id.to_string(),
    };
    let Some(head) = head else {
        return match stored.first() {
            None => Ok(ReceiptChain {
                length: 0,
                head_sha256: None,
            }),
            Some(first) => Err(broken(&first.id)),
        };
    };
    // hash -> (index, previous link; None: a receipt from before the chain).
    let mut links = std::collections::HashMap::new();
    for (index, receipt) in stored.iter().enumerate() {
        let value: serde_json::Value =
            serde_json::from_str(&receipt.json).map_err(|_| broken(&receipt.id))?;
        let previous = match value.get("previous_receipt_sha256") {
            None => None,
            Some(serde_json::Value::Null) => Some(None),
            Some(serde_json::Value::String(h)) => Some(Some(h.clone())),
            Some(_) => return Err(broken(&receipt.id)),
        };
        links.insert(receipt.sha256.clone(), (index, previous));
    }
    let mut visited = vec![false; stored.len()];
    let mut next = Some(head.head_sha256.clone());
    let mut from = head.head_id.clone();
    let mut chained = 0usize;
    while let Some(hash) = next {
        let Some((index, previous)) = links.get(&hash) else {
            return Err(broken(&from));
        };
        if visited[*index] {
            return Err(broken(&stored[*index].id));
        }
        visited[*index] = true;
        from = stored[*index].id.clone();
        match previous {
            Some(previous) => {
                chained += 1;
                next = previous.clone();
            }
            // The newest receipt from before the chain: the rest of them are not linked.
            None => next = None,
        }
    }
    let legacy: Vec<usize> = links
        .values()
        .filter(|(_, previous)| previous.is_none())
        .map(|(index, _)| *index)
        .collect();
    for index in &legacy {
        visited[*index] = true;
    }
    if let Some(left_over) = visited.iter().position(|v| !v) {
        return Err(broken(&stored[left_over].id));
    }
    // The head counts every receipt: one removed from before the chain shows here.
    if (chained + legacy.len()) as i64 != head.length {
        return Err(broken(&head.head_id));
    }
    Ok(ReceiptChain {
        length: stored.len() as i64,
        head_sha256: Some(head.head_sha256),
    })
}

/// For a store from before the chain (schema v6 or older): seals a chain head over the
/// receipts there are, with the consent `consent_current` holds, so that from now on that
/// consent is authenticated and every new receipt is chained.
pub(crate) fn anchor_existing_receipts(conn: &Connection, keys: &StoreKeys) -> Result<()> {
    let current: Option<(i32, u32)> = conn
        .query_row(
            "SELECT policy_version, granted FROM consent_current WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let stored = stored_receipts(conn, keys)?;
    let (Some((policy_version, granted)), Some(last)) = (current, stored.last()) else {
        return Ok(());
    };
    set_chain_head(
        conn,
        keys,
        &ChainHead {
            head_id: last.id.clone(),
            head_sha256: last.sha256.clone(),
            length: stored.len() as i64,
            policy_version,
            granted,
        },
    )
}
