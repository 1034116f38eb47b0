//! The PII firewall (policy clause P3.1.1c): telemetry never carries the user's own
//! personal data, nor anything that looks like personal data.
//!
//! Every free-text field of an event is checked on the worker thread, before the event is
//! stored, against
//! - the user's own stored values in canonical form: plates and document numbers (after
//!   the same look-alike folding as the store), the phone's national digits, the e-mail
//!   address, the words of the full name, and the free text of every vehicle (nickname,
//!   make, model, colour; folded the same way, 3 characters or more);
//! - the values the user had before (changed or removed in the last 180 days), kept only
//!   as keyed fingerprints (`store::past_values`): every window of the folded text of a
//!   fingerprinted length is fingerprinted and compared;
//! - generic patterns: e-mail addresses, Kazakhstan phone numbers (+7 / 8 and 10 digits),
//!   plates of either format, and 12-digit IINs with a valid check digit.
//!
//! A hit drops the **whole event** (never a field: a partly-scrubbed event can still
//! identify) and is counted by purpose. When the user's own values cannot be read (a
//! damaged record), the firewall fails closed: events with free text are dropped.

use crate::crypto::{Fingerprinter, FINGERPRINT_LEN};
use crate::formats::lookalike::fold_lenient;
use crate::store::past_values::{self, Kind, PastValues};
use std::collections::{HashMap, HashSet};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroize;

/// What a firewall hit matched (for counters; never the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    /// One of the user's own stored values.
    OwnData,
    /// Something shaped like an e-mail address.
    Email,
    /// Something shaped like a phone number.
    Phone,
    /// Something shaped like a plate.
    Plate,
    /// A 12-digit IIN with a valid check digit.
    Iin,
    /// The user's values could not be read: fail closed.
    Unavailable,
}

/// Fingerprints of past values by (kind, length in characters).
type PastByShape = HashMap<(Kind, usize), HashSet<[u8; FINGERPRINT_LEN]>>;

/// The user's own values, folded for matching. Zeroized on drop.
#[derive(Default)]
pub(crate) struct Firewall {
    /// Folded plates and document numbers.
    codes: Vec<String>,
    /// National 10-digit phone numbers.
    phones: Vec<String>,
    /// Lower-cased e-mail addresses.
    emails: Vec<String>,
    /// Lower-cased words of names, 3 characters or more.
    name_words: Vec<String>,
    /// Folded free text of vehicles, 3 characters or more.
    texts: Vec<String>,
    /// Fingerprints of past values, by kind and length, with their key.
    past: Option<(Fingerprinter, PastByShape)>,
    unavailable: bool,
}

impl Drop for Firewall {
    fn drop(&mut self) {
        for list in [
            &mut self.codes,
            &mut self.phones,
            &mut self.emails,
            &mut self.name_words,
            &mut self.texts,
        ] {
            list.iter_mut().for_each(Zeroize::zeroize);
        }
    }
}

/// The user's personal values in canonical form, as the store holds them.
#[derive(Default)]
pub(crate) struct PersonalValues {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub plates: Vec<String>,
    pub document_numbers: Vec<String>,
    /// Vehicles' nicknames, makes, models and colours.
    pub free_texts: Vec<String>,
    /// The values the user had before, as fingerprints.
    pub past: Option<PastValues>,
}

impl PersonalValues {
    /// The user's personal values in canonical form, read from the record tables.
    pub(crate) fn load(
        conn: &rusqlite::Connection,
        keys: &crate::crypto::StoreKeys,
    ) -> crate::error::Result<PersonalValues> {
        let profile = crate::store::profile::get(conn, keys)?;
        let vehicles = crate::store::vehicles::ROWS.list(conn, keys)?;
        let documents = crate::store::documents::ROWS.list(conn, keys)?;
        // Moved, not cloned: `PersonalValues` zeroizes what it holds when dropped.
        let mut values = PersonalValues::default();
        if let Some(p) = profile {
            values.phone = Some(p.phone);
            values.email = p.email;
            values.full_name = p.full_name;
        }
        for v in vehicles {
            values.plates.push(v.plate.canonical);
            values
                .document_numbers
                .extend(v.registration_certificate_number);
            values.free_texts.extend(
                [v.nickname, v.make, v.model, v.colour]
                    .into_iter()
                    .flatten(),
            );
        }
        values.past = Some(past_values::load(conn, keys)?);
        values
            .document_numbers
            .extend(documents.into_iter().map(|d| d.number));
        Ok(values)
    }
}

impl Drop for PersonalValues {
    fn drop(&mut self) {
        for v in [&mut self.phone, &mut self.email, &mut self.full_name]
            .into_iter()
            .flatten()
        {
            v.zeroize();
        }
        self.plates
            .iter_mut()
            .chain(self.document_numbers.iter_mut())
            .chain(self.free_texts.iter_mut())
            .for_each(Zeroize::zeroize);
    }
}

