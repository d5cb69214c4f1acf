//! Pull, with real processes over real mutual TLS: a province HB, a prefecture hub H (its child), and
//! a county node H01 that serves its reports (`bangfu-node serve --listen`) but does not push
//! (`--no-push`). The prefecture pulls on demand or on a schedule; the report goes through the same
//! intake as a push and up to the province. Only the node's parent may pull; a child without an
//! address is a clear error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bangfu_e2e::pulls::{holds, rollup, serve_hub, serve_node, wait_until};
use bangfu_e2e::{
    Serving, archive_total, county_node, init_hub, issue_identity, ok, pki_init, run, s, serve,
    today,
};

const CAMPAIGN: &str = "dangan-pull";

/// The running federation of one test.
struct Tree {
    dir: tempfile::TempDir,
    pki: PathBuf,
    province: PathBuf,
    prefecture: PathBuf,
    prefecture_url: String,
    node: PathBuf,
    /// Households in H01's archive on the campaign's end day, counted from the generated file.
    expected: u64,
    _serving: Vec<Serving>,
}

impl Tree {
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Province HB with the campaign, prefecture H (serving, with `hub_args`), node H01 connected to H
/// with a server certificate for 127.0.0.1, imported but not yet serving.
fn tree(hub_args: &[&str]) -> Tree {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let pki = dir.join("pki");
    pki_init(&pki, "HB", "湖北省总工会");
    let province = dir.join("hub-HB");
    init_hub(&province, dir, &pki, "HB", "湖北省总工会", "province", None);
    let end = today();
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
            "dangan",
            "--title",
            "档案统计",
            "--start",
            "2026-01-01",
            "--end",
            &end,
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
            s(&province),
            "--code",
            "H",
            "--name",
            "荆门市总工会",
        ],
    );
    let (province_serving, province_url) = serve(&province, &dir.join("hub-HB.log"), "127.0.0.1:0");

    let prefecture = dir.join("hub-H");
    init_hub(
        &prefecture,
        dir,
        &pki,
        "H",
        "荆门市总工会",
        "prefecture",
        Some(&province_url),
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&prefecture),
            "--code",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    let (prefecture_serving, prefecture_url) =
        serve_hub(&prefecture, &dir.join("hub-H.log"), hub_args);
    wait_until(Duration::from_secs(20), || rollup(&prefecture, CAMPAIGN))
        .expect("the campaign reaches the prefecture");

    let (node, files) = county_node(dir, &pki, "H01", 120, 7, &prefecture_url, &["127.0.0.1"]);
    let expected = archive_total(&files.join("households.csv"), &end);
    Tree {
        pki,
        province,
        prefecture,
        prefecture_url,
        node,
        expected,
        _serving: vec![province_serving, prefecture_serving],
        dir: root,
    }
}

/// Starts H01 serving pulls without pushing, waits until it holds version 1, and registers its address at `hub`.
fn node_serving(t: &Tree, hub: &Path) -> Serving {
    let (serving, url) = serve_node(
        &t.node,
        &t.path().join("node-H01.log"),
        &["--listen", "127.0.0.1:0", "--no-push"],
    );
    wait_until(Duration::from_secs(20), || {
        ok("bangfu-node", &["status", "--data", s(&t.node)])
            .contains("version 1")
            .then_some(())
    })
    .expect("the node versions its report");
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(hub),
            "--code",
            "H01",
            "--name",
            "京山县总工会",
            "--address",
            &url.unwrap(),
        ],
    );
    serving
}

/// Whether a rollup's total is (or brackets) `expected`.
fn totals(r: &serde_json::Value, expected: u64) -> bool {
    holds(&r["cells"]["total"], expected)
}

