//! The official table written and read back: the workbook with calamine (as Excel or WPS would
//! open it), the CSV with a CSV reader, the text as lines.

use std::io::Cursor;

use bangfu_shared::protocol::{Campaign, Due};
use bangfu_shared::template;
use bangfu_shared::vocabulary::Vocabulary;
use calamine::{Data, Reader as _, Xlsx};
use chrono::NaiveDate;
use serde_json::json;

use super::{Error, Format, render_rollup};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn campaign() -> Campaign {
    Campaign {
        id: "2026-songnuan".parse().unwrap(),
        template: "songnuan".into(),
        title: "2026年元旦春节送温暖".into(),
        start: day(2026, 1, 1),
        end: day(2026, 1, 31),
        due: Due {
            county: day(2026, 2, 5),
            prefecture: day(2026, 2, 10),
            province: None,
        },
        template_body: None,
    }
}

/// A province's rollup of two counties in the contract's JSON shape: exact cells, a range, an
/// unbounded range, money; a county that withheld a cell and left a typed-in one empty.
fn rollup() -> serde_json::Value {
    json!({
        "campaign": "2026-songnuan", "org": "HB", "name": "湖北省总工会", "version": 3,
        "completeness": {"expected": 3, "received": 2, "on_time": 1, "late": 1, "missing": ["H03"]},
        "cells": {
            "1A": {"value": 1000}, "1B": {"value": 200},
            "3A": {"lower": 10, "upper": 14}, "3F": {"lower": 2, "upper": null},
            "5A": {"value": 12.5}
        },
        "issues": [], "sources": [],
        "children": [
            {"campaign": "2026-songnuan", "org": "H01", "name": "京山县总工会", "version": 2,
             "completeness": null, "cells": {"1A": {"value": 600}, "3A": {"value": 8}, "3B": {"suppressed": true}},
             "issues": [], "sources": [], "children": [],
             "review": {"version": 2, "state": "accepted"}},
            {"campaign": "2026-songnuan", "org": "H02", "name": "钟祥市总工会", "version": 1,
             "completeness": null, "cells": {"1A": {"value": 400}, "3A": {"suppressed": true}},
             "issues": [], "sources": [], "children": []}
        ]
    })
}

fn xlsx_rows(bytes: Vec<u8>) -> Vec<(String, Vec<Vec<Data>>)> {
    let mut book = Xlsx::new(Cursor::new(bytes)).expect("a workbook calamine reads");
    let names = book.sheet_names().to_vec();
    names
        .into_iter()
        .map(|n| {
            let range = book.worksheet_range(&n).expect("a sheet");
            assert_eq!(range.start(), Some((0, 0)), "{n} starts at A1");
            let rows = range.rows().map(<[Data]>::to_vec).collect();
            (n, rows)
        })
        .collect()
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// The row whose first column is `code`.
fn line<'a>(rows: &'a [Vec<Data>], code: &str) -> &'a [Data] {
    rows.iter()
        .find(|r| r.first().map(text).as_deref() == Some(code))
        .unwrap_or_else(|| panic!("no row {code}"))
}

