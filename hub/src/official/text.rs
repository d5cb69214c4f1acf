//! The official table as text for a terminal or a plain-text mail: the sheets one after another,
//! columns lined up by display width (a Chinese character takes two columns).

use unicode_width::UnicodeWidthStr as _;

use super::layout::{COLUMNS, Document, Row};

pub fn write(doc: &Document) -> String {
    let mut out = String::new();
    for (i, sheet) in doc.sheets.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("【{}】{}\n", sheet.name, doc.title));
        for line in &sheet.heading {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        let mut lines: Vec<[String; 4]> = vec![COLUMNS.map(str::to_string)];
        for row in &sheet.rows {
            lines.push(match row {
                Row::Section(_) => [String::new(), row.label(), String::new(), String::new()],
                Row::Line {
                    code, unit, shown, ..
                } => [code.clone(), row.label(), unit.clone(), shown.text()],
            });
        }
        let mut widths = [0usize; 4];
        for l in &lines {
            for (w, cell) in widths.iter_mut().zip(l) {
                *w = (*w).max(cell.width());
            }
        }
        for l in &lines {
            let mut s = String::new();
            for (c, (cell, w)) in l.iter().zip(widths).enumerate() {
                let pad = " ".repeat(w - cell.width());
                match c {
                    // The value column is right-aligned, as figures are.
                    3 => s.push_str(&format!("{pad}{cell}")),
                    _ => s.push_str(&format!("{cell}{pad}  ")),
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        }
        if !sheet.notes.is_empty() {
            out.push('\n');
            for n in &sheet.notes {
                out.push_str(n);
                out.push('\n');
            }
        }
    }
    out
}
