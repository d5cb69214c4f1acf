//! The independent LP attack on a node's publications (issue 11), shared by `shared/tests/joint.rs`
//! and the end-to-end test `tests/tests/it/joint.rs` (each includes it with `#[path]`).
//!
//! It is written apart from the production audit (`disclose::joint`): its own cell identification,
//! its own constraint building, one microlp problem per bound over all unknowns at once (no
//! components, no warm simplex). It plays the recipient of the attacker model: every report,
//! every template's definition and relations, identified cells, and the exact numbers of household
//! records added and removed between any two snapshots. Only the ledger's plain data
//! (`joint::Ledger`: publications and changes) is borrowed from production.

use std::collections::HashMap;

use bangfu_shared::aggregate::Period;
use bangfu_shared::disclose::joint;
use bangfu_shared::template::{Counted, Source, Summed, Template};
use microlp::{ComparisonOp, OptimizationDirection, Problem};

/// A narrowed withheld cell: which, its range, and the width it needed.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug in failure messages
pub struct Narrowed {
    pub what: String,
    pub lower: f64,
    pub upper: f64,
    pub needed: f64,
}

/// The attacker's own name for what a cell counts: the template's source with its filter's
/// dimensions in a fixed order, and the campaign's days when the cell depends on them.
fn what_it_counts(t: &Template, i: usize, p: &Period) -> Option<(String, bool, bool)> {
    let c = &t.cells[i];
    let (head, f, dated) = match &c.source {
        Source::Typed => return None,
        Source::Count { of, filter } => (format!("n {of:?}"), filter, *of != Counted::Households),
        Source::Sum { of, filter } => (format!("s {of:?} {}", c.unit), filter, *of == Summed::Aid),
    };
    let mut dims: Vec<String> = f.dims.iter().map(|(d, s)| format!("{d:?}{s:?}")).collect();
    dims.sort();
    let dated = dated || f.lifted_in_period || f.aid_in_period;
    let mut key = format!(
        "{head} {} {} {dims:?} {} {} {} {:?}",
        f.in_archive, f.lifted_in_period, f.causes_any, f.causes_none, f.aid_in_period, f.aid_kinds
    );
    if dated {
        key += &format!(" {:?} {:?}", p.start, p.end);
    }
    let households = matches!(
        c.source,
        Source::Count {
            of: Counted::Households,
            ..
        }
    ) && f.in_archive
        && !dated;
    let whole = households && f.dims.is_empty() && !f.has_cause_test();
    Some((key, households, whole))
}

/// `lower ≤ Σ a·x ≤ upper` over the attacker's unknowns.
type Row = (Vec<(usize, f64)>, f64, f64);

