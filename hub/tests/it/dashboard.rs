//! The dashboard served in-process (`dashboard::serve`, the listener `serve --http` uses) over real
//! sockets: no route answers without a session (every route of `routes::table` is tried), a host
//! name not configured is refused (DNS rebinding), connections beyond the cap are answered 503, and
//! open event streams share one rollup computation per change.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bangfu_client::{Outcome, Parent};
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::HubLevel;
use bangfu_hub::dashboard::routes::{self, Access};
use bangfu_hub::dashboard::{self, DashboardState};
use bangfu_hub::testing::TestHub;
use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::Version;
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::synthetic::archive;
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;

const CAMPAIGN: &str = "c1";
const TITLE: &str = "送温暖机密标题";
const COUNTY: &str = "京山县机密名称";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn songnuan() -> Template {
    template::builtin("songnuan", &Vocabulary::builtin()).unwrap()
}

fn report(org: &str, seed: u64, version: u32) -> Vec<u8> {
    let t = songnuan();
    let (hs, aid) = archive(seed, 200, &Vocabulary::builtin());
    let values = aggregate(
        &t,
        &hs,
        &aid,
        &Period::campaign(day("2026-01-01"), day("2026-01-31")),
    );
    let outcome = evaluate(&t, |i| values.value(i));
    let r = Report::new(
        OrgCode::parse(org).unwrap(),
        &t,
        Some(CAMPAIGN.parse().unwrap()),
        day("2026-01-31"),
        Version::new(version),
        bangfu_shared::disclose::protect(&t, &values).unwrap(),
        outcome,
    );
    serde_json::to_vec(&r).unwrap()
}

async fn push(client: &Parent, body: &[u8]) {
    match client.post_report(body).await {
        Outcome::Stored { .. } => {}
        other => panic!("the report was not stored: {other:?}"),
    }
}

/// A prefecture hub with two counties, campaign `c1`, H01's report, and its dashboard.
struct Dash {
    hub: TestHub,
    state: DashboardState,
    at: SocketAddr,
    open: dashboard::serve::Open,
}

