//! What every dashboard answer goes through: the `Host` allowlist (DNS rebinding) and the security
//! headers (a Content-Security-Policy without inline script, no sniffing, no framing).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Scripts, styles and connections from this origin only; no inline script, no framing; forms post
/// only here (login, review).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The host names the dashboard answers. A browser sends the name from its address bar as `Host`;
/// a page of another site whose name was re-pointed at this address (DNS rebinding) sends that
/// site's name, and is refused, so its script cannot read the dashboard with the victim's network
/// position.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// Lower-case; `name` (any port) or `name:port`.
    allowed: Vec<String>,
}

impl Hosts {
    /// `configured` (`[dashboard] hosts`), or when empty: the bound address (unless it is the
    /// unspecified 0.0.0.0 / ::), `localhost`, `127.0.0.1` and `[::1]`.
    pub fn new(configured: &[String], bound: SocketAddr) -> Hosts {
        let mut allowed: Vec<String> = configured.iter().map(|h| h.to_ascii_lowercase()).collect();
        if allowed.is_empty() {
            if !bound.ip().is_unspecified() {
                allowed.push(match bound {
                    SocketAddr::V4(a) => a.ip().to_string(),
                    SocketAddr::V6(a) => format!("[{}]", a.ip()),
                });
            }
            allowed.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        Hosts { allowed }
    }

    /// Whether a `Host` header's value is one of the allowed names (with any port, or the port
    /// configured with it).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = strip_port(&host);
        self.allowed.iter().any(|a| *a == host || *a == name)
    }

    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }
}

/// `name:port` → `name`, `[::1]:80` → `[::1]`; a name without a port as it is.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Refuses a request whose `Host` is not allowed: 421 (Misdirected Request) naming the setting,
/// 400 without a `Host`. Nothing else runs for it.
pub async fn host(State(hosts): State<Arc<Hosts>>, req: Request, next: Next) -> Response {
    // HTTP/2 carries the name in the URI's authority, HTTP/1.1 in the Host header.
    let given = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()));
    match given {
        None => (StatusCode::BAD_REQUEST, "no Host header / 请求缺少 Host\n").into_response(),
        Some(h) if hosts.allows(&h) => next.run(req).await,
        Some(h) => {
            tracing::warn!(host = %bangfu_shared::printable::printable(&h), "dashboard: a request for a host name not configured; refused");
            (
                StatusCode::MISDIRECTED_REQUEST,
                "this dashboard does not answer that host name; add it to [dashboard] hosts in hub.toml / 未配置的主机名\n",
            )
                .into_response()
        }
    }
}

pub async fn secure_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Pages hold campaign data: not kept by the browser for the next person at the same desk.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_bound_address_and_localhost() {
        let h = Hosts::new(&[], "10.1.2.3:8080".parse().unwrap());
        for ok in [
            "10.1.2.3:8080",
            "10.1.2.3",
            "localhost:8080",
            "LOCALHOST",
            "127.0.0.1:1",
            "[::1]:8080",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for no in [
            "evil.example",
            "evil.example:8080",
            "10.1.2.30",
            "localhost.evil.example",
            "",
        ] {
            assert!(!h.allows(no), "{no}");
        }
        let any = Hosts::new(&[], "0.0.0.0:8080".parse().unwrap());
        assert!(!any.allows("0.0.0.0:8080"));
        assert!(any.allows("localhost:8080"));
    }

    #[test]
    fn configured_names_replace_the_default() {
        let h = Hosts::new(
            &["Tongji.Example.org".into(), "10.0.0.5:8443".into()],
            "0.0.0.0:8443".parse().unwrap(),
        );
        assert!(h.allows("tongji.example.org"));
        assert!(h.allows("tongji.example.org:8443"));
        assert!(h.allows("10.0.0.5:8443"));
        assert!(
            !h.allows("10.0.0.5:80"),
            "a name configured with a port only with it"
        );
        assert!(!h.allows("localhost"), "configured: localhost is not added");
    }
}
