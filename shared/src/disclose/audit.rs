//! The audit: for every withheld cell, the range an outsider can infer from the published cells
//! and the table's relations, by linear programming.
//!
//! Unknowns are the withheld cells (and typed-in cells not entered yet), all ≥ 0; published cells
//! are constants. For each withheld cell we minimise and maximise it. The LP relaxation ignores
//! that counts are integers: the integer range lies inside the LP range, and the audit's standard
//! practice (the "feasibility interval" of statistical disclosure control) is the LP one. Widths are
//! compared with a small tolerance for float round-off.
//!
//! Each component's LPs run on one warm tableau ([`super::component`]), whose optima are checked
//! points: a range from them can only be narrower than the truth if the simplex erred, never wider,
//! so nothing is published on its mistake. Whatever it does not answer with a checked point (an
//! unbounded maximum, a failure, an infeasible component) is solved by microlp, as before, which
//! also gives the exact error for contradictory published cells.

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use super::component::{Answer, ComponentLp};
use super::simplex::{Op, Row};
use super::{Error, Range};
use crate::template::{Relation, Template};

/// Tolerance for float round-off in LP optima.
pub(crate) const EPS: f64 = 1e-6;

/// The inferable ranges of `targets` given `known[i]` (Some: published value; None: unknown).
pub(crate) fn ranges(
    t: &Template,
    relations: &[Relation],
    known: &[Option<f64>],
    targets: &[usize],
) -> Result<Vec<Range>, Error> {
    ranges_of(
        |c| t.cells[c].code.clone(),
        |c| required_width(t, c),
        relations,
        known,
        targets,
    )
}

/// [`ranges`] over any set of unknowns: `code` names a variable, `required` is the width it needs.
/// The joint audit ([`super::joint`]) uses it over the variables of every report in the ledger.
pub(crate) fn ranges_of(
    code: impl Fn(usize) -> String,
    required: impl Fn(usize) -> f64,
    relations: &[Relation],
    known: &[Option<f64>],
    targets: &[usize],
) -> Result<Vec<Range>, Error> {
    let components = Components::new(relations, known);
    // One warm LP per component, made on its first target (None: the component goes to microlp).
    let mut lps: Vec<(usize, Option<ComponentLp>)> = Vec::new();
    let mut out = Vec::with_capacity(targets.len());
    for &target in targets {
        let root = components.root(target);
        let rels = components.relations(root);
        let (lower, upper) = if rels.is_empty() {
            (0.0, f64::INFINITY)
        } else {
            let at = match lps.iter().position(|(r, _)| *r == root) {
                Some(at) => at,
                None => {
                    lps.push((root, ComponentLp::new(rels.clone(), known)));
                    lps.len() - 1
                }
            };
            let lp = &mut lps[at].1;
            (
                extreme(lp, &rels, known, target, false)?,
                extreme(lp, &rels, known, target, true)?,
            )
        };
        out.push(Range {
            code: code(target),
            lower,
            upper,
            required: required(target),
        });
    }
    Ok(out)
}

/// The least (or greatest) value of `target`: the warm LP's checked optimum, else microlp's.
fn extreme(
    lp: &mut Option<ComponentLp>,
    rels: &[&Relation],
    known: &[Option<f64>],
    target: usize,
    maximise: bool,
) -> Result<f64, Error> {
    if let Some(lp) = lp
        && let Answer::Point(p) = lp.solve(&[target], maximise)
    {
        return Ok(p[lp.var(target)].max(0.0));
    }
    solve(
        rels,
        known,
        target,
        if maximise {
            OptimizationDirection::Maximize
        } else {
            OptimizationDirection::Minimize
        },
    )
}

/// The unknown cells joined into connected components by the relations that mention them (each
/// component is its own small LP), and the relations that say anything about the unknowns.
pub(crate) struct Components<'a> {
    live: Vec<&'a Relation>,
    known: &'a [Option<f64>],
    /// Each cell's component (its union-find root, fully resolved).
    root: Vec<usize>,
}

