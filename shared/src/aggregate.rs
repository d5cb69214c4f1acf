//! Aggregation: every archive- and aid-derived cell of a template, in one pass over the households
//! and one over the aid records.
//!
//! Filters arrive compiled (dimension slot + value bit mask), so a million households cost a few
//! comparisons each, never a string lookup. The result holds exact values and is deliberately not
//! serialisable: the only way from [`Aggregates`] to the wire is [`crate::disclose::protect`].

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use crate::decimal::{Decimal, div_round};
use crate::facts::{AidFacts, Dim, HouseholdFacts};
use crate::template::{self, Counted, Filter, Source, Summed, Template, money_fen};

/// The days a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The archive is counted as it stood on this day (a campaign's end date).
    pub as_of: NaiveDate,
    /// First day of the campaign; without a campaign, 1 January of the as-of year.
    pub start: Option<NaiveDate>,
    /// Last day of the campaign; without a campaign, the as-of day.
    pub end: Option<NaiveDate>,
}

impl Period {
    /// A campaign from `start` to `end`, counting the archive on `end` (CONTRACT.md).
    pub fn campaign(start: NaiveDate, end: NaiveDate) -> Period {
        Period {
            as_of: end,
            start: Some(start),
            end: Some(end),
        }
    }

    /// No campaign: the archive on `as_of`; period conditions cover the as-of year up to that day.
    pub fn on(as_of: NaiveDate) -> Period {
        Period {
            as_of,
            start: None,
            end: None,
        }
    }

    /// The first and last day (inclusive) that `date = "period"` and `lifted = "period"` accept.
    pub fn bounds(&self) -> (NaiveDate, NaiveDate) {
        let start = self.start.unwrap_or_else(|| {
            NaiveDate::from_ymd_opt(self.as_of.year(), 1, 1).expect("1 January exists")
        });
        (start, self.end.unwrap_or(self.as_of))
    }
}

/// The exact value of one cell, before disclosure control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// In the cell's unit and scale.
    pub value: Decimal,
    /// Households the value is drawn from (for the money rule "fewer than k households");
    /// `None` for typed-in figures.
    pub households: Option<u32>,
}

/// The exact values of a template's cells for one archive and period. Not serialisable on purpose.
#[derive(Debug, Clone)]
pub struct Aggregates {
    template: String,
    measures: Vec<Option<Measure>>,
}

impl Aggregates {
    /// The template these values belong to.
    pub fn template_id(&self) -> &str {
        &self.template
    }

    /// The value of the cell at `index` (None: typed in and not entered yet).
    pub fn measure(&self, index: usize) -> Option<Measure> {
        self.measures.get(index).copied().flatten()
    }

    pub fn value(&self, index: usize) -> Option<Decimal> {
        self.measure(index).map(|m| m.value)
    }

    /// The value of a cell by code.
    pub fn get(&self, t: &Template, code: &str) -> Option<Measure> {
        t.cell_index(code).and_then(|i| self.measure(i))
    }

    /// Records the figures a union typed in. Each must name a typed-in cell of the table, be
    /// non-negative and carry no more decimal places than the cell.
    pub fn enter(
        &mut self,
        t: &Template,
        typed: &BTreeMap<String, Decimal>,
    ) -> Result<(), template::Error> {
        assert_eq!(t.id, self.template, "typed figures for another template");
        for (code, &value) in typed {
            let bad = |problem: &str| template::Error::Typed {
                code: code.clone(),
                problem: problem.to_string(),
            };
            let i = t
                .cell_index(code)
                .ok_or_else(|| bad("the table has no such cell"))?;
            let cell = &t.cells[i];
            if !cell.is_typed() {
                return Err(bad(
                    "this cell is computed from the archive and cannot be typed in",
                ));
            }
            if value.units() < 0 {
                return Err(bad("a figure cannot be negative"));
            }
            if !value.fits_scale(cell.scale) {
                return Err(bad(&format!("at most {} decimal places", cell.scale)));
            }
            self.measures[i] = Some(Measure {
                value: value.rescale(cell.scale),
                households: None,
            });
        }
        Ok(())
    }
}

/// One derived cell, compiled.
struct Job<'t> {
    index: usize,
    filter: &'t Filter,
    sum: Option<Summed>,
    count: Option<Counted>,
    /// fen per unit of the cell's last decimal place (money cells)
    divisor: i64,
}

#[inline]
fn household_passes(f: &Filter, h: &HouseholdFacts, in_archive: bool, lifted: bool) -> bool {
    if (f.in_archive && !in_archive) || (f.lifted_in_period && !lifted) {
        return false;
    }
    for (d, set) in &f.dims {
        if !set.contains(h.dims[d.slot()]) {
            return false;
        }
    }
    if f.has_cause_test() && h.causes & f.causes_any == 0 && !(f.causes_none && h.causes == 0) {
        return false;
    }
    true
}

