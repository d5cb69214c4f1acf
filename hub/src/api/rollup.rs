//! `GET /api/v1/campaigns/{id}/rollup`: this hub's rollup, for the hub's own tools and its
//! registered parent; not for its children, nor for any other certificate of the CA however
//! province-shaped its code (docs/decisions.md).

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
    let parent = state.hub.config.parent_org();
    if !may_read_rollup(hub, parent.as_ref(), &reader) {
        let above = parent.map_or_else(|| "nobody else".to_string(), |p| format!("its parent {p}"));
        return Err(Error::Forbidden(format!(
            "{reader} may not read {hub}'s rollup: only {hub} itself and {above} may / 无权查看该汇总"
        )));
    }
    Ok(Json(state.hub.rollup(&id).await?).into_response())
}

/// Who may read a hub's rollup over the API: the hub's own identity (its operators' tools) and its
/// registered parent. Not its children (their siblings' figures and review states; a county reads
/// its own review at `…/reports/{org}/review`), and not any code merely shaped like a level above:
/// an unregistered `ZZ` of the same CA is nobody's parent (docs/decisions.md).
fn may_read_rollup(hub: &OrgCode, parent: Option<&OrgCode>, reader: &OrgCode) -> bool {
    reader == hub || Some(reader) == parent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollup_is_read_by_the_hub_itself_and_its_registered_parent() {
        let org = |c: &str| OrgCode::parse(c).unwrap();
        let hb = org("HB");
        assert!(may_read_rollup(&org("H"), Some(&hb), &org("H")));
        assert!(may_read_rollup(&org("H"), Some(&hb), &org("HB")));
        assert!(
            !may_read_rollup(&org("H"), Some(&hb), &org("ZZ")),
            "province-shaped, not the parent"
        );
        assert!(
            !may_read_rollup(&org("H"), Some(&hb), &org("H01")),
            "a child"
        );
        assert!(
            !may_read_rollup(&org("H"), Some(&hb), &org("J")),
            "another prefecture"
        );
        assert!(may_read_rollup(&org("HB"), None, &org("HB")));
        assert!(
            !may_read_rollup(&org("HB"), None, &org("H")),
            "the province has nobody above it"
        );
    }
}
