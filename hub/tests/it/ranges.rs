//! The rollup arithmetic over real reports: small synthetic counties are aggregated with the shared
//! aggregation code and protected with the shared disclosure control (so small counts are withheld,
//! primary and secondary), then rolled up by `rollup::add_up`. Every rolled-up cell must contain the
//! true total (the sum of the counties' exact values), and be exact wherever no county withheld it.

use bangfu_hub::rollup::{RollupCell, add_up};
use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose::protect;
use bangfu_shared::org::OrgCode;
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use proptest::prelude::*;

use bangfu_shared::synthetic::{archive, day};

/// Rolls up `sizes.len()` counties of template `id` and checks every cell against the true total.
/// Returns (cells exact, cells ranged) so a run can show both cases were met.
fn check_rollup(id: &str, seed: u64, sizes: &[usize]) -> (usize, usize) {
    let v = Vocabulary::builtin();
    let t: Template = template::builtin(id, &v).unwrap();
    let period = Period::campaign(day(2014, 1, 1), day(2014, 12, 31));
    let mut truth: Vec<Option<Decimal>> = vec![None; t.cells.len()];
    let mut withheld_by_someone = vec![false; t.cells.len()];
    let mut reports = vec![];
    for (k, &n) in sizes.iter().enumerate() {
        let (hs, aid) = archive(seed.wrapping_add(k as u64 * 7919), n, &v);
        let values = aggregate(&t, &hs, &aid, &period);
        // A county whose table cannot be protected sends nothing (the node refuses): not in the rollup.
        let Ok(protected) = protect(&t, &values) else {
            continue;
        };
        for i in 0..t.cells.len() {
            let Some(x) = values.value(i) else { continue };
            truth[i] = Some(truth[i].map_or(x, |s| s + x));
            withheld_by_someone[i] |= protected.withheld().contains(&t.cells[i].code);
        }
        let org = OrgCode::parse(&format!("H{:02}", k + 1)).unwrap();
        reports.push(Report::new(
            org,
            &t,
            Some("c".parse().unwrap()),
            period.as_of,
            bangfu_shared::protocol::Version::FIRST,
            protected,
            evaluate(&t, |i| values.value(i)),
        ));
    }
    let refs: Vec<&Report> = reports.iter().collect();
    let rolled = add_up(&t, &refs);
    let (mut exact, mut ranged) = (0, 0);
    for (i, cell) in t.cells.iter().enumerate() {
        let Some(total) = truth[i] else {
            assert!(
                !rolled.contains_key(&cell.code) || reports.is_empty(),
                "{id} {}: rolled up from nothing",
                cell.code
            );
            continue;
        };
        let total = total.rescale(cell.scale);
        match rolled.get(&cell.code) {
            Some(RollupCell::Value { value }) => {
                assert!(
                    !withheld_by_someone[i],
                    "{id} {}: exact although some county withheld it",
                    cell.code
                );
                assert_eq!(*value, total, "{id} {}", cell.code);
                exact += 1;
            }
            Some(RollupCell::Range { lower, upper }) => {
                assert!(
                    withheld_by_someone[i],
                    "{id} {}: a range although every county published it",
                    cell.code
                );
                assert!(
                    *lower <= total,
                    "{id} {}: lower {lower} above the true {total}",
                    cell.code
                );
                assert!(
                    upper.is_none_or(|u| total <= u),
                    "{id} {}: upper {upper:?} below the true {total}",
                    cell.code
                );
                ranged += 1;
            }
            other => panic!("{id} {}: {other:?} for a true total of {total}", cell.code),
        }
    }
    (exact, ranged)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_dangan_rollup_contains_every_true_total(seed in any::<u64>(), sizes in prop::collection::vec(3usize..120, 1..6)) {
        check_rollup("dangan", seed, &sizes);
    }

    #[test]
    fn a_songnuan_rollup_contains_every_true_total(seed in any::<u64>(), sizes in prop::collection::vec(3usize..120, 1..6)) {
        check_rollup("songnuan", seed, &sizes);
    }
}

/// The property above would pass vacuously if small counties never withheld anything, or if every
/// cell always came out as a range: one fixed case shows both kinds of cell.
#[test]
fn small_counties_give_both_exact_cells_and_ranges() {
    let (exact, ranged) = check_rollup("dangan", 42, &[15, 40, 90, 8]);
    assert!(exact > 0 && ranged > 0, "exact {exact}, ranged {ranged}");
}
