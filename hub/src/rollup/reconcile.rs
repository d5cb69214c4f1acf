//! Reconciliation (DESIGN.md, "Parts": the hub reconciles the totals): the findings a rollup lists
//! under `issues`, each `{org, rule, detail, cells, via}` with `rule` one of the stable ids below.
//!
//! Findings never stop a report from being stored: a hub that refused a doubtful report would hide
//! it from the one level that can chase it. Every function here is pure (reports in, findings out),
//! so each rule is tested on its own; [`crate::rollup`] gathers the inputs from the store.
//!
//! A finding names org codes, cell codes and published (or summed) figures only: nothing a child
//! withheld, and nothing about a household.

use std::collections::BTreeMap;

use bangfu_shared::decimal::Decimal;
use bangfu_shared::org::{Level, OrgCode};
use bangfu_shared::protocol::Version;
use bangfu_shared::report::Report;
use bangfu_shared::template::{RuleKind, Template};

pub use crate::config::ReconcileSettings as Settings;
use crate::rollup::{self, Bounds, Issue};

/// A failed rule the child itself reported (its `failed_rules`).
pub const TABLE_RULE: &str = "table_rule";
/// The hub, re-running the template's rules on what a child published, finds one broken that the
/// child did not report.
pub const RELATION: &str = "relation";
/// A hub child's cells are not the sum of the children's reports it embeds.
pub const HUB_SUM: &str = "hub_sum";
/// A cell changed against the same template's previous campaign by more than the set factor.
pub const OUTLIER: &str = "outlier";
/// The same county appears under two intermediate hubs.
pub const TWO_PARENTS: &str = "two_parents";
/// An embedded report whose org does not belong to the hub that forwarded it.
pub const WRONG_PARENT: &str = "wrong_parent";
/// A version arrived after a newer one of the same org was already held.
pub const OLDER_VERSION: &str = "older_version";

fn issue(
    org: &OrgCode,
    rule: &str,
    detail: String,
    cells: Vec<String>,
    via: Option<&OrgCode>,
) -> Issue {
    Issue {
        org: org.clone(),
        rule: rule.to_string(),
        detail,
        cells,
        via: via.cloned(),
    }
}

/// `table_rule`: the rules the child reported as failed, as it reported them.
pub fn table_rules(report: &Report, via: Option<&OrgCode>) -> Vec<Issue> {
    report
        .failed_rules
        .iter()
        .map(|f| {
            issue(
                &report.org,
                TABLE_RULE,
                format!("{}: {}", f.rule, f.detail),
                f.cells.iter().map(|c| c.code.clone()).collect(),
                via,
            )
        })
        .collect()
}

/// `relation`: the template's rules re-run on what the child published, with withheld cells as the
/// ranges its audit leaves open (a rule is broken only when no value in those ranges satisfies it).
/// Rules the child already reported are left to [`table_rules`].
pub fn relations(t: &Template, report: &Report, via: Option<&OrgCode>) -> Vec<Issue> {
    relations_within(t, report, &rollup::bounds(t, report), via)
}