async fn dash(max_connections: usize, hosts: &[&str]) -> Dash {
    let mut hub = TestHub::start(
        "H",
        HubLevel::Prefecture,
        &[("H01", COUNTY), ("H02", "沙洋县")],
    )
    .await;
    let c = Campaign {
        id: CAMPAIGN.parse().unwrap(),
        template: "songnuan".into(),
        title: TITLE.into(),
        start: day("2026-01-01"),
        end: day("2026-01-31"),
        due: Due {
            county: day("2099-12-31"),
            prefecture: day("2099-12-31"),
            province: None,
        },
        template_body: None,
    };
    campaigns::create(&hub.hub.store, &c, "local")
        .await
        .unwrap();
    push(&hub.client("H01"), &report("H01", 1, 1)).await;
    hub.hub.config.dashboard.hosts = hosts.iter().map(|h| h.to_string()).collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let state = DashboardState::new(hub.hub.clone(), Default::default(), at);
    let app = dashboard::router(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(dashboard::serve::serve_counted(
        listener,
        None,
        max_connections,
        app,
        move |open| {
            let _ = tx.send(open);
        },
    ));
    let open = rx.await.unwrap();
    Dash {
        hub,
        state,
        at,
        open,
    }
}

/// One HTTP/1.1 request over a plain socket (the Host header as given, none when `None`); the
/// whole answer as text.
fn raw(at: SocketAddr, method: &str, path: &str, host: Option<&str>, extra: &str) -> String {
    let mut s = std::net::TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    let version = if host.is_empty() {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let body = if method == "POST" {
        "csrf=x&version=1&decision=accept"
    } else {
        ""
    };
    write!(
        s,
        "{method} {path} {version}\r\n{host}Connection: close\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = vec![];
    // An event stream never ends: read what came within the timeout.
    let start = Instant::now();
    let mut buf = [0u8; 8192];
    while start.elapsed() < Duration::from_secs(3) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
        if out.len() > 64 * 1024 {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_answers_with_campaign_data_without_a_session() {
    let d = dash(64, &[]).await;
    let at = d.at;
    let walked = tokio::task::spawn_blocking(move || {
        let mut walked = 0;
        for (route, _) in routes::table() {
            let host = format!("127.0.0.1:{}", at.port());
            let page = raw(
                at,
                route.method.as_str(),
                route.example,
                Some(&host),
                "Accept: text/html\r\n",
            );
            let script = raw(
                at,
                route.method.as_str(),
                route.example,
                Some(&host),
                "Accept: */*\r\n",
            );
            for (answer, html) in [(&page, true), (&script, false)] {
                let st = status(answer);
                match route.access {
                    Access::Public => assert_eq!(st, 200, "{}: {answer}", route.example),
                    Access::Page if html => {
                        assert_eq!(st, 303, "{} {}: {answer}", route.method, route.example);
                        assert!(
                            answer.to_ascii_lowercase().contains("location: /login"),
                            "{answer}"
                        );
                    }
                    _ => assert!(
                        st == 401 || st == 303,
                        "{} {}: {answer}",
                        route.method,
                        route.example
                    ),
                }
                // The answer's body: the request's own path comes back in a Location header.
                let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                assert!(
                    !body.contains(TITLE) && !body.contains(COUNTY) && !body.contains("H01"),
                    "{} {} showed campaign data without a session: {answer}",
                    route.method,
                    route.example
                );
            }
            walked += 1;
        }
        walked
    })
    .await
    .unwrap();
    assert_eq!(walked, routes::table().len());
    assert!(walked >= 8, "the list holds every route");
    d.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_not_configured_is_refused() {
    let d = dash(64, &[]).await;
    let at = d.at;
    let port = at.port();
    tokio::task::spawn_blocking(move || {
        // A rebound name: the attacker's page at evil.example, its DNS now pointing here.
        let a = raw(
            at,
            "GET",
            assets(),
            Some(&format!("evil.example:{port}")),
            "",
        );
        assert_eq!(status(&a), 421, "{a}");
        assert!(
            a.contains("[dashboard] hosts"),
            "the answer names the setting: {a}"
        );
        let a = raw(at, "GET", "/", Some("evil.example"), "");
        assert_eq!(status(&a), 421, "{a}");
        // HTTP/1.0 without a Host.
        let a = raw(at, "GET", assets(), None, "");
        assert_eq!(status(&a), 400, "{a}");
        for ok in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
            let a = raw(at, "GET", assets(), Some(&ok), "");
            assert_eq!(status(&a), 200, "{ok}: {a}");
        }
    })
    .await
    .unwrap();
    d.hub.stop().await;

    // Configured: only the names given.
    let d = dash(64, &["tongji.example.org"]).await;
    let at = d.at;
    tokio::task::spawn_blocking(move || {
        let a = raw(at, "GET", assets(), Some("tongji.example.org"), "");
        assert_eq!(status(&a), 200, "{a}");
        let a = raw(
            at,
            "GET",
            assets(),
            Some(&format!("127.0.0.1:{}", at.port())),
            "",
        );
        assert_eq!(status(&a), 421, "{a}");
    })
    .await
    .unwrap();
    d.hub.stop().await;
}

fn assets() -> &'static str {
    dashboard::assets::STYLE_CSS
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_answered_503_and_a_freed_one_is_reused() {
    let d = dash(3, &[]).await;
    let at = d.at;
    let held: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(at).unwrap())
        .collect();
    let start = Instant::now();
    while d.open.count() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "3 connections counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let host = format!("127.0.0.1:{}", at.port());
    let h = host.clone();
    let a = tokio::task::spawn_blocking(move || raw(at, "GET", assets(), Some(&h), ""))
        .await
        .unwrap();
    assert_eq!(status(&a), 503, "{a}");
    assert!(a.to_ascii_lowercase().contains("retry-after"), "{a}");
    drop(held);
    let start = Instant::now();
    while d.open.count() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "closed connections are uncounted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a = tokio::task::spawn_blocking(move || raw(at, "GET", assets(), Some(&host), ""))
        .await
        .unwrap();
    assert_eq!(status(&a), 200, "{a}");
    d.hub.stop().await;
}

/// Forty open pages, one report: the rollup is computed once or twice for the change (the report
/// is seen by the store's fingerprint), not once per page, and every page hears of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_event_streams_share_one_rollup_computation_per_change() {
    let d = dash(256, &[]).await;
    let cookie = session(&d.state, "viewer").await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/campaigns/{CAMPAIGN}/events", d.at);
    let mut streams = vec![];
    for _ in 0..40 {
        let res = client
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        streams.push(res);
    }
    // Each stream's first event (the current version).
    for s in &mut streams {
        let chunk = tokio::time::timeout(Duration::from_secs(10), s.chunk())
            .await
            .expect("a first event")
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&chunk).contains("event: rollup"));
    }
    let before = d.state.live.computed();
    push(&d.hub.client("H02"), &report("H02", 2, 1)).await;
    for s in &mut streams {
        let start = Instant::now();
        loop {
            let chunk = tokio::time::timeout(Duration::from_secs(10), s.chunk())
                .await
                .expect("the change's event within the poll")
                .unwrap()
                .unwrap();
            let text = String::from_utf8_lossy(&chunk).into_owned();
            if text.contains("\"received\":2") {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{text}");
        }
    }
    let computed = d.state.live.computed() - before;
    assert!(
        (1..=2).contains(&computed),
        "{computed} rollups computed for one change and 40 open streams"
    );
    drop(streams);
    d.hub.stop().await;
}

/// A logged-in session's cookie header for a new user of `role` (the accounts' own login; the
/// browser test logs in through the form).
pub async fn session(state: &DashboardState, role: &str) -> String {
    login(state, role).await.0
}

/// A new user of `role` logged in: its cookie header and its session's CSRF token.
async fn login(state: &DashboardState, role: &str) -> (String, String) {
    let name = format!("{role}-{}", rand_suffix());
    let password = "一个足够长的测试密码-2026";
    state
        .accounts
        .add_user(&name, role, password)
        .await
        .unwrap();
    let s = state
        .accounts
        .login(&name, password, "127.0.0.1")
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("login refused: {e:?}"));
    (format!("{}={}", bangfu_web::http::COOKIE, s.id), s.csrf)
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// A viewer's decision is refused (403) even with its own CSRF token; a reviewer's without the
/// token is refused; a reviewer's with it is the same decision `bangfu-hub review` records, what
/// the county reads, and a line of the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_reviewer_decides_with_the_forms_token_and_the_decision_is_audited() {
    let d = dash(64, &[]).await;
    let url = format!("http://{}/campaigns/{CAMPAIGN}/review/H01/decision", d.at);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = |csrf: &str, decision: &str| {
        format!("csrf={csrf}&version=1&decision={decision}&reason=%E8%AF%B7%E6%A0%B8%E5%AE%9E")
    };
    let send = |cookie: String, body: String| {
        client
            .post(&url)
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let (viewer, viewer_csrf) = login(&d.state, "viewer").await;
    let res = send(viewer.clone(), form(&viewer_csrf, "accept"))
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a viewer may not review");
    // The viewer's review page has no form.
    let page = client
        .get(format!("http://{}/campaigns/{CAMPAIGN}/review/H01", d.at))
        .header("cookie", &viewer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"viewer\"") && !page.contains("id=\"return\""),
        "{page}"
    );

    let (reviewer, csrf) = login(&d.state, "reviewer").await;
    let res = send(reviewer.clone(), form("not-the-token", "return"))
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a form without the session's token");
    let id = CAMPAIGN.parse().unwrap();
    let h01 = OrgCode::parse("H01").unwrap();
    let current = bangfu_hub::review::current(&d.hub.hub.store, &id, &h01)
        .await
        .unwrap();
    assert_eq!(
        current.unwrap().state.as_str(),
        "pending",
        "nothing recorded by refusals"
    );

    let res = send(reviewer.clone(), form(&csrf, "return")).await.unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let r = bangfu_hub::review::current(&d.hub.hub.store, &id, &h01)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.state.as_str(), r.reason.as_deref()),
        ("returned", Some("请核实"))
    );
    // The county reads it over its own certificate, as after `bangfu-hub review`.
    let read = d
        .hub
        .client("H01")
        .review(&id, &h01)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.reason.as_deref(), Some("请核实"));
    let log = d.state.accounts.audit_log(10).await.unwrap();
    assert!(
        log.iter().any(|e| e.action == "decision"
            && e.detail.contains("H01")
            && e.detail.contains("请核实")),
        "{log:?}"
    );
    // A return without a reason is refused on the page, saying why.
    let res = send(
        reviewer,
        format!("csrf={csrf}&version=1&decision=return&reason="),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("退回须写明原因"));
    d.hub.stop().await;
}

