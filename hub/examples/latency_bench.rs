//! Benchmark: how long a county's new report version takes to appear in the province's rollup,
//! through a prefecture hub. Real release binaries, real sockets, real mutual TLS, SQLite stores.
//!
//! Sets up, in a temp dir: a CA (`bangfu-hub pki`), a province hub HB with a `songnuan` campaign, a
//! prefecture hub H (child of HB, `--sync-interval 1`), and two county nodes H01 and H02 with generated
//! archives (`bangfu-node gen`, imported). Then measures two paths, each over `--samples` versions
//! (after 5 unmeasured warm-up versions):
//!
//! - `hubs`: H02's real report (from `bangfu-node report`) posted with the client library
//!   (`bangfu_client::Parent::post_report`) as version v; the clock runs from just before the post to
//!   the moment a `GET /api/v1/campaigns/ID/rollup` on the province shows H02 at version v inside H.
//! - `node`: H01's staff type a new figure (`bangfu-node enter 4A=i`, not timed), then the clock runs
//!   from starting `bangfu-node push` (a process: campaign sync, report, version, send) to the
//!   province's rollup showing H01's 4A = i inside H.
//!
//! The province is polled every 2 ms by a client holding H's identity (a keep-alive connection).
//!
//! Usage: `latency_bench [--samples 200] [--households 2000] [--mode both|hubs|node]`; run it through
//! `bench/latency.sh`. Binaries: next to this example (target/release), or `$BANGFU_BIN_DIR`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CAMPAIGN: &str = "bench-songnuan";
const WARMUP: u32 = 5;

struct Args {
    samples: u32,
    households: u32,
    mode: String,
}

fn args() -> Args {
    let mut a = Args {
        samples: 200,
        households: 2000,
        mode: "both".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--samples" => a.samples = val().parse().expect("--samples N"),
            "--households" => a.households = val().parse().expect("--households N"),
            "--mode" => a.mode = val(),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        ["both", "hubs", "node"].contains(&a.mode.as_str()),
        "--mode both|hubs|node"
    );
    a
}

fn bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("BANGFU_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        // target/release/examples/latency_bench → target/release
        None => std::env::current_exe()
            .unwrap()
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .to_path_buf(),
    };
    dir.join(name)
}