impl<'a> Components<'a> {
    pub(crate) fn new(relations: &'a [Relation], known: &'a [Option<f64>]) -> Components<'a> {
        // Only relations with an unknown say anything about the unknowns.
        let live: Vec<&Relation> = relations
            .iter()
            .filter(|r| r.terms.iter().any(|&(c, _)| known[c].is_none()))
            .collect();
        let mut parent: Vec<usize> = (0..known.len()).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        for r in &live {
            let mut unknowns = r
                .terms
                .iter()
                .map(|&(c, _)| c)
                .filter(|&c| known[c].is_none());
            if let Some(first) = unknowns.next() {
                for c in unknowns {
                    let (a, b) = (find(&mut parent, first), find(&mut parent, c));
                    parent[a] = b;
                }
            }
        }
        let root = (0..known.len()).map(|c| find(&mut parent, c)).collect();
        Components { live, known, root }
    }

    /// The component of `cell`.
    pub(crate) fn root(&self, cell: usize) -> usize {
        self.root[cell]
    }

    /// The relations over the unknowns of component `root` (empty: nothing bounds its cells).
    pub(crate) fn relations(&self, root: usize) -> Vec<&'a Relation> {
        self.live
            .iter()
            .copied()
            .filter(|r| {
                r.terms
                    .iter()
                    .any(|&(c, _)| self.known[c].is_none() && self.root[c] == root)
            })
            .collect()
    }
}

/// How wide a withheld cell's range must be: k for counts, the money range for money.
pub(crate) fn required_width(t: &Template, cell: usize) -> f64 {
    if t.cells[cell].is_money() {
        t.disclosure.money_range.to_f64()
    } else {
        t.disclosure.threshold as f64
    }
}

/// Relation `r` as LP rows over the unknowns: its published cells moved to the constant side, one
/// equality when its bounds are equal, else up to two inequalities. `var` names each unknown's
/// variable. The one definition of the outsider's constraints, for microlp and the warm simplex.
pub(crate) fn rows<V: Copy>(
    r: &Relation,
    known: &[Option<f64>],
    mut var: impl FnMut(usize) -> V,
) -> Vec<Row<V>> {
    let mut constant = 0.0;
    let mut terms = Vec::with_capacity(r.terms.len());
    for &(c, a) in &r.terms {
        match known[c] {
            Some(v) => constant += a * v,
            None => terms.push((var(c), a)),
        }
    }
    if r.lower == r.upper {
        return vec![(terms, Op::Eq, r.upper - constant)];
    }
    let mut out = Vec::with_capacity(2);
    if r.lower.is_finite() {
        out.push((terms.clone(), Op::Ge, r.lower - constant));
    }
    if r.upper.is_finite() {
        out.push((terms, Op::Le, r.upper - constant));
    }
    out
}

fn solve(
    rels: &[&Relation],
    known: &[Option<f64>],
    target: usize,
    direction: OptimizationDirection,
) -> Result<f64, Error> {
    let mut problem = Problem::new(direction);
    let mut vars: Vec<(usize, microlp::Variable)> = Vec::new();
    let mut var_of = |c: usize, problem: &mut Problem| -> microlp::Variable {
        if let Some(&(_, v)) = vars.iter().find(|(x, _)| *x == c) {
            return v;
        }
        let v = problem.add_var(if c == target { 1.0 } else { 0.0 }, (0.0, f64::INFINITY));
        vars.push((c, v));
        v
    };
    var_of(target, &mut problem);
    for r in rels {
        for (terms, op, rhs) in rows(r, known, |c| var_of(c, &mut problem)) {
            let op = match op {
                Op::Eq => ComparisonOp::Eq,
                Op::Le => ComparisonOp::Le,
                Op::Ge => ComparisonOp::Ge,
            };
            problem.add_constraint(terms.as_slice(), op, rhs);
        }
    }
    match problem.solve() {
        Ok(outcome) => match outcome.solution() {
            Some(s) => Ok(s.objective()),
            None => Err(Error::Solver(
                "the LP solver stopped without an answer".into(),
            )),
        },
        Err(microlp::Error::Unbounded) => Ok(if direction == OptimizationDirection::Maximize {
            f64::INFINITY
        } else {
            0.0
        }),
        Err(microlp::Error::Infeasible) => Err(Error::Inconsistent(
            "the published cells contradict the table's relations / 公布数据与表内关系矛盾".into(),
        )),
        Err(e) => Err(Error::Solver(format!("{e:?}"))),
    }
}