#[test]
fn the_workbook_has_the_seed_forms_rows_header_ranges_and_a_sheet_per_child() {
    let t = template::builtin("songnuan", &Vocabulary::builtin()).unwrap();
    let out = render_rollup(rollup(), &campaign(), day(2026, 2, 3), Format::Xlsx).unwrap();
    assert_eq!(out.file_name, "2026-songnuan-HB.xlsx");
    assert_eq!(
        out.content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let sheets = xlsx_rows(out.bytes);
    let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["合计", "H01 京山县总工会", "H02 钟祥市总工会"]);

    let (_, total) = &sheets[0];
    assert_eq!(text(&total[0][0]), "工会送温暖活动统计表");
    let head: Vec<String> = total[1..5].iter().map(|r| text(&r[0])).collect();
    assert_eq!(head[0], "活动：2026年元旦春节送温暖（2026-songnuan）");
    assert!(head[1].contains("汇总单位：湖北省总工会（HB）"), "{head:?}");
    assert!(
        head[1].contains("统计期间：2026年1月1日 至 2026年1月31日"),
        "{head:?}"
    );
    assert!(head[1].contains("制表日期：2026年2月3日"), "{head:?}");
    assert!(
        head[2].contains("第 3 版") && head[2].contains("未报：H03"),
        "{head:?}"
    );

    // Every cell of the template, in its order, each section heading right before its first cell.
    let header = total
        .iter()
        .position(|r| text(&r[0]) == "代码")
        .expect("column headings");
    assert_eq!(
        total[header].iter().map(text).collect::<Vec<_>>(),
        ["代码", "项目", "单位", "数值"]
    );
    let body = &total[header + 1..];
    let codes: Vec<String> = body
        .iter()
        .take_while(|r| r.iter().any(|d| *d != Data::Empty))
        .map(|r| text(&r[0]))
        .filter(|c| !c.is_empty())
        .collect();
    let want: Vec<String> = t.cells.iter().map(|c| c.code.clone()).collect();
    assert_eq!(codes, want);
    let at = |code: &str| body.iter().position(|r| text(&r[0]) == code).unwrap();
    assert_eq!(text(&body[at("1A") - 1][1]), "1. 职工");
    assert_eq!(text(&body[at("10A") - 1][1]), "10. 帮助农民工平安返乡");

    // Labels and units as the form has them, 其中 lines indented.
    let l = line(body, "1A");
    assert_eq!(
        (text(&l[1]), text(&l[2])),
        ("当地职工总数".into(), "人".into())
    );
    assert_eq!(l[3], Data::Float(1000.0));
    assert_eq!(text(&line(body, "1B")[1]), "\u{3000}\u{3000}其中农民工总数");
    assert_eq!(text(&line(body, "10C")[1]), "\u{3000}\u{3000}专列运送");
    assert_eq!(text(&line(body, "5A")[2]), "万元");
    assert_eq!(line(body, "5A")[3], Data::Float(12.5));
    // Ranges as L–U, an unbounded one as ≥L, a typed-in cell nobody entered as 未填.
    assert_eq!(text(&line(body, "3A")[3]), "10–14");
    assert_eq!(text(&line(body, "3F")[3]), "≥2");
    assert_eq!(text(&line(body, "7A")[3]), "未填");

    let notes: Vec<String> = total
        .iter()
        .map(|r| text(&r[0]))
        .filter(|s| s.starts_with("说明") || s.starts_with("注"))
        .collect();
    assert_eq!(
        notes[0],
        "说明：本表中职工均包括农民工，困难职工包括困难农民工。"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("“L–U”表示区间") && n.contains("小于 3")),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n.contains("“≥L”")), "{notes:?}");
    assert!(
        !notes.iter().any(|n| n.starts_with("注：“不公布”")),
        "{notes:?}"
    );

    // A child's sheet: its own figures, its review, its withheld cell and the note for it.
    let (_, h01) = &sheets[1];
    assert!(text(&h01[2][0]).contains("填报单位：京山县总工会（H01）"));
    assert!(
        text(&h01[3][0]).contains("第 2 版") && text(&h01[3][0]).contains("已核准"),
        "{:?}",
        h01[3]
    );
    assert_eq!(line(h01, "1A")[3], Data::Float(600.0));
    assert_eq!(line(h01, "3A")[3], Data::Float(8.0));
    assert_eq!(text(&line(h01, "3B")[3]), "不公布");
    assert!(
        h01.iter()
            .any(|r| text(&r[0]).starts_with("注：“不公布”表示该单位为保护隐私未公布此项")),
        "the withheld note"
    );
    let (_, h02) = &sheets[2];
    assert_eq!(text(&line(h02, "3A")[3]), "不公布");
}

#[test]
fn the_csv_is_utf8_with_a_bom_and_the_same_table() {
    let out = render_rollup(rollup(), &campaign(), day(2026, 2, 3), Format::Csv).unwrap();
    assert_eq!(out.file_name, "2026-songnuan-HB.csv");
    assert!(out.bytes.starts_with(b"\xEF\xBB\xBF"), "a UTF-8 BOM");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&out.bytes[3..]);
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows[0][0], "【合计】工会送温暖活动统计表");
    let find = |sheet: &str, code: &str| {
        let from = rows
            .iter()
            .position(|r| r[0].starts_with(&format!("【{sheet}】")))
            .unwrap();
        rows[from..].iter().find(|r| r[0] == code).cloned().unwrap()
    };
    assert_eq!(
        find("合计", "3A"),
        [
            "3A",
            "当地已经建立困难职工档案的困难职工家庭",
            "户",
            "10–14"
        ]
    );
    assert_eq!(find("合计", "5A")[3], "12.50");
    assert_eq!(find("H01 京山县总工会", "3B")[3], "不公布");
    assert_eq!(
        find("H01 京山县总工会", "1B")[1],
        "\u{3000}\u{3000}其中农民工总数"
    );
}

#[test]
fn the_text_table_lines_up_its_columns_by_display_width() {
    let out = render_rollup(rollup(), &campaign(), day(2026, 2, 3), Format::Table).unwrap();
    let s = String::from_utf8(out.bytes).unwrap();
    assert!(s.starts_with("【合计】工会送温暖活动统计表\n"), "{s}");
    let rows: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("1A ") || l.starts_with("3A "))
        .take(2)
        .collect();
    use unicode_width::UnicodeWidthStr as _;
    assert_eq!(rows[0].width(), rows[1].width(), "{rows:?}");
    assert!(rows[1].ends_with("10–14"), "{rows:?}");
    assert!(s.contains("【H02 钟祥市总工会】"));
}

#[test]
fn a_rollup_not_of_the_contracts_shape_is_refused_naming_the_campaign() {
    let err = render_rollup(
        json!({"org": "HB", "cells": {}}),
        &campaign(),
        day(2026, 2, 3),
        Format::Table,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotARollup { .. }), "{err}");
    assert!(err.to_string().contains("2026-songnuan"), "{err}");
    assert!("pdf".parse::<Format>().is_err());
    assert_eq!("xlsx".parse::<Format>().unwrap(), Format::Xlsx);
}
