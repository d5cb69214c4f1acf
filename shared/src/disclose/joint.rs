//! The joint audit: a new report checked together with every report the node sent before.
//!
//! Attacker model (docs/decisions.md, "joint audit"): the recipient holds every report the node ever
//! sent, knows every template's definition and relation, identifies cells of different templates
//! that count the same population on the same archive snapshot (songnuan `3C` = dajiancha `4A` =
//! dangan `category.低保户`), and knows exactly how many household records were added and removed
//! between any two snapshots. Under that model no withheld count may be narrowed below k, or below
//! what the numbers of added and removed records leave open anyway (a cell published last week with
//! 7 and one household added since is in [7, 8] whatever this report does: the audit then asks that
//! nothing narrows it further, i.e. that nobody learns whether the new household is in it).
//!
//! One LP variable per (snapshot, [`identity`]) class, so identified cells are one unknown; the
//! relations of every report over those variables; and between two snapshots, for every household
//! count of the archive, `−removed ≤ x_t − x_s ≤ added` (`= added − removed` for the whole archive).
//! The ranges come from the same LP machinery as the single-report audit ([`super::audit`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::audit as lp;
use super::{Error, Protected, Range, primary, secondary, true_relations, verify};
use crate::aggregate::{Aggregates, Period};
use crate::report::Cell;
use crate::template::{Counted, Relation, Source, Template};

/// A report the node sent, as the ledger holds it.
#[derive(Debug, Clone)]
pub struct Publication {
    /// Names the report in ranges and errors (`sn v2`).
    pub label: String,
    pub template: Template,
    /// The archive snapshot it was counted on (the node's hash of the archive's facts and day).
    pub snapshot: String,
    pub period: Period,
    /// The cells exactly as sent.
    pub cells: BTreeMap<String, Cell>,
}

/// How many household records were added and removed between two snapshots (a correction is one
/// of each). Known to the recipient by assumption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub from: String,
    pub to: String,
    pub added: u64,
    pub removed: u64,
}

/// Everything sent before, and the changes between the snapshots it was counted on.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub publications: Vec<Publication>,
    pub changes: Vec<Change>,
}

/// What to do with a cell whose value changed since it was last published (node setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangePolicy {
    /// Publish a changed count only once the change reaches k households (the safe default).
    #[default]
    WithholdSmallChanges,
    /// Publish changes as they are (each report is still audited jointly).
    Publish,
}

/// The report about to be sent.
pub struct Draft<'a> {
    pub label: String,
    pub template: &'a Template,
    pub values: &'a Aggregates,
    pub snapshot: String,
    pub period: Period,
}

/// How a class's value can move between two snapshots, as the recipient can bound it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drift {
    /// The whole archive: moves by exactly added − removed.
    Exact,
    /// A household count of the archive: moves by at most the records added or removed.
    Bounded,
    /// Aid records, money, period counts: not bounded by the household changes.
    Free,
}

/// What a cell counts, independent of the template it is in: two cells with the same identity
/// count the same population on the same snapshot, so they are one number. `None` for typed-in
/// figures (organisational, not from the archive).
pub fn identity(t: &Template, cell: usize, period: &Period) -> Option<String> {
    identity_drift(t, cell, period).map(|(id, _)| id)
}

fn identity_drift(t: &Template, cell: usize, period: &Period) -> Option<(String, Drift)> {
    let c = &t.cells[cell];
    let (what, filter, aid) = match &c.source {
        Source::Typed => return None,
        Source::Count { of, filter } => {
            (format!("count:{of:?}"), filter, *of != Counted::Households)
        }
        Source::Sum { of, filter } => (
            format!("sum:{of:?}:{}", c.unit),
            filter,
            matches!(of, crate::template::Summed::Aid),
        ),
    };
    let mut dims = filter.dims.clone();
    dims.sort_by_key(|(d, _)| *d);
    let in_period = aid || filter.lifted_in_period || filter.aid_in_period;
    let mut id = format!(
        "{what}|archive={}|lifted={}|dims={dims:?}|causes={}/{}|aid_period={}|kinds={:?}",
        filter.in_archive,
        filter.lifted_in_period,
        filter.causes_any,
        filter.causes_none,
        filter.aid_in_period,
        filter.aid_kinds
    );
    if in_period {
        id.push_str(&format!("|period={:?}..{:?}", period.start, period.end));
    }
    let household_count = matches!(
        c.source,
        Source::Count {
            of: Counted::Households,
            ..
        }
    );
    let drift = if !household_count || in_period || !filter.in_archive {
        Drift::Free
    } else if dims.is_empty() && !filter.has_cause_test() {
        Drift::Exact
    } else {
        Drift::Bounded
    };
    Some((id, drift))
}

