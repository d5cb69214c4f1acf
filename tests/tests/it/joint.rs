//! Everything a county sends is safe together (issue 11), through a real hub: one county node pushes
//! three templates counted on one day, a correction (one household's 困难类别 changed by importing a
//! one-row file) and new versions, then a campaign a month later. The test then reads back every
//! report the hub holds from that county, byte for byte from the hub's store, and runs the
//! independent LP attack of `shared/tests/support/attack.rs` over them: no withheld cell may be
//! narrowed below what it needs.
//!
//! What the attacker is assumed to know comes from the templates and from what the test itself did
//! (which archive state and day each report was counted on, and the households added and removed
//! between them, counted from the files it imported), not from the node's ledger or the production
//! audit.

#[path = "../../../shared/tests/support/attack.rs"]
mod attack;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use bangfu_e2e::{county_node, init_hub, ok, s, serve};
use bangfu_shared::aggregate::Period;
use bangfu_shared::disclose::joint;
use bangfu_shared::report::Report;
use bangfu_shared::template;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::{Datelike, Months, NaiveDate};

/// The county: 120 households from seed 7 (small enough that every template withholds cells).
const HOUSEHOLDS: u64 = 120;
const SEED: u64 = 7;

/// A household file's rows (header first), as `bangfu-node gen` wrote it.
fn rows(csv: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(csv)
        .unwrap();
    r.records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .map(|f| f.trim_start_matches('\u{feff}').to_string())
                .collect()
        })
        .collect()
}

/// The rows in the archive on `day` (CONTRACT.md: filed by then, 在档 or lifted after it), as a
/// multiset of whole rows: the households the recipient sees added and removed. Whole rows differ at
/// least wherever the node's coded facts do, so these counts never understate a change.
fn in_archive(rows: &[Vec<String>], day: NaiveDate) -> HashMap<Vec<String>, u64> {
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let (filed, status, lifted) = (col("建档日期"), col("档案状态"), col("脱困日期"));
    let day = day.to_string();
    let mut m = HashMap::new();
    for r in &rows[1..] {
        let filed_by = r[filed].is_empty() || r[filed] <= day;
        let held = r[status] == "在档" || (r[status] == "已脱困" && r[lifted] > day);
        if filed_by && held {
            *m.entry(r.clone()).or_insert(0) += 1;
        }
    }
    m
}

/// Records in `a` not in `b` (multiset difference).
fn minus(a: &HashMap<Vec<String>, u64>, b: &HashMap<Vec<String>, u64>) -> u64 {
    a.iter()
        .map(|(k, &n)| n.saturating_sub(b.get(k).copied().unwrap_or(0)))
        .sum()
}

fn create_campaign(hub: &Path, id: &str, template: &str, start: NaiveDate, end: NaiveDate) {
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
            template,
            "--title",
            "联合审计",
            "--start",
            &start.to_string(),
            "--end",
            &end.to_string(),
            "--due",
            "county=2099-12-31",
            "--due",
            "prefecture=2099-12-31",
        ],
    );
}

fn push(node: &Path, campaign: &str) {
    ok(
        "bangfu-node",
        &["push", "--data", s(node), "--campaign", campaign],
    );
}

/// Every report the hub holds from `org`: (campaign, version, the stored body parsed).
fn held(hub: &Path, org: &str) -> Vec<(String, u64, Report)> {
    let out = std::process::Command::new("sqlite3")
        .arg("-json")
        .arg(hub.join("hub.db"))
        .arg(format!(
            "SELECT campaign, version, body FROM reports WHERE org = '{org}' ORDER BY campaign, version"
        ))
        .output()
        .expect("sqlite3 on the hub's store");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .map(|r| {
            let body: Report = serde_json::from_str(r["body"].as_str().unwrap())
                .expect("a stored body is a report");
            (
                r["campaign"].as_str().unwrap().to_string(),
                r["version"].as_u64().unwrap(),
                body,
            )
        })
        .collect()
}

