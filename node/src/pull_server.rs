//! A node serving its parent's pulls (`bangfu-node serve --listen ADDR`): `GET
//! /api/v1/campaigns/{id}/report` over mutual TLS answers the latest version of the node's report on
//! that campaign, byte for byte as stored in its outbox, so a pull and a push of one version are the
//! same body with the same hash, and the hub's intake treats them alike.
//!
//! Only the parent may pull: the client certificate must be from the federation's CA (the TLS
//! handshake checks that) and must name the parent's org, which the node knows from its own code
//! (H01 → H) or `connect --parent-org` (`Settings::parent_org`), never from whatever certificate
//! answered at the parent's URL. Anyone else gets 403 and a log line naming the org, never a cell.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use bangfu_client::server::Peer;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{Problem, media, routes};

use crate::archive::Archive;

/// The latest stored version of the report on `campaign`, exactly as it would be pushed.
pub async fn latest_body(
    archive: &Archive,
    campaign: &str,
) -> Result<Option<(u32, String)>, sqlx::Error> {
    let row: Option<(i64, String)> = sqlx::query_as("SELECT version, body FROM report_versions WHERE campaign = ? ORDER BY version DESC LIMIT 1")
        .bind(campaign)
        .fetch_optional(archive.pool())
        .await?;
    Ok(row.map(|(v, b)| (v as u32, b)))
}

#[derive(Clone)]
struct Served {
    archive: Archive,
    /// The identity folder: its crl.pem (the CA's list, passed down with the campaigns) is checked
    /// on every request, so a certificate revoked after its connection opened is refused too.
    tls_dir: std::path::PathBuf,
    org: OrgCode,
    /// The only org that may pull; None refuses everyone.
    parent: Option<OrgCode>,
}

/// The pull API: one route, behind the parent-only check.
pub fn router(
    archive: Archive,
    tls_dir: std::path::PathBuf,
    org: OrgCode,
    parent: Option<OrgCode>,
) -> Router {
    let state = Served {
        archive,
        tls_dir,
        org,
        parent,
    };
    Router::new()
        .route(routes::PULL, get(report))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            only_the_parent,
        ))
        .with_state(state)
}

/// A refusal as the hub answers one too (RFC 9457).
fn problem(status: StatusCode, detail: String) -> Response {
    let body = Problem::new(
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        detail,
    );
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media::PROBLEM_JSON),
        )],
        body.to_json(),
    )
        .into_response()
}

/// Refuses every peer but the parent, with 403 and a log line (peer org and path only).
async fn only_the_parent(
    State(s): State<Served>,
    Extension(peer): Extension<Peer>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let parent = &s.parent;
    let who = peer
        .org
        .as_ref()
        .map_or_else(|| "?".to_string(), ToString::to_string);
    let revoked = bangfu_client::crl::revoked_in(&s.tls_dir, &peer.serial);
    let refusal = match (&peer.org, parent) {
        _ if !matches!(revoked, Ok(false)) => match revoked {
            Err(e) => format!(
                "the revocation list cannot be read, so no pull is answered: {e} / 吊销列表无法读取"
            ),
            _ => format!(
                "certificate {} of {who} is revoked / 证书已吊销",
                peer.serial
            ),
        },
        (Some(p), Some(expected)) if p == expected => return next.run(req).await,
        (_, None) => format!(
            "{} does not know its parent's org: its code is no county's, so `connect --parent-org` must name it / 未设置上级单位，暂不接受拉取",
            s.org
        ),
        (_, Some(expected)) => format!(
            "only {}'s parent {expected} may pull its reports; the certificate is {who}'s / 只有上级单位可拉取",
            s.org
        ),
    };
    tracing::warn!(peer = %who, path = %path, status = 403, reason = %refusal, "pull refused");
    problem(StatusCode::FORBIDDEN, refusal)
}

async fn report(State(s): State<Served>, UrlPath(id): UrlPath<String>) -> Response {
    match latest_body(&s.archive, &id).await {
        Ok(Some((version, body))) => {
            // Signed now, as a push is: the parent verifies these exact bytes.
            let signed = bangfu_client::signature::Signer::from_dir(&s.tls_dir)
                .and_then(|signer| signer.sign(body.as_bytes(), chrono::Utc::now()));
            let jws = match signed {
                Ok(jws) => jws,
                Err(e) => {
                    tracing::error!(error = %e, "signing the pulled report failed");
                    return problem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the node could not sign its report".into(),
                    );
                }
            };
            tracing::info!(campaign = %id, version, "report pulled by the parent");
            let jws = HeaderValue::from_str(jws.as_str()).expect("a JWS is ASCII");
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(media::JSON)),
                    (
                        header::HeaderName::from_static(bangfu_shared::protocol::SIGNATURE_HEADER),
                        jws,
                    ),
                ],
                body,
            )
                .into_response()
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            format!(
                "{} has no report on campaign `{id}` yet (no such campaign, or it is blocked; see `bangfu-node status`) / 尚无该任务的报表",
                s.org
            ),
        ),
        Err(e) => {
            tracing::error!(error = %e, campaign = %id, "reading the report failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the node could not read its outbox".into(),
            )
        }
    }
}

/// Why the pull server stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("loading the node's TLS identity from {path}: {source}")]
    Identity {
        path: std::path::PathBuf,
        #[source]
        source: bangfu_client::tls::Error,
    },
    #[error("serving pulls: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves pulls on `listener` with the identity in `tls_dir` (its cert.pem must carry the host names
/// the parent connects to: `bangfu-hub pki issue --host`). Refused handshakes are logged by the loop.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls_dir: &std::path::Path,
    archive: Archive,
    org: OrgCode,
    parent: Option<OrgCode>,
) -> Result<(), Error> {
    let config =
        bangfu_client::tls::server_config_from_dir(tls_dir).map_err(|source| Error::Identity {
            path: tls_dir.to_path_buf(),
            source,
        })?;
    let on_refused: bangfu_client::server::OnRefused = Arc::new(|_, _| {});
    bangfu_client::server::serve(
        listener,
        Arc::new(config),
        router(archive, tls_dir.to_path_buf(), org, parent),
        on_refused,
    )
    .await?;
    Ok(())
}
