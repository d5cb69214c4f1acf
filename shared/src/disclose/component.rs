//! One component of the outsider's model (the unknown cells a set of relations ties together) as
//! a warm LP ([`super::simplex`]) whose every answer is checked against the relations before it is
//! used: the fast path of both the exact audit ([`super::audit`]) and the verdict
//! ([`super::verify`]).
//!
//! A checked point is a real point of the outsider's feasible set, so any range built from checked
//! points lies inside the true range: a mistake in the simplex can make a range look narrower
//! (more is withheld, or a report goes to the slow path), never wider than it is.

use super::audit::rows;
use super::simplex::{Lp, Outcome};
use crate::template::Relation;

/// An answer of the component's LP.
pub(crate) enum Answer {
    /// An optimal point (one value per variable, see [`ComponentLp::var`]) that meets every relation.
    Point(Vec<f64>),
    /// The simplex found the objective unbounded (not checked: see [`ComponentLp::beyond`]).
    Unbounded,
    /// No usable answer: the caller takes the slow path.
    Failed,
}

pub(crate) struct ComponentLp<'a> {
    rels: Vec<&'a Relation>,
    known: &'a [Option<f64>],
    /// The unknown cells, in the order of their variables.
    cells: Vec<usize>,
    lp: Lp,
}

impl<'a> ComponentLp<'a> {
    /// The LP of the unknowns in `rels` given the published `known` values, made feasible. `None`
    /// when the simplex finds no point (the caller's slow path then says why exactly).
    pub(crate) fn new(
        rels: Vec<&'a Relation>,
        known: &'a [Option<f64>],
    ) -> Option<ComponentLp<'a>> {
        let mut cells: Vec<usize> = rels
            .iter()
            .flat_map(|r| r.terms.iter().map(|&(c, _)| c))
            .filter(|&c| known[c].is_none())
            .collect();
        cells.sort_unstable();
        cells.dedup();
        let var = |c: usize| cells.binary_search(&c).expect("a member of the component");
        let rows: Vec<_> = rels.iter().flat_map(|r| rows(r, known, var)).collect();
        let lp = Lp::feasible(cells.len(), &rows)?;
        Some(ComponentLp {
            rels,
            known,
            cells,
            lp,
        })
    }

    /// The variable of a cell of this component.
    pub(crate) fn var(&self, cell: usize) -> usize {
        self.cells
            .binary_search(&cell)
            .expect("a member of the component")
    }

    /// Optimises the sum of the `objective` cells, from the last basis.
    pub(crate) fn solve(&mut self, objective: &[usize], maximise: bool) -> Answer {
        let weights: Vec<(usize, f64)> = objective.iter().map(|&c| (self.var(c), 1.0)).collect();
        match self.lp.optimise_vars(&weights, maximise) {
            Outcome::Optimal => {
                let p = self.lp.point();
                if self.satisfies(&p) {
                    Answer::Point(p)
                } else {
                    Answer::Failed
                }
            }
            Outcome::Unbounded => Answer::Unbounded,
            Outcome::Failed => Answer::Failed,
        }
    }

    /// After [`Answer::Unbounded`]: a checked point along the simplex's ray at which `cell` is at
    /// least `at_least`, or `None` when the ray does not give one.
    pub(crate) fn beyond(&self, cell: usize, at_least: f64) -> Option<Vec<f64>> {
        let (from, ray) = (self.lp.point(), self.lp.ray()?);
        let v = self.var(cell);
        // Only the cell's own growth is required here; the check below catches any other term
        // the ray would take negative or past a bound.
        if ray[v] <= 1e-9 {
            return None;
        }
        let step = ((at_least - from[v]) / ray[v]).max(0.0) + 1.0;
        let p: Vec<f64> = from.iter().zip(&ray).map(|(x, d)| x + step * d).collect();
        self.satisfies(&p).then_some(p)
    }

    /// Whether point `p` is non-negative and meets every relation, up to float round-off relative
    /// to the sizes of the terms.
    fn satisfies(&self, p: &[f64]) -> bool {
        let value = |c: usize| self.known[c].unwrap_or_else(|| p[self.var(c)]);
        p.iter().all(|&x| x >= -1e-9)
            && self.rels.iter().all(|r| {
                let (sum, size) = r.terms.iter().fold((0.0, 1.0), |(s, m), &(c, a)| {
                    (s + a * value(c), m + (a * value(c)).abs())
                });
                let tol = 1e-9 * size;
                sum >= r.lower - tol && sum <= r.upper + tol
            })
    }
}
