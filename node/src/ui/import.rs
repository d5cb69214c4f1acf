//! Import through the page: `POST /import` (multipart, field `file`, plus `csrf`) stores the upload
//! in DIR/uploads/JOB/ and imports it with [`crate::import::import_file_watched`], the same code
//! and the same one transaction as `bangfu-node import`. The page of the job shows rows read while it
//! runs (it reloads itself; `/import/jobs/JOB/progress` answers the same as JSON), then what was
//! read, new, updated, rejected, the refused rows with line, column and reason, and the rejects
//! file to download. Imports run one at a time: a second waits for the first's write lock anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use bangfu_web::Session;
use bangfu_web::http::esc;
use serde::Serialize;
use tokio::io::AsyncWriteExt as _;

use super::{Ui, page};
use crate::import::{self, StreamOutcome};
use crate::settings::Settings;

/// The largest upload taken (a million households in .xlsx is about 150 MB).
pub const MAX_UPLOAD: usize = 1024 * 1024 * 1024;
/// How long `POST /import` waits for a small file to finish before answering with the job page.
const WAIT_FOR_SMALL: Duration = Duration::from_secs(2);
/// Refused rows shown on the page (all of them are in the rejects file).
const SHOWN_REJECTS: usize = 500;

/// The imports of this process, by job id.
#[derive(Clone, Default)]
pub struct Jobs {
    jobs: Arc<Mutex<HashMap<String, Arc<Job>>>>,
    /// One import at a time.
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// One upload being (or having been) imported.
pub struct Job {
    pub id: String,
    pub user: String,
    pub file_name: String,
    started: Instant,
    /// Rows read so far (advanced by the reading thread).
    bar: indicatif::ProgressBar,
    state: Mutex<JobState>,
    done: tokio::sync::Notify,
    dir: PathBuf,
}

#[derive(Clone)]
enum JobState {
    Queued,
    Running,
    Done(Summary),
    Failed(String),
}

#[derive(Clone, Serialize)]
struct Summary {
    encoding: Option<&'static str>,
    streams: Vec<StreamOutcome>,
    rejected: u64,
    #[serde(skip)]
    rejects: Option<PathBuf>,
    elapsed_ms: u128,
}

/// The JSON of `/import/jobs/JOB/progress`.
#[derive(Serialize)]
struct Progress<'a> {
    id: &'a str,
    file: &'a str,
    state: &'static str,
    rows_read: u64,
    elapsed_ms: u128,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn router() -> Router<Ui> {
    Router::new()
        .route("/import", get(form).post(upload))
        .route("/import/jobs/{id}", get(job_page))
        .route("/import/jobs/{id}/progress", get(progress))
        .route("/import/jobs/{id}/rejects.csv", get(rejects))
}

async fn form(State(ui): State<Ui>, session: Session) -> Response {
    let body = format!(
        r#"<section><p>上传困难职工家庭、家庭成员或帮扶记录文件（.xlsx，或 GBK / UTF-8 编码的 .csv），与命令 <code>bangfu-node import</code> 相同：整份文件要么全部导入，要么不做任何修改；不合格的行列在结果中，并可下载。<br><small class="muted">Upload households, family members or aid records (.xlsx, or .csv in GBK or UTF-8); as <code>bangfu-node import</code>: the whole file or nothing; refused rows are listed and can be downloaded.</small></p>
<form method="post" action="/import" enctype="multipart/form-data">{csrf}
<p><input type="file" name="file" accept=".xlsx,.csv" required></p>
<div class="actions"><button class="primary" type="submit">导入 / Import</button></div>
</form></section>{recent}"#,
        csrf = session.csrf_field(),
        recent = recent(&ui.jobs),
    );
    page::render(&ui, &session, "导入 / Import", &body).into_response()
}

fn recent(jobs: &Jobs) -> String {
    let list: Vec<Arc<Job>> = jobs
        .jobs
        .lock()
        .expect("jobs lock")
        .values()
        .cloned()
        .collect();
    if list.is_empty() {
        return String::new();
    }
    let mut list = list;
    list.sort_by_key(|j| std::cmp::Reverse(j.started));
    let rows = list.iter().take(20).map(|j| {
        vec![
            format!(
                "<a href=\"/import/jobs/{}\">{}</a>",
                j.id,
                esc(&j.file_name)
            ),
            esc(&j.user),
            state_label(&j.state.lock().expect("job lock")).to_string(),
        ]
    });
    format!(
        "<section><h2>本次运行的导入 <small>Imports since start</small></h2>{}</section>",
        page::table(&["文件 File", "用户 User", "状态 State"], rows)
    )
}

fn state_label(s: &JobState) -> &'static str {
    match s {
        JobState::Queued => "排队中 / queued",
        JobState::Running => "导入中 / importing",
        JobState::Done(_) => "已完成 / done",
        JobState::Failed(_) => "失败，未做修改 / failed, nothing changed",
    }
}

