//! Statistic-table templates as data: the cells of a table, where each comes from, the rules its
//! 其中 ("of which") lines imply, and how small counts are protected.
//!
//! A province writes a template as a TOML file (`docs/templates.md`) and its nodes read it at run
//! time, so a new table needs no new release. The four tables of the seeds are built in
//! ([`builtin`]). A parsed [`Template`] is known good: every filter names a vocabulary value, every
//! rule names cells of the table, and filters are compiled to bit masks for the one-pass aggregation.

mod builtin;
mod file;

use std::collections::HashMap;
use std::path::PathBuf;

use crate::decimal::Decimal;
use crate::facts::{Amount, Dim};

pub use builtin::{BUILTIN_IDS, builtin, builtin_text, load, load_file};

/// The default disclosure threshold k: a non-zero count below it identifies people.
pub const DEFAULT_THRESHOLD: u32 = 3;

/// Seed 004 填表说明 18: a household has at most three 致困主要原因.
pub const MAX_CAUSES: f64 = 3.0;

/// The value code that stands for "the record leaves this field empty" in filters and cell codes.
pub const UNFILLED: &str = "未填";

/// Why a template could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not TOML, or not of the template's shape (an unknown key, a wrong type).
    #[error("{origin}line {line}: {problem}")]
    Malformed {
        origin: String,
        line: usize,
        problem: String,
    },
    /// The file is well-formed but says something impossible: an unknown dimension or value, a
    /// repeated cell code, a rule naming a cell that is not in the table.
    #[error("{origin}line {line}: {problem}")]
    Invalid {
        origin: String,
        line: usize,
        problem: String,
    },
    /// The template file could not be read.
    #[error("cannot read template file {path}: {source} / 无法读取报表模板文件")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No built-in template and no file in the templates directory has this id.
    #[error(
        "no template `{0}` (built in: songnuan, bangfu_center, dajiancha, dangan) / 没有此报表模板"
    )]
    Unknown(String),
    /// A typed-in figure names a cell the table does not have, or one that is computed, or has
    /// more decimal places than the cell carries.
    #[error("typed-in cell `{code}`: {problem} / 填报数据有误")]
    Typed { code: String, problem: String },
}

/// A statistic table.
#[derive(Debug, Clone)]
pub struct Template {
    /// The id campaigns name (`songnuan`).
    pub id: String,
    /// The table's title, as printed on the seed's form.
    pub title: String,
    /// The form's 说明 / 填表说明, one entry a line, printed with the official table.
    pub notes: Vec<String>,
    pub disclosure: Disclosure,
    /// The largest figures a report may carry (`[limits]`), checked at every hub's intake.
    pub limits: Limits,
    /// The cells, in the order of the form.
    pub cells: Vec<Cell>,
    /// The checks a report must pass (from the form's 其中 lines).
    pub rules: Vec<Rule>,
    /// Identities that hold by construction (a generated dimension sums to its total, cross cells
    /// sum to their margins). Not checked on reports; known to an outsider, so used by the audit.
    pub relations: Vec<Relation>,
    /// Code → position: a hash map, as the intake looks up every cell of every report here.
    index: HashMap<String, usize>,
}

impl Template {
    /// The position of a cell by code.
    pub fn cell_index(&self, code: &str) -> Option<usize> {
        self.index.get(code).copied()
    }

    pub fn cell(&self, code: &str) -> Option<&Cell> {
        self.cell_index(code).map(|i| &self.cells[i])
    }

    /// Every relation an outsider may assume: the structural ones and one per rule.
    pub fn all_relations(&self) -> impl Iterator<Item = Relation> + '_ {
        self.relations
            .iter()
            .cloned()
            .chain(self.rules.iter().map(|r| r.relation(self)))
    }
}

/// Disclosure settings of a table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disclosure {
    /// k: a sensitive count from 1 to k−1 is withheld, a money sum from fewer than k households
    /// is withheld, and every withheld count must stay uncertain over a range at least k wide.
    pub threshold: u32,
    /// How wide (in the cell's unit, 万元) the inferable range of a withheld money cell must be.
    /// Default 0.1 万元 = 1,000 元, above seed 003's per-household standards (600 and 900 元).
    pub money_range: Decimal,
}

impl Default for Disclosure {
    fn default() -> Disclosure {
        Disclosure {
            threshold: DEFAULT_THRESHOLD,
            money_range: Decimal::new(1, 1),
        }
    }
}

/// `[limits]` of a template: a count is a whole number from 0 below `count_max`, money a decimal
/// from 0 below `money_max` (in the cell's unit). A hub's rollup cell may reach the bound times the
/// number of reports it sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub count_max: i64,
    pub money_max: Decimal,
}

/// The default bound of a count and of a money cell (in its unit): ten million.
pub const DEFAULT_LIMIT: i64 = 10_000_000;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            count_max: DEFAULT_LIMIT,
            money_max: Decimal::integer(DEFAULT_LIMIT),
        }
    }
}

/// One cell of a table.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The seed's code (`3A`) or, in generated cells, `dimension.value`.
    pub code: String,
    /// The seed's label, in Chinese.
    pub label: String,
    /// The unit printed on the form (户, 人次, 万元 …).
    pub unit: String,
    /// Decimal places the value carries (0 for counts, 2 for 万元 unless the file says otherwise).
    pub scale: u8,
    pub source: Source,
    /// Whether small values of this cell identify people (archive- and aid-derived cells).
    pub sensitive: bool,
    /// The heading of the form's section this cell opens (`4. 走访慰问`), if it opens one.
    pub section: Option<String>,
    /// How far the official table indents the line: 1 for a 其中 ("of which") line, 0 otherwise.
    pub indent: u8,
}

