//! Secondary suppression: withhold further cells until no withheld cell can be worked out, or
//! narrowed below its required width, from the published cells and the table's relations.
//!
//! Greedy, as in τ-ARGUS's hypercube-style heuristics: while the audit finds a withheld cell
//! exposed, withhold the smallest published non-zero sensitive cell that shares a relation with it
//! (small cells lose the least information), and re-audit only what can have changed. Withholding
//! a cell only widens every range (the outsider's feasible set grows), so cells once safe stay safe,
//! and the loop ends: each round withholds one more cell, and a cell that no candidate can help
//! ends it with [`Error::Exposed`].

use super::{Error, Range, audit};
use crate::template::{Relation, Template};

/// Extends `withheld` until every withheld cell's range is wide enough.
pub(crate) fn secondary(
    t: &Template,
    relations: &[Relation],
    exact: &[Option<f64>],
    withheld: &mut [bool],
) -> Result<(), Error> {
    let mut known: Vec<Option<f64>> = exact
        .iter()
        .zip(withheld.iter())
        .map(|(v, &w)| if w { None } else { *v })
        .collect();
    // cell -> relations it appears in
    let mut by_cell: Vec<Vec<usize>> = vec![Vec::new(); t.cells.len()];
    for (r, rel) in relations.iter().enumerate() {
        for &(c, _) in &rel.terms {
            by_cell[c].push(r);
        }
    }
    let candidate = |c: usize, known: &[Option<f64>]| {
        let cell = &t.cells[c];
        cell.sensitive && !cell.is_typed() && known[c].is_some_and(|v| v != 0.0)
    };
    let mut check: Vec<usize> = (0..t.cells.len()).filter(|&i| withheld[i]).collect();
    while !check.is_empty() {
        let ranges: Vec<Range> = audit::ranges(t, relations, &known, &check)?;
        let exposed: Vec<usize> = check
            .iter()
            .zip(&ranges)
            .filter(|(_, r)| !r.is_wide_enough())
            .map(|(&c, _)| c)
            .collect();
        if exposed.is_empty() {
            break;
        }
        let mut added: Vec<usize> = Vec::new();
        for &e in &exposed {
            // A cell withheld this round in a relation with e may already cover it: re-audit first.
            if added
                .iter()
                .any(|&a| by_cell[a].iter().any(|r| by_cell[e].contains(r)))
            {
                continue;
            }
            let siblings = |of: usize| {
                by_cell[of]
                    .iter()
                    .flat_map(|&r| relations[r].terms.iter().map(|&(c, _)| c))
            };
            let mut best: Option<(f64, usize)> = None;
            for c in siblings(e) {
                if candidate(c, &known) {
                    let v = known[c].expect("candidate is published");
                    if best.is_none_or(|(bv, bc)| v < bv || (v == bv && c < bc)) {
                        best = Some((v, c));
                    }
                }
            }
            if best.is_none() {
                // Nothing next to e: loosen a relation of any withheld cell next to e's relations.
                for w in siblings(e)
                    .filter(|&w| known[w].is_none())
                    .collect::<Vec<_>>()
                {
                    for c in siblings(w) {
                        if candidate(c, &known) {
                            let v = known[c].expect("candidate is published");
                            if best.is_none_or(|(bv, bc)| v < bv || (v == bv && c < bc)) {
                                best = Some((v, c));
                            }
                        }
                    }
                }
            }
            match best {
                Some((_, c)) => {
                    withheld[c] = true;
                    known[c] = None;
                    added.push(c);
                }
                None if added.is_empty() => {
                    let ranges = audit::ranges(t, relations, &known, &[e])?;
                    return Err(Error::Exposed { ranges });
                }
                None => {}
            }
        }
        check = exposed.into_iter().chain(added).collect();
        check.sort_unstable();
        check.dedup();
    }
    Ok(())
}
