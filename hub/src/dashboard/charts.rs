//! Charts drawn here as SVG, inline in the page: no script library, nothing fetched from elsewhere,
//! readable without JavaScript, and redrawn with the fragment they are part of. Colours and sizes
//! are presentation attributes, not `style`, which the Content-Security-Policy forbids inline.
//!
//! A withheld cell's total is a range `[L, U]`; a bar draws it as a range: solid up to `L`, light
//! from `L` to `U`, light to the edge with `≥` when nothing bounds it. Never a single guessed figure.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};

use super::html::{cell_text, esc};
use crate::rollup::RollupCell;

const WIDTH: f64 = 640.0;
const SOLID: &str = "#b22222";
const LIGHT: &str = "#f2b8b8";

/// One bar: a label (a link when drilling down is possible) and a cell.
pub struct Bar {
    pub label: String,
    pub href: Option<String>,
    pub cell: Option<RollupCell>,
}

/// A cell's `(lower, upper)` for drawing (`upper` None: unbounded; equal when exact).
fn extent(c: &RollupCell) -> Option<(f64, Option<f64>)> {
    match c {
        RollupCell::Value { value } => Some((value.to_f64(), Some(value.to_f64()))),
        RollupCell::Range { lower, upper } => Some((lower.to_f64(), upper.map(|u| u.to_f64()))),
        RollupCell::Suppressed { .. } => None,
    }
}

/// Horizontal bars, one per row, scaled to the largest figure (its upper bound where it has one).
/// `id` names the chart in the page (tests, links).
pub fn bars(id: &str, title: &str, unit: &str, rows: &[Bar]) -> String {
    let label_w = 150.0;
    let value_w = 110.0;
    let row_h = 20.0;
    let top = 4.0;
    let h = top + row_h * rows.len().max(1) as f64 + 4.0;
    let max = rows
        .iter()
        .filter_map(|r| r.cell.as_ref().and_then(extent))
        .map(|(lo, hi)| hi.unwrap_or(lo).max(lo))
        .fold(0.0_f64, f64::max);
    let span = WIDTH - label_w - value_w;
    let x = |v: f64| {
        if max > 0.0 {
            label_w + span * (v / max)
        } else {
            label_w
        }
    };
    let mut s = format!(
        "<figure id=\"{}\"><figcaption>{} <span class=\"note\">({})</span></figcaption>\
         <svg class=\"chart\" viewBox=\"0 0 {WIDTH} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(id),
        esc(title),
        esc(unit),
        esc(title)
    );
    if rows.is_empty() {
        let _ = write!(s, "<text x=\"4\" y=\"16\">无数据 no data</text>");
    }
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let label = truncate(&r.label, 11);
        let name = format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y + 14.0,
            esc(&label)
        );
        match &r.href {
            Some(href) => {
                let _ = write!(s, "<a href=\"{}\">{name}</a>", esc(href));
            }
            None => s.push_str(&name),
        }
        let text = cell_text(r.cell.as_ref());
        let _ = write!(
            s,
            "<g data-label=\"{}\" data-value=\"{}\">",
            esc(&r.label),
            esc(&text)
        );
        match r.cell.as_ref().and_then(extent) {
            Some((lo, hi)) => {
                let _ = write!(
                    s,
                    "<rect x=\"{label_w}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{SOLID}\"/>",
                    y + 3.0,
                    (x(lo) - label_w).max(0.0),
                    row_h - 6.0
                );
                let end = match hi {
                    Some(u) if u > lo => Some(x(u)),
                    Some(_) => None,
                    None => Some(label_w + span),
                };
                if let Some(end) = end {
                    let _ = write!(
                        s,
                        "<rect class=\"range\" x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{LIGHT}\" stroke=\"{SOLID}\" stroke-dasharray=\"3 2\"/>",
                        x(lo),
                        y + 3.0,
                        (end - x(lo)).max(1.0),
                        row_h - 6.0
                    );
                }
                let _ = write!(
                    s,
                    "<text x=\"{}\" y=\"{}\">{}</text>",
                    label_w + span + 4.0,
                    y + 14.0,
                    esc(&text)
                );
            }
            None => {
                let _ = write!(
                    s,
                    "<text x=\"{}\" y=\"{}\">{}</text>",
                    label_w + 4.0,
                    y + 14.0,
                    esc(&text)
                );
            }
        }
        s.push_str("</g>");
    }
    s.push_str("</svg></figure>");
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// One level's arrivals: how many of `expected` had reported at each moment.
pub struct Line {
    pub label: String,
    pub colour: &'static str,
    pub expected: usize,
    /// First arrivals, in time order.
    pub arrivals: Vec<DateTime<Utc>>,
}

/// A due date drawn as a vertical line.
pub struct Due {
    pub label: String,
    pub date: NaiveDate,
    pub colour: &'static str,
}

