//! The in-memory side of consent: an atomic mask of the purposes allowed now (read by
//! every `record()` call), the last computed state, and the host's observers.

use super::purpose::{Purpose, PurposeSet};
use super::{ConsentObserver, ConsentState, ConsentStatus};
use crate::locks::Locked;
use crate::subscription::{Observers, Subscription};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Shared by the store, [`super::Consent`] and the telemetry pipeline of one store.
pub(crate) struct ConsentHub {
    allowed: AtomicU32,
    /// Per purpose, how many times it stopped being allowed. An event is stamped with its
    /// purpose's count when recorded; the worker drops it if the count moved since (the
    /// purpose was revoked in between, even if it was granted again).
    revocations: [AtomicU64; 5],
    state: Mutex<ConsentState>,
    observers: Arc<Observers<dyn ConsentObserver>>,
}

impl ConsentHub {
    /// A hub starting from `state`.
    pub fn new(state: ConsentState) -> Self {
        ConsentHub {
            allowed: AtomicU32::new(PurposeSet::of(&state.allowed).0),
            revocations: Default::default(),
            state: Mutex::new(state),
            observers: Arc::default(),
        }
    }

    /// Whether `purpose` may be collected now: one atomic load.
    #[inline]
    pub fn is_allowed(&self, purpose: Purpose) -> bool {
        self.allowed.load(Ordering::Acquire) & purpose.bit() != 0
    }

    /// How many times `purpose` stopped being allowed. Read before [`Self::is_allowed`]
    /// when stamping an event: `set_state` publishes the mask before the count, so a stamp
    /// taken after a revocation always comes with the revoked mask.
    #[inline]
    pub fn revocation(&self, purpose: Purpose) -> u64 {
        self.revocations[purpose.index()].load(Ordering::Acquire)
    }

    /// `UndeclaredHost` unless `host` is one the policy in force declares for `channel`
    /// (or loopback): the check before every request that carries personal data or
    /// telemetry (law No. 94-V, Art. 12). Reads the policy under the lock, without a copy.
    pub fn require_declared_host(
        &self,
        host: &str,
        channel: super::DataChannel,
    ) -> crate::error::Result<()> {
        let state = self.state.locked();
        let declared = state
            .policy_in_force
            .as_ref()
            .map_or(&[][..], |p| p.declared_hosts(channel));
        if super::host_is_declared(host, declared) {
            return Ok(());
        }
        log::warn!(
            "{} refused: the policy in force does not declare the endpoint's host",
            channel.as_str()
        );
        Err(crate::error::Error::UndeclaredHost {
            host: host.to_string(),
            channel: channel.as_str(),
        })
    }

    /// The last computed state.
    pub fn state(&self) -> ConsentState {
        self.state.locked().clone()
    }

    /// Why `purpose` is or is not allowed.
    pub fn status(&self, purpose: Purpose) -> ConsentStatus {
        let state = self.state.locked();
        let Some(policy) = &state.policy_in_force else {
            return ConsentStatus::NoPolicy;
        };
        match state.accepted_version {
            None => ConsentStatus::PolicyNotAccepted {
                current_version: policy.version,
            },
            Some(accepted) if accepted != policy.version => ConsentStatus::NewPolicyNotAccepted {
                accepted_version: accepted,
                current_version: policy.version,
            },
            Some(_) if !policy.purposes.contains(&purpose) => ConsentStatus::NotOffered,
            Some(_) if !state.granted.contains(&purpose) => ConsentStatus::NotGranted,
            Some(_) => ConsentStatus::Allowed,
        }
    }

    /// Installs a new state. Called while the store's lock is held, right after the
    /// transaction that wrote it committed, so that the mask never runs ahead of the data.
    pub fn set_state(&self, state: ConsentState) {
        let mut current = self.state.locked();
        // The mask first, then the revocation counts (see `revocation`).
        let new = PurposeSet::of(&state.allowed).0;
        let old = self.allowed.swap(new, Ordering::AcqRel);
        for p in Purpose::ALL {
            if old & p.bit() != 0 && new & p.bit() == 0 {
                self.revocations[p.index()].fetch_add(1, Ordering::Release);
            }
        }
        *current = state;
    }

    /// Tells every observer about the current state. Called after the store's lock is
    /// released, so an observer may call back into the SDK.
    pub fn notify(&self) {
        let state = self.state();
        self.observers
            .deliver(|observer| observer.on_consent_changed(state.clone()));
    }

    /// Adds an observer; the returned `Subscription` removes it.
    pub fn subscribe(&self, observer: Arc<dyn ConsentObserver>) -> Arc<Subscription> {
        self.observers.subscribe(observer)
    }
}
