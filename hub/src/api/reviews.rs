//! `GET /api/v1/campaigns/{id}/reports/{org}/review`: a child reads the review of its own latest
//! version; any other certificate is refused (403) before anything about the campaign or the org is
//! revealed.

use axum::Json;
use axum::extract::{Path, State};
use bangfu_shared::protocol::{CampaignId, Review};

use super::ApiState;
use super::extract::PeerOrg;
use crate::error::Error;
use crate::{registry, review};

pub async fn get(
    State(state): State<ApiState>,
    PeerOrg(peer): PeerOrg,
    Path((id, org)): Path<(String, String)>,
) -> Result<Json<Review>, Error> {
    if peer.as_str() != org {
        return Err(Error::Forbidden(format!(
            "the certificate is {peer}'s; only {org} reads {org}'s review"
        )));
    }
    let store = &state.hub.store;
    if !registry::is_registered(store, &peer).await? {
        return Err(review::Error::NotAChild(peer).into());
    }
    let id = CampaignId::parse(&id).map_err(|e| Error::NotFound(e.to_string()))?;
    match review::current(store, &id, &peer).await? {
        Some(r) => Ok(Json(r)),
        None => Err(Error::NotFound(format!(
            "no report from {peer} on campaign `{id}` is held"
        ))),
    }
}
