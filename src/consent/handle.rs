//! What the domains hold of a store: its vault (the connection and its transactions) and
//! the consent state every domain on the store shares.

use super::hub::ConsentHub;
use super::purpose::PurposeSet;
use crate::error::Result;
use crate::store::vault::Vault;
use rusqlite::Connection;
use serde::Serialize;
use std::sync::Arc;

/// Why consent ended for some purposes (the reason a telemetry deletion request gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeletionReason {
    ConsentWithdrawn,
    PolicyChanged,
    AccountDeleted,
}

/// What else changes, in the same transaction, when consent ends for the `revoked`
/// purposes (the telemetry of those purposes is purged and its deletion requested). Given
/// by the layer that opens the store, so that consent names no domain above it.
pub(crate) type ConsentReaction = fn(&Connection, PurposeSet, DeletionReason) -> Result<()>;

/// One open store as consent, telemetry and sync use it. Derefs to the [`Vault`] for
/// `read` and `write`.
pub(crate) struct StoreHandle {
    vault: Vault,
    hub: Arc<ConsentHub>,
    on_consent_change: ConsentReaction,
}

impl StoreHandle {
    /// The handle of an opened vault, the consent state loaded from it and what reacts
    /// to a consent change.
    pub(crate) fn new(vault: Vault, hub: ConsentHub, on_consent_change: ConsentReaction) -> Self {
        StoreHandle {
            vault,
            hub: Arc::new(hub),
            on_consent_change,
        }
    }

    /// Runs the reaction to a consent change that `revoked` purposes, in its transaction.
    pub(crate) fn consent_changed(
        &self,
        conn: &Connection,
        revoked: PurposeSet,
        reason: DeletionReason,
    ) -> Result<()> {
        (self.on_consent_change)(conn, revoked, reason)
    }

    /// The consent state shared by every `Consent`, `Telemetry` and `SyncClient` of this
    /// store.
    pub(crate) fn consent_hub(&self) -> &Arc<ConsentHub> {
        &self.hub
    }
}

impl std::ops::Deref for StoreHandle {
    type Target = Vault;

    fn deref(&self) -> &Vault {
        &self.vault
    }
}
