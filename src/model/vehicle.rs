//! The user's vehicles.

use crate::formats::PlateNumber;
use std::time::SystemTime;

/// A vehicle of the user's.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Vehicle {
    /// Stable id (UUID).
    pub id: String,
    /// The registration plate, validated and normalised.
    pub plate: PlateNumber,
    /// The user's name for the vehicle ("Work car").
    pub nickname: Option<String>,
    /// Make ("Toyota").
    pub make: Option<String>,
    /// Model ("Camry").
    pub model: Option<String>,
    /// Colour as the user describes it.
    pub colour: Option<String>,
    /// Vehicle registration certificate number, normalised like document numbers.
    pub registration_certificate_number: Option<String>,
    /// When the vehicle was added.
    pub created_at: SystemTime,
    /// When the vehicle was last changed.
    pub updated_at: SystemTime,
}

/// A vehicle to add. Only the plate is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct NewVehicle {
    /// The plate, as typed (Cyrillic look-alikes, spaces and dashes are accepted).
    pub plate: String,
    /// The user's name for the vehicle.
    #[uniffi(default = None)]
    pub nickname: Option<String>,
    /// Make.
    #[uniffi(default = None)]
    pub make: Option<String>,
    /// Model.
    #[uniffi(default = None)]
    pub model: Option<String>,
    /// Colour.
    #[uniffi(default = None)]
    pub colour: Option<String>,
    /// Vehicle registration certificate number.
    #[uniffi(default = None)]
    pub registration_certificate_number: Option<String>,
}

/// The vehicle's editable fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum VehicleField {
    /// The plate (required).
    Plate,
    /// Nickname.
    Nickname,
    /// Make.
    Make,
    /// Model.
    Model,
    /// Colour.
    Colour,
    /// Registration certificate number.
    RegistrationCertificateNumber,
}

impl VehicleField {
    /// Every vehicle field.
    pub const ALL: [VehicleField; 6] = [
        VehicleField::Plate,
        VehicleField::Nickname,
        VehicleField::Make,
        VehicleField::Model,
        VehicleField::Colour,
        VehicleField::RegistrationCertificateNumber,
    ];

    /// The field's name on the wire and in exports.
    pub fn name(self) -> &'static str {
        match self {
            VehicleField::Plate => "plate",
            VehicleField::Nickname => "nickname",
            VehicleField::Make => "make",
            VehicleField::Model => "model",
            VehicleField::Colour => "colour",
            VehicleField::RegistrationCertificateNumber => "registration_certificate_number",
        }
    }

    /// Whether a vehicle must have this field.
    pub fn is_required(self) -> bool {
        matches!(self, VehicleField::Plate)
    }
}

/// A partial update of a vehicle: an unset field (null / nil) keeps its value, a value sets it, a field in
/// `clear` is removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct VehiclePatch {
    /// New plate.
    #[uniffi(default = None)]
    pub plate: Option<String>,
    /// New nickname.
    #[uniffi(default = None)]
    pub nickname: Option<String>,
    /// New make.
    #[uniffi(default = None)]
    pub make: Option<String>,
    /// New model.
    #[uniffi(default = None)]
    pub model: Option<String>,
    /// New colour.
    #[uniffi(default = None)]
    pub colour: Option<String>,
    /// New registration certificate number.
    #[uniffi(default = None)]
    pub registration_certificate_number: Option<String>,
    /// Optional fields to remove. Listing the plate is an error.
    #[uniffi(default = [])]
    pub clear: Vec<VehicleField>,
}
