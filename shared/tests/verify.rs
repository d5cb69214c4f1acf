//! The fast audit verdict (`disclose::verify`, which the hub's intake runs on every report) agrees
//! with the exact audit (`check(&audit(..)?)`) on random tables: random archives (the project's
//! synthetic generator, `bangfu_shared::synthetic::archive`), and suppression
//! patterns that pass (what `protect` withholds, plus extra cells) and that fail (random cells,
//! or the protected pattern with one withheld cell revealed).

use bangfu_shared::synthetic::{Rng, archive, day};
use std::collections::BTreeMap;

use bangfu_shared::aggregate::{Aggregates, Period, aggregate};
use bangfu_shared::disclose::{self, audit, protect};
use bangfu_shared::report::Cell;
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use proptest::prelude::*;

/// The report's cells as an outsider sees them: every known value, `withheld` ones suppressed.
fn cells(
    t: &Template,
    values: &Aggregates,
    withheld: impl Fn(usize) -> bool,
) -> BTreeMap<String, Cell> {
    let json: serde_json::Map<String, serde_json::Value> = (0..t.cells.len())
        .filter_map(|i| {
            let v = values.value(i)?;
            let cell = if withheld(i) {
                serde_json::json!({ "suppressed": true })
            } else {
                serde_json::json!({ "value": v })
            };
            Some((t.cells[i].code.clone(), cell))
        })
        .collect();
    serde_json::from_value(serde_json::Value::Object(json)).unwrap()
}

/// Both verdicts, as comparable text: "ok" or the error's message.
fn verdicts(t: &Template, cells: &BTreeMap<String, Cell>) -> (String, String) {
    let fast = match disclose::verify(t, cells) {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let exact = match audit(t, cells).and_then(|r| disclose::check(&r)) {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    (fast, exact)
}

/// How a case picks the withheld cells.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// Each cell with this probability (in percent): mostly refused, some accepted.
    Random(u64),
    /// What `protect` withholds: accepted.
    Protected,
    /// `protect`'s cells and more (withholding more only widens ranges): accepted.
    ProtectedAndMore,
    /// `protect`'s cells with one of them published again: usually refused.
    ProtectedButOne,
}

fn pattern() -> impl Strategy<Value = Pattern> {
    prop_oneof![
        (3u64..60).prop_map(Pattern::Random),
        Just(Pattern::Protected),
        Just(Pattern::ProtectedAndMore),
        Just(Pattern::ProtectedButOne),
    ]
}

fn agree(id: &str, seed: u64, n: usize, pattern: Pattern) -> Result<(), TestCaseError> {
    let v = Vocabulary::builtin();
    let t = template::builtin(id, &v).unwrap();
    let (hs, aid) = archive(seed, n, &v);
    let period = if id == "dangan" {
        Period::on(day(2014, 12, 31))
    } else {
        Period::campaign(day(2014, 1, 1), day(2014, 12, 31))
    };
    let values = aggregate(&t, &hs, &aid, &period);
    let mut rng = Rng(seed ^ 0x5eed);
    let protected: Vec<bool> = match protect(&t, &values) {
        Ok(p) => t
            .cells
            .iter()
            .map(|c| p.withheld().contains(&c.code))
            .collect(),
        Err(_) => vec![false; t.cells.len()],
    };
    let withheld: Vec<bool> = match pattern {
        Pattern::Random(p) => (0..t.cells.len()).map(|_| rng.below(100) < p).collect(),
        Pattern::Protected => protected.clone(),
        Pattern::ProtectedAndMore => protected
            .iter()
            .map(|&w| w || rng.below(100) < 15)
            .collect(),
        Pattern::ProtectedButOne => {
            let on: Vec<usize> = (0..protected.len()).filter(|&i| protected[i]).collect();
            let mut w = protected.clone();
            if !on.is_empty() {
                w[on[rng.below(on.len() as u64) as usize]] = false;
            }
            w
        }
    };
    let cells = cells(&t, &values, |i| withheld[i]);
    let (fast, exact) = verdicts(&t, &cells);
    prop_assert_eq!(
        fast,
        exact,
        "template {} seed {} n {} {:?}",
        id,
        seed,
        n,
        pattern
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_verdict_agrees_with_the_exact_audit_on_dangan(seed in any::<u64>(), n in 10usize..800, pattern in pattern()) {
        agree("dangan", seed, n, pattern)?;
    }

    #[test]
    fn the_fast_verdict_agrees_with_the_exact_audit_on_songnuan(seed in any::<u64>(), n in 10usize..800, pattern in pattern()) {
        agree("songnuan", seed, n, pattern)?;
    }
}

/// The cases above are not all one verdict: over fixed seeds both acceptances and refusals occur,
/// and the refusals name the narrow cells exactly as the exact audit does.
#[test]
fn fixed_seeds_give_both_verdicts_and_the_same_refusals() {
    let v = Vocabulary::builtin();
    let t = template::builtin("dangan", &v).unwrap();
    let (mut ok, mut refused) = (0, 0);
    for seed in 0..12u64 {
        let (hs, aid) = archive(seed, 300, &v);
        let values = aggregate(&t, &hs, &aid, &Period::on(day(2014, 12, 31)));
        let p = protect(&t, &values).unwrap();
        let mut rng = Rng(seed);
        for reveal in [false, true] {
            let hidden: Vec<&String> = p.withheld().iter().collect();
            let shown = (reveal && !hidden.is_empty())
                .then(|| hidden[rng.below(hidden.len() as u64) as usize].clone());
            let cells = cells(&t, &values, |i| {
                p.withheld().contains(&t.cells[i].code) && Some(&t.cells[i].code) != shown.as_ref()
            });
            let (fast, exact) = verdicts(&t, &cells);
            assert_eq!(fast, exact, "seed {seed} reveal {reveal}");
            if fast == "ok" { ok += 1 } else { refused += 1 }
        }
    }
    assert!(ok >= 12, "every protected pattern passes ({ok} passed)");
    assert!(
        refused > 0,
        "revealing a withheld cell is refused at least once"
    );
}
