//! `bangfu-hub rollup --format table|csv|xlsx` on a real hub's data folder: two counties push real
//! `songnuan` reports (synthetic archives small enough that some counts are withheld) over mutual
//! TLS to an in-process hub, and the command's output is read back — the workbook with calamine —
//! and checked against the reports: every cell where both published is their sum, every other a
//! range `L–U` (or `≥L`) that holds the sum of what was published.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::process::{Command, Output};

use bangfu_client::Outcome;
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::HubLevel;
use bangfu_hub::testing::TestHub;
use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose::protect;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::Version;
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::synthetic::households;
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use calamine::{Data, Reader as _, Xlsx};
use chrono::NaiveDate;

const CAMPAIGN: &str = "2026-songnuan";

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn songnuan() -> Template {
    template::builtin("songnuan", &Vocabulary::builtin()).unwrap()
}

/// A county's protected report from `n` synthetic households, with 1A and 1B typed in.
fn county(org: &str, seed: u64, n: usize) -> Report {
    let v = Vocabulary::builtin();
    let t = songnuan();
    let mut values = aggregate(
        &t,
        &households(seed, n, &v),
        &[],
        &Period::campaign(day(2026, 1, 1), day(2026, 1, 31)),
    );
    let typed = [("1A", 5000 + seed as i64), ("1B", 800)]
        .into_iter()
        .map(|(c, x)| (c.to_string(), Decimal::integer(x)))
        .collect();
    values.enter(&t, &typed).unwrap();
    let outcome = evaluate(&t, |i| values.value(i));
    Report::new(
        OrgCode::parse(org).unwrap(),
        &t,
        Some(CAMPAIGN.parse().unwrap()),
        day(2026, 1, 31),
        Version::FIRST,
        protect(&t, &values).expect("protection succeeds"),
        outcome,
    )
}

async fn hub_with_two_reports() -> (TestHub, Vec<Report>) {
    let hub = TestHub::start(
        "HB",
        HubLevel::Province,
        &[("H01", "京山县总工会"), ("H02", "钟祥市总工会")],
    )
    .await;
    let campaign = Campaign {
        id: CAMPAIGN.parse().unwrap(),
        template: "songnuan".into(),
        title: "2026年元旦春节送温暖".into(),
        start: day(2026, 1, 1),
        end: day(2026, 1, 31),
        due: Due {
            county: day(2099, 12, 31),
            prefecture: day(2099, 12, 31),
            province: None,
        },
        template_body: None,
    };
    assert!(
        campaigns::create(&hub.hub.store, &campaign, "local")
            .await
            .unwrap()
    );
    let reports = vec![county("H01", 7, 60), county("H02", 8, 25)];
    for r in &reports {
        let body = serde_json::to_vec(r).unwrap();
        let outcome = hub.client(r.org.as_str()).post_report(&body).await;
        assert!(
            matches!(
                outcome,
                Outcome::Stored {
                    duplicate: false,
                    ..
                }
            ),
            "{}: {outcome:?}",
            r.org
        );
    }
    (hub, reports)
}

fn rollup(data: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bangfu-hub"))
        .args(["rollup", "--data"])
        .arg(data)
        .args(["--campaign", CAMPAIGN])
        .args(extra)
        .output()
        .expect("running bangfu-hub")
}