#[test]
fn nothing_a_county_sent_narrows_a_withheld_cell_when_the_hub_holds_it_all() {
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
    // Campaign days in the past, one month apart, so the archive's day moves between them.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let day1 = today - chrono::Duration::days(45);
    let day2 = day1.checked_add_months(Months::new(1)).unwrap();
    let start = NaiveDate::from_ymd_opt(day1.year() - 1, 1, 1).unwrap();
    let campaigns: BTreeMap<&str, (&str, NaiveDate)> = [
        ("sn-1", ("songnuan", day1)),
        ("dj-1", ("dajiancha", day1)),
        ("da-1", ("dangan", day1)),
        ("da-2", ("dangan", day2)),
    ]
    .into();
    for (id, (t, end)) in &campaigns {
        create_campaign(&hub, id, t, start, *end);
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
            "县总工会",
        ],
    );
    let (_serving, url) = serve(&hub, &dir.join("hub.log"), "127.0.0.1:0");
    let (node, files) = county_node(dir, &pki, "H01", HOUSEHOLDS, SEED, &url, &[]);

    // Three templates on one day.
    for c in ["sn-1", "dj-1", "da-1"] {
        push(&node, c);
    }
    let before: BTreeSet<(String, u64)> = held(&hub, "H01")
        .into_iter()
        .map(|(c, v, _)| (c, v))
        .collect();
    assert_eq!(before.len(), 3, "one version per campaign: {before:?}");

    // A correction: one 在档 低保户 filed before day 1 becomes 低保边缘户 (a one-row import).
    let original = rows(&files.join("households.csv"));
    let mut corrected = original.clone();
    let h = &corrected[0];
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let (category, status, filed) = (col("困难类别"), col("档案状态"), col("建档日期"));
    let i = (1..corrected.len())
        .find(|&i| {
            let r = &corrected[i];
            r[category] == "低保户" && r[status] == "在档" && r[filed] <= day1.to_string()
        })
        .expect("a 在档 低保户 in the generated archive");
    corrected[i][category] = "低保边缘户".into();
    let fix = dir.join("correction.csv");
    {
        let mut w = csv::Writer::from_path(&fix).unwrap();
        w.write_record(&corrected[0]).unwrap();
        w.write_record(&corrected[i]).unwrap();
        w.flush().unwrap();
    }
    let imported = ok("bangfu-node", &["import", "--data", s(&node), s(&fix)]);
    assert!(imported.contains("更新 updated 1"), "{imported}");
    for c in ["sn-1", "dj-1", "da-1"] {
        push(&node, c);
    }
    // A campaign a month on.
    push(&node, "da-2");

    // Everything the hub holds from the county, as stored.
    let reports = held(&hub, "H01");
    let versions: BTreeMap<&str, u64> = reports.iter().fold(BTreeMap::new(), |mut m, r| {
        let v = m.entry(r.0.as_str()).or_insert(0);
        *v = (*v).max(r.1);
        m
    });
    assert_eq!(
        versions.get("da-1"),
        Some(&2),
        "the correction makes a new dangan version: {versions:?}"
    );
    assert_eq!(versions.get("da-2"), Some(&1), "{versions:?}");

    // What the recipient knows: each report's archive state and day, and the changes between them.
    let snapshot = |state: u8, day: NaiveDate| format!("state{state}@{day}");
    let vocabulary = Vocabulary::builtin();
    let mut ledger = joint::Ledger::default();
    let mut withheld = 0;
    for (campaign, version, report) in &reports {
        let (t, end) = campaigns[campaign.as_str()];
        assert_eq!(report.template, t, "{campaign} v{version}");
        assert_eq!(
            report.as_of, end,
            "{campaign} v{version} counted on its end day"
        );
        let state = u8::from(!before.contains(&(campaign.clone(), *version)));
        withheld += report.cells.values().filter(|c| c.is_suppressed()).count();
        ledger.publications.push(joint::Publication {
            label: format!("{campaign} v{version}"),
            template: template::builtin(t, &vocabulary).unwrap(),
            snapshot: snapshot(state, end),
            period: Period::campaign(start, end),
            cells: report.cells.clone(),
        });
    }
    assert!(
        withheld > 0,
        "the county's reports withhold nothing: the test could not fail"
    );
    let states = [
        (snapshot(0, day1), in_archive(&original, day1)),
        (snapshot(1, day1), in_archive(&corrected, day1)),
        (snapshot(1, day2), in_archive(&corrected, day2)),
    ];
    for (a, (from, then)) in states.iter().enumerate() {
        for (to, now) in &states[a + 1..] {
            ledger.changes.push(joint::Change {
                from: from.clone(),
                to: to.clone(),
                added: minus(now, then),
                removed: minus(then, now),
            });
        }
    }
    assert_eq!(
        (ledger.changes[0].added, ledger.changes[0].removed),
        (1, 1),
        "the correction is one household removed and one added"
    );

    // The node's own account on the wire (`counted_on`) agrees with the test's: one snapshot id per
    // archive state and day, and the changes the test counted.
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for ((campaign, version, report), p) in reports.iter().zip(&ledger.publications) {
        let on = report
            .counted_on
            .as_ref()
            .unwrap_or_else(|| panic!("{campaign} v{version} carries no counted_on"));
        let id = ids.entry(p.snapshot.clone()).or_insert(on.snapshot.clone());
        assert_eq!(*id, on.snapshot, "{campaign} v{version}");
        for c in &on.changes {
            let from = ids.iter().find(|(_, id)| **id == c.from).map(|(s, _)| s);
            let ours = ledger
                .changes
                .iter()
                .find(|x| Some(&x.from) == from && x.to == p.snapshot)
                .unwrap_or_else(|| panic!("{campaign} v{version}: a change the test did not make"));
            assert_eq!((c.added, c.removed), (ours.added, ours.removed));
        }
    }
    assert_eq!(ids.len(), 3, "three snapshots: {ids:?}");

    let narrowed = attack::attack(&ledger);
    println!(
        "{} reports held, {withheld} withheld cells, {} narrowed",
        ledger.publications.len(),
        narrowed.len()
    );
    assert!(narrowed.is_empty(), "narrowed: {narrowed:#?}");

    // The hub ran its own joint check after each report (hub/src/joint.rs) and found nothing.
    let log = dir.join("hub.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let checks = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let checks: Vec<String> = text
            .lines()
            .filter(|l| l.contains("joint check"))
            .map(str::to_string)
            .collect();
        if checks.len() >= reports.len() || std::time::Instant::now() > deadline {
            break checks;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    println!("{}", checks.join("\n"));
    assert_eq!(checks.len(), reports.len(), "one joint check per report");
    for c in ["sn-1", "dj-1", "da-1", "da-2"] {
        let rollup: serde_json::Value = serde_json::from_str(&ok(
            "bangfu-hub",
            &["rollup", "--data", s(&hub), "--campaign", c],
        ))
        .unwrap();
        let joint: Vec<_> = rollup["issues"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["rule"] == "joint_narrowed")
            .collect();
        assert!(joint.is_empty(), "{c}: {joint:?}");
    }
}