impl Cell {
    pub fn is_money(&self) -> bool {
        money_fen(&self.unit).is_some()
    }

    pub fn is_typed(&self) -> bool {
        matches!(self.source, Source::Typed)
    }
}

/// Fen per one of a money unit, or `None` for a counting unit.
pub fn money_fen(unit: &str) -> Option<i64> {
    match unit {
        "万元" => Some(1_000_000),
        "元" => Some(100),
        _ => None,
    }
}

/// Where a cell's value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A number of records (or distinct households) that pass the filter.
    Count { of: Counted, filter: Filter },
    /// A money sum over the records that pass the filter, converted from fen to the cell's unit.
    Sum { of: Summed, filter: Filter },
    /// Typed in by the union (organisational figures).
    Typed,
}

/// What a count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Households of the archive (户).
    Households,
    /// Aid records (人次).
    Aid,
    /// Distinct households with at least one passing aid record (户 visited, seed 001 附件1 4(D)).
    AidHouseholds,
}

/// What a sum adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summed {
    /// A money field of the household.
    Household(Amount),
    /// The amounts of aid records.
    Aid,
}

/// A set of vocabulary indices (0..=255; [`crate::facts::UNKNOWN`] is "未填").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValueSet([u64; 4]);

impl ValueSet {
    pub fn insert(&mut self, v: u8) {
        self.0[(v >> 6) as usize] |= 1 << (v & 63);
    }

    #[inline]
    pub fn contains(&self, v: u8) -> bool {
        self.0[(v >> 6) as usize] >> (v & 63) & 1 == 1
    }

    pub fn complement(self) -> ValueSet {
        ValueSet(self.0.map(|w| !w))
    }
}

/// A conjunction of conditions on a household (and, for aid sources, on the aid record).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// In the archive on the as-of day (CONTRACT.md, [`crate::facts::HouseholdFacts::in_archive_on`]).
    pub in_archive: bool,
    /// 已脱困 with 脱困日期 within the period (seed 001 附件1 3(F)).
    pub lifted_in_period: bool,
    /// `dim ∈ set` for each entry.
    pub dims: Vec<(Dim, ValueSet)>,
    /// The household has at least one of these causes (bit i = cause i) …
    pub causes_any: u16,
    /// … or, when set, has none recorded ("未填"). No cause condition when both are empty/false.
    pub causes_none: bool,
    /// Aid only: the aid's date is within the period.
    pub aid_in_period: bool,
    /// Aid only: the aid's kind is in this set.
    pub aid_kinds: Option<ValueSet>,
}

impl Filter {
    pub fn has_cause_test(&self) -> bool {
        self.causes_any != 0 || self.causes_none
    }
}

/// How important a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Importance {
    /// A report that fails it is not sent.
    High,
    /// Reported as a finding; the report still goes.
    Low,
}

/// What a rule checks.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// Σ parts ≤ whole (one 其中 part, or several parts that need not exhaust the whole).
    PartsWithinWhole { parts: Vec<usize>, whole: usize },
    /// Σ parts = whole within `tolerance` per part (the parts exhaust the whole; money rounds).
    PartsSumToWhole {
        parts: Vec<usize>,
        whole: usize,
        tolerance: Decimal,
    },
}

/// A check on a report's cells.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: RuleKind,
    pub importance: Importance,
    /// What a person reads when it fails (`3(B) 困难农民工户数不能超过 3(A)`).
    pub message: String,
}

impl Rule {
    /// The cells the rule reads, whole last.
    pub fn cells(&self) -> Vec<usize> {
        let (parts, whole) = match &self.kind {
            RuleKind::PartsWithinWhole { parts, whole }
            | RuleKind::PartsSumToWhole { parts, whole, .. } => (parts, *whole),
        };
        parts
            .iter()
            .copied()
            .chain(std::iter::once(whole))
            .collect()
    }

    /// The rule as a linear relation, in the cells' units.
    pub fn relation(&self, t: &Template) -> Relation {
        match &self.kind {
            RuleKind::PartsWithinWhole { parts, whole } => Relation {
                terms: parts
                    .iter()
                    .map(|&p| (p, 1.0))
                    .chain([(*whole, -1.0)])
                    .collect(),
                lower: f64::NEG_INFINITY,
                upper: 0.0,
            },
            RuleKind::PartsSumToWhole {
                parts,
                whole,
                tolerance,
            } => {
                let tol = tolerance.to_f64() * parts.len() as f64;
                let _ = t;
                Relation {
                    terms: parts
                        .iter()
                        .map(|&p| (p, 1.0))
                        .chain([(*whole, -1.0)])
                        .collect(),
                    lower: -tol,
                    upper: tol,
                }
            }
        }
    }
}

/// `lower ≤ Σ coefficient × cell ≤ upper`, over cells by index.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub terms: Vec<(usize, f64)>,
    pub lower: f64,
    pub upper: f64,
}

impl Relation {
    /// Whether the relation holds for these values (a small tolerance for float sums).
    pub fn holds(&self, value: impl Fn(usize) -> f64) -> bool {
        let s: f64 = self.terms.iter().map(|&(c, a)| a * value(c)).sum();
        s >= self.lower - 1e-7 && s <= self.upper + 1e-7
    }
}
