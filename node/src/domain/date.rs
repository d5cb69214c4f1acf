//! Dates as offices type them: 2014-11-21, 2014/11/21, 2014.11.21, 20141121, 2014年11月21日.

use chrono::NaiveDate;

use crate::rules::{Rule, Violation};

pub fn parse_date(raw: &str) -> Result<NaiveDate, Violation> {
    let text = raw.trim();
    let normal: String = text
        .trim_end_matches('日')
        .chars()
        .map(|c| if matches!(c, '/' | '.' | '年' | '月') { '-' } else { c })
        .collect();
    let parsed = if normal.len() == 8 && normal.bytes().all(|b| b.is_ascii_digit()) {
        NaiveDate::parse_from_str(&normal, "%Y%m%d")
    } else {
        // Excel exports datetimes as "2014-11-21 00:00:00": the day is what counts.
        NaiveDate::parse_from_str(normal.split(' ').next().unwrap_or(""), "%Y-%m-%d")
    };
    parsed.map_err(|_| Violation::new(Rule::DateFormat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_spellings_parse() {
        let d = NaiveDate::from_ymd_opt(2014, 11, 21).unwrap();
        for s in ["2014-11-21", "2014/11/21", "2014.11.21", "20141121", "2014年11月21日", "2014-11-21 00:00:00"] {
            assert_eq!(parse_date(s).unwrap(), d, "{s}");
        }
    }

    #[test]
    fn a_date_that_does_not_exist_is_refused() {
        assert_eq!(parse_date("2014-02-30").unwrap_err().rule, Rule::DateFormat);
    }
}
