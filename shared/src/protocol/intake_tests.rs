//! The strict intake on node-made reports of every built-in template, and on each hostile value and
//! field of issue 12, as a county's report and embedded in a hub's.

use serde_json::{Value, json};

use super::*;
use crate::aggregate::{Period, aggregate};
use crate::disclose::protect;
use crate::protocol::Version;
use crate::rules::evaluate;
use crate::synthetic::{archive, day};
use crate::template::{self, BUILTIN_IDS};
use crate::vocabulary::Vocabulary;

fn template(id: &str) -> Template {
    template::builtin(id, &Vocabulary::builtin()).unwrap()
}

/// A county's report as a node makes it, with `typed` figures entered.
fn county(t: &Template, org: &str, seed: u64, typed: &[(&str, Decimal)]) -> Report {
    let v = Vocabulary::builtin();
    let (hs, aid) = archive(seed, 300, &v);
    let mut values = aggregate(
        t,
        &hs,
        &aid,
        &Period::campaign(day(2026, 1, 1), day(2026, 1, 31)),
    );
    let typed = typed.iter().map(|(c, d)| (c.to_string(), *d)).collect();
    values.enter(t, &typed).unwrap();
    let outcome = evaluate(t, |i| values.value(i));
    Report::new(
        OrgCode::parse(org).unwrap(),
        t,
        Some(CampaignId::parse("2026-x").unwrap()),
        day(2026, 1, 31),
        Version::FIRST,
        protect(t, &values).unwrap(),
        outcome,
    )
}

/// The check on `v` as it is sent: its JSON text.
fn check_value(t: &Template, kind: Kind, v: &Value) -> Result<Report, Refusal> {
    check_body(t, kind, &serde_json::to_vec(v).unwrap())
}

fn value(r: &Report) -> Value {
    serde_json::to_value(r).unwrap()
}

/// A prefecture's report embedding `children` (its cells: the first child's, as a stand-in sum).
fn hub_of(children: &[Value]) -> Value {
    let mut h = children[0].clone();
    h["org"] = json!("H");
    h["failed_rules"] = json!([]);
    h["pending_rules"] = json!([]);
    h["children"] = Value::Array(children.iter().map(envelope).collect());
    h
}

/// A county report as a hub forwards it: its exact text beside a signature (not verified here: the
/// strict intake checks shape only; `bangfu_client::signature` verifies).
fn envelope(r: &Value) -> Value {
    json!({ "report": r.to_string(), "jws": "eyJhbGciOiJFUzI1NiJ9..c2ln" })
}

#[test]
fn node_made_reports_of_every_builtin_template_pass_alone_and_embedded() {
    for id in BUILTIN_IDS {
        let t = template(id);
        let r = value(&county(&t, "H01", 7, &[]));
        assert_eq!(
            check_value(&t, Kind::County, &r),
            Ok(serde_json::from_value(r.clone()).unwrap()),
            "{id}"
        );
        let h = hub_of(&[r.clone(), value(&county(&t, "H02", 8, &[]))]);
        check_value(&t, Kind::Hub, &h).unwrap_or_else(|e| panic!("{id}: {e}"));
        // A hub's report is not a county's, nor the other way round.
        assert_eq!(
            check_value(&t, Kind::County, &h).unwrap_err().fault,
            Fault::WrongLevel
        );
        assert_eq!(
            check_value(&t, Kind::Hub, &r).unwrap_err().fault,
            Fault::WrongLevel
        );
    }
}

#[test]
fn the_largest_report_of_any_builtin_template_is_far_under_the_per_child_budget() {
    for id in BUILTIN_IDS {
        let t = template(id);
        let mut r = value(&county(&t, "H01", 7, &[]));
        // Every cell published at its largest value, every rule pending: the longest it can be.
        for c in &t.cells {
            let v = if c.is_money() {
                json!(9_999_999.99)
            } else {
                json!(9_999_999)
            };
            r["cells"][&c.code] = json!({ "value": v });
        }
        let size = serde_json::to_vec(&r).unwrap().len();
        eprintln!("{id}: {} cells, {size} bytes at most", t.cells.len());
        assert!(size * 4 < PER_CHILD_BYTES, "{id}: {size} bytes");
    }
}

#[test]
fn a_genuine_failed_rule_with_withheld_cells_passes_and_free_text_in_it_does_not() {
    let t = template("songnuan");
    // 2(A) above 1(A) breaks a low-importance rule: the report still goes, carrying it.
    let typed = [
        ("1A", Decimal::integer(10)),
        ("1B", Decimal::integer(5)),
        ("2A", Decimal::integer(20)),
        ("2B", Decimal::integer(5)),
    ];
    let r = value(&county(&t, "H01", 3, &typed));
    assert!(!r["failed_rules"].as_array().unwrap().is_empty(), "{r}");
    check_value(&t, Kind::County, &r).unwrap();

    let mut free = r.clone();
    free["failed_rules"][0]["detail"] = json!("身份证 420821199001011234 电话 13800000000");
    let e = check_value(&t, Kind::County, &free).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::Contradicts, "failed_rules[0].detail")
    );
    assert!(!e.to_string().contains("4208"), "{e}");

    let mut invented = r.clone();
    invented["failed_rules"][0]["rule"] = json!("审核通过 ALL OK");
    let e = check_value(&t, Kind::County, &invented).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::UnknownRule, "failed_rules[0].rule")
    );
}

