//! The user's documents: driver licences and vehicle registration certificates.

use std::time::SystemTime;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum DocumentKind {
    /// Driver licence (водительское удостоверение).
    DriverLicence,
    /// Vehicle registration certificate (свидетельство о регистрации ТС).
    VehicleRegistrationCertificate,
}

impl DocumentKind {
    /// The kind's name in the database and in exports.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::DriverLicence => "driver_licence",
            DocumentKind::VehicleRegistrationCertificate => "vehicle_registration_certificate",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "driver_licence" => Some(DocumentKind::DriverLicence),
            "vehicle_registration_certificate" => {
                Some(DocumentKind::VehicleRegistrationCertificate)
            }
            _ => None,
        }
    }
}

/// A document of the user's.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Document {
    /// Stable id (UUID).
    pub id: String,
    /// What the document is.
    pub kind: DocumentKind,
    /// The number, normalised: A-Z and 0-9 only, 5-20 characters. No official format is
    /// published, so only this shape is checked.
    pub number: String,
    /// Issue date, ISO-8601 (`2024-05-31`).
    pub issued_on: Option<String>,
    /// Expiry date, ISO-8601.
    pub expires_on: Option<String>,
    /// The vehicle this document belongs to (for registration certificates).
    pub vehicle_id: Option<String>,
    /// When the document was added.
    pub created_at: SystemTime,
    /// When the document was last changed.
    pub updated_at: SystemTime,
}

/// A document to add.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewDocument {
    /// What the document is.
    pub kind: DocumentKind,
    /// The number as typed (Cyrillic look-alikes, spaces and dashes are accepted).
    pub number: String,
    /// Issue date, `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub issued_on: Option<String>,
    /// Expiry date, `YYYY-MM-DD`; not before the issue date.
    #[uniffi(default = None)]
    pub expires_on: Option<String>,
    /// Id of one of the user's vehicles.
    #[uniffi(default = None)]
    pub vehicle_id: Option<String>,
}

/// A document's editable fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum DocumentField {
    /// The number (required).
    Number,
    /// Issue date.
    IssuedOn,
    /// Expiry date.
    ExpiresOn,
    /// Link to a vehicle.
    VehicleId,
}

impl DocumentField {
    /// Every editable document field.
    pub const ALL: [DocumentField; 4] = [
        DocumentField::Number,
        DocumentField::IssuedOn,
        DocumentField::ExpiresOn,
        DocumentField::VehicleId,
    ];

    /// The field's name on the wire and in exports.
    pub fn name(self) -> &'static str {
        match self {
            DocumentField::Number => "number",
            DocumentField::IssuedOn => "issued_on",
            DocumentField::ExpiresOn => "expires_on",
            DocumentField::VehicleId => "vehicle_id",
        }
    }

    /// Whether a document must have this field.
    pub fn is_required(self) -> bool {
        matches!(self, DocumentField::Number)
    }
}

/// A partial update of a document: an unset field (null / nil) keeps its value, a value sets it, a field in
/// `clear` is removed. The kind of a document cannot change.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct DocumentPatch {
    /// New number.
    #[uniffi(default = None)]
    pub number: Option<String>,
    /// New issue date.
    #[uniffi(default = None)]
    pub issued_on: Option<String>,
    /// New expiry date.
    #[uniffi(default = None)]
    pub expires_on: Option<String>,
    /// New vehicle link.
    #[uniffi(default = None)]
    pub vehicle_id: Option<String>,
    /// Optional fields to remove. Listing the number is an error.
    #[uniffi(default = [])]
    pub clear: Vec<DocumentField>,
}
