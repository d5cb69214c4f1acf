//! The rejects file: every refused row as it was, with 行号, 字段 and 原因 in front, beside the input
//! as `FILE.rejects.csv`. UTF-8 with a BOM so that Excel opens it cleanly, and safe to open: a cell
//! that Excel would run as a formula is written as text.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::import::validate::Problem;

/// Where the rejects of `input` go.
pub fn path_for(input: &Path) -> PathBuf {
    let mut name = input
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".rejects.csv");
    input.with_file_name(name)
}

/// Writes rejects to a temporary file that becomes `FILE.rejects.csv` only when the import commits.
pub struct RejectsWriter {
    tmp: PathBuf,
    dest: PathBuf,
    out: csv::Writer<BufWriter<File>>,
    count: u64,
}

impl RejectsWriter {
    pub fn create(input: &Path, header: &[String]) -> std::io::Result<RejectsWriter> {
        let dest = path_for(input);
        let tmp = dest.with_extension("csv.partial");
        let mut file = BufWriter::new(crate::private::create(&tmp)?);
        file.write_all(b"\xEF\xBB\xBF")?;
        let mut out = csv::WriterBuilder::new().flexible(true).from_writer(file);
        let mut first = vec!["行号".to_string(), "字段".to_string(), "原因".to_string()];
        first.extend(
            header
                .iter()
                .map(|h| neutralise(h.trim_start_matches('\u{feff}'))),
        );
        out.write_record(&first)?;
        Ok(RejectsWriter {
            tmp,
            dest,
            out,
            count: 0,
        })
    }

    /// One refused row: all its problems, then its cells as they were.
    pub fn write(
        &mut self,
        line: u64,
        cells: &[String],
        problems: &[Problem],
    ) -> std::io::Result<()> {
        let mut columns: Vec<&str> = problems.iter().map(|p| p.column).collect();
        columns.dedup();
        let reasons: Vec<String> = problems
            .iter()
            .map(|p| format!("{}「{}」: {}", p.column, p.value, p.violation.message()))
            .collect();
        let mut record = vec![
            line.to_string(),
            columns.join("；"),
            neutralise(&reasons.join("；")),
        ];
        record.extend(cells.iter().map(|c| neutralise(c)));
        self.out.write_record(&record)?;
        self.count += 1;
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Puts the file in place (or removes a stale one when nothing was refused).
    pub fn finish(self) -> std::io::Result<Option<PathBuf>> {
        let RejectsWriter {
            tmp,
            dest,
            out,
            count,
        } = self;
        out.into_inner()
            .map_err(|e| e.into_error())?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        if count == 0 {
            std::fs::remove_file(&tmp)?;
            match std::fs::remove_file(&dest) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => return Ok(None),
            }
        }
        std::fs::rename(&tmp, &dest)?;
        Ok(Some(dest))
    }

    /// Drops the temporary file; the previous rejects file, if any, stays as it was.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// CSV formula injection (OWASP): a cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return
/// is run by Excel as a formula. A leading apostrophe makes Excel show it as text.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells_become_text() {
        assert_eq!(
            neutralise("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("-5"), "'-5");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("张三"), "张三");
    }

    #[test]
    fn the_rejects_file_sits_beside_the_input() {
        assert_eq!(
            path_for(Path::new("/x/户.csv")),
            PathBuf::from("/x/户.csv.rejects.csv")
        );
    }
}