/// Each hostile value or field of issue 12, as a change to an honest county report.
type Case = (&'static str, Fault, &'static str, Box<dyn Fn(&mut Value)>);

fn hostile() -> Vec<Case> {
    vec![
        (
            "children with ID-like free text",
            Fault::WrongLevel,
            "children",
            Box::new(|r: &mut Value| {
                r["children"] = json!([{ "note": "张三 420821199001011234 13800000000" }]);
            }),
        ),
        (
            "1 MB of padding",
            Fault::UnknownField,
            "padding",
            Box::new(|r: &mut Value| {
                r["padding"] = json!("x".repeat(1 << 20));
            }),
        ),
        (
            "1 MB in a known field",
            Fault::TooLong,
            "as_of",
            Box::new(|r: &mut Value| {
                r["as_of"] = json!("x".repeat(1 << 20));
            }),
        ),
        (
            "an unknown field",
            Fault::UnknownField,
            "remark",
            Box::new(|r: &mut Value| {
                r["remark"] = json!(1);
            }),
        ),
        (
            "an unknown field in a failed rule",
            Fault::UnknownField,
            "pending_rules[0].?(18 characters)",
            Box::new(|r: &mut Value| {
                r["pending_rules"][0]["420821199001011234"] = json!(1);
            }),
        ),
        (
            "-5",
            Fault::Negative,
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": -5 });
            }),
        ),
        (
            "1.5",
            Fault::NotACount,
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": 1.5 });
            }),
        ),
        (
            "\"  7 \"",
            Fault::WrongType,
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": "  7 " });
            }),
        ),
        (
            "i64::MAX",
            Fault::OverBound,
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": i64::MAX });
            }),
        ),
        (
            "the bound itself",
            Fault::OverBound,
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": 10_000_000 });
            }),
        ),
        (
            "money with three places",
            Fault::TooManyPlaces,
            "cells.6A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["6A"] = json!({ "value": 1.234 });
            }),
        ),
        (
            "an unknown cell code",
            Fault::UnknownCell,
            "cells",
            Box::new(|r: &mut Value| {
                r["cells"]["9Z"] = json!({ "value": 1 });
            }),
        ),
        (
            "a free-text pending rule",
            Fault::UnknownRule,
            "pending_rules[0].rule",
            Box::new(|r: &mut Value| {
                r["pending_rules"][0]["rule"] = json!("\u{1b}[2J\u{1b}[32m审核通过 ALL OK");
            }),
        ),
        (
            "deep nesting",
            Fault::TooDeep,
            "cells.3A.value[0][0]",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": [[[[[1]]]]] });
            }),
        ),
        (
            "a version past 32 bits",
            Fault::OverBound,
            "version",
            Box::new(|r: &mut Value| {
                r["version"] = json!(1u64 << 40);
            }),
        ),
    ]
}

#[test]
fn each_hostile_value_or_field_is_refused_alone_and_inside_a_hubs_report_alike() {
    let t = template("songnuan");
    let honest = value(&county(&t, "H01", 3, &[]));
    let sibling = value(&county(&t, "H02", 4, &[]));
    check_value(&t, Kind::Hub, &hub_of(&[honest.clone(), sibling.clone()])).unwrap();
    for (name, fault, path, change) in hostile() {
        let mut r = honest.clone();
        change(&mut r);
        let alone = check_value(&t, Kind::County, &r).expect_err(name);
        assert_eq!(
            (alone.fault, alone.path.as_str()),
            (fault, path),
            "{name}: {alone}"
        );
        // What a prefecture refuses from H01, its province refuses inside the prefecture's report,
        // at the same place under `children`.
        let embedded = check_value(&t, Kind::Hub, &hub_of(&[sibling.clone(), r])).expect_err(name);
        assert_eq!(
            (embedded.fault, embedded.path.clone()),
            (fault, embedded_path(path)),
            "{name}: {embedded}"
        );
        let shown = alone.to_string();
        assert!(
            !shown.contains("4208") && !shown.contains('\u{1b}'),
            "{name}: {shown}"
        );
    }
}

/// Where a refusal at `path` of a county report is named inside a hub's report, as its second child.
fn embedded_path(path: &str) -> String {
    match path {
        "$" => "children[1].report".into(),
        p => format!("children[1].report.{p}"),
    }
}

