//! Seeded synthetic archives as aggregation sees them (households' coded facts and aid records), for
//! property tests and benchmarks across the workspace. No names, no ID numbers: these are the facts
//! a statistic table is computed from, drawn from a splitmix64 generator so that a failing case is its
//! seed. (Whole import files with names and ID numbers come from `bangfu-node gen`.)

use chrono::{Days, NaiveDate};

use crate::facts::{AidFacts, Dim, HouseholdFacts, UNKNOWN};
use crate::vocabulary::Vocabulary;

/// splitmix64: a tiny deterministic generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Skewed towards small indices, as real archives are (most households in a few values).
    pub fn skewed(&mut self, n: usize) -> u8 {
        let a = self.below(n as u64);
        let b = self.below(n as u64);
        a.min(b) as u8
    }
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// Random households and aid records shaped like a county archive: every 档案状态 (在档, 已脱困 with a
/// 脱困日期, 已剔除), up to three causes, some fields unknown, money amounts, aid of every kind.
pub fn archive(
    seed: u64,
    n: usize,
    vocabulary: &Vocabulary,
) -> (Vec<HouseholdFacts>, Vec<AidFacts>) {
    let mut rng = Rng(seed);
    let base = day(2012, 1, 1);
    let mut households = Vec::with_capacity(n);
    for _ in 0..n {
        let mut dims = [0u8; Dim::ALL.len()];
        for d in Dim::ALL {
            let len = vocabulary.field(d.vocabulary_field()).values().len();
            dims[d.slot()] = if d != Dim::Status && rng.below(20) == 0 {
                UNKNOWN
            } else {
                rng.skewed(len)
            };
        }
        dims[Dim::Status.slot()] = match rng.below(10) {
            0..=6 => 0,
            7 | 8 => 1,
            _ => 2,
        };
        let mut causes = 0u16;
        if rng.below(25) != 0 {
            for _ in 0..1 + rng.below(3) {
                causes |= 1 << rng.skewed(8);
            }
        }
        let filed_on = (rng.below(30) != 0).then(|| base + Days::new(rng.below(1200)));
        let lifted_on = (dims[Dim::Status.slot()] == 1).then(|| base + Days::new(rng.below(1400)));
        let mut amounts = [0i64; 5];
        for a in &mut amounts {
            *a = rng.below(5_000_000) as i64;
        }
        households.push(HouseholdFacts {
            dims,
            causes,
            household_size: 1 + rng.below(5) as u8,
            amounts,
            filed_on,
            lifted_on,
        });
    }
    let kinds = vocabulary.field("aid_kind").values().len() as u64;
    let mut aid = Vec::new();
    for _ in 0..n / 2 + rng.below(n as u64 + 1) as usize {
        aid.push(AidFacts {
            household: rng.below(n as u64) as u32,
            date: base + Days::new(rng.below(1400)),
            kind: if rng.below(3) == 0 {
                8
            } else {
                rng.below(kinds) as u8
            },
            amount_fen: (rng.below(200) * 1000) as i64,
        });
    }
    (households, aid)
}

/// Simpler households (在档 or 已剔除, one cause, all filed before 2015-04), the ones the hub's
/// intake benchmark and tests post as `dangan` reports: seed for seed the same report everywhere.
pub fn households(seed: u64, n: usize, v: &Vocabulary) -> Vec<HouseholdFacts> {
    let mut rng = Rng(seed);
    let base = day(2012, 1, 1);
    (0..n)
        .map(|_| {
            let mut dims = [0u8; Dim::ALL.len()];
            for d in Dim::ALL {
                let len = v.field(d.vocabulary_field()).values().len();
                dims[d.slot()] = if d != Dim::Status && rng.below(20) == 0 {
                    UNKNOWN
                } else {
                    rng.skewed(len)
                };
            }
            dims[Dim::Status.slot()] = if rng.below(10) < 8 { 0 } else { 2 };
            let causes = 1u16 << rng.skewed(8);
            let filed_on = Some(base + Days::new(rng.below(1200)));
            HouseholdFacts {
                dims,
                causes,
                household_size: 1 + rng.below(4) as u8,
                amounts: [0; 5],
                filed_on,
                lifted_on: None,
            }
        })
        .collect()
}
