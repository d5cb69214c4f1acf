//! The identifiers the protocol carries, parsed where they enter (a command line, a URL, a body)
//! so that everything past that point holds a known-good value: a campaign id that can stand in a
//! URL path, a version that is at least 1, a content hash that is SHA-256 hex.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Why a raw value is not an id; says which kind of id and what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A campaign id must be 1–64 ASCII letters, digits, `-`, `_` or `.`, not starting with `.`.
    #[error(
        "`{0}` is not a campaign id (1 to 64 letters, digits, '-', '_' or '.', e.g. 2026-songnuan) / 填报任务编号格式错误"
    )]
    Campaign(String),
    /// Versions start at 1 and fit in 32 bits.
    #[error("`{0}` is not a report version (a whole number from 1) / 版本号错误")]
    Version(String),
    /// A content hash is 64 lowercase hexadecimal characters.
    #[error("`{0}` is not a SHA-256 content hash (64 lowercase hex characters) / 摘要格式错误")]
    Hash(String),
}

/// A campaign's id (填报任务编号), as the province chose it: safe in a URL path segment, a file
/// name and a log line, so it never needs escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CampaignId(String);

/// The longest campaign id accepted.
pub const MAX_CAMPAIGN_ID: usize = 64;

impl CampaignId {
    pub fn parse(raw: &str) -> Result<CampaignId, IdError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_CAMPAIGN_ID
            && !raw.starts_with('.')
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(CampaignId(raw.to_string()))
        } else {
            Err(IdError::Campaign(raw.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CampaignId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CampaignId::parse(s)
    }
}

impl TryFrom<String> for CampaignId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CampaignId::parse(&s)
    }
}

impl From<CampaignId> for String {
    fn from(c: CampaignId) -> String {
        c.0
    }
}

impl AsRef<str> for CampaignId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for CampaignId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CampaignId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A report version: (org, campaign, version) names one report for good. Numbered from 1; stored as
/// a 64-bit integer in both databases ([`Version::to_db`], [`Version::from_db`]), carried as a
/// plain JSON number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Version(u32);

impl Version {
    /// The first version of anything.
    pub const FIRST: Version = Version(1);

    pub const fn new(n: u32) -> Version {
        Version(n)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The version after this one.
    pub fn next(self) -> Version {
        Version(self.0.saturating_add(1))
    }

    /// The column value both stores use (BIGINT / INTEGER).
    pub fn to_db(self) -> i64 {
        i64::from(self.0)
    }

    /// A stored version back; a value out of range means a hand-edited row.
    pub fn from_db(raw: i64) -> Result<Version, IdError> {
        u32::try_from(raw)
            .map(Version)
            .map_err(|_| IdError::Version(raw.to_string()))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Version {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(Version(n)),
            _ => Err(IdError::Version(s.to_string())),
        }
    }
}

impl From<u32> for Version {
    fn from(n: u32) -> Version {
        Version(n)
    }
}

/// The lowercase hex SHA-256 of a report's bytes as sent: with (org, campaign, version) it is a
/// version's identity, so a resend is recognised and a changed body under an old number is not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(String);

impl ContentHash {
    /// The hash of `body`.
    pub fn of(body: &[u8]) -> ContentHash {
        ContentHash(hex::encode(Sha256::digest(body)))
    }

    pub fn parse(raw: &str) -> Result<ContentHash, IdError> {
        let ok = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(ContentHash(raw.to_string()))
        } else {
            Err(IdError::Hash(raw.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ContentHash {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ContentHash::parse(&s)
    }
}

impl From<ContentHash> for String {
    fn from(h: ContentHash) -> String {
        h.0
    }
}

impl PartialEq<str> for ContentHash {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_ids_are_url_safe_words() {
        for good in ["sn", "2026-songnuan", "dangan_2026", "v1.2", "A"] {
            assert_eq!(CampaignId::parse(good).unwrap().as_str(), good);
        }
        let long = "x".repeat(MAX_CAMPAIGN_ID + 1);
        for bad in [
            "",
            "x7\\",
            "a/b",
            "..",
            ".hidden",
            "送温暖",
            "a b",
            "a?b",
            &long,
        ] {
            let e = CampaignId::parse(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
        }
        assert!(serde_json::from_str::<CampaignId>("\"x7\\\\\"").is_err());
    }

    #[test]
    fn versions_start_at_one_and_round_trip_through_the_database() {
        assert_eq!("3".parse::<Version>().unwrap(), Version::new(3));
        assert!("0".parse::<Version>().is_err() && "-1".parse::<Version>().is_err());
        assert_eq!(
            Version::from_db(Version::new(7).to_db()).unwrap(),
            Version::new(7)
        );
        assert!(Version::from_db(-1).is_err() && Version::from_db(1 << 40).is_err());
        assert_eq!(serde_json::to_string(&Version::new(2)).unwrap(), "2");
    }

    #[test]
    fn the_hash_is_lowercase_hex_sha256_of_the_bytes() {
        let h = ContentHash::of(b"abc");
        assert_eq!(
            h.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ContentHash::parse(h.as_str()).unwrap(), h);
        assert!(ContentHash::parse("AB").is_err());
    }
}
