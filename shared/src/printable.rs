//! Text someone else sent (a child's or a parent's), made safe to print: control characters and
//! the bidirectional overrides that reorder a line are shown as `\u{…}` escapes, so a terminal
//! never runs an escape sequence from a report (clear the screen, print a green "ALL OK") and a
//! line cannot be faked by a carriage return or a newline inside a field.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as itself.
fn hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control character (newlines too) and bidi override escaped as `\u{1b}`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hostile(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Several lines of text, each line made [`printable`] and the line breaks kept.
pub fn printable_lines(s: &str) -> String {
    s.split('\n')
        .map(|l| printable(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_and_line_tricks_are_shown_not_run() {
        let hostile = "\u{1b}[2J\u{1b}[32m审核通过 ALL OK\r\nx\u{202e}y";
        let shown = printable(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert_eq!(
            shown,
            "\\u{1b}[2J\\u{1b}[32m审核通过 ALL OK\\u{d}\\u{a}x\\u{202e}y"
        );
        assert!(matches!(printable("京山县 3B ≥ 0"), Cow::Borrowed(_)));
        assert_eq!(printable_lines("a\u{7}\nb"), "a\\u{7}\nb");
    }
}
