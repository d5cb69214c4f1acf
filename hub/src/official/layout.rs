//! The official table as data, before any format: a header, then one sheet for the hub's total and
//! one per child, each the template's rows in the seed form's order (sections, 其中 lines
//! indented), and the notes that apply. The three writers (`text`, `csv`, `xlsx`) only lay this out.
//!
//! It is built from the rollup JSON of CONTRACT.md ("Reports and rollups"), not from the rollup's
//! Rust types: a stored version (`rollup --version N`) is that JSON, and the table then reads
//! exactly what the hub said at the time.

use std::collections::BTreeMap;

use bangfu_shared::decimal::Decimal;
use bangfu_shared::protocol::{Campaign, ReviewMark};
use bangfu_shared::template::Template;
use chrono::{Datelike as _, NaiveDate};
use serde::Deserialize;

/// The rollup JSON, as much of it as the table prints.
#[derive(Debug, Clone, Deserialize)]
pub struct RollupView {
    pub org: String,
    pub name: String,
    pub version: u64,
    #[serde(default)]
    pub completeness: Option<CompletenessView>,
    pub cells: BTreeMap<String, CellView>,
    #[serde(default)]
    pub children: Vec<RollupView>,
    #[serde(default)]
    pub review: Option<ReviewMark>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CompletenessView {
    pub expected: usize,
    pub received: usize,
    pub on_time: usize,
    pub late: usize,
    pub missing: Vec<String>,
}

/// A cell of the rollup JSON: exact, a range (`upper` null: unbounded), or withheld by a child.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CellView {
    Value {
        value: Decimal,
    },
    Range {
        lower: Decimal,
        upper: Option<Decimal>,
    },
    Suppressed {
        #[allow(dead_code)]
        suppressed: bool,
    },
}

/// What the table shows in a cell's value column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Known exactly, at the cell's decimals.
    Exact(Decimal),
    /// Some child withheld it: the total lies in `[lower, upper]` (upper None: no bound known).
    Range(Decimal, Option<Decimal>),
    /// A child's own withheld cell (不公布).
    Withheld,
    /// Not reported (a typed-in figure nobody entered yet).
    Missing,
}

/// The en dash of `L–U`.
pub const DASH: char = '–';

impl Shown {
    /// The value as printed: `12`, `3.50`, `10–14`, `≥10`, `不公布`, `未填`.
    pub fn text(&self) -> String {
        match self {
            Shown::Exact(v) => v.to_string(),
            Shown::Range(lo, Some(hi)) => format!("{lo}{DASH}{hi}"),
            Shown::Range(lo, None) => format!("≥{lo}"),
            Shown::Withheld => WITHHELD.into(),
            Shown::Missing => MISSING.into(),
        }
    }
}

pub const WITHHELD: &str = "不公布";
pub const MISSING: &str = "未填";

/// One line of a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A section heading of the form (`4. 元旦、春节期间送温暖活动中走访慰问`).
    Section(String),
    /// A cell: its code, label, 其中 depth, unit and value.
    Line {
        code: String,
        label: String,
        indent: u8,
        unit: String,
        shown: Shown,
    },
}

/// Full-width spaces per indent level: they show the same in Excel, WPS, a terminal and a CSV
/// (an Excel indent format is lost in CSV and text, and in the read-back of a test).
pub const INDENT: &str = "\u{3000}\u{3000}";

impl Row {
    /// The label as printed, indented.
    pub fn label(&self) -> String {
        match self {
            Row::Section(h) => h.clone(),
            Row::Line { label, indent, .. } => {
                format!("{}{label}", INDENT.repeat(usize::from(*indent)))
            }
        }
    }
}

/// One sheet: the hub's total or one child's table.
#[derive(Debug, Clone)]
pub struct Sheet {
    /// The sheet's name, valid for Excel (31 characters at most, none of `[]:*?/\`), unique.
    pub name: String,
    /// Lines under the title: unit, period, date, completeness or review.
    pub heading: Vec<String>,
    pub rows: Vec<Row>,
    /// The form's 说明 and the notes for what this sheet shows (ranges, withheld, missing).
    pub notes: Vec<String>,
}

/// The whole official table.
#[derive(Debug, Clone)]
pub struct Document {
    /// The form's title (`工会送温暖活动统计表`).
    pub title: String,
    pub sheets: Vec<Sheet>,
    /// `CAMPAIGN-ORG`, the stem of a file name (both are ids: ASCII, no separators).
    pub stem: String,
}

/// The column headings of every sheet.
pub const COLUMNS: [&str; 4] = ["代码", "项目", "单位", "数值"];

