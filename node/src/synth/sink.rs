//! Where generated rows go: a CSV file (UTF-8 with a BOM, or GBK as Chinese Excel saves it) or a
//! one-sheet xlsx workbook, written row by row so memory does not grow with the archive.
//!
//! Files are written under a temporary name and renamed only when the whole run has succeeded, so a
//! failed run leaves nothing half-written behind (CONTRACT.md, "Binaries").

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rust_xlsxwriter::Workbook;

use super::Format;
// Money and 家庭人口 are written as number cells, as an office types them.
use crate::columns::{Kind, MONEY_COLUMNS};

/// Rows in an Excel worksheet, the header included.
const XLSX_MAX_ROWS: u32 = 1_048_576;

enum Writer {
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Xlsx {
        workbook: Box<Workbook>,
        numeric: Vec<bool>,
    },
}

/// One output file of one kind, with its header already written.
pub(crate) struct Table {
    writer: Writer,
    /// The file name as the manifest names it (`households.csv`).
    pub(crate) file_name: String,
    temp: PathBuf,
    path: PathBuf,
    /// Data rows written so far.
    rows: u32,
}

impl Table {
    pub(crate) fn create(dir: &Path, kind: Kind, format: Format) -> anyhow::Result<Table> {
        let ext = if format == Format::Xlsx {
            "xlsx"
        } else {
            "csv"
        };
        let file_name = format!("{}.{ext}", kind.key());
        let path = dir.join(&file_name);
        let temp = dir.join(format!(".{file_name}.partial"));
        let writer = match format {
            Format::Csv | Format::CsvGbk => Writer::Csv(Box::new(csv_writer(&temp, format)?)),
            Format::Xlsx => {
                let mut workbook = Box::new(Workbook::new());
                let sheet = workbook
                    .add_worksheet_with_constant_memory()
                    .context("adding a worksheet")?;
                sheet
                    .set_name(kind.sheet_name())
                    .context("naming the worksheet")?;
                let numeric = kind
                    .columns()
                    .iter()
                    .map(|c| MONEY_COLUMNS.contains(&c.key) || c.key == "household_size")
                    .collect();
                Writer::Xlsx { workbook, numeric }
            }
        };
        let mut table = Table {
            writer,
            file_name,
            temp,
            path,
            rows: 0,
        };
        let header: Vec<&str> = kind.columns().iter().map(|c| c.zh).collect();
        table
            .write_cells(0, &header)
            .with_context(|| format!("writing the header of {}", table.file_name))?;
        Ok(table)
    }

    /// Writes one data row and returns its line number (the header is line 1).
    pub(crate) fn write(&mut self, cells: &[&str]) -> anyhow::Result<u32> {
        self.rows += 1;
        if matches!(self.writer, Writer::Xlsx { .. }) && self.rows >= XLSX_MAX_ROWS {
            anyhow::bail!(
                "{} would have more rows than an xlsx sheet holds ({XLSX_MAX_ROWS}); use CSV for an \
                 archive this large / xlsx 工作表行数超过上限，请改用 CSV",
                self.file_name
            );
        }
        self.write_cells(self.rows, cells)
            .with_context(|| format!("writing {}", self.file_name))?;
        Ok(self.rows + 1)
    }