fn ok(out: Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What the total must show for each cell: the sum where both counties published it, else a range
/// that holds the sum of what they published.
fn check_total(t: &Template, reports: &[Report], shown: &BTreeMap<String, String>) -> usize {
    let mut ranged = 0;
    for cell in &t.cells {
        let values: Vec<Option<Decimal>> = reports
            .iter()
            .map(|r| r.cells.get(&cell.code).and_then(|c| c.value()))
            .collect();
        let present = reports.iter().all(|r| r.cells.contains_key(&cell.code));
        let got = &shown[&cell.code];
        if !present {
            assert_eq!(got, "未填", "{}", cell.code);
        } else if values.iter().all(Option::is_some) {
            let sum = values
                .iter()
                .flatten()
                .fold(Decimal::integer(0), |a, &b| a + b);
            assert_eq!(
                got.parse::<f64>().ok(),
                Some(sum.rescale(cell.scale).to_f64()),
                "{}: {got}",
                cell.code
            );
        } else {
            ranged += 1;
            let published: f64 = values.iter().flatten().map(|d| d.to_f64()).sum();
            let lower = got
                .split(['–', '≥'])
                .find(|s| !s.is_empty())
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{}: {got} is not L–U or ≥L", cell.code));
            assert!(
                got.contains('–') || got.starts_with('≥'),
                "{}: {got}",
                cell.code
            );
            assert!(lower >= published, "{}: {got} below {published}", cell.code);
        }
    }
    ranged
}

/// A figure as a number (`0.00` in the CSV is `0` read back from the workbook); other text as is.
fn same_number(s: &str) -> String {
    s.parse::<f64>()
        .map_or_else(|_| s.to_string(), |x| x.to_string())
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn rollup_writes_the_official_table_as_xlsx_csv_and_text() {
    let (hub, reports) = hub_with_two_reports().await;
    let t = songnuan();
    let dir = tempfile::tempdir().unwrap();
    let data = hub.data();
    let made = format!("制表日期：{}", {
        let d = hub.hub.clock.today();
        use chrono::Datelike as _;
        format!("{}年{}月{}日", d.year(), d.month(), d.day())
    });

    // xlsx: a file, the total sheet and one per child, the header, every cell checked.
    let path = dir.path().join("汇总表.xlsx");
    let said = String::from_utf8(ok(rollup(
        &data,
        &["--format", "xlsx", "--out", path.to_str().unwrap()],
    )))
    .unwrap();
    assert!(said.contains("汇总表.xlsx"), "{said}");
    let mut book = Xlsx::new(Cursor::new(std::fs::read(&path).unwrap())).unwrap();
    assert_eq!(
        book.sheet_names(),
        ["合计", "H01 京山县总工会", "H02 钟祥市总工会"]
    );
    let total = book.worksheet_range("合计").unwrap();
    let rows: Vec<Vec<String>> = total.rows().map(|r| r.iter().map(text).collect()).collect();
    assert_eq!(rows[0][0], "工会送温暖活动统计表");
    assert!(
        rows[2][0].contains("汇总单位：测试总工会（HB）") && rows[2][0].contains(&made),
        "{:?}",
        rows[2]
    );
    let shown: BTreeMap<String, String> = rows
        .iter()
        .filter(|r| t.cell(&r[0]).is_some())
        .map(|r| (r[0].clone(), r[3].clone()))
        .collect();
    assert_eq!(shown.len(), t.cells.len());
    let ranged = check_total(&t, &reports, &shown);
    assert!(ranged > 0, "the small counties withheld something");
    assert!(
        rows.iter().any(|r| r[0].contains("“L–U”表示区间")),
        "the note on ranges"
    );
    let h02 = book.worksheet_range("H02 钟祥市总工会").unwrap();
    let withheld = reports[1]
        .cells
        .iter()
        .find(|(_, c)| c.value().is_none())
        .map(|(code, _)| code.clone())
        .expect("the 25-household county withheld a cell");
    let row = h02
        .rows()
        .find(|r| text(&r[0]) == withheld)
        .expect("the withheld cell's row");
    assert_eq!(text(&row[3]), "不公布");

    // csv: UTF-8 with a BOM, to stdout; the same figures.
    let csv = ok(rollup(&data, &["--format", "csv"]));
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&csv[3..]);
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let end = records
        .iter()
        .position(|r| r[0].starts_with("【H01"))
        .unwrap();
    let from_csv: BTreeMap<String, String> = records[..end]
        .iter()
        .filter(|r| r.len() == 4 && t.cell(&r[0]).is_some())
        .map(|r| (r[0].clone(), same_number(&r[3])))
        .collect();
    let from_xlsx: BTreeMap<String, String> = shown
        .iter()
        .map(|(k, v)| (k.clone(), same_number(v)))
        .collect();
    assert_eq!(from_csv, from_xlsx);

    // table: text, the same value for 3A, the JSON default still the rollup JSON.
    let table = String::from_utf8(ok(rollup(&data, &["--format", "table"]))).unwrap();
    let line = table.lines().find(|l| l.starts_with("3A ")).unwrap();
    assert!(line.ends_with(&shown["3A"]), "{line}");
    let json: serde_json::Value = serde_json::from_slice(&ok(rollup(&data, &[]))).unwrap();
    assert_eq!(json["campaign"], CAMPAIGN);
    assert_eq!(json["children"].as_array().unwrap().len(), 2);

    // A stored version's table; xlsx without a file is refused, naming --out.
    let v1 =
        String::from_utf8(ok(rollup(&data, &["--version", "1", "--format", "table"]))).unwrap();
    assert!(v1.contains("汇总版本：第 1 版"), "{v1}");
    let refused = rollup(&data, &["--format", "xlsx"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--out"));
    hub.stop().await;
}

#[tokio::test]
async fn the_dashboard_renders_the_table_through_the_same_call() {
    use bangfu_hub::official::{self, Format};
    let (hub, _) = hub_with_two_reports().await;
    let id: bangfu_shared::protocol::CampaignId = CAMPAIGN.parse().unwrap();
    for format in Format::ALL {
        let out = official::render(&hub.hub, &id, format).await.unwrap();
        assert_eq!(
            out.file_name,
            format!("2026-songnuan-HB.{}", format.extension())
        );
        assert_eq!(out.content_type, format.content_type());
        assert!(!out.bytes.is_empty());
    }
    let xlsx = official::render(&hub.hub, &id, Format::Xlsx).await.unwrap();
    let book = Xlsx::new(Cursor::new(xlsx.bytes)).unwrap();
    assert_eq!(book.sheet_names().len(), 3);
    let unknown: bangfu_shared::protocol::CampaignId = "2099-none".parse().unwrap();
    let err = official::render(&hub.hub, &unknown, Format::Csv)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("2099-none"), "{err}");
    hub.stop().await;
}
