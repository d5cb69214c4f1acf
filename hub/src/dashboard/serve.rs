//! The dashboard's listener: plain HTTP, or HTTPS with the hub's own certificate (`[dashboard]
//! tls`); at most `[dashboard] max_connections` open connections, live pages' event streams
//! included, counted apart from the children's mTLS port (whose cap is `bangfu_client::server`'s).
//! A connection beyond the cap is answered 503 with `Retry-After` and closed, so a browser says
//! why instead of hanging; it never reaches the router (or the store).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bangfu_client::tls::ReloadingCert;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// How long a TLS handshake or a request's headers may take.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The TLS configuration of the dashboard: the hub's certificate (re-read when renewed), no client
/// certificate asked (people log in with a password), HTTP/2 and HTTP/1.1.
pub fn tls_config(tls_dir: &Path) -> Result<Arc<rustls::ServerConfig>, bangfu_client::tls::Error> {
    bangfu_client::tls::install_provider();
    let resolver = ReloadingCert::new(
        tls_dir.join(bangfu_client::pki::CERT),
        tls_dir.join(bangfu_client::pki::KEY),
    )?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How many connections the dashboard holds open now (for tests and the benchmark).
#[derive(Clone)]
pub struct Open(Arc<Semaphore>, usize);

impl Open {
    pub fn count(&self) -> usize {
        self.1 - self.0.available_permits()
    }
}

/// Serves `app` on `listener` until the task is stopped.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
    app: Router,
) -> std::io::Result<()> {
    serve_counted(listener, tls, max_connections, app, |_| {}).await
}

/// [`serve`], handing the caller the count of open connections first.
pub async fn serve_counted(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
    app: Router,
    open: impl FnOnce(Open),
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(max_connections));
    open(Open(permits.clone(), max_connections));
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = permits.clone().try_acquire_owned().ok();
        if permit.is_none() {
            tracing::warn!(peer = %remote, max_connections, "dashboard: connection cap reached; answered 503");
        }
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit.as_ref();
            match acceptor {
                None => connection(tcp, remote, app, permit.is_some()).await,
                Some(a) => match tokio::time::timeout(HANDSHAKE, a.accept(tcp)).await {
                    Ok(Ok(tls)) => connection(tls, remote, app, permit.is_some()).await,
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %remote, error = %e, "dashboard: TLS handshake failed")
                    }
                    Err(_) => tracing::debug!(peer = %remote, "dashboard: TLS handshake timed out"),
                },
            }
        });
    }
}

/// One connection: the router (with the client's address, for the login's lock-out and the audit
/// log), or, over the cap, a 503 for each request.
async fn connection<S>(io: S, remote: SocketAddr, app: Router, admitted: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            async move {
                if !admitted {
                    return Ok::<_, std::convert::Infallible>(busy());
                }
                req.extensions_mut().insert(ConnectInfo(remote));
                app.oneshot(req).await
            }
        });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE)
        .keep_alive(admitted);
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(peer = %remote, error = %e, "dashboard: connection ended");
    }
}

fn busy() -> Response<axum::body::Body> {
    let mut r = Response::new(axum::body::Body::from(
        "the dashboard has too many open connections; try again shortly / 当前访问人数过多，请稍后再试\n",
    ));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = r.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