/// A date as the forms write it: `2026年1月31日`.
pub fn chinese_date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// Lays out `rollup` (the rollup JSON) of `campaign` in its template, made on `made`.
pub fn document(
    rollup: &RollupView,
    campaign: &Campaign,
    template: &Template,
    made: NaiveDate,
) -> Document {
    let period = format!(
        "统计期间：{} 至 {}",
        chinese_date(campaign.start),
        chinese_date(campaign.end)
    );
    let common = |unit: String| {
        vec![
            format!("活动：{}（{}）", campaign.title, campaign.id),
            format!("{unit}　　{period}　　制表日期：{}", chinese_date(made)),
        ]
    };

    let mut total_heading = common(format!("汇总单位：{}（{}）", rollup.name, rollup.org));
    let mut status = format!("汇总版本：第 {} 版", rollup.version);
    if let Some(c) = &rollup.completeness {
        status.push_str(&format!(
            "　　应报 {} 个单位，已报 {} 个（按时 {}，逾期 {}）",
            c.expected, c.received, c.on_time, c.late
        ));
        if !c.missing.is_empty() {
            status.push_str(&format!("，未报：{}", c.missing.join("、")));
        }
    }
    total_heading.push(status);
    total_heading.push(SIGNATURE.into());
    let mut sheets = vec![sheet(
        TOTAL_SHEET.into(),
        total_heading,
        template,
        &rollup.cells,
    )];

    for child in &rollup.children {
        let mut heading = common(format!("填报单位：{}（{}）", child.name, child.org));
        let review = child
            .review
            .as_ref()
            .map(|m| format!("　　{}审核：{}", rollup.name, m.state.label()))
            .unwrap_or_default();
        heading.push(format!("报表版本：第 {} 版{review}", child.version));
        let name = sheet_name(&format!("{} {}", child.org, child.name));
        sheets.push(sheet(name, heading, template, &child.cells));
    }

    Document {
        title: template.title.clone(),
        sheets,
        stem: format!("{}-{}", campaign.id, rollup.org),
    }
}

/// The first sheet's name.
pub const TOTAL_SHEET: &str = "合计";

/// Left blank for the person who signs the printed form (the seed forms' header line).
const SIGNATURE: &str = "填报人：　　　　　　联系电话：　　　　　　（盖章）";

fn sheet(
    name: String,
    heading: Vec<String>,
    template: &Template,
    cells: &BTreeMap<String, CellView>,
) -> Sheet {
    let mut rows = Vec::new();
    let (mut ranged, mut unbounded, mut withheld, mut missing) = (false, false, false, false);
    for cell in &template.cells {
        if let Some(h) = &cell.section {
            rows.push(Row::Section(h.clone()));
        }
        let shown = match cells.get(&cell.code) {
            Some(CellView::Value { value }) => Shown::Exact(value.rescale(cell.scale)),
            Some(CellView::Range { lower, upper }) => {
                ranged = true;
                unbounded |= upper.is_none();
                Shown::Range(
                    lower.rescale(cell.scale),
                    upper.map(|u| u.rescale(cell.scale)),
                )
            }
            Some(CellView::Suppressed { .. }) => {
                withheld = true;
                Shown::Withheld
            }
            None => {
                missing = true;
                Shown::Missing
            }
        };
        rows.push(Row::Line {
            code: cell.code.clone(),
            label: cell.label.clone(),
            indent: cell.indent,
            unit: cell.unit.clone(),
            shown,
        });
    }

    let k = template.disclosure.threshold;
    let mut notes: Vec<String> = template
        .notes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if template.notes.len() == 1 {
                format!("说明：{n}")
            } else {
                format!("说明{}：{n}", i + 1)
            }
        })
        .collect();
    if ranged {
        notes.push(format!(
            "注：“L{DASH}U”表示区间。下级单位为保护隐私不公布小于 {k} 的户数、人次（及可据以推算出它们的数），汇总只能确定该项合计在 L 与 U 之间（含 L、U），其余各项为准确数。"
        ));
    }
    if unbounded {
        notes.push("注：“≥L”表示该项合计不小于 L，上限无法确定。".into());
    }
    if withheld {
        notes.push(format!(
            "注：“{WITHHELD}”表示该单位为保护隐私未公布此项（小于 {k}，或可据以推算出小于 {k} 的数）。"
        ));
    }
    if missing {
        notes.push(format!("注：“{MISSING}”表示该项尚未填报。"));
    }
    Sheet {
        name,
        heading,
        rows,
        notes,
    }
}

/// A name Excel and WPS accept for a sheet: at most 31 characters, none of `[]:*?/\`, no quote at
/// either end. The org code comes first, so names stay distinct when cut.
pub fn sheet_name(raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| match c {
            '[' | ']' | ':' | '*' | '?' | '/' | '\\' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .take(31)
        .collect();
    let clean = clean.trim_matches('\'').trim().to_string();
    if clean.is_empty() { "_".into() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_cut_and_cleaned_for_excel() {
        assert_eq!(sheet_name("H01 京山县总工会"), "H01 京山县总工会");
        assert_eq!(sheet_name("H02 a/b[c]:d*e?f\\g"), "H02 a_b_c__d_e_f_g");
        let long = format!("H03 {}", "很".repeat(40));
        assert_eq!(sheet_name(&long).chars().count(), 31);
        assert!(sheet_name(&long).starts_with("H03 "));
        assert_eq!(sheet_name("''"), "_");
    }

    #[test]
    fn values_ranges_and_gaps_print_as_the_form_says() {
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(Shown::Exact(Decimal::new(350, 2)).text(), "3.50");
        assert_eq!(Shown::Range(d("10"), Some(d("14"))).text(), "10–14");
        assert_eq!(Shown::Range(d("10"), None).text(), "≥10");
        assert_eq!(Shown::Withheld.text(), "不公布");
        assert_eq!(Shown::Missing.text(), "未填");
        assert_eq!(
            chinese_date(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()),
            "2026年1月31日"
        );
    }
}
