//! 身份证号: the resident identity number, GB 11643-1999 (18 characters with a check character)
//! or the legacy 15-digit number (seed 004 填表说明 3: "必须是15位或18位").

use chrono::NaiveDate;

use crate::rules::{Rule, Violation};

/// Weights of the 17 leading digits in the ISO 7064 MOD 11-2 check (GB 11643-1999 §8.2).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character by remainder.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// A known-good identity number. Always stored upper-case (a trailing `x` becomes `X`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdNumber {
    text: String,
    birth: NaiveDate,
    male: bool,
}

impl IdNumber {
    /// Parses and checks a number; `today` bounds the birth date.
    pub fn parse(raw: &str, today: NaiveDate) -> Result<IdNumber, Violation> {
        let text = raw.trim().to_ascii_uppercase();
        let b = text.as_bytes();
        let (birth, sex_digit) = match b.len() {
            18 => {
                if !b[..17].iter().all(u8::is_ascii_digit)
                    || !(b[17].is_ascii_digit() || b[17] == b'X')
                {
                    return Err(Violation::new(Rule::IdCharacters));
                }
                let birth = date_of(&text[6..10], &text[10..12], &text[12..14])?;
                let expected = check_char(&b[..17]);
                if b[17] != expected {
                    return Err(Violation::with(
                        Rule::IdCheckChar,
                        format!("expected {}", expected as char),
                    ));
                }
                (birth, b[16] - b'0')
            }
            15 => {
                if !b.iter().all(u8::is_ascii_digit) {
                    return Err(Violation::new(Rule::IdCharacters));
                }
                let year = format!("19{}", &text[6..8]);
                (date_of(&year, &text[8..10], &text[10..12])?, b[14] - b'0')
            }
            n => return Err(Violation::with(Rule::IdLength, format!("{n} characters"))),
        };
        if birth > today {
            return Err(Violation::with(
                Rule::IdBirthDate,
                format!("birth date {birth} is in the future"),
            ));
        }
        Ok(IdNumber {
            text,
            birth,
            male: sex_digit % 2 == 1,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth
    }

    /// The sex the number encodes: odd sequence digit is male (GB 11643-1999 §7.3).
    pub fn is_male(&self) -> bool {
        self.male
    }

    /// The sex as the archive writes it.
    pub fn sex(&self) -> &'static str {
        if self.male { "男" } else { "女" }
    }
}

/// The GB 11643-1999 check character of 17 leading digits.
pub fn check_char(digits17: &[u8]) -> u8 {
    let sum: u32 = digits17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn date_of(year: &str, month: &str, day: &str) -> Result<NaiveDate, Violation> {
    let parsed = (
        year.parse::<i32>(),
        month.parse::<u32>(),
        day.parse::<u32>(),
    );
    if let (Ok(y), Ok(m), Ok(d)) = parsed
        && y >= 1900
        && let Some(date) = NaiveDate::from_ymd_opt(y, m, d)
    {
        return Ok(date);
    }
    Err(Violation::with(
        Rule::IdBirthDate,
        format!("{year}-{month}-{day} is not a real date"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    /// The worked example of GB 11643-1999 appendix A.
    #[test]
    fn the_standards_example_is_accepted() {
        let id = IdNumber::parse("11010519491231002X", today()).unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert!(!id.is_male());
    }

    #[test]
    fn a_lower_case_x_is_read_as_upper_case() {
        assert_eq!(
            IdNumber::parse("11010519491231002x", today())
                .unwrap()
                .as_str(),
            "11010519491231002X"
        );
    }

    #[test]
    fn a_wrong_check_character_is_refused() {
        let v = IdNumber::parse("110105194912310021", today()).unwrap_err();
        assert_eq!(v.rule, Rule::IdCheckChar);
    }

    #[test]
    fn an_impossible_birth_date_is_refused() {
        let mut digits = *b"11010519490230002";
        let check = check_char(&digits);
        let mut text = String::from_utf8(digits.to_vec()).unwrap();
        text.push(check as char);
        assert_eq!(
            IdNumber::parse(&text, today()).unwrap_err().rule,
            Rule::IdBirthDate
        );
        digits[6..10].copy_from_slice(b"2030");
        let mut future = String::from_utf8(digits.to_vec()).unwrap();
        future.truncate(17);
        future.push(check_char(future.as_bytes()) as char);
        assert_eq!(
            IdNumber::parse(&future, today()).unwrap_err().rule,
            Rule::IdBirthDate
        );
    }

    #[test]
    fn a_fifteen_digit_number_needs_a_real_date() {
        let id = IdNumber::parse("110105491231002", today()).unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(
            IdNumber::parse("110105491331002", today())
                .unwrap_err()
                .rule,
            Rule::IdBirthDate
        );
    }

    #[test]
    fn other_lengths_and_characters_are_refused() {
        assert_eq!(
            IdNumber::parse("1101051949", today()).unwrap_err().rule,
            Rule::IdLength
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Y", today())
                .unwrap_err()
                .rule,
            Rule::IdCharacters
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// An 18-character number with a real birth date and its correct check character.
        fn valid_id() -> impl Strategy<Value = String> {
            (
                100_000u32..=999_999,
                1900i32..=2026,
                1u32..=12,
                1u32..=31,
                0u32..=999,
            )
                .prop_filter_map("a real, past date", |(area, y, m, d, seq)| {
                    let date = NaiveDate::from_ymd_opt(y, m, d)?;
                    (date <= today()).then(|| {
                        let body = format!("{area}{}{seq:03}", date.format("%Y%m%d"));
                        let check = check_char(body.as_bytes()) as char;
                        format!("{body}{check}")
                    })
                })
        }

        proptest! {
            #[test]
            fn no_valid_id_number_is_rejected(id in valid_id()) {
                let parsed = IdNumber::parse(&id, today());
                prop_assert!(parsed.is_ok(), "{id}: {parsed:?}");
                let male = (id.as_bytes()[16] - b'0') % 2 == 1;
                prop_assert_eq!(parsed.unwrap().is_male(), male);
            }

            #[test]
            fn no_corrupted_check_character_is_accepted(id in valid_id(), pick in 0usize..10) {
                let right = id.as_bytes()[17];
                let wrong = b"0123456789X".iter().copied().filter(|c| *c != right).nth(pick).unwrap();
                let mut corrupted = id.clone().into_bytes();
                corrupted[17] = wrong;
                let corrupted = String::from_utf8(corrupted).unwrap();
                prop_assert_eq!(IdNumber::parse(&corrupted, today()).unwrap_err().rule, Rule::IdCheckChar);
            }

            #[test]
            fn any_single_digit_change_in_the_body_is_caught(id in valid_id(), pos in 0usize..17, delta in 1u8..10) {
                let mut changed = id.clone().into_bytes();
                changed[pos] = b'0' + (changed[pos] - b'0' + delta) % 10;
                let changed = String::from_utf8(changed).unwrap();
                // ISO 7064 MOD 11-2 catches every single-digit error: the number is refused, by its
                // check character or, where the change broke the birth date, by that.
                prop_assert!(IdNumber::parse(&changed, today()).is_err(), "{changed}");
            }
        }
    }
}