/// The stacked LP of all reports: one variable per class.
struct Space {
    code: Vec<String>,
    /// k for counts, the money range for money.
    base: Vec<f64>,
    /// Published values (from any report).
    known: Vec<Option<f64>>,
    /// Withheld in some report.
    withheld: Vec<bool>,
    relations: Vec<Relation>,
    seen: HashSet<String>,
    classes: HashMap<(String, String), usize>,
    drift: Vec<Drift>,
    /// identity → (snapshot, variable), for the change relations.
    by_identity: HashMap<String, Vec<(String, usize)>>,
}

impl Space {
    fn new() -> Space {
        Space {
            code: Vec::new(),
            base: Vec::new(),
            known: Vec::new(),
            withheld: Vec::new(),
            relations: Vec::new(),
            seen: HashSet::new(),
            classes: HashMap::new(),
            drift: Vec::new(),
            by_identity: HashMap::new(),
        }
    }

    fn push(&mut self, code: String, base: f64, drift: Drift) -> usize {
        self.code.push(code);
        self.base.push(base);
        self.known.push(None);
        self.withheld.push(false);
        self.drift.push(drift);
        self.code.len() - 1
    }

    /// The variables of `t`'s cells in a report labelled `label` on `snapshot`.
    fn vars(&mut self, label: &str, t: &Template, snapshot: &str, period: &Period) -> Vec<usize> {
        (0..t.cells.len())
            .map(|i| {
                let code = format!("{label} {}", t.cells[i].code);
                let base = lp::required_width(t, i);
                match identity_drift(t, i, period) {
                    None => self.push(code, base, Drift::Free),
                    Some((id, drift)) => {
                        let key = (snapshot.to_string(), id.clone());
                        if let Some(&v) = self.classes.get(&key) {
                            return v;
                        }
                        let v = self.push(code, base, drift);
                        self.classes.insert(key, v);
                        self.by_identity
                            .entry(id)
                            .or_default()
                            .push((snapshot.to_string(), v));
                        v
                    }
                }
            })
            .collect()
    }

    /// Adds a relation over cells, mapped to variables (once: the same table on the same snapshot
    /// gives the same relations again).
    fn relate(&mut self, r: &Relation, vars: &[usize]) {
        let mut terms: BTreeMap<usize, f64> = BTreeMap::new();
        for &(c, a) in &r.terms {
            *terms.entry(vars[c]).or_default() += a;
        }
        let terms: Vec<(usize, f64)> = terms.into_iter().filter(|&(_, a)| a != 0.0).collect();
        if terms.is_empty() {
            return;
        }
        let key = format!("{terms:?}|{}|{}", r.lower, r.upper);
        if self.seen.insert(key) {
            self.relations.push(Relation {
                terms,
                lower: r.lower,
                upper: r.upper,
            });
        }
    }

    /// Adds a publication's cells and relations.
    fn publish(&mut self, p: &Publication) {
        let vars = self.vars(&p.label, &p.template, &p.snapshot, &p.period);
        let exact: Vec<Option<f64>> = p
            .template
            .cells
            .iter()
            .map(|c| {
                p.cells
                    .get(&c.code)
                    .and_then(Cell::value)
                    .map(|v| v.to_f64())
            })
            .collect();
        for (i, c) in p.template.cells.iter().enumerate() {
            match p.cells.get(&c.code) {
                Some(cell) if cell.is_suppressed() => self.withheld[vars[i]] = true,
                Some(_) => {
                    if let Some(v) = exact[i] {
                        self.known[vars[i]] = Some(v);
                    }
                }
                None => {}
            }
        }
        for r in true_relations(&p.template, &exact) {
            self.relate(&r, &vars);
        }
    }

