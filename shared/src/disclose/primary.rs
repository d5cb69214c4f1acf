//! Primary suppression: the cells that identify people by themselves.
//!
//! DESIGN.md (Privacy): a sensitive count from 1 to k−1 is withheld; so is a count of aid records
//! (人次) drawn from 1 to k−1 households, and a money sum drawn from fewer than k households.
//! Zeros and typed-in figures are published as they are.

use crate::aggregate::Aggregates;
use crate::template::{Counted, Source, Template};

/// `withheld[i]` for every cell of `t`.
pub(crate) fn primary(t: &Template, values: &Aggregates) -> Vec<bool> {
    let k = t.disclosure.threshold as i64;
    t.cells
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let Some(m) = values.measure(i) else {
                return false;
            };
            if !cell.sensitive || m.value.is_zero() {
                return false;
            }
            let households = m.households.map_or(i64::MAX, i64::from);
            match &cell.source {
                Source::Typed => false,
                Source::Count {
                    of: Counted::Aid, ..
                } => m.value.units() < k || households < k,
                Source::Count { .. } => m.value.units() < k,
                Source::Sum { .. } => households < k,
            }
        })
        .collect()
}
