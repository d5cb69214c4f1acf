//! `GET /api/v1/campaigns`: the campaigns this hub holds, for its registered children to take down
//! (and the hub's own tools), with the CA's revocation list; with an ETag, so an unchanged list costs a 304. Any other certificate
//! of the CA (another prefecture's county, an unregistered code) is refused.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bangfu_shared::protocol::{CampaignList, media};
use sha2::{Digest as _, Sha256};

use super::ApiState;
use super::extract::PeerOrg;
use crate::error::Error;
use crate::registry;

pub async fn get(
    State(state): State<ApiState>,
    PeerOrg(reader): PeerOrg,
    headers: HeaderMap,
) -> Result<Response, Error> {
    if reader != state.hub.config.org && !registry::is_registered(&state.hub.store, &reader).await?
    {
        return Err(Error::Forbidden(format!(
            "{reader} is not a registered child of {}: only its children read its campaigns / 非本单位下级,无权查看任务",
            state.hub.config.org
        )));
    }
    let campaigns = crate::campaigns::list(&state.hub.store).await?;
    // The CA's revocation list travels down with the campaigns, signed by the CA (a hub in the
    // middle can withhold it, not forge it). A list that cannot be read is not sent.
    let crl = state.revocations.current().ok().and_then(|lists| {
        let pem: String = lists.iter().map(|l| l.to_pem()).collect();
        (!pem.is_empty()).then_some(pem)
    });
    let body =
        serde_json::to_string(&CampaignList { campaigns, crl }).expect("campaigns serialise");
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(body.as_bytes())));
    let etag_value = HeaderValue::from_str(&etag).expect("hex is a header value");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (header::ETAG, etag_value),
            (header::CONTENT_TYPE, HeaderValue::from_static(media::JSON)),
        ],
        body,
    )
        .into_response())
}
