//! Document numbers (driver licence, vehicle registration certificate).
//!
//! No official format of these numbers is published, so the SDK stores them as
//! normalised alphanumeric strings: Cyrillic look-alikes mapped to Latin, case folded,
//! spaces and dashes dropped, 5 to 20 characters of A-Z and 0-9.

use super::lookalike::fold;
use crate::error::{ApiResult, Error, Result};

const REASON: &str = "expected 5 to 20 Latin letters or digits (spaces and dashes are ignored)";

/// Canonical form of a document number; `field` names the field in errors.
pub(crate) fn canonical_document_number(field: &'static str, input: &str) -> Result<String> {
    let folded = fold(input).map_err(|_| Error::invalid(field, REASON))?;
    if (5..=20).contains(&folded.len()) {
        Ok(folded)
    } else {
        Err(Error::invalid(field, REASON))
    }
}

/// Normalises a document number as the store will keep it (`AB 12-34 56` → `AB123456`).
#[uniffi::export]
pub fn normalize_document_number(input: String) -> ApiResult<String> {
    Ok(canonical_document_number("number", &input)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_lookalikes_separators_and_case() {
        assert_eq!(
            canonical_document_number("number", "ав 12-34 56").unwrap(),
            "AB123456"
        );
    }

    #[test]
    fn length_is_5_to_20() {
        assert!(canonical_document_number("number", "1234").is_err());
        assert!(canonical_document_number("number", "12345").is_ok());
        assert!(canonical_document_number("number", &"1".repeat(20)).is_ok());
        assert!(canonical_document_number("number", &"1".repeat(21)).is_err());
    }

    #[test]
    fn foreign_characters_are_rejected_without_echo() {
        let err = canonical_document_number("number", "№123456").unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidInput {
                field: "number",
                ..
            }
        ));
        assert!(!err.to_string().contains("123456"));
    }
}
