//! Dates as offices type them: 2014-11-21, 2014/11/21, 2014.11.21, 20141121, 2014年11月21日.

use chrono::NaiveDate;

use crate::rules::{Rule, Violation};

pub fn parse_date(raw: &str) -> Result<NaiveDate, Violation> {
    let text = raw.trim();
    if let Some(d) = iso(text) {
        return Ok(d);
    }
    let normal: String = text
        .trim_end_matches('日')
        .chars()
        .map(|c| {
            if matches!(c, '/' | '.' | '年' | '月') {
                '-'
            } else {
                c
            }
        })
        .collect();
    let parsed = if normal.len() == 8 && normal.bytes().all(|b| b.is_ascii_digit()) {
        NaiveDate::parse_from_str(&normal, "%Y%m%d")
    } else {
        // Excel exports datetimes as "2014-11-21 00:00:00": the day is what counts.
        NaiveDate::parse_from_str(normal.split(' ').next().unwrap_or(""), "%Y-%m-%d")
    };
    parsed.map_err(|_| Violation::new(Rule::DateFormat))
}

/// The common case, YYYY-MM-DD, without allocating: an import parses a few dates per row.
fn iso(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_spellings_parse() {
        let d = NaiveDate::from_ymd_opt(2014, 11, 21).unwrap();
        for s in [
            "2014-11-21",
            "2014/11/21",
            "2014.11.21",
            "20141121",
            "2014年11月21日",
            "2014-11-21 00:00:00",
        ] {
            assert_eq!(parse_date(s).unwrap(), d, "{s}");
        }
    }

    #[test]
    fn a_date_that_does_not_exist_is_refused() {
        assert_eq!(parse_date("2014-02-30").unwrap_err().rule, Rule::DateFormat);
    }
}
