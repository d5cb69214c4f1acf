//! Reconciliation as deployed: real hubs and nodes over mutual TLS, certificates from
//! `bangfu-hub pki`. A prefecture whose rollup does not add up is stored and flagged at the province
//! (naming the prefecture and the cell); a county whose typed-in figure jumps against the previous
//! campaign of the same table is flagged as an outlier; and both findings are in the JSON that
//! `bangfu-hub rollup` prints, with the stored rollup version and the child versions it was made from.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bangfu_e2e::rollups::{rollup, wait_for};
use bangfu_e2e::{county_node, dangan_campaign, init_hub, ok, pki_init, run, s, serve, today};
use serde_json::Value;

/// The findings of a rollup with this rule.
fn issues<'a>(r: &'a Value, rule: &str) -> Vec<&'a Value> {
    r["issues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["rule"] == rule)
        .collect()
}

/// A county node with a generated archive, connected to `url`.
fn county(
    dir: &Path,
    pki: &Path,
    org: &str,
    households: u64,
    seed: u64,
    url: &str,
) -> std::path::PathBuf {
    county_node(dir, pki, org, households, seed, url, &[]).0
}

const CAMPAIGN: &str = "dangan-rec";

#[test]
fn a_tampered_prefecture_rollup_is_stored_and_flagged_at_the_province() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let pki = dir.join("pki");
    pki_init(&pki, "HB", "湖北省总工会");
    let province = dir.join("hub-HB");
    init_hub(&province, dir, &pki, "HB", "湖北省总工会", "province", None);
    dangan_campaign(&province, CAMPAIGN);
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
    let (_province_serving, province_url) =
        serve(&province, &dir.join("hub-HB.log"), "127.0.0.1:0");

    let prefecture = dir.join("hub-H");
    let h_tls = init_hub(
        &prefecture,
        dir,
        &pki,
        "H",
        "荆门市总工会",
        "prefecture",
        Some(&province_url),
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
    let (_prefecture_serving, prefecture_url) =
        serve(&prefecture, &dir.join("hub-H.log"), "127.0.0.1:0");
    wait_for(&prefecture, CAMPAIGN, Duration::from_secs(20), |_| true);
    for (org, households, seed) in [("H01", 60, 21), ("H02", 200, 22)] {
        let node = county(dir, &pki, org, households, seed, &prefecture_url);
        ok(
            "bangfu-node",
            &["push", "--data", s(&node), "--campaign", CAMPAIGN],
        );
    }

    // The honest rollup arrives: no sum finding.
    let honest_top = wait_for(&province, CAMPAIGN, Duration::from_secs(30), |r| {
        r["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["org"] == "H" && c["children"].as_array().unwrap().len() == 2)
    });
    assert!(
        issues(&honest_top, "hub_sum").is_empty(),
        "{}",
        honest_top["issues"]
    );

    // The prefecture's report as it sent it (its outbox), then tampered: one more household in the
    // total than its counties' reports add up to, as a new version.
    let out = Command::new("sqlite3")
        .arg(prefecture.join("hub.db"))
        .arg(format!("SELECT body FROM upstream WHERE campaign = '{CAMPAIGN}' AND state = 'acked' ORDER BY version DESC LIMIT 1"))
        .output()
        .expect("running sqlite3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tampered: Value = serde_json::from_slice(&out.stdout).unwrap();
    let honest_version = tampered["version"].as_u64().unwrap();
    tampered["version"] = Value::from(honest_version + 1);
    let total = tampered["cells"]["total"].clone();
    let reported = match total.get("value").and_then(Value::as_i64) {
        Some(v) => {
            tampered["cells"]["total"] = serde_json::json!({ "value": v + 1 });
            (v + 1).to_string()
        }
        None => {
            let (lo, hi) = (
                total["lower"].as_i64().unwrap(),
                total["upper"].as_i64().unwrap(),
            );
            tampered["cells"]["total"] = serde_json::json!({ "lower": lo + 1, "upper": hi + 1 });
            format!("[{}, {}]", lo + 1, hi + 1)
        }
    };

    // Posted with the prefecture's real certificate, through the client library a hub sends with.
    let parent = bangfu_client::Parent::new(&province_url, &h_tls).unwrap();
    let body = serde_json::to_vec(&tampered).unwrap();
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(parent.post_report(&body));
    assert!(
        matches!(
            outcome,
            bangfu_client::Outcome::Stored {
                duplicate: false,
                ..
            }
        ),
        "stored, to be flagged: {outcome:?}"
    );

    let top = wait_for(&province, CAMPAIGN, Duration::from_secs(10), |r| {
        !issues(r, "hub_sum").is_empty()
    });
    let found = issues(&top, "hub_sum");
    assert_eq!(found.len(), 1, "{}", top["issues"]);
    assert_eq!(found[0]["org"], "H", "the intermediate hub is named");
    assert_eq!(
        found[0]["cells"],
        serde_json::json!(["total"]),
        "{}",
        found[0]
    );
    let detail = found[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("reported {reported}")),
        "both figures: {detail}"
    );
    assert!(detail.contains("sum to"), "{detail}");

    // The rollup says what it was made from, and that version can be printed again as it was.
    let source = top["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["org"] == "H")
        .unwrap()
        .clone();
    assert_eq!(source["version"], honest_version + 1, "{source}");
    assert_eq!(source["hash"].as_str().unwrap().len(), 64, "{source}");
    let version = top["version"].as_u64().unwrap();
    let stored: Value = serde_json::from_str(&ok(
        "bangfu-hub",
        &[
            "rollup",
            "--data",
            s(&province),
            "--campaign",
            CAMPAIGN,
            "--version",
            &version.to_string(),
        ],
    ))
    .unwrap();
    assert_eq!(stored, top);
    let earlier: Value = serde_json::from_str(&ok(
        "bangfu-hub",
        &[
            "rollup",
            "--data",
            s(&province),
            "--campaign",
            CAMPAIGN,
            "--version",
            &honest_top["version"].to_string(),
        ],
    ))
    .unwrap();
    assert!(
        issues(&earlier, "hub_sum").is_empty(),
        "an earlier version is printed as it was"
    );
    assert!(version > honest_top["version"].as_u64().unwrap());
    let missing = run(
        "bangfu-hub",
        &[
            "rollup",
            "--data",
            s(&province),
            "--campaign",
            CAMPAIGN,
            "--version",
            "999",
        ],
    );
    assert!(!missing.status.success());
    let err = String::from_utf8(missing.stderr).unwrap();
    assert!(
        err.contains("999") && err.trim_end().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn a_typed_in_figure_that_jumps_against_the_previous_campaign_is_an_outlier() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let pki = dir.join("pki");
    pki_init(&pki, "H", "荆门市总工会");
    let hub = dir.join("hub");
    init_hub(&hub, dir, &pki, "H", "荆门市总工会", "prefecture", None);
    let end = today();
    for (id, start, end) in [
        ("songnuan-2025", "2025-01-01", "2025-12-31"),
        ("songnuan-2026", "2026-01-01", end.as_str()),
    ] {
        ok(
            "bangfu-hub",
            &[
                "campaign",
                "create",
                "--data",
                s(&hub),
                "--id",
                id,
                "--template",
                "songnuan",
                "--title",
                "送温暖",
                "--start",
                start,
                "--end",
                end,
                "--due",
                "county=2099-12-31",
                "--due",
                "prefecture=2099-12-31",
            ],
        );
    }
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
    let (_serving, url) = serve(&hub, &dir.join("hub.log"), "127.0.0.1:0");
    let node = county(dir, &pki, "H01", 80, 31, &url);
    // Enterprises visited (4A, typed in): 30 last year, 200 this year.
    for (campaign, visited) in [("songnuan-2025", "4A=30"), ("songnuan-2026", "4A=200")] {
        ok(
            "bangfu-node",
            &["push", "--data", s(&node), "--campaign", campaign],
        );
        ok(
            "bangfu-node",
            &["enter", "--data", s(&node), "--campaign", campaign, visited],
        );
        ok(
            "bangfu-node",
            &["push", "--data", s(&node), "--campaign", campaign],
        );
    }

    let now = rollup(&hub, "songnuan-2026").unwrap();
    let found: Vec<&Value> = issues(&now, "outlier")
        .into_iter()
        .filter(|i| i["cells"] == serde_json::json!(["4A"]))
        .collect();
    assert_eq!(found.len(), 1, "{}", now["issues"]);
    assert_eq!(found[0]["org"], "H01");
    let detail = found[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("30 in `songnuan-2025`, now 200"),
        "{detail}"
    );
    assert_eq!(
        now["cells"]["4A"]["value"].to_string().trim_matches('"'),
        "200",
        "{}",
        now["cells"]
    );
    // The earlier campaign has nothing before it to compare with.
    let before = rollup(&hub, "songnuan-2025").unwrap();
    assert!(
        issues(&before, "outlier").is_empty(),
        "{}",
        before["issues"]
    );
}