    /// The relations the numbers of added and removed records imply.
    fn changes(&mut self, changes: &[Change]) {
        let mut rels = Vec::new();
        for ch in changes {
            for members in self.by_identity.values() {
                let at = |s: &str| members.iter().find(|(snap, _)| snap == s).map(|&(_, v)| v);
                let (Some(from), Some(to)) = (at(&ch.from), at(&ch.to)) else {
                    continue;
                };
                let (added, removed) = (ch.added as f64, ch.removed as f64);
                let (lower, upper) = match self.drift[to] {
                    Drift::Free => continue,
                    Drift::Exact => (added - removed, added - removed),
                    Drift::Bounded => (-removed, added),
                };
                rels.push(Relation {
                    terms: vec![(to, 1.0), (from, -1.0)],
                    lower,
                    upper,
                });
            }
        }
        self.relations.extend(rels);
    }

    /// The width a withheld variable needs: k (or the money range), or less when the numbers of
    /// added and removed records alone already pin it closer to a published value.
    fn required(&self, var: usize) -> f64 {
        let (mut lo, mut hi) = (0.0f64, f64::INFINITY);
        for r in &self.relations {
            if r.terms.len() != 2 || !r.terms.iter().any(|&(c, _)| c == var) {
                continue;
            }
            let Some(&(other, b)) = r.terms.iter().find(|&&(c, _)| c != var) else {
                continue;
            };
            let (Some(v), Some(&(_, a))) =
                (self.known[other], r.terms.iter().find(|&&(c, _)| c == var))
            else {
                continue;
            };
            if !(a == 1.0 || a == -1.0) || b != -a {
                continue;
            }
            // a·(x − v) ∈ [lower, upper]
            let (l, u) = if a > 0.0 {
                (r.lower, r.upper)
            } else {
                (-r.upper, -r.lower)
            };
            lo = lo.max(v + l);
            hi = hi.min(v + u);
        }
        self.base[var].min((hi - lo).max(0.0))
    }
}

