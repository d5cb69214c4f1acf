//! The report a node sends up (CONTRACT.md, "Reports and rollups"): JSON wire types.
//!
//! Privacy is a type here (STYLE.md): a [`Cell`] with a value can only be made by the disclosure
//! step ([`crate::disclose::protect`]) or read off the wire, and [`Report::new`] takes the cells
//! only as [`Protected`], so no code path puts a raw small count on the wire.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;
use crate::disclose::Protected;
use crate::org::OrgCode;
use crate::protocol::{CampaignId, ReviewMark, Version};
use crate::rules::{FailedRule, Outcome, PendingRule};
use crate::template::Template;

/// Why a report is not sent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A high-importance rule fails; the node shows these and sends nothing.
    #[error("the report fails {} high-importance rule(s), so it is not sent / 报表未通过校验，不予上报: {}", .0.len(), .0.iter().map(|f| format!("{} ({})", f.rule, f.detail)).collect::<Vec<_>>().join("; "))]
    Blocked(Vec<FailedRule>),
}

/// One cell of a report on the wire: `{"value": N}`, `{"suppressed": true}`, or (in a rollup)
/// `{"lower": L, "upper": U}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "Wire")]
pub struct Cell(Wire);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
enum Wire {
    Value { value: Decimal },
    Suppressed { suppressed: bool },
    Range { lower: Decimal, upper: Decimal },
}

impl TryFrom<Wire> for Cell {
    type Error = String;
    fn try_from(w: Wire) -> Result<Cell, String> {
        match w {
            Wire::Suppressed { suppressed: false } => Err("`suppressed` is only ever true".into()),
            Wire::Range { lower, upper } if lower > upper => {
                Err(format!("range lower {lower} above upper {upper}"))
            }
            w => Ok(Cell(w)),
        }
    }
}

