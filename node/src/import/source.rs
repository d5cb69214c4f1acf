//! Reading rows out of the files an office already keeps: CSV in UTF-8 (with or without BOM) or in
//! GBK as Chinese Excel saves it, and `.xlsx` workbooks. Rows stream: memory does not grow with the
//! file.

use std::fs::File;
use std::io::{BufReader, Chain, Cursor, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use calamine::{DataRef, Reader, Xlsx, open_workbook};
use encoding_rs::GB18030;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use sha2::{Digest, Sha256};

use crate::columns::Kind;

/// How far into a CSV file we look to tell its encoding and whether it is text at all.
const SNIFF_BYTES: usize = 64 * 1024;

/// A file that cannot be read as an archive file; nothing has been imported when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source} / 无法读取文件")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is empty / 文件为空")]
    Empty { path: String },
    #[error(
        "{path} is not a CSV text file (it holds binary data); save it from Excel as CSV or .xlsx / 文件不是文本格式"
    )]
    Binary { path: String },
    #[error(
        "{path} looks like an Excel workbook; name it .xlsx / 文件实为 Excel 工作簿，请使用 .xlsx 扩展名"
    )]
    WorkbookNamedCsv { path: String },
    #[error("{path}: only .csv and .xlsx files can be imported / 只能导入 .csv 或 .xlsx 文件")]
    UnsupportedExtension { path: String },
    #[error("{path} is not a readable .xlsx workbook: {detail} / 无法读取 Excel 工作簿")]
    BadWorkbook { path: String, detail: String },
    #[error("{path}, line {line}: {detail} / CSV 格式错误")]
    BadCsv {
        path: String,
        line: u64,
        detail: String,
    },
}

/// The text encoding a CSV file was found to be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Gbk,
}

/// One row as the file has it: its line (CSV) or row number (xlsx), 1-based, and its cells.
#[derive(Debug, Default, Clone)]
pub struct RawRow {
    pub line: u64,
    pub cells: Vec<String>,
}

impl RawRow {
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| c.trim().is_empty())
    }
}

/// A stream of rows of one kind-to-be (one CSV file, or one sheet of a workbook).
pub trait RowSource {
    /// The next row into `row`; `false` at the end.
    fn next_row(&mut self, row: &mut RawRow) -> Result<bool, SourceError>;
}

/// A file opened for import: one or more row streams (a workbook may hold several sheets).
pub enum Opened {
    Csv {
        encoding: Encoding,
        rows: Box<CsvRows>,
    },
    Xlsx {
        sheets: Vec<String>,
        book: Box<Xlsx<BufReader<File>>>,
    },
}

/// Reads a file's SHA-256 (for the import log) without holding it in memory.
pub fn sha256_of(path: &Path) -> Result<String, SourceError> {
    let unreadable = |source| SourceError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(unreadable)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Opens a `.csv` or `.xlsx` file, telling encodings and refusing what is not an archive file.
pub fn open(path: &Path) -> Result<Opened, SourceError> {
    let shown = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") | Some("txt") => open_csv(path, shown),
        Some("xlsx") | Some("xlsm") => open_xlsx(path, shown),
        _ => Err(SourceError::UnsupportedExtension { path: shown }),
    }
}

fn open_csv(path: &Path, shown: String) -> Result<Opened, SourceError> {
    let unreadable = |source| SourceError::Unreadable {
        path: shown.clone(),
        source,
    };
    let digest = Arc::new(Mutex::new(Sha256::new()));
    let mut file = Hashing {
        inner: File::open(path).map_err(unreadable)?,
        digest: Arc::clone(&digest),
    };
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut file)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(unreadable)?;

    let bom = head.starts_with(b"\xEF\xBB\xBF");
    let body = if bom { &head[3..] } else { &head[..] };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(SourceError::Empty { path: shown });
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err(SourceError::WorkbookNamedCsv { path: shown });
    }
    if head.contains(&0) {
        return Err(SourceError::Binary { path: shown });
    }
    let encoding = if bom || looks_like_utf8(body, head.len() == SNIFF_BYTES) {
        Encoding::Utf8
    } else {
        Encoding::Gbk
    };
    let stream = Cursor::new(head).chain(file);
    let input: CsvInput = match encoding {
        Encoding::Utf8 => CsvInput::Utf8(stream),
        // GB18030 is a superset of GBK: what Chinese Excel calls ANSI decodes with it.
        Encoding::Gbk => CsvInput::Gbk(
            DecodeReaderBytesBuilder::new()
                .encoding(Some(GB18030))
                .bom_sniffing(false)
                .build(stream),
        ),
    };
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(CrlfToLf {
            inner: input,
            held_cr: false,
        });
    Ok(Opened::Csv {
        encoding,
        rows: Box::new(CsvRows {
            path: shown,
            reader,
            record: csv::ByteRecord::new(),
            bom,
            digest,
        }),
    })
}