#[test]
fn an_embedded_report_is_exact_text_beside_a_signature_and_nothing_else() {
    let t = template("songnuan");
    let r = value(&county(&t, "H01", 3, &[]));
    let mut h = hub_of(std::slice::from_ref(&r));
    check_value(&t, Kind::Hub, &h).unwrap();
    // A report as an object (re-serialisable by whoever forwards it) is not an embedded report.
    h["children"][0]["report"] = r.clone();
    let e = check_value(&t, Kind::Hub, &h).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::WrongType, "children[0].report")
    );
    h["children"] = json!([r.clone()]);
    let e = check_value(&t, Kind::Hub, &h).unwrap_err();
    assert_eq!(e.fault, Fault::UnknownField, "{e}");
    h["children"] = json!([{ "report": r.to_string() }]);
    let e = check_value(&t, Kind::Hub, &h).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::Missing, "children[0].jws")
    );
    h["children"] = json!([{ "report": r.to_string(), "jws": "a\u{1b}[2J..b" }]);
    let e = check_value(&t, Kind::Hub, &h).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::TooLong, "children[0].jws")
    );
    h["children"] = json!([{ "report": "{\"org\": ", "jws": "a..b" }]);
    let e = check_value(&t, Kind::Hub, &h).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::Malformed, "children[0].report")
    );
    // The text is bounded by the per-child budget, not by the 1,024-byte string bound.
    assert!(r.to_string().len() > MAX_STRING);
    let padded = format!("{}{}", r, " ".repeat(PER_CHILD_BYTES));
    h["children"] = json!([{ "report": padded, "jws": "a..b" }]);
    let e = check_value(&t, Kind::Hub, &h).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::TooLarge, "children[0].report")
    );
}

#[test]
fn a_hubs_held_back_entries_are_fault_codes_and_paths_only() {
    let t = template("songnuan");
    let mut h = hub_of(&[value(&county(&t, "H01", 3, &[]))]);
    h["held_back"] = json!({ "H02": { "fault": "too_long", "path": "padding" } });
    check_value(&t, Kind::Hub, &h).unwrap();
    h["held_back"]["H02"]["note"] = json!("free text");
    assert_eq!(
        check_value(&t, Kind::Hub, &h).unwrap_err().fault,
        Fault::UnknownField
    );
    h["held_back"] = json!({ "H02": { "fault": "审核通过", "path": "x" } });
    assert_eq!(
        check_value(&t, Kind::Hub, &h).unwrap_err().fault,
        Fault::WrongType
    );
    h["held_back"] = json!({ "H01": { "fault": "too_long", "path": "x" } });
    assert_eq!(
        check_value(&t, Kind::Hub, &h).unwrap_err().fault,
        Fault::Duplicate
    );
}

#[test]
fn a_templates_limits_set_the_bound() {
    let text = "id = \"t\"\ntitle = \"t\"\n[limits]\ncount_max = 100\nmoney_max = 5.5\n\
                [[cell]]\ncode = \"A\"\nlabel = \"a\"\nunit = \"个\"\n\
                [[cell]]\ncode = \"M\"\nlabel = \"m\"\nunit = \"万元\"\n";
    let t = Template::parse(text, &Vocabulary::builtin()).unwrap();
    let report = |a: Value, m: Value| {
        json!({
            "org": "H01", "template": "t", "campaign": "2026-x", "as_of": "2026-01-31",
            "version": 1, "threshold": 3, "failed_rules": [],
            "cells": { "A": { "value": a }, "M": { "value": m } }
        })
    };
    check_value(&t, Kind::County, &report(json!(99), json!(5.49))).unwrap();
    let e = check_value(&t, Kind::County, &report(json!(100), json!(1))).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::OverBound, "cells.A.value")
    );
    let e = check_value(&t, Kind::County, &report(json!(1), json!(5.5))).unwrap_err();
    assert_eq!(
        (e.fault, e.path.as_str()),
        (Fault::OverBound, "cells.M.value")
    );
    assert!(Template::parse(&text.replace("100", "0"), &Vocabulary::builtin()).is_err());
}

#[test]
fn a_field_sent_twice_is_refused_alone_and_embedded() {
    // A reader that keeps the first of two fields and one that keeps the last would count
    // different figures from the same bytes: neither is asked to choose.
    let t = template("dangan");
    let r = value(&county(&t, "H01", 7, &[]));
    let text = r.to_string();
    let code = r["cells"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let cases = [
        (
            text.replacen(r#""org":"H01""#, r#""org":"H01","org":"H01""#, 1),
            "org".to_string(),
        ),
        (
            text.replacen(
                r#""cells":{"#,
                &format!(r#""cells":{{"{code}":{{"value":0}},"#),
                1,
            ),
            format!("cells.{}", shown_name(&code)),
        ),
    ];
    for (body, path) in cases {
        assert_ne!(body, text);
        let e = check_body(&t, Kind::County, body.as_bytes()).unwrap_err();
        assert_eq!(
            (e.fault, e.path.as_str()),
            (Fault::Duplicate, path.as_str())
        );

        let mut h = hub_of(std::slice::from_ref(&r));
        h["children"][0]["report"] = json!(body);
        let e = check_value(&t, Kind::Hub, &h).unwrap_err();
        assert_eq!(
            (e.fault, e.path),
            (Fault::Duplicate, format!("children[0].report.{path}"))
        );
    }
}