impl Firewall {
    /// A firewall that refuses every event with free text.
    pub fn unavailable() -> Self {
        let mut fw = Firewall::default();
        fw.unavailable = true;
        fw
    }

    /// A firewall for the user's values.
    pub fn new(values: &PersonalValues) -> Self {
        let mut fw = Firewall::default();
        fw.codes = values
            .plates
            .iter()
            .chain(&values.document_numbers)
            .map(|c| fold_lenient(c))
            .collect();
        if let Some(phone) = &values.phone {
            let digits: zeroize::Zeroizing<String> =
                zeroize::Zeroizing::new(phone.chars().filter(char::is_ascii_digit).collect());
            if digits.len() >= 10 {
                fw.phones.push(digits[digits.len() - 10..].to_string());
            }
        }
        fw.emails
            .extend(values.email.iter().map(|e| e.to_lowercase()));
        if let Some(name) = &values.full_name {
            fw.name_words = past_values::name_words(name).collect();
        }
        fw.texts = values
            .free_texts
            .iter()
            .map(|t| past_values::text_form(t))
            .filter(|t| t.chars().count() >= 3)
            .collect();
        if let Some(PastValues {
            fingerprinter: Some(fingerprinter),
            entries,
        }) = &values.past
        {
            let mut by_shape = PastByShape::new();
            for (kind, len, fp) in entries {
                by_shape.entry((*kind, *len)).or_default().insert(*fp);
            }
            fw.past = Some((fingerprinter.clone(), by_shape));
        }
        fw
    }

    /// Whether `folded` (the folded text), `digits` (its digits) or `lower` (lower-cased)
    /// holds a fingerprinted past value.
    fn holds_past_value(&self, folded: &str, digits: &str, lower: &str) -> bool {
        let Some((fingerprinter, by_shape)) = &self.past else {
            return false;
        };
        by_shape.iter().any(|((kind, len), fps)| {
            let matches = |candidate: &str| {
                fps.contains(&fingerprinter.fingerprint(kind.as_str(), candidate))
            };
            match kind {
                Kind::Code | Kind::Text => windows(folded, *len).any(&matches),
                Kind::Phone => windows(digits, *len).any(&matches),
                Kind::Word => {
                    past_values::name_words(lower).any(|w| w.chars().count() == *len && matches(&w))
                }
            }
        })
    }

    /// Checks one free-text field; `Some(hit)` means the event must be dropped.
    pub fn check(&self, text: &str) -> Option<Hit> {
        if self.unavailable {
            return Some(Hit::Unavailable);
        }
        // Compatibility forms (full-width digits and letters, ligatures) become their plain
        // forms and invisible characters go, so `１２３ＡＢＣ０２` or `123\u{200B}ABC02`
        // cannot slip past.
        let normalized: String = text.nfkc().filter(|c| !is_invisible(*c)).collect();
        let text = normalized.as_str();
        let folded = fold_lenient(text);
        let lower = text.to_lowercase();
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let own = self.codes.iter().any(|c| folded.contains(c.as_str()))
            || self.phones.iter().any(|p| digits.contains(p.as_str()))
            || self.emails.iter().any(|e| lower.contains(e.as_str()))
            || self.name_words.iter().any(|w| lower.contains(w.as_str()))
            || self.texts.iter().any(|t| folded.contains(t.as_str()))
            || self.holds_past_value(&folded, &digits, &lower);
        if own {
            return Some(Hit::OwnData);
        }
        if looks_like_email(text) {
            return Some(Hit::Email);
        }
        if let Some(hit) = digit_runs(text).into_iter().find_map(classify_digits) {
            return Some(hit);
        }
        if contains_plate(&folded) {
            return Some(Hit::Plate);
        }
        None
    }
}

/// Every run of `len` characters of `text`.
fn windows(text: &str, len: usize) -> impl Iterator<Item = &str> {
    let starts: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    (0..starts.len().saturating_sub(len)).map(move |i| &text[starts[i]..starts[i + len]])
}

/// Invisible formatting characters (Unicode category Cf and the like) that could split a
/// value without changing how it reads.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}')
}

fn looks_like_email(text: &str) -> bool {
    text.char_indices().any(|(i, c)| {
        c == '@'
            && text[..i]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
            && text[i + 1..].split_once('.').is_some_and(|(host, rest)| {
                !host.is_empty() && rest.chars().next().is_some_and(char::is_alphanumeric)
            })
    })
}

