//! The purposes of processing the policy names (P2.2.1-P2.2.5).

use serde::{Deserialize, Serialize};

/// A purpose the user can consent to, one per clause of the policy's section 2.2.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, uniffi::Enum,
)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// P2.2.1: personalised services.
    Personalization,
    /// P2.2.2: contacting the user (notices, requests, replies).
    Communication,
    /// P2.2.3: improving quality and convenience, building new services (usage telemetry).
    ServiceImprovement,
    /// P2.2.4: statistics and research on de-identified, aggregated data.
    Statistics,
    /// P2.2.5: handling complaints about poor connection quality (network samples).
    ConnectionDiagnostics,
}

impl Purpose {
    /// Every purpose, in a fixed order.
    pub const ALL: [Purpose; 5] = [
        Purpose::Personalization,
        Purpose::Communication,
        Purpose::ServiceImprovement,
        Purpose::Statistics,
        Purpose::ConnectionDiagnostics,
    ];

    /// The purpose's name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Personalization => "personalization",
            Purpose::Communication => "communication",
            Purpose::ServiceImprovement => "service_improvement",
            Purpose::Statistics => "statistics",
            Purpose::ConnectionDiagnostics => "connection_diagnostics",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The purpose's bit in a [`PurposeSet`].
    pub(crate) const fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// Index of the purpose in [`Purpose::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// A set of purposes as a bit mask (one bit per [`Purpose`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PurposeSet(pub u32);

impl PurposeSet {
    /// The empty set.
    pub const EMPTY: PurposeSet = PurposeSet(0);

    /// The set of `purposes`.
    pub fn of(purposes: &[Purpose]) -> Self {
        PurposeSet(purposes.iter().fold(0, |m, p| m | p.bit()))
    }

    /// Whether `p` is in the set.
    pub fn contains(self, p: Purpose) -> bool {
        self.0 & p.bit() != 0
    }

    /// The purposes in the set, in [`Purpose::ALL`] order.
    pub fn to_vec(self) -> Vec<Purpose> {
        Purpose::ALL
            .into_iter()
            .filter(|p| self.contains(*p))
            .collect()
    }

    /// Set difference.
    pub fn minus(self, other: PurposeSet) -> PurposeSet {
        PurposeSet(self.0 & !other.0)
    }

    /// Set intersection.
    pub fn and(self, other: PurposeSet) -> PurposeSet {
        PurposeSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bits_are_distinct() {
        let mut seen = 0;
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
            assert_eq!(seen & p.bit(), 0);
            seen |= p.bit();
            assert_eq!(Purpose::ALL[p.index()], p);
        }
        assert_eq!(Purpose::parse("marketing"), None);
    }

    #[test]
    fn set_operations() {
        let s = PurposeSet::of(&[Purpose::Statistics, Purpose::Communication]);
        assert!(s.contains(Purpose::Statistics) && !s.contains(Purpose::Personalization));
        assert_eq!(
            s.to_vec(),
            vec![Purpose::Communication, Purpose::Statistics]
        );
        assert_eq!(
            s.minus(PurposeSet::of(&[Purpose::Statistics])).to_vec(),
            vec![Purpose::Communication]
        );
        assert!(s
            .and(PurposeSet::of(&[Purpose::Personalization]))
            .is_empty());
    }
}
