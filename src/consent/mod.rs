//! Consent gated on the accepted policy version (policy clauses P0, P2.2.1-P2.2.5, P4.4,
//! P7.1).
//!
//! - A [`PolicyManifest`] says which policy version is published and which purposes it
//!   offers. The highest version received is in force; a newer one takes effect at once.
//! - The user accepts the version in force with some purposes, or withdraws some or all.
//!   Every decision is an immutable, sealed [`ConsentReceipt`], queued for the backend as
//!   proof of consent.
//! - A purpose is allowed only while the accepted version is the version in force, the
//!   version offers the purpose and the user granted it. Nothing is collected before that
//!   (P0): the telemetry pipeline reads an atomic mask of the allowed purposes.
//! - When a purpose stops being allowed (withdrawal, new policy, erasure), the telemetry of
//!   that purpose still pending is purged in the same transaction, a deletion request
//!   naming the pseudonymous installation ids is queued, and the installation id is
//!   replaced.

mod db;
pub(crate) mod handle;
pub(crate) mod hub;
mod policy;
mod purpose;
mod receipt;

pub(crate) use db::{
    anchor_existing_receipts, load_state, receipts as receipts_in, verify_chain, CHAIN, RECEIPTS,
};
pub(crate) use policy::{host_is_declared, DataChannel};
pub use policy::{
    parse_policy_manifest, PolicyManifest, PolicyOperator, PolicyUpdate, PurposeDataCategories,
};
pub use purpose::Purpose;
pub(crate) use purpose::PurposeSet;
pub use receipt::{CollectionMethod, ConsentAction, ConsentContext, ConsentReceipt, ReceiptChain};

use crate::error::{ApiResult, Error, Result};
use crate::store::keyring::KeyRing;
use crate::subscription::Subscription;
use handle::{DeletionReason, StoreHandle};
use rusqlite::Transaction;
use std::sync::Arc;
use std::time::SystemTime;

/// The user's consent as it stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConsentState {
    /// The policy version in force, if any was published.
    pub policy_in_force: Option<PolicyManifest>,
    /// The version the user last accepted, if any.
    pub accepted_version: Option<i32>,
    /// The purposes the user granted with that version.
    pub granted: Vec<Purpose>,
    /// The purposes that may be collected now (empty unless the accepted version is the
    /// one in force).
    pub allowed: Vec<Purpose>,
    /// Whether the consent receipts verified as an unbroken hash chain when this state was
    /// computed. `false`: a receipt was removed or damaged (`verifyReceipts` names it);
    /// the consent in force is still the one the sealed chain head records, or none when
    /// the head itself is damaged.
    pub receipts_verified: bool,
}

/// Whether a purpose may be collected now, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentStatus {
    /// Allowed.
    Allowed,
    /// No policy manifest was published yet.
    NoPolicy,
    /// The user never accepted a policy.
    PolicyNotAccepted {
        /// The version in force, to show and accept.
        current_version: i32,
    },
    /// A newer policy is in force than the one the user accepted (P7.1): collection is
    /// stopped until the user accepts it.
    NewPolicyNotAccepted {
        /// The version the user accepted.
        accepted_version: i32,
        /// The version in force.
        current_version: i32,
    },
    /// The policy in force does not offer this purpose.
    NotOffered,
    /// The user did not grant this purpose, or withdrew it.
    NotGranted,
}

/// Told of every change of the consent state. Implemented by the app; called on the
/// thread that made the change, after it was saved; may call back into the SDK.
#[uniffi::export(with_foreign)]
pub trait ConsentObserver: Send + Sync {
    /// The consent state changed.
    fn on_consent_changed(&self, state: ConsentState);
}

/// Consent management over a [`Store`]: policy versions, accept, withdraw, status,
/// receipts, observers. Cheap to create; every `Consent` of a store shares its state.
#[derive(uniffi::Object)]
pub struct Consent {
    store: Arc<StoreHandle>,
}

impl std::fmt::Debug for Consent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consent").finish_non_exhaustive()
    }
}