/// The campaign page's download: the official table of the rollup on screen, as a workbook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_in_user_downloads_the_official_table() {
    let d = dash(64, &[]).await;
    let cookie = session(&d.state, "viewer").await;
    let client = reqwest::Client::new();
    let page = client
        .get(format!("http://{}/campaigns/{CAMPAIGN}", d.at))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("href=\"/campaigns/{CAMPAIGN}/official/xlsx\"")),
        "{page}"
    );
    let res = client
        .get(format!(
            "http://{}/campaigns/{CAMPAIGN}/official/xlsx",
            d.at
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".xlsx")
    );
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "a zip (xlsx)");
    let res = client
        .get(format!("http://{}/campaigns/{CAMPAIGN}/official/pdf", d.at))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    d.hub.stop().await;
}

/// `[dashboard] tls`: HTTPS with the hub's own certificate, and the login's cookies marked Secure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_dashboard_uses_the_hubs_certificate_and_secure_cookies() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", COUNTY)]).await;
    hub.hub.config.dashboard.tls = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let tls = dashboard::serve::tls_config(&hub.hub.config.tls).unwrap();
    let state = DashboardState::new(hub.hub.clone(), Default::default(), at);
    tokio::spawn(dashboard::serve::serve(
        listener,
        Some(tls),
        16,
        dashboard::router(state),
    ));
    let ca = std::fs::read(hub.hub.config.tls.join("ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(format!("https://{at}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let res = client
        .get(format!("https://{at}/campaigns/{CAMPAIGN}/tree"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Plain HTTP on the TLS port is not served.
    assert!(reqwest::get(format!("http://{at}/login")).await.is_err());
    hub.stop().await;
}

/// Issue 13: the campaigns page warns of a certificate of the tree that ends within 30 days, as
/// `status` does. The test hub's certificates last 30 days: seen a week ago (37 days left) the page
/// has no warning; seen today (29 days left) it names the hub's own certificate and its CA's, and
/// each org's newest one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaigns_page_warns_of_a_certificate_ending_within_thirty_days() {
    let d = dash(64, &[]).await;
    let cookie = session(&d.state, "viewer").await;
    let page_at = |now: chrono::DateTime<chrono::Utc>| {
        let clock = std::sync::Arc::new(bangfu_shared::time::TestClock::at(now));
        let hub = d.hub.hub.clone().with_clock(clock);
        let accounts = d.state.accounts.clone();
        let cookie = cookie.clone();
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let at = listener.local_addr().unwrap();
            let mut state = DashboardState::new(hub, Default::default(), at);
            // The same accounts (on the real clock), so the viewer's session holds on this view.
            state.accounts = accounts;
            tokio::spawn(dashboard::serve::serve_counted(
                listener,
                None,
                64,
                dashboard::router(state),
                |_| {},
            ));
            reqwest::Client::new()
                .get(format!("http://{at}/"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let week_ago = page_at(chrono::Utc::now() - chrono::Duration::days(8)).await;
    assert!(week_ago.contains(TITLE), "{week_ago}");
    assert!(!week_ago.contains("id=\"certificates\""), "{week_ago}");
    let today = page_at(chrono::Utc::now()).await;
    assert!(today.contains("id=\"certificates\""), "{today}");
    assert!(today.contains("this hub&#39;s cert.pem"), "{today}");
    assert!(today.contains("H01&#39;s certificate"), "{today}");
    assert!(today.contains(TITLE), "{today}");
    d.hub.stop().await;
}
