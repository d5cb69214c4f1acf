//! Enrolment, the only routes served to a peer without a client certificate (issue 13):
//! `GET /api/v1/enrol/ca` (the CA certificates, public) and `POST /api/v1/enrol` (a one-time code and
//! a certificate request). Served by [`anonymous_router`] on the same port as the mTLS API; a
//! connection without a certificate reaches nothing else, and stays counted against its address.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bangfu_client::pki;
use bangfu_shared::protocol::enrolment::{EnrolRequest, routes};
use tower_http::timeout::TimeoutLayer;

use super::ApiState;
use crate::enrolment::{self, Error};

/// The largest enrolment body: a code and a CSR are well under a few kilobytes.
const BODY_LIMIT: usize = 16 * 1024;

/// The routes a peer without a client certificate may use.
pub fn anonymous_router(state: ApiState) -> Router {
    Router::new()
        .route(routes::CA, get(ca))
        .route(routes::ENROL, post(enrol))
        .fallback(no_certificate)
        .layer(axum::middleware::map_response(count))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(Arc::new(state))
}

/// Anything but enrolment, asked without a client certificate: refused, logged.
async fn no_certificate(uri: axum::http::Uri) -> Response {
    tracing::warn!(path = %uri.path(), "no client certificate: refused");
    crate::error::Error::Forbidden(format!(
        "{} needs a client certificate from the federation's CA; without one only enrolment ({}) is served / 需要客户端证书",
        bangfu_shared::printable::printable(&uri.path().chars().take(100).collect::<String>()),
        routes::ENROL
    ))
    .into_response()
}

/// The CA certificates this hub trusts, as PEM.
async fn ca(State(state): State<Arc<ApiState>>) -> Response {
    match enrolment::ca_bundle(&state.hub) {
        Ok(pem) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response(),
        Err(e) => refusal(e),
    }
}

/// A new child's code and request: checked, the code claimed, the certificate signed here or by
/// the parent; the code given back if no certificate came of it.
async fn enrol(State(state): State<Arc<ApiState>>, Json(req): Json<EnrolRequest>) -> Response {
    let hub = &state.hub;
    let checked = match pki::check_request(&req.csr) {
        Ok(c) => c,
        Err(e) => return refusal(e.into()),
    };
    let org = checked.org;
    let claim = match enrolment::redeem(&hub.store, &req.code, &org, hub.now()).await {
        Ok(c) => c,
        Err(e) => return refusal(e),
    };
    let signed = match enrolment::child_name(&hub.store, &org).await {
        Ok(name) => enrolment::sign(hub, &org, &name, &req.csr).await,
        Err(e) => Err(e),
    };
    match signed {
        Ok(issued) => {
            if let Err(e) = enrolment::record(&hub.store, &claim, &issued.serial).await {
                tracing::warn!(error = %e, "recording the enrolment's serial");
            }
            tracing::info!(org = %org, serial = %issued.serial, "enrolled");
            Json(issued).into_response()
        }
        Err(e) => {
            if let Err(r) = enrolment::release(&hub.store, claim).await {
                tracing::warn!(error = %r, "giving the code back after a failed enrolment");
            }
            refusal(e)
        }
    }
}

/// A refusal as a problem document with its reason, logged (org and reason only, never the code).
pub(crate) fn refusal(e: Error) -> Response {
    tracing::warn!(reason = %e, "certificate request refused");
    problem(e)
}

/// Every refusal served without a certificate is counted, as the mTLS API's are (`observe`).
async fn count(response: Response) -> Response {
    if response.status().is_client_error() || response.status().is_server_error() {
        super::refusals().add(
            1,
            &[
                opentelemetry::KeyValue::new("status", i64::from(response.status().as_u16())),
                opentelemetry::KeyValue::new("path", "enrol"),
            ],
        );
    }
    response
}

fn problem(e: Error) -> Response {
    use crate::error::Error as Api;
    let text = e.to_string();
    match e {
        Error::Request(_) => Api::Unprocessable(text).into_response(),
        Error::Store(s) => Api::Store(s).into_response(),
        Error::Relay(_) | Error::CannotSign | Error::Ca(_) => {
            let body = bangfu_shared::protocol::Problem::new(502, "Bad Gateway", text);
            (
                StatusCode::BAD_GATEWAY,
                [(
                    header::CONTENT_TYPE,
                    bangfu_shared::protocol::media::PROBLEM_JSON,
                )],
                body.to_json(),
            )
                .into_response()
        }
        _ => Api::Forbidden(text).into_response(),
    }
}
