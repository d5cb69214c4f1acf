//! Writing the archive back out in the import format (`.csv` or `.xlsx`), so an office can edit it in
//! Excel and import it again unchanged.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;

use crate::archive::Archive;
use crate::columns::{Kind, MONEY_COLUMNS};
use crate::domain::Fen;
use crate::import::rejects::neutralise;
use crate::import::validate::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("export to {0}: only .csv and .xlsx can be written / 只能导出为 .csv 或 .xlsx")]
    UnsupportedExtension(String),
    #[error("writing {path}: {detail}")]
    Write { path: String, detail: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn cell_text(kind: Kind, ci: usize, value: &Option<Value>) -> String {
    match value {
        None => String::new(),
        Some(Value::Text(t)) => t.clone(),
        Some(Value::Int(n)) if MONEY_COLUMNS.contains(&kind.columns()[ci].key) => {
            Fen(*n).to_yuan_string()
        }
        Some(Value::Int(n)) => n.to_string(),
    }
}

/// Where each kind goes when exporting to `out`: households to `out` itself, family members and aid
/// records beside it (`X.csv` → `X.members.csv`, `X.aid.csv`); an `.xlsx` holds all three as sheets.
pub fn csv_path(out: &Path, kind: Kind) -> PathBuf {
    match kind {
        Kind::Households => out.to_path_buf(),
        other => out.with_extension(format!("{}.csv", other.key())),
    }
}

/// Exports the archive; returns the files written.
pub async fn export(archive: &Archive, out: &Path) -> Result<Vec<PathBuf>, Error> {
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => export_csv(archive, out).await,
        Some("xlsx") => export_xlsx(archive, out).await,
        _ => Err(Error::UnsupportedExtension(out.display().to_string())),
    }
}

async fn export_csv(archive: &Archive, out: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for kind in Kind::ALL {
        let path = csv_path(out, kind);
        let failed = |detail: String| Error::Write {
            path: path.display().to_string(),
            detail,
        };
        let tmp = path.with_extension("csv.partial");
        let mut file =
            BufWriter::new(crate::private::create(&tmp).map_err(|e| failed(e.to_string()))?);
        file.write_all(b"\xEF\xBB\xBF")
            .map_err(|e| failed(e.to_string()))?;
        let mut w = csv::Writer::from_writer(file);
        w.write_record(kind.columns().iter().map(|c| c.zh))
            .map_err(|e| failed(e.to_string()))?;
        let mut rows = archive.rows(kind);
        while let Some(row) = rows.try_next().await? {
            let cells = row
                .iter()
                .enumerate()
                .map(|(ci, v)| neutralise(&cell_text(kind, ci, v)));
            w.write_record(cells).map_err(|e| failed(e.to_string()))?;
        }
        w.into_inner()
            .map_err(|e| failed(e.to_string()))?
            .flush()
            .map_err(|e| failed(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| failed(e.to_string()))?;
        written.push(path);
    }
    Ok(written)
}

async fn export_xlsx(archive: &Archive, out: &Path) -> Result<Vec<PathBuf>, Error> {
    let failed = |detail: String| Error::Write {
        path: out.display().to_string(),
        detail,
    };
    let mut book = rust_xlsxwriter::Workbook::new();
    for kind in Kind::ALL {
        let sheet = book
            .add_worksheet_with_constant_memory()
            .map_err(|e| failed(e.to_string()))?;
        sheet
            .set_name(kind.sheet_name())
            .map_err(|e| failed(e.to_string()))?;
        for (ci, c) in kind.columns().iter().enumerate() {
            sheet
                .write_string(0, ci as u16, c.zh)
                .map_err(|e| failed(e.to_string()))?;
        }
        let mut rows = archive.rows(kind);
        let mut r = 1u32;
        while let Some(row) = rows.try_next().await? {
            for (ci, v) in row.iter().enumerate() {
                if v.is_some() {
                    // Strings stay strings: Excel would turn an 18-digit ID number into 1.1E+17.
                    sheet
                        .write_string(r, ci as u16, cell_text(kind, ci, v))
                        .map_err(|e| failed(e.to_string()))?;
                }
            }
            r += 1;
        }
    }
    let tmp = out.with_extension("xlsx.partial");
    // Created 0600 first: the writer truncates and keeps the mode, so the data is never readable by others.
    crate::private::create(&tmp).map_err(|e| failed(e.to_string()))?;
    book.save(&tmp).map_err(|e| failed(e.to_string()))?;
    std::fs::rename(&tmp, out).map_err(|e| failed(e.to_string()))?;
    Ok(vec![out.to_path_buf()])
}
