//! Table rules: the checks a report's cells must pass (the 其中 lines of the seeds' forms), run by
//! the node before a report leaves and by the hub when it arrives.
//!
//! A rule some of whose cells are not filled in yet is not failed but pending (DHIS2's
//! missing-value strategy "skip"), so archive-derived cells can go up before the typed-in figures
//! are ready. (Not to be confused with the node's import validation rules.)

use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;
use crate::template::{Importance, RuleKind, Template};

/// A cell named by a failed rule, with its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCell {
    pub code: String,
    /// `None` on the wire when the cell is withheld by disclosure control.
    pub value: Option<Decimal>,
}

/// A rule the values break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRule {
    /// The rule's message, for a person.
    pub rule: String,
    pub importance: Importance,
    /// The rule's cells, whole last.
    pub cells: Vec<RuleCell>,
    /// The comparison that failed (`3B = 5 > 3A = 4`).
    pub detail: String,
}

/// A rule skipped because some of its cells are not filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRule {
    pub rule: String,
    /// The cells still empty.
    pub missing: Vec<String>,
}

/// What the rules say about one set of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub failed: Vec<FailedRule>,
    pub pending: Vec<PendingRule>,
}

impl Outcome {
    /// The failed rules of high importance: a report with any of them is not sent.
    pub fn blocking(&self) -> impl Iterator<Item = &FailedRule> {
        self.failed
            .iter()
            .filter(|f| f.importance == Importance::High)
    }

    pub fn is_blocked(&self) -> bool {
        self.blocking().next().is_some()
    }
}

/// Runs every rule of `t` over the values `value(cell index)` gives (None: not filled in).
pub fn evaluate(t: &Template, value: impl Fn(usize) -> Option<Decimal>) -> Outcome {
    let mut out = Outcome::default();
    for rule in &t.rules {
        let cells = rule.cells();
        let missing: Vec<String> = cells
            .iter()
            .filter(|&&c| value(c).is_none())
            .map(|&c| t.cells[c].code.clone())
            .collect();
        if !missing.is_empty() {
            out.pending.push(PendingRule {
                rule: rule.message.clone(),
                missing,
            });
            continue;
        }
        let (parts, whole) = cells.split_at(cells.len() - 1);
        let whole_value = value(whole[0]).expect("checked above");
        let sum = parts.iter().fold(Decimal::integer(0), |acc, &p| {
            acc + value(p).expect("checked above")
        });
        let show = |cs: &[usize]| {
            cs.iter()
                .map(|&c| format!("{} = {}", t.cells[c].code, value(c).expect("checked above")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let failed = match &rule.kind {
            RuleKind::PartsWithinWhole { .. } => (sum > whole_value)
                .then(|| format!("{} (sum {sum}) > {}", show(parts), show(whole))),
            RuleKind::PartsSumToWhole { tolerance, .. } => {
                let tol = Decimal::new(tolerance.units() * parts.len() as i64, tolerance.scale());
                let scale = sum.scale().max(whole_value.scale());
                let diff = sum + Decimal::new(-whole_value.rescale(scale).units(), scale);
                let abs = Decimal::new(diff.units().abs(), diff.scale());
                (abs > tol).then(|| {
                    format!(
                        "{} (sum {sum}) ≠ {} (allowed difference {tol})",
                        show(parts),
                        show(whole)
                    )
                })
            }
        };
        if let Some(detail) = failed {
            out.failed.push(FailedRule {
                rule: rule.message.clone(),
                importance: rule.importance,
                cells: cells
                    .iter()
                    .map(|&c| RuleCell {
                        code: t.cells[c].code.clone(),
                        value: value(c),
                    })
                    .collect(),
                detail,
            });
        }
    }
    out
}
