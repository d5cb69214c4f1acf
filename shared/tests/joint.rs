//! The joint audit against an outsider who holds every report (issue 11).
//!
//! The attack (`support/attack.rs`, shared with the end-to-end test `tests/tests/it/joint.rs`) is
//! written apart from the production audit (`disclose::joint`): its own cell identification, its
//! own constraint building, one microlp problem per bound over all unknowns at once. It plays the
//! recipient of the issue's attacker model: every report, every template's definition and
//! relations, identified cells, and the exact numbers of household records added and removed
//! between any two snapshots.

#[path = "support/attack.rs"]
mod attack;

use std::collections::{BTreeMap, HashMap};

use attack::{Narrowed, attack};

use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::disclose::{self, joint};
use bangfu_shared::facts::{AidFacts, Dim, HouseholdFacts};
use bangfu_shared::report::Cell;
use bangfu_shared::synthetic::{self, Rng};
use bangfu_shared::template::{self, Counted, Source};
use bangfu_shared::vocabulary::Vocabulary;
use proptest::prelude::*;

const TEMPLATES: [&str; 4] = ["songnuan", "dajiancha", "dangan", "bangfu_center"];

/// An archive state: households and aid records.
#[derive(Clone)]
struct Archive {
    households: Vec<HouseholdFacts>,
    aid: Vec<AidFacts>,
}

impl Archive {
    fn snapshot(&self, as_of: chrono::NaiveDate) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{as_of} {:?} {:?}", self.households, self.aid).hash(&mut h);
        format!("{as_of}/{:016x}", h.finish())
    }

    fn in_archive(&self, as_of: chrono::NaiveDate) -> HashMap<String, i64> {
        let mut m = HashMap::new();
        for h in self.households.iter().filter(|h| h.in_archive_on(as_of)) {
            *m.entry(format!("{h:?}")).or_insert(0) += 1;
        }
        m
    }
}

/// Publishes reports and keeps the ledger and the snapshots' household multisets, as a node does.
struct Node {
    ledger: joint::Ledger,
    snapshots: Vec<(String, HashMap<String, i64>)>,
    joint: bool,
    vocabulary: Vocabulary,
}

impl Node {
    fn new(joint: bool) -> Node {
        Node {
            ledger: joint::Ledger::default(),
            snapshots: Vec::new(),
            joint,
            vocabulary: Vocabulary::builtin(),
        }
    }

    fn record_snapshot(&mut self, a: &Archive, as_of: chrono::NaiveDate) -> String {
        let id = a.snapshot(as_of);
        if self.snapshots.iter().any(|(s, _)| *s == id) {
            return id;
        }
        let now = a.in_archive(as_of);
        for (s, then) in &self.snapshots {
            let diff = |x: &HashMap<String, i64>, y: &HashMap<String, i64>| -> u64 {
                x.iter()
                    .map(|(k, &n)| (n - y.get(k).copied().unwrap_or(0)).max(0) as u64)
                    .sum()
            };
            self.ledger.changes.push(joint::Change {
                from: s.clone(),
                to: id.clone(),
                added: diff(&now, then),
                removed: diff(then, &now),
            });
        }
        self.snapshots.push((id.clone(), now));
        id
    }

    /// The report of `template` over `period` as this node would send it (`None`: not sendable).
    /// Publishes a report, or says why the node refused to send it.
    fn publish(
        &mut self,
        a: &Archive,
        template: &str,
        label: &str,
        period: Period,
    ) -> Result<(), String> {
        let t = template::builtin(template, &self.vocabulary).unwrap();
        let values = aggregate(&t, &a.households, &a.aid, &period);
        let snapshot = self.record_snapshot(a, period.as_of);
        let protected = if self.joint {
            let draft = joint::Draft {
                label: label.to_string(),
                template: &t,
                values: &values,
                snapshot: snapshot.clone(),
                period,
            };
            joint::protect(&draft, &self.ledger, joint::ChangePolicy::default())
        } else {
            disclose::protect(&t, &values)
        };
        let protected = protected.map_err(|e| format!("{label} refused: {e}"))?;
        // The parent holds no ledger: its intake runs the single-report audit on what arrives, and
        // a joint report must pass that one too.
        if let Err(e) = disclose::verify(&t, protected.cells()) {
            panic!("{label} fails the parent's single-report audit: {e}");
        }
        // Published cells are the archive's exact numbers.
        for (i, c) in t.cells.iter().enumerate() {
            if let Some(v) = protected.cells().get(&c.code).and_then(Cell::value) {
                assert_eq!(
                    Some(v),
                    values.value(i),
                    "{label} {} published inexactly",
                    c.code
                );
            }
        }
        self.ledger.publications.push(joint::Publication {
            label: label.to_string(),
            template: t,
            snapshot,
            period,
            cells: protected.cells().clone(),
        });
        Ok(())
    }
}

