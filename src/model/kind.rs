//! The kinds of personal record: the vocabulary errors, reports and sync share. It names
//! nothing else, so that every layer (the error type included) may use it.

/// The three kinds of personal record the user keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum RecordKind {
    /// The user's profile (one per account).
    Profile,
    /// A vehicle.
    Vehicle,
    /// A document.
    Document,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 3] = [
        RecordKind::Profile,
        RecordKind::Vehicle,
        RecordKind::Document,
    ];

    /// The kind's name on the wire and in the export (`profile`, `vehicle`, `document`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Profile => "profile",
            RecordKind::Vehicle => "vehicle",
            RecordKind::Document => "document",
        }
    }

    /// The kind of a wire name (`None` for other names).
    pub(crate) fn parse(name: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