/// Valid UTF-8, allowing a sequence cut off at the end of a truncated sniff.
fn looks_like_utf8(bytes: &[u8], truncated: bool) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => truncated && e.error_len().is_none(),
    }
}

type Sniffed = Chain<Cursor<Vec<u8>>, Hashing>;

/// Hashes the file as it is read, so the import log's SHA-256 costs no second pass.
pub struct Hashing {
    inner: File,
    digest: Arc<Mutex<Sha256>>,
}

impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest
            .lock()
            .expect("the digest is never poisoned")
            .update(&buf[..n]);
        Ok(n)
    }
}

/// The byte stream a CSV file is parsed from: UTF-8 as is, GBK transcoded to UTF-8.
pub enum CsvInput {
    Utf8(Sniffed),
    Gbk(DecodeReaderBytes<Sniffed, Vec<u8>>),
}

impl Read for CsvInput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            CsvInput::Utf8(r) => r.read(buf),
            CsvInput::Gbk(r) => r.read(buf),
        }
    }
}

/// Turns Windows line ends (`\r\n`, as Excel writes) into `\n` before the CSV parser sees them: the
/// parser's record line numbers run one short after every `\r\n`, and the rejects file must name the
/// line an office sees in its editor.
pub struct CrlfToLf<R> {
    inner: R,
    /// A `\r` that ended the previous read, not yet known to be followed by `\n`.
    held_cr: bool,
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.len() < 2 {
            return self.inner.read(buf);
        }
        let start = usize::from(self.held_cr);
        let n = self.inner.read(&mut buf[start..])?;
        if self.held_cr {
            buf[0] = b'\r';
            self.held_cr = false;
            if n == 0 {
                return Ok(1);
            }
        } else if n == 0 {
            return Ok(0);
        }
        let end = start + n;
        if !buf[..end].contains(&b'\r') {
            return Ok(end); // nothing to change: most reads of a Unix-ended file
        }
        let mut out = 0;
        for i in 0..end {
            let b = buf[i];
            if b == b'\r' {
                if i + 1 == end {
                    self.held_cr = true; // decide on the next read
                    continue;
                }
                if buf[i + 1] == b'\n' {
                    continue;
                }
            }
            buf[out] = b;
            out += 1;
        }
        if out == 0 {
            // only a held `\r` came in: read again rather than signal end of file
            return self.read(buf);
        }
        Ok(out)
    }
}

/// The rows of a CSV file.
pub struct CsvRows {
    path: String,
    reader: csv::Reader<CrlfToLf<CsvInput>>,
    record: csv::ByteRecord,
    bom: bool,
    digest: Arc<Mutex<Sha256>>,
}

impl CsvRows {
    /// The SHA-256 of the whole file; call once every row has been read.
    pub fn sha256(&self) -> String {
        hex::encode(
            self.digest
                .lock()
                .expect("the digest is never poisoned")
                .clone()
                .finalize(),
        )
    }
}

impl RowSource for CsvRows {
    fn next_row(&mut self, row: &mut RawRow) -> Result<bool, SourceError> {
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| SourceError::BadCsv {
                path: self.path.clone(),
                line: e.position().map_or(0, |p| p.line()),
                detail: e.to_string(),
            })?;
        if !more {
            return Ok(false);
        }
        row.line = self.record.position().map_or(0, |p| p.line());
        // The cells' strings are reused from row to row: a million-row file would otherwise make
        // tens of millions of small allocations here.
        row.cells.truncate(self.record.len());
        for (i, field) in self.record.iter().enumerate() {
            let field = if i == 0 && row.line == 1 && self.bom {
                field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
            } else {
                field
            };
            let text = std::str::from_utf8(field).map_err(|_| SourceError::BadCsv {
                path: self.path.clone(),
                line: row.line,
                detail: format!(
                    "column {} is not valid UTF-8 text (mixed encodings?)",
                    i + 1
                ),
            })?;
            match row.cells.get_mut(i) {
                Some(cell) => {
                    cell.clear();
                    cell.push_str(text);
                }
                None => row.cells.push(text.to_string()),
            }
        }
        Ok(true)
    }
}

