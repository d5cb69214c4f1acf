//! The official table as an Excel workbook (rust_xlsxwriter, docs/decisions.md): one worksheet per
//! sheet of the document, laid out for printing on A4 (the province prints, stamps and sends it on).
//! Exact values are numbers with the cell's decimals, so a clerk can sum them; ranges (`L–U`) and
//! the words (不公布, 未填) are text.

use rust_xlsxwriter::{
    DocProperties, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};
use unicode_width::UnicodeWidthStr as _;

use super::layout::{COLUMNS, Document, Row, Sheet, Shown};

/// The font of official forms; WPS and Excel on Chinese systems have it, others substitute.
const FONT: &str = "宋体";
/// Column widths in Excel's character units: code, item, unit, value.
const WIDTHS: [f64; 4] = [8.0, 62.0, 8.0, 16.0];

/// The workbook's bytes.
pub fn write(doc: &Document) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    book.set_properties(&DocProperties::new().set_title(&doc.title));
    let formats = Formats::new();
    for sheet in &doc.sheets {
        let ws = book.add_worksheet();
        write_sheet(ws, doc, sheet, &formats)?;
    }
    book.save_to_buffer()
}

struct Formats {
    title: Format,
    heading: Format,
    column: Format,
    section: Format,
    text: Format,
    label: Format,
    value_text: Format,
    note: Format,
}

impl Formats {
    fn new() -> Formats {
        let base = Format::new().set_font_name(FONT).set_font_size(11);
        let boxed = base.clone().set_border(FormatBorder::Thin);
        Formats {
            title: base
                .clone()
                .set_bold()
                .set_font_size(16)
                .set_align(FormatAlign::Center),
            heading: base.clone(),
            column: boxed
                .clone()
                .set_bold()
                .set_align(FormatAlign::Center)
                .set_background_color("#E7E6E6"),
            section: boxed.clone().set_bold(),
            text: boxed.clone().set_align(FormatAlign::Center),
            label: boxed.clone().set_text_wrap(),
            value_text: boxed.clone().set_align(FormatAlign::Right),
            note: base.set_text_wrap().set_align(FormatAlign::Top),
        }
    }

    /// A number with exactly the cell's decimals.
    fn number(&self, scale: u8) -> Format {
        let decimals = "0".repeat(usize::from(scale));
        let pattern = if decimals.is_empty() {
            "0".to_string()
        } else {
            format!("0.{decimals}")
        };
        self.value_text.clone().set_num_format(pattern)
    }
}

fn write_sheet(
    ws: &mut Worksheet,
    doc: &Document,
    sheet: &Sheet,
    f: &Formats,
) -> Result<(), XlsxError> {
    ws.set_name(&sheet.name)?;
    for (col, w) in WIDTHS.iter().enumerate() {
        ws.set_column_width(col as u16, *w)?;
    }
    ws.set_paper_size(9); // A4
    ws.set_print_fit_to_pages(1, 0);
    ws.set_footer(format!(
        "&C{} 第 &P 页，共 &N 页",
        sheet.name.replace('&', "&&")
    ));

    let last = (COLUMNS.len() - 1) as u16;
    let mut r: u32 = 0;
    ws.set_row_height(r, 24)?;
    ws.merge_range(r, 0, r, last, &doc.title, &f.title)?;
    r += 1;
    for line in &sheet.heading {
        ws.merge_range(r, 0, r, last, line, &f.heading)?;
        r += 1;
    }
    r += 1;
    for (c, h) in COLUMNS.iter().enumerate() {
        ws.write_string_with_format(r, c as u16, *h, &f.column)?;
    }
    // The column headings repeat on every printed page and stay in view on the screen.
    ws.set_repeat_rows(r, r)?;
    ws.set_freeze_panes(r + 1, 0)?;
    r += 1;

    for row in &sheet.rows {
        match row {
            Row::Section(_) => {
                ws.write_string_with_format(r, 0, "", &f.section)?;
                ws.merge_range(r, 1, r, last, &row.label(), &f.section)?;
            }
            Row::Line {
                code, unit, shown, ..
            } => {
                ws.write_string_with_format(r, 0, code, &f.text)?;
                ws.write_string_with_format(r, 1, row.label(), &f.label)?;
                ws.write_string_with_format(r, 2, unit, &f.text)?;
                match shown {
                    Shown::Exact(v) => {
                        ws.write_number_with_format(r, 3, v.to_f64(), &f.number(v.scale()))?;
                    }
                    other => {
                        ws.write_string_with_format(r, 3, other.text(), &f.value_text)?;
                    }
                }
                let lines = lines_of(&row.label(), WIDTHS[1]);
                if lines > 1 {
                    ws.set_row_height(r, 15.0 * lines as f64)?;
                }
            }
        }
        r += 1;
    }

    r += 1;
    let across: f64 = WIDTHS.iter().sum();
    for note in &sheet.notes {
        ws.merge_range(r, 0, r, last, note, &f.note)?;
        ws.set_row_height(r, 15.0 * lines_of(note, across) as f64)?;
        r += 1;
    }
    Ok(())
}

/// How many printed lines `text` takes in a column `width` characters wide (a Chinese character
/// is two), for the row heights Excel does not compute for wrapped or merged cells.
fn lines_of(text: &str, width: f64) -> usize {
    let chars = text.width() as f64;
    ((chars / (width - 1.0)).ceil() as usize).max(1)
}
