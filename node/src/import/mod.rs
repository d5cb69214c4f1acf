//! Import of households, family members and aid records from the files an office keeps.
//!
//! One import is one transaction: valid rows are stored, refused rows go to the rejects file with
//! the reason, and if anything goes wrong with the file itself (unreadable, not text, a bad header)
//! nothing changes. Reading and validating run on one thread while SQLite writes on another, with a
//! bounded queue between them so memory does not grow with the file.

pub mod rejects;
pub mod source;
pub mod validate;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use bangfu_shared::org::OrgCode;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use tokio::sync::mpsc;

use crate::archive::{self, Archive, ImportLogEntry};
use crate::columns::{Header, HeaderError, Kind};
use rejects::RejectsWriter;
use source::{Opened, RawRow, RowSource, SheetRows, SourceError};
use validate::{Known, Problem, ValidRow, Validator};

/// Valid rows handed from the reading thread to the writer at a time.
const ROWS_PER_MESSAGE: usize = 2_000;
/// Refused rows kept in memory to show on the console (all of them are in the rejects file).
const SHOWN_PROBLEMS: usize = 20;

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{path}: {source}")]
    Header { path: String, source: HeaderError },
    #[error("{path} has no header row / 文件没有表头")]
    NoHeader { path: String },
    #[error("writing the rejects file {path}: {source}")]
    Rejects {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Archive(#[from] archive::Error),
    #[error("the import stopped unexpectedly: {0}")]
    Interrupted(String),
}

/// Who the node is and what it accepts: the settings validation needs.
pub struct Context<'a> {
    pub org: OrgCode,
    pub vocabulary: &'a Vocabulary,
    pub today: NaiveDate,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

/// What one stream (a CSV file, or one sheet of a workbook) did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamOutcome {
    pub kind: &'static str,
    pub sheet: Option<String>,
    pub rows_read: u64,
    pub rows_new: u64,
    pub rows_updated: u64,
    pub rows_unchanged: u64,
    pub rows_rejected: u64,
    #[serde(skip)]
    pub shown: Vec<(u64, Problem)>,
}

/// What an import did, once committed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub file: String,
    pub sha256: String,
    pub encoding: Option<&'static str>,
    pub streams: Vec<StreamOutcome>,
    pub rejects_file: Option<PathBuf>,
}

impl Outcome {
    pub fn rejected(&self) -> u64 {
        self.streams.iter().map(|s| s.rows_rejected).sum()
    }
}

enum Msg {
    Start { kind: Kind },
    Rows { rows: Vec<ValidRow>, new: u64 },
    End { outcome: StreamOutcome },
}

/// Imports one file into the archive. Nothing is stored unless the whole file could be read.
pub async fn import_file(
    archive: &Archive,
    ctx: &Context<'_>,
    path: &Path,
) -> Result<Outcome, Error> {
    import_file_watched(archive, ctx, path, progress_bar(ctx.progress)).await
}