/// [`relations`] with the report's bounds already computed (the audit is the costly part).
pub fn relations_within(
    t: &Template,
    report: &Report,
    b: &BTreeMap<String, Bounds>,
    via: Option<&OrgCode>,
) -> Vec<Issue> {
    let range = |i: usize| {
        b.get(&t.cells[i].code)
            .map(|&(lo, hi, _)| (lo.to_f64(), hi.map_or(f64::INFINITY, Decimal::to_f64)))
    };
    let show = |i: usize| match b.get(&t.cells[i].code) {
        Some(&(lo, _, true)) => format!("{} = {lo}", t.cells[i].code),
        Some(&(lo, hi, false)) => format!(
            "{} ∈ [{lo}, {}]",
            t.cells[i].code,
            hi.map_or("∞".to_string(), |h| h.to_string())
        ),
        None => format!("{} (empty)", t.cells[i].code),
    };
    let mut out = vec![];
    for rule in &t.rules {
        if report.failed_rules.iter().any(|f| f.rule == rule.message) {
            continue;
        }
        let cells = rule.cells();
        let Some(ranges) = cells.iter().map(|&c| range(c)).collect::<Option<Vec<_>>>() else {
            continue;
        };
        let (parts, whole) = ranges.split_at(ranges.len() - 1);
        let (lo_sum, hi_sum) = parts
            .iter()
            .fold((0.0, 0.0), |(l, h), &(a, b)| (l + a, h + b));
        let (w_lo, w_hi) = whole[0];
        const EPS: f64 = 1e-7;
        let broken = match &rule.kind {
            RuleKind::PartsWithinWhole { .. } => lo_sum > w_hi + EPS,
            RuleKind::PartsSumToWhole {
                tolerance, parts, ..
            } => {
                let tol = tolerance.to_f64() * parts.len() as f64;
                lo_sum > w_hi + tol + EPS || hi_sum < w_lo - tol - EPS
            }
        };
        if broken {
            let detail = format!(
                "{}: {}",
                rule.message,
                cells
                    .iter()
                    .map(|&c| show(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            out.push(issue(
                &report.org,
                RELATION,
                detail,
                cells.iter().map(|&c| t.cells[c].code.clone()).collect(),
                via,
            ));
        }
    }
    out
}

/// What a list of reports sums to, cell by cell (`(lower, upper, exact)`, upper None: unbounded).
pub fn sum(t: &Template, reports: &[&Report]) -> BTreeMap<String, Bounds> {
    let each: Vec<BTreeMap<String, Bounds>> =
        reports.iter().map(|r| rollup::bounds(t, r)).collect();
    sum_bounds(&each)
}

/// [`sum`] of bounds already computed.
pub fn sum_bounds(each: &[BTreeMap<String, Bounds>]) -> BTreeMap<String, Bounds> {
    let mut out: BTreeMap<String, Bounds> = BTreeMap::new();
    for b in each {
        for (code, &(lo, hi, exact)) in b {
            let code = code.clone();
            out.entry(code)
                .and_modify(|s| *s = (s.0 + lo, s.1.zip(hi).map(|(a, b)| a + b), s.2 && exact))
                .or_insert((lo, hi, exact));
        }
    }
    out
}

/// `hub_sum`: where a hub child's cells are not what its embedded reports add up to (an exact cell
/// must equal the exact sum; a range must contain the sum's range). One finding per hub, naming
/// every cell that differs with both figures, so a tampered or buggy intermediate hub is chased.
pub fn hub_sum(t: &Template, hub: &Report, embedded: &[&Report]) -> Option<Issue> {
    let sums = sum(t, embedded);
    let own = rollup::bounds(t, hub);
    let show = |b: Option<&Bounds>| match b {
        None => "(empty)".to_string(),
        Some(&(lo, _, true)) => lo.to_string(),
        Some(&(lo, hi, false)) => {
            format!("[{lo}, {}]", hi.map_or("∞".to_string(), |h| h.to_string()))
        }
    };
    let mut cells = vec![];
    let mut details = vec![];
    for cell in &t.cells {
        let (o, s) = (own.get(&cell.code), sums.get(&cell.code));
        let withheld = hub.cells.get(&cell.code).is_some_and(|c| c.is_suppressed());
        let fits = match (o, s) {
            (None, None) => true,
            // A hub withholds a cell only where nothing bounds the sum from above.
            _ if withheld => s.is_some_and(|&(_, hi, exact)| !exact && hi.is_none()),
            (Some(&(v, _, true)), Some(&(lo, _, true))) => v == lo,
            // A range must contain the sum's range.
            (Some(&(l, u, false)), Some(&(lo, hi, false))) => {
                l <= lo
                    && match (u, hi) {
                        (None, _) => true,
                        (Some(u), Some(hi)) => u >= hi,
                        (Some(_), None) => false,
                    }
            }
            _ => false,
        };
        if !fits {
            cells.push(cell.code.clone());
            let reported = if withheld {
                "(withheld)".to_string()
            } else {
                show(o)
            };
            details.push(format!(
                "{}: reported {reported}, its children's reports sum to {}",
                cell.code,
                show(s)
            ));
        }
    }
    (!cells.is_empty()).then(|| issue(&hub.org, HUB_SUM, details.join("; "), cells, None))
}

/// `outlier`: cells published exactly in both this and the previous campaign's report of the same
/// org that changed by more than `settings.outlier_factor` (a drop counts as much as a rise).
pub fn outliers(
    t: &Template,
    now: &Report,
    before: &Report,
    previous_campaign: &str,
    settings: &Settings,
    via: Option<&OrgCode>,
) -> Vec<Issue> {
    let mut out = vec![];
    for cell in &t.cells {
        let (Some(a), Some(b)) = (
            before.cells.get(&cell.code).and_then(|c| c.value()),
            now.cells.get(&cell.code).and_then(|c| c.value()),
        ) else {
            continue;
        };
        let (x, y) = (a.to_f64(), b.to_f64());
        let (small, large) = (x.min(y), x.max(y));
        if large < settings.outlier_min_base {
            continue;
        }
        if small <= 0.0 || large > settings.outlier_factor * small {
            let detail = format!(
                "{}: {a} in `{previous_campaign}`, now {b} (more than {}× apart)",
                cell.code, settings.outlier_factor
            );
            out.push(issue(
                &now.org,
                OUTLIER,
                detail,
                vec![cell.code.clone()],
                via,
            ));
        }
    }
    out
}

/// `wrong_parent`: embedded reports whose org is not one of `hub`'s counties (org code prefix rule:
/// county H01 belongs to prefecture H).
pub fn wrong_parents(hub: &OrgCode, embedded: &[&Report]) -> Vec<Issue> {
    embedded
        .iter()
        .filter(|c| !(c.org.level() == Level::County && c.org.as_str().starts_with(hub.as_str())))
        .map(|c| {
            issue(
                &c.org,
                WRONG_PARENT,
                format!("{} was forwarded by {hub}, which is not its parent", c.org),
                vec![],
                Some(hub),
            )
        })
        .collect()
}

/// `two_parents`: a county embedded by more than one hub child. `forwarded` is each hub child with
/// the orgs of the reports it embeds.
pub fn two_parents(forwarded: &[(OrgCode, Vec<OrgCode>)]) -> Vec<Issue> {
    let mut by_county: BTreeMap<&OrgCode, Vec<&OrgCode>> = BTreeMap::new();
    for (hub, counties) in forwarded {
        for c in counties {
            by_county.entry(c).or_default().push(hub);
        }
    }
    by_county
        .into_iter()
        .filter(|(_, hubs)| hubs.len() > 1)
        .map(|(county, hubs)| {
            let names: Vec<&str> = hubs.iter().map(|h| h.as_str()).collect();
            let detail = format!(
                "{county} is reported under {}: its figures are counted {} times in the total",
                names.join(" and "),
                hubs.len()
            );
            issue(county, TWO_PARENTS, detail, vec![], hubs.last().copied())
        })
        .collect()
}

/// `older_version`: versions that arrived after a higher version of the same org was held.
/// `arrivals` is one org's versions in the order they were received. (Such a version is stored,
/// as every version is, but the rollup keeps using the highest.)
pub fn older_versions(org: &OrgCode, arrivals: &[Version], via: Option<&OrgCode>) -> Vec<Issue> {
    let mut highest: Option<Version> = None;
    let mut out = vec![];
    for &v in arrivals {
        if let Some(h) = highest.filter(|&h| v < h) {
            out.push(issue(
                org,
                OLDER_VERSION,
                format!("version {v} arrived after version {h}; the rollup keeps version {h}"),
                vec![],
                via,
            ));
        }
        highest = Some(highest.map_or(v, |h| h.max(v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangfu_shared::template;
    use bangfu_shared::vocabulary::Vocabulary;

    fn songnuan() -> Template {
        template::builtin("songnuan", &Vocabulary::builtin()).unwrap()
    }

    fn org(code: &str) -> OrgCode {
        OrgCode::parse(code).unwrap()
    }

    /// A songnuan report of `org` with these published cells (None: withheld).
    fn report(org: &str, version: u32, cells: &[(&str, Option<i64>)]) -> Report {
        let cells: serde_json::Map<String, serde_json::Value> = cells
            .iter()
            .map(|&(c, v)| {
                (
                    c.to_string(),
                    v.map_or(
                        serde_json::json!({"suppressed": true}),
                        |v| serde_json::json!({"value": v}),
                    ),
                )
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "org": org, "template": "songnuan", "campaign": "c", "as_of": "2026-06-30", "version": version,
            "threshold": 3, "cells": cells, "failed_rules": [],
        }))
        .unwrap()
    }

    #[test]
    fn a_childs_own_failed_rules_become_table_rule_findings_naming_the_cells() {
        let t = songnuan();
        let mut r = report("H01", 1, &[("1A", Some(5)), ("2A", Some(10))]);
        let outcome = bangfu_shared::rules::evaluate(&t, |i| {
            r.cells.get(&t.cells[i].code).and_then(|c| c.value())
        });
        r.failed_rules = outcome.failed;
        let found = table_rules(&r, Some(&org("H")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].rule.as_str(), found[0].org.as_str()),
            (TABLE_RULE, "H01")
        );
        assert_eq!(found[0].cells, ["2A", "1A"]);
        assert_eq!(found[0].via, Some(org("H")));
        // Already reported by the child: not found a second time by the re-run.
        assert!(relations(&t, &r, None).is_empty());
    }

    #[test]
    fn a_rule_the_child_did_not_report_is_found_by_re_running_it() {
        let t = songnuan();
        let r = report(
            "H01",
            1,
            &[
                ("1A", Some(5)),
                ("2A", Some(10)),
                ("3A", Some(40)),
                ("3B", Some(12)),
            ],
        );
        let found = relations(&t, &r, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, RELATION);
        assert_eq!(found[0].cells, ["2A", "1A"]);
        assert!(
            found[0].detail.contains("2A = 10") && found[0].detail.contains("1A = 5"),
            "{}",
            found[0].detail
        );
    }

    #[test]
    fn a_withheld_part_breaks_a_rule_only_when_no_value_in_its_range_fits() {
        let t = songnuan();
        // 3B withheld: its audit range is [0, 3A]; 3(B) ≤ 3(A) can hold, so nothing is found.
        let r = report(
            "H01",
            1,
            &[
                ("3A", Some(40)),
                ("3B", None),
                ("3C", Some(10)),
                ("3D", Some(10)),
                ("3E", Some(10)),
            ],
        );
        assert!(relations(&t, &r, None).is_empty());
        // A hub's range whose lower end is already above the whole does break it.
        let mut hub = report("H", 1, &[("3A", Some(40))]);
        hub.cells.insert(
            "3B".into(),
            bangfu_shared::report::Cell::bounds(Decimal::integer(41), Decimal::integer(50))
                .unwrap(),
        );
        let found = relations(&t, &hub, None);
        assert_eq!(
            found.iter().map(|f| f.cells.clone()).collect::<Vec<_>>(),
            [vec!["3B".to_string(), "3A".to_string()]],
            "{found:?}"
        );
    }

    #[test]
    fn a_hub_whose_total_is_not_its_childrens_sum_is_flagged_with_both_figures() {
        let t = songnuan();
        let a = report("H01", 1, &[("3A", Some(40)), ("3B", Some(10))]);
        let b = report("H02", 2, &[("3A", Some(30)), ("3B", Some(5))]);
        let honest = report("H", 1, &[("3A", Some(70)), ("3B", Some(15))]);
        assert_eq!(hub_sum(&t, &honest, &[&a, &b]), None);
        let tampered = report("H", 2, &[("3A", Some(71)), ("3B", Some(15))]);
        let found = hub_sum(&t, &tampered, &[&a, &b]).unwrap();
        assert_eq!((found.org.as_str(), found.rule.as_str()), ("H", HUB_SUM));
        assert_eq!(found.cells, ["3A"]);
        assert!(
            found.detail.contains("reported 71") && found.detail.contains("sum to 70"),
            "{}",
            found.detail
        );
        // A cell the hub dropped, or invented, differs too.
        let dropped = report("H", 3, &[("3A", Some(70))]);
        assert_eq!(hub_sum(&t, &dropped, &[&a, &b]).unwrap().cells, ["3B"]);
    }

    #[test]
    fn a_hub_range_must_contain_what_its_childrens_ranges_sum_to() {
        let t = songnuan();
        let a = report("H01", 1, &[("3A", Some(40)), ("3B", None)]);
        let b = report("H02", 1, &[("3A", Some(30)), ("3B", Some(5))]);
        // H01's 3B ∈ [0, 40] by its audit (3B ≤ 3A), so the sum is [5, 45].
        let mut hub = report("H", 1, &[("3A", Some(70))]);
        hub.cells.insert(
            "3B".into(),
            bangfu_shared::report::Cell::bounds(Decimal::integer(5), Decimal::integer(45)).unwrap(),
        );
        assert_eq!(hub_sum(&t, &hub, &[&a, &b]), None);
        hub.cells.insert(
            "3B".into(),
            bangfu_shared::report::Cell::bounds(Decimal::integer(6), Decimal::integer(45)).unwrap(),
        );
        assert_eq!(hub_sum(&t, &hub, &[&a, &b]).unwrap().cells, ["3B"]);
    }

    #[test]
    fn a_cell_that_changed_by_more_than_the_factor_is_an_outlier() {
        let t = songnuan();
        let s = Settings::default();
        let before = report(
            "H01",
            1,
            &[
                ("3A", Some(30)),
                ("3B", Some(100)),
                ("3C", Some(5)),
                ("3D", Some(0)),
                ("3E", Some(30)),
            ],
        );
        let now = report(
            "H01",
            1,
            &[
                ("3A", Some(100)),
                ("3B", Some(30)),
                ("3C", Some(14)),
                ("3D", Some(25)),
                ("3E", Some(80)),
            ],
        );
        let found = outliers(&t, &now, &before, "songnuan-2025", &s, None);
        let cells: Vec<&str> = found.iter().map(|f| f.cells[0].as_str()).collect();
        // 30 → 100 and 100 → 30 are over 3×; 0 → 25 is news; 5 → 14 is below the base; 30 → 80 is not 3×.
        assert_eq!(cells, ["3A", "3B", "3D"], "{found:?}");
        assert!(
            found
                .iter()
                .all(|f| f.rule == OUTLIER && f.org.as_str() == "H01")
        );
        assert!(
            found[0].detail.contains("30 in `songnuan-2025`, now 100"),
            "{}",
            found[0].detail
        );
        let lenient = Settings {
            outlier_factor: 4.0,
            outlier_min_base: 20.0,
        };
        assert_eq!(
            outliers(&t, &now, &before, "p", &lenient, None).len(),
            1,
            "only 0 → 25 is over 4×"
        );
    }

    #[test]
    fn a_county_forwarded_by_a_hub_that_is_not_its_parent_is_flagged() {
        let (own, foreign) = (report("H01", 1, &[]), report("J01", 1, &[]));
        let found = wrong_parents(&org("H"), &[&own, &foreign]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (
                found[0].org.as_str(),
                found[0].rule.as_str(),
                found[0].via.clone()
            ),
            ("J01", WRONG_PARENT, Some(org("H")))
        );
    }

    #[test]
    fn a_county_under_two_prefectures_is_flagged_once() {
        let found = two_parents(&[
            (org("H"), vec![org("H01"), org("H02")]),
            (org("J"), vec![org("H01"), org("J01")]),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].org.as_str(), found[0].rule.as_str()),
            ("H01", TWO_PARENTS)
        );
        assert!(found[0].detail.contains("H and J"), "{}", found[0].detail);
    }

    #[test]
    fn a_version_arriving_after_a_newer_one_is_flagged() {
        let v = |vs: [u32; 3]| vs.map(Version::new);
        assert!(older_versions(&org("H01"), &v([1, 2, 3]), None).is_empty());
        let found = older_versions(&org("H01"), &v([1, 3, 2]), None);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, OLDER_VERSION);
        assert!(
            found[0]
                .detail
                .contains("version 2 arrived after version 3"),
            "{}",
            found[0].detail
        );
    }
}