/// Every withheld cell of every publication whose range the stacked LP narrows below what it needs.
pub fn attack(ledger: &joint::Ledger) -> Vec<Narrowed> {
    // Unknowns: one per (snapshot, what it counts); typed cells one per (report, code).
    let mut var: HashMap<String, usize> = HashMap::new();
    let mut value: Vec<Option<f64>> = Vec::new();
    let mut hidden: Vec<Option<(String, f64)>> = Vec::new();
    let mut counts: Vec<Option<(String, String, bool, bool)>> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    for (n, p) in ledger.publications.iter().enumerate() {
        let t = &p.template;
        let ids: Vec<usize> = (0..t.cells.len())
            .map(|i| {
                let (key, info) = match what_it_counts(t, i, &p.period) {
                    Some((k, h, w)) => (
                        format!("{}|{k}", p.snapshot),
                        Some((p.snapshot.clone(), k, h, w)),
                    ),
                    None => (format!("#{n}|{}", t.cells[i].code), None),
                };
                *var.entry(key).or_insert_with(|| {
                    value.push(None);
                    hidden.push(None);
                    counts.push(info);
                    value.len() - 1
                })
            })
            .collect();
        for (i, c) in t.cells.iter().enumerate() {
            let need = if c.is_money() {
                t.disclosure.money_range.to_f64()
            } else {
                t.disclosure.threshold as f64
            };
            match p.cells.get(&c.code) {
                Some(cell) if cell.is_suppressed() => {
                    hidden[ids[i]] = Some((format!("{} {}", p.label, c.code), need))
                }
                Some(cell) => value[ids[i]] = cell.value().map(|v| v.to_f64()),
                None => {}
            }
        }
        let all: Vec<Option<f64>> = (0..t.cells.len()).map(|i| value[ids[i]]).collect();
        for r in t.all_relations() {
            // A rule a typed-in figure breaks says nothing true.
            if r.terms.iter().all(|&(c, _)| all[c].is_some()) {
                continue;
            }
            rows.push((
                r.terms.iter().map(|&(c, a)| (ids[c], a)).collect(),
                r.lower,
                r.upper,
            ));
        }
    }
    // Between two snapshots a household count moves by at most the records added or removed.
    let mut prior: Vec<(f64, f64)> = vec![(0.0, f64::INFINITY); value.len()];
    for ch in &ledger.changes {
        for (x, cx) in counts.iter().enumerate() {
            let Some((sx, kx, households, whole)) = cx else {
                continue;
            };
            if sx != &ch.to || !households {
                continue;
            }
            let Some(&y) = var.get(&format!("{}|{kx}", ch.from)) else {
                continue;
            };
            let (a, r) = (ch.added as f64, ch.removed as f64);
            let (lo, hi) = if *whole { (a - r, a - r) } else { (-r, a) };
            rows.push((vec![(x, 1.0), (y, -1.0)], lo, hi));
            // What the changes alone say, next to a published value.
            if let Some(v) = value[y] {
                prior[x] = (prior[x].0.max(v + lo), prior[x].1.min(v + hi));
            }
            if let Some(v) = value[x] {
                prior[y] = (prior[y].0.max(v - hi), prior[y].1.min(v - lo));
            }
        }
    }
    let mut out = Vec::new();
    // A class withheld in one report and published in another on the same snapshot is exact.
    for (x, h) in hidden.iter().enumerate() {
        if let (Some((what, need)), Some(v)) = (h, value[x]) {
            let needed = need.min((prior[x].1 - prior[x].0).max(0.0));
            if needed > 1e-6 {
                out.push(Narrowed {
                    what: what.clone(),
                    lower: v,
                    upper: v,
                    needed,
                });
            }
        }
    }
    for (x, h) in hidden.iter().enumerate() {
        let (Some((what, need)), None) = (h, value[x]) else {
            continue;
        };
        let bound = |dir| {
            // Published cells are constants: only the unknowns are variables of the LP.
            let mut lp = Problem::new(dir);
            let mut vs: HashMap<usize, microlp::Variable> = HashMap::new();
            vs.insert(x, lp.add_var(1.0, (0.0, f64::INFINITY)));
            for (terms, lo, hi) in &rows {
                let mut constant = 0.0;
                let mut e = Vec::new();
                for &(v, a) in terms {
                    match value[v] {
                        Some(c) => constant += a * c,
                        None => {
                            let var = *vs
                                .entry(v)
                                .or_insert_with(|| lp.add_var(0.0, (0.0, f64::INFINITY)));
                            e.push((var, a));
                        }
                    }
                }
                if e.is_empty() {
                    continue;
                }
                if lo == hi {
                    lp.add_constraint(e.as_slice(), ComparisonOp::Eq, lo - constant);
                    continue;
                }
                if lo.is_finite() {
                    lp.add_constraint(e.as_slice(), ComparisonOp::Ge, lo - constant);
                }
                if hi.is_finite() {
                    lp.add_constraint(e.as_slice(), ComparisonOp::Le, hi - constant);
                }
            }
            match lp.solve() {
                Ok(s) => s.solution().expect("an answer").objective(),
                Err(microlp::Error::Unbounded) => f64::INFINITY,
                Err(e) => panic!("the attack's LP for {what}: {e:?}"),
            }
        };
        let lower = bound(OptimizationDirection::Minimize);
        let upper = bound(OptimizationDirection::Maximize);
        let needed = need.min((prior[x].1 - prior[x].0).max(0.0));
        if upper - lower < needed - 1e-6 {
            out.push(Narrowed {
                what: what.clone(),
                lower,
                upper,
                needed,
            });
        }
    }
    out
}
