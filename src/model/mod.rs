//! The personal records the store keeps (policy clauses P1.1.1, P1.1.2): the user's
//! profile, vehicles and documents, with the inputs and patches that create and edit them.
//!
//! Conventions shared by every record:
//! - ids are random UUIDs (v4) made by the SDK, stable for the life of the record;
//! - `created_at` / `updated_at` are set by the store;
//! - a patch leaves a field unchanged when it is `null`/`nil`, sets it when it has a value,
//!   and removes an optional field listed in `clear`. Blank strings are rejected.

mod document;
pub(crate) mod fields;
pub(crate) mod kind;
mod profile;
mod record;
mod vehicle;

pub use document::{Document, DocumentField, DocumentKind, DocumentPatch, NewDocument};
pub use kind::RecordKind;
pub use profile::{required_profile_fields, Language, Profile, ProfileField, ProfilePatch};
pub use record::{RecordField, RecordRef, RecordValues};
pub use vehicle::{NewVehicle, Vehicle, VehicleField, VehiclePatch};