impl Consent {
    /// Runs a consent change in one transaction: `f` writes it; then the telemetry of
    /// purposes no longer allowed is purged, a deletion request queued, the installation
    /// id replaced; the in-memory state is updated after the commit; observers are told.
    fn change<T>(
        &self,
        reason: DeletionReason,
        f: impl FnOnce(&Transaction<'_>, &KeyRing, &ConsentState) -> Result<T>,
    ) -> Result<T> {
        let hub = self.store.consent_hub();
        let value = self.store.write_advancing_then(
            |tx, ring| {
                let before = load_state(tx, &ring.keys)?;
                let value = f(tx, ring, &before)?;
                let after = load_state(tx, &ring.keys)?;
                let revoked = PurposeSet::of(&before.allowed).minus(PurposeSet::of(&after.allowed));
                self.store.consent_changed(tx, revoked, reason)?;
                Ok((value, after))
            },
            |(_, after)| hub.set_state(after.clone()),
        )?;
        hub.notify();
        Ok(value.0)
    }
}

impl Consent {
    /// `publishPolicy`: a newer version than the one in force takes effect at once.
    pub(crate) fn adopt_policy(&self, manifest: PolicyManifest) -> Result<PolicyUpdate> {
        manifest.validate()?;
        let in_force = self.store.read(|c, _| db::policy_in_force(c))?;
        match in_force {
            Some(p) if p.version == manifest.version => return Ok(PolicyUpdate::AlreadyInForce),
            Some(p) if p.version > manifest.version => return Ok(PolicyUpdate::Outdated),
            _ => {}
        }
        self.change(DeletionReason::PolicyChanged, |tx, _, before| {
            // Re-check under the lock: another thread may have published meanwhile.
            match &before.policy_in_force {
                Some(p) if p.version >= manifest.version => Ok(PolicyUpdate::Outdated),
                _ => {
                    db::insert_policy(tx, &manifest)?;
                    log::info!("policy v{} in force", manifest.version);
                    Ok(PolicyUpdate::Adopted)
                }
            }
        })
    }

    /// Consent management on `store` (`Consent::new` takes the public `Store`).
    pub(crate) fn on(store: Arc<StoreHandle>) -> Arc<Self> {
        Arc::new(Consent { store })
    }
}

#[uniffi::export]
impl Consent {
    /// Publishes a policy manifest (from the app bundle or the backend). A newer version
    /// than the one in force takes effect at once and stops collection until accepted.
    pub fn publish_policy(&self, manifest: PolicyManifest) -> ApiResult<PolicyUpdate> {
        Ok(self.adopt_policy(manifest)?)
    }

    /// `publishPolicy` from the manifest's JSON.
    pub fn publish_policy_json(&self, json: String) -> ApiResult<PolicyUpdate> {
        self.publish_policy(PolicyManifest::from_json(&json)?)
    }

    /// The policy in force, if any.
    pub fn policy_in_force(&self) -> Option<PolicyManifest> {
        self.store.consent_hub().state().policy_in_force
    }

    /// Accepts policy `version` with the purposes in `granted` (the others offered are
    /// denied). Only the version in force can be accepted: another gives
    /// `PolicyVersionMismatch`, none published gives `NoPolicy`.
    pub fn accept_policy(
        &self,
        version: i32,
        granted: Vec<Purpose>,
        context: ConsentContext,
    ) -> ApiResult<ConsentReceipt> {
        context.validate()?;
        let receipt = self.change(DeletionReason::ConsentWithdrawn, |tx, ring, before| {
            let policy = before.policy_in_force.as_ref().ok_or(Error::NoPolicy)?;
            if policy.version != version {
                return Err(Error::PolicyVersionMismatch {
                    accepted: version,
                    in_force: policy.version,
                });
            }
            let offered = PurposeSet::of(&policy.purposes);
            let granted = PurposeSet::of(&granted);
            if !granted.minus(offered).is_empty() {
                return Err(Error::invalid(
                    "granted",
                    "lists a purpose this policy version does not offer",
                ));
            }
            let decision = Decision {
                action: ConsentAction::Accept,
                policy,
                granted,
                offered,
            };
            issue_receipt(tx, ring, version, decision, &context)
        })?;
        Ok(receipt)
    }

    /// Withdraws consent for `purposes` (at least one; see `withdrawAll`). Pending
    /// telemetry of those purposes is purged at once. The receipt refers to the version
    /// the user accepted.
    pub fn withdraw(
        &self,
        purposes: Vec<Purpose>,
        context: ConsentContext,
    ) -> ApiResult<ConsentReceipt> {
        if purposes.is_empty() {
            return Err(Error::invalid(
                "purposes",
                "is empty; to withdraw everything call withdraw_all",
            )
            .into());
        }
        self.withdraw_set(Some(PurposeSet::of(&purposes)), context)
    }

    /// Withdraws consent for every purpose.
    pub fn withdraw_all(&self, context: ConsentContext) -> ApiResult<ConsentReceipt> {
        self.withdraw_set(None, context)
    }

    /// Whether `purpose` may be collected now, and if not, why.
    pub fn status(&self, purpose: Purpose) -> ConsentStatus {
        self.store.consent_hub().status(purpose)
    }

    /// Whether `purpose` may be collected now (one atomic read).
    pub fn is_allowed(&self, purpose: Purpose) -> bool {
        self.store.consent_hub().is_allowed(purpose)
    }

    /// The consent state.
    pub fn state(&self) -> ConsentState {
        self.store.consent_hub().state()
    }

    /// Every consent receipt, oldest first, each with its hash and its predecessor's.
    pub fn receipts(&self) -> ApiResult<Vec<ConsentReceipt>> {
        Ok(self.store.read(|c, r| db::receipts(c, &r.keys))?)
    }

