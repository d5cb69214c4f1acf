//! The official table as CSV: UTF-8 with a byte-order mark, because Excel on a Chinese Windows
//! reads a CSV without one as GBK and shows the labels garbled (docs/decisions.md). A CSV has one
//! sheet, so the sheets follow one another, each opened by a line with its name in 【】, with the
//! same heading, rows and notes as the workbook; a value is the number (or `L–U`, 不公布, 未填).

use super::layout::{COLUMNS, Document, Row};

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

pub fn write(doc: &Document) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(BOM.to_vec());
    for (i, sheet) in doc.sheets.iter().enumerate() {
        if i > 0 {
            w.write_record([""])?;
        }
        w.write_record([format!("【{}】{}", sheet.name, doc.title)])?;
        for line in &sheet.heading {
            w.write_record([line])?;
        }
        w.write_record(COLUMNS)?;
        for row in &sheet.rows {
            match row {
                Row::Section(_) => w.write_record(["", &row.label(), "", ""])?,
                Row::Line {
                    code, unit, shown, ..
                } => w.write_record([code.as_str(), &row.label(), unit, &shown.text()])?,
            }
        }
        for n in &sheet.notes {
            w.write_record([n])?;
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