/// [`import_file`] advancing `bar` (rows read) as it goes: the office UI passes a hidden bar and
/// reads its position for the page's progress view; the command line passes the terminal's.
pub async fn import_file_watched(
    archive: &Archive,
    ctx: &Context<'_>,
    path: &Path,
    bar: indicatif::ProgressBar,
) -> Result<Outcome, Error> {
    let known = archive.known().await?;
    let mut tx = archive.begin().await?;
    let (send, mut recv) = mpsc::channel::<Msg>(4);
    // Written batches go back to the reading thread to be freed there: glibc frees a thread's own
    // allocations quickly, and other threads' slowly.
    let (spent, spent_recv) = std::sync::mpsc::channel::<Vec<ValidRow>>();
    let reading = {
        let path = path.to_path_buf();
        let (org, vocabulary, today) = (ctx.org.clone(), ctx.vocabulary.clone(), ctx.today);
        tokio::task::spawn_blocking(move || {
            read_file(&path, &vocabulary, org, today, known, bar, send, spent_recv)
        })
    };

    let mut changed_by_stream = Vec::new();
    let mut current: Option<(Kind, u64, u64)> = None; // kind, changed, new
    let mut write_error = None;
    while let Some(msg) = recv.recv().await {
        match msg {
            Msg::Start { kind } => current = Some((kind, 0, 0)),
            Msg::Rows { mut rows, new } => {
                let Some((kind, changed, new_total)) = current.as_mut() else {
                    continue;
                };
                match archive::upsert(&mut tx, *kind, &mut rows).await {
                    Ok(n) => {
                        *changed += n;
                        *new_total += new;
                        let _ = spent.send(rows);
                    }
                    Err(e) => {
                        write_error = Some(e);
                        break; // dropping the receiver stops the reader
                    }
                }
            }
            Msg::End { outcome } => {
                if let Some((_, changed, new)) = current.take() {
                    changed_by_stream.push((outcome, changed, new));
                }
            }
        }
    }
    drop(recv);
    let read = reading
        .await
        .map_err(|e| Error::Interrupted(e.to_string()))?;
    let (file, encoding, rejects) = match (read, write_error) {
        (Ok(r), None) => r,
        (Err(e), _) => return Err(e), // tx dropped: rolled back
        (Ok((_, _, rejects)), Some(e)) => {
            rejects.abandon();
            return Err(e.into());
        }
    };

    let sha256 = file.sha256;
    let imported_at = bangfu_shared::time::in_shanghai(chrono::Utc::now()).to_rfc3339();
    let mut streams = Vec::new();
    for (mut outcome, changed, new) in changed_by_stream {
        let valid = outcome.rows_read - outcome.rows_rejected;
        if outcome.kind == Kind::Households.key() {
            outcome.rows_new = new;
            outcome.rows_updated = changed.saturating_sub(new);
        } else {
            outcome.rows_new = changed;
        }
        outcome.rows_unchanged = valid - outcome.rows_new - outcome.rows_updated;
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.key() == outcome.kind)
            .expect("a known kind");
        let entry = ImportLogEntry {
            file_name: file.name.clone(),
            sha256: sha256.clone(),
            kind,
            imported_at: imported_at.clone(),
            rows_read: outcome.rows_read,
            rows_new: outcome.rows_new,
            rows_updated: outcome.rows_updated,
            rows_unchanged: outcome.rows_unchanged,
            rows_rejected: outcome.rows_rejected,
        };
        archive::log_import(&mut tx, &entry).await?;
        streams.push(outcome);
    }
    let shown_path = path.display().to_string();
    tx.commit().await.map_err(archive::Error::from)?;
    let rejects_file = rejects.finish().map_err(|source| Error::Rejects {
        path: shown_path,
        source,
    })?;
    Ok(Outcome {
        file: path.display().to_string(),
        sha256,
        encoding,
        streams,
        rejects_file,
    })
}

struct FileFacts {
    name: String,
    sha256: String,
}

/// The reading thread: rows out of the file, through validation, into batches and the rejects file.
/// (It owns everything it is handed: it runs on a thread of its own.)
#[allow(clippy::too_many_arguments)]
fn read_file(
    path: &Path,
    vocabulary: &Vocabulary,
    org: OrgCode,
    today: NaiveDate,
    known: Known,
    bar: indicatif::ProgressBar,
    send: mpsc::Sender<Msg>,
    spent: std::sync::mpsc::Receiver<Vec<ValidRow>>,
) -> Result<(FileFacts, Option<&'static str>, RejectsWriter), Error> {
    let shown = path.display().to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rejects: Option<RejectsWriter> = None;
    let result = (|| {
        let opened = source::open(path)?;
        let (encoding, sha256) = match opened {
            Opened::Csv { encoding, mut rows } => {
                let enc = match encoding {
                    source::Encoding::Utf8 => "UTF-8",
                    source::Encoding::Gbk => "GBK",
                };
                let stream = Stream {
                    path,
                    shown: &shown,
                    sheet: None,
                    vocabulary,
                    org: &org,
                    today,
                    bar: &bar,
                    spent: &spent,
                };
                stream.run(rows.as_mut(), known, &mut rejects, &send)?;
                (Some(enc), rows.sha256())
            }
            Opened::Xlsx { sheets, mut book } => {
                let mut known = known;
                for sheet in &sheets {
                    let mut rows = SheetRows::new(&mut book, sheet, &shown)?;
                    let stream = Stream {
                        path,
                        shown: &shown,
                        sheet: Some(sheet.clone()),
                        vocabulary,
                        org: &org,
                        today,
                        bar: &bar,
                        spent: &spent,
                    };
                    known = stream.run(&mut rows, known, &mut rejects, &send)?;
                }
                (None, source::sha256_of(path)?)
            }
        };
        Ok((encoding, sha256))
    })();
    bar.finish_and_clear();
    match result {
        Ok((encoding, sha256)) => {
            let rejects = match rejects {
                Some(r) => r,
                None => RejectsWriter::create(path, &[]).map_err(|source| Error::Rejects {
                    path: shown,
                    source,
                })?,
            };
            Ok((FileFacts { name, sha256 }, encoding, rejects))
        }
        Err(e) => {
            if let Some(r) = rejects {
                r.abandon();
            }
            Err(e)
        }
    }
}