fn with_dim(mut h: HouseholdFacts, d: Dim, v: u8) -> HouseholdFacts {
    h.dims[d.slot()] = v;
    h
}

/// What the attack found over the seeds, and the reports the node refused to send (why).
struct Attacked {
    narrowed: Vec<(u64, Narrowed)>,
    refused: Vec<String>,
}

/// Small archives where the per-report audit is what the node used: the issue's two attacks.
/// Returns what the attack narrowed over `seeds`, with the node `joint` or not, and which reports
/// the node could not make safe and so did not send.
fn attacked(joint: bool, seeds: std::ops::Range<u64>, correction: bool) -> Attacked {
    let v = Vocabulary::builtin();
    let mut found = Vec::new();
    let mut refused = Vec::new();
    for seed in seeds {
        let n = 40 + (seed as usize * 37) % 160;
        let (households, aid) = synthetic::archive(seed, n, &v);
        let mut a = Archive { households, aid };
        let mut node = Node::new(joint);
        let period = Period::campaign(synthetic::day(2014, 1, 1), synthetic::day(2015, 6, 30));
        if correction {
            if let Err(e) = node.publish(&a, "dangan", "dangan v1", period) {
                refused.push(format!("seed {seed}: {e}"));
            }
            // One household added between the versions (a 在档 copy with another category).
            let mut rng = Rng(seed);
            let mut h = a.households[rng.below(n as u64) as usize].clone();
            h = with_dim(h, Dim::Status, 0);
            h.filed_on = Some(synthetic::day(2013, 1, 1));
            let category = rng.below(3) as u8;
            a.households.push(with_dim(h, Dim::Category, category));
            if let Err(e) = node.publish(&a, "dangan", "dangan v2", period) {
                refused.push(format!("seed {seed}: {e}"));
            }
        } else {
            for t in ["songnuan", "dajiancha", "dangan"] {
                if let Err(e) = node.publish(&a, t, t, period) {
                    refused.push(format!("seed {seed}: {e}"));
                }
            }
        }
        found.extend(attack(&node.ledger).into_iter().map(|x| (seed, x)));
        if !joint && !found.is_empty() {
            break;
        }
    }
    Attacked {
        narrowed: found,
        refused,
    }
}

#[test]
fn three_templates_on_one_day_narrow_a_withheld_cell_without_the_joint_audit() {
    let found = attacked(false, 0..40, false);
    assert!(
        !found.narrowed.is_empty(),
        "the issue's first attack should work on the per-report audit"
    );
}

/// With the joint audit nothing sent is narrowed. A report the audit cannot make safe is refused
/// with the cell it could not protect (the county is told, nothing leaves); that happens, and is
/// recorded in docs/decisions.md, but must stay the exception: most archives send all three.
fn narrows_nothing_and_refuses_rarely(found: &Attacked, seeds: usize) {
    assert!(found.narrowed.is_empty(), "narrowed: {:?}", found.narrowed);
    for r in &found.refused {
        assert!(r.contains("disclosure audit failed"), "{r}");
        eprintln!("refused: {r}");
    }
    assert!(
        found.refused.len() * 5 <= seeds,
        "{} of {seeds} archives had a report refused",
        found.refused.len()
    );
}

#[test]
fn three_templates_on_one_day_narrow_nothing_with_the_joint_audit() {
    narrows_nothing_and_refuses_rarely(&attacked(true, 0..10, false), 10);
}

#[test]
fn a_correction_between_versions_narrows_withheld_cells_without_the_joint_audit() {
    let found = attacked(false, 0..40, true);
    assert!(
        !found.narrowed.is_empty(),
        "the issue's second attack should work on the per-report audit"
    );
}

#[test]
fn a_correction_between_versions_narrows_nothing_with_the_joint_audit() {
    narrows_nothing_and_refuses_rarely(&attacked(true, 0..10, true), 10);
}

