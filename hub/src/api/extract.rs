//! Who is asking, as handlers take it: [`PeerOrg`] is the org the client certificate names, and
//! [`ChildOrg`] the same org when it is a registered child of this hub. A request without either is
//! refused with 403 before the handler runs, so no handler unwraps the peer's org itself.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use bangfu_shared::org::OrgCode;

use super::{ApiState, Peer};
use crate::error::Error;
use crate::registry;

/// The org of the peer's certificate.
#[derive(Debug, Clone)]
pub struct PeerOrg(pub OrgCode);

impl<S: Send + Sync> FromRequestParts<S> for PeerOrg {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PeerOrg, Error> {
        parts
            .extensions
            .get::<Peer>()
            .and_then(|p| p.org.clone())
            .map(PeerOrg)
            .ok_or_else(|| Error::Forbidden("the client certificate names no org".into()))
    }
}

/// The org of the peer's certificate, registered here as a child.
#[derive(Debug, Clone)]
pub struct ChildOrg(pub OrgCode);

impl FromRequestParts<ApiState> for ChildOrg {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<ChildOrg, Error> {
        let PeerOrg(org) = PeerOrg::from_request_parts(parts, state).await?;
        if !registry::is_registered(&state.hub.store, &org).await? {
            return Err(Error::Forbidden(format!(
                "{org} is not a registered child of this hub"
            )));
        }
        Ok(ChildOrg(org))
    }
}
