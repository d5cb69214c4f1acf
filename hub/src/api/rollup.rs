//! `GET /api/v1/campaigns/{id}/rollup`: this hub's rollup, for the hub's own tools and the levels
//! above it; not for its children (docs/decisions.md).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::CampaignId;

use super::ApiState;
use super::extract::PeerOrg;
use crate::error::Error;

pub async fn get(
    State(state): State<ApiState>,
    PeerOrg(reader): PeerOrg,
    Path(id): Path<String>,
) -> Result<Response, Error> {
    let id = CampaignId::parse(&id).map_err(|e| Error::NotFound(e.to_string()))?;
    let hub = &state.hub.config.org;
    if !may_read_rollup(hub, &reader) {
        return Err(Error::Forbidden(format!(
            "{reader} may not read {hub}'s rollup: only {hub} itself and the levels above it may / 无权查看该汇总"
        )));
    }
    Ok(Json(state.hub.rollup(&id).await?).into_response())
}

/// Who may read a hub's rollup over the API: the hub's own identity (its operators' tools) and orgs
/// of the levels above it, which in a province's PKI are this hub's parent and the province. Not its
/// children: a county has no business with its siblings' figures or their review states; it reads
/// its own review at `…/reports/{org}/review` (docs/decisions.md).
fn may_read_rollup(hub: &OrgCode, reader: &OrgCode) -> bool {
    reader == hub || reader.level().is_above(hub.level())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollup_is_read_by_the_hub_itself_and_the_levels_above() {
        let org = |c: &str| OrgCode::parse(c).unwrap();
        assert!(may_read_rollup(&org("H"), &org("H")));
        assert!(may_read_rollup(&org("H"), &org("HB")));
        assert!(!may_read_rollup(&org("H"), &org("H01")), "a child");
        assert!(!may_read_rollup(&org("H"), &org("J")), "another prefecture");
        assert!(may_read_rollup(&org("HB"), &org("HB")));
        assert!(
            !may_read_rollup(&org("HB"), &org("H")),
            "the province has nobody above it"
        );
    }
}
