//! Support for the end-to-end tests in `tests/tests/`: they start the workspace's real binaries (built
//! by `cargo test --workspace`, which builds every member's binaries before running any test) and
//! count what the hubs should hold from the generated files themselves.

pub mod federation;
pub mod proxy;
pub mod rollups;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub mod pulls;

/// The workspace's binaries, next to this test's own executable (target/debug/deps/..).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace`",
        path.display()
    );
    path
}

pub fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(binary(bin)).args(args).output().unwrap()
}

pub fn ok(bin: &str, args: &[&str]) -> String {
    let out = run(bin, args);
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bangfu-hub serve` on a free loopback port; returns the process and its URL.
pub fn serve(hub: &Path, log: &Path, listen: &str) -> (Serving, String) {
    serve_with_env(hub, log, listen, &[])
}

/// [`serve`] with extra environment variables for the hub process.
pub fn serve_with_env(
    hub: &Path,
    log: &Path,
    listen: &str,
    env: &[(&str, &str)],
) -> (Serving, String) {
    serve_with(hub, log, listen, &[], env)
}

/// `bangfu-hub serve --data HUB --listen LISTEN --sync-interval 1` with `extra` arguments and `env`;
/// returns the process and its URL once it listens (its log appended to `log`).
pub fn serve_with(
    hub: &Path,
    log: &Path,
    listen: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Serving, String) {
    let mut child = Command::new(binary("bangfu-hub"))
        .args([
            "serve",
            "--data",
            s(hub),
            "--listen",
            listen,
            "--sync-interval",
            "1",
        ])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let serving = Serving(child);
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| {
            panic!(
                "{line:?}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
        .to_string();
    (serving, url)
}

/// Households in the archive on `day` (CONTRACT.md), counted from a generated file.
pub fn archive_total(households_csv: &Path, day: &str) -> u64 {
    let mut r = csv::Reader::from_path(households_csv).unwrap();
    let header: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (filed, status, lifted) = (col("建档日期"), col("档案状态"), col("脱困日期"));
    r.records()
        .map(|rec| rec.unwrap())
        .filter(|rec| rec[filed].is_empty() || &rec[filed] <= day)
        .filter(|rec| &rec[status] == "在档" || (&rec[status] == "已脱困" && &rec[lifted] > day))
        .count() as u64
}

/// A synthetic archive of `households` households of `org`, generated with `bangfu-node gen --seed`
/// into `dir/gen-ORG` (households, members and aid records as CSV); returns that folder.
pub fn generate(dir: &Path, org: &str, households: u64, seed: u64) -> PathBuf {
    let files = dir.join(format!("gen-{org}"));
    ok(
        "bangfu-node",
        &[
            "gen",
            "--org",
            org,
            "--households",
            &households.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
            s(&files),
        ],
    );
    files
}

/// A county node as deployed, in `dir/node-ORG`: a synthetic archive of `households` households
/// generated with `bangfu-node gen --seed` into `dir/gen-ORG`, imported whole (households, members,
/// aid records), and connected to `parent` with an identity issued from `pki` into `dir/tls-ORG`
/// (`hosts`: the SANs it needs if it also serves pulls). Returns the node's data folder and the
/// generated files' folder (to count from).
pub fn county_node(
    dir: &Path,
    pki: &Path,
    org: &str,
    households: u64,
    seed: u64,
    parent: &str,
    hosts: &[&str],
) -> (PathBuf, PathBuf) {
    let files = generate(dir, org, households, seed);
    let node = dir.join(format!("node-{org}"));
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
        ],
    );
    for kind in ["households", "members", "aid"] {
        ok(
            "bangfu-node",
            &[
                "import",
                "--data",
                s(&node),
                s(&files.join(format!("{kind}.csv"))),
            ],
        );
    }
    ok(
        "bangfu-node",
        &[
            "connect",
            "--data",
            s(&node),
            "--parent",
            parent,
            "--tls",
            s(&issue_identity(pki, dir, org, hosts)),
        ],
    );
    (node, files)
}

/// A hub as deployed, in `data`: `bangfu-hub init` as `org` (`name`, `level` province or
/// prefecture) with an identity for 127.0.0.1 issued from `pki` into `dir/tls-ORG`, checking `pki`'s
/// revocations, under `parent` when given. Returns the identity's folder (for a client as that hub).
pub fn init_hub(
    data: &Path,
    dir: &Path,
    pki: &Path,
    org: &str,
    name: &str,
    level: &str,
    parent: Option<&str>,
) -> PathBuf {
    let tls = issue_identity(pki, dir, org, &["127.0.0.1"]);
    let mut args = vec![
        "init",
        "--data",
        s(data),
        "--org",
        org,
        "--name",
        name,
        "--level",
        level,
        "--tls",
        s(&tls),
        "--pki",
        s(pki),
    ];
    if let Some(url) = parent {
        args.extend(["--parent", url]);
    }
    ok("bangfu-hub", &args);
    tls
}

/// `BIN user add` (`bangfu-hub` or `bangfu-node`) for a person in `data`, the password on stdin as
/// an operator types it.
pub fn user_add(bin: &str, data: &Path, name: &str, role: &str, password: &str) {
    use std::io::Write as _;
    let mut child = Command::new(binary(bin))
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
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{bin} user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The province's CA in `pki` (`bangfu-hub pki init`) for `org`, named `name`.
pub fn pki_init(pki: &Path, org: &str, name: &str) {
    ok(
        "bangfu-hub",
        &["pki", "init", "--dir", s(pki), "--org", org, "--name", name],
    );
}

/// The tree-wide `dangan` campaign `id` at `hub` as the end-to-end tests use it: counted from
/// 2026-01-01 to today, every level due in 2099 (never late).
pub fn dangan_campaign(hub: &Path, id: &str) {
    let end = today();
    ok(
        "bangfu-hub",
        &[
            "campaign",
            "create",
            "--data",
            s(hub),
            "--id",
            id,
            "--template",
            "dangan",
            "--title",
            "困难职工档案统计",
            "--start",
            "2026-01-01",
            "--end",
            &end,
            "--due",
            "county=2099-12-31",
            "--due",
            "prefecture=2099-12-31",
            "--due",
            "province=2099-12-31",
        ],
    );
}

/// Today in Asia/Shanghai (YYYY-MM-DD): the end day the tests' campaigns are counted on.
pub fn today() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .to_string()
}

/// Issues `org` an identity (ca.pem, cert.pem, key.pem) from the CA in `pki` with the real
/// `bangfu-hub pki issue`, into `dir/tls-ORG`; `hosts` become the SANs a server needs.
pub fn issue_identity(pki: &Path, dir: &Path, org: &str, hosts: &[&str]) -> PathBuf {
    let out = dir.join(format!("tls-{org}"));
    let mut args = vec![
        "pki",
        "issue",
        "--dir",
        s(pki),
        "--org",
        org,
        "--name",
        "单位",
        "--out",
        s(&out),
    ];
    for h in hosts {
        args.extend(["--host", h]);
    }
    ok("bangfu-hub", &args);
    out
}
