//! The hub's API to its children (and the levels above it), `/api/v1/…` over mutual TLS: one small
//! module per route ([`reports`], [`campaigns`], [`rollup`], [`reviews`], [`reminders`]), the
//! peer's certificate checked once for every request ([`admit`]) and its org handed to handlers by
//! extractors ([`extract`]). The routes, bodies and problem documents are `bangfu_shared::protocol`'s.
//!
//! TLS is accepted by `bangfu_client::server` with tokio-rustls, each connection served by this
//! router through hyper-util, with the peer's org and serial attached to every request as a
//! [`Peer`] extension. Every request runs in a span that continues the sender's trace, and every
//! refusal is logged and counted ([`observe`]).

pub mod admit;
pub mod budget;
pub mod campaigns;
pub mod enrol;
pub mod extract;
pub mod reminders;
pub mod renew;
pub mod reports;
pub mod reviews;
pub mod rollup;
pub mod throttle;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use bangfu_client::telemetry;
use bangfu_shared::protocol::enrolment::routes as enrolment_routes;
use bangfu_shared::protocol::{route_label, routes};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument as _;

pub use admit::Revocations;
use bangfu_client::server::Peer;

use crate::app::Hub;
use crate::dashboard::Changes;
use crate::error::{Interrupted, Refusal};
use crate::jobs::upstream;

/// The largest request body accepted (a hub's report: more, by its children, `budget`).
pub const BODY_LIMIT: usize = crate::strict::BODY_LIMIT;

/// What every handler shares: the hub, and the serving process's own parts.
#[derive(Clone)]
pub struct ApiState {
    pub hub: Hub,
    pub revocations: Arc<Revocations>,
    /// Told of every accepted report when this hub has a parent, so it sends its new rollup up.
    pub upstream: Option<Arc<upstream::Changed>>,
    /// Told of every accepted report, for the dashboard's live pages.
    pub changes: Arc<Changes>,
}

/// The API under `/api/v1`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route(
            routes::REPORTS,
            post(reports::post)
                .layer::<_, std::convert::Infallible>(middleware::from_fn(budget::limit))
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::disable()),
        )
        .route(routes::CAMPAIGNS, get(campaigns::get))
        .route(routes::ROLLUP, get(rollup::get))
        .route(routes::REVIEW, get(reviews::get))
        .route(routes::REMINDERS, get(reminders::get))
        .route(enrolment_routes::RENEW, post(renew::renew))
        .route(enrolment_routes::SIGN, post(renew::sign))
        .layer(middleware::from_fn_with_state(
            Arc::new(throttle::Throttle::default()),
            throttle::limit,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), admit::admit))
        .layer(middleware::from_fn(observe))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

/// Every request in a span (continuing the sender's trace from its `traceparent` header), and
/// every refusal logged and counted: peer org, path, status, reason (never a cell's value).
async fn observe(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let org = req
        .extensions()
        .get::<Peer>()
        .and_then(|p| p.org.clone())
        .map_or_else(|| "?".to_string(), |o| o.to_string());
    let span = tracing::info_span!("request", method = %req.method(), path = %path, peer = %org, status = tracing::field::Empty);
    if let Some(tp) = req
        .headers()
        .get(telemetry::TRACEPARENT)
        .and_then(|v| v.to_str().ok())
    {
        telemetry::continue_trace(&span, tp);
    }
    let res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    span.record("status", status);
    if let Some(lost) = res.extensions().get::<Interrupted>() {
        // A cut link, not a refusal: the child resends the same version.
        tracing::info!(parent: &span, peer = %org, path = %path, reason = %lost.0, "request body lost");
    } else if res.status().is_client_error() || res.status().is_server_error() {
        let reason = res
            .extensions()
            .get::<Refusal>()
            .map_or_else(|| res.status().to_string(), |r| r.0.clone());
        tracing::warn!(parent: &span, peer = %org, path = %path, status, reason = %reason, "refused");
        refusals().add(
            1,
            &[
                KeyValue::new("status", i64::from(status)),
                KeyValue::new("path", route_label(&path)),
            ],
        );
    }
    res
}

/// The refusals counter (CONTRACT.md: "refused, logged, counted"), by status and route; TLS handshake
/// refusals are counted with status 0.
pub(crate) fn refusals() -> &'static Counter<u64> {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    C.get_or_init(|| {
        telemetry::counter(
            "bangfu.hub.refusals",
            "requests and TLS handshakes the hub refused",
        )
    })
}

/// Serves `app` over mutual TLS on `listener` until the task is stopped, and `anonymous` (the
/// enrolment routes) to a peer without a client certificate, within `limits`; a refused handshake
/// is counted as a refusal with status 0 on path "tls".
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    anonymous: Option<Router>,
    limits: bangfu_client::server::Limits,
) -> std::io::Result<()> {
    let on_refused: bangfu_client::server::OnRefused = Arc::new(|_, _| {
        refusals().add(
            1,
            &[KeyValue::new("status", 0i64), KeyValue::new("path", "tls")],
        )
    });
    bangfu_client::server::serve_with_enrolment(listener, tls, app, anonymous, on_refused, limits)
        .await
}
