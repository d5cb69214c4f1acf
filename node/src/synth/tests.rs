//! The generator against an independent reading of the rules: every row the manifest lists breaks
//! exactly its rule, every other row is valid, and runs are reproducible.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use bangfu_shared::org::OrgCode;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;

use super::*;
use crate::columns::{AID_COLUMNS, HOUSEHOLD_COLUMNS, MEMBER_COLUMNS};
use crate::domain::{Fen, IdNumber, StaffNo, parse_date};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn options(
    vocabulary: &Vocabulary,
    households: u64,
    seed: u64,
    rate: f64,
    format: Format,
) -> Options<'_> {
    Options {
        org: OrgCode::parse("H01").unwrap(),
        households,
        seed,
        invalid_rate: rate,
        today: today(),
        dibao_line_yuan: 400,
        edge_ratio: 1.2,
        vocabulary,
        format,
    }
}

fn run(opts: &Options) -> (tempfile::TempDir, Summary) {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(opts, dir.path()).unwrap();
    (dir, summary)
}

/// Rows of a UTF-8 CSV as maps from header to value, with their line numbers.
fn read(path: &Path) -> Vec<(u32, BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    reader
        .records()
        .enumerate()
        .map(|(i, r)| {
            let r = r.unwrap();
            (
                i as u32 + 2,
                header
                    .iter()
                    .cloned()
                    .zip(r.iter().map(str::to_string))
                    .collect(),
            )
        })
        .collect()
}

fn manifest(dir: &Path) -> BTreeMap<(String, u32), Rule> {
    read(&dir.join(MANIFEST))
        .into_iter()
        .map(|(_, r)| {
            let rule =
                Rule::from_name(&r["rule"]).unwrap_or_else(|| panic!("unknown rule {}", r["rule"]));
            ((r["file"].clone(), r["line"].parse().unwrap()), rule)
        })
        .collect()
}

/// Household columns whose values come from a vocabulary field.
const ENUMERATED: &[(&str, &str)] = &[
    ("性别", "sex"),
    ("政治面貌", "politics"),
    ("困难类别", "category"),
    ("劳模类别", "model_worker"),
    ("健康状况", "health"),
    ("身份", "work_status"),
    ("住房类型", "housing_type"),
    ("住房面积", "housing_area"),
    ("所属行业", "industry"),
    ("户口类型", "hukou"),
    ("单位性质", "unit_nature"),
    ("企业状况", "enterprise_status"),
    ("是否单亲", "yes_no"),
    ("是否进入医保", "yes_no"),
    ("是否有一定自救能力", "yes_no"),
    ("是否为零就业家庭", "yes_no"),
    ("是否享受低保", "yes_no"),
    ("档案状态", "status"),
];

/// An independent reading of the household rules: every rule the row breaks.
struct Checker<'v> {
    v: &'v Vocabulary,
    org: OrgCode,
    staff_nos: HashSet<String>,
    ids: HashSet<String>,
}