/// A key of a cell's object, read without copying it.
enum Key {
    Value,
    Suppressed,
    Lower,
    Upper,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`value`, `suppressed`, `lower` or `upper`")
            }
            fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Key, E> {
                Ok(match k {
                    "value" => Key::Value,
                    "suppressed" => Key::Suppressed,
                    "lower" => Key::Lower,
                    "upper" => Key::Upper,
                    // Not named back: a key someone typed may be an ID number or a name, and this
                    // error can reach a log line.
                    _ => {
                        return Err(E::custom(
                            "a cell key other than `value`, `suppressed`, `lower`, `upper`",
                        ));
                    }
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Read by hand rather than as an untagged enum: serde buffers every untagged value into a tree of
/// its own and tries the variants on it in turn, which for the hundreds of cells of a report was a
/// good part of the intake's allocations. The same three shapes, each with exactly its keys.
impl<'de> serde::Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cell, D::Error> {
        use serde::de::{self, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cell;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    r#"a cell: {"value": N}, {"suppressed": true} or {"lower": L, "upper": U}"#,
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
                let (mut value, mut suppressed, mut lower, mut upper) = (None, None, None, None);
                while let Some(key) = map.next_key::<Key>()? {
                    let twice = |k: &'static str| de::Error::duplicate_field(k);
                    match key {
                        Key::Value if value.is_some() => return Err(twice("value")),
                        Key::Value => value = Some(map.next_value::<Decimal>()?),
                        Key::Suppressed if suppressed.is_some() => {
                            return Err(twice("suppressed"));
                        }
                        Key::Suppressed => suppressed = Some(map.next_value::<bool>()?),
                        Key::Lower if lower.is_some() => return Err(twice("lower")),
                        Key::Lower => lower = Some(map.next_value::<Decimal>()?),
                        Key::Upper if upper.is_some() => return Err(twice("upper")),
                        Key::Upper => upper = Some(map.next_value::<Decimal>()?),
                    }
                }
                let wire = match (value, suppressed, lower, upper) {
                    (Some(value), None, None, None) => Wire::Value { value },
                    (None, Some(suppressed), None, None) => Wire::Suppressed { suppressed },
                    (None, None, Some(lower), Some(upper)) => Wire::Range { lower, upper },
                    _ => {
                        return Err(de::Error::custom(
                            r#"a cell is {"value": N}, {"suppressed": true} or {"lower": L, "upper": U}"#,
                        ));
                    }
                };
                Cell::try_from(wire).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

impl From<Cell> for Wire {
    fn from(c: Cell) -> Wire {
        c.0
    }
}

impl Cell {
    /// A published value; only disclosure control decides that a value may be published.
    pub(crate) fn published(value: Decimal) -> Cell {
        Cell(Wire::Value { value })
    }

    /// A hub's rollup of its children's published cells: the sum of values that were each published
    /// already, so it exposes nothing the children did not.
    pub fn rolled_up(value: Decimal) -> Cell {
        Cell(Wire::Value { value })
    }

    /// A hub's rollup cell where some child withheld its value: the range the children's own audits
    /// leave open.
    pub fn bounds(lower: Decimal, upper: Decimal) -> Option<Cell> {
        (lower <= upper).then_some(Cell(Wire::Range { lower, upper }))
    }

    /// A withheld cell.
    pub fn suppressed() -> Cell {
        Cell(Wire::Suppressed { suppressed: true })
    }

    /// The published value, if the cell has one.
    pub fn value(&self) -> Option<Decimal> {
        match self.0 {
            Wire::Value { value } => Some(value),
            _ => None,
        }
    }

    pub fn is_suppressed(&self) -> bool {
        matches!(self.0, Wire::Suppressed { .. })
    }

    /// A rollup's range `[lower, upper]`.
    pub fn range(&self) -> Option<(Decimal, Decimal)> {
        match self.0 {
            Wire::Range { lower, upper } => Some((lower, upper)),
            _ => None,
        }
    }
}

/// A node's report for one template (and campaign).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub org: OrgCode,
    pub template: String,
    pub campaign: Option<CampaignId>,
    pub as_of: NaiveDate,
    pub version: Version,
    /// The k the cells were protected with.
    pub threshold: u32,
    pub cells: BTreeMap<String, Cell>,
    /// Rules the node's exact values break; values of withheld cells are left out.
    pub failed_rules: Vec<FailedRule>,
    /// Rules not checked yet because some of their cells are not filled in.
    #[serde(default)]
    pub pending_rules: Vec<PendingRule>,
    /// In a hub's report to its own parent: the county reports it holds from its children, each
    /// the exact bytes the county signed with its signature, so the parent can verify and re-check
    /// them and drill down. Absent (and so unchanged on the wire) in a node's report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<crate::protocol::Envelope>,
    /// In a hub's report to its own parent: the review this hub gave each embedded child's report
    /// (by org), so the parent sees what was accepted below it. Absent in a node's report.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reviews: BTreeMap<String, ReviewMark>,
    /// In a hub's report to its own parent: the children whose reports it left out because they
    /// could not be forwarded (`protocol::intake`), by org, with why, so the parent shows them as
    /// held back. Absent in a node's report.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held_back: BTreeMap<String, crate::protocol::intake::HeldBack>,
    /// In a node's report: the archive snapshot its cells were counted on and the household
    /// records added and removed since the snapshots of its earlier reports, i.e. what the joint
    /// audit assumes the recipient knows (issue 11), so a hub can run the same joint check over
    /// everything it holds from the node. Absent in a hub's report and in reports made before the
    /// ledger (old reports stay valid; a hub checks nothing jointly without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_on: Option<CountedOn>,
}

/// The most [`SnapshotChange`]s a report carries: a node that reported on more snapshots sends
/// the changes from the latest ones (a hub's check then sees fewer relations, so it can miss a
/// narrowing but never report a false one). Keeps a county report well within its byte budget.
pub const MAX_SNAPSHOT_CHANGES: usize = 100;

/// What a report was counted on, as the joint audit's recipient knows it (issue 11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountedOn {
    /// The node's snapshot id: a SHA-256 (64 hex digits) over the as-of day and every household's
    /// and aid record's coded facts. Two reports with one id count the very same archive.
    pub snapshot: String,
    /// From each snapshot the node reported on before (and not the same): the records added and
    /// removed since. Empty when this snapshot was reported on before (an earlier report carried it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<SnapshotChange>,
}

/// Household records added and removed from snapshot `from` to the report's own (a correction is
/// one of each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotChange {
    pub from: String,
    pub added: u64,
    pub removed: u64,
}

impl Report {
    /// A report from protected cells and the rules' outcome on the exact values.
    pub fn new(
        org: OrgCode,
        template: &Template,
        campaign: Option<CampaignId>,
        as_of: NaiveDate,
        version: Version,
        protected: Protected,
        rules: Outcome,
    ) -> Report {
        assert_eq!(
            template.id,
            protected.template_id(),
            "cells of another template"
        );
        let withheld: BTreeSet<String> = protected.withheld().clone();
        let failed_rules = rules
            .failed
            .into_iter()
            .map(|f| redact(f, &withheld))
            .collect();
        Report {
            org,
            template: template.id.clone(),
            campaign,
            as_of,
            version,
            threshold: template.disclosure.threshold,
            cells: protected.into_cells(),
            failed_rules,
            pending_rules: rules.pending,
            children: vec![],
            reviews: BTreeMap::new(),
            held_back: BTreeMap::new(),
            counted_on: None,
        }
    }

    /// The failed rules of high importance.
    pub fn blocking(&self) -> impl Iterator<Item = &FailedRule> {
        self.failed_rules
            .iter()
            .filter(|f| f.importance == crate::template::Importance::High)
    }

    /// `Ok` when the report may be sent, else why not.
    pub fn ensure_sendable(&self) -> Result<(), Error> {
        let blocking: Vec<FailedRule> = self.blocking().cloned().collect();
        if blocking.is_empty() {
            Ok(())
        } else {
            Err(Error::Blocked(blocking))
        }
    }
}

/// A failed rule as it may travel: withheld cells' values are dropped from it.
fn redact(mut f: FailedRule, withheld: &BTreeSet<String>) -> FailedRule {
    if f.cells.iter().any(|c| withheld.contains(&c.code)) {
        for c in &mut f.cells {
            if withheld.contains(&c.code) {
                c.value = None;
            }
        }
        f.detail = redacted_detail(&f.cells);
    }
    f
}

/// The detail of a failed rule some of whose cells are withheld: the cells with the values that
/// may travel (the strict intake expects exactly this text, so no free text rides in it).
pub(crate) fn redacted_detail(cells: &[crate::rules::RuleCell]) -> String {
    cells
        .iter()
        .map(|c| match c.value {
            Some(v) => format!("{} = {v}", c.code),
            None => format!("{} = (withheld / 已隐藏)", c.code),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Cell, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_cell_reads_back_what_it_writes_in_each_of_its_three_shapes() {
        let cells = [
            Cell::published(Decimal::integer(7)),
            Cell::suppressed(),
            Cell::bounds(Decimal::integer(3), Decimal::integer(9)).unwrap(),
        ];
        for c in cells {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(read(&json).unwrap(), c, "{json}");
            // Read from a parsed tree too, as the strict intake reads reports.
            let tree: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(Cell::deserialize(&tree).unwrap(), c, "{json}");
        }
        assert_eq!(
            read(r#"{"value": 12.5}"#).unwrap().value(),
            Some(Decimal::parse("12.5").unwrap())
        );
    }

    #[test]
    fn a_cell_of_mixed_unknown_or_repeated_keys_is_refused() {
        for bad in [
            r#"{}"#,
            r#"{"value": 1, "suppressed": true}"#,
            r#"{"value": 1, "value": 2}"#,
            r#"{"lower": 1}"#,
            r#"{"lower": 1, "upper": 2, "value": 1}"#,
            r#"{"value": 1, "note": "x"}"#,
            r#"{"suppressed": false}"#,
            r#"{"lower": 9, "upper": 3}"#,
            r#"{"suppressed": "yes"}"#,
            r#"[1]"#,
            r#"7"#,
        ] {
            assert!(read(bad).is_err(), "{bad} was read as a cell");
        }
        // A made-up key is not named back: it may be an ID number (a synthetic one here).
        let e = read(r#"{"value": 1, "110101199003070011": 2}"#).unwrap_err();
        assert!(!e.contains("110101199003070011"), "{e}");
    }
}
