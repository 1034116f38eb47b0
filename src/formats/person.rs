//! Phone numbers, e-mail addresses, names and other free text, and calendar dates.

use crate::error::{ApiResult, Error, Result};
use time::{macros::format_description, Date};

const PHONE_REASON: &str =
    "expected a +7 number with 10 digits after the country code (E.164), like +7 7XX XXX XX XX";

/// Canonical E.164 form of a Kazakhstan (+7) phone number.
///
/// Accepts `+7XXXXXXXXXX`, `7XXXXXXXXXX` and the domestic `8XXXXXXXXXX`, with spaces,
/// dashes and parentheses. The first digit after the country code must be 3-9.
pub(crate) fn canonical_phone(input: &str) -> Result<String> {
    let mut digits = String::with_capacity(12);
    let trimmed = input.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '(' | ')' | '\u{00A0}' => {}
            _ => return Err(Error::invalid("phone", PHONE_REASON)),
        }
    }
    let national = match (plus, digits.len(), digits.as_bytes().first()) {
        (_, 11, Some(b'7')) => &digits[1..],
        (false, 11, Some(b'8')) => &digits[1..],
        _ => return Err(Error::invalid("phone", PHONE_REASON)),
    };
    if !matches!(national.as_bytes()[0], b'3'..=b'9') {
        return Err(Error::invalid("phone", PHONE_REASON));
    }
    Ok(format!("+7{national}"))
}

/// Canonical form of an e-mail address: trimmed, domain in lower case.
pub(crate) fn canonical_email(input: &str) -> Result<String> {
    const REASON: &str = "expected an address like name@example.kz";
    let s = input.trim();
    let (local, domain) = s.rsplit_once('@').ok_or(Error::invalid("email", REASON))?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        && !local.contains('@')
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control());
    if !ok {
        return Err(Error::invalid("email", REASON));
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

/// Trims free text (names, nicknames, makes, colours) and checks its length
/// (1 to `max_chars` characters) and that it has no control characters.
pub(crate) fn validate_text(field: &'static str, input: &str, max_chars: usize) -> Result<String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Error::invalid(
            field,
            "must not be blank; list the field in `clear` to remove it",
        ));
    }
    if s.chars().count() > max_chars {
        return Err(Error::invalid(field, "too long"));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(s.to_string())
}

/// Checks an ISO-8601 calendar date (`YYYY-MM-DD`) and returns it unchanged.
pub(crate) fn validate_date(field: &'static str, input: &str) -> Result<Date> {
    Date::parse(input.trim(), format_description!("[year]-[month]-[day]"))
        .map_err(|_| Error::invalid(field, "expected a calendar date YYYY-MM-DD"))
}

/// Normalises a phone number to E.164 (`8 (701) 234-56-78` → `+77012345678`).
#[uniffi::export]
pub fn normalize_phone(input: String) -> ApiResult<String> {
    Ok(canonical_phone(&input)?)
}

/// Normalises an e-mail address (trimmed, domain in lower case).
#[uniffi::export]
pub fn normalize_email(input: String) -> ApiResult<String> {
    Ok(canonical_email(&input)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_forms_fold_to_e164() {
        for typed in [
            "+7 701 234 56 78",
            "8 (701) 234-56-78",
            "77012345678",
            "+7-701-234-5678",
        ] {
            assert_eq!(canonical_phone(typed).unwrap(), "+77012345678", "{typed}");
        }
    }

    #[test]
    fn bad_phones_are_rejected_without_echo() {
        for bad in [
            "+1 202 555 0100",
            "+7 701 234 56",
            "+8 701 234 56 78",
            "+7 101 234 56 78",
            "701x2345678",
            "",
        ] {
            let err = canonical_phone(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { field: "phone", .. }),
                "{bad}"
            );
            assert!(bad.is_empty() || !err.to_string().contains(bad));
        }
    }

    #[test]
    fn email_domain_is_lower_cased() {
        assert_eq!(
            canonical_email(" Aigerim@Mail.KZ ").unwrap(),
            "Aigerim@mail.kz"
        );
        for bad in [
            "a", "@x.kz", "a@kz", "a@.kz", "a b@x.kz", "a@x..kz", "a@x.kz.",
        ] {
            assert!(canonical_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(
            validate_text("nickname", "  Мой авто ", 64).unwrap(),
            "Мой авто"
        );
        assert!(validate_text("nickname", "   ", 64).is_err());
        assert!(validate_text("nickname", &"x".repeat(65), 64).is_err());
        assert!(validate_text("nickname", "a\u{0007}b", 64).is_err());
    }

    #[test]
    fn dates_are_iso_calendar_dates() {
        assert!(validate_date("expires_on", "2030-02-28").is_ok());
        assert!(validate_date("expires_on", "2030-02-30").is_err());
        assert!(validate_date("expires_on", "28.02.2030").is_err());
    }
}
