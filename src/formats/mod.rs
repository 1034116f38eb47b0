//! Validation and normalisation of the values users type: plates, document numbers,
//! phone numbers, e-mail addresses, free text and calendar dates.
//!
//! Validation is about format only (policy clause P1.3): the SDK never claims that a
//! number is real. Errors name the field and the expected format, never the value.

mod document_number;
pub(crate) mod lookalike;
pub(crate) mod person;
pub(crate) mod plate;
pub(crate) mod region;

pub use document_number::normalize_document_number;
pub use person::{normalize_email, normalize_phone};
pub use plate::{parse_plate, PlateFormat, PlateNumber};

pub(crate) use document_number::canonical_document_number;
pub(crate) use person::{validate_date, validate_text};