/// Union-find over the unknowns joined by relations, and which components the new report touches.
fn affected(space: &Space, known: &[Option<f64>], new: &HashSet<usize>) -> Vec<bool> {
    let n = known.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for r in &space.relations {
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
    let mut hit = vec![false; n];
    for r in &space.relations {
        if r.terms.iter().any(|(c, _)| new.contains(c)) {
            for &(c, _) in &r.terms {
                if known[c].is_none() {
                    let root = find(&mut parent, c);
                    hit[root] = true;
                }
            }
        }
    }
    (0..n)
        .map(|c| {
            let root = find(&mut parent, c);
            hit[root]
        })
        .collect()
}

/// The inferable range of every withheld cell of every report in `ledger`, under the attacker model
/// of this module; each range's `required` is what that cell needs. For the hub and the tests.
pub fn audit(ledger: &Ledger) -> Result<Vec<Range>, Error> {
    let mut space = Space::new();
    for p in &ledger.publications {
        space.publish(p);
    }
    space.changes(&ledger.changes);
    let targets: Vec<usize> = (0..space.code.len())
        .filter(|&v| space.withheld[v] && space.known[v].is_none())
        .collect();
    ranges(&space, &space.known, &targets)
}

fn ranges(space: &Space, known: &[Option<f64>], targets: &[usize]) -> Result<Vec<Range>, Error> {
    lp::ranges_of(
        |v| space.code[v].clone(),
        |v| space.required(v),
        &space.relations,
        known,
        targets,
    )
}

/// Disclosure control of `draft` with the ledger in view: primary suppression, the change policy,
/// cells that would reopen an earlier withheld one, then secondary suppression until no withheld
/// cell of any report is narrowed below what it needs. Published cells are the exact values.
/// Returns the protected cells and the codes withheld because of a change.
pub fn protect(
    draft: &Draft<'_>,
    ledger: &Ledger,
    policy: ChangePolicy,
) -> Result<Protected, Error> {
    let t = draft.template;
    assert_eq!(
        t.id,
        draft.values.template_id(),
        "values of another template"
    );
    let exact: Vec<Option<f64>> = (0..t.cells.len())
        .map(|i| draft.values.value(i).map(|v| v.to_f64()))
        .collect();
    let mut space = Space::new();
    for p in &ledger.publications {
        space.publish(p);
    }
    let ledger_known = space.known.clone();
    let ledger_withheld = space.withheld.clone();
    let ledger_vars = space.code.len();
    let vars = space.vars(&draft.label, t, &draft.snapshot, &draft.period);
    for r in true_relations(t, &exact) {
        space.relate(&r, &vars);
    }
    space.changes(&ledger.changes);

    let mut withheld = primary::primary(t, draft.values);
    let primary_count = withheld.iter().filter(|&&w| w).count();
    let k = t.disclosure.threshold as f64;
    let mut changed = BTreeSet::new();
    for i in 0..t.cells.len() {
        let (Some(v), var) = (exact[i], vars[i]) else {
            continue;
        };
        let small_change = policy == ChangePolicy::WithholdSmallChanges
            && space.drift[var] == Drift::Bounded
            && last_published(&space, &ledger_known, var).is_some_and(|last| {
                let d = (v - last).abs();
                d > 0.0 && d < k
            });
        if var < ledger_vars && (ledger_known[var].is_some() || ledger_withheld[var]) {
            // Counted before on this very snapshot: published already (the same number), or withheld
            // before and so withheld again (publishing it would reopen the earlier report).
            withheld[i] = ledger_withheld[var] && ledger_known[var].is_none();
        } else if small_change {
            withheld[i] = true;
        }
        if withheld[i] && small_change {
            changed.insert(t.cells[i].code.clone());
        }
    }
    let new_vars: HashSet<usize> = vars.iter().copied().filter(|&v| v >= ledger_vars).collect();
    let mut known = ledger_known.clone();
    known.resize(space.code.len(), None);
    for i in 0..t.cells.len() {
        if !withheld[i]
            && let Some(v) = exact[i]
            && known[vars[i]].is_none()
        {
            known[vars[i]] = Some(v);
        }
    }
    for i in 0..t.cells.len() {
        if withheld[i] && vars[i] >= ledger_vars {
            known[vars[i]] = None;
        }
    }
    // Relations a var appears in, for picking neighbours.
    let mut by_var: Vec<Vec<usize>> = vec![Vec::new(); space.code.len()];
    for (r, rel) in space.relations.iter().enumerate() {
        for &(c, _) in &rel.terms {
            by_var[c].push(r);
        }
    }
    let mut cells_of: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, &v) in vars.iter().enumerate() {
        cells_of.entry(v).or_default().push(i);
    }
    let hit = affected(&space, &known, &new_vars);
    let is_target = |v: usize, known: &[Option<f64>], withheld: &[bool]| {
        known[v].is_none()
            && (ledger_withheld.get(v).copied().unwrap_or(false)
                || cells_of
                    .get(&v)
                    .is_some_and(|cs| cs.iter().any(|&i| withheld[i])))
    };
    let mut check: Vec<usize> = (0..space.code.len())
        .filter(|&v| hit[v] && is_target(v, &known, &withheld))
        .collect();
    let candidate = |v: usize, known: &[Option<f64>]| -> Option<(u8, f64, usize)> {
        if v < ledger_vars && ledger_known[v].is_some() {
            return None;
        }
        let i = *cells_of.get(&v)?.first()?;
        let cell = &t.cells[i];
        let value = known[v]?;
        if !cell.sensitive || cell.is_typed() || value == 0.0 {
            return None;
        }
        // Pinned by the ledger already (a `total` moves by exactly added − removed from the last
        // published one): withholding it widens nothing, and the parent expects it.
        if space.required(v) <= 0.0 {
            return None;
        }
        // A class withheld before (on another snapshot) is the first choice: withholding it again
        // keeps the earlier range wide.
        let before = identity(t, i, &draft.period).is_some_and(|id| {
            space.by_identity.get(&id).is_some_and(|m| {
                m.iter().any(|&(_, u)| {
                    u < ledger_vars && ledger_withheld[u] && ledger_known[u].is_none()
                })
            })
        });
        Some((u8::from(!before), value, v))
    };
    // What the report says on its own must pass the single-report audit too: the parent's intake
    // runs that one (it does not hold the ledger), and the joint loop may withhold a cell that only
    // the ledger keeps wide, or that the ledger already pins (then it needs no width jointly, but
    // alone it does: a withheld `total` beside its published parts). Cells the stand-alone
    // secondary suppression adds go back into the joint loop, until neither adds any.
    let alone_relations = true_relations(t, &exact);
    let mut forced = vec![false; t.cells.len()];
    let mut value_of: Vec<Option<f64>> = vec![None; space.code.len()];
    for (i, &v) in vars.iter().enumerate() {
        value_of[v] = value_of[v].or(exact[i]);
    }
    // What the recipient knows however much this report withholds: the ledger, and the new cells
    // that cannot be withheld (not candidates). A withheld cell these pin exactly is public already.
    let floor = |known: &[Option<f64>]| -> Vec<Option<f64>> {
        (0..known.len())
            .map(|v| {
                if v < ledger_vars {
                    ledger_known[v]
                } else if candidate(v, known).is_some() {
                    None
                } else {
                    known[v]
                }
            })
            .collect()
    };
    let is_fresh = |v: usize| v >= ledger_vars || !ledger_withheld[v];
    let mut pinned = Pinned {
        floor: &floor,
        value_of: &value_of,
        fresh: &is_fresh,
        public: vec![false; space.code.len()],
    };
    loop {
        joint_loop(
            &space,
            &mut known,
            &mut withheld,
            &mut check,
            &by_var,
            &cells_of,
            &candidate,
            &mut pinned,
        )?;
        let mut alone: Vec<bool> = (0..t.cells.len())
            .map(|i| forced[i] || (withheld[i] && known[vars[i]].is_none()))
            .collect();
        let before = alone.clone();
        secondary::secondary(t, &alone_relations, &exact, &mut alone)?;
        check.clear();
        for i in (0..t.cells.len()).filter(|&i| alone[i] && !before[i]) {
            forced[i] = true;
            withheld[i] = true;
            let v = vars[i];
            if known[v].is_some() && !(v < ledger_vars && ledger_known[v].is_some()) {
                known[v] = None;
                for &j in &cells_of[&v] {
                    withheld[j] = true;
                }
                check.push(v);
            }
        }
        if (0..t.cells.len()).all(|i| alone[i] == before[i]) {
            break;
        }
        check.sort_unstable();
        check.dedup();
    }
    let targets: Vec<usize> = (0..t.cells.len())
        .filter(|&i| withheld[i] && exact[i].is_some() && known[vars[i]].is_none())
        .map(|i| vars[i])
        .collect();
    // The loop proved every range it checked; this proves the new report's together once more, and
    // computes the exact ranges only when that proof falls short (nothing sent reads them: they are
    // for the tests and an error's message).
    let found = if verify::wide_enough_by(|v| space.required(v), &space.relations, &known, &targets)
    {
        Vec::new()
    } else {
        let found = ranges(&space, &known, &targets)?;
        super::check(&found)?;
        found
    };
    let mut cells = BTreeMap::new();
    let mut codes = BTreeSet::new();
    for (i, cell) in t.cells.iter().enumerate() {
        let Some(v) = draft.values.value(i) else {
            continue;
        };
        if forced[i] || (withheld[i] && known[vars[i]].is_none()) {
            codes.insert(cell.code.clone());
            cells.insert(cell.code.clone(), Cell::suppressed());
        } else {
            cells.insert(cell.code.clone(), Cell::published(v));
        }
    }
    changed.retain(|c| codes.contains(c));
    Ok(Protected {
        template: t.id.clone(),
        cells,
        withheld: codes,
        primary: primary_count,
        ranges: found,
        changed,
    })
}