    /// Checks that the receipts form an unbroken hash chain up to the sealed head: none
    /// removed, none edited, none added. `IntegrityFailure` names the receipt where the
    /// chain breaks. Also checked when the store opens (`ConsentState.receipts_verified`)
    /// and stated in every export.
    pub fn verify_receipts(&self) -> ApiResult<ReceiptChain> {
        Ok(self.store.read(|c, r| verify_chain(c, &r.keys))?)
    }

    /// The receipts as a JSON document after the Kantara Consent Receipt 1.1 and ISO/IEC
    /// TS 27560 field names (`docs/privacy-traceability.md` gives the mapping), with the
    /// chain's verification result. For the user's copy or a regulator's request.
    pub fn export_receipts_json(&self) -> ApiResult<String> {
        Ok(self.store.read(|c, r| {
            let receipts = db::receipts(c, &r.keys)?;
            let chain = verify_chain(c, &r.keys);
            Ok(receipt::kantara_export(&receipts, chain.as_ref().ok()).to_string())
        })?)
    }

    /// Registers an observer of consent changes: `onConsentChanged` runs after every
    /// change, on the thread that made it, once it is saved. Events flow while the
    /// returned `Subscription` is kept and not cancelled.
    pub fn subscribe(&self, observer: Arc<dyn ConsentObserver>) -> Arc<Subscription> {
        self.store.consent_hub().subscribe(observer)
    }
}

impl Consent {
    fn withdraw_set(
        &self,
        purposes: Option<PurposeSet>,
        context: ConsentContext,
    ) -> ApiResult<ConsentReceipt> {
        context.validate()?;
        let receipt = self.change(DeletionReason::ConsentWithdrawn, |tx, ring, before| {
            let version = before.accepted_version.ok_or(Error::NoPolicy)?;
            // The receipt describes the version the user accepted, even when a newer one
            // is in force now.
            let accepted = db::policy(tx, version)?
                .ok_or(Error::Corrupted("the accepted policy manifest is missing"))?;
            let granted_before = PurposeSet::of(&before.granted);
            let decision = Decision {
                action: ConsentAction::Withdraw,
                policy: &accepted,
                granted: granted_before.minus(purposes.unwrap_or(granted_before)),
                offered: PurposeSet::of(&accepted.purposes),
            };
            issue_receipt(tx, ring, version, decision, &context)
        })?;
        Ok(receipt)
    }
}

/// A consent decision: what the user did, on which policy version, with which purposes
/// granted out of those offered.
struct Decision<'a> {
    action: ConsentAction,
    policy: &'a PolicyManifest,
    granted: PurposeSet,
    offered: PurposeSet,
}

/// The receipt of `decision` on policy `version`, appended to the chain and made the
/// consent in force, in `tx`.
fn issue_receipt(
    tx: &Transaction<'_>,
    ring: &KeyRing,
    version: i32,
    decision: Decision<'_>,
    context: &ConsentContext,
) -> Result<ConsentReceipt> {
    let granted = decision.granted;
    let mut receipt = new_receipt(decision, context);
    db::append_receipt(tx, &ring.keys, &mut receipt, version, granted)?;
    db::set_current(tx, version, granted, &receipt.id)?;
    Ok(receipt)
}

fn new_receipt(decision: Decision<'_>, context: &ConsentContext) -> ConsentReceipt {
    let Decision {
        action,
        policy,
        granted,
        offered,
    } = decision;
    ConsentReceipt {
        id: uuid::Uuid::new_v4().to_string(),
        action,
        policy_version: policy.version,
        policy_text_sha256: policy.text_sha256.clone(),
        policy_url: policy.url.clone(),
        jurisdiction: "KZ".to_string(),
        purposes_granted: granted.and(offered).to_vec(),
        purposes_denied: offered.minus(granted).to_vec(),
        timestamp: SystemTime::now(),
        app_version: context.app_version.trim().to_string(),
        locale: context.locale.clone(),
        collection_method: context.collection_method,
        operator: policy.operator.clone(),
        subject_id: context.subject_id.clone(),
        policy_last_updated: policy.last_updated.clone(),
        data_categories: offered
            .to_vec()
            .into_iter()
            .map(|purpose| PurposeDataCategories {
                purpose,
                categories: policy.categories_of(purpose),
            })
            .filter(|entry| !entry.categories.is_empty())
            .collect(),
        consent_duration_days: policy.consent_duration_days,
        third_party_transfer: policy.third_party_transfer,
        cross_border_transfer: policy.cross_border_transfer,
        publicly_available: policy.publicly_available,
        previous_receipt_sha256: None,
        receipt_sha256: String::new(),
    }
}

/// Ends all consent when the user's data is erased: the current consent is cleared (the
/// caller reacts to the change of every purpose, `DeletionReason::AccountDeleted`). Runs
/// inside the erasure transaction; returns the new state.
pub(crate) fn erase_in(
    tx: &Transaction<'_>,
    keys: &crate::crypto::StoreKeys,
) -> Result<ConsentState> {
    db::clear_current(tx)?;
    load_state(tx, keys)
}
