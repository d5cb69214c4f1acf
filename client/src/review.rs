//! The review (审核) a parent gave this child's latest report version:
//! `GET /api/v1/campaigns/{id}/reports/{org}/review`, readable only with the child's own certificate.

use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, Problem, Review, paths};
use reqwest::StatusCode;

use crate::{Error, Parent, chain};

impl Parent {
    /// The review of `org`'s latest version on `campaign`; `None` when the parent holds no report of
    /// it (404), e.g. before the first push arrives.
    pub async fn review(
        &self,
        campaign: &CampaignId,
        org: &OrgCode,
    ) -> Result<Option<Review>, Error> {
        let url = format!("{}{}", self.base, paths::review(campaign, org));
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
                detail: Problem::detail_of(&text),
            });
        }
        let review = serde_json::from_str(&text).map_err(|e| Error::Review {
            status: status.as_u16(),
            detail: format!("unreadable review: {e}"),
        })?;
        Ok(Some(review))
    }
}