/// Completeness over time: each level's share reported (a step line, 0–100 %) from the campaign's
/// `start` to the later of its last due date and `now`, with each level's due date as a line.
pub fn timeline(
    id: &str,
    title: &str,
    lines: &[Line],
    dues: &[Due],
    start: NaiveDate,
    now: DateTime<Utc>,
) -> String {
    let (left, right, top, bottom) = (40.0, 12.0, 10.0, 34.0);
    let h = 220.0;
    let day0 = start.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let last_due = dues.iter().map(|d| d.date).max().unwrap_or(start);
    let last_arrival = lines
        .iter()
        .filter_map(|l| l.arrivals.last().copied())
        .max();
    let end = [
        last_due
            .succ_opt()
            .unwrap_or(last_due)
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc(),
        now,
        last_arrival.unwrap_or(day0),
    ]
    .into_iter()
    .max()
    .expect("three");
    let total = (end - day0).num_seconds().max(86_400) as f64;
    // Month and day read at a glance; the year too when the chart spans more than one.
    let date_format = if end.date_naive().year() == start.year() {
        "%m-%d"
    } else {
        "%Y-%m-%d"
    };
    let x = |t: DateTime<Utc>| {
        left + (WIDTH - left - right) * ((t - day0).num_seconds() as f64 / total).clamp(0.0, 1.0)
    };
    let y = |share: f64| top + (h - top - bottom) * (1.0 - share);
    let mut s = format!(
        "<figure id=\"{}\"><figcaption>{}</figcaption><svg class=\"chart\" viewBox=\"0 0 {WIDTH} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(id),
        esc(title),
        esc(title)
    );
    // Axes and the 0/50/100 % lines.
    for (share, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            WIDTH - right,
            left - 4.0,
            y(share) + 4.0,
            y = y(share)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{left}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        h - bottom + 14.0,
        start.format(date_format),
        WIDTH - right,
        h - bottom + 14.0,
        end.date_naive().format(date_format)
    );
    for d in dues {
        let at = x(d.date.and_hms_opt(23, 59, 59).expect("a time").and_utc());
        let _ = write!(
            s,
            "<line class=\"due\" x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"{}\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{}\" text-anchor=\"end\" fill=\"{}\">{} {}</text>",
            h - bottom,
            d.colour,
            at - 2.0,
            h - 4.0,
            d.colour,
            esc(&d.label),
            d.date.format(date_format)
        );
    }
    let nx = x(now);
    let _ = write!(
        s,
        "<line x1=\"{nx:.1}\" x2=\"{nx:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#999\"/><text x=\"{:.1}\" y=\"{}\">今天 today</text>",
        h - bottom,
        nx + 2.0,
        top + 10.0
    );
    for (i, l) in lines.iter().enumerate() {
        let share = |n: usize| {
            if l.expected == 0 {
                0.0
            } else {
                n as f64 / l.expected as f64
            }
        };
        let mut pts = format!("{left:.1},{:.1}", y(0.0));
        for (n, t) in l.arrivals.iter().enumerate() {
            let _ = write!(
                pts,
                " {:.1},{:.1} {:.1},{:.1}",
                x(*t),
                y(share(n)),
                x(*t),
                y(share(n + 1))
            );
        }
        let _ = write!(pts, " {nx:.1},{:.1}", y(share(l.arrivals.len())));
        let _ = write!(
            s,
            "<polyline class=\"level\" data-level=\"{}\" data-received=\"{}\" data-expected=\"{}\" points=\"{pts}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{}\">{} {}/{}</text>",
            esc(&l.label),
            l.arrivals.len(),
            l.expected,
            l.colour,
            left + 6.0 + 170.0 * i as f64,
            h - bottom + 28.0,
            l.colour,
            esc(&l.label),
            l.arrivals.len(),
            l.expected
        );
    }
    s.push_str("</svg></figure>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use bangfu_shared::decimal::Decimal;

    fn d(n: i64) -> Decimal {
        Decimal::new(n, 0)
    }

    #[test]
    fn a_range_is_drawn_as_a_range_and_a_value_as_a_bar() {
        let svg = bars(
            "x",
            "户数",
            "户",
            &[
                Bar {
                    label: "京山".into(),
                    href: Some("?org=H01".into()),
                    cell: Some(RollupCell::Value { value: d(100) }),
                },
                Bar {
                    label: "沙洋".into(),
                    href: None,
                    cell: Some(RollupCell::Range {
                        lower: d(20),
                        upper: Some(d(50)),
                    }),
                },
                Bar {
                    label: "钟祥".into(),
                    href: None,
                    cell: Some(RollupCell::Range {
                        lower: d(5),
                        upper: None,
                    }),
                },
                Bar {
                    label: "东宝".into(),
                    href: None,
                    cell: Some(RollupCell::Suppressed { suppressed: true }),
                },
            ],
        );
        // The exact one: a solid bar to the full width of the scale, no range.
        assert!(svg.contains("data-value=\"100\""), "{svg}");
        assert_eq!(
            svg.matches("class=\"range\"").count(),
            2,
            "the bounded and the unbounded range: {svg}"
        );
        assert!(svg.contains("data-value=\"20 – 50\"") && svg.contains("data-value=\"≥ 5\""));
        assert!(svg.contains("不公布"));
        assert!(svg.contains("href=\"?org=H01\""));
        assert!(
            !svg.contains("style="),
            "no inline style: the CSP forbids it"
        );
    }

    #[test]
    fn the_timeline_draws_each_level_and_due_date() {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let at = |d: u32| {
            NaiveDate::from_ymd_opt(2026, 1, d)
                .unwrap()
                .and_hms_opt(8, 0, 0)
                .unwrap()
                .and_utc()
        };
        let svg = timeline(
            "t",
            "完成情况",
            &[Line {
                label: "县级".into(),
                colour: "#b22222",
                expected: 4,
                arrivals: vec![at(3), at(5)],
            }],
            &[Due {
                label: "县级截止".into(),
                date: NaiveDate::from_ymd_opt(2026, 1, 10).unwrap(),
                colour: "#b22222",
            }],
            start,
            at(7),
        );
        assert!(
            svg.contains("data-received=\"2\" data-expected=\"4\""),
            "{svg}"
        );
        assert!(svg.contains("县级截止 01-10"));
        assert_eq!(svg.matches("class=\"due\"").count(), 1);
    }
}
