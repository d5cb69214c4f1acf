//! Statistic reports from a real archive, through the real binary: exact where published, withheld
//! where small, and never a trace of a household.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

/// A county with a generated archive (households, members, aid) imported.
fn county(dir: &Path, households: u64, seed: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let files = generate(dir, "H01", households, seed, 0.0, "csv");
    let data = init_node(dir, "H01");
    for kind in ["households", "members", "aid"] {
        ok(&[
            "import",
            "--data",
            s(&data),
            s(&files.join(format!("{kind}.csv"))),
        ]);
    }
    (files, data)
}

fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn today() -> String {
    // the node counts "today" in Asia/Shanghai; any recent day works for these tests
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .to_string()
}

#[test]
fn no_report_contains_a_name_id_number_phone_address_or_free_text() {
    let dir = tempfile::tempdir().unwrap();
    let (files, data) = county(dir.path(), 300, 11);
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
        "送温暖",
        "--start",
        "2024-01-01",
        "--end",
        &today(),
    ]);
    ok(&[
        "enter",
        "--data",
        s(&data),
        "--campaign",
        "sn2026",
        "4A=12",
        "4B=3",
        "5A=10.5",
        "5B=2",
        "5C=3",
        "5D=4",
        "5E=1",
        "5F=0.5",
    ]);

    let mut reports = String::new();
    reports.push_str(&ok(&["report", "--data", s(&data), "--campaign", "sn2026"]));
    reports.push_str(&ok(&[
        "report",
        "--data",
        s(&data),
        "--campaign",
        "sn2026",
        "--format",
        "table",
    ]));
    for t in ["dangan", "dajiancha", "bangfu_center", "songnuan"] {
        reports.push_str(&ok(&[
            "report",
            "--data",
            s(&data),
            "--template",
            t,
            "--as-of",
            &today(),
        ]));
        reports.push_str(&ok(&[
            "report",
            "--data",
            s(&data),
            "--template",
            t,
            "--as-of",
            &today(),
            "--format",
            "table",
        ]));
    }
    let xlsx = dir.path().join("r.xlsx");
    ok(&[
        "report",
        "--data",
        s(&data),
        "--campaign",
        "sn2026",
        "--format",
        "xlsx",
        "--out",
        s(&xlsx),
    ]);
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    for row in sheet.rows() {
        for c in row {
            reports.push_str(&c.to_string());
            reports.push('\n');
        }
    }

    let mut secrets = Vec::new();
    for h in read_csv(&files.join("households.csv")) {
        for col in ["姓名", "身份证号", "联系电话", "家庭住址", "工作单位"] {
            secrets.push((col, h[col].clone()));
        }
    }
    for m in read_csv(&files.join("members.csv")) {
        for col in ["姓名", "身份证号", "单位或学校"] {
            secrets.push((col, m[col].clone()));
        }
    }
    for a in read_csv(&files.join("aid.csv")) {
        secrets.push(("备注", a["备注"].clone()));
    }
    // Words of the tables themselves (a note reading 其他帮扶 is also a row label) say nothing of anyone.
    let tables: String = ["songnuan", "bangfu_center", "dajiancha", "dangan"]
        .iter()
        .map(|t| {
            std::fs::read_to_string(format!(
                "{}/../shared/templates/{t}.toml",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        })
        .collect();
    let mut checked = 0;
    for (col, value) in secrets {
        // one-character values (a lone surname) are too short to identify anyone
        if value.chars().count() >= 2 && !tables.contains(&value) {
            assert!(
                !reports.contains(&value),
                "the reports contain {col} `{value}`"
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "checked {checked} values");
}

#[test]
fn published_cells_equal_counts_made_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (files, data) = county(dir.path(), 2000, 5);
    let day = today();
    let out = ok(&[
        "report",
        "--data",
        s(&data),
        "--template",
        "dangan",
        "--as-of",
        &day,
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let k = report["threshold"].as_u64().unwrap();

    // Counted here from the generated file, independently of the node: CONTRACT.md's "in the archive
    // on day D" with D = today (no 脱困日期 is after today, so 已脱困 households are out).
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for h in read_csv(&files.join("households.csv")) {
        let filed = h["建档日期"].is_empty() || h["建档日期"] <= day;
        let on_file = h["档案状态"] == "在档" || (h["档案状态"] == "已脱困" && h["脱困日期"] > day);
        if !(filed && on_file) {
            continue;
        }
        *expected.entry("total".into()).or_default() += 1;
        *expected
            .entry(format!("category.{}", h["困难类别"]))
            .or_default() += 1;
        let industry = if h["所属行业"].is_empty() {
            "未填"
        } else {
            &h["所属行业"]
        };
        *expected.entry(format!("industry.{industry}")).or_default() += 1;
        for cause in h["致困主要原因"]
            .split(['、', ';'])
            .filter(|c| !c.is_empty())
        {
            *expected.entry(format!("cause.{cause}")).or_default() += 1;
            *expected
                .entry(format!("category.{}|cause.{cause}", h["困难类别"]))
                .or_default() += 1;
        }
    }
    let cells = report["cells"].as_object().unwrap();
    let mut compared = 0;
    for (code, cell) in cells {
        let Some(&want) = expected.get(code) else {
            let is_counted_here = code == "total"
                || code.starts_with("category.")
                || code.starts_with("industry.")
                || code.starts_with("cause.");
            if is_counted_here && !code.contains("未填") {
                assert!(
                    cell.get("value").is_none_or(|v| v == 0) || cell["suppressed"] == true,
                    "{code}: {cell} but 0 here"
                );
            }
            continue;
        };
        if let Some(v) = cell.get("value") {
            assert_eq!(v.as_u64().unwrap(), want, "{code}");
            compared += 1;
        } else {
            assert_eq!(cell["suppressed"], true, "{code}: {cell}");
        }
        if (1..k).contains(&want) {
            assert_eq!(
                cell["suppressed"], true,
                "{code} = {want} is below k = {k} and must be withheld"
            );
        }
    }
    assert!(compared > 20, "compared {compared} published cells");
    assert_eq!(
        cells["total"]["value"].as_u64(),
        expected.get("total").copied()
    );
}

#[test]
fn a_hand_written_table_loads_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = county(dir.path(), 200, 3);
    let table = dir.path().join("jiuye.toml");
    std::fs::write(
        &table,
        r#"id = "jiuye"
title = "困难职工就业情况表"

[[cell]]
code = "A"
label = "建档家庭"
unit = "户"
count = "households"
where = { archive = "as_of" }

[[cell]]
code = "B"
label = "其中下岗失业"
unit = "户"
count = "households"
where = { archive = "as_of", work_status = ["下（待）岗", "失（无）业"] }

[[rule]]
parts = ["B"]
whole = "A"
message = "B 不能超过 A"
"#,
    )
    .unwrap();
    let out = ok(&[
        "report",
        "--data",
        s(&data),
        "--template",
        s(&table),
        "--as-of",
        &today(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["template"], "jiuye");
    assert!(report["cells"]["A"]["value"].as_u64().unwrap() > 100);
    assert!(report["failed_rules"].as_array().unwrap().is_empty());
}

#[test]
fn a_malformed_table_is_refused_with_the_line_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = county(dir.path(), 30, 3);
    let table = dir.path().join("bad.toml");
    std::fs::write(
        &table,
        "id = \"bad\"\ntitle = \"x\"\n\n[[cell]]\ncode = \"A\"\nlabel = \"a\"\nunit = \"户\"\ncount = \"households\"\nwhere = { work_status = \"退役\" }\n",
    )
    .unwrap();
    let out = run(&[
        "report",
        "--data",
        s(&data),
        "--template",
        s(&table),
        "--as-of",
        &today(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 9") && stderr.contains("退役"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn typed_in_figures_are_checked_and_a_failed_rule_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = county(dir.path(), 100, 3);
    ok(&[
        "campaign",
        "add",
        "--data",
        s(&data),
        "--id",
        "c1",
        "--template",
        "songnuan",
        "--title",
        "t",
        "--start",
        "2025-01-01",
        "--end",
        "2025-02-10",
    ]);
    for (bad, says) in [
        ("4Z=1", "no such cell"),
        ("3A=5", "computed from the archive"),
        ("4A=abc", "not a number"),
        ("4A=-1", "negative"),
    ] {
        let out = run(&["enter", "--data", s(&data), "--campaign", "c1", bad]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}");
        assert!(stderr.contains(says), "{bad}: {stderr}");
    }
    ok(&[
        "enter",
        "--data",
        s(&data),
        "--campaign",
        "c1",
        "5A=10",
        "5B=2",
        "5C=3",
        "5D=1",
        "5E=1",
        "5F=1",
    ]);
    let out = run(&["report", "--data", s(&data), "--campaign", "c1"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["cells"]["5A"]["value"].as_f64(), Some(10.0));
    let failed = report["failed_rules"].as_array().unwrap();
    assert!(
        failed
            .iter()
            .any(|f| f["detail"].as_str().unwrap().contains("5A")),
        "{failed:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not sent"));
}

#[test]
fn typed_in_figures_can_come_from_a_spreadsheet_or_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data) = county(dir.path(), 40, 3);
    ok(&[
        "campaign",
        "add",
        "--data",
        s(&data),
        "--id",
        "c1",
        "--template",
        "songnuan",
        "--title",
        "t",
        "--start",
        "2025-01-01",
        "--end",
        "2025-02-10",
    ]);
    let csv = dir.path().join("figures.csv");
    std::fs::write(&csv, "代码,数值\n4A,12\n4B,3\n5A,\"1,000.5\"\n").unwrap();
    ok(&[
        "enter",
        "--data",
        s(&data),
        "--campaign",
        "c1",
        "--file",
        s(&csv),
        "4C=7",
    ]);
    let out = ok(&["report", "--data", s(&data), "--campaign", "c1"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["cells"]["4A"]["value"], 12);
    assert_eq!(report["cells"]["4C"]["value"], 7);
    assert_eq!(report["cells"]["5A"]["value"].as_f64(), Some(1000.5));

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "4A,12\n4A,13\n").unwrap();
    let out = run(&[
        "enter",
        "--data",
        s(&data),
        "--campaign",
        "c1",
        "--file",
        s(&bad),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("given twice"));
    let out = ok(&["report", "--data", s(&data), "--campaign", "c1"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["cells"]["4A"]["value"], 12,
        "a refused file changes nothing"
    );
}
