//! Disclosure control: which cells of a report may be published, proven by an audit.
//!
//! DESIGN.md (Privacy): a small non-zero count identifies people, so it is withheld (primary
//! suppression, [`primary`]); further cells are withheld until none of the withheld ones can be
//! worked out from the published cells and the table's relations (secondary suppression,
//! [`secondary`]); and an LP audit ([`audit`]) proves it: every withheld cell's inferable range is
//! at least k wide. The hub runs the same code on what it receives. Zeros and typed-in
//! organisational figures are published as they are.

mod audit;
mod component;
pub mod joint;
mod primary;
mod secondary;
mod simplex;
mod verify;

use std::collections::{BTreeMap, BTreeSet};

use crate::aggregate::Aggregates;
use crate::report::Cell;
use crate::template::{Relation, Template};

/// Why a report cannot be protected or a protected one does not pass the audit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Even with every sensitive non-zero cell of the relations withheld, some withheld cell can
    /// be narrowed below its required width (a typed-in figure pins it): the report is not sent.
    #[error("disclosure audit failed: {} withheld cell(s) can be narrowed too far ({}) / 隐私审核未通过", .ranges.len(), describe(.ranges))]
    Exposed { ranges: Vec<Range> },
    /// The published cells contradict the table's relations, so the audit has no answer.
    #[error("{0}")]
    Inconsistent(String),
    /// The LP solver failed (a numerical problem, not a property of the data).
    #[error("LP solver failed during the disclosure audit: {0}")]
    Solver(String),
}

fn describe(ranges: &[Range]) -> String {
    ranges
        .iter()
        .map(|r| format!("{} ∈ [{:.2}, {:.2}]", r.code, r.lower, r.upper))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an outsider can infer about one withheld cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub code: String,
    /// The least value consistent with the published cells and the relations.
    pub lower: f64,
    /// The greatest such value (infinite when nothing bounds it).
    pub upper: f64,
    /// The width the range must have: k for counts, the template's money range for money.
    pub required: f64,
}

/// A report's cells after disclosure control, with the audit that proves them safe.
#[derive(Debug, Clone)]
pub struct Protected {
    template: String,
    cells: BTreeMap<String, Cell>,
    withheld: BTreeSet<String>,
    primary: usize,
    ranges: Vec<Range>,
    /// Withheld because the value changed by fewer than k households since it was last published
    /// (the joint audit's change policy, [`joint::ChangePolicy`]).
    changed: BTreeSet<String>,
}

impl Protected {
    pub fn template_id(&self) -> &str {
        &self.template
    }

    /// The cells as they go on the wire (typed-in cells not entered yet are absent).
    pub fn cells(&self) -> &BTreeMap<String, Cell> {
        &self.cells
    }

    /// Codes of the withheld cells.
    pub fn withheld(&self) -> &BTreeSet<String> {
        &self.withheld
    }

    /// How many cells primary suppression withheld (the rest of [`Protected::withheld`] is secondary).
    pub fn primary_count(&self) -> usize {
        self.primary
    }

