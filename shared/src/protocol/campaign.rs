//! Campaigns (填报任务) as they travel down (`GET /api/v1/campaigns`): which table is collected for
//! which period, and by when each level must report.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::CampaignId;
use crate::org::Level;
use crate::template::{self, Template};
use crate::vocabulary::Vocabulary;

/// Due dates per level of the reporting union.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    pub county: NaiveDate,
    pub prefecture: NaiveDate,
    /// The province's own date, when the campaign sets one (a province reports to nobody above it
    /// in this system; the date is for its own people).
    #[serde(default)]
    pub province: Option<NaiveDate>,
}

impl Due {
    /// The due date of a reporting org of `level`; None for a province without a date of its own.
    pub fn for_level(&self, level: Level) -> Option<NaiveDate> {
        match level {
            Level::County => Some(self.county),
            Level::Prefecture => Some(self.prefecture),
            Level::Province => self.province,
        }
    }
}

/// A campaign as the wire carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub template: String,
    pub title: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub due: Due,
    /// The template file's text when it is not a built-in one, so children can load it.
    #[serde(default)]
    pub template_body: Option<String>,
}

impl Campaign {
    /// The campaign's template, from its own text or the built-in set.
    pub fn template(&self) -> Result<Template, template::Error> {
        let v = Vocabulary::builtin();
        match &self.template_body {
            Some(text) => Template::parse(text, &v),
            None => template::builtin(&self.template, &v),
        }
    }
}

/// The body of `GET /api/v1/campaigns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignList {
    pub campaigns: Vec<Campaign>,
    /// The federation CA's revocation list (PEM of an X.509 CRL signed by the CA), passed down with
    /// the campaigns so hubs without the CA and nodes serving pulls refuse revoked certificates. A
    /// receiver keeps it only under the CA's signature and only when newer than its own, so a hub in
    /// the middle can withhold it but not forge or roll it back. Absent from older parents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn each_level_has_its_own_due_date_and_a_province_only_its_own() {
        let mut due = Due {
            county: day("2026-02-05"),
            prefecture: day("2026-02-10"),
            province: None,
        };
        assert_eq!(due.for_level(Level::County), Some(day("2026-02-05")));
        assert_eq!(due.for_level(Level::Prefecture), Some(day("2026-02-10")));
        assert_eq!(due.for_level(Level::Province), None);
        due.province = Some(day("2026-02-20"));
        assert_eq!(due.for_level(Level::Province), Some(day("2026-02-20")));
    }

    #[test]
    fn campaign_lists_parse_with_and_without_a_table_file() {
        let json = r#"{"campaigns":[{"id":"sn","template":"songnuan","title":"送温暖","start":"2026-01-01","end":"2026-02-01",
            "due":{"county":"2026-02-10","prefecture":"2026-02-20","province":null},"template_body":null}]}"#;
        let list: CampaignList = serde_json::from_str(json).unwrap();
        assert_eq!(list.campaigns[0].due.county, day("2026-02-10"));
        assert_eq!(list.campaigns[0].template_body, None);
        let bad = json.replace("\"id\":\"sn\"", "\"id\":\"x7\\\\\"");
        let e = serde_json::from_str::<CampaignList>(&bad).unwrap_err();
        assert!(e.to_string().contains("not a campaign id"), "{e}");
    }
}
