//! A fast pass/fail form of the audit, for a hub that only needs to know whether a report may be
//! stored, not the ranges themselves.
//!
//! The exact audit ([`super::audit`]) solves two LPs (minimum and maximum) for every withheld cell.
//! But "the range of cell t is at least w wide" only needs two feasible points of the outsider's
//! model whose t-coordinates are w apart, and every LP solution is such a point for *all* cells of
//! its component at once. So we keep, per withheld cell, the lowest and highest value seen in any
//! point found so far, and solve an LP only for cells those points do not yet prove wide enough:
//! first one point low in every withheld cell, then points high in all cells not yet proven (while
//! each proves more), then for what is left the cell's own maximum, then its own minimum. A cell
//! still narrow after its own two LPs has its exact range, so it is refused exactly when the exact
//! audit refuses it; anything unusual (an infeasible or failed LP) answers "not proven", and the
//! caller runs the exact audit for the exact error.
//!
//! Measured (`bench/audit.sh`): the benchmark's `dangan` reports have about 23 withheld cells in
//! 3 to 4 components; the exact audit solves about 45 LPs per report, this about 20, of which about
//! 12 are single-cell LPs for cells whose range is close to the required width (secondary
//! suppression stops as soon as a range is wide enough, so many are exactly that wide) and which
//! therefore need their exact extremes.
//!
//! Sound by construction: a cell passes only on two points that satisfy every relation (up to the
//! solver's tolerance), so its true range is at least as wide as the points show.

use microlp::{OptimizationDirection, Problem, Variable};

use super::audit::{Components, EPS, constrain, required_width};
use crate::template::{Relation, Template};

/// Whether every cell in `targets` is proven to range at least its required width, given `known`
/// (published values; None for unknowns). `false` means "not proven here", never "exposed".
pub(crate) fn wide_enough(t: &Template, relations: &[Relation], known: &[Option<f64>], targets: &[usize]) -> bool {
    let components = Components::new(relations, known);
    // Targets grouped by component, each component checked on its own (small) LP.
    let mut roots: Vec<usize> = targets.iter().map(|&c| components.root(c)).collect();
    roots.sort_unstable();
    roots.dedup();
    roots.into_iter().all(|root| {
        let members: Vec<usize> = targets.iter().copied().filter(|&c| components.root(c) == root).collect();
        let rels = components.relations(root);
        // No relation: nothing bounds these cells, [0, ∞) as in the exact audit.
        rels.is_empty() || Component::new(&rels, known).proves(t, &members)
    })
}

/// One component's LP: its unknown cells as variables and its relations as constraints.
struct Component<'a> {
    rels: &'a [&'a Relation],
    known: &'a [Option<f64>],
    /// The unknown cells, in the order of their variables.
    cells: Vec<usize>,
}

/// An LP's answer: a point (one value per variable), or no finite optimum.
enum Answer {
    Point(Vec<f64>),
    Unbounded,
    Failed,
}

impl<'a> Component<'a> {
    fn new(rels: &'a [&'a Relation], known: &'a [Option<f64>]) -> Component<'a> {
        let mut cells: Vec<usize> = rels.iter().flat_map(|r| r.terms.iter().map(|&(c, _)| c)).filter(|&c| known[c].is_none()).collect();
        cells.sort_unstable();
        cells.dedup();
        Component { rels, known, cells }
    }

    fn var(&self, cell: usize) -> usize {
        self.cells.binary_search(&cell).expect("a member of the component")
    }

    /// Optimises `Σ objective` (cells weighted 1) in `direction`; the same constraints as the exact audit.
    fn solve(&self, objective: &[usize], direction: OptimizationDirection) -> Answer {
        let mut problem = Problem::new(direction);
        let vars: Vec<Variable> =
            self.cells.iter().map(|c| problem.add_var(if objective.contains(c) { 1.0 } else { 0.0 }, (0.0, f64::INFINITY))).collect();
        for r in self.rels {
            constrain(&mut problem, r, self.known, |c, _| vars[self.var(c)]);
        }
        match problem.solve() {
            Ok(outcome) => match outcome.solution() {
                Some(s) => Answer::Point(vars.iter().map(|&v| s.var_value(v)).collect()),
                None => Answer::Failed,
            },
            Err(microlp::Error::Unbounded) => Answer::Unbounded,
            Err(_) => Answer::Failed,
        }
    }

    /// Whether every cell of `members` is proven wide enough.
    fn proves(&self, t: &Template, members: &[usize]) -> bool {
        // Per member: lowest and highest value seen in a feasible point, and whether it is done.
        let mut low = vec![f64::INFINITY; members.len()];
        let mut high = vec![f64::NEG_INFINITY; members.len()];
        let required: Vec<f64> = members.iter().map(|&c| required_width(t, c)).collect();
        let wide = |low: &[f64], high: &[f64], i: usize| high[i] - low[i] >= required[i] - EPS;
        let record = |p: &[f64], low: &mut [f64], high: &mut [f64]| {
            for (i, &c) in members.iter().enumerate() {
                let v = p[self.var(c)];
                low[i] = low[i].min(v);
                high[i] = high[i].max(v);
            }
        };
        // One point with every withheld cell as low as it can be together.
        match self.solve(members, OptimizationDirection::Minimize) {
            Answer::Point(p) => record(&p, &mut low, &mut high),
            Answer::Unbounded | Answer::Failed => return false,
        }
        // Then points as high as the cells not yet proven can be together, while that proves more.
        loop {
            let open: Vec<usize> = (0..members.len()).filter(|&i| !wide(&low, &high, i)).map(|i| members[i]).collect();
            if open.is_empty() {
                return true;
            }
            match self.solve(&open, OptimizationDirection::Maximize) {
                Answer::Point(p) => record(&p, &mut low, &mut high),
                Answer::Unbounded => break,
                Answer::Failed => return false,
            }
            if (0..members.len()).filter(|&i| !wide(&low, &high, i)).count() == open.len() {
                break;
            }
        }
        // What is left, one cell at a time: its own maximum, then its own minimum.
        for i in 0..members.len() {
            if wide(&low, &high, i) {
                continue;
            }
            match self.solve(&members[i..=i], OptimizationDirection::Maximize) {
                Answer::Point(p) => record(&p, &mut low, &mut high),
                Answer::Unbounded => {
                    high[i] = f64::INFINITY;
                    continue;
                }
                Answer::Failed => return false,
            }
            if wide(&low, &high, i) {
                continue;
            }
            match self.solve(&members[i..=i], OptimizationDirection::Minimize) {
                Answer::Point(p) => record(&p, &mut low, &mut high),
                Answer::Unbounded | Answer::Failed => return false,
            }
            if !wide(&low, &high, i) {
                return false;
            }
        }
        true
    }
}
