//! Benchmark of the hub's intake (`POST /api/v1/reports`) over real sockets and mutual TLS.
//!
//! Sets up, in a temp dir, a real hub (the release `bangfu-hub` binary next to this example, or
//! `$BANGFU_HUB`): a CA, the hub's identity, 200 county identities (A01..A99, B01..B99, C01..C02)
//! registered as children, one `dangan` campaign. Builds one protected `dangan` report per org with
//! the shared library, serialised once, then runs one tokio task per org, each with its own reqwest
//! client (keep-alive), posting versions 1, 2, 3 … of its org's report (every post a new version: a
//! real insert) for a fixed duration. Prints posts, failures, throughput and client-side latency.
//!
//! Usage: `ingest_bench [--seconds 20] [--clients 200] [--households 300] [--database-url URL]`
//! (`--database-url postgres://…/fresh_db` for PostgreSQL; the database must exist and be empty).
//! Run it through `bench/hub_ingest.sh`.

use bangfu_client::signature::Signer;
use bangfu_shared::protocol::SIGNATURE_HEADER;
use bangfu_shared::synthetic::households;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bangfu_client::pki::{self, IssueOptions};
use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::disclose::protect;
use bangfu_shared::facts::AidFacts;
use bangfu_shared::org::OrgCode;
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::template;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;

const CAMPAIGN: &str = "2026-dangan";
/// Stands for the version in the serialised report; replaced per post.
const VERSION_MARK: u32 = 987_654_321;

struct Args {
    seconds: u64,
    clients: usize,
    households: usize,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 20,
        clients: 200,
        households: 300,
        database_url: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = val().parse().expect("--seconds N"),
            "--clients" => a.clients = val().parse().expect("--clients N"),
            "--households" => a.households = val().parse().expect("--households N"),
            "--database-url" => a.database_url = Some(val()),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        (1..=200).contains(&a.clients),
        "--clients is 1..=200 (one org per client)"
    );
    a
}

fn hub_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BANGFU_HUB") {
        return p.into();
    }
    // target/release/examples/ingest_bench → target/release/bangfu-hub
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .unwrap()
        .join("bangfu-hub")
}