/// The file name of an upload, kept to letters, digits, CJK and `.-_` (it names a file on disk).
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "upload".to_string()
    } else {
        cleaned
    }
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response()
}

async fn upload(State(ui): State<Ui>, session: Session, mut multipart: Multipart) -> Response {
    let id = hex::encode(rand::random::<[u8; 16]>());
    let dir = ui.data.join("uploads").join(&id);
    let mut csrf = String::new();
    let mut saved: Option<(String, PathBuf)> = None;
    let outcome: Result<(), Response> = async {
        while let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|e| bad_request(&format!("上传中断 / the upload broke off: {e}")))?
        {
            match field.name() {
                Some("csrf") => {
                    csrf = field
                        .text()
                        .await
                        .map_err(|e| bad_request(&e.to_string()))?;
                }
                Some("file") if saved.is_none() => {
                    let name = safe_name(field.file_name().unwrap_or("upload"));
                    crate::private::create_dir(&dir)
                        .map_err(|e| super::failure("保存上传文件", &e))?;
                    let path = dir.join(&name);
                    let file = crate::private::create(&path)
                        .map_err(|e| super::failure("保存上传文件", &e))?;
                    let mut file = tokio::fs::File::from_std(file);
                    while let Some(chunk) = field.chunk().await.map_err(|e| {
                        bad_request(&format!("上传中断 / the upload broke off: {e}"))
                    })? {
                        file.write_all(&chunk)
                            .await
                            .map_err(|e| super::failure("保存上传文件", &e))?;
                    }
                    file.flush()
                        .await
                        .map_err(|e| super::failure("保存上传文件", &e))?;
                    saved = Some((name, path));
                }
                _ => {}
            }
        }
        Ok(())
    }
    .await;
    let cleanup = || {
        let _ = std::fs::remove_dir_all(&dir);
    };
    if let Err(r) = outcome {
        cleanup();
        return r;
    }
    if let Err(r) = session.check_csrf(&csrf) {
        cleanup();
        return r.into_response();
    }
    let Some((name, path)) = saved else {
        cleanup();
        return bad_request("没有选择文件 / no file in the field `file`");
    };
    let lower = name.to_ascii_lowercase();
    if !(lower.ends_with(".csv") || lower.ends_with(".xlsx")) {
        cleanup();
        return bad_request("只接受 .xlsx 或 .csv 文件 / only .xlsx or .csv files are imported");
    }
    let job = Arc::new(Job {
        id: id.clone(),
        user: session.user.clone(),
        file_name: name,
        started: Instant::now(),
        bar: indicatif::ProgressBar::hidden(),
        state: Mutex::new(JobState::Queued),
        done: tokio::sync::Notify::new(),
        dir,
    });
    // Recorded before the import takes the archive's write lock (the log is in the same file).
    if let Err(e) = ui
        .accounts
        .audit(&session.user, &session.client, "import", &job.file_name)
        .await
    {
        tracing::error!(error = %e, "writing the audit log");
    }
    ui.jobs
        .jobs
        .lock()
        .expect("jobs lock")
        .insert(id.clone(), job.clone());
    let notified = job.done.notified();
    tokio::spawn(run(ui.clone(), job.clone(), path));
    // A small file is done at once: answer with its result rather than a progress page.
    let _ = tokio::time::timeout(WAIT_FOR_SMALL, notified).await;
    Redirect::to(&format!("/import/jobs/{id}")).into_response()
}