impl Checker<'_> {
    fn household(&mut self, r: &BTreeMap<String, String>) -> Vec<Rule> {
        let mut broken = Vec::new();
        for c in HOUSEHOLD_COLUMNS.iter().filter(|c| c.required) {
            if r[c.zh].trim().is_empty() {
                broken.push(Rule::Required);
            }
        }
        match StaffNo::parse(&r["职工编号"], &self.org) {
            Err(v) => broken.push(v.rule),
            Ok(s) if !self.staff_nos.insert(s.as_str().to_string()) => {
                broken.push(Rule::DuplicateStaffNo)
            }
            Ok(_) => {}
        }
        match IdNumber::parse(&r["身份证号"], today()) {
            Err(v) => broken.push(v.rule),
            Ok(id) => {
                if id.sex() != r["性别"] {
                    broken.push(Rule::IdSex);
                }
                if !self.ids.insert(id.as_str().to_string()) {
                    broken.push(Rule::DuplicateIdNumber);
                }
            }
        }
        for (col, field) in ENUMERATED {
            if !r[*col].is_empty() && self.v.field(field).canonical(&r[*col]).is_none() {
                broken.push(Rule::Vocabulary);
            }
        }
        let causes: Vec<&str> = r["致困主要原因"].split(['、', ';']).collect();
        let canon: Vec<&str> = causes
            .iter()
            .filter_map(|c| self.v.field("cause").canonical(c))
            .collect();
        if canon.len() != causes.len() {
            broken.push(Rule::Vocabulary);
        }
        if !(1..=3).contains(&causes.len()) {
            broken.push(Rule::CausesCount);
        }
        if canon.iter().collect::<HashSet<_>>().len() != canon.len() {
            broken.push(Rule::CausesRepeated);
        }
        let mut money = BTreeMap::new();
        for col in [
            "本人年收入",
            "家庭年度总收入",
            "家庭年度支出",
            "年医疗费个人支出",
            "年学费支出",
        ] {
            match Fen::parse_yuan(&r[col]) {
                Ok(f) => {
                    money.insert(col, f);
                }
                Err(v) => broken.push(v.rule),
            }
        }
        if let (Some(p), Some(h)) = (money.get("本人年收入"), money.get("家庭年度总收入"))
            && p > h
        {
            broken.push(Rule::PersonalIncomeAboveHousehold);
        }
        match r["家庭人口"].parse::<u32>() {
            Ok(n) if (1..=20).contains(&n) => {}
            Ok(_) => broken.push(Rule::HouseholdSizeRange),
            Err(_) => broken.push(Rule::NotANumber),
        }
        for col in ["建档日期", "脱困日期"] {
            if !r[col].is_empty() {
                match parse_date(&r[col]) {
                    Ok(d) if d > today() => broken.push(Rule::DateInFuture),
                    Ok(_) => {}
                    Err(v) => broken.push(v.rule),
                }
            }
        }
        if r["档案状态"] == "已脱困" && r["脱困日期"].is_empty() {
            broken.push(Rule::LiftedWithoutDate);
        }
        broken
    }
}

fn member_rules(
    v: &Vocabulary,
    known: &HashSet<String>,
    r: &BTreeMap<String, String>,
) -> Vec<Rule> {
    let mut broken = Vec::new();
    if !known.contains(&r["职工编号"]) {
        broken.push(Rule::UnknownHousehold);
    }
    for (col, field) in [
        ("关系", "relation"),
        ("性别", "sex"),
        ("身份", "member_status"),
        ("健康状况", "health"),
    ] {
        if v.field(field).canonical(&r[col]).is_none() {
            broken.push(Rule::Vocabulary);
        }
    }
    if !r["身份证号"].is_empty() {
        match IdNumber::parse(&r["身份证号"], today()) {
            Ok(id) if id.sex() != r["性别"] => broken.push(Rule::IdSex),
            Ok(_) => {}
            Err(e) => broken.push(e.rule),
        }
    }
    if let Err(e) = Fen::parse_yuan(&r["年收入"]) {
        broken.push(e.rule);
    }
    broken
}

fn aid_rules(v: &Vocabulary, known: &HashSet<String>, r: &BTreeMap<String, String>) -> Vec<Rule> {
    let mut broken = Vec::new();
    if !known.contains(&r["职工编号"]) {
        broken.push(Rule::UnknownHousehold);
    }
    if v.field("aid_kind").canonical(&r["帮扶类型"]).is_none() {
        broken.push(Rule::Vocabulary);
    }
    match parse_date(&r["日期"]) {
        Ok(d) if d > today() => broken.push(Rule::DateInFuture),
        Ok(_) => {}
        Err(e) => broken.push(e.rule),
    }
    if let Err(e) = Fen::parse_yuan(&r["金额(元)"]) {
        broken.push(e.rule);
    }
    broken
}

