//! The one error type of the hub's HTTP API and the one place it becomes a response:
//! `application/problem+json` (RFC 9457). Details carry only org codes, campaign ids, versions,
//! cell codes and rule texts, never a cell's value; internal errors are logged, not sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bangfu_shared::protocol::{Problem, media};

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer may not do this: wrong org, unregistered, revoked, or no usable certificate (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such campaign (404).
    #[error("{0}")]
    NotFound(String),
    /// The version is stored with other content (409).
    #[error("{0}")]
    Conflict(String),
    /// The report breaks a rule, the disclosure audit, or the campaign's template (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The body is not a report (400).
    #[error("{0}")]
    BadRequest(String),
    /// The connection ended before the whole body arrived (a cut link, a client gone): nothing the
    /// child sent was refused, so it is logged as such and not counted as a refusal (400; nobody is
    /// left to read the answer, and the child resends the same version).
    #[error("the connection ended before the whole body arrived: {0}")]
    BodyLost(String),
    /// The child is over its request rate (429; the node retries later).
    #[error("{0}")]
    TooManyRequests(String),
    /// The body is over the limit (413).
    #[error("the body is over the limit of 1 MiB")]
    TooLarge,
    /// The store failed; logged, sent as 500 without detail.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// Marks a response to a request whose body never fully arrived ([`Error::BodyLost`]).
#[derive(Debug, Clone)]
pub struct Interrupted(pub String);

/// The reason a refusal is logged with; the response carries it as an extension so that the
/// access log (which knows the peer and path) writes one line per refusal.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BadRequest(_) | Error::BodyLost(_) => StatusCode::BAD_REQUEST,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            Error::Store(e) => {
                tracing::error!(error = %e, "store failure");
                "internal error / 服务器内部错误".to_string()
            }
            e => e.to_string(),
        };
        let body = Problem::new(
            status.as_u16(),
            status.canonical_reason().unwrap_or("error"),
            detail,
        );
        let mut res = (status, body.to_json()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media::PROBLEM_JSON),
        );
        match &self {
            Error::BodyLost(_) => {
                res.extensions_mut().insert(Interrupted(self.to_string()));
            }
            _ => {
                res.extensions_mut().insert(Refusal(self.to_string()));
            }
        }
        res
    }
}
