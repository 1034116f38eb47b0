//! The regions named on Kazakhstan plates, for display: the 2012 codes `01`-`20` and the
//! 1993 region letters. Source: the Wikipedia article "Vehicle registration plates of
//! Kazakhstan" (codes 17 Shymkent since 2018; 18 Abai, 19 Jetisu and 20 Ulytau since 2022),
//! with the regions' official names in Kazakh, Russian and English.

/// One region: its name in Kazakh, Russian and English.
pub(crate) struct RegionNames {
    pub kk: &'static str,
    pub ru: &'static str,
    pub en: &'static str,
}

const fn names(kk: &'static str, ru: &'static str, en: &'static str) -> RegionNames {
    RegionNames { kk, ru, en }
}

/// The 2012 region codes, `01` first.
const CODES: [RegionNames; 20] = [
    names("Астана", "Астана", "Astana"),
    names("Алматы", "Алматы", "Almaty"),
    names("Ақмола облысы", "Акмолинская область", "Akmola Region"),
    names("Ақтөбе облысы", "Актюбинская область", "Aktobe Region"),
    names("Алматы облысы", "Алматинская область", "Almaty Region"),
    names("Атырау облысы", "Атырауская область", "Atyrau Region"),
    names(
        "Батыс Қазақстан облысы",
        "Западно-Казахстанская область",
        "West Kazakhstan Region",
    ),
    names("Жамбыл облысы", "Жамбылская область", "Jambyl Region"),
    names(
        "Қарағанды облысы",
        "Карагандинская область",
        "Karaganda Region",
    ),
    names("Қостанай облысы", "Костанайская область", "Kostanay Region"),
    names(
        "Қызылорда облысы",
        "Кызылординская область",
        "Kyzylorda Region",
    ),
    names(
        "Маңғыстау облысы",
        "Мангистауская область",
        "Mangystau Region",
    ),
    names(
        "Түркістан облысы",
        "Туркестанская область",
        "Turkistan Region",
    ),
    names("Павлодар облысы", "Павлодарская область", "Pavlodar Region"),
    names(
        "Солтүстік Қазақстан облысы",
        "Северо-Казахстанская область",
        "North Kazakhstan Region",
    ),
    names(
        "Шығыс Қазақстан облысы",
        "Восточно-Казахстанская область",
        "East Kazakhstan Region",
    ),
    names("Шымкент", "Шымкент", "Shymkent"),
    names("Абай облысы", "Абайская область", "Abai Region"),
    names("Жетісу облысы", "Жетысуская область", "Jetisu Region"),
    names("Ұлытау облысы", "Улытауская область", "Ulytau Region"),
];

/// The 1993 region letters and the 2012 code of the same region. `O` and `W` were each
/// used by two regions, so they name none.
const LETTERS: [(char, u8); 17] = [
    ('Z', 1),
    ('A', 2),
    ('C', 3),
    ('D', 4),
    ('B', 5),
    ('V', 5),
    ('E', 6),
    ('L', 7),
    ('H', 8),
    ('K', 9),
    ('M', 9),
    ('P', 10),
    ('N', 11),
    ('R', 12),
    ('X', 13),
    ('S', 14),
    ('T', 15),
];

/// The region a plate names: a 2012 code (`"02"`) or a 1993 letter (`"A"`, also `F` and
/// `U`, East Kazakhstan).
pub(crate) fn region_names(region: &str) -> Option<&'static RegionNames> {
    if region.len() == 2 && region.bytes().all(|b| b.is_ascii_digit()) {
        let n: usize = region.parse().ok()?;
        return CODES.get(n.checked_sub(1)?);
    }
    let mut chars = region.chars();
    let (Some(letter), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let code = match letter.to_ascii_uppercase() {
        'F' | 'U' => 16,
        l => LETTERS.iter().find(|(c, _)| *c == l)?.1,
    };
    CODES.get(usize::from(code) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_three_names_and_the_new_regions_are_there() {
        for n in 1..=20 {
            let r = region_names(&format!("{n:02}")).unwrap();
            assert!(!r.kk.is_empty() && !r.ru.is_empty() && !r.en.is_empty());
        }
        assert_eq!(region_names("17").unwrap().en, "Shymkent");
        assert_eq!(region_names("18").unwrap().kk, "Абай облысы");
        assert_eq!(region_names("19").unwrap().ru, "Жетысуская область");
        assert_eq!(region_names("20").unwrap().en, "Ulytau Region");
        for bad in ["00", "21", "2", "002", "", "AB", "O", "W", "G"] {
            assert!(region_names(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_1993_letter_names_the_region_of_its_2012_code() {
        assert_eq!(region_names("A").unwrap().en, "Almaty");
        assert_eq!(region_names("Z").unwrap().en, "Astana");
        assert_eq!(region_names("U").unwrap().en, "East Kazakhstan Region");
        assert_eq!(region_names("x").unwrap().en, "Turkistan Region");
    }
}
