//! The body limit of `POST /api/v1/reports`, by who sends it (issue 12): a county's report is
//! held to `BODY_LIMIT`; a hub's report embeds its counties' reports, so its limit grows by
//! `PER_CHILD_BYTES` per embedded report. The stream is cut at the most a hub's report may be
//! ([`HUB_BODY_CAP`]) and, once read, held to its exact budget by its number of children
//! (`strict::check`).

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bangfu_client::server::Peer;
use bangfu_shared::org::Level;

use crate::error::Error;
use crate::strict::{BODY_LIMIT, HUB_BODY_CAP};

/// Limits the request body by the peer's level (the router's own limit is lifted on this route).
pub async fn limit(req: Request, next: Next) -> Response {
    let hub = req
        .extensions()
        .get::<Peer>()
        .and_then(|p| p.org.as_ref())
        .is_some_and(|o| o.level() == Level::Prefecture);
    let limit = if hub { HUB_BODY_CAP } else { BODY_LIMIT };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Error::TooLarge.into_response();
    }
    let req = req.map(|b| Body::new(http_body_util::Limited::new(b, limit)));
    next.run(req).await
}