/// Checks every row of a run against the manifest; returns the stored households' staff numbers.
fn check_run(dir: &Path, v: &Vocabulary) -> HashSet<String> {
    let listed = manifest(dir);
    let expect = |file: &str, line: u32| {
        listed
            .get(&(file.to_string(), line))
            .copied()
            .into_iter()
            .collect::<Vec<_>>()
    };
    let mut checker = Checker {
        v,
        org: OrgCode::parse("H01").unwrap(),
        staff_nos: HashSet::new(),
        ids: HashSet::new(),
    };
    let mut stored = HashSet::new();
    for (line, r) in read(&dir.join("households.csv")) {
        let broken = checker.household(&r);
        assert_eq!(
            broken,
            expect("households.csv", line),
            "households.csv line {line}: {r:?}"
        );
        if broken.is_empty() {
            stored.insert(r["职工编号"].clone());
        }
    }
    for (line, r) in read(&dir.join("members.csv")) {
        assert_eq!(
            member_rules(v, &stored, &r),
            expect("members.csv", line),
            "members.csv line {line}: {r:?}"
        );
    }
    for (line, r) in read(&dir.join("aid.csv")) {
        assert_eq!(
            aid_rules(v, &stored, &r),
            expect("aid.csv", line),
            "aid.csv line {line}: {r:?}"
        );
    }
    stored
}

#[test]
fn the_same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let v = Vocabulary::builtin();
    let (a, _) = run(&options(&v, 1500, 7, 0.05, Format::Csv));
    let (b, _) = run(&options(&v, 1500, 7, 0.05, Format::Csv));
    let (c, _) = run(&options(&v, 1500, 8, 0.05, Format::Csv));
    for name in ["households.csv", "members.csv", "aid.csv", MANIFEST] {
        let bytes = |d: &tempfile::TempDir| std::fs::read(d.path().join(name)).unwrap();
        assert_eq!(bytes(&a), bytes(&b), "{name}");
        if name != MANIFEST {
            assert_ne!(bytes(&a), bytes(&c), "{name}");
        }
    }
}

#[test]
fn a_valid_only_run_has_only_valid_rows() {
    let v = Vocabulary::builtin();
    let (dir, summary) = run(&options(&v, 3000, 1, 0.0, Format::Csv));
    assert_eq!(
        summary.invalid_households + summary.invalid_members + summary.invalid_aid,
        0
    );
    assert_eq!(manifest(dir.path()).len(), 0);
    let stored = check_run(dir.path(), &v);
    assert_eq!(stored.len(), 3000);
    assert!(summary.members > 3000 && summary.aid > 1000, "{summary:?}");
}

#[test]
fn each_listed_row_breaks_exactly_its_rule_and_no_other_row_breaks_any() {
    let v = Vocabulary::builtin();
    let (dir, summary) = run(&options(&v, 4000, 3, 0.1, Format::Csv));
    assert_eq!(summary.invalid_households, 400);
    let listed = manifest(dir.path());
    let households = listed.keys().filter(|(f, _)| f == "households.csv").count() as u64;
    assert_eq!(households, 400);
    let rules: HashSet<Rule> = listed.values().copied().collect();
    for r in household::CYCLE
        .iter()
        .chain([Rule::UnknownHousehold].iter())
    {
        assert!(rules.contains(r), "no row breaks {r}");
    }
    let members = summary.invalid_members as f64 / summary.members as f64;
    assert!((0.07..0.13).contains(&members), "{summary:?}");
    check_run(dir.path(), &v);
}

#[test]
fn values_follow_the_seed_distributions() {
    let v = Vocabulary::builtin();
    let (dir, _) = run(&options(&v, 4000, 5, 0.0, Format::Csv));
    let rows = read(&dir.path().join("households.csv"));
    let share = |col: &str, value: &str| {
        rows.iter().filter(|(_, r)| r[col] == value).count() as f64 / rows.len() as f64
    };
    assert!((0.40..0.50).contains(&share("困难类别", "低保户")));
    assert!((0.06..0.15).contains(&share("身份", "农民工")));
    assert!((0.80..0.90).contains(&share("档案状态", "在档")));
    assert!(share("劳模类别", "非劳模") > 0.9);
    // Money agrees with the category, except for the few households the generator lets drift
    // (income risen since filing) so that `check` has something to find.
    let mut drifted = 0;
    for (_, r) in &rows {
        let income = Fen::parse_yuan(&r["家庭年度总收入"]).unwrap().0 as f64;
        let size: f64 = r["家庭人口"].parse().unwrap();
        let per_month = income / size / 12.0 / 100.0;
        let consistent = match r["困难类别"].as_str() {
            "低保户" => per_month < 400.0,
            "低保边缘户" => (400.0..480.0).contains(&per_month),
            _ => {
                let half = income / 2.0;
                let over = |c: &str| Fen::parse_yuan(&r[c]).unwrap().0 as f64 > half;
                over("年医疗费个人支出")
                    || over("年学费支出")
                    || r["致困主要原因"].contains("意外灾害")
            }
        };
        if !consistent {
            assert!(
                per_month >= 640.0,
                "only drifted households break the category's money: {r:?}"
            );
            drifted += 1;
        }
        if r["档案状态"] == "已脱困" {
            assert!(parse_date(&r["脱困日期"]).unwrap() > parse_date(&r["建档日期"]).unwrap());
        } else {
            assert!(r["脱困日期"].is_empty());
        }
    }
    let drifted_share = f64::from(drifted) / rows.len() as f64;
    assert!((0.01..0.07).contains(&drifted_share), "{drifted} drifted");
    let fifteen = rows
        .iter()
        .filter(|(_, r)| r["身份证号"].len() == 15)
        .count();
    assert!((5..=100).contains(&fifteen), "{fifteen} legacy numbers");
}