    fn write_cells(&mut self, row: u32, cells: &[&str]) -> anyhow::Result<()> {
        match &mut self.writer {
            Writer::Csv(w) => w.write_record(cells)?,
            Writer::Xlsx { workbook, numeric } => {
                let sheet = workbook.worksheet_from_index(0)?;
                for (col, (&text, &is_number)) in cells.iter().zip(numeric.iter()).enumerate() {
                    let col = u16::try_from(col).context("too many columns")?;
                    // A header is always text; blank cells stay blank, as Excel leaves them.
                    match text.parse::<f64>() {
                        _ if text.is_empty() => {}
                        Ok(n) if row > 0 && is_number && n.is_finite() => {
                            sheet.write_number(row, col, n)?;
                        }
                        _ => {
                            sheet.write_string(row, col, text)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Flushes or saves the file under its temporary name; [`Table::commit`] gives it its real one.
    pub(crate) fn finish(self) -> anyhow::Result<Finished> {
        let Table {
            writer,
            file_name,
            temp,
            path,
            ..
        } = self;
        match writer {
            Writer::Csv(mut w) => w.flush().with_context(|| format!("writing {file_name}"))?,
            Writer::Xlsx { mut workbook, .. } => workbook
                .save(&temp)
                .with_context(|| format!("saving {file_name}"))?,
        }
        Ok(Finished { temp, path })
    }

    pub(crate) fn temp_path(&self) -> &Path {
        &self.temp
    }
}

/// A complete file still under its temporary name.
pub(crate) struct Finished {
    temp: PathBuf,
    path: PathBuf,
}

impl Finished {
    pub(crate) fn commit(self) -> anyhow::Result<PathBuf> {
        fs::rename(&self.temp, &self.path).with_context(|| {
            format!(
                "renaming {} to {}",
                self.temp.display(),
                self.path.display()
            )
        })?;
        Ok(self.path)
    }
}

fn csv_writer(temp: &Path, format: Format) -> anyhow::Result<csv::Writer<Box<dyn Write>>> {
    let file = File::create(temp).with_context(|| format!("creating {}", temp.display()))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let inner: Box<dyn Write> = if format == Format::CsvGbk {
        Box::new(GbkWriter::new(out))
    } else {
        // Excel recognises UTF-8 only by its byte-order mark.
        out.write_all("\u{feff}".as_bytes())
            .with_context(|| format!("writing {}", temp.display()))?;
        Box::new(out)
    };
    // Excel writes CRLF line ends; so do we.
    Ok(csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(inner))
}

/// Re-encodes the UTF-8 the CSV writer produces into GBK. The CSV writer may cut a character in
/// two between calls, so an incomplete tail waits for the next call.
struct GbkWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
    cache: GbkCache,
    out: Vec<u8>,
}

impl<W: Write> GbkWriter<W> {
    fn new(inner: W) -> GbkWriter<W> {
        GbkWriter {
            inner,
            pending: Vec::new(),
            cache: GbkCache::default(),
            out: Vec::new(),
        }
    }
}

impl<W: Write> Write for GbkWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let complete = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => return Err(io::Error::new(io::ErrorKind::InvalidData, "not UTF-8")),
        };
        let text = std::str::from_utf8(&self.pending[..complete]).expect("checked above");
        self.out.clear();
        for c in text.chars() {
            self.cache.encode(c, &mut self.out)?;
        }
        self.inner.write_all(&self.out)?;
        self.pending.drain(..complete);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "text ends inside a character",
            ));
        }
        self.inner.flush()
    }
}

/// GBK bytes per character, asked of encoding_rs once per character: its GBK encoder searches a
/// table for every Hanzi, and a generated archive uses only a few hundred distinct characters.
struct GbkCache {
    /// The CJK Unified Ideographs block, indexed from U+4E00; `[0, 0]` is not yet known.
    hanzi: Vec<[u8; 2]>,
    /// Everything else that is not ASCII (full-width punctuation such as （ ） 、).
    other: std::collections::BTreeMap<char, Vec<u8>>,
}

const HANZI: std::ops::Range<u32> = 0x4E00..0xA000;

impl Default for GbkCache {
    fn default() -> GbkCache {
        GbkCache {
            hanzi: vec![[0, 0]; HANZI.len()],
            other: Default::default(),
        }
    }
}

impl GbkCache {
    fn encode(&mut self, c: char, out: &mut Vec<u8>) -> io::Result<()> {
        if c.is_ascii() {
            out.push(c as u8);
            return Ok(());
        }
        if HANZI.contains(&(c as u32)) {
            let slot = (c as u32 - HANZI.start) as usize;
            if self.hanzi[slot] == [0, 0] {
                let bytes = encode_one(c)?;
                let [a, b] = bytes[..] else {
                    return Err(io::Error::other(format!("`{c}` is not two bytes in GBK")));
                };
                self.hanzi[slot] = [a, b];
            }
            out.extend_from_slice(&self.hanzi[slot]);
            return Ok(());
        }
        let bytes = match self.other.entry(c) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(encode_one(c)?),
        };
        out.extend_from_slice(bytes);
        Ok(())
    }
}

fn encode_one(c: char) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 4];
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(c.encode_utf8(&mut buf));
    if unmappable {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{c}` cannot be written in GBK / 该字符无法以GBK编码保存"),
        ));
    }
    Ok(bytes.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_between_writes_is_encoded_whole() {
        let text = "职工编号,困难类别（低保户）、其他\r\n";
        let mut w = GbkWriter::new(Vec::new());
        for chunk in text.as_bytes().chunks(2) {
            w.write_all(chunk).unwrap();
        }
        w.flush().unwrap();
        assert_eq!(w.inner, encoding_rs::GBK.encode(text).0.into_owned());
    }

    #[test]
    fn a_character_gbk_lacks_is_an_error() {
        let mut w = GbkWriter::new(Vec::new());
        assert!(w.write_all("😀".as_bytes()).is_err());
    }
}