/// Runs of digits, joined across the separators people type inside numbers.
fn digit_runs(text: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            current.push(c);
        } else if matches!(c, ' ' | '-' | '(' | ')' | '.' | '+' | '\u{00A0}') && !current.is_empty()
        {
            continue;
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

fn classify_digits(run: String) -> Option<Hit> {
    let b = run.as_bytes();
    match b.len() {
        11 if matches!(b[0], b'7' | b'8') => Some(Hit::Phone),
        10 if b[0] == b'7' => Some(Hit::Phone),
        12 if iin_checksum_ok(b) => Some(Hit::Iin),
        _ => None,
    }
}

/// The IIN check digit: weights 1..11 mod 11; if 10, weights 3..11,1,2; if 10 again, invalid.
fn iin_checksum_ok(digits: &[u8]) -> bool {
    let d: Vec<u32> = digits.iter().map(|b| u32::from(b - b'0')).collect();
    let sum = |weights: &[u32]| d[..11].iter().zip(weights).map(|(x, w)| x * w).sum::<u32>() % 11;
    let mut check = sum(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    if check == 10 {
        check = sum(&[3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]);
        if check == 10 {
            return false;
        }
    }
    check == d[11]
}

/// Whether the folded text contains a plate of either format.
fn contains_plate(folded: &str) -> bool {
    let b = folded.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let letter = |i: usize| b.get(i).is_some_and(u8::is_ascii_uppercase);
    (0..b.len()).any(|i| {
        let current = (i..i + 3).all(digit)
            && (i + 3..i + 6).all(letter)
            && digit(i + 6)
            && digit(i + 7)
            && matches!((b[i + 6] - b'0') * 10 + (b[i + 7] - b'0'), 1..=20);
        let legacy = letter(i) && (i + 1..i + 4).all(digit) && (i + 4..i + 6).all(letter);
        current || legacy
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Firewall {
        Firewall::new(&PersonalValues {
            phone: Some("+77012345678".into()),
            email: Some("aigerim@mail.kz".into()),
            full_name: Some("Айгерим Сапарова".into()),
            plates: vec!["123ABC02".into()],
            document_numbers: vec!["DL88112233".into()],
            free_texts: vec!["Work Sprinter".into()],
            past: None,
        })
    }

    #[test]
    fn windows_cover_every_run_of_characters() {
        assert_eq!(windows("абв1", 2).collect::<Vec<_>>(), ["аб", "бв", "в1"]);
        assert_eq!(windows("ab", 3).count(), 0);
        assert_eq!(windows("ab", 2).collect::<Vec<_>>(), ["ab"]);
    }

    #[test]
    fn the_users_own_plate_typed_differently_is_stopped() {
        let fw = user();
        for text in ["123 авс 02", "plate_123-ABC-02", "x123abc02y", "123 АВС 02"] {
            assert_eq!(fw.check(text), Some(Hit::OwnData), "{text}");
        }
    }

    #[test]
    fn own_phone_email_name_and_document_are_stopped() {
        let fw = user();
        for text in [
            "call 701 234 56 78",
            "AIGERIM@MAIL.KZ",
            "hello_сапарова",
            "dl-8811-2233",
        ] {
            assert_eq!(fw.check(text), Some(Hit::OwnData), "{text}");
        }
    }

    #[test]
    fn generic_patterns_are_stopped() {
        let fw = Firewall::default();
        assert_eq!(fw.check("someone@example.com"), Some(Hit::Email));
        assert_eq!(fw.check("+7 (705) 111-22-33"), Some(Hit::Phone));
        assert_eq!(fw.check("8 705 111 22 33"), Some(Hit::Phone));
        assert_eq!(fw.check("777 КZХ 01"), Some(Hit::Plate));
        assert_eq!(fw.check("A123BCD"), Some(Hit::Plate));
        // A valid IIN (check digit computed with the weights above).
        assert_eq!(fw.check("iin 900101300017"), Some(Hit::Iin));
    }

    #[test]
    fn ordinary_telemetry_passes() {
        let fw = user();
        for text in [
            "parking_map",
            "payment_timeout",
            "Pixel 8",
            "Android",
            "15",
            "kk-KZ",
            "4.2.0 (421)",
            "1795535330",
            "http_503",
        ] {
            assert_eq!(fw.check(text), None, "{text}");
        }
    }

    #[test]
    fn full_width_and_invisible_characters_do_not_hide_a_value() {
        let fw = user();
        for text in [
            "１２３ＡＢＣ０２",
            "123\u{200B}ABC\u{00AD}02",
            "Сапа\u{200D}рова",
            "dl\u{2060}88112233",
        ] {
            assert_eq!(fw.check(text), Some(Hit::OwnData), "{text:?}");
        }
        assert_eq!(
            Firewall::default().check("７７７ＫＺＸ０１"),
            Some(Hit::Plate)
        );
    }

    #[test]
    fn an_unavailable_firewall_fails_closed() {
        assert_eq!(
            Firewall::unavailable().check("parking_map"),
            Some(Hit::Unavailable)
        );
    }

    #[test]
    fn iin_checksum() {
        assert!(iin_checksum_ok(b"900101300017"));
        assert!(!iin_checksum_ok(b"900101300018"));
    }
}
