//! The web side of accounts: `GET/POST /login`, `POST /logout`, the [`Session`] extractor and the
//! [`require_login`] middleware an application puts in front of everything else it serves.
//!
//! Without a live session a page (a GET that accepts HTML) is answered 303 to `/login?next=…`; any
//! other request (event streams, JSON, downloads, POSTs) 401, so a script never receives a login page
//! it takes for data. Every POST under the middleware carries the session's CSRF token: a urlencoded
//! form in its `csrf` field (checked here), a multipart form in its `csrf` part (checked by the
//! handler with [`Session::check_csrf`], as only it reads the parts), anything else in the
//! `X-CSRF-Token` header.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::accounts::{Accounts, LoginRefused, random_token};
use crate::roles::RoleSet;

/// The session cookie's name.
pub const COOKIE: &str = "bangfu_session";
/// The login form's own CSRF cookie (there is no session yet to bind the token to).
pub const LOGIN_COOKIE: &str = "bangfu_login";
/// The header a script sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The largest urlencoded form the middleware reads to check its token.
const FORM_LIMIT: usize = 2 * 1024 * 1024;

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: String,
    /// The token every form of this session carries (hidden field `csrf`).
    pub csrf: String,
    /// The client's address as the socket saw it (for the audit log).
    pub client: String,
    roles: RoleSet,
}

impl Session {
    /// Whether the user's role reaches `role` (an admin may what a reviewer may).
    pub fn has(&self, role: &str) -> bool {
        self.roles.allows(&self.role, role)
    }

    /// 403 unless the user's role reaches `role`.
    pub fn require(&self, role: &str) -> Result<(), Forbidden> {
        if self.has(role) {
            Ok(())
        } else {
            Err(Forbidden(format!(
                "需要“{role}”权限 / this needs the role {role}"
            )))
        }
    }

    /// 403 unless `token` is this session's CSRF token (compared in constant time).
    pub fn check_csrf(&self, token: &str) -> Result<(), Forbidden> {
        if same(token.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(Forbidden(
                "表单已过期或来源不明，请刷新页面后重试 / the form's token does not match this session: reload the page and try again".into(),
            ))
        }
    }

    /// The hidden field every form of this session carries.
    pub fn csrf_field(&self) -> String {
        format!(r#"<input type="hidden" name="csrf" value="{}">"#, self.csrf)
    }
}

/// A refusal for a logged-in user: a role too low or a form token that does not match (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forbidden(pub String);

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        forbidden(&self.0)
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response()
}

/// The client's address as the socket saw it (a proxy's X-Forwarded-For is not believed: anyone
/// can send one), or "unknown" when the server was not started with connect info.
pub fn client_of(parts_ext: &axum::http::Extensions) -> String {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// A cookie's value from the request's Cookie headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(
    accounts: &Accounts,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if accounts.policy().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={max_age}{secure}"
    ))
    .expect("cookie values are hex")
}

/// Where a refused request is sent: pages to the login form, everything else 401.
fn refuse(parts: &Parts) -> Response {
    let accepts_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if parts.method == Method::GET && accepts_html {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let location = format!("/login?next={}", encode(next));
        (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, "no-store".into()),
            ],
        )
            .into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "请先登录 / log in first",
        )
            .into_response()
    }
}

/// Percent-encodes a path for the `next` parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only a path on this site is a place to go after login: `/x`, not `//evil.example` or `https://…`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

async fn live_session(accounts: &Accounts, parts: &Parts) -> Option<Session> {
    let id = cookie(&parts.headers, COOKIE)?;
    match accounts.session(&id).await {
        Ok(Some(s)) => Some(Session {
            user: s.username,
            role: s.role,
            csrf: s.csrf,
            client: client_of(&parts.extensions),
            roles: accounts.roles(),
        }),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "reading a session");
            None
        }
    }
}

impl<S> FromRequestParts<S> for Session
where
    Accounts: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(s) = parts.extensions.get::<Session>() {
            return Ok(s.clone());
        }
        let accounts = Accounts::from_ref(state);
        match live_session(&accounts, parts).await {
            Some(s) => Ok(s),
            None => Err(refuse(parts)),
        }
    }
}

/// The middleware in front of every route but `/login`: no live session, no answer (303 or 401);
/// a POST must carry the session's CSRF token. Use with
/// `axum::middleware::from_fn_with_state(accounts, require_login)`.
pub async fn require_login(
    State(accounts): State<Accounts>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(session) = live_session(&accounts, &parts).await else {
        return refuse(&parts);
    };
    let body = if parts.method == Method::GET || parts.method == Method::HEAD {
        body
    } else {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            // The handler reads the parts and checks `csrf` among them (Session::check_csrf).
            body
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
                return (StatusCode::PAYLOAD_TOO_LARGE, "form too large / 表单过大")
                    .into_response();
            };
            let token = form_field(&bytes, "csrf").unwrap_or_default();
            if let Err(r) = session.check_csrf(&token) {
                return r.into_response();
            }
            Body::from(bytes)
        } else {
            let token = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if let Err(r) = session.check_csrf(token) {
                return r.into_response();
            }
            body
        }
    };
    parts.extensions.insert(session);
    next.run(Request::from_parts(parts, body)).await
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Security headers for every answer that did not set its own: no framing, no sniffing, no
/// caching of pages that show a person's data, scripts only from the site itself.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let defaults = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in defaults {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// `GET /login`, `POST /login`, `POST /logout`, for an application whose state gives [`Accounts`].
pub fn router<S>() -> Router<S>
where
    Accounts: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