#[test]
fn the_gbk_file_decodes_to_the_utf8_run() {
    let v = Vocabulary::builtin();
    let (utf8, _) = run(&options(&v, 500, 9, 0.05, Format::Csv));
    let (gbk, _) = run(&options(&v, 500, 9, 0.05, Format::CsvGbk));
    for name in ["households.csv", "members.csv", "aid.csv"] {
        let bytes = std::fs::read(gbk.path().join(name)).unwrap();
        let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(&bytes);
        assert!(!had_errors);
        let original = std::fs::read_to_string(utf8.path().join(name)).unwrap();
        assert_eq!(text, original.strip_prefix('\u{feff}').unwrap(), "{name}");
    }
    assert_eq!(
        std::fs::read(utf8.path().join(MANIFEST)).unwrap(),
        std::fs::read(gbk.path().join(MANIFEST)).unwrap()
    );
}

#[test]
fn an_xlsx_run_has_one_named_sheet_per_kind_with_the_same_rows() {
    use calamine::{Reader, Xlsx, open_workbook};
    let v = Vocabulary::builtin();
    let (dir, summary) = run(&options(&v, 200, 2, 0.05, Format::Xlsx));
    for (kind, rows) in [
        (Kind::Households, 200),
        (Kind::Members, summary.members),
        (Kind::Aid, summary.aid),
    ] {
        let mut book: Xlsx<_> =
            open_workbook(dir.path().join(format!("{}.xlsx", kind.key()))).unwrap();
        assert_eq!(book.sheet_names(), vec![kind.sheet_name().to_string()]);
        let range = book.worksheet_range(kind.sheet_name()).unwrap();
        assert_eq!(range.height() as u64, rows + 1);
        let header: Vec<String> = range
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let expected: Vec<&str> = kind.columns().iter().map(|c| c.zh).collect();
        assert_eq!(header, expected);
    }
    let listed = manifest(dir.path());
    assert!(listed.keys().all(|(f, _)| f.ends_with(".xlsx")));
    assert_eq!(
        listed
            .keys()
            .filter(|(f, _)| f == "households.xlsx")
            .count(),
        10
    );
}

#[test]
fn more_households_than_staff_numbers_is_an_error_and_leaves_nothing() {
    let v = Vocabulary::builtin();
    let dir = tempfile::tempdir().unwrap();
    let err = generate(&options(&v, 100_000, 1, 0.0, Format::Csv), dir.path()).unwrap_err();
    assert!(err.to_string().contains("99999"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn headers_are_all_columns_in_order() {
    let v = Vocabulary::builtin();
    let (dir, _) = run(&options(&v, 10, 1, 0.0, Format::Csv));
    for (name, cols) in [
        ("households.csv", HOUSEHOLD_COLUMNS),
        ("members.csv", MEMBER_COLUMNS),
        ("aid.csv", AID_COLUMNS),
    ] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let first = text
            .lines()
            .next()
            .unwrap()
            .trim_start_matches('\u{feff}')
            .to_string();
        assert_eq!(
            first,
            cols.iter().map(|c| c.zh).collect::<Vec<_>>().join(",")
        );
    }
}