fn hub(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("running bangfu-hub");
    assert!(
        out.status.success(),
        "bangfu-hub {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The 200 county codes A01..A99, B01..B99, C01..C02.
fn org_codes(n: usize) -> Vec<String> {
    let mut v = Vec::new();
    for letter in ['A', 'B', 'C'] {
        for i in 1..=99 {
            v.push(format!("{letter}{i:02}"));
        }
    }
    v.truncate(n);
    v
}

/// An org's protected `dangan` report, serialised once and split around its version number.
fn report_parts(org: &str, seed: u64, n: usize) -> (Vec<u8>, Vec<u8>) {
    let v = Vocabulary::builtin();
    let t = template::builtin("dangan", &v).unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    let hs = households(seed, n, &v);
    let aid: Vec<AidFacts> = vec![];
    let values = aggregate(&t, &hs, &aid, &Period::on(as_of));
    let outcome = evaluate(&t, |i| values.value(i));
    let protected = protect(&t, &values).expect("protection succeeds");
    let r = Report::new(
        OrgCode::parse(org).unwrap(),
        &t,
        Some(CAMPAIGN.parse().expect("a campaign id")),
        as_of,
        VERSION_MARK.into(),
        protected,
        outcome,
    );
    let body = serde_json::to_vec(&r).unwrap();
    let mark = VERSION_MARK.to_string();
    let at = body
        .windows(mark.len())
        .position(|w| w == mark.as_bytes())
        .expect("the version mark is in the body");
    (body[..at].to_vec(), body[at + mark.len()..].to_vec())
}

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Org `i`'s client, connecting from its own loopback address (127.0.1.x): a real county has an
/// address of its own, and the hub caps connections per address in the TLS handshake (32).
fn client(dir: &Path, hub_ca: &[u8], i: usize) -> reqwest::Client {
    let mut pem = std::fs::read(dir.join("cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("key.pem")).unwrap());
    let from = std::net::Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8);
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(from))
        .tls_certs_only([reqwest::Certificate::from_pem(hub_ca).unwrap()])
        .identity(reqwest::Identity::from_pem(&pem).unwrap())
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let a = args();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bin = hub_binary();
    assert!(
        bin.exists(),
        "{} not found: build it with cargo build --release -p bangfu-hub",
        bin.display()
    );
    let root = tempfile::tempdir().unwrap();
    let t0 = Instant::now();

    // PKI through the hub's library (the same code as `bangfu-hub pki`), 200 identities in a second.
    let pki_dir = root.path().join("pki");
    let hub_org = OrgCode::parse("HB").unwrap();
    pki::init(&pki_dir, &hub_org, "湖北省总工会", 365).unwrap();
    let tls = root.path().join("tls-HB");
    pki::issue(
        &pki_dir,
        &hub_org,
        "湖北省总工会",
        &IssueOptions::for_days(vec!["127.0.0.1".into()], 30),
        &tls,
    )
    .unwrap();
    let orgs = org_codes(a.clients);
    for o in &orgs {
        pki::issue(
            &pki_dir,
            &OrgCode::parse(o).unwrap(),
            "县总工会",
            &IssueOptions::for_days(vec![], 30),
            &root.path().join(format!("tls-{o}")),
        )
        .unwrap();
    }

    // The hub through its CLI.
    let data = root.path().join("hub");
    let mut init = vec![
        "init",
        "--data",
        s(&data),
        "--org",
        "HB",
        "--name",
        "湖北省总工会",
        "--level",
        "province",
        "--tls",
        s(&tls),
        "--pki",
        s(&pki_dir),
    ];
    if let Some(url) = &a.database_url {
        init.extend(["--database-url", url.as_str()]);
    }
    hub(&bin, &init);
    for o in &orgs {
        hub(
            &bin,
            &[
                "org",
                "add",
                "--data",
                s(&data),
                "--code",
                o,
                "--name",
                "县总工会",
            ],
        );
    }
    hub(
        &bin,
        &[
            "campaign",
            "create",
            "--data",
            s(&data),
            "--id",
            CAMPAIGN,
            "--template",
            "dangan",
            "--title",
            "2026年档案统计",
            "--start",
            "2026-01-01",
            "--end",
            "2026-06-30",
            "--due",
            "county=2099-12-31",
            "--due",
            "prefecture=2099-12-31",
        ],
    );
    let log = root.path().join("serve.log");
    let mut child = Command::new(&bin)
        .args(["serve", "--data", s(&data), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let hub_pid = child.id();
    let server = Running(child);
    let addr = line
        .trim()
        .strip_prefix("listening on https://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let url = format!("https://127.0.0.1:{port}/api/v1/reports");

    let parts: Vec<(Vec<u8>, Vec<u8>)> = orgs
        .iter()
        .enumerate()
        .map(|(i, o)| report_parts(o, 1000 + i as u64, a.households))
        .collect();
    let ca = std::fs::read(tls.join("ca.pem")).unwrap();
    let clients: Vec<reqwest::Client> = orgs
        .iter()
        .enumerate()
        .map(|(i, o)| client(&root.path().join(format!("tls-{o}")), &ca, i))
        .collect();
    // Each post is signed as a node signs it (a detached JWS over the exact body, in the
    // `bangfu-signature` header): the hub verifies every one.
    let signers: Vec<std::sync::Arc<Signer>> = orgs
        .iter()
        .map(|o| {
            std::sync::Arc::new(Signer::from_dir(&root.path().join(format!("tls-{o}"))).unwrap())
        })
        .collect();
    eprintln!(
        "setup: {} orgs, {} households each, report body {} bytes, hub pid {hub_pid} ({}), {:.1} s",
        orgs.len(),
        a.households,
        parts[0].0.len() + parts[0].1.len() + 1,
        a.database_url.as_deref().map_or("SQLite", |_| "PostgreSQL"),
        t0.elapsed().as_secs_f64()
    );

    // Warm-up: one post per client (handshake and connection set up), version 1, not counted.
    let mut warm = tokio::task::JoinSet::new();
    for ((c, (pre, post)), signer) in clients.iter().zip(&parts).zip(&signers) {
        let (c, body, url) = (
            c.clone(),
            [pre.as_slice(), b"1", post.as_slice()].concat(),
            url.clone(),
        );
        let jws = signer.sign(&body, chrono::Utc::now()).unwrap();
        warm.spawn(async move {
            c.post(url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, jws.as_str())
                .body(body)
                .send()
                .await
                .map(|r| r.status())
        });
    }
    while let Some(r) = warm.join_next().await {
        let status = r.unwrap().expect("warm-up post");
        assert_eq!(status, reqwest::StatusCode::CREATED, "warm-up post refused");
    }

    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for ((c, (pre, post)), signer) in clients.into_iter().zip(parts).zip(signers) {
        let url = url.clone();
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut failures: Vec<String> = Vec::new();
            let mut version: u64 = 2;
            while Instant::now() < deadline {
                let mut body = Vec::with_capacity(pre.len() + post.len() + 10);
                body.extend_from_slice(&pre);
                body.extend_from_slice(version.to_string().as_bytes());
                body.extend_from_slice(&post);
                let t = Instant::now();
                let jws = signer.sign(&body, chrono::Utc::now()).unwrap();
                let res = c
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(SIGNATURE_HEADER, jws.as_str())
                    .body(body)
                    .send()
                    .await;
                let outcome = match res {
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        if status == reqwest::StatusCode::CREATED {
                            Ok(())
                        } else {
                            Err(format!("{status}: {text}"))
                        }
                    }
                    Err(e) => Err(format!("{e}")),
                };
                lat.push(t.elapsed());
                if let Err(e) = outcome {
                    failures.push(e);
                }
                version += 1;
            }
            (lat, failures)
        });
    }
    let mut lat = Vec::new();
    let mut failures = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (l, f) = r.unwrap();
        lat.extend(l);
        failures.extend(f);
    }
    let elapsed = start.elapsed();
    lat.sort();
    let posts = lat.len();
    println!(
        "hub: {}",
        a.database_url
            .as_deref()
            .map_or("SQLite (default)".to_string(), |_| "PostgreSQL".to_string())
    );
    println!(
        "clients: {} (one reqwest client and identity each, keep-alive)",
        orgs.len()
    );
    println!("duration: {:.2} s", elapsed.as_secs_f64());
    println!("posts: {posts} (plus {} warm-up posts)", orgs.len());
    println!("failures: {}", failures.len());
    println!(
        "throughput: {:.0} reports/s",
        posts as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&lat, 0.50).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "target 2,000 reports/s: {:.2}×",
        posts as f64 / elapsed.as_secs_f64() / 2000.0
    );
    for f in failures.iter().take(5) {
        eprintln!("failure: {f}");
    }
    drop(server);
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
