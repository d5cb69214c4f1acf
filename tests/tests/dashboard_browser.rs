//! The dashboard in a real browser: headless Chromium opens a hub's campaign page (`serve --http`),
//! then a county pushes its first report, and the page, without being reloaded, shows the county
//! and the new completeness: its EventSource heard the rollup change and fetched the tree again.
//! Driven over the DevTools protocol. Skips, saying so, where Chromium is not installed (.ci/run
//! installs it from Debian's packages).

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bangfu_e2e::{binary, county_node, init_hub, ok, s, today};
use serde_json::{Value, json};

const CAMPAIGN: &str = "dangan-live";

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `bangfu-hub serve` with the dashboard; its mTLS URL and the dashboard's.
fn serve_with_dashboard(hub: &Path, log: &Path) -> (Killed, String, String) {
    let mut child = Command::new(binary("bangfu-hub"))
        .args([
            "serve",
            "--data",
            s(hub),
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first:?}"))
        .to_string();
    let dashboard = second
        .trim()
        .strip_prefix("dashboard on ")
        .unwrap_or_else(|| panic!("{second:?}"))
        .to_string();
    (Killed(child), url, dashboard)
}

/// Headless Chromium on `url`, and a DevTools session attached to its page.
struct Browser {
    _process: Killed,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    session: String,
    next_id: u64,
}

impl Browser {
    fn open(url: &str, profile: &Path) -> Browser {
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Chromium says where its DevTools endpoint is on stderr.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut endpoint = None;
        let mut line = String::new();
        while endpoint.is_none() && err.read_line(&mut line).unwrap() > 0 {
            endpoint = line
                .trim()
                .strip_prefix("DevTools listening on ")
                .map(str::to_string);
            line.clear();
        }
        let endpoint = endpoint.expect("Chromium printed its DevTools endpoint");
        // Keep draining stderr so Chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in err.lines() {});
        let (socket, _) =
            tungstenite::connect(endpoint.as_str()).expect("connecting to Chromium's DevTools");
        let mut b = Browser {
            _process: Killed(child),
            socket,
            session: String::new(),
            next_id: 0,
        };
        let start = Instant::now();
        let target = loop {
            let targets = b.call(None, "Target.getTargets", json!({}));
            let page = targets["targetInfos"].as_array().unwrap().iter().find(|t| {
                t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(url))
            });
            if let Some(p) = page {
                break p["targetId"].as_str().unwrap().to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no page for {url}: {targets}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let attached = b.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b
    }

    /// One DevTools command (on the page's session when `session` is given) and its result.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let mut msg = json!({ "id": self.next_id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        self.socket
            .send(tungstenite::Message::Text(msg.to_string().into()))
            .unwrap();
        loop {
            if let tungstenite::Message::Text(text) = self.socket.read().unwrap() {
                let v: Value = serde_json::from_str(text.as_str()).unwrap();
                if v["id"] == self.next_id {
                    assert!(v.get("error").is_none(), "{method}: {v}");
                    return v["result"].clone();
                }
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expr: &str) -> Value {
        let session = self.session.clone();
        let r = self.call(
            Some(&session),
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is true, up to `limit`.
    fn until(&mut self, what: &str, expr: &str, limit: Duration) {
        let start = Instant::now();
        while self.eval(expr) != Value::Bool(true) {
            assert!(
                start.elapsed() < limit,
                "the page never showed {what}: {}",
                self.eval("document.body.innerText")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn the_campaign_page_shows_a_new_report_without_a_reload() {
    if Command::new("chromium").arg("--version").output().is_err() {
        println!("skipping the browser test: chromium is not installed (apt-get install chromium)");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let pki = dir.join("pki");
    ok(
        "bangfu-hub",
        &[
            "pki",
            "init",
            "--dir",
            s(&pki),
            "--org",
            "H",
            "--name",
            "荆门市总工会",
        ],
    );
    let hub = dir.join("hub");
    init_hub(&hub, dir, &pki, "H", "荆门市总工会", "prefecture", None);
    let today = today();
    ok(
        "bangfu-hub",
        &[
            "campaign",
            "create",
            "--data",
            s(&hub),
            "--id",
            CAMPAIGN,
            "--template",
            "dangan",
            "--title",
            "困难职工档案统计",
            "--start",
            "2026-01-01",
            "--end",
            &today,
            "--due",
            "county=2099-12-31",
            "--due",
            "prefecture=2099-12-31",
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&hub),
            "--code",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&hub),
            "--code",
            "H02",
            "--name",
            "沙洋县总工会",
        ],
    );
    let (_hub, url, dashboard) = serve_with_dashboard(&hub, &dir.join("hub.log"));
    let (node, _) = county_node(dir, &pki, "H01", 120, 4, &url, &[]);

    let mut browser = Browser::open(
        &format!("{dashboard}/campaigns/{CAMPAIGN}"),
        &dir.join("chromium-profile"),
    );
    browser.until(
        "the empty campaign",
        "document.getElementById('completeness')?.innerText.includes('received 0')",
        Duration::from_secs(20),
    );
    // The page's event stream is open (the page says so once it connects) before the report arrives.
    browser.until(
        "the live marker",
        "document.getElementById('live')?.textContent === '实时 live'",
        Duration::from_secs(20),
    );
    assert_eq!(
        browser.eval("document.querySelector('tr[data-org=\"H01\"]') === null"),
        Value::Bool(true)
    );

    ok(
        "bangfu-node",
        &["push", "--data", s(&node), "--campaign", CAMPAIGN],
    );
    browser.until(
        "H01's report",
        "document.querySelector('tr[data-org=\"H01\"]') !== null",
        Duration::from_secs(15),
    );
    browser.until(
        "the new completeness",
        "document.getElementById('completeness').innerText.includes('received 1')",
        Duration::from_secs(5),
    );
    let missing = browser.eval("document.getElementById('missing').innerText");
    assert!(
        missing
            .as_str()
            .is_some_and(|m| m.contains("沙洋县总工会 H02") && !m.contains("H01")),
        "{missing}"
    );
}