/// Imports the saved upload, one import at a time; the upload itself is removed afterwards (the
/// archive holds what was valid, the rejects file what was not).
async fn run(ui: Ui, job: Arc<Job>, path: PathBuf) {
    let _turn = ui.jobs.writer.lock().await;
    *job.state.lock().expect("job lock") = JobState::Running;
    let result = import_one(&ui, &job, &path).await;
    let _ = std::fs::remove_file(&path);
    *job.state.lock().expect("job lock") = match result {
        Ok(summary) => JobState::Done(summary),
        Err(e) => JobState::Failed(e),
    };
    job.done.notify_waiters();
}

async fn import_one(ui: &Ui, job: &Job, path: &Path) -> Result<Summary, String> {
    let vocabulary = Settings::vocabulary(&ui.data).map_err(|e| e.to_string())?;
    let ctx = import::Context {
        org: ui.settings.org.clone(),
        vocabulary: &vocabulary,
        today: bangfu_shared::time::local_day(ui.clock.now()),
        progress: false,
    };
    let outcome = import::import_file_watched(&ui.archive, &ctx, path, job.bar.clone())
        .await
        .map_err(|e| {
            // The error names the saved copy; the clerk knows the file by its own name.
            let shown = e
                .to_string()
                .replace(&path.display().to_string(), &job.file_name);
            format!("{shown} (未做任何修改 / nothing was changed)")
        })?;
    Ok(Summary {
        encoding: outcome.encoding,
        rejected: outcome.rejected(),
        streams: outcome.streams,
        rejects: outcome.rejects_file,
        elapsed_ms: job.started.elapsed().as_millis(),
    })
}

fn find(ui: &Ui, id: &str) -> Option<Arc<Job>> {
    ui.jobs.jobs.lock().expect("jobs lock").get(id).cloned()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "没有这个导入任务（服务重启后任务列表清空）/ no such import job (the list is emptied on restart)",
    )
        .into_response()
}

async fn progress(
    State(ui): State<Ui>,
    _session: Session,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let Some(job) = find(&ui, &id) else {
        return not_found();
    };
    let state = job.state.lock().expect("job lock").clone();
    let (word, outcome, error) = match state {
        JobState::Queued => ("queued", None, None),
        JobState::Running => ("running", None, None),
        JobState::Done(s) => ("done", Some(s), None),
        JobState::Failed(e) => ("failed", None, Some(e)),
    };
    axum::Json(Progress {
        id: &job.id,
        file: &job.file_name,
        state: word,
        rows_read: job.bar.position(),
        elapsed_ms: job.started.elapsed().as_millis(),
        outcome,
        error,
    })
    .into_response()
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "households" => "困难职工家庭 / households",
        "members" => "家庭成员 / members",
        "aid" => "帮扶记录 / aid records",
        _ => "",
    }
}