    /// The audited range of every withheld cell (empty from [`joint::protect`] when a quicker proof
    /// showed every range wide enough).
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Codes withheld because of a change since the last published value (a subset of
    /// [`Protected::withheld`]).
    pub fn changed(&self) -> &BTreeSet<String> {
        &self.changed
    }

    pub(crate) fn into_cells(self) -> BTreeMap<String, Cell> {
        self.cells
    }
}

/// The relations that hold on these exact values (a rule a typed-in figure breaks says nothing
/// true, so it is left out of the outsider's model).
fn true_relations(t: &Template, exact: &[Option<f64>]) -> Vec<Relation> {
    t.all_relations()
        .filter(|r| {
            r.terms.iter().any(|&(c, _)| exact[c].is_none())
                || r.holds(|c| exact[c].expect("filled"))
        })
        .collect()
}

/// Primary and secondary suppression of a report's exact values, then the audit.
pub fn protect(t: &Template, values: &Aggregates) -> Result<Protected, Error> {
    assert_eq!(t.id, values.template_id(), "values of another template");
    let exact: Vec<Option<f64>> = (0..t.cells.len())
        .map(|i| values.value(i).map(|v| v.to_f64()))
        .collect();
    let relations = true_relations(t, &exact);
    let mut withheld = primary::primary(t, values);
    let primary = withheld.iter().filter(|&&w| w).count();
    secondary::secondary(t, &relations, &exact, &mut withheld)?;
    // The final audit, over everything at once.
    let known: Vec<Option<f64>> = exact
        .iter()
        .zip(&withheld)
        .map(|(v, &w)| if w { None } else { *v })
        .collect();
    let targets: Vec<usize> = (0..t.cells.len()).filter(|&i| withheld[i]).collect();
    let ranges = audit::ranges(t, &relations, &known, &targets)?;
    let exposed: Vec<Range> = ranges
        .iter()
        .filter(|r| !r.is_wide_enough())
        .cloned()
        .collect();
    if !exposed.is_empty() {
        return Err(Error::Exposed { ranges: exposed });
    }
    let mut cells = BTreeMap::new();
    let mut codes = BTreeSet::new();
    for (i, cell) in t.cells.iter().enumerate() {
        let Some(v) = values.value(i) else { continue };
        if withheld[i] {
            codes.insert(cell.code.clone());
            cells.insert(cell.code.clone(), Cell::suppressed());
        } else {
            cells.insert(cell.code.clone(), Cell::published(v));
        }
    }
    Ok(Protected {
        template: t.id.clone(),
        cells,
        withheld: codes,
        primary,
        ranges,
        changed: BTreeSet::new(),
    })
}

/// The audit of a report's cells as an outsider sees them: the inferable range of every
/// suppressed cell, from the published cells and all of the table's relations. Used by the node
/// before sending, by the hub on receipt, and by the tests.
pub fn audit(t: &Template, cells: &BTreeMap<String, Cell>) -> Result<Vec<Range>, Error> {
    let known: Vec<Option<f64>> = t
        .cells
        .iter()
        .map(|c| cells.get(&c.code).and_then(Cell::value).map(|v| v.to_f64()))
        .collect();
    let targets: Vec<usize> = t
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| cells.get(&c.code).is_some_and(Cell::is_suppressed))
        .map(|(i, _)| i)
        .collect();
    let relations: Vec<Relation> = t.all_relations().collect();
    audit::ranges(t, &relations, &known, &targets)
}

/// The audit's verdict without its ranges: `Ok` exactly when `check(&audit(t, cells)?)` is `Ok`,
/// and otherwise the same error. Proves most reports wide enough with a few LPs instead of two per
/// withheld cell ([`verify`](self::verify) module), and runs the exact audit only when that proof
/// falls short, so what is refused is unchanged. For the hub's intake, which needs no ranges.
pub fn verify(t: &Template, cells: &BTreeMap<String, Cell>) -> Result<(), Error> {
    let known: Vec<Option<f64>> = t
        .cells
        .iter()
        .map(|c| cells.get(&c.code).and_then(Cell::value).map(|v| v.to_f64()))
        .collect();
    let targets: Vec<usize> = t
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| cells.get(&c.code).is_some_and(Cell::is_suppressed))
        .map(|(i, _)| i)
        .collect();
    let relations: Vec<Relation> = t.all_relations().collect();
    if verify::wide_enough(t, &relations, &known, &targets) {
        return Ok(());
    }
    check(&audit::ranges(t, &relations, &known, &targets)?)
}

/// `Ok` when every range is wide enough, else the narrow ones.
pub fn check(ranges: &[Range]) -> Result<(), Error> {
    let exposed: Vec<Range> = ranges
        .iter()
        .filter(|r| !r.is_wide_enough())
        .cloned()
        .collect();
    if exposed.is_empty() {
        Ok(())
    } else {
        Err(Error::Exposed { ranges: exposed })
    }
}
