//! Org codes, following the archive's numbering (seed 002 填表说明 四): a prefecture is one capital
//! letter (`H`, 荆门), a county is that letter and two digits (`H01`, 京山); the province picks its own
//! code of two to eight capital letters at `init` (`HB`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The level of the union hierarchy an org code belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Province,
    Prefecture,
    County,
}

impl Level {
    /// Whether this level is higher in the union's hierarchy than `other` (the province above
    /// prefectures, prefectures above counties).
    pub fn is_above(self, other: Level) -> bool {
        let rank = |l: Level| match l {
            Level::Province => 0,
            Level::Prefecture => 1,
            Level::County => 2,
        };
        rank(self) < rank(other)
    }
}

/// A known-good org code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgCode(String);

/// An org code that follows none of the three shapes.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not an org code (a letter like H, a letter and two digits like H01, or 2-8 letters like HB) / 单位代码格式错误"
)]
pub struct OrgCodeError(pub String);

impl OrgCode {
    pub fn parse(raw: &str) -> Result<OrgCode, OrgCodeError> {
        let b = raw.as_bytes();
        let ok = match b.len() {
            1 => b[0].is_ascii_uppercase(),
            3 if b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit) => true,
            2..=8 => b.iter().all(u8::is_ascii_uppercase),
            _ => false,
        };
        if ok {
            Ok(OrgCode(raw.to_string()))
        } else {
            Err(OrgCodeError(raw.to_string()))
        }
    }

    /// The level the code's shape implies.
    pub fn level(&self) -> Level {
        let b = self.0.as_bytes();
        match b.len() {
            1 => Level::Prefecture,
            3 if b[1].is_ascii_digit() => Level::County,
            _ => Level::Province,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many households a node of this org can number: 职工编号 is the org code followed by a
    /// sequence that fills it out to one letter and seven digits (seed 002 填表说明 1).
    pub fn staff_number_capacity(&self) -> u64 {
        match self.level() {
            Level::Prefecture => 9_999_999,
            Level::County => 99_999,
            Level::Province => 0,
        }
    }
}

impl fmt::Display for OrgCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OrgCode {
    type Err = OrgCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgCode::parse(s)
    }
}

impl TryFrom<String> for OrgCode {
    type Error = OrgCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        OrgCode::parse(&s)
    }
}

impl From<OrgCode> for String {
    fn from(o: OrgCode) -> String {
        o.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_shapes_parse_to_their_levels() {
        assert_eq!(OrgCode::parse("H").unwrap().level(), Level::Prefecture);
        assert_eq!(OrgCode::parse("H01").unwrap().level(), Level::County);
        assert_eq!(OrgCode::parse("HB").unwrap().level(), Level::Province);
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in ["", "h01", "H1", "H001", "H0A", "ABCDEFGHI", "湖北"] {
            assert!(OrgCode::parse(bad).is_err(), "{bad}");
        }
    }
}