#[test]
fn the_issue_identifies_songnuan_3c_dajiancha_4a_and_dangan_category() {
    let v = Vocabulary::builtin();
    let p = Period::campaign(synthetic::day(2014, 1, 1), synthetic::day(2014, 12, 31));
    let id = |t: &str, code: &str| {
        let t = template::builtin(t, &v).unwrap();
        joint::identity(&t, t.cell_index(code).unwrap(), &p)
    };
    let songnuan = id("songnuan", "3C");
    assert!(songnuan.is_some());
    assert_eq!(songnuan, id("dajiancha", "4A"));
    assert_eq!(songnuan, id("dangan", "category.低保户"));
    assert_ne!(songnuan, id("dangan", "category.低保边缘户"));
    assert_eq!(
        id("songnuan", "1A"),
        None,
        "typed-in figures are not identified"
    );
}

/// An archive imported in five parts (the shape of the fault tests' counties), a `dangan` version
/// after each: every version passes the joint audit and, alone, the parent's single-report audit.
/// The node test of the same name (`node/tests/it/ledger.rs`) is the one that reproduced the refusal
/// found at merge (a withheld `total` the ledger pins, exact beside its published categories).
#[test]
fn every_version_of_a_growing_archive_passes_the_parents_single_report_audit() {
    let v = Vocabulary::builtin();
    let period = Period::campaign(synthetic::day(2014, 1, 1), synthetic::day(2015, 6, 30));
    for seed in 31..34 {
        let n = 100 + (seed as usize * 53) % 150;
        let (households, aid) = synthetic::archive(seed, n, &v);
        let mut node = Node::new(true);
        for part in 1..=5 {
            let filed = n * part / 5;
            let a = Archive {
                households: households[..filed].to_vec(),
                aid: aid
                    .iter()
                    .filter(|x| (x.household as usize) < filed)
                    .cloned()
                    .collect(),
            };
            let label = format!("seed {seed} dangan v{part}");
            node.publish(&a, "dangan", &label, period).unwrap();
        }
    }
}