/// What is known of each variable, given what is known now (see [`protect`]).
type Floor<'a> = &'a dyn Fn(&[Option<f64>]) -> Vec<Option<f64>>;

/// For a withheld variable no neighbour can protect: whether the recipient pins it exactly anyway.
struct Pinned<'a> {
    /// What is known however much this report withholds (see [`protect`]).
    floor: Floor<'a>,
    /// The exact value of each variable of this report.
    value_of: &'a [Option<f64>],
    /// Not withheld by an earlier report (publishing one of those would reopen it).
    fresh: &'a dyn Fn(usize) -> bool,
    /// Published here because already pinned: never withheld again as a neighbour, or the loop
    /// would withhold it for one cell and publish it for itself, round after round.
    public: Vec<bool>,
}

/// The greedy secondary suppression over the stacked LP: while a withheld variable in `check` is
/// narrowed below what it needs, withhold the best candidate next to it (see [`protect`]).
#[allow(clippy::too_many_arguments)]
fn joint_loop(
    space: &Space,
    known: &mut [Option<f64>],
    withheld: &mut [bool],
    check: &mut Vec<usize>,
    by_var: &[Vec<usize>],
    cells_of: &HashMap<usize, Vec<usize>>,
    candidate: &impl Fn(usize, &[Option<f64>]) -> Option<(u8, f64, usize)>,
    pinned: &mut Pinned<'_>,
) -> Result<(), Error> {
    while !check.is_empty() {
        // Most rounds find nothing narrowed: proven with a few LPs, the exact ranges only if not.
        if verify::wide_enough_by(|v| space.required(v), &space.relations, known, check) {
            break;
        }
        let found = ranges(space, known, check)?;
        let exposed: Vec<usize> = check
            .iter()
            .zip(&found)
            .filter(|(_, r)| !r.is_wide_enough())
            .map(|(&v, _)| v)
            .collect();
        if exposed.is_empty() {
            break;
        }
        let mut added: Vec<usize> = Vec::new();
        for &e in &exposed {
            if added
                .iter()
                .any(|&a| by_var[a].iter().any(|r| by_var[e].contains(r)))
            {
                continue;
            }
            let siblings = |of: usize| -> Vec<usize> {
                by_var[of]
                    .iter()
                    .flat_map(|&r| space.relations[r].terms.iter().map(|&(c, _)| c))
                    .collect()
            };
            let pick = |from: &[usize], known: &[Option<f64>]| {
                from.iter()
                    .filter(|&&c| !pinned.public[c])
                    .filter_map(|&c| candidate(c, known))
                    .min_by(|a, b| a.partial_cmp(b).expect("finite values"))
            };
            let mut best = pick(&siblings(e), known);
            if best.is_none() {
                let ring: Vec<usize> = siblings(e)
                    .into_iter()
                    .filter(|&w| known[w].is_none())
                    .flat_map(siblings)
                    .collect();
                best = pick(&ring, known);
            }
            match best {
                Some((_, _, v)) => {
                    known[v] = None;
                    for &i in &cells_of[&v] {
                        withheld[i] = true;
                    }
                    added.push(v);
                }
                None if added.is_empty() => {
                    // Nothing next to it can be withheld. Where the ledger and the cells this
                    // report cannot withhold pin it exactly anyway (an earlier report published
                    // its siblings on this snapshot, say), withholding it hides nothing and no
                    // choice here widens it: it is published, as the number the recipient
                    // already has. Otherwise the report cannot be made safe.
                    let mut floor = (pinned.floor)(known);
                    floor[e] = None;
                    let alone = ranges(space, &floor, &[e])?;
                    match pinned.value_of[e] {
                        Some(v) if (pinned.fresh)(e) && alone[0].width() <= 0.0 => {
                            known[e] = Some(v);
                            pinned.public[e] = true;
                            for &i in &cells_of[&e] {
                                withheld[i] = false;
                            }
                        }
                        _ => {
                            let ranges = ranges(space, known, &[e])?;
                            return Err(Error::Exposed { ranges });
                        }
                    }
                }
                None => {}
            }
        }
        *check = exposed
            .into_iter()
            .chain(added)
            .filter(|&v| known[v].is_none())
            .collect();
        check.sort_unstable();
        check.dedup();
    }
    Ok(())
}

/// The value of `var`'s class last published on another snapshot (the latest such report).
fn last_published(space: &Space, known: &[Option<f64>], var: usize) -> Option<f64> {
    let id = space
        .by_identity
        .iter()
        .find(|(_, m)| m.iter().any(|&(_, v)| v == var))?;
    id.1.iter()
        .filter(|&&(_, v)| v != var)
        .filter_map(|&(_, v)| known.get(v).copied().flatten().map(|x| (v, x)))
        .max_by_key(|&(v, _)| v)
        .map(|(_, x)| x)
}
