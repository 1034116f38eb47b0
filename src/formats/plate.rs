//! Kazakhstan vehicle registration plates.
//!
//! The civil formats recognised, each a [`PlateFormat`] (sources: the Wikipedia articles
//! "Vehicle registration plates of Kazakhstan" and "Kfz-Kennzeichen (Kasachstan)", which
//! describe the 2012 standard of the Ministry of Internal Affairs; docs/formats.md):
//! - 2012, private owner: 3 digits, 3 Latin letters, region code 01-20 (`123 ABC 02`);
//! - 2012, legal entity (an organisation's car): 3 digits, 2 letters, region code
//!   (`123 AB 02`);
//! - 2012, foreign owner (yellow plate): `F` (a person) or `H` (an organisation), 4 digits,
//!   region code (`F 1234 02`);
//! - 1993: a region letter, 3 digits, 2 letters (legal entity) or 3 letters (private owner)
//!   (`A 123 BCD`), still on the road.
//!
//! Input may use Cyrillic look-alike letters, any case, spaces and dashes. Diplomatic,
//! police, military, transit, motorcycle and trailer plates are not recognised: their
//! layouts could not be sourced (P1.3: we check format, so we accept only what we can
//! describe), and they are refused with a reason naming the accepted formats.

use super::lookalike::fold;
use crate::error::{ApiResult, Error, Result};

/// The field name used in errors about plates.
pub(crate) const FIELD: &str = "plate";
const FORMATS: &str = "expected a Kazakhstan plate: 3 digits, 3 letters and a region code 01-20 \
(123 ABC 02), 3 digits, 2 letters and a region code (123 AB 02, a company car), F or H, 4 \
digits and a region code (F 1234 02, a foreign owner), or the 1993 format: a region letter, \
3 digits and 2 or 3 letters (A 123 BCD)";

/// Which civil plate format a number follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PlateFormat {
    /// 2012 standard, private owner: 3 digits, 3 letters, region code 01-20 (`123 ABC 02`).
    Current,
    /// 2012 standard, legal entity: 3 digits, 2 letters, region code 01-20 (`123 AB 02`).
    CurrentLegalEntity,
    /// 2012 standard, foreign owner (yellow plate): `F` (a person) or `H` (an
    /// organisation), 4 digits, region code 01-20 (`F 1234 02`).
    CurrentForeign,
    /// 1993 standard: region letter, 3 digits, 2 letters (legal entity) or 3 letters
    /// (private owner) (`A 123 BCD`).
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
    /// The region: a code `01`-`20` for the 2012 formats, a letter for the 1993 one
    /// (`plateRegionName` gives its name).
    pub region: String,
}

fn all(s: &str, pred: fn(u8) -> bool) -> bool {
    s.bytes().all(pred)
}

/// The region code `01`-`20` at the end of `s`, if it is one.
fn region_code(s: &str) -> Option<&str> {
    let code = s.get(s.len().checked_sub(2)?..)?;
    let n: u8 = code.parse().ok()?;
    (all(code, |b| b.is_ascii_digit()) && (1..=20).contains(&n)).then_some(code)
}

/// The format of a canonical plate (upper-case Latin letters and digits, no separators)
/// and where its display form breaks: after the first group and after the second.
fn layout(s: &str) -> Option<(PlateFormat, usize, usize)> {
    if !s.is_ascii() {
        return None;
    }
    let digit = |b: u8| b.is_ascii_digit();
    let letter = |b: u8| b.is_ascii_uppercase();
    let modern = |letters: usize| {
        s.len() == 3 + letters + 2 && all(&s[0..3], digit) && all(&s[3..3 + letters], letter)
    };
    if modern(3) || modern(2) {
        region_code(s)?;
        let format = if s.len() == 8 {
            PlateFormat::Current
        } else {
            PlateFormat::CurrentLegalEntity
        };
        return Some((format, 3, s.len() - 2));
    }
    if s.len() == 7 && matches!(&s[0..1], "F" | "H") && all(&s[1..7], digit) {
        region_code(s)?;
        return Some((PlateFormat::CurrentForeign, 1, 5));
    }
    if (s.len() == 6 || s.len() == 7)
        && all(&s[0..1], letter)
        && all(&s[1..4], digit)
        && all(&s[4..], letter)
    {
        return Some((PlateFormat::Legacy, 1, 4));
    }
    None
}

/// The plate of a canonical form whose [`layout`] is known: the display form is the three
/// groups joined by spaces, the region the last two digits (the first letter for 1993).
fn assemble(canonical: String, format: PlateFormat, first: usize, second: usize) -> PlateNumber {
    let s = canonical.as_str();
    let mut display = String::with_capacity(s.len() + 2);
    display.push_str(&s[..first]);
    display.push(' ');
    display.push_str(&s[first..second]);
    display.push(' ');
    display.push_str(&s[second..]);
    let region = match format {
        PlateFormat::Legacy => &s[..1],
        _ => &s[s.len() - 2..],
    };
    PlateNumber {
        display,
        region: region.to_string(),
        format,
        canonical,
    }
}

