//! Dates and times in Asia/Shanghai (DESIGN.md "Time"): a county's "today" is Beijing time's, whatever
//! the machine's clock zone.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::{Asia::Shanghai, Tz};

pub fn now_shanghai() -> DateTime<Tz> {
    Utc::now().with_timezone(&Shanghai)
}

pub fn today() -> NaiveDate {
    now_shanghai().date_naive()
}
