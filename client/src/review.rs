//! The review (审核) a parent gave this child's latest report version:
//! `GET /api/v1/campaigns/{id}/reports/{org}/review`, readable only with the child's own certificate.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::{Error, Parent, chain, problem_detail};

/// The parent's answer: `state` is `pending`, `accepted` or `returned`; `reason` says why a version
/// was returned; `at` is when it was decided (RFC 3339), null while pending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewSpec {
    pub campaign: String,
    pub org: String,
    pub version: u32,
    pub state: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub at: Option<String>,
}

impl Parent {
    /// The review of `org`'s latest version on `campaign`; `None` when the parent holds no report of
    /// it (404), e.g. before the first push arrives.
    pub async fn review(&self, campaign: &str, org: &str) -> Result<Option<ReviewSpec>, Error> {
        let url = format!(
            "{}/api/v1/campaigns/{campaign}/reports/{org}/review",
            self.base
        );
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| Error::Unreachable {
                url: url.clone(),
                detail: chain(&e),
            })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Error::Unreachable {
            url: url.clone(),
            detail: chain(&e),
        })?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Error::Review {
                status: status.as_u16(),
                detail: problem_detail(&text),
            });
        }
        let spec = serde_json::from_str(&text).map_err(|e| Error::Review {
            status: status.as_u16(),
            detail: format!("unreadable review: {e}"),
        })?;
        Ok(Some(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_review_has_no_reason_and_no_time() {
        let r: ReviewSpec = serde_json::from_str(r#"{"campaign":"sn","org":"H01","version":2,"state":"pending","reason":null,"at":null}"#).unwrap();
        assert_eq!(
            (r.version, r.state.as_str(), r.reason, r.at),
            (2, "pending", None, None)
        );
    }
}
