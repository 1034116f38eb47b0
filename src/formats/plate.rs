//! Kazakhstan vehicle registration plates.
//!
//! Two civil formats are recognised:
//! - current (since 2012): 3 digits, 3 Latin letters, region code 01-20, e.g. `123ABC02`,
//!   shown as `123 ABC 02`;
//! - older: a region letter, 3 digits, 2 or 3 letters, e.g. `A123BC`, shown as `A 123 BC`.
//!
//! Input may use Cyrillic look-alike letters, any case, spaces and dashes.

use super::lookalike::fold;
use crate::error::{ApiResult, Error, Result};

/// The field name used in errors about plates.
pub(crate) const FIELD: &str = "plate";
const FORMATS: &str = "expected a Kazakhstan plate: 3 digits, 3 letters and a region code 01-20 \
(123 ABC 02), or the older format: a region letter, 3 digits and 2 or 3 letters (A 123 BCD)";

/// Which civil plate format a number follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PlateFormat {
    /// 3 digits, 3 letters, 2-digit region code 01-20 (`123 ABC 02`).
    Current,
    /// Region letter, 3 digits, 2 or 3 letters (`A 123 BCD`).
    Legacy,
}

/// A validated plate number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, uniffi::Record)]
pub struct PlateNumber {
    /// Canonical form used for storage and lookup: upper-case Latin, no separators (`123ABC02`).
    pub canonical: String,
    /// Form for display, with spaces between the groups (`123 ABC 02`).
    pub display: String,
    /// The format the plate follows.
    pub format: PlateFormat,
    /// The region: a code `01`-`20` for the current format, a letter for the older one.
    pub region: String,
}

fn all(s: &str, pred: fn(u8) -> bool) -> bool {
    s.bytes().all(pred)
}

/// Parses a plate typed by a user into its canonical form.
pub(crate) fn parse(input: &str) -> Result<PlateNumber> {
    let folded = fold(input).map_err(|_| Error::invalid(FIELD, FORMATS))?;
    let digit = |b: u8| b.is_ascii_digit();
    let letter = |b: u8| b.is_ascii_uppercase();
    let s = folded.as_str();
    if s.len() == 8 && all(&s[0..3], digit) && all(&s[3..6], letter) && all(&s[6..8], digit) {
        let region: u8 = s[6..8]
            .parse()
            .map_err(|_| Error::invalid(FIELD, FORMATS))?;
        if !(1..=20).contains(&region) {
            return Err(Error::invalid(FIELD, FORMATS));
        }
        return Ok(PlateNumber {
            display: format!("{} {} {}", &s[0..3], &s[3..6], &s[6..8]),
            region: s[6..8].to_string(),
            canonical: folded,
            format: PlateFormat::Current,
        });
    }
    if (s.len() == 6 || s.len() == 7)
        && all(&s[0..1], letter)
        && all(&s[1..4], digit)
        && all(&s[4..], letter)
    {
        return Ok(PlateNumber {
            display: format!("{} {} {}", &s[0..1], &s[1..4], &s[4..]),
            region: s[0..1].to_string(),
            canonical: folded,
            format: PlateFormat::Legacy,
        });
    }
    Err(Error::invalid(FIELD, FORMATS))
}

/// Validates and normalises a plate number as typed by a user (Cyrillic look-alikes,
/// any case, spaces and dashes are accepted). Use it to validate a form field as the user
/// types; the store applies the same rules.
#[uniffi::export]
pub fn parse_plate(input: String) -> ApiResult<PlateNumber> {
    Ok(parse(&input)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn current_format_in_latin_and_cyrillic() {
        let latin = parse("123ABC02").unwrap();
        assert_eq!(latin.canonical, "123ABC02");
        assert_eq!(latin.display, "123 ABC 02");
        assert_eq!(latin.format, PlateFormat::Current);
        assert_eq!(latin.region, "02");
        assert_eq!(parse("123 авс 02").unwrap(), latin);
        assert_eq!(parse("123-АВС-02").unwrap(), latin);
    }

    #[test]
    fn region_codes_outside_01_to_20_are_rejected() {
        assert!(parse("123ABC01").is_ok());
        assert!(parse("123ABC20").is_ok());
        assert!(parse("123ABC00").is_err());
        assert!(parse("123ABC21").is_err());
    }

    #[test]
    fn legacy_format_with_two_or_three_letters() {
        let p = parse("a 123 bcd").unwrap();
        assert_eq!(
            (p.canonical.as_str(), p.display.as_str()),
            ("A123BCD", "A 123 BCD")
        );
        assert_eq!(p.format, PlateFormat::Legacy);
        assert_eq!(parse("A123BC").unwrap().display, "A 123 BC");
        assert!(parse("A123B").is_err());
        assert!(parse("A123BCDE").is_err());
    }

    #[test]
    fn malformed_plates_name_the_formats_and_not_the_value() {
        for bad in [
            "",
            "12ABC02",
            "1234ABC02",
            "123AB02",
            "ABC12302",
            "123ЖЖЖ02",
            "123ABC2",
        ] {
            match parse(bad) {
                Err(Error::InvalidInput { field, reason }) => {
                    assert_eq!(field, "plate");
                    assert!(reason.contains("123 ABC 02"), "reason names the formats");
                    if !bad.is_empty() {
                        assert!(!reason.contains(bad), "reason must not echo the input");
                    }
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn canonical_form_is_a_fixed_point(d in "[0-9]{3}", l in "[A-Z]{3}", r in 1u8..=20) {
            let p = parse(&format!("{d} {l} {r:02}")).unwrap();
            prop_assert_eq!(parse(&p.canonical).unwrap(), p.clone());
            prop_assert_eq!(parse(&p.display).unwrap(), p);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s);
        }
    }
}
