//! `connect`, `push` and `status` through the real binary, with real certificates from the project's
//! own PKI (`bangfu_client::pki`, STYLE.md "Tests"). The parent here is a closed port: what a county sees
//! when its hub is down. Delivery to a real hub is the end-to-end test, once the hub serves.

use std::path::{Path, PathBuf};

use crate::common::*;
use bangfu_shared::org::OrgCode;

/// A CA for HB and an identity for county H01 (with 127.0.0.1 as a host), in `dir/pki` and `dir/tls`.
fn identity(dir: &Path) -> PathBuf {
    let pki = dir.join("pki");
    bangfu_client::pki::init(&pki, &OrgCode::parse("HB").unwrap(), "湖北省总工会", 365).unwrap();
    let tls = dir.join("tls");
    let options = bangfu_client::pki::IssueOptions::for_days(vec!["127.0.0.1".into()], 30);
    bangfu_client::pki::issue(
        &pki,
        &OrgCode::parse("H01").unwrap(),
        "京山县总工会",
        &options,
        &tls,
    )
    .unwrap();
    tls
}

/// An https URL on a port nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("https://127.0.0.1:{port}")
}

fn with_campaign(dir: &Path) -> PathBuf {
    let files = generate(dir, "H01", 60, 5, 0.0, "csv");
    let data = init_node(dir, "H01");
    for kind in ["households", "members", "aid"] {
        ok(&[
            "import",
            "--data",
            s(&data),
            s(&files.join(format!("{kind}.csv"))),
        ]);
    }
    ok(&[
        "campaign",
        "add",
        "--data",
        s(&data),
        "--id",
        "dangan2026",
        "--template",
        "dangan",
        "--title",
        "档案统计",
        "--start",
        "2026-01-01",
        "--end",
        "2026-06-30",
    ]);
    data
}

#[test]
fn a_push_to_an_unreachable_parent_fails_keeps_the_version_queued_and_does_not_version_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = with_campaign(dir.path());
    let tls = identity(dir.path());
    ok(&[
        "connect",
        "--data",
        s(&data),
        "--parent",
        &closed_port(),
        "--tls",
        s(&tls),
    ]);

    let first = run(&["push", "--data", s(&data), "--campaign", "dangan2026"]);
    let (out, err) = (
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr),
    );
    assert!(
        !first.status.success(),
        "push to a closed port must fail\n{out}\n{err}"
    );
    assert!(
        out.contains("campaign dangan2026 version 1: new version queued"),
        "{out}"
    );
    assert!(
        out.contains("version 1: parent unreachable, will retry"),
        "{out}"
    );
    assert!(err.contains("could not take 1 version(s)"), "{err}");
    let status = ok(&["status", "--data", s(&data)]);
    assert!(
        status.contains("version 1  pending  attempts 1"),
        "{status}"
    );

    let second = run(&["push", "--data", s(&data), "--campaign", "dangan2026"]);
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(!second.status.success());
    assert!(
        out.contains("version 1: unchanged, no new version"),
        "{out}"
    );
    let status = ok(&["status", "--data", s(&data)]);
    assert!(
        status.contains("version 1  pending  attempts 2"),
        "{status}"
    );
    assert!(!status.contains("version 2"), "{status}");
}

#[test]
fn connect_refuses_a_folder_without_the_identity_and_a_plain_http_parent() {
    let dir = tempfile::tempdir().unwrap();
    let data = init_node(dir.path(), "H01");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&[
        "connect",
        "--data",
        s(&data),
        "--parent",
        "https://127.0.0.1:9",
        "--tls",
        s(&empty),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ca.pem"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tls = identity(dir.path());
    let out = run(&[
        "connect",
        "--data",
        s(&data),
        "--parent",
        "http://127.0.0.1:9",
        "--tls",
        s(&tls),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://"));
}

#[test]
fn push_without_a_parent_queues_the_version_and_says_to_connect() {
    let dir = tempfile::tempdir().unwrap();
    let data = with_campaign(dir.path());
    let out = run(&["push", "--data", s(&data), "--campaign", "dangan2026"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bangfu-node connect"));
    assert!(ok(&["status", "--data", s(&data)]).contains("version 1  pending  attempts 0"));
}

#[test]
fn serve_versions_open_campaigns_retries_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = with_campaign(dir.path());
    // A campaign that ends today, so `serve` reports on it whatever the date the test runs.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .to_string();
    ok(&[
        "campaign",
        "add",
        "--data",
        s(&data),
        "--id",
        "open",
        "--template",
        "dangan",
        "--title",
        "档案",
        "--start",
        "2026-01-01",
        "--end",
        &today,
    ]);
    let tls = identity(dir.path());
    ok(&[
        "connect",
        "--data",
        s(&data),
        "--parent",
        &closed_port(),
        "--tls",
        s(&tls),
    ]);

    let child = std::process::Command::new(bin())
        .args(["serve", "--data", s(&data), "--interval", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "serve stops cleanly on SIGTERM\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("campaign open version 1: new version queued"),
        "{stdout}"
    );
    assert!(
        stdout.contains("campaign open version 1: parent unreachable, will retry"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("campaign sync failed").count(),
        1,
        "a lasting failure is said once\n{stdout}"
    );
    assert_eq!(
        stdout
            .matches("campaign open version 1: new version queued")
            .count(),
        1,
        "unchanged content, no new version\n{stdout}"
    );
    assert!(stdout.trim_end().ends_with("stopped / 已停止"), "{stdout}");
    assert!(ok(&["status", "--data", s(&data)]).contains("version 1  pending"));
}
