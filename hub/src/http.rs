//! The hub's HTTPS server: mutual TLS accepted here with tokio-rustls, each connection served by the
//! axum router through hyper-util, with the peer's org and serial (from its client certificate)
//! attached to every request as a [`Peer`] extension. Doing the TLS accept ourselves keeps the peer
//! certificate in reach without a server framework's connection-info plumbing.
//!
//! Revocations are checked per request against `revoked.txt`, re-read when its mtime changes; the
//! server certificate is re-read when cert.pem or key.pem change ([`ReloadingCert`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bangfu_client::pki::{self, RevocationList};
use bangfu_client::telemetry;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{
    CampaignId, CampaignList, ReceiptStatus, ReminderList, media, routes,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument as _;

use crate::error::{Error, Interrupted, Refusal};
use crate::store::Store;
use crate::{campaigns, intake, rollup, upstream};

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 1 << 20;

pub use bangfu_client::server::Peer;
pub use bangfu_client::tls::ReloadingCert;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub org: OrgCode,
    pub name: String,
    pub revocations: Arc<Revocations>,
    /// Told of every accepted report when this hub has a parent, so it sends its new rollup up.
    pub upstream: Option<Arc<upstream::Changed>>,
    /// hub.toml `[reconcile]`, for the rollup's findings.
    pub reconcile: crate::reconcile::Settings,
    /// Told of every accepted report, for the dashboard's live pages.
    pub changes: Arc<crate::dashboard::Changes>,
}

/// The revocation list, re-read when its file changes.
pub struct Revocations {
    path: Option<PathBuf>,
    cached: Mutex<(Option<SystemTime>, RevocationList)>,
}

impl Revocations {
    /// `pki`: the CA folder holding revoked.txt; None checks no revocations.
    pub fn new(pki: Option<&Path>) -> Result<Revocations, pki::Error> {
        let path = pki.map(|p| {
            if p.is_dir() {
                p.join("revoked.txt")
            } else {
                p.to_path_buf()
            }
        });
        let list = match &path {
            Some(p) => RevocationList::load(p)?,
            None => RevocationList::default(),
        };
        let mtime = path.as_deref().and_then(mtime);
        Ok(Revocations {
            path,
            cached: Mutex::new((mtime, list)),
        })
    }

    /// Whether `serial` is revoked; an unreadable list refuses everyone (fails closed).
    pub fn is_revoked(&self, serial: &str) -> bool {
        let Some(path) = &self.path else { return false };
        let mut cached = self.cached.lock().expect("revocation lock");
        let now = mtime(path);
        if now != cached.0 {
            match RevocationList::load(path) {
                Ok(list) => *cached = (now, list),
                Err(e) => {
                    tracing::error!(error = %e, "cannot re-read the revocation list; refusing every peer");
                    return true;
                }
            }
        }
        cached.1.contains(serial)
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The API under `/api/v1`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(routes::REPORTS, post(post_report))
        .route(routes::CAMPAIGNS, get(get_campaigns))
        .route(routes::ROLLUP, get(get_rollup))
        .route(routes::REMINDERS, get(get_reminders))
        .merge(crate::review::routes())
        .layer(middleware::from_fn_with_state(state.clone(), admit))
        .layer(middleware::from_fn(observe))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

/// Refuses peers whose certificate names no org or is revoked.
async fn admit(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    req: Request,
    next: Next,
) -> Response {
    if peer.org.is_none() {
        return Error::Forbidden("the client certificate names no org".into()).into_response();
    }
    if state.revocations.is_revoked(&peer.serial) {
        return Error::Forbidden(format!("certificate {} is revoked", peer.serial)).into_response();
    }
    next.run(req).await
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
                KeyValue::new("path", bangfu_shared::protocol::route_label(&path)),
            ],
        );
    }
    res
}

/// The refusals counter (CONTRACT.md: "refused, logged, counted"), by status and route; TLS handshake
/// refusals are counted with status 0.
fn refusals() -> &'static Counter<u64> {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    C.get_or_init(|| {
        telemetry::counter(
            "bangfu.hub.refusals",
            "requests and TLS handshakes the hub refused",
        )
    })
}

async fn post_report(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let body = body.map_err(|e| match e {
        _ if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge,
        // Not over the limit, yet not read whole: the connection broke mid-body.
        BytesRejection::FailedToBufferBody(_) => Error::BodyLost(e.body_text()),
        _ => Error::BadRequest(e.body_text()),
    })?;
    let org = peer.org.expect("admitted peers name an org");
    let receipt = intake::receive(&state.store, &org, &body, chrono::Utc::now()).await?;
    let status = if receipt.status == ReceiptStatus::Accepted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if status == StatusCode::CREATED {
        if let Some(upstream) = &state.upstream {
            upstream.report_accepted();
        }
        state.changes.bump();
    }
    Ok((status, Json(receipt)).into_response())
}

async fn get_campaigns(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let list = campaigns::list(&state.store).await?;
    let body =
        serde_json::to_string(&CampaignList { campaigns: list }).expect("campaigns serialise");
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

async fn get_rollup(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, Error> {
    let id = CampaignId::parse(&id).map_err(|e| Error::NotFound(e.to_string()))?;
    let reader = peer
        .org
        .as_ref()
        .ok_or_else(|| Error::Forbidden("the client certificate names no org".into()))?;
    if !may_read_rollup(&state.org, reader) {
        return Err(Error::Forbidden(format!(
            "{reader} may not read {}'s rollup: only {} itself and the levels above it may / 无权查看该汇总",
            state.org, state.org
        )));
    }
    Ok(Json(
        rollup::rollup_with(&state.store, &state.org, &state.name, &id, &state.reconcile).await?,
    )
    .into_response())
}

/// The reminders this hub made for the peer (its own only), newest first: `{"reminders": [...]}`.
async fn get_reminders(
    State(state): State<AppState>,
    Extension(peer): Extension<Peer>,
) -> Result<Response, Error> {
    let org = peer.org.expect("admitted peers name an org");
    if !crate::registry::is_registered(&state.store, &org).await? {
        return Err(Error::Forbidden(format!(
            "{org} is not a registered child of this hub"
        )));
    }
    let reminders = crate::remind::for_org(&state.store, &org).await?;
    Ok(Json(ReminderList { reminders }).into_response())
}

/// Who may read a hub's rollup over the API: the hub's own identity (its operators' tools) and orgs
/// of the levels above it, which in a province's PKI are this hub's parent and the province. Not its
/// children: a county has no business with its siblings' figures or their review states; it reads
/// its own review at `…/reports/{org}/review` (docs/decisions.md).
fn may_read_rollup(hub: &OrgCode, reader: &OrgCode) -> bool {
    reader == hub || reader.level().is_above(hub.level())
}

/// Serves `app` over mutual TLS on `listener` until the process ends; a refused handshake is
/// counted as a refusal with status 0 on path "tls".
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
) -> std::io::Result<()> {
    let on_refused: bangfu_client::server::OnRefused = Arc::new(|_, _| {
        refusals().add(
            1,
            &[KeyValue::new("status", 0i64), KeyValue::new("path", "tls")],
        )
    });
    bangfu_client::server::serve(listener, tls, app, on_refused).await
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
