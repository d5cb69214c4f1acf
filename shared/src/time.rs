//! Time (DESIGN.md "Time"): dates and deadlines are days in Asia/Shanghai, whatever the machine's
//! own zone, and code that needs "now" asks a [`Clock`], so tests of deadlines and reminders move a
//! [`TestClock`] instead of sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use chrono_tz::Tz;

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;

    /// Today in Asia/Shanghai: the day due dates are compared with.
    fn today(&self) -> NaiveDate {
        local_day(self.now())
    }
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until a test moves it; clones share the same time.
#[derive(Debug, Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn at(now: DateTime<Utc>) -> TestClock {
        TestClock(Arc::new(Mutex::new(now)))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().expect("test clock lock") = now;
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("test clock lock") += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("test clock lock")
    }
}

/// The day in Asia/Shanghai at `now`.
pub fn local_day(now: DateTime<Utc>) -> NaiveDate {
    in_shanghai(now).date_naive()
}

/// `now` as Beijing wall-clock time.
pub fn in_shanghai(now: DateTime<Utc>) -> DateTime<Tz> {
    now.with_timezone(&Shanghai)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_due_day_ends_at_midnight_in_shanghai() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(local_day(at("2026-02-05T15:59:59Z")), day("2026-02-05"));
        assert_eq!(local_day(at("2026-02-05T16:00:00Z")), day("2026-02-06"));
    }

    #[test]
    fn a_test_clock_moves_only_when_told() {
        let clock = TestClock::at(at("2026-02-05T15:00:00Z"));
        let shared = clock.clone();
        assert_eq!(clock.now(), shared.now());
        shared.advance(chrono::Duration::hours(2));
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2026, 2, 6).unwrap());
    }
}
