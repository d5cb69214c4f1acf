//! The statistic-table library end to end: templates, aggregation against counts made here
//! independently, rules, and disclosure control proven by the audit, over random archives.

use bangfu_shared::synthetic::{archive, day};
use std::collections::BTreeMap;

use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose::{self, audit, protect};
use bangfu_shared::facts::{AidFacts, Dim, HouseholdFacts, UNKNOWN};
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::Version;
use bangfu_shared::report::{Cell, Report};
use bangfu_shared::rules::evaluate;
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use proptest::prelude::*;

/// CONTRACT.md's rule, written again here: filed on or before D, and 在档, or 已脱困 after D.
fn counted_on(h: &HouseholdFacts, d: NaiveDate) -> bool {
    let filed = match h.filed_on {
        None => true,
        Some(f) => f <= d,
    };
    let status = h.dims[Dim::Status.slot()];
    filed && (status == 0 || (status == 1 && matches!(h.lifted_on, Some(l) if l > d)))
}

/// An independent count of a `dangan` cell, read off its code.
fn dangan_count(code: &str, hs: &[HouseholdFacts], d: NaiveDate, v: &Vocabulary) -> i64 {
    let parts: Vec<(&str, &str)> = if code == "total" {
        vec![]
    } else {
        code.split('|')
            .map(|p| p.split_once('.').unwrap())
            .collect()
    };
    hs.iter()
        .filter(|h| counted_on(h, d))
        .filter(|h| {
            parts.iter().all(|&(dim, value)| {
                if dim == "cause" {
                    if value == "未填" {
                        return h.causes == 0;
                    }
                    let i = v
                        .field("cause")
                        .values()
                        .iter()
                        .position(|x| x == value)
                        .unwrap();
                    return h.causes & (1 << i) != 0;
                }
                let dd = Dim::from_key(dim).unwrap();
                let got = h.dims[dd.slot()];
                if value == "未填" {
                    got == UNKNOWN
                } else {
                    got != UNKNOWN && v.field(dd.vocabulary_field()).value(got) == value
                }
            })
        })
        .count() as i64
}

/// Independent values of the derived `songnuan` cells.
fn songnuan_counts(
    hs: &[HouseholdFacts],
    aid: &[AidFacts],
    start: NaiveDate,
    end: NaiveDate,
) -> BTreeMap<&'static str, Decimal> {
    let mut m = BTreeMap::new();
    let inn: Vec<&HouseholdFacts> = hs.iter().filter(|h| counted_on(h, end)).collect();
    let c = |f: &dyn Fn(&HouseholdFacts) -> bool| {
        Decimal::integer(inn.iter().filter(|h| f(h)).count() as i64)
    };
    m.insert("3A", c(&|_| true));
    m.insert("3B", c(&|h| h.dims[Dim::WorkStatus.slot()] == 7));
    m.insert("3C", c(&|h| h.dims[Dim::Category.slot()] == 0));
    m.insert("3D", c(&|h| h.dims[Dim::Category.slot()] == 1));
    m.insert("3E", c(&|h| h.dims[Dim::Category.slot()] == 2));
    m.insert(
        "3F",
        Decimal::integer(
            hs.iter()
                .filter(|h| {
                    h.dims[Dim::Status.slot()] == 1
                        && h.lifted_on.is_some_and(|l| l >= start && l <= end)
                })
                .count() as i64,
        ),
    );
    let campaign: Vec<&AidFacts> = aid
        .iter()
        .filter(|a| a.date >= start && a.date <= end)
        .collect();
    let visited = |f: &dyn Fn(&HouseholdFacts) -> bool| {
        let mut set: Vec<u32> = campaign
            .iter()
            .filter(|a| a.kind == 8 && f(&hs[a.household as usize]))
            .map(|a| a.household)
            .collect();
        set.sort();
        set.dedup();
        Decimal::integer(set.len() as i64)
    };
    m.insert("4D", visited(&|_| true));
    m.insert("4E", visited(&|h| h.dims[Dim::WorkStatus.slot()] != 7));
    m.insert("4F", visited(&|h| h.dims[Dim::WorkStatus.slot()] == 7));
    m.insert(
        "4G",
        visited(&|h| !matches!(h.dims[Dim::ModelWorker.slot()], 0 | UNKNOWN)),
    );
    let paid = |f: &dyn Fn(&HouseholdFacts) -> bool| {
        let fen: i64 = campaign
            .iter()
            .filter(|a| f(&hs[a.household as usize]))
            .map(|a| a.amount_fen)
            .sum();
        Decimal::new((fen + 5_000) / 10_000, 2)
    };
    m.insert("6A", paid(&|_| true));
    m.insert(
        "6B",
        paid(&|h| !matches!(h.dims[Dim::ModelWorker.slot()], 0 | UNKNOWN)),
    );
    m.insert("6C", paid(&|h| h.dims[Dim::WorkStatus.slot()] == 7));
    for (code, kind) in [("7D", 0u8), ("7E", 4), ("7F", 1), ("7G", 2), ("7H", 6)] {
        m.insert(
            code,
            Decimal::integer(campaign.iter().filter(|a| a.kind == kind).count() as i64),
        );
    }
    m
}