fn ok(name: &str, args: &[&str]) -> String {
    let out = Command::new(bin(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A serving hub, stopped with SIGINT (what `bangfu-hub serve` handles) when dropped.
struct Hub(Child);
impl Drop for Hub {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn serve(data: &Path, log: &Path) -> (Hub, String) {
    let mut child = Command::new(bin("bangfu-hub"))
        .args([
            "serve",
            "--data",
            s(data),
            "--listen",
            "127.0.0.1:0",
            "--sync-interval",
            "1",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("hub did not start: {line:?}"))
        .to_string();
    (Hub(child), url)
}

/// A client holding `tls`'s identity, for reading the province's rollup.
fn reader(tls: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls.join("ca.pem")).unwrap()).unwrap();
    let mut both = std::fs::read(tls.join("cert.pem")).unwrap();
    both.push(b'\n');
    both.extend(std::fs::read(tls.join("key.pem")).unwrap());
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(reqwest::Identity::from_pem(&both).unwrap())
        .build()
        .unwrap()
}

/// Polls the province's rollup every 2 ms until `done` holds for county `org` inside prefecture H.
async fn until_at_province(
    client: &reqwest::Client,
    url: &str,
    org: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
        let county = r["children"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["org"] == "H")
            .flat_map(|p| p["children"].as_array().into_iter().flatten())
            .find(|c| c["org"] == org);
        if county.is_some_and(&done) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{org} did not reach the province in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn summary(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let at = |q: f64| ms[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    println!(
        "{label}: {n} samples, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms, min {:.1} ms (goal p99 ≤ 250 ms: {})",
        at(0.5),
        at(0.9),
        at(0.99),
        ms[n - 1],
        ms[0],
        if at(0.99) <= 250.0 { "met" } else { "NOT met" }
    );
}

#[tokio::main]
async fn main() {
    let a = args();
    let _ = rustls::crypto::ring::default_provider().install_default();
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
            "HB",
            "--name",
            "湖北省总工会",
        ],
    );
    let identity = |org: &str, host: bool| {
        let out = dir.join(format!("tls-{org}"));
        let mut args = vec![
            "pki",
            "issue",
            "--dir",
            s(&pki),
            "--org",
            org,
            "--name",
            "单位",
            "--out",
            s(&out),
        ];
        if host {
            args.extend(["--host", "127.0.0.1"]);
        }
        ok("bangfu-hub", &args);
        out
    };

    let province = dir.join("hub-HB");
    let hb_tls = identity("HB", true);
    ok(
        "bangfu-hub",
        &[
            "init",
            "--data",
            s(&province),
            "--org",
            "HB",
            "--name",
            "湖北省总工会",
            "--level",
            "province",
            "--tls",
            s(&hb_tls),
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&province),
            "--code",
            "H",
            "--name",
            "荆门市总工会",
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "campaign",
            "create",
            "--data",
            s(&province),
            "--id",
            CAMPAIGN,
            "--template",
            "songnuan",
            "--title",
            "送温暖",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-31",
            "--due",
            "county=2099-12-31",
            "--due",
            "prefecture=2099-12-31",
        ],
    );
    let (_province, province_url) = serve(&province, &dir.join("hub-HB.log"));

    let h_tls = identity("H", true);
    let prefecture = dir.join("hub-H");
    ok(
        "bangfu-hub",
        &[
            "init",
            "--data",
            s(&prefecture),
            "--org",
            "H",
            "--name",
            "荆门市总工会",
            "--level",
            "prefecture",
            "--tls",
            s(&h_tls),
            "--parent",
            &province_url,
        ],
    );
    for org in ["H01", "H02"] {
        ok(
            "bangfu-hub",
            &[
                "org",
                "add",
                "--data",
                s(&prefecture),
                "--code",
                org,
                "--name",
                "县总工会",
            ],
        );
    }
    let (_prefecture, prefecture_url) = serve(&prefecture, &dir.join("hub-H.log"));

    // Two real county nodes; each pushes its first version (which also brings the campaign down).
    let mut tls = std::collections::HashMap::new();
    for (org, seed) in [("H01", 1u32), ("H02", 2)] {
        let files = dir.join(format!("gen-{org}"));
        ok(
            "bangfu-node",
            &[
                "gen",
                "--org",
                org,
                "--households",
                &a.households.to_string(),
                "--seed",
                &seed.to_string(),
                "--out",
                s(&files),
            ],
        );
        let node = dir.join(format!("node-{org}"));
        let t = identity(org, false);
        ok(
            "bangfu-node",
            &[
                "init",
                "--data",
                s(&node),
                "--org",
                org,
                "--name",
                "县总工会",
                "--parent",
                &prefecture_url,
                "--tls",
                s(&t),
            ],
        );
        ok(
            "bangfu-node",
            &[
                "import",
                "--data",
                s(&node),
                s(&files.join("households.csv")),
                s(&files.join("members.csv")),
                s(&files.join("aid.csv")),
            ],
        );
        // The prefecture takes the campaign from the province within its first sync.
        let start = Instant::now();
        while Command::new(bin("bangfu-node"))
            .args(["push", "--data", s(&node), "--campaign", CAMPAIGN])
            .output()
            .unwrap()
            .status
            .code()
            != Some(0)
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{org}'s first push kept failing"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        tls.insert(org, t);
    }
    let rollup_url = format!("{province_url}/api/v1/campaigns/{CAMPAIGN}/rollup");
    // Read as the province itself: a hub's rollup is not for its children (docs/decisions.md).
    let watch = reader(&hb_tls);
    until_at_province(&watch, &rollup_url, "H02", |_| true).await;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "set up: {} households per county; load average {}",
        a.households,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    if a.mode != "node" {
        // H02's real report, as its node would send it; each post a new version of it.
        let report = ok(
            "bangfu-node",
            &[
                "report",
                "--data",
                s(&dir.join("node-H02")),
                "--campaign",
                CAMPAIGN,
            ],
        );
        let mut report: serde_json::Value = serde_json::from_str(&report).unwrap();
        let client = bangfu_client::Parent::new(&prefecture_url, &tls["H02"]).unwrap();
        let mut ms = Vec::new();
        for v in 2..2 + WARMUP + a.samples {
            report["version"] = v.into();
            let body = serde_json::to_vec(&report).unwrap();
            let t0 = Instant::now();
            let outcome = client.post_report(&body).await;
            assert!(
                matches!(
                    outcome,
                    bangfu_client::Outcome::Stored {
                        duplicate: false,
                        ..
                    }
                ),
                "version {v}: {outcome:?}"
            );
            until_at_province(&watch, &rollup_url, "H02", |c| c["version"] == v).await;
            if v >= 2 + WARMUP {
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
        }
        summary("hubs only (client library post to H → province rollup)", ms);
    }

    if a.mode != "hubs" {
        let node = dir.join("node-H01");
        let mut ms = Vec::new();
        let mut push_ms = Vec::new();
        for i in 1..=WARMUP + a.samples {
            ok(
                "bangfu-node",
                &[
                    "enter",
                    "--data",
                    s(&node),
                    "--campaign",
                    CAMPAIGN,
                    &format!("4A={i}"),
                ],
            );
            let t0 = Instant::now();
            ok(
                "bangfu-node",
                &["push", "--data", s(&node), "--campaign", CAMPAIGN],
            );
            let pushed = t0.elapsed();
            until_at_province(&watch, &rollup_url, "H01", |c| {
                c["cells"]["4A"]["value"].as_f64() == Some(f64::from(i))
            })
            .await;
            if i > WARMUP {
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                push_ms.push(pushed.as_secs_f64() * 1000.0);
            }
        }
        summary(
            "through a node (bangfu-node push started → province rollup)",
            ms,
        );
        summary("  of which the `bangfu-node push` process itself", push_ms);
    }
}