/// Parses a plate typed by a user into its canonical form.
pub(crate) fn parse(input: &str) -> Result<PlateNumber> {
    let folded = fold(input).map_err(|_| Error::invalid(FIELD, FORMATS))?;
    let (format, first, second) = layout(&folded).ok_or_else(|| Error::invalid(FIELD, FORMATS))?;
    Ok(assemble(folded, format, first, second))
}

/// The plate of a canonical form as the store keeps it (`123ABC02`): what [`parse`] gives
/// for it, without folding it again (reads use it); `None` when `canonical` is not the
/// canonical form of a plate.
pub(crate) fn from_canonical(canonical: String) -> Option<PlateNumber> {
    let (format, first, second) = layout(&canonical)?;
    Some(assemble(canonical, format, first, second))
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
    fn from_canonical_refuses_what_is_not_a_canonical_plate() {
        for s in [
            "123 ABC 02",
            "123abc02",
            "123АВС02",
            "123ABC21",
            "",
            "F123402X",
            "1A",
        ] {
            assert_eq!(from_canonical(s.to_string()), None, "{s:?}");
        }
        assert_eq!(from_canonical("A123BCD".into()), parse("a 123 bcd").ok());
    }

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
            "123A02",
            "123AB00",
            "123AB21",
            "G123402",
            "F12302",
            "F1234021",
            "F123400",
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

    /// Five or more real-looking plates per format: (as typed, canonical, display, region).
    const EXAMPLES: [(&str, &str, &str, &str, PlateFormat); 22] = [
        (
            "123 ABC 02",
            "123ABC02",
            "123 ABC 02",
            "02",
            PlateFormat::Current,
        ),
        (
            "001 AAA 01",
            "001AAA01",
            "001 AAA 01",
            "01",
            PlateFormat::Current,
        ),
        (
            "777 кzх 17",
            "777KZX17",
            "777 KZX 17",
            "17",
            PlateFormat::Current,
        ),
        (
            "450-ВОТ-13",
            "450BOT13",
            "450 BOT 13",
            "13",
            PlateFormat::Current,
        ),
        (
            "908 QWE 20",
            "908QWE20",
            "908 QWE 20",
            "20",
            PlateFormat::Current,
        ),
        (
            "123 AB 02",
            "123AB02",
            "123 AB 02",
            "02",
            PlateFormat::CurrentLegalEntity,
        ),
        (
            "001 КЕ 01",
            "001KE01",
            "001 KE 01",
            "01",
            PlateFormat::CurrentLegalEntity,
        ),
        (
            "555-тт-05",
            "555TT05",
            "555 TT 05",
            "05",
            PlateFormat::CurrentLegalEntity,
        ),
        (
            "310 ZZ 18",
            "310ZZ18",
            "310 ZZ 18",
            "18",
            PlateFormat::CurrentLegalEntity,
        ),
        (
            "042AM09",
            "042AM09",
            "042 AM 09",
            "09",
            PlateFormat::CurrentLegalEntity,
        ),
        (
            "F 1234 02",
            "F123402",
            "F 1234 02",
            "02",
            PlateFormat::CurrentForeign,
        ),
        (
            "H 0001 01",
            "H000101",
            "H 0001 01",
            "01",
            PlateFormat::CurrentForeign,
        ),
        (
            "Н 5678 17",
            "H567817",
            "H 5678 17",
            "17",
            PlateFormat::CurrentForeign,
        ),
        (
            "f-9999-19",
            "F999919",
            "F 9999 19",
            "19",
            PlateFormat::CurrentForeign,
        ),
        (
            "H4321 10",
            "H432110",
            "H 4321 10",
            "10",
            PlateFormat::CurrentForeign,
        ),
        (
            "A 123 BCD",
            "A123BCD",
            "A 123 BCD",
            "A",
            PlateFormat::Legacy,
        ),
        ("A 001 AA", "A001AA", "A 001 AA", "A", PlateFormat::Legacy),
        (
            "a 585 cuo",
            "A585CUO",
            "A 585 CUO",
            "A",
            PlateFormat::Legacy,
        ),
        (
            "Z 777 ЕКХ",
            "Z777EKX",
            "Z 777 EKX",
            "Z",
            PlateFormat::Legacy,
        ),
        ("Х-010-МР", "X010MP", "X 010 MP", "X", PlateFormat::Legacy),
        (
            "K 456 ABC",
            "K456ABC",
            "K 456 ABC",
            "K",
            PlateFormat::Legacy,
        ),
        ("S 100 OO", "S100OO", "S 100 OO", "S", PlateFormat::Legacy),
    ];

    #[test]
    fn every_format_parses_its_examples_typed_as_users_type_them() {
        for (typed, canonical, display, region, format) in EXAMPLES {
            let p = parse(typed).unwrap_or_else(|e| panic!("{typed:?}: {e:?}"));
            assert_eq!(
                (
                    p.canonical.as_str(),
                    p.display.as_str(),
                    p.region.as_str(),
                    p.format
                ),
                (canonical, display, region, format),
                "{typed:?}"
            );
            assert_eq!(parse(display).unwrap(), p, "display re-parses");
            assert_eq!(parse(canonical).unwrap(), p, "canonical re-parses");
        }
    }

    /// A plate of `format` in canonical form, from generated parts.
    fn canonical_of(format: u8, d: &str, l: &str, r: u8, owner: bool) -> String {
        match format {
            0 => format!("{}{}{r:02}", &d[..3], &l[..3]),
            1 => format!("{}{}{r:02}", &d[..3], &l[..2]),
            2 => format!("{}{d}{r:02}", if owner { "F" } else { "H" }),
            _ => format!("{}{}{}", &l[..1], &d[..3], &l[1..if owner { 3 } else { 4 }]),
        }
    }

    /// `canonical` as a user might type it: Cyrillic look-alikes, lower case, dashes.
    fn as_typed(canonical: &str, cyrillic: bool, lower: bool) -> String {
        let mut out = String::new();
        for (i, c) in canonical.chars().enumerate() {
            if i > 0 && c.is_ascii_digit() != canonical.as_bytes()[i - 1].is_ascii_digit() {
                out.push('-');
            }
            let c = match (cyrillic, c) {
                (true, 'A') => 'А',
                (true, 'B') => 'В',
                (true, 'E') => 'Е',
                (true, 'K') => 'К',
                (true, 'H') => 'Н',
                (true, 'X') => 'Х',
                (_, c) => c,
            };
            out.extend(if lower {
                c.to_lowercase().collect::<Vec<_>>()
            } else {
                vec![c]
            });
        }
        out
    }

    proptest! {
        #[test]
        fn canonical_form_is_a_fixed_point(d in "[0-9]{3}", l in "[A-Z]{3}", r in 1u8..=20) {
            let p = parse(&format!("{d} {l} {r:02}")).unwrap();
            prop_assert_eq!(parse(&p.canonical).unwrap(), p.clone());
            prop_assert_eq!(parse(&p.display).unwrap(), p);
        }

        #[test]
        fn every_format_round_trips_canonical_display_canonical_and_folds_look_alikes(
            format in 0u8..4, d in "[0-9]{4}", l in "[A-Z]{4}", r in 1u8..=20,
            owner: bool, cyrillic: bool, lower: bool,
        ) {
            let canonical = canonical_of(format, &d, &l, r, owner);
            let p = parse(&canonical).unwrap();
            prop_assert_eq!(&p.canonical, &canonical);
            let expected = [
                PlateFormat::Current,
                PlateFormat::CurrentLegalEntity,
                PlateFormat::CurrentForeign,
                PlateFormat::Legacy,
            ][usize::from(format)];
            prop_assert_eq!(p.format, expected);
            prop_assert_eq!(parse(&p.display).unwrap(), p.clone());
            prop_assert_eq!(p.display.replace(' ', ""), canonical.clone());
            prop_assert_eq!(parse(&as_typed(&canonical, cyrillic, lower)).unwrap(), p.clone());
            prop_assert_eq!(from_canonical(canonical), Some(p));
        }

        #[test]
        fn from_canonical_accepts_exactly_what_parse_leaves_unchanged(input in "[0-9A-Zaz Ф-]{0,10}") {
            let parsed = parse(&input).ok().filter(|p| p.canonical == input);
            prop_assert_eq!(from_canonical(input), parsed);
        }

        #[test]
        fn a_region_code_outside_01_to_20_is_refused_in_every_2012_format(
            format in 0u8..3, d in "[0-9]{4}", l in "[A-Z]{4}", r in prop_oneof![Just(0u8), 21u8..=99],
        ) {
            let plate = canonical_of(format, &d, &l, r, true);
            match parse(&plate) {
                Err(Error::InvalidInput { reason, .. }) => {
                    prop_assert!(!reason.contains(&plate), "no echo");
                    prop_assert!(reason.contains("123 AB 02"), "names the formats");
                }
                other => prop_assert!(false, "{plate}: {other:?}"),
            }
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,24}") {
            let _ = parse(&s);
        }
    }
}
