//! Folding of what people type into the canonical alphabet of plates and document
//! numbers: Cyrillic letters that look like Latin ones become Latin, case is folded,
//! spaces and dashes are dropped.

/// Why a character could not be folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FoldError {
    /// A letter or symbol outside Latin A-Z, digits and the Cyrillic look-alikes.
    ForeignCharacter,
}

/// Maps one character to its canonical form: `Some(c)` for a kept character (upper-case
/// Latin letter or ASCII digit), `None` for a separator to drop.
fn fold_char(c: char) -> Result<Option<char>, FoldError> {
    let folded = match c {
        '0'..='9' | 'A'..='Z' => c,
        'a'..='z' => c.to_ascii_uppercase(),
        // Cyrillic capitals and small letters that look like Latin capitals on plates.
        'А' | 'а' => 'A',
        'В' | 'в' => 'B',
        'С' | 'с' => 'C',
        'Е' | 'е' => 'E',
        'Н' | 'н' => 'H',
        'К' | 'к' => 'K',
        'М' | 'м' => 'M',
        'О' | 'о' => 'O',
        'Р' | 'р' => 'P',
        'Т' | 'т' => 'T',
        'Х' | 'х' => 'X',
        'У' | 'у' => 'Y',
        // Separators people type or paste: spaces of every kind, dashes, dots.
        c if c.is_whitespace() => return Ok(None),
        '-' | '‐' | '‑' | '‒' | '–' | '—' | '_' | '.' => return Ok(None),
        _ => return Err(FoldError::ForeignCharacter),
    };
    Ok(Some(folded))
}

/// Folds a whole input string. Stops at the first character that cannot be folded.
pub(crate) fn fold(input: &str) -> Result<String, FoldError> {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if let Some(k) = fold_char(c)? {
            out.push(k);
        }
    }
    Ok(out)
}

/// Folds leniently for matching (the PII firewall): look-alikes mapped, case folded,
/// separators dropped, any other character kept (upper-cased).
pub(crate) fn fold_lenient(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match fold_char(c) {
            Ok(Some(k)) => out.push(k),
            Ok(None) => {}
            Err(_) => out.extend(c.to_uppercase()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrillic_lookalikes_map_to_latin() {
        assert_eq!(fold("АВСЕНКМОРТХУ").unwrap(), "ABCEHKMOPTXY");
        assert_eq!(fold("авсенкмортху").unwrap(), "ABCEHKMOPTXY");
    }

    #[test]
    fn separators_and_case_are_folded() {
        assert_eq!(fold(" 123-abc\u{00A0}02 ").unwrap(), "123ABC02");
        assert_eq!(fold("12.3_4").unwrap(), "1234");
    }

    #[test]
    fn lenient_folding_keeps_other_characters() {
        assert_eq!(fold_lenient("screen_123 авс-02/жук"), "SCREEN123ABC02/ЖYK");
    }

    #[test]
    fn other_letters_are_rejected() {
        assert_eq!(fold("123ЖЖЖ02"), Err(FoldError::ForeignCharacter));
        assert_eq!(fold("12#"), Err(FoldError::ForeignCharacter));
        assert_eq!(fold("ÄBC"), Err(FoldError::ForeignCharacter));
    }
}