struct Stream<'a> {
    path: &'a Path,
    shown: &'a str,
    sheet: Option<String>,
    vocabulary: &'a Vocabulary,
    org: &'a OrgCode,
    today: NaiveDate,
    bar: &'a indicatif::ProgressBar,
    spent: &'a std::sync::mpsc::Receiver<Vec<ValidRow>>,
}

impl Stream<'_> {
    fn run(
        self,
        rows: &mut dyn RowSource,
        known: Known,
        rejects: &mut Option<RejectsWriter>,
        send: &mpsc::Sender<Msg>,
    ) -> Result<Known, Error> {
        let mut row = RawRow::default();
        let header = loop {
            if !rows.next_row(&mut row)? {
                return Err(Error::NoHeader {
                    path: self.shown.to_string(),
                });
            }
            if !row.is_blank() {
                break Header::parse(&row.cells).map_err(|source| Error::Header {
                    path: self.where_(),
                    source,
                })?;
            }
        };
        let kind = header.kind;
        if rejects.is_none() {
            let w = RejectsWriter::create(self.path, &header.original)
                .map_err(|source| self.rejects_error(source))?;
            *rejects = Some(w);
        }
        let rejects = rejects.as_mut().expect("created above");
        let stop = || Error::Interrupted("the archive writer stopped".into());
        send.blocking_send(Msg::Start { kind })
            .map_err(|_| stop())?;

        let staff_col = header.positions[kind.index_of("staff_no")];
        let mut validator =
            Validator::new(header, self.vocabulary, self.org.clone(), self.today, known);
        let mut outcome = StreamOutcome {
            kind: kind.key(),
            sheet: self.sheet.clone(),
            rows_read: 0,
            rows_new: 0,
            rows_updated: 0,
            rows_unchanged: 0,
            rows_rejected: 0,
            shown: Vec::new(),
        };
        let mut batch = Vec::with_capacity(ROWS_PER_MESSAGE);
        let mut new_in_batch = 0;
        while rows.next_row(&mut row)? {
            if row.is_blank() {
                continue;
            }
            outcome.rows_read += 1;
            let was_known = staff_col
                .and_then(|p| row.cells.get(p))
                .is_some_and(|s| validator.is_known(s.trim()));
            match validator.check(&row.cells) {
                Ok(valid) => {
                    new_in_batch += u64::from(!was_known);
                    batch.push(valid);
                    if batch.len() == ROWS_PER_MESSAGE {
                        while let Ok(done) = self.spent.try_recv() {
                            drop(done);
                        }
                        let rows =
                            std::mem::replace(&mut batch, Vec::with_capacity(ROWS_PER_MESSAGE));
                        send.blocking_send(Msg::Rows {
                            rows,
                            new: new_in_batch,
                        })
                        .map_err(|_| stop())?;
                        new_in_batch = 0;
                    }
                }
                Err(problems) => {
                    outcome.rows_rejected += 1;
                    rejects
                        .write(row.line, &row.cells, &problems)
                        .map_err(|source| self.rejects_error(source))?;
                    for p in problems {
                        if outcome.shown.len() < SHOWN_PROBLEMS {
                            outcome.shown.push((row.line, p));
                        }
                    }
                }
            }
            if outcome.rows_read.is_multiple_of(4096) {
                self.bar.set_position(outcome.rows_read);
            }
        }
        if !batch.is_empty() {
            send.blocking_send(Msg::Rows {
                rows: batch,
                new: new_in_batch,
            })
            .map_err(|_| stop())?;
        }
        send.blocking_send(Msg::End { outcome })
            .map_err(|_| stop())?;
        Ok(validator.into_known())
    }

    fn where_(&self) -> String {
        match &self.sheet {
            Some(s) => format!("{} (sheet {s})", self.shown),
            None => self.shown.to_string(),
        }
    }

    fn rejects_error(&self, source: std::io::Error) -> Error {
        Error::Rejects {
            path: rejects::path_for(self.path).display().to_string(),
            source,
        }
    }
}

fn progress_bar(wanted: bool) -> indicatif::ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {pos} rows read / 已读 {pos} 行  {per_sec}  {elapsed}",
        )
        .expect("a valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
