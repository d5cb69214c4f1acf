//! Review (审核, seed 000: the prefecture "检查核准"s what its counties report): the state a parent
//! gives each version of a child's report, as the wire and the rollup carry it
//! (`GET /api/v1/campaigns/{id}/reports/{org}/review`, readable only with the child's own certificate).

use serde::{Deserialize, Serialize};

use super::{CampaignId, Version};
use crate::org::OrgCode;

/// Where one version of a child's report stands with its parent's reviewers. A version nobody has
/// reviewed yet is pending; a newer version from the child starts pending again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewState {
    /// 待审核: received, not yet checked.
    Pending,
    /// 已核准: checked and approved.
    Accepted,
    /// 已退回: sent back to the child with a reason, to correct and send again.
    Returned,
}

impl ReviewState {
    /// The word stored and sent (`pending`, `accepted`, `returned`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Pending => "pending",
            ReviewState::Accepted => "accepted",
            ReviewState::Returned => "returned",
        }
    }

    /// The word a person reads (待审核, 已核准, 已退回).
    pub fn label(self) -> &'static str {
        match self {
            ReviewState::Pending => "待审核",
            ReviewState::Accepted => "已核准",
            ReviewState::Returned => "已退回",
        }
    }

    /// Reads a stored word back.
    pub fn parse(s: &str) -> Option<ReviewState> {
        match s {
            "pending" => Some(ReviewState::Pending),
            "accepted" => Some(ReviewState::Accepted),
            "returned" => Some(ReviewState::Returned),
            _ => None,
        }
    }
}

impl std::fmt::Display for ReviewState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The review a version got, as it travels up with a hub's report (`Report::reviews`) and appears
/// on a rollup's child entries. The reason stays at the level that wrote it: it is free text, and
/// free text does not go up (DESIGN.md, "Privacy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewMark {
    pub version: Version,
    pub state: ReviewState,
}

/// The review of one version of a child's report, as served to the child:
/// `{campaign, org, version, state, reason, at}` (`at`: when decided, RFC 3339; null while pending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub campaign: CampaignId,
    pub org: OrgCode,
    pub version: Version,
    pub state: ReviewState,
    /// Why a version was returned: free text for the child, never sent further up.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub at: Option<String>,
}

impl Review {
    /// What goes up and onto rollups: the version and its state, without the reason.
    pub fn mark(&self) -> ReviewMark {
        ReviewMark {
            version: self.version,
            state: self.state,
        }
    }

    /// The state as a person reads it: `已核准 accepted`.
    pub fn label(&self) -> String {
        format!("{} {}", self.state.label(), self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_travel_as_lowercase_words() {
        for s in [
            ReviewState::Pending,
            ReviewState::Accepted,
            ReviewState::Returned,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(ReviewState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ReviewState::parse("approved"), None);
    }

    #[test]
    fn a_pending_review_has_no_reason_and_no_time() {
        let r: Review = serde_json::from_str(r#"{"campaign":"sn","org":"H01","version":2,"state":"pending","reason":null,"at":null}"#).unwrap();
        assert_eq!(
            (r.version, r.state.as_str(), r.reason, r.at),
            (Version::new(2), "pending", None, None)
        );
    }
}