/// Computes every archive- and aid-derived cell of `t`; typed-in cells are left empty for
/// [`Aggregates::enter`].
pub fn aggregate(
    t: &Template,
    households: &[HouseholdFacts],
    aid: &[AidFacts],
    period: &Period,
) -> Aggregates {
    let (start, end) = period.bounds();
    let mut measures = vec![None; t.cells.len()];
    let mut household_jobs = Vec::new();
    let mut aid_jobs = Vec::new();
    for (index, cell) in t.cells.iter().enumerate() {
        let divisor = money_fen(&cell.unit).map_or(1, |fen| fen / 10i64.pow(cell.scale as u32));
        match &cell.source {
            Source::Typed => {}
            Source::Count {
                of: Counted::Households,
                filter,
            } => household_jobs.push(Job {
                index,
                filter,
                sum: None,
                count: Some(Counted::Households),
                divisor,
            }),
            Source::Sum {
                of: s @ Summed::Household(_),
                filter,
            } => household_jobs.push(Job {
                index,
                filter,
                sum: Some(*s),
                count: None,
                divisor,
            }),
            Source::Count { of, filter } => aid_jobs.push(Job {
                index,
                filter,
                sum: None,
                count: Some(*of),
                divisor,
            }),
            Source::Sum { of, filter } => aid_jobs.push(Job {
                index,
                filter,
                sum: Some(*of),
                count: None,
                divisor,
            }),
        }
    }

    let lifted_in = |h: &HouseholdFacts| {
        h.dim(Dim::Status) == 1 && h.lifted_on.is_some_and(|d| d >= start && d <= end)
    };

    // One pass over the households.
    let mut counts = vec![0i64; household_jobs.len()];
    let mut sums = vec![0i64; household_jobs.len()];
    let mut contributors = vec![0u32; household_jobs.len()];
    let need_flags = !aid_jobs.is_empty();
    let mut flags: Vec<u8> = Vec::with_capacity(if need_flags { households.len() } else { 0 });
    for h in households {
        let in_archive = h.in_archive_on(period.as_of);
        let lifted = lifted_in(h);
        if need_flags {
            flags.push(in_archive as u8 | (lifted as u8) << 1);
        }
        for (j, job) in household_jobs.iter().enumerate() {
            if household_passes(job.filter, h, in_archive, lifted) {
                counts[j] += 1;
                if let Some(Summed::Household(a)) = job.sum {
                    let amount = h.amount(a);
                    sums[j] += amount;
                    contributors[j] += (amount != 0) as u32;
                }
            }
        }
    }
    for (j, job) in household_jobs.iter().enumerate() {
        measures[job.index] = Some(match job.sum {
            None => Measure {
                value: Decimal::integer(counts[j]),
                households: Some(counts[j] as u32),
            },
            Some(_) => Measure {
                value: Decimal::new(div_round(sums[j], job.divisor), t.cells[job.index].scale),
                households: Some(contributors[j]),
            },
        });
    }

    // One pass over the aid records; distinct households are kept as bit sets.
    let words = households.len().div_ceil(64);
    let mut seen = vec![vec![0u64; words]; aid_jobs.len()];
    let mut counts = vec![0i64; aid_jobs.len()];
    let mut sums = vec![0i64; aid_jobs.len()];
    for a in aid.iter().filter(|_| !aid_jobs.is_empty()) {
        let hi = a.household as usize;
        let Some(h) = households.get(hi) else {
            continue;
        };
        let in_period = a.date >= start && a.date <= end;
        let flag = flags[hi];
        for (j, job) in aid_jobs.iter().enumerate() {
            let f = job.filter;
            if (f.aid_in_period && !in_period) || f.aid_kinds.is_some_and(|k| !k.contains(a.kind)) {
                continue;
            }
            if !household_passes(f, h, flag & 1 == 1, flag & 2 == 2) {
                continue;
            }
            counts[j] += 1;
            sums[j] += a.amount_fen;
            if job.sum.is_none() || a.amount_fen != 0 {
                seen[j][hi / 64] |= 1 << (hi % 64);
            }
        }
    }
    for (j, job) in aid_jobs.iter().enumerate() {
        let distinct: u32 = seen[j].iter().map(|w| w.count_ones()).sum();
        let value = match (job.count, job.sum) {
            (Some(Counted::AidHouseholds), _) => Decimal::integer(distinct as i64),
            (Some(_), _) => Decimal::integer(counts[j]),
            (None, _) => Decimal::new(div_round(sums[j], job.divisor), t.cells[job.index].scale),
        };
        measures[job.index] = Some(Measure {
            value,
            households: Some(distinct),
        });
    }

    Aggregates {
        template: t.id.clone(),
        measures,
    }
}
