//! 职工编号: one capital letter and seven digits, `H0100001` = province-assigned prefecture code `H`,
//! county `01`, household sequence `00001` (seed 002 填表说明 1). A node's numbers begin with its own
//! org code.

use bangfu_shared::org::OrgCode;

use crate::rules::{Rule, Violation};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StaffNo(String);

impl StaffNo {
    /// Parses a number and checks that it belongs to `org`.
    pub fn parse(raw: &str, org: &OrgCode) -> Result<StaffNo, Violation> {
        let text = raw.trim();
        let b = text.as_bytes();
        if b.len() != 8 || !b[0].is_ascii_uppercase() || !b[1..].iter().all(u8::is_ascii_digit) {
            return Err(Violation::new(Rule::StaffNoFormat));
        }
        if !text.starts_with(org.as_str()) {
            return Err(Violation::with(
                Rule::StaffNoOrg,
                format!("this node is {org}"),
            ));
        }
        Ok(StaffNo(text.to_string()))
    }

    /// The number of the `seq`-th household of `org` (1-based); `None` past the org's capacity.
    pub fn nth(org: &OrgCode, seq: u64) -> Option<StaffNo> {
        let width = 8 - org.as_str().len();
        if seq == 0 || seq > org.staff_number_capacity() {
            return None;
        }
        Some(StaffNo(format!("{org}{seq:0width$}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_of_this_county_parses() {
        let org = OrgCode::parse("H01").unwrap();
        assert_eq!(
            StaffNo::parse("H0100001", &org).unwrap().as_str(),
            "H0100001"
        );
        assert_eq!(StaffNo::nth(&org, 1).unwrap().as_str(), "H0100001");
        assert!(StaffNo::nth(&org, 100_000).is_none());
    }

    #[test]
    fn another_countys_number_is_refused() {
        let org = OrgCode::parse("H01").unwrap();
        assert_eq!(
            StaffNo::parse("H0200001", &org).unwrap_err().rule,
            Rule::StaffNoOrg
        );
        assert_eq!(
            StaffNo::parse("h0100001", &org).unwrap_err().rule,
            Rule::StaffNoFormat
        );
        assert_eq!(
            StaffNo::parse("H010001", &org).unwrap_err().rule,
            Rule::StaffNoFormat
        );
    }
}