async fn login_page(
    State(accounts): State<Accounts>,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Response {
    form_response(
        &accounts,
        StatusCode::OK,
        "",
        &safe_next(q.next.as_deref()),
        "",
    )
}

/// The login form with a fresh CSRF token in its hidden field and cookie.
fn form_response(
    accounts: &Accounts,
    status: StatusCode,
    message: &str,
    next: &str,
    username: &str,
) -> Response {
    let token = random_token();
    let mut response = (status, Html(login_html(message, &token, next, username))).into_response();
    let h = response.headers_mut();
    h.insert(
        header::SET_COOKIE,
        set_cookie(accounts, LOGIN_COOKIE, &token, "/", 3600),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn login(
    State(accounts): State<Accounts>,
    parts: Parts,
    axum::extract::Form(form): axum::extract::Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let client = client_of(&parts.extensions);
    let expected = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(expected.as_bytes(), form.csrf.as_bytes()) {
        return form_response(
            &accounts,
            StatusCode::FORBIDDEN,
            "页面已过期，请重新输入 / the form expired: please try again",
            &next,
            &form.username,
        );
    }
    match accounts
        .login(&form.username, &form.password, &client)
        .await
    {
        Ok(Ok(session)) => {
            let mut response = Redirect::to(&next).into_response();
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(
                    &accounts,
                    COOKIE,
                    &session.id,
                    "/",
                    accounts.policy().absolute,
                ),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(&accounts, LOGIN_COOKIE, "", "/", 0),
            );
            response
        }
        Ok(Err(LoginRefused::Wrong)) => form_response(
            &accounts,
            StatusCode::UNAUTHORIZED,
            "用户名或密码错误 / wrong user name or password",
            &next,
            &form.username,
        ),
        Ok(Err(LoginRefused::LockedOut)) => form_response(
            &accounts,
            StatusCode::TOO_MANY_REQUESTS,
            "失败次数过多，已暂时锁定，请 15 分钟后再试 / too many failed logins: locked, try again in 15 minutes",
            &next,
            &form.username,
        ),
        Err(e) => {
            tracing::error!(error = %e, "login");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "登录暂不可用 / login is unavailable",
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(accounts): State<Accounts>,
    parts: Parts,
    axum::extract::Form(form): axum::extract::Form<LogoutForm>,
) -> Response {
    let Some(session) = live_session(&accounts, &parts).await else {
        return refuse(&parts);
    };
    if let Err(r) = session.check_csrf(&form.csrf) {
        return r.into_response();
    }
    let id = cookie(&parts.headers, COOKIE).unwrap_or_default();
    if let Err(e) = accounts.logout(&id, &client_of(&parts.extensions)).await {
        tracing::error!(error = %e, "logout");
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&accounts, COOKIE, "", "/", 0),
    );
    response
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn login_html(message: &str, csrf: &str, next: &str, username: &str) -> String {
    let message = if message.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="msg" role="alert">{}</p>"#, esc(message))
    };
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 / Log in</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#f4f5f7;margin:0}}
main{{max-width:22rem;margin:12vh auto;background:#fff;padding:1.5rem 1.75rem;border-radius:8px;box-shadow:0 1px 4px #0002}}
h1{{font-size:1.3rem;margin:0 0 1rem}} h1 small{{color:#666;font-weight:normal;font-size:.85rem}}
label{{display:block;margin:.8rem 0 .25rem}} label small{{color:#666}}
input[type=text],input[type=password]{{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #bbb;border-radius:4px}}
button{{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;background:#b3261e;color:#fff;border:0;border-radius:4px}}
.msg{{background:#fdecea;color:#8a1c14;padding:.5rem .7rem;border-radius:4px}}
</style></head>
<body><main>
<h1>登录 <small>Log in</small></h1>
{message}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label for="username">用户名 <small>User name</small></label>
<input type="text" id="username" name="username" value="{username}" autocomplete="username" required autofocus>
<label for="password">密码 <small>Password</small></label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">登录 / Log in</button>
</form>
</main></body></html>
"#,
        next = esc(next),
        username = esc(username),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_path_on_this_site_is_a_next_page() {
        assert_eq!(safe_next(Some("/campaigns/x?y=1")), "/campaigns/x?y=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; bangfu_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
