//! The pieces every page is made of: escaping, a cell as a person reads it, the page shell.

use crate::rollup::RollupCell;

use super::assets::{LIVE_JS, STYLE_CSS};

/// Text for HTML, its control characters shown as escapes (as on the command line).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in bangfu_shared::printable::printable(s).chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A cell as a person reads it: the value, a range `L – U` (`≥ L` when unbounded), or 不公布.
pub fn cell_text(c: Option<&RollupCell>) -> String {
    match c {
        Some(RollupCell::Value { value }) => value.to_string(),
        Some(RollupCell::Range {
            lower,
            upper: Some(u),
        }) => format!("{lower} – {u}"),
        Some(RollupCell::Range { lower, upper: None }) => format!("≥ {lower}"),
        Some(RollupCell::Suppressed { .. }) => "不公布 withheld".into(),
        None => "—".into(),
    }
}

/// A whole page: zh-CN, sized for a phone as well as a 1366×768 screen, the dashboard's style, and
/// the live script when `live`.
pub fn shell(title: &str, body: &str, live: bool) -> String {
    let script = if live {
        format!("<script src=\"{LIVE_JS}\"></script>")
    } else {
        String::new()
    };
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"{STYLE_CSS}\"></head>\
         <body>{body}{script}</body></html>",
        esc(title)
    )
}

/// The bar above every page: the hub's name and the logout form (a POST with the session's CSRF
/// token: a link could be followed by another site).
pub fn top(name: &str, who: &super::access::Session) -> String {
    format!(
        "<header class=\"top\"><a href=\"/\">{} · 帮扶统计</a><form method=\"post\" action=\"/logout\">\
         <span>{} ({})</span>{}<button>退出 log out</button></form></header>",
        esc(name),
        esc(&who.user),
        esc(&who.role),
        who.csrf_field()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn a_cell_reads_as_value_range_or_withheld() {
        use bangfu_shared::decimal::Decimal;
        let d = |n| Decimal::new(n, 0);
        assert_eq!(cell_text(Some(&RollupCell::Value { value: d(12) })), "12");
        assert_eq!(
            cell_text(Some(&RollupCell::Range {
                lower: d(3),
                upper: Some(d(9))
            })),
            "3 – 9"
        );
        assert_eq!(
            cell_text(Some(&RollupCell::Range {
                lower: d(3),
                upper: None
            })),
            "≥ 3"
        );
        assert_eq!(cell_text(None), "—");
    }
}
