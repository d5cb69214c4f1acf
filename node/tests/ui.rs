//! The office UI through HTTP (issue 17): the real `bangfu-node serve --ui 127.0.0.1:0` as a child
//! process, a clerk's account made with `bangfu-node user add`, and requests as a browser sends them
//! (the form's hidden fields, the cookie, multipart uploads).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

const PASSWORD: &str = "clerk password 2026";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bangfu-node")
}

fn ok(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "bangfu-node {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A node with a synthetic archive (households with some refused rows kept aside as a GBK CSV), a
/// songnuan campaign, a clerk, and the UI serving.
struct Office {
    dir: tempfile::TempDir,
    data: PathBuf,
    base: String,
    child: Child,
    http: reqwest::Client,
}

impl Drop for Office {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user_add(data: &Path, name: &str, role: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(bin())
        .args([
            "user",
            "add",
            "--data",
            s(data),
            "--username",
            name,
            "--role",
            role,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

fn office() -> Office {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    ok(&[
        "init",
        "--data",
        s(&data),
        "--org",
        "H01",
        "--name",
        "京山县总工会",
    ]);
    let files = dir.path().join("gen");
    ok(&[
        "gen",
        "--org",
        "H01",
        "--households",
        "200",
        "--seed",
        "7",
        "--invalid",
        "0.05",
        "--format",
        "csv-gbk",
        "--out",
        s(&files),
    ]);
    ok(&[
        "campaign",
        "add",
        "--data",
        s(&data),
        "--id",
        "sn2026",
        "--template",
        "songnuan",
        "--title",
        "2026年送温暖",
        "--start",
        "2026-01-01",
        "--end",
        "2026-02-28",
    ]);
    let out = user_add(&data, "wang", "clerk", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--data",
            s(&data),
            "--ui",
            "127.0.0.1:0",
            "--interval",
            "3600",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("serve prints the UI address").unwrap();
        if let Some(rest) = line.strip_prefix("office UI on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep reading stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Office {
        dir,
        data,
        base,
        child,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

fn cookie_of(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name}")) + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

fn urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |x: &str| {
                x.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A logged-in browser: its cookie header and the session's CSRF token.
struct Browser<'a> {
    office: &'a Office,
    cookie: String,
    csrf: String,
}

impl Office {
    async fn login(&self) -> Browser<'_> {
        let page = self
            .http
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap();
        let login_cookie = cookie_of(&page, "bangfu_login").unwrap();
        let html = page.text().await.unwrap();
        let r = self
            .http
            .post(format!("{}/login", self.base))
            .header(COOKIE, login_cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(urlencoded(&[
                ("username", "wang"),
                ("password", PASSWORD),
                ("csrf", &hidden(&html, "csrf")),
                ("next", "/"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let cookie = cookie_of(&r, "bangfu_session").expect("a session cookie");
        let home = self
            .http
            .get(format!("{}/", self.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(home.status(), StatusCode::OK);
        let csrf = hidden(&home.text().await.unwrap(), "csrf");
        Browser {
            office: self,
            cookie,
            csrf,
        }
    }
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.office
            .http
            .get(format!("{}{path}", self.office.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
        self.office
            .http
            .post(format!("{}{path}", self.office.base))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(urlencoded(pairs))
            .send()
            .await
            .unwrap()
    }

    /// Uploads `file` as the import form does (csrf first, then the file).
    async fn upload(&self, file: &Path, csrf: &str) -> reqwest::Response {
        let boundary = "----bangfu-test-boundary";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: text/csv\r\n\r\n",
                file.file_name().unwrap().to_str().unwrap()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&std::fs::read(file).unwrap());
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.office
            .http
            .post(format!("{}/import", self.office.base))
            .header(COOKIE, &self.cookie)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Waits for an import job to end; its progress JSON.
    async fn finished(&self, job_page: &str) -> serde_json::Value {
        for _ in 0..600 {
            let p: serde_json::Value = self
                .get(&format!("{job_page}/progress"))
                .await
                .json()
                .await
                .unwrap();
            if p["state"] == "done" || p["state"] == "failed" {
                return p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the import did not finish");
    }
}

fn staff_numbers(files: &Path) -> Vec<String> {
    let text = std::fs::read(files.join("households.csv")).unwrap();
    let (text, _, _) = encoding_rs::GBK.decode(&text);
    text.lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .filter(|s| s.starts_with("H01"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn without_a_session_no_route_answers_with_anything_of_the_archive() {
    let o = office();
    let files = o.dir.path().join("gen");
    // Fill the archive first, so that there is something to leak.
    ok(&[
        "import",
        "--data",
        s(&o.data),
        s(&files.join("households.csv")),
    ]);
    let staff = staff_numbers(&files);
    let one = staff[0].clone();
    let gets = [
        "/".to_string(),
        "/import".into(),
        "/import/jobs/0123".into(),
        "/import/jobs/0123/progress".into(),
        "/import/jobs/0123/rejects.csv".into(),
        "/campaigns".into(),
        "/campaigns/sn2026".into(),
        "/campaigns/sn2026/report".into(),
        "/campaigns/sn2026/report.json".into(),
        "/archive".into(),
        format!("/archive/search?q={one}"),
        format!("/archive/households/{one}"),
    ];
    for path in &gets {
        for accept in ["text/html", "application/json", "*/*"] {
            let r = o
                .http
                .get(format!("{}{path}", o.base))
                .header(ACCEPT, accept)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let expected = if accept == "text/html" {
                StatusCode::SEE_OTHER
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(status, expected, "GET {path} ({accept})");
            if status == StatusCode::SEE_OTHER {
                assert!(
                    r.headers()[LOCATION]
                        .to_str()
                        .unwrap()
                        .starts_with("/login?next=")
                );
            }
            let body = r.text().await.unwrap();
            assert!(!body.contains("H01"), "GET {path} leaks: {body}");
        }
    }
    for path in ["/import", "/campaigns/sn2026/figures", "/logout"] {
        let r = o
            .http
            .post(format!("{}{path}", o.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("4A=12&csrf=x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "POST {path}");
    }
    // A forged session cookie is no session.
    let r = o
        .http
        .get(format!("{}/archive", o.base))
        .header(COOKIE, format!("bangfu_session={}", "a".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The stylesheet and script hold nothing of the archive and are served to the login page.
    let css = o
        .http
        .get(format!("{}/static/ui.css", o.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_clerk_uploads_a_gbk_csv_with_bad_rows_and_reads_the_rejects() {
    let o = office();
    let b = o.login().await;
    let form = b.get("/import").await.text().await.unwrap();
    let csrf = hidden(&form, "csrf");
    let households = o.dir.path().join("gen").join("households.csv");

    // Without the form's token the upload is refused and nothing is imported.
    let r = b.upload(&households, "not the token").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = b.upload(&households, &csrf).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let job = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(job.starts_with("/import/jobs/"), "{job}");
    let p = b.finished(&job).await;
    assert_eq!(p["state"], "done", "{p}");
    let outcome = &p["outcome"]["streams"][0];
    let rejected = outcome["rows_rejected"].as_u64().unwrap();
    assert!(rejected > 0, "the generator broke some rows: {p}");
    assert_eq!(outcome["rows_read"].as_u64().unwrap(), 200);
    assert_eq!(outcome["rows_new"].as_u64().unwrap(), 200 - rejected);
    assert_eq!(p["outcome"]["encoding"], "GBK");

    let page = b.get(&job).await.text().await.unwrap();
    assert!(page.contains("id=\"import-done\""), "{page}");
    assert!(page.contains("id=\"rejects\""));
    let csv = b.get(&format!("{job}/rejects.csv")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = csv.text().await.unwrap();
    assert!(
        text.trim_start_matches('\u{feff}')
            .starts_with("行号,字段,原因")
    );
    assert_eq!(text.lines().count() as u64, rejected + 1);
    // Each refused line of the file is on the page with its reason.
    for line in text.lines().skip(1).take(5) {
        let number = line.split(',').next().unwrap();
        assert!(
            page.contains(&format!("<td>{number}</td>")),
            "line {number} not shown"
        );
    }

    // The same file again changes nothing (as `bangfu-node import` twice).
    let r = b.upload(&households, &csrf).await;
    let again = b.finished(r.headers()[LOCATION].to_str().unwrap()).await;
    assert_eq!(again["outcome"]["streams"][0]["rows_new"], 0);
    assert_eq!(again["outcome"]["streams"][0]["rows_updated"], 0);
}

#[tokio::test]
async fn a_file_that_cannot_be_read_imports_nothing() {
    let o = office();
    let b = o.login().await;
    let csrf = b.csrf.clone();
    let bad = o.dir.path().join("notes.csv");
    std::fs::write(&bad, "这不是档案,随便写的\n1,2\n").unwrap();
    let r = b.upload(&bad, &csrf).await;
    let p = b.finished(r.headers()[LOCATION].to_str().unwrap()).await;
    assert_eq!(p["state"], "failed", "{p}");
    assert!(
        p["error"].as_str().unwrap().contains("nothing was changed"),
        "{p}"
    );
    assert!(ok(&["summary", "--data", s(&o.data)]).contains('0'));
    let wrong = o.dir.path().join("archive.txt");
    std::fs::write(&wrong, "x").unwrap();
    assert_eq!(
        b.upload(&wrong, &csrf).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn figures_are_saved_as_enter_saves_them_and_wrong_ones_are_refused_naming_the_cell() {
    let o = office();
    let b = o.login().await;
    let form = b.get("/campaigns/sn2026").await.text().await.unwrap();
    assert!(form.contains("name=\"4A\""), "a field per typed-in cell");
    assert!(
        !form.contains("name=\"3A\""),
        "computed cells are not fields"
    );
    assert!(form.contains("class=\"indent\""), "其中 lines are indented");
    assert!(form.contains("走访慰问"), "sections from the seed table");

    let r = b
        .post_form(
            "/campaigns/sn2026/figures",
            &[
                ("csrf", &b.csrf),
                ("4A", "12"),
                ("4B", "3"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let report = ok(&["report", "--data", s(&o.data), "--campaign", "sn2026"]);
    let json: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(json["cells"]["4A"]["value"], 12, "{}", json["cells"]["4A"]);

    // A computed cell, a word, a second decimal on a count: refused, nothing saved.
    for (code, value) in [("3A", "5"), ("4A", "十二"), ("4C", "1.5")] {
        let r = b
            .post_form(
                "/campaigns/sn2026/figures",
                &[("csrf", &b.csrf), (code, value), ("4B", "4")],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{code}={value}"
        );
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"refused\""), "{page}");
    }
    let report = ok(&["report", "--data", s(&o.data), "--campaign", "sn2026"]);
    let json: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(
        json["cells"]["4B"]["value"], 3,
        "a refused form saves nothing"
    );

    // Without the session's token nothing is saved either.
    let r = b
        .post_form(
            "/campaigns/sn2026/figures",
            &[("csrf", "forged"), ("4A", "99")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn submitting_without_a_parent_versions_the_report_and_keeps_it_in_the_outbox() {
    let o = office();
    let b = o.login().await;
    let r = b
        .post_form(
            "/campaigns/sn2026/figures",
            &[("csrf", &b.csrf), ("4A", "12"), ("action", "submit")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(to.starts_with("/campaigns/sn2026/report"), "{to}");
    let page = b.get(&to).await.text().await.unwrap();
    assert!(page.contains("id=\"submitted\""), "{page}");
    assert!(page.contains("第 1 版"), "{page}");
    assert!(page.contains("待发送"), "{page}");
    let status = ok(&["status", "--data", s(&o.data), "--offline"]);
    assert!(status.contains("version 1"), "{status}");
}

#[tokio::test]
async fn every_household_view_and_search_is_in_the_access_log() {
    let o = office();
    let files = o.dir.path().join("gen");
    ok(&[
        "import",
        "--data",
        s(&o.data),
        s(&files.join("households.csv")),
    ]);
    let b = o.login().await;
    let overview = b.get("/archive").await.text().await.unwrap();
    assert!(overview.contains("id=\"eligibility\""));
    // A staff number the import took (the first rows may be the generator's broken ones).
    let rejects =
        std::fs::read_to_string(files.join("households.csv.rejects.csv")).unwrap_or_default();
    let one = staff_numbers(&files)
        .into_iter()
        .find(|n| !rejects.contains(n.as_str()))
        .unwrap();
    let found = b
        .get(&format!("/archive/search?q={one}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        found.contains(&format!("/archive/households/{one}")),
        "{found}"
    );
    let view = b.get(&format!("/archive/households/{one}")).await;
    assert_eq!(view.status(), StatusCode::OK);
    assert!(view.text().await.unwrap().contains("身份证号"));

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", o.data.join("archive.db").display()))
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT username, action, detail FROM web_audit WHERE action LIKE 'household%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        rows.contains(&("wang".into(), "household_search".into(), one.clone())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("wang".into(), "household_view".into(), one)),
        "{rows:?}"
    );
}

#[tokio::test]
async fn user_commands_name_what_is_wrong() {
    let o = office();
    let out = user_add(&o.data, "li", "reviewer", PASSWORD);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("clerk|admin"));
    let out = user_add(&o.data, "li", "clerk", "short");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than 10"));
    let out = user_add(&o.data, "li", "clerk", "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
    let list = ok(&["user", "list", "--data", s(&o.data)]);
    assert!(list.contains("wang\tclerk"), "{list}");
    let out = Command::new(bin())
        .args([
            "user",
            "disable",
            "--data",
            s(&o.data),
            "--username",
            "nobody",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user named"));
    ok(&[
        "user",
        "disable",
        "--data",
        s(&o.data),
        "--username",
        "wang",
    ]);
    assert!(ok(&["user", "list", "--data", s(&o.data)]).contains("disabled"));
}

#[tokio::test]
async fn a_returned_report_shows_its_reason_first_and_marks_the_cell_in_the_form() {
    let o = office();
    // The parent's verdict as `reviews::fetch` stores it (the end-to-end test brings it from a hub).
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", o.data.join("archive.db").display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO reviews (campaign, version, state, reason, decided_at, fetched_at) \
         VALUES ('sn2026', 1, 'returned', '4A 走访企业数与上年差距过大，请核实', '2026-02-20T10:00:00+08:00', '2026-02-20T10:01:00+08:00')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let b = o.login().await;
    let home = b.get("/").await.text().await.unwrap();
    let returned = home
        .find("已退回")
        .expect("the verdict is on the first page");
    assert!(
        home[returned..].contains("走访企业数与上年差距过大"),
        "{home}"
    );
    assert!(
        returned < home.find("填报任务").unwrap(),
        "the parent's answer comes before the campaigns"
    );
    let form = b.get("/campaigns/sn2026").await.text().await.unwrap();
    assert!(form.contains("id=\"returned\""), "{form}");
    let row = form
        .split("<tr")
        .find(|r| r.contains("name=\"4A\""))
        .unwrap();
    assert!(
        row.contains("flagged"),
        "the cell the reason names is marked: {row}"
    );
    let other = form
        .split("<tr")
        .find(|r| r.contains("name=\"4B\""))
        .unwrap();
    assert!(!other.contains("flagged"));
}
