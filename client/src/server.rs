//! The accept loop of a mutual-TLS server: each connection's TLS handshake done here with
//! tokio-rustls, then served by an axum router through hyper-util, with the peer's org and serial
//! (from its client certificate) attached to every request as a [`Peer`] extension. A hub serves its
//! children with it, a county node its parent's pulls.
//!
//! Doing the TLS accept ourselves keeps the peer certificate in reach without a server framework's
//! connection-info plumbing. What to do about a refused handshake (count it, say) is the caller's:
//! it passes an [`OnRefused`] hook.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bangfu_shared::org::OrgCode;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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

/// The perimeter of a serving end: how many connections it holds and for how long. A client
/// without a certificate never gets past the handshake, so what it can hold is bounded by
/// `per_address_unauthenticated` and `handshake`; one with a certificate by `per_certificate`,
/// `header_read` and `idle`. A connection over a cap is closed at once, before any TLS work.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections held at once, in any state.
    pub max_connections: usize,
    /// Connections from one peer address still in the TLS handshake.
    pub per_address_unauthenticated: usize,
    /// Connections of one client certificate (serial) after the handshake.
    pub per_certificate: usize,
    /// Time allowed for the TLS handshake.
    pub handshake: Duration,
    /// Time allowed to send a request's headers (HTTP/1.1).
    pub header_read: Duration,
    /// A connection that neither reads nor writes this long is closed.
    pub idle: Duration,
    /// The whole life of a connection without a client certificate (enrolment only): it stays
    /// counted against its address under `per_address_unauthenticated` until it ends.
    pub anonymous: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            per_address_unauthenticated: 32,
            per_certificate: 64,
            handshake: Duration::from_secs(5),
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(120),
            anonymous: Duration::from_secs(30),
        }
    }
}

/// Serves `app` over mutual TLS on `listener` with the default [`Limits`] until the process ends
/// (or the future is dropped).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    on_refused: OnRefused,
) -> std::io::Result<()> {
    serve_with(listener, tls, app, on_refused, Limits::default()).await
}

/// Serves `app` over mutual TLS on `listener` within `limits`.
pub async fn serve_with(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    on_refused: OnRefused,
    limits: Limits,
) -> std::io::Result<()> {
    serve_with_enrolment(listener, tls, app, None, on_refused, limits).await
}

/// Serves `app` over mutual TLS on `listener` within `limits`, and `anonymous` (when given, and
/// when `tls` lets a client without a certificate finish the handshake: [`enrolling_config`]) to
/// connections without a client certificate. Such a connection reaches only `anonymous`, stays
/// counted against its address for its whole life, and lives at most `limits.anonymous`.
pub async fn serve_with_enrolment(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    anonymous: Option<axum::Router>,
    on_refused: OnRefused,
    limits: Limits,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let all = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let by_address = Counts::default();
    let by_certificate = Counts::default();
    let limits = Arc::new(limits);
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = all.clone().try_acquire_owned() else {
            tracing::debug!(peer = %remote, "connection cap reached; closed");
            on_refused(remote, "too many connections");
            continue;
        };
        let Some(pending) = by_address.enter(remote.ip(), limits.per_address_unauthenticated)
        else {
            tracing::debug!(peer = %remote, "too many handshakes from this address; closed");
            on_refused(
                remote,
                "too many unauthenticated connections from one address",
            );
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let anonymous = anonymous.clone();
        let on_refused = on_refused.clone();
        let (limits, by_certificate) = (limits.clone(), by_certificate.clone());
        tokio::spawn(async move {
            let _permit = permit;
            connection(
                acceptor,
                tcp,
                remote,
                (app, anonymous),
                on_refused,
                (pending, by_certificate),
                &limits,
            )
            .await
        });
    }
}

/// How many connections each key holds, shared by the accept loop and the connections.
#[derive(Clone)]
struct Counts<K: std::hash::Hash + Eq + Clone>(Arc<Mutex<HashMap<K, usize>>>);

impl<K: std::hash::Hash + Eq + Clone> Default for Counts<K> {
    fn default() -> Self {
        Counts(Arc::default())
    }
}

/// One connection counted under a key; uncounted when dropped.
struct Counted<K: std::hash::Hash + Eq + Clone> {
    counts: Counts<K>,
    key: K,
}