/// One step of a node's life.
#[derive(Debug, Clone)]
enum Step {
    /// New households filed (an import).
    Import(u8),
    /// One household's category or cause corrected.
    Correct(u16, u8),
    /// One household struck (已剔除).
    Strike(u16),
    /// A template published for campaign `c` (0..3, a month apart).
    Publish(u8, u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (1u8..6).prop_map(Step::Import),
        2 => (any::<u16>(), any::<u8>()).prop_map(|(h, v)| Step::Correct(h, v)),
        1 => any::<u16>().prop_map(Step::Strike),
        4 => (0u8..4, 0u8..3).prop_map(|(t, c)| Step::Publish(t, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Random archives and random imports, corrections, strikes and publications of all four
    /// templates in three campaigns: the independent attack narrows no withheld cell.
    #[test]
    fn no_withheld_cell_is_narrowed_by_the_stacked_attack(
        seed in any::<u64>(),
        n in 30usize..5_000,
        steps in proptest::collection::vec(step(), 6..16),
    ) {
        let v = Vocabulary::builtin();
        let (households, aid) = synthetic::archive(seed, n, &v);
        let mut a = Archive { households, aid };
        let mut node = Node::new(true);
        let mut rng = Rng(seed ^ 0x5eed);
        let mut versions: BTreeMap<(u8, u8), u32> = BTreeMap::new();
        let mut refused = Vec::new();
        for s in &steps {
            match *s {
                Step::Import(m) => {
                    for _ in 0..m {
                        let i = rng.below(a.households.len() as u64) as usize;
                        let mut h = a.households[i].clone();
                        h.dims[Dim::Status.slot()] = 0;
                        h.dims[Dim::Category.slot()] = rng.below(3) as u8;
                        h.causes = 1 << rng.below(8);
                        h.filed_on = Some(synthetic::day(2013, 6, 1));
                        a.households.push(h);
                    }
                }
                Step::Correct(h, x) => {
                    let i = h as usize % a.households.len();
                    let hh = &mut a.households[i];
                    if x % 2 == 0 {
                        hh.dims[Dim::Category.slot()] = x / 2 % 3;
                    } else {
                        hh.causes = 1 << (x / 2 % 8);
                    }
                }
                Step::Strike(h) => {
                    let i = h as usize % a.households.len();
                    a.households[i].dims[Dim::Status.slot()] = 2;
                }
                Step::Publish(t, c) => {
                    let start = synthetic::day(2014, 1 + 2 * c as u32, 1);
                    let end = synthetic::day(2014, 2 + 2 * c as u32, 28);
                    let version = versions.entry((t, c)).or_insert(0);
                    *version += 1;
                    let label = format!("c{c}/{} v{version}", TEMPLATES[t as usize]);
                    let period = Period::campaign(start, end);
                    if let Err(e) = node.publish(&a, TEMPLATES[t as usize], &label, period) {
                        refused.push(e);
                    }
                }
            }
        }
        let narrowed = attack(&node.ledger);
        prop_assert!(narrowed.is_empty(), "narrowed: {:?}", narrowed);
        // A report the joint audit cannot make safe is not sent, and says which cell it could not
        // protect (see `narrows_nothing_and_refuses_rarely`); what was sent is what must be safe.
        for r in &refused {
            prop_assert!(r.contains("disclosure audit failed"), "{}", r);
        }
    }
}

/// Cells published in both versions whose value moved: each reads off whether the corrected
/// household is in it (its old and new attributes).
fn exposed_by_change(ledger: &joint::Ledger) -> usize {
    let [v1, v2] = &ledger.publications[..] else {
        return 0;
    };
    v2.cells
        .iter()
        .filter(|(code, cell)| {
            let i = v2.template.cell_index(code).expect("a cell of the table");
            let counts = matches!(
                v2.template.cells[i].source,
                Source::Count {
                    of: Counted::Households,
                    ..
                }
            );
            match (cell.value(), v1.cells.get(*code).and_then(Cell::value)) {
                (Some(a), Some(b)) => counts && a != b && code.as_str() != "total",
                _ => false,
            }
        })
        .count()
}

/// The measurement behind the change policy (docs/decisions.md): over 10 archives of 40 to 4,000
/// households, one household's 困难类别 corrected between two versions of `dangan`. Without the policy
/// most corrections publish cells that moved by one, i.e. the household's old and new category
/// (and the cross cells with its causes); with it none do.
#[test]
fn a_one_household_correction_exposes_attributes_without_the_change_policy() {
    const SEEDS: u64 = 10;
    let v = Vocabulary::builtin();
    let t = template::builtin("dangan", &v).unwrap();
    let period = Period::campaign(synthetic::day(2014, 1, 1), synthetic::day(2015, 6, 30));
    let mut outcome = [(0usize, 0usize); 2];
    for seed in 0..SEEDS {
        let n = 40 + (seed as usize * 251) % 4_000;
        let (households, aid) = synthetic::archive(seed, n, &v);
        let mut a = Archive { households, aid };
        let i = a
            .households
            .iter()
            .position(|h| h.in_archive_on(period.as_of))
            .expect("someone in the archive");
        let before = a.clone();
        let old = a.households[i].dims[Dim::Category.slot()];
        a.households[i].dims[Dim::Category.slot()] = old.wrapping_add(1) % 3;
        for (p, policy) in [
            joint::ChangePolicy::Publish,
            joint::ChangePolicy::WithholdSmallChanges,
        ]
        .into_iter()
        .enumerate()
        {
            let mut node = Node::new(true);
            let mut ledger = joint::Ledger::default();
            for (label, arch) in [("v1", &before), ("v2", &a)] {
                let values = aggregate(&t, &arch.households, &arch.aid, &period);
                let snapshot = node.record_snapshot(arch, period.as_of);
                ledger.changes = node.ledger.changes.clone();
                let draft = joint::Draft {
                    label: label.into(),
                    template: &t,
                    values: &values,
                    snapshot: snapshot.clone(),
                    period,
                };
                let protected = joint::protect(&draft, &ledger, policy).unwrap();
                ledger.publications.push(joint::Publication {
                    label: label.into(),
                    template: t.clone(),
                    snapshot,
                    period,
                    cells: protected.cells().clone(),
                });
            }
            let exposed = exposed_by_change(&ledger);
            outcome[p].0 += usize::from(exposed > 0);
            outcome[p].1 += exposed;
        }
    }
    println!(
        "one-household corrections exposing the household: without the policy {}/{SEEDS} ({} cells), with it {}/{SEEDS} ({} cells)",
        outcome[0].0, outcome[0].1, outcome[1].0, outcome[1].1
    );
    assert!(outcome[0].0 > 0, "the measurement should see exposures");
    assert_eq!(outcome[1], (0, 0));
}