/// The three promises, for one report: published cells are exact, small counts are withheld,
/// and the audit finds every withheld range at least k wide.
fn assert_protected(t: &Template, report: &Report, expected: &BTreeMap<String, Decimal>) {
    let k = t.disclosure.threshold as i64;
    for (code, want) in expected {
        let cell = report
            .cells
            .get(code)
            .unwrap_or_else(|| panic!("{code} missing from the report"));
        if let Some(got) = cell.value() {
            assert_eq!(got, *want, "published {code}");
        }
        let sensitive = t.cell(code).unwrap().sensitive;
        if sensitive && !t.cell(code).unwrap().is_money() && (1..k).contains(&want.units()) {
            assert!(
                cell.is_suppressed(),
                "{code} = {want} is below k = {k} but published"
            );
        }
    }
    let ranges = audit(t, &report.cells).expect("the audit runs");
    for r in &ranges {
        assert!(
            r.is_wide_enough(),
            "{} can be narrowed to [{}, {}]",
            r.code,
            r.lower,
            r.upper
        );
    }
    disclose::check(&ranges).unwrap();
}

fn report_for(t: &Template, hs: &[HouseholdFacts], aid: &[AidFacts], period: &Period) -> Report {
    let values = aggregate(t, hs, aid, period);
    let outcome = evaluate(t, |i| values.value(i));
    let protected = protect(t, &values).expect("protection succeeds");
    Report::new(
        OrgCode::parse("H01").unwrap(),
        t,
        None,
        period.as_of,
        Version::FIRST,
        protected,
        outcome,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn dangan_publishes_exact_counts_and_hides_small_ones(seed in any::<u64>(), n in 30usize..2000) {
        let v = Vocabulary::builtin();
        let t = template::builtin("dangan", &v).unwrap();
        let (hs, aid) = archive(seed, n, &v);
        let period = Period::on(day(2014, 12, 31));
        let report = report_for(&t, &hs, &aid, &period);
        let expected: BTreeMap<String, Decimal> =
            t.cells.iter().map(|c| (c.code.clone(), Decimal::integer(dangan_count(&c.code, &hs, period.as_of, &v)))).collect();
        assert_protected(&t, &report, &expected);
    }

    #[test]
    fn songnuan_publishes_exact_derived_cells_and_hides_small_ones(seed in any::<u64>(), n in 30usize..2000) {
        let v = Vocabulary::builtin();
        let t = template::builtin("songnuan", &v).unwrap();
        let (hs, aid) = archive(seed, n, &v);
        let (start, end) = (day(2014, 1, 1), day(2014, 12, 31));
        let report = report_for(&t, &hs, &aid, &Period::campaign(start, end));
        let expected = songnuan_counts(&hs, &aid, start, end).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_protected(&t, &report, &expected);
    }
}

#[test]
fn a_large_archive_is_protected_and_exact() {
    let v = Vocabulary::builtin();
    let (hs, aid) = archive(7, 100_000, &v);
    let period = Period::on(day(2014, 12, 31));
    for id in template::BUILTIN_IDS {
        let t = template::builtin(id, &v).unwrap();
        let report = report_for(&t, &hs, &aid, &period);
        if id == "dangan" {
            let expected = t
                .cells
                .iter()
                .map(|c| {
                    (
                        c.code.clone(),
                        Decimal::integer(dangan_count(&c.code, &hs, period.as_of, &v)),
                    )
                })
                .collect();
            assert_protected(&t, &report, &expected);
        }
    }
}

#[test]
fn tiny_counties_are_protected() {
    let v = Vocabulary::builtin();
    let t = template::builtin("dangan", &v).unwrap();
    let mut secondary = 0;
    for seed in 0..20 {
        for n in [1usize, 2, 5, 12, 30] {
            let (hs, aid) = archive(seed, n, &v);
            let period = Period::on(day(2014, 12, 31));
            let values = aggregate(&t, &hs, &aid, &period);
            let protected = protect(&t, &values).expect("protection succeeds");
            secondary += protected.withheld().len() - protected.primary_count();
            let report = Report::new(
                OrgCode::parse("H01").unwrap(),
                &t,
                None,
                period.as_of,
                Version::FIRST,
                protected,
                evaluate(&t, |i| values.value(i)),
            );
            let expected = t
                .cells
                .iter()
                .map(|c| {
                    (
                        c.code.clone(),
                        Decimal::integer(dangan_count(&c.code, &hs, period.as_of, &v)),
                    )
                })
                .collect();
            assert_protected(&t, &report, &expected);
        }
    }
    assert!(secondary > 0, "tiny archives need secondary suppression");
}

const HAND_WRITTEN: &str = r#"
id = "jiuye"
title = "困难职工就业情况表"

[disclosure]
threshold = 3

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

[[cell]]
code = "C"
label = "其中因下岗失业致困"
unit = "户"
count = "households"
where = { archive = "as_of", cause = "下岗失业" }

[[cell]]
code = "D"
label = "提供就业岗位"
unit = "个"

[[rule]]
parts = ["B"]
whole = "A"
"#;

#[test]
fn a_hand_written_template_loads_and_reports() {
    let v = Vocabulary::builtin();
    let dir = std::env::temp_dir().join(format!("bangfu-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jiuye.toml"), HAND_WRITTEN).unwrap();
    let t = template::load("jiuye", Some(&dir), &v).unwrap();
    let (hs, aid) = archive(3, 500, &v);
    let period = Period::on(day(2014, 12, 31));
    let mut values = aggregate(&t, &hs, &aid, &period);
    let want_b = hs
        .iter()
        .filter(|h| counted_on(h, period.as_of) && matches!(h.dims[Dim::WorkStatus.slot()], 1 | 2))
        .count();
    assert_eq!(
        values.get(&t, "B").unwrap().value,
        Decimal::integer(want_b as i64)
    );
    let pending = evaluate(&t, |i| values.value(i));
    assert!(pending.failed.is_empty());
    values
        .enter(
            &t,
            &BTreeMap::from([("D".to_string(), Decimal::integer(12))]),
        )
        .unwrap();
    let report = Report::new(
        OrgCode::parse("H01").unwrap(),
        &t,
        None,
        period.as_of,
        Version::FIRST,
        protect(&t, &values).unwrap(),
        evaluate(&t, |i| values.value(i)),
    );
    assert_eq!(report.cells["D"].value(), Some(Decimal::integer(12)));
    let json = serde_json::to_string(&report).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn refusal(text: &str) -> String {
    Template::parse(text, &Vocabulary::builtin())
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_toml_is_refused_with_its_line() {
    let err = refusal(&HAND_WRITTEN.replace("unit = \"个\"", "unit = 个"));
    assert!(err.contains("line 32"), "{err}");
}

#[test]
fn an_unknown_key_is_refused_with_its_line() {
    let err = refusal(&HAND_WRITTEN.replace("code = \"D\"", "code = \"D\"\ncolour = \"red\""));
    assert!(err.contains("line 31") && err.contains("colour"), "{err}");
}

#[test]
fn a_rule_naming_an_unknown_cell_is_refused_with_its_line() {
    let err = refusal(&HAND_WRITTEN.replace("whole = \"A\"", "whole = \"Z\""));
    assert!(err.contains("line 34") && err.contains("`Z`"), "{err}");
}

#[test]
fn an_unknown_dimension_value_is_refused_with_its_line() {
    let err = refusal(&HAND_WRITTEN.replace("\"失（无）业\"", "\"退役\""));
    assert!(err.contains("line 20") && err.contains("退役"), "{err}");
}

#[test]
fn a_duplicate_code_is_refused() {
    let err = refusal(&HAND_WRITTEN.replace("code = \"D\"", "code = \"A\""));
    assert!(err.contains("line 29") && err.contains("twice"), "{err}");
}

#[test]
fn the_builtin_templates_have_the_seed_cells() {
    let v = Vocabulary::builtin();
    let s = template::builtin("songnuan", &v).unwrap();
    assert_eq!(s.cells.len(), 60);
    assert_eq!(
        s.cell("3C").unwrap().label,
        "其中家庭人均收入低于当地最低生活保障线的困难职工家庭"
    );
    assert!(s.cell("5A").unwrap().is_money() && !s.cell("5A").unwrap().sensitive);
    let d = template::builtin("dangan", &v).unwrap();
    assert!(d.cell("category.低保户|cause.本人大病").is_some());
    assert!(d.cell("industry.未填").is_some());
    assert_eq!(
        template::builtin("bangfu_center", &v).unwrap().cells.len(),
        85
    );
    assert!(
        template::builtin("dajiancha", &v)
            .unwrap()
            .cell("4A")
            .is_some()
    );
}

#[test]
fn a_high_importance_failure_blocks_the_report() {
    let v = Vocabulary::builtin();
    let t = template::builtin("songnuan", &v).unwrap();
    let (hs, aid) = archive(1, 300, &v);
    let period = Period::campaign(day(2014, 1, 1), day(2014, 12, 31));
    let mut values = aggregate(&t, &hs, &aid, &period);
    let typed: BTreeMap<String, Decimal> = [
        ("5A", "10.00"),
        ("5B", "1.00"),
        ("5C", "2.00"),
        ("5D", "3.00"),
        ("5E", "0"),
        ("5F", "1.50"),
    ]
    .into_iter()
    .map(|(c, v)| (c.to_string(), Decimal::parse(v).unwrap()))
    .collect();
    values.enter(&t, &typed).unwrap();
    let outcome = evaluate(&t, |i| values.value(i));
    let failed = outcome
        .failed
        .iter()
        .find(|f| f.rule.starts_with("5(A)"))
        .expect("5A rule fails");
    assert!(failed.detail.contains("5A = 10.00"), "{}", failed.detail);
    assert!(
        outcome
            .pending
            .iter()
            .any(|p| p.missing.contains(&"1A".to_string())),
        "1B ≤ 1A is pending"
    );
    let report = Report::new(
        OrgCode::parse("H01").unwrap(),
        &t,
        None,
        period.as_of,
        Version::FIRST,
        protect(&t, &values).unwrap(),
        outcome,
    );
    let err = report.ensure_sendable().unwrap_err();
    assert!(err.to_string().contains("5(A)"), "{err}");
}

#[test]
fn typed_figures_for_computed_cells_are_refused() {
    let v = Vocabulary::builtin();
    let t = template::builtin("songnuan", &v).unwrap();
    let mut values = aggregate(&t, &[], &[], &Period::on(day(2014, 12, 31)));
    let err = values
        .enter(
            &t,
            &BTreeMap::from([("3A".to_string(), Decimal::integer(5))]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("3A"));
    let err = values
        .enter(
            &t,
            &BTreeMap::from([("5A".to_string(), Decimal::parse("1.234").unwrap())]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("decimal"), "{err}");
}

const TWO_BY_TWO: &str = r#"
id = "two"
title = "2×2"
[generate]
where = { archive = "as_of" }
dimensions = ["sex", "single_parent"]
cross = [["sex", "single_parent"]]
"#;

fn cells(pairs: &[(&str, Option<i64>)]) -> BTreeMap<String, Cell> {
    let json: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(c, v)| {
            let cell = match v {
                Some(n) => serde_json::json!({ "value": n }),
                None => serde_json::json!({ "suppressed": true }),
            };
            (c.to_string(), cell)
        })
        .collect();
    serde_json::from_value(serde_json::Value::Object(json)).unwrap()
}

/// A 2×2 table (男/女 × 单亲 是/否) with margins; the 未填 row and column are zero.
fn two_by_two(hidden: &[&str]) -> BTreeMap<String, Cell> {
    let values = [
        ("total", 20),
        ("sex.男", 12),
        ("sex.女", 8),
        ("sex.未填", 0),
        ("single_parent.是", 5),
        ("single_parent.否", 15),
        ("single_parent.未填", 0),
        ("sex.男|single_parent.是", 2),
        ("sex.男|single_parent.否", 10),
        ("sex.男|single_parent.未填", 0),
        ("sex.女|single_parent.是", 3),
        ("sex.女|single_parent.否", 5),
        ("sex.女|single_parent.未填", 0),
        ("sex.未填|single_parent.是", 0),
        ("sex.未填|single_parent.否", 0),
        ("sex.未填|single_parent.未填", 0),
    ];
    let pairs: Vec<(&str, Option<i64>)> = values
        .iter()
        .map(|&(c, v)| (c, if hidden.contains(&c) { None } else { Some(v) }))
        .collect();
    cells(&pairs)
}

#[test]
fn the_audit_sees_through_a_lone_suppressed_cell() {
    let t = Template::parse(TWO_BY_TWO, &Vocabulary::builtin()).unwrap();
    let ranges = audit(&t, &two_by_two(&["sex.男|single_parent.是"])).unwrap();
    assert_eq!(ranges.len(), 1);
    assert!(
        (ranges[0].lower - 2.0).abs() < 1e-6 && (ranges[0].upper - 2.0).abs() < 1e-6,
        "{ranges:?}"
    );
    assert!(!ranges[0].is_wide_enough());
}

#[test]
fn the_audit_accepts_a_suppressed_rectangle() {
    let t = Template::parse(TWO_BY_TWO, &Vocabulary::builtin()).unwrap();
    let hidden = [
        "sex.男|single_parent.是",
        "sex.男|single_parent.否",
        "sex.女|single_parent.是",
        "sex.女|single_parent.否",
    ];
    let ranges = audit(&t, &two_by_two(&hidden)).unwrap();
    assert_eq!(ranges.len(), 4);
    // 男|是 ranges over [0, 5]: the column 是 = 5 and the row 男 = 12 bound it, nothing pins it.
    let r = ranges
        .iter()
        .find(|r| r.code == "sex.男|single_parent.是")
        .unwrap();
    assert!(
        (r.lower - 0.0).abs() < 1e-6 && (r.upper - 5.0).abs() < 1e-6,
        "{r:?}"
    );
    assert!(ranges.iter().all(|r| r.is_wide_enough()), "{ranges:?}");
}

#[test]
fn protection_of_the_two_by_two_withholds_a_rectangle() {
    let v = Vocabulary::builtin();
    let t = Template::parse(TWO_BY_TWO, &v).unwrap();
    // 男|是 ×2, 男|否 ×10, 女|是 ×3, 女|否 ×5, all in the archive.
    let mut hs = Vec::new();
    for (sex, sp, n) in [(0u8, 0u8, 2), (0, 1, 10), (1, 0, 3), (1, 1, 5)] {
        for _ in 0..n {
            let mut dims = [0u8; Dim::ALL.len()];
            dims[Dim::Sex.slot()] = sex;
            dims[Dim::SingleParent.slot()] = sp;
            hs.push(HouseholdFacts {
                dims,
                causes: 1,
                household_size: 1,
                amounts: [0; 5],
                filed_on: None,
                lifted_on: None,
            });
        }
    }
    let values = aggregate(&t, &hs, &[], &Period::on(day(2014, 12, 31)));
    let p = protect(&t, &values).unwrap();
    assert!(p.withheld().contains("sex.男|single_parent.是"));
    assert!(p.withheld().len() >= 4, "{:?}", p.withheld());
    assert!(!p.withheld().contains("total"));
    disclose::check(&audit(&t, p.cells()).unwrap()).unwrap();
}

#[test]
fn a_money_sum_from_fewer_than_k_households_is_withheld() {
    let v = Vocabulary::builtin();
    let t = template::builtin("songnuan", &v).unwrap();
    let (mut hs, _) = archive(11, 60, &v);
    for h in &mut hs {
        h.dims[Dim::ModelWorker.slot()] = 0;
    }
    hs[5].dims[Dim::ModelWorker.slot()] = 1; // one 全国劳模
    let aid: Vec<AidFacts> = (0..60)
        .map(|i| AidFacts {
            household: i,
            date: day(2014, 6, 1),
            kind: 8,
            amount_fen: 60_000 + i as i64 * 1_000,
        })
        .collect();
    let period = Period::campaign(day(2014, 1, 1), day(2014, 12, 31));
    let values = aggregate(&t, &hs, &aid, &period);
    assert_eq!(values.get(&t, "6B").unwrap().households, Some(1));
    let p = protect(&t, &values).unwrap();
    assert!(
        p.cells()["6B"].is_suppressed(),
        "6B is one model worker's money"
    );
    assert!(p.cells()["4G"].is_suppressed(), "4G = 1 household");
    assert!(
        p.cells()["6A"].value().is_some(),
        "6A comes from 60 households"
    );
    disclose::check(&audit(&t, p.cells()).unwrap()).unwrap();
}

#[test]
fn the_builtin_templates_carry_the_seed_forms_layout() {
    let v = Vocabulary::builtin();
    let s = template::builtin("songnuan", &v).unwrap();
    assert_eq!(
        s.notes,
        ["本表中职工均包括农民工，困难职工包括困难农民工。"]
    );
    assert_eq!(s.cell("1A").unwrap().section.as_deref(), Some("1. 职工"));
    assert_eq!(s.cell("1B").unwrap().section, None);
    // 其中 lines are indented by their label, the seed's unlabelled ones by `indent`.
    assert_eq!(
        ["1A", "1B", "10A", "10C"].map(|c| s.cell(c).unwrap().indent),
        [0, 1, 0, 1]
    );
    let sections = s.cells.iter().filter(|c| c.section.is_some()).count();
    assert_eq!(sections, 11);
    // 9(U) closes item 9 of seed 001 附件2, before item 10.
    let b = template::builtin("bangfu_center", &v).unwrap();
    assert_eq!(
        b.cell_index("9U").unwrap() + 1,
        b.cell_index("10A").unwrap()
    );
    // Generated cells: one section per dimension, values indented under the total.
    let d = template::builtin("dangan", &v).unwrap();
    assert_eq!(d.cell("total").unwrap().indent, 0);
    assert_eq!(
        d.cell("category.低保户").unwrap().section.as_deref(),
        Some("困难类别")
    );
    assert!(d.notes.iter().any(|n| n.contains("最多 3 项")));
}

#[test]
fn a_bad_layout_key_is_refused_with_its_line() {
    let err = refusal(&HAND_WRITTEN.replace("code = \"D\"", "code = \"D\"\nindent = 9"));
    assert!(err.contains("line 29") && err.contains("indent"), "{err}");
    let err = refusal(&HAND_WRITTEN.replace("code = \"D\"", "code = \"D\"\nsection = \" \""));
    assert!(err.contains("line 29") && err.contains("section"), "{err}");
}
