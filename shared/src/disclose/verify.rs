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
//! therefore need their exact extremes. They share their constraints, so they run on one warm
//! tableau per component ([`super::component`]): 0.06 ms per report against 1.1 ms with a fresh
//! microlp problem per LP.
//!
//! Sound by construction: a cell passes only on two points that satisfy every relation (each point
//! checked in [`super::component`], whatever the solver said), so its true range is at least as
//! wide as the points show.

use super::audit::{Components, EPS, required_width};
use super::component::{Answer, ComponentLp};
use crate::template::{Relation, Template};

/// Whether every cell in `targets` is proven to range at least its required width, given `known`
/// (published values; None for unknowns). `false` means "not proven here", never "exposed".
pub(crate) fn wide_enough(
    t: &Template,
    relations: &[Relation],
    known: &[Option<f64>],
    targets: &[usize],
) -> bool {
    wide_enough_by(|c| required_width(t, c), relations, known, targets)
}

/// [`wide_enough`] over any set of unknowns, `required` giving each the width it needs (the joint
/// audit's variables, [`super::joint`]).
pub(crate) fn wide_enough_by(
    required: impl Fn(usize) -> f64,
    relations: &[Relation],
    known: &[Option<f64>],
    targets: &[usize],
) -> bool {
    let components = Components::new(relations, known);
    // Targets grouped by component, each component checked on its own (small) LP.
    let mut roots: Vec<usize> = targets.iter().map(|&c| components.root(c)).collect();
    roots.sort_unstable();
    roots.dedup();
    roots.into_iter().all(|root| {
        let members: Vec<usize> = targets
            .iter()
            .copied()
            .filter(|&c| components.root(c) == root)
            .collect();
        let rels = components.relations(root);
        // No relation: nothing bounds these cells, [0, ∞) as in the exact audit.
        rels.is_empty()
            || ComponentLp::new(rels, known)
                .is_some_and(|mut lp| proves(&mut lp, &required, &members))
    })
}

/// Whether every cell of `members` (withheld cells of `lp`'s component) is proven wide enough.
fn proves(lp: &mut ComponentLp, required: &impl Fn(usize) -> f64, members: &[usize]) -> bool {
    // Per member: lowest and highest value seen in a feasible point, and whether it is done.
    let mut low = vec![f64::INFINITY; members.len()];
    let mut high = vec![f64::NEG_INFINITY; members.len()];
    let required: Vec<f64> = members.iter().map(|&c| required(c)).collect();
    let wide = |low: &[f64], high: &[f64], i: usize| high[i] - low[i] >= required[i] - EPS;
    let member_vars: Vec<usize> = members.iter().map(|&c| lp.var(c)).collect();
    let record = |p: &[f64], low: &mut [f64], high: &mut [f64]| {
        for (i, &var) in member_vars.iter().enumerate() {
            let v = p[var];
            low[i] = low[i].min(v);
            high[i] = high[i].max(v);
        }
    };
    // One point with every withheld cell as low as it can be together.
    match lp.solve(members, false) {
        Answer::Point(p) => record(&p, &mut low, &mut high),
        Answer::Unbounded | Answer::Failed => return false,
    }
    // Then points as high as the cells not yet proven can be together, while that proves more.
    loop {
        let open: Vec<usize> = (0..members.len())
            .filter(|&i| !wide(&low, &high, i))
            .map(|i| members[i])
            .collect();
        if open.is_empty() {
            return true;
        }
        match lp.solve(&open, true) {
            Answer::Point(p) => record(&p, &mut low, &mut high),
            Answer::Unbounded => break,
            Answer::Failed => return false,
        }
        if (0..members.len())
            .filter(|&i| !wide(&low, &high, i))
            .count()
            == open.len()
        {
            break;
        }
    }
    // What is left, one cell at a time: its own maximum, then its own minimum.
    for i in 0..members.len() {
        if wide(&low, &high, i) {
            continue;
        }
        match lp.solve(&members[i..=i], true) {
            Answer::Point(p) => record(&p, &mut low, &mut high),
            // Not taken on the simplex's word: a checked point far enough along its ray.
            Answer::Unbounded => match lp.beyond(members[i], low[i] + required[i]) {
                Some(p) => {
                    record(&p, &mut low, &mut high);
                    continue;
                }
                None => return false,
            },
            Answer::Failed => return false,
        }
        if wide(&low, &high, i) {
            continue;
        }
        match lp.solve(&members[i..=i], false) {
            Answer::Point(p) => record(&p, &mut low, &mut high),
            Answer::Unbounded | Answer::Failed => return false,
        }
        if !wide(&low, &high, i) {
            return false;
        }
    }
    true
}
