//! Unique, valid synthetic 身份证号 without remembering the ones already given.
//!
//! A generated archive must never repeat an ID number by accident (that is the `id_number.duplicate`
//! rule), yet a million-household run cannot keep a set of all numbers. So each (role, area, sex,
//! birth year) bucket counts the numbers it has handed out, and a keyed permutation turns the count
//! into a distinct (day of year, sequence) pair: distinct counts give distinct numbers.

use chrono::{Datelike, NaiveDate};

use crate::domain::id_number::check_char;

/// Whose number it is. Roles use disjoint sequence ranges (digits 15–16), so a worker's number can
/// never equal a family member's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Worker,
    Member,
}

impl Role {
    /// The range of the two-digit order code (digits 15–16) the role uses.
    fn orders(self) -> (u32, u32) {
        match self {
            Role::Worker => (0, 60),
            Role::Member => (60, 100),
        }
    }
}

const FIRST_YEAR: i32 = 1900;
const YEARS: usize = 201;
/// Days used per year: 1 January to 30/31 December; day 366 is never needed.
const DAYS: u32 = 365;
/// Odd or even digit 17 per sex: five choices each (GB 11643-1999 §7.3).
const SEX_SLOTS: u32 = 5;
/// A prime above every bucket size, hence coprime to it: multiplying by it permutes the bucket.
const STRIDE: u64 = 1_000_003;

/// A valid identity number with what it encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    /// The 17 leading digits.
    pub digits: String,
    pub birth: NaiveDate,
    pub male: bool,
}

impl Person {
    /// The 18-character number with its check character.
    pub fn id18(&self) -> String {
        with_check(&self.digits)
    }

    /// The legacy 15-digit number for the same person (year without century, no check character).
    /// Only meaningful for births in the 1900s.
    pub fn id15(&self) -> String {
        format!(
            "{}{}{}",
            &self.digits[..6],
            &self.digits[8..14],
            &self.digits[14..17]
        )
    }
}

/// 17 digits followed by their GB 11643-1999 check character.
pub(crate) fn with_check(digits17: &str) -> String {
    let mut s = String::with_capacity(18);
    s.push_str(digits17);
    s.push(check_char(digits17.as_bytes()) as char);
    s
}

/// Hands out unique numbers; state is one counter per bucket, a few thousand in all.
pub(crate) struct IdAllocator {
    areas: Vec<&'static str>,
    counters: Vec<u32>,
    key: u64,
}

impl IdAllocator {
    pub(crate) fn new(areas: Vec<&'static str>, key: u64) -> IdAllocator {
        let counters = vec![0; 2 * areas.len() * 2 * YEARS];
        IdAllocator {
            areas,
            counters,
            key,
        }
    }

    /// A fresh number for someone born in `year` in area `area` (an index into the area list). If
    /// that bucket is used up, a neighbouring area is used; `None` only when all are.
    pub(crate) fn next(
        &mut self,
        role: Role,
        area: usize,
        year: i32,
        male: bool,
    ) -> Option<Person> {
        let y = usize::try_from(year - FIRST_YEAR)
            .ok()
            .filter(|&y| y < YEARS)?;
        let (lo, hi) = role.orders();
        let size = u64::from(DAYS * (hi - lo) * SEX_SLOTS);
        (0..self.areas.len()).find_map(|shift| {
            let a = (area + shift) % self.areas.len();
            let bucket = ((usize::from(role == Role::Member) * self.areas.len() + a) * 2
                + usize::from(male))
                * YEARS
                + y;
            let count = u64::from(self.counters[bucket]);
            if count >= size {
                return None;
            }
            self.counters[bucket] += 1;
            let j = (STRIDE * count + mix(self.key ^ bucket as u64)) % size;
            let day = (j % u64::from(DAYS)) as u32 + 1;
            let rest = (j / u64::from(DAYS)) as u32;
            let sex_digit = 2 * (rest % SEX_SLOTS) + u32::from(male);
            let order = lo + rest / SEX_SLOTS;
            let birth = NaiveDate::from_yo_opt(year, day)?;
            let digits = format!(
                "{}{:04}{:02}{:02}{:02}{}",
                self.areas[a],
                birth.year(),
                birth.month(),
                birth.day(),
                order,
                sex_digit
            );
            Some(Person {
                digits,
                birth,
                male,
            })
        })
    }
}

/// SplitMix64's finaliser: spreads a bucket's key over the whole bucket.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::domain::IdNumber;

    #[test]
    fn a_bucket_gives_distinct_valid_numbers_until_it_is_used_up() {
        let mut ids = IdAllocator::new(vec!["420821"], 7);
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let mut seen = HashSet::new();
        let size = (DAYS * 60 * SEX_SLOTS) as usize;
        for _ in 0..size {
            let p = ids.next(Role::Worker, 0, 1970, false).unwrap();
            let id = IdNumber::parse(&p.id18(), today).unwrap();
            assert!(!id.is_male());
            assert_eq!(id.birth_date(), p.birth);
            assert!(seen.insert(p.digits));
        }
        assert!(ids.next(Role::Worker, 0, 1970, false).is_none());
        assert!(ids.next(Role::Member, 0, 1970, false).is_some());
    }

    #[test]
    fn a_fifteen_digit_number_encodes_the_same_person() {
        let mut ids = IdAllocator::new(vec!["420821"], 1);
        let p = ids.next(Role::Worker, 0, 1961, true).unwrap();
        let id = IdNumber::parse(&p.id15(), NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).unwrap();
        assert_eq!(id.birth_date(), p.birth);
        assert!(id.is_male());
    }
}
