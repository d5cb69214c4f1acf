//! Login, logout and the middleware through real HTTP: a small application on 127.0.0.1:0 with a
//! page, a JSON path, an event stream and a form behind `require_login`.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use bangfu_web::{Accounts, Session, roles};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

const PASSWORD: &str = "reviewer password 1";

struct App {
    base: String,
    accounts: Accounts,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn spawn_app() -> App {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::raw_sql(bangfu_web::SCHEMA)
        .execute(&pool)
        .await
        .unwrap();
    let accounts = Accounts::new(pool, roles::HUB);
    accounts.add_user("li", "reviewer", PASSWORD).await.unwrap();
    accounts.add_user("zhao", "viewer", PASSWORD).await.unwrap();
    let protected = Router::new()
        .route(
            "/",
            get(|s: Session| async move { format!("secret page for {}", s.user) }),
        )
        .route("/data.json", get(|| async { r#"{"secret":1}"# }))
        .route("/events", get(|| async { "data: secret\n\n" }))
        .route(
            "/review",
            post(|s: Session| async move {
                s.require("reviewer")?;
                Ok::<_, bangfu_web::http::Forbidden>("decided")
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            accounts.clone(),
            bangfu_web::require_login,
        ));
    let app = Router::new()
        .merge(bangfu_web::http::router())
        .merge(protected)
        .layer(axum::middleware::from_fn(
            bangfu_web::http::security_headers,
        ))
        .with_state(accounts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    App {
        base: format!("http://{addr}"),
        accounts,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    }
}

fn cookie_value(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap()[name.len() + 1..].to_string())
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

impl App {
    /// Logs in as a browser would: GET the form, POST it with its hidden fields and cookie.
    async fn login(&self, user: &str, password: &str) -> reqwest::Response {
        let page = self
            .http
            .get(format!("{}/login?next=/events", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let login_cookie = cookie_value(&page, "bangfu_login").unwrap();
        let html = page.text().await.unwrap();
        self.http
            .post(format!("{}/login", self.base))
            .header(COOKIE, format!("bangfu_login={login_cookie}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(
                serde_urlencoded::to_string([
                    ("username", user),
                    ("password", password),
                    ("csrf", &hidden(&html, "csrf")),
                    ("next", &hidden(&html, "next")),
                ])
                .unwrap(),
            )
            .send()
            .await
            .unwrap()
    }

    async fn session(&self, user: &str) -> (String, String) {
        let r = self.login(user, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let id = cookie_value(&r, "bangfu_session").unwrap();
        let page = self
            .http
            .get(format!("{}/", self.base))
            .header(COOKIE, format!("bangfu_session={id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let s = self.accounts.session(&id).await.unwrap().unwrap();
        (id, s.csrf)
    }
}

#[tokio::test]
async fn without_a_session_pages_go_to_login_and_data_answers_401_with_nothing_of_it() {
    let app = spawn_app().await;
    let page = app
        .http
        .get(format!("{}/", app.base))
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[LOCATION], "/login?next=/");
    for (path, accept) in [
        ("/data.json", "application/json"),
        ("/events", "text/event-stream"),
        ("/", "*/*"),
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(!r.text().await.unwrap().contains("secret"), "{path}");
    }
    let r = app
        .http
        .post(format!("{}/review", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let forged = app
        .http
        .get(format!("{}/data.json", app.base))
        .header(COOKIE, format!("bangfu_session={}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_login_sets_a_strict_http_only_cookie_and_goes_to_next() {
    let app = spawn_app().await;
    let r = app.login("li", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/events");
    let set: Vec<&str> = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("bangfu_session="))
        .unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(part), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain HTTP: a Secure cookie would never come back"
    );
    let id = cookie_value(&r, "bangfu_session").unwrap();
    let data = app
        .http
        .get(format!("{}/data.json", app.base))
        .header(COOKIE, format!("bangfu_session={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(data.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_password_or_a_login_without_the_form_token_is_refused() {
    let app = spawn_app().await;
    let r = app.login("li", "not the password").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_value(&r, "bangfu_session").is_none());
    assert!(r.text().await.unwrap().contains("用户名或密码错误"));
    // A login posted from another site carries no form token of ours (login CSRF).
    let r = app
        .http
        .post(format!("{}/login", app.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                ("username", "li"),
                ("password", PASSWORD),
                ("csrf", "x"),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(cookie_value(&r, "bangfu_session").is_none());
}

#[tokio::test]
async fn the_sixth_try_is_locked_out_through_http() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(
            app.login("li", "guess guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app.login("li", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(cookie_value(&r, "bangfu_session").is_none());
}

#[tokio::test]
async fn a_post_without_the_session_csrf_token_is_refused() {
    let app = spawn_app().await;
    let (id, csrf) = app.session("li").await;
    let post = |token: &str| {
        app.http
            .post(format!("{}/review", app.base))
            .header(COOKIE, format!("bangfu_session={id}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("csrf={token}&decision=accept"))
            .send()
    };
    assert_eq!(post("").await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        post(&"f".repeat(64)).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(post(&csrf).await.unwrap().status(), StatusCode::OK);
    // Without a form body the token must come in the header.
    let r = app
        .http
        .post(format!("{}/review", app.base))
        .header(COOKIE, format!("bangfu_session={id}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_viewer_may_not_do_what_needs_a_reviewer() {
    let app = spawn_app().await;
    let (id, csrf) = app.session("zhao").await;
    let r = app
        .http
        .post(format!("{}/review", app.base))
        .header(COOKIE, format!("bangfu_session={id}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", csrf.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn logout_ends_the_session_for_good() {
    let app = spawn_app().await;
    let (id, csrf) = app.session("li").await;
    let cookie = format!("bangfu_session={id}");
    let refused = app
        .http
        .post(format!("{}/logout", app.base))
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", "wrong")]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "a cross-site logout is refused too"
    );
    let r = app
        .http
        .post(format!("{}/logout", app.base))
        .header(COOKIE, &cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", csrf.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = app
        .http
        .get(format!("{}/data.json", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let log = app.accounts.audit_log(10).await.unwrap();
    assert_eq!(log[0].action, "logout");
    assert_eq!(log[0].client, "127.0.0.1");
}

#[tokio::test]
async fn an_offsite_next_is_ignored() {
    let app = spawn_app().await;
    let page = app
        .http
        .get(format!("{}/login?next=//evil.example/x", app.base))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert_eq!(hidden(&html, "next"), "/");
}