impl<K: std::hash::Hash + Eq + Clone> Counts<K> {
    /// Counts one more under `key`, unless `cap` are counted already.
    fn enter(&self, key: K, cap: usize) -> Option<Counted<K>> {
        let mut map = self.0.lock().expect("not poisoned");
        let n = map.entry(key.clone()).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Counted {
            counts: self.clone(),
            key,
        })
    }
}

impl<K: std::hash::Hash + Eq + Clone> Drop for Counted<K> {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().expect("not poisoned");
        if let Some(n) = map.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

async fn connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    (app, anonymous): (axum::Router, Option<axum::Router>),
    on_refused: OnRefused,
    (pending, by_certificate): (Counted<IpAddr>, Counts<String>),
    limits: &Limits,
) {
    let tls = match tokio::time::timeout(limits.handshake, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            let reason = e.to_string();
            tracing::warn!(peer = %remote, reason = %reason, "TLS handshake refused");
            on_refused(remote, &reason);
            return;
        }
        Err(_) => {
            tracing::warn!(peer = %remote, "TLS handshake timed out");
            on_refused(remote, "TLS handshake timed out");
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
        let Some(anonymous) = anonymous else {
            tracing::warn!(peer = %remote, "no client certificate");
            on_refused(remote, "no client certificate");
            return;
        };
        // Enrolment: still counted against its address (`pending` held), and short-lived.
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                anonymous.clone().oneshot(req)
            });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read);
        let served = builder.serve_connection(TokioIo::new(tls), service);
        if tokio::time::timeout(limits.anonymous, served)
            .await
            .is_err()
        {
            tracing::info!(peer = %remote, "connection without a certificate closed at its time limit");
        }
        drop(pending);
        return;
    };
    drop(pending);
    let peer = Peer {
        org: tls::org_of(&der).ok(),
        serial: tls::serial_of(&der).unwrap_or_default(),
    };
    let Some(_held) = by_certificate.enter(peer.serial.clone(), limits.per_certificate) else {
        tracing::warn!(peer = %remote, serial = %peer.serial, "too many connections for one certificate; closed");
        on_refused(remote, "too many connections for one certificate");
        return;
    };
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer.clone());
            app.clone().oneshot(req)
        });
    let (io, last) = Watched::new(tls);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.idle / 2)
        .keep_alive_timeout(limits.header_read);
    let served = builder.serve_connection(TokioIo::new(io), service);
    tokio::select! {
        ended = served => if let Err(e) = ended {
            tracing::debug!(peer = %remote, error = %e, "connection ended");
        },
        () = idle(last, limits.idle) => {
            tracing::info!(peer = %remote, "idle connection closed");
        }
    }
}

/// Resolves once nothing was read or written on the connection for `limit`.
async fn idle(last: Arc<Mutex<Instant>>, limit: Duration) {
    loop {
        let since = last.lock().expect("not poisoned").elapsed();
        if since >= limit {
            return;
        }
        tokio::time::sleep(limit - since).await;
    }
}

/// A stream that notes when it last moved a byte, for the idle timeout.
struct Watched<S> {
    inner: S,
    last: Arc<Mutex<Instant>>,
}

impl<S> Watched<S> {
    fn new(inner: S) -> (Watched<S>, Arc<Mutex<Instant>>) {
        let last = Arc::new(Mutex::new(Instant::now()));
        (
            Watched {
                inner,
                last: last.clone(),
            },
            last,
        )
    }

    fn touch(&self) {
        *self.last.lock().expect("not poisoned") = Instant::now();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A server config like `tls::server_config_with_resolver`, except that a client without a
/// certificate may finish the handshake (to enrol, [`serve_with_enrolment`]) and the CAs in
/// `ca_path` are re-read when it changes (a CA rollover, `renew::ReloadingClientVerifier`); a client
/// that shows a certificate must still show one a trusted CA issued directly.
pub fn enrolling_config(
    ca_path: &std::path::Path,
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
) -> Result<rustls::ServerConfig, crate::enrol::Error> {
    tls::install_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = crate::renew::ReloadingClientVerifier::new(ca_path.to_path_buf(), true)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| tls::Error::Rustls {
            what: "choosing protocol versions",
            source,
        })?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