async fn job_page(
    State(ui): State<Ui>,
    session: Session,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let Some(job) = find(&ui, &id) else {
        return not_found();
    };
    let state = job.state.lock().expect("job lock").clone();
    let mut body = format!(
        "<p>文件 / file: <strong>{}</strong> · 上传者 / by {}</p>",
        esc(&job.file_name),
        esc(&job.user)
    );
    let mut refresh = false;
    match state {
        JobState::Queued | JobState::Running => {
            refresh = true;
            body.push_str(&format!(
                r#"<section id="import-progress" data-progress="/import/jobs/{id}/progress"><p>{label}：已读 <strong id="rows-read">{rows}</strong> 行 / rows read · {secs} 秒</p><progress></progress><p class="muted">本页自动刷新 / this page refreshes itself.</p></section>"#,
                id = job.id,
                label = state_label(&state),
                rows = job.bar.position(),
                secs = job.started.elapsed().as_secs(),
            ));
        }
        JobState::Failed(e) => {
            body.push_str(&format!(
                "<div class=\"msg error\" id=\"import-failed\">导入失败 / import failed: {}</div><p><a href=\"/import\">重新上传 / upload again</a></p>",
                esc(&e)
            ));
        }
        JobState::Done(s) => {
            body.push_str(&format!(
                "<div class=\"msg done\" id=\"import-done\">导入完成 / imported{} · {:.1} 秒</div>",
                s.encoding.map(|e| format!(" ({e})")).unwrap_or_default(),
                s.elapsed_ms as f64 / 1000.0
            ));
            let rows = s.streams.iter().map(|st| {
                vec![
                    format!(
                        "{}{}",
                        kind_label(st.kind),
                        st.sheet
                            .as_deref()
                            .map(|n| format!(" ({})", esc(n)))
                            .unwrap_or_default()
                    ),
                    st.rows_read.to_string(),
                    st.rows_new.to_string(),
                    st.rows_updated.to_string(),
                    st.rows_unchanged.to_string(),
                    st.rows_rejected.to_string(),
                ]
            });
            body.push_str(&page::table(
                &[
                    "内容 What",
                    "读取 Read",
                    "新增 New",
                    "更新 Updated",
                    "未变 Unchanged",
                    "拒绝 Rejected",
                ],
                rows,
            ));
            if let Some(path) = &s.rejects {
                body.push_str(&format!(
                    "<h2>不合格的行 <small>Rejected rows</small> ({})</h2><p><a class=\"button\" id=\"rejects-download\" href=\"/import/jobs/{}/rejects.csv\">下载不合格行文件 / download the rejects file</a></p>",
                    s.rejected, job.id
                ));
                body.push_str(&rejects_table(path));
            }
            body.push_str("<p><a href=\"/import\">继续导入 / import another file</a> · <a href=\"/archive\">查看档案 / the archive</a></p>");
        }
    }
    let mut html = page::render(&ui, &session, "导入结果 / Import", &body).0;
    if refresh {
        html = html.replacen(
            "<meta charset=\"utf-8\">",
            "<meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"1\">",
            1,
        );
    }
    axum::response::Html(html).into_response()
}

/// The first rows of the rejects file: line, column, reason.
fn rejects_table(path: &Path) -> String {
    let mut reader = match csv::ReaderBuilder::new().flexible(true).from_path(path) {
        Ok(r) => r,
        Err(e) => {
            return format!(
                "<p class=\"bad\">读取不合格行文件失败 / reading the rejects file: {}</p>",
                esc(&e.to_string())
            );
        }
    };
    let rows = reader
        .records()
        .filter_map(Result::ok)
        .take(SHOWN_REJECTS)
        .map(|r| {
            vec![
                esc(r.get(0).unwrap_or("")),
                esc(r.get(1).unwrap_or("")),
                esc(r.get(2).unwrap_or("")),
            ]
        });
    format!(
        "<div id=\"rejects\">{}</div>",
        page::table(&["行号 Line", "字段 Column", "原因 Reason"], rows)
    )
}

async fn rejects(State(ui): State<Ui>, session: Session, UrlPath(id): UrlPath<String>) -> Response {
    let Some(job) = find(&ui, &id) else {
        return not_found();
    };
    let state = job.state.lock().expect("job lock").clone();
    let JobState::Done(Summary {
        rejects: Some(path),
        ..
    }) = state
    else {
        return not_found();
    };
    debug_assert!(path.starts_with(&job.dir));
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            if let Err(e) = ui
                .accounts
                .audit(
                    &session.user,
                    &session.client,
                    "rejects_download",
                    &job.file_name,
                )
                .await
            {
                tracing::error!(error = %e, "writing the audit log");
            }
            let name = format!("{}.rejects.csv", job.file_name);
            let ascii: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let encoded: String = name
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b == b'.' {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => super::failure("读取不合格行文件", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_name_cannot_leave_its_folder() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("..\\x.csv"), "x.csv");
        assert_eq!(safe_name("困难职工 2026.xlsx"), "困难职工_2026.xlsx");
        assert_eq!(safe_name("..."), "upload");
    }
}
