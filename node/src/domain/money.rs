//! Money in 元 as the forms write it, held as whole fen (分) so that sums are exact.

use crate::rules::{Rule, Violation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(pub i64);

impl Fen {
    /// Parses an amount in 元 with at most two decimals; never negative.
    pub fn parse_yuan(raw: &str) -> Result<Fen, Violation> {
        let text = raw.trim().replace(',', "");
        if text.starts_with('-') {
            return Err(Violation::new(Rule::Negative));
        }
        let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits_ok(whole) || !digits_ok(frac) || whole.len() > 13 {
            return Err(Violation::new(Rule::NotANumber));
        }
        // Excel writes 1234.5 as 1234.5000000001 at times: round beyond the second decimal.
        let mut cents: i64 = 0;
        for (i, b) in frac.bytes().take(3).enumerate() {
            let d = i64::from(b - b'0');
            cents += match i {
                0 => d * 10,
                1 => d,
                _ => i64::from(d >= 5),
            };
        }
        let whole: i64 = whole
            .parse()
            .map_err(|_| Violation::new(Rule::NotANumber))?;
        Ok(Fen(whole * 100 + cents))
    }

    /// Written back as the forms write it: `1234`, `1234.5`, `1234.56`.
    pub fn to_yuan_string(self) -> String {
        let (y, f) = (self.0 / 100, self.0 % 100);
        match f {
            0 => y.to_string(),
            f if f % 10 == 0 => format!("{y}.{}", f / 10),
            f => format!("{y}.{f:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_yuan_parse_to_fen() {
        assert_eq!(Fen::parse_yuan("1234").unwrap(), Fen(123_400));
        assert_eq!(Fen::parse_yuan("1,234.5").unwrap(), Fen(123_450));
        assert_eq!(Fen::parse_yuan(" 0.07 ").unwrap(), Fen(7));
        assert_eq!(Fen::parse_yuan("1234.5000000001").unwrap(), Fen(123_450));
    }

    #[test]
    fn negative_and_non_numbers_are_refused() {
        assert_eq!(Fen::parse_yuan("-5").unwrap_err().rule, Rule::Negative);
        assert_eq!(Fen::parse_yuan("五百").unwrap_err().rule, Rule::NotANumber);
        assert_eq!(Fen::parse_yuan("").unwrap_err().rule, Rule::NotANumber);
    }

    #[test]
    fn fen_round_trip_through_yuan_text() {
        for f in [0, 7, 10, 123_400, 123_450, 123_456] {
            assert_eq!(Fen::parse_yuan(&Fen(f).to_yuan_string()).unwrap(), Fen(f));
        }
    }
}