fn open_xlsx(path: &Path, shown: String) -> Result<Opened, SourceError> {
    let meta = std::fs::metadata(path).map_err(|source| SourceError::Unreadable {
        path: shown.clone(),
        source,
    })?;
    if meta.len() == 0 {
        return Err(SourceError::Empty { path: shown });
    }
    let book: Xlsx<_> =
        open_workbook(path).map_err(|e: calamine::XlsxError| SourceError::BadWorkbook {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
    let names = book.sheet_names();
    // Sheets named like a kind are imported, households first; otherwise the first sheet.
    let mut sheets: Vec<String> = Kind::ALL
        .into_iter()
        .filter_map(|k| {
            names
                .iter()
                .find(|n| {
                    k.sheet_aliases()
                        .iter()
                        .any(|a| n.trim().eq_ignore_ascii_case(a))
                })
                .cloned()
        })
        .collect();
    if sheets.is_empty() {
        sheets.extend(names.first().cloned());
    }
    if sheets.is_empty() {
        return Err(SourceError::Empty { path: shown });
    }
    Ok(Opened::Xlsx {
        sheets,
        book: Box::new(book),
    })
}

/// A cell's (row, column) and its text.
type PlacedCell = ((u32, u32), String);

/// The rows of one worksheet, read cell by cell from the workbook's XML.
pub struct SheetRows<'a> {
    path: String,
    cells: calamine::XlsxCellReader<'a, BufReader<File>>,
    pending: Option<PlacedCell>,
    done: bool,
}

impl<'a> SheetRows<'a> {
    pub fn new(
        book: &'a mut Xlsx<BufReader<File>>,
        sheet: &str,
        path: &str,
    ) -> Result<SheetRows<'a>, SourceError> {
        let cells = book
            .worksheet_cells_reader(sheet)
            .map_err(|e| SourceError::BadWorkbook {
                path: path.to_string(),
                detail: e.to_string(),
            })?;
        Ok(SheetRows {
            path: path.to_string(),
            cells,
            pending: None,
            done: false,
        })
    }

    fn next_cell(&mut self) -> Result<Option<PlacedCell>, SourceError> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        if self.done {
            return Ok(None); // the reader must not be asked again past the sheet's end
        }
        let next = self
            .cells
            .next_cell()
            .map_err(|e| SourceError::BadWorkbook {
                path: self.path.clone(),
                detail: e.to_string(),
            })?;
        self.done = next.is_none();
        Ok(next.map(|c| (c.get_position(), cell_text(c.get_value()))))
    }
}

impl RowSource for SheetRows<'_> {
    fn next_row(&mut self, row: &mut RawRow) -> Result<bool, SourceError> {
        row.cells.clear();
        let Some(((r, c), text)) = self.next_cell()? else {
            return Ok(false);
        };
        row.line = u64::from(r) + 1;
        put(&mut row.cells, c as usize, text);
        while let Some(((r2, c2), text)) = self.next_cell()? {
            if r2 != r {
                self.pending = Some(((r2, c2), text));
                break;
            }
            put(&mut row.cells, c2 as usize, text);
        }
        Ok(true)
    }
}

fn put(cells: &mut Vec<String>, col: usize, text: String) {
    if cells.len() <= col {
        cells.resize(col + 1, String::new());
    }
    cells[col] = text;
}

/// A cell as the person typing it meant it: whole numbers without `.0`, dates as YYYY-MM-DD.
fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Empty => String::new(),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => if *b { "是" } else { "否" }.to_string(),
        DataRef::DateTime(dt) => match dt.as_datetime() {
            Some(d) => d.date().format("%Y-%m-%d").to_string(),
            None => dt.as_f64().to_string(),
        },
        DataRef::Error(e) => format!("#{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(input: &[u8], chunk: usize) -> Vec<u8> {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        CrlfToLf {
            inner: Chunks(input, chunk),
            held_cr: false,
        }
        .read_to_end(&mut out)
        .unwrap();
        out
    }

    #[test]
    fn windows_line_ends_become_unix_ones_whatever_the_read_sizes() {
        let input = b"a,b\r\nc,\"d\re\"\r\n\r\nf\r";
        for chunk in 1..8 {
            assert_eq!(
                through(input, chunk),
                b"a,b\nc,\"d\re\"\n\nf\r",
                "chunk {chunk}"
            );
        }
    }
}