#[test]
fn a_pulled_report_is_taken_in_as_if_pushed_and_reaches_the_province() {
    let t = tree(&[]);
    let _node = node_serving(&t, &t.prefecture);

    let out = ok(
        "bangfu-hub",
        &[
            "pull",
            "--data",
            s(&t.prefecture),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
        ],
    );
    assert!(
        out.contains("pulled H01 campaign dangan-pull version 1: new"),
        "{out}"
    );

    let r = rollup(&t.prefecture, CAMPAIGN).unwrap();
    assert_eq!(r["completeness"]["received"], 1, "{r}");
    assert!(totals(&r, t.expected), "{r} vs {}", t.expected);
    // The province gets the prefecture's new rollup, as after a push.
    let top = wait_until(Duration::from_secs(20), || {
        rollup(&t.province, CAMPAIGN).filter(|r| r["completeness"]["received"] == 1)
    })
    .expect("the prefecture's rollup reaches the province");
    assert!(totals(&top, t.expected), "{top} vs {}", t.expected);

    // Pulling again brings the same version: already held, nothing new.
    let again = ok(
        "bangfu-hub",
        &[
            "pull",
            "--data",
            s(&t.prefecture),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
        ],
    );
    assert!(again.contains("version 1: already held"), "{again}");
    // A push of that version is the same body and hash: the hub calls it a duplicate.
    let pushed = ok(
        "bangfu-node",
        &["push", "--data", s(&t.node), "--campaign", CAMPAIGN],
    );
    assert!(pushed.contains("version 1: acked (duplicate)"), "{pushed}");
}

#[test]
fn a_hub_that_is_not_the_nodes_parent_is_refused_by_the_node() {
    let t = tree(&[]);
    // J is another prefecture of the same CA, with its own identity, that knows H01's address.
    let j = t.path().join("hub-J");
    ok(
        "bangfu-hub",
        &[
            "init",
            "--data",
            s(&j),
            "--org",
            "J",
            "--name",
            "黄冈市总工会",
            "--level",
            "prefecture",
            "--tls",
            s(&issue_identity(&t.pki, t.path(), "J", &["127.0.0.1"])),
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "campaign",
            "create",
            "--data",
            s(&j),
            "--id",
            CAMPAIGN,
            "--template",
            "dangan",
            "--title",
            "档案统计",
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
    let _node = node_serving(&t, &j);

    let out = run(
        "bangfu-hub",
        &[
            "pull",
            "--data",
            s(&j),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "J's pull must fail");
    assert!(
        err.contains("403") && err.contains("only H01's parent H may pull"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let r = rollup(&j, CAMPAIGN).unwrap();
    assert_eq!(r["completeness"]["received"], 0, "nothing stored at J: {r}");
    let log = std::fs::read_to_string(t.path().join("node-H01.log")).unwrap();
    assert!(
        log.contains("pull refused") && log.contains("peer=J"),
        "{log}"
    );
}

#[test]
fn pulling_a_child_without_an_address_is_a_clear_error() {
    let t = tree(&[]);
    let out = run(
        "bangfu-hub",
        &[
            "pull",
            "--data",
            s(&t.prefecture),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("H01 has no address") && err.contains("--address"),
        "{err}"
    );
    let out = run(
        "bangfu-hub",
        &[
            "pull",
            "--data",
            s(&t.prefecture),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H09",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("H09 is not a registered child"));
    let _ = &t.prefecture_url;
}

#[test]
fn a_scheduled_pull_picks_up_a_report_the_node_never_pushed() {
    let t = tree(&["--pull-schedule", "*/2 * * * * *"]);
    let _node = node_serving(&t, &t.prefecture);
    let r = wait_until(Duration::from_secs(30), || {
        rollup(&t.prefecture, CAMPAIGN).filter(|r| r["completeness"]["received"] == 1)
    })
    .unwrap_or_else(|| {
        panic!(
            "no scheduled pull: {}",
            std::fs::read_to_string(t.path().join("hub-H.log")).unwrap_or_default()
        )
    });
    assert!(totals(&r, t.expected), "{r} vs {}", t.expected);
    let status = ok("bangfu-node", &["status", "--data", s(&t.node)]);
    assert!(
        status.contains("version 1  pending  attempts 0"),
        "the node never pushed: {status}"
    );
    let top = wait_until(Duration::from_secs(20), || {
        rollup(&t.province, CAMPAIGN).filter(|r| r["completeness"]["received"] == 1)
    })
    .expect("the prefecture's rollup reaches the province after a scheduled pull");
    assert!(totals(&top, t.expected), "{top} vs {}", t.expected);
}
