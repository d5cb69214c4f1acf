//! Exact decimal cell values: counts are integers, money is 万元 with a fixed number of places.
//!
//! Money must add up exactly in the table rules (seed 001 附件1, 5(A) = 5(B)+…+5(F)), so a value is an
//! integer count of the cell's smallest unit, never a float. On the wire it is a plain JSON number.

use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value with `scale` decimal places: `units × 10^-scale`.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    units: i64,
    scale: u8,
}

/// A number that is not a decimal bangfu can carry exactly.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a number with at most 9 decimal places / 不是有效数字")]
pub struct DecimalError(pub String);

const POW10: [i64; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

impl Decimal {
    /// `units × 10^-scale`; scale is at most 9.
    pub fn new(units: i64, scale: u8) -> Decimal {
        assert!(scale <= 9, "decimal scale {scale} above 9");
        Decimal { units, scale }
    }

    /// A whole number (a count).
    pub fn integer(n: i64) -> Decimal {
        Decimal { units: n, scale: 0 }
    }

    pub fn units(self) -> i64 {
        self.units
    }

    pub fn scale(self) -> u8 {
        self.scale
    }

    pub fn is_zero(self) -> bool {
        self.units == 0
    }

    /// The same value with `scale` places, rounding half away from zero when places are dropped.
    pub fn rescale(self, scale: u8) -> Decimal {
        match scale.cmp(&self.scale) {
            Ordering::Equal => self,
            Ordering::Greater => {
                Decimal::new(self.units * POW10[(scale - self.scale) as usize], scale)
            }
            Ordering::Less => Decimal::new(
                div_round(self.units, POW10[(self.scale - scale) as usize]),
                scale,
            ),
        }
    }

    /// Whether rescaling to `scale` places keeps the value exactly.
    pub fn fits_scale(self, scale: u8) -> bool {
        self.rescale(scale).rescale(self.scale).units == self.units
    }

    pub fn to_f64(self) -> f64 {
        self.units as f64 / POW10[self.scale as usize] as f64
    }

    /// Reads `12`, `-3`, `0.35`.
    pub fn parse(raw: &str) -> Result<Decimal, DecimalError> {
        let bad = || DecimalError(raw.to_string());
        let s = raw.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 9 || int.len() > 15 {
            return Err(bad());
        }
        let digits = format!("{int}{frac}");
        let units: i64 = digits.parse().map_err(|_| bad())?;
        Ok(Decimal::new(
            if neg { -units } else { units },
            frac.len() as u8,
        ))
    }
}

/// The sum of two values, at the larger scale.
impl std::ops::Add for Decimal {
    type Output = Decimal;
    fn add(self, other: Decimal) -> Decimal {
        let s = self.scale.max(other.scale);
        Decimal::new(self.rescale(s).units + other.rescale(s).units, s)
    }
}

/// Integer division rounding half away from zero.
pub(crate) fn div_round(n: i64, d: i64) -> i64 {
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d { q + n.signum() } else { q }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Decimal {}
impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let s = self.scale.max(other.scale);
        (self.rescale(s).units as i128).cmp(&(other.rescale(s).units as i128))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.units);
        }
        let p = POW10[self.scale as usize];
        let sign = if self.units < 0 { "-" } else { "" };
        let a = self.units.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:0width$}",
            a / p as u64,
            a % p as u64,
            width = self.scale as usize
        )
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.scale == 0 {
            s.serialize_i64(self.units)
        } else {
            // The shortest float that reads back as this decimal prints as the decimal itself
            // (values below 10^15 units, far beyond any county's 万元).
            s.serialize_f64(self.to_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal::integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                i64::try_from(v).map(Decimal::integer).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                Decimal::parse(&format!("{v}")).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Decimal::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_round_trips_through_json_exactly() {
        let d = Decimal::new(1235, 2);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, "12.35");
        assert_eq!(serde_json::from_str::<Decimal>(&json).unwrap(), d);
        assert_eq!(serde_json::to_string(&Decimal::integer(7)).unwrap(), "7");
    }

    #[test]
    fn rescaling_rounds_half_away_from_zero() {
        assert_eq!(Decimal::new(12_345, 4).rescale(2).units(), 123);
        assert_eq!(Decimal::new(12_350, 4).rescale(2).units(), 124);
        assert_eq!(Decimal::new(-12_350, 4).rescale(2).units(), -124);
        assert_eq!(Decimal::parse("0.10").unwrap(), Decimal::new(1, 1));
        assert_eq!(Decimal::new(5, 2).to_string(), "0.05");
    }
}
