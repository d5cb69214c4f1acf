//! The office UI (`bangfu-node serve --ui ADDR`, issue 17): server-rendered pages for the union
//! office's clerks, behind the login of `bangfu-web` (one account implementation with the hub's
//! dashboard). One module per page: [`home`] (the parent's answers), [`import`] (upload, progress,
//! rejects), [`figures`] (填报 and 报送), [`report`] (what leaves), [`archive`] (counts,
//! eligibility, search, one household, each view in the access log).
//!
//! No page is served without a session (the middleware of `bangfu_web::require_login`); every
//! POST carries the session's CSRF token. No inline script: the CSP allows scripts from this site
//! only, and the one script ([`assets`]) only adds the rule checks as the clerk types.

pub mod archive;
pub mod assets;
pub mod figures;
pub mod home;
pub mod import;
pub mod page;
pub mod report;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bangfu_shared::time::Clock;
use tokio::net::TcpListener;

use crate::archive::{self as store, Archive};
use crate::parent::Parent;
use crate::settings::Settings;

/// The node's accounts: the tables of node migration 0007 in archive.db, opened through
/// `sqlx::Any` (the one query set bangfu-web runs on the hub's store too). Opening the archive
/// first applies the migrations, so the tables exist.
pub async fn accounts(data: &Path) -> anyhow::Result<bangfu_web::Accounts> {
    let archive = Archive::open(data, false).await?;
    archive.close().await;
    open_accounts(data).await
}

async fn open_accounts(data: &Path) -> anyhow::Result<bangfu_web::Accounts> {
    bangfu_web::Accounts::open_sqlite(&data.join(store::FILE_NAME), bangfu_web::roles::NODE)
        .await
        .context("opening the accounts tables")
}

/// What every page handler reads: the node, its archive, its accounts.
#[derive(Clone)]
pub struct Ui {
    pub data: PathBuf,
    pub settings: Arc<Settings>,
    pub archive: Archive,
    pub accounts: bangfu_web::Accounts,
    pub parent: Option<Parent>,
    pub clock: Arc<dyn Clock>,
    pub jobs: import::Jobs,
}

impl FromRef<Ui> for bangfu_web::Accounts {
    fn from_ref(ui: &Ui) -> bangfu_web::Accounts {
        ui.accounts.clone()
    }
}

impl Ui {
    /// The UI of the node in `data`, on the daemon's archive pool.
    pub async fn new(
        data: &Path,
        settings: Settings,
        archive: Archive,
        parent: Option<Parent>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Ui> {
        let accounts = open_accounts(data).await?.with_clock(clock.clone());
        Ok(Ui {
            data: data.to_path_buf(),
            settings: Arc::new(settings),
            archive,
            accounts,
            parent,
            clock,
            jobs: import::Jobs::default(),
        })
    }
}

/// Every route: `/login` and `/static/*` open, everything else behind a session.
pub fn router(ui: Ui) -> Router {
    let protected = Router::new()
        .merge(home::router())
        .merge(import::router())
        .merge(figures::router())
        .merge(report::router())
        .merge(archive::router())
        .layer(axum::middleware::from_fn_with_state(
            ui.accounts.clone(),
            bangfu_web::require_login,
        ));
    Router::new()
        .merge(bangfu_web::http::router())
        .merge(assets::router())
        .merge(protected)
        .layer(axum::extract::DefaultBodyLimit::max(import::MAX_UPLOAD))
        .layer(axum::middleware::from_fn(
            bangfu_web::http::security_headers,
        ))
        .with_state(ui)
}

/// Serves the UI on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, ui: Ui) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(ui).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// An error page for a person, with the details in the log, not the page.
pub fn failure(what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "text/plain; charset=utf-8")],
        format!("{what}失败，请稍后再试或联系管理员 / {what} failed: {e}"),
    )
        .into_response()
}
