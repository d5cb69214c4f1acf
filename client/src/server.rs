//! The accept loop of a mutual-TLS server: each connection's TLS handshake done here with
//! tokio-rustls, then served by an axum router through hyper-util, with the peer's org and serial
//! (from its client certificate) attached to every request as a [`Peer`] extension. A hub serves its
//! children with it, a county node its parent's pulls.
//!
//! Doing the TLS accept ourselves keeps the peer certificate in reach without a server framework's
//! connection-info plumbing. What to do about a refused handshake (count it, say) is the caller's:
//! it passes an [`OnRefused`] hook.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bangfu_shared::org::OrgCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::tls;

/// Who is on the other end of a connection, from its client certificate.
#[derive(Debug, Clone)]
pub struct Peer {
    /// None when the certificate names no org (the router refuses it).
    pub org: Option<OrgCode>,
    pub serial: String,
}

/// Called once for every connection refused before any request: a failed handshake (a certificate
/// not from the CA, expired, none at all). The reason is rustls's, never anything of a household.
pub type OnRefused = Arc<dyn Fn(SocketAddr, &str) + Send + Sync>;

/// Serves `app` over mutual TLS on `listener` until the process ends (or the future is dropped).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    on_refused: OnRefused,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let on_refused = on_refused.clone();
        tokio::spawn(async move { connection(acceptor, tcp, remote, app, on_refused).await });
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    app: axum::Router,
    on_refused: OnRefused,
) {
    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let reason = e.to_string();
            tracing::warn!(peer = %remote, reason = %reason, "TLS handshake refused");
            on_refused(remote, &reason);
            return;
        }
        Err(_) => {
            tracing::warn!(peer = %remote, "TLS handshake timed out");
            return;
        }
    };
    let Some(der) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
    else {
        tracing::warn!(peer = %remote, "no client certificate");
        on_refused(remote, "no client certificate");
        return;
    };
    let peer = Peer {
        org: tls::org_of(&der).ok(),
        serial: tls::serial_of(&der).unwrap_or_default(),
    };
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer.clone());
            app.clone().oneshot(req)
        });
    if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(peer = %remote, error = %e, "connection ended");
    }
}