impl Range {
    /// max − min (infinite when the cell has no upper bound).
    pub fn width(&self) -> f64 {
        self.upper - self.lower
    }

    /// Whether the range is at least as wide as the cell needs.
    pub fn is_wide_enough(&self) -> bool {
        self.width() >= self.required - EPS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Period, aggregate};
    use crate::synthetic::{Rng, archive, day};
    use crate::template;
    use crate::vocabulary::Vocabulary;
    use proptest::prelude::*;

    /// The ranges as microlp alone gives them: two fresh LPs per target, as the audit was before
    /// the warm tableau.
    fn microlp_ranges(
        relations: &[Relation],
        known: &[Option<f64>],
        targets: &[usize],
    ) -> Vec<(f64, f64)> {
        let components = Components::new(relations, known);
        targets
            .iter()
            .map(|&target| {
                let rels = components.relations(components.root(target));
                if rels.is_empty() {
                    return (0.0, f64::INFINITY);
                }
                let lower = solve(&rels, known, target, OptimizationDirection::Minimize).unwrap();
                let upper = solve(&rels, known, target, OptimizationDirection::Maximize).unwrap();
                (lower, upper)
            })
            .collect()
    }

    fn same(a: f64, b: f64) -> bool {
        a == b || (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
    }

    /// Random archives, and random withheld cells (many more than `protect` would withhold, so
    /// components are large, some cells unbounded): every range equals microlp's.
    fn agree(id: &str, seed: u64, n: usize, percent: u64) -> Result<(), TestCaseError> {
        let v = Vocabulary::builtin();
        let t = template::builtin(id, &v).unwrap();
        let (hs, aid) = archive(seed, n, &v);
        let period = if id == "dangan" {
            Period::on(day(2014, 12, 31))
        } else {
            Period::campaign(day(2014, 1, 1), day(2014, 12, 31))
        };
        let values = aggregate(&t, &hs, &aid, &period);
        let mut rng = Rng(seed ^ 0xa0d17);
        let known: Vec<Option<f64>> = (0..t.cells.len())
            .map(|i| {
                values
                    .value(i)
                    .map(|v| v.to_f64())
                    .filter(|_| rng.below(100) >= percent)
            })
            .collect();
        let targets: Vec<usize> = (0..t.cells.len())
            .filter(|&i| known[i].is_none() && values.value(i).is_some())
            .collect();
        let relations: Vec<Relation> = t.all_relations().collect();
        let ours = ranges(&t, &relations, &known, &targets).unwrap();
        let theirs = microlp_ranges(&relations, &known, &targets);
        for (r, (lower, upper)) in ours.iter().zip(theirs) {
            prop_assert!(
                same(r.lower, lower) && same(r.upper, upper),
                "{} {}: ours [{}, {}], microlp [{}, {}]",
                id,
                r.code,
                r.lower,
                r.upper,
                lower,
                upper
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn the_warm_ranges_equal_microlps_on_dangan(seed in any::<u64>(), n in 10usize..600, percent in 5u64..70) {
            agree("dangan", seed, n, percent)?;
        }

        #[test]
        fn the_warm_ranges_equal_microlps_on_songnuan(seed in any::<u64>(), n in 10usize..600, percent in 5u64..70) {
            agree("songnuan", seed, n, percent)?;
        }
    }
}
