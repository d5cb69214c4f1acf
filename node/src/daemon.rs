//! The node's daemon (`bangfu-node serve`) as library code: [`Daemon::build`] loads the settings and
//! the archive and binds the pull listener (port 0 works, [`Daemon::pull_address`] says which);
//! [`Daemon::run_until_stopped`] runs rounds every `interval` until the given future completes:
//! campaign sync, a new version of each open campaign's report when it changed (not of a table with
//! figures typed in by the office: that one waits for the office's 报送), the outbox's due
//! deliveries, the parent's reviews and reminders. A pull server that fails ends the run with its
//! error; nothing here ends the process.
//!
//! What a round did is said through [`Options::say`], one line per event, so the operator reads a
//! blocked report or a failing sync once, when it starts or changes, not every round.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bangfu_shared::protocol::Version;
use bangfu_shared::time::{Clock, SystemClock};
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;

use crate::archive::{self, Archive};
use crate::parent::Parent;
use crate::settings::{self, Settings};
use crate::{campaigns, outbox, pull_server, reminders, reporting, reviews};

/// Campaigns whose end is at most this far past are still reported on (late reports and corrections).
pub const REPORT_WINDOW_DAYS: i64 = 60;

/// Where the daemon says what it did: one line per event.
pub type Say = Arc<dyn Fn(&str) + Send + Sync>;

/// How the daemon runs (`bangfu-node serve`'s flags).
#[derive(Clone)]
pub struct Options {
    /// Time between rounds.
    pub interval: Duration,
    /// Serve the parent's pulls on this address (mutual TLS with the node's identity).
    pub listen: Option<String>,
    /// Keep reports in the outbox instead of pushing them (the parent pulls).
    pub no_push: bool,
    /// Serve the office UI (crate::ui) on this address, plain HTTP (127.0.0.1:PORT).
    pub ui: Option<String>,
    pub say: Say,
}

/// Why the daemon did not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] settings::Error),
    #[error(transparent)]
    Archive(#[from] archive::Error),
    #[error("loading the parent connection (bangfu-node connect): {0}")]
    Parent(#[source] bangfu_client::Error),
    #[error(
        "serve --listen needs the node's TLS identity: run `bangfu-node connect --parent URL --tls DIR` first / 需先配置证书"
    )]
    NoIdentity,
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    PullServer(#[from] pull_server::Error),
    #[error("the pull server stopped: {0}")]
    PullServerGone(String),
    #[error("the office UI: {0}")]
    Ui(String),
    #[error(transparent)]
    Campaigns(#[from] campaigns::Error),
    #[error(transparent)]
    Outbox(#[from] outbox::Error),
}

/// Why a campaign's report was not versioned: the report could not be built, or it is blocked.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(transparent)]
    Settings(#[from] settings::Error),
    #[error("building the report of campaign `{id}`: {source}")]
    Report {
        id: String,
        #[source]
        source: reporting::Error,
    },
    #[error("campaign `{id}`: not versioned, nothing sent / 未生成新版本: {source}")]
    Outbox {
        id: String,
        #[source]
        source: outbox::Error,
    },
}

impl VersionError {
    /// What stopped it, without the campaign it is about (the daemon's line names the campaign).
    pub fn cause(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            VersionError::Settings(e) => e,
            VersionError::Report { source, .. } => source,
            VersionError::Outbox { source, .. } => source,
        }
    }
}

/// The parent client, if this node is connected: pinned to the parent's org, so a certificate of
/// any other org at the parent's URL fails the handshake before anything is sent.
pub fn parent_of(settings: &Settings) -> Result<Option<Parent>, bangfu_client::Error> {
    match (&settings.parent, &settings.tls) {
        (Some(url), Some(tls)) => {
            Parent::pinned(url, tls, settings.parent_org().as_ref()).map(Some)
        }
        _ => Ok(None),
    }
}

/// Syncs campaigns from the parent. `Ok(Some(line))` says what changed, `Ok(None)` nothing; a
/// failure is one line for a person (the outbox still runs after it).
pub async fn sync_campaigns(
    parent: &Parent,
    archive: &Archive,
    settings: &Settings,
) -> Result<Option<String>, String> {
    match campaigns::sync(parent, archive, &settings.org).await {
        Ok(Some(s)) if s.added + s.updated > 0 => Ok(Some(format!(
            "活动同步 / campaigns synced: {} new, {} updated, {} unchanged",
            s.added, s.updated, s.unchanged
        ))),
        Ok(_) => Ok(None),
        Err(e) => Err(format!(
            "活动同步失败 / campaign sync failed: {}",
            one_line(&e)
        )),
    }
}

/// Builds campaign `id`'s report as it would leave the node and stores it as a new version when it
/// changed (DESIGN.md "Data flow" 2).
pub async fn version_campaign(
    data: &Path,
    archive: &Archive,
    settings: &Settings,
    id: &str,
    now: DateTime<Utc>,
) -> Result<outbox::Versioned, VersionError> {
    let vocabulary = Settings::vocabulary(data)?;
    let prepared = reporting::prepare_unless_sent(
        archive,
        data,
        &settings.org,
        &vocabulary,
        id,
        Version::default(),
        settings.change_policy,
        true,
    )
    .await
    .map_err(|source| VersionError::Report {
        id: id.to_string(),
        source,
    })?;
    let prepared = match prepared {
        reporting::Made::New(p) => p,
        reporting::Made::AsSent { version } => return Ok(outbox::Versioned::Unchanged { version }),
    };
    outbox::version_published(archive, id, prepared.report, Some(&prepared.entry), now)
        .await
        .map_err(|source| VersionError::Outbox {
            id: id.to_string(),
            source,
        })
}

/// An error and its causes on one line, as the CLI prints them.
pub fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut causes = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    bangfu_client::one_line(causes)
}

/// A node ready to run its rounds.
pub struct Daemon {
    data: PathBuf,
    settings: Settings,
    archive: Archive,
    parent: Option<Parent>,
    pull: Option<(TcpListener, SocketAddr, PathBuf)>,
    ui: Option<(TcpListener, SocketAddr)>,
    options: Options,
    clock: Arc<dyn Clock>,
}

impl Daemon {
    /// Loads the node in `data` and binds the pull listener, if any.
    pub async fn build(data: &Path, options: Options) -> Result<Daemon, Error> {
        let settings = Settings::load(data)?;
        let archive = Archive::open(data, false).await?;
        let parent = parent_of(&settings).map_err(Error::Parent)?;
        let pull = match &options.listen {
            Some(addr) => {
                let tls = settings.tls.clone().ok_or(Error::NoIdentity)?;
                let bind = |source| Error::Bind {
                    addr: addr.clone(),
                    source,
                };
                let listener = TcpListener::bind(addr).await.map_err(bind)?;
                let at = listener.local_addr().map_err(bind)?;
                Some((listener, at, tls))
            }
            None => None,
        };
        let ui = match &options.ui {
            Some(addr) => {
                let bind = |source| Error::Bind {
                    addr: addr.clone(),
                    source,
                };
                let listener = TcpListener::bind(addr).await.map_err(bind)?;
                let at = listener.local_addr().map_err(bind)?;
                Some((listener, at))
            }
            None => None,
        };
        Ok(Daemon {
            data: data.to_path_buf(),
            settings,
            archive,
            parent,
            pull,
            ui,
            options,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same daemon with another clock (tests move a [`bangfu_shared::time::TestClock`]).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Daemon {
        Daemon { clock, ..self }
    }

    /// Where the parent's pulls are served, if they are.
    pub fn pull_address(&self) -> Option<SocketAddr> {
        self.pull.as_ref().map(|(_, at, _)| *at)
    }

    /// Where the office UI is served, if it is.
    pub fn ui_address(&self) -> Option<SocketAddr> {
        self.ui.as_ref().map(|(_, at)| *at)
    }

    /// One line for the operator: who serves, how often, to which parent.
    pub fn describe(&self) -> String {
        format!(
            "serving / 运行中: {} every {}s, parent {}",
            self.settings.org,
            self.options.interval.as_secs(),
            self.parent
                .as_ref()
                .map(Parent::url)
                .unwrap_or("(not connected / 未连接)")
        )
    }

    /// Runs rounds until `shutdown` completes (then closes the archive and returns `Ok`), or until
    /// the pull server or a round fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let Daemon {
            data,
            settings,
            archive,
            parent,
            pull,
            ui,
            options,
            clock,
        } = self;
        let mut pull_server = tokio::task::JoinSet::new();
        if let Some((listener, _)) = ui {
            // The office UI shares the daemon's archive pool and clock; it ending is an error.
            let ui = crate::ui::Ui::new(
                &data,
                settings.clone(),
                archive.clone(),
                parent.clone(),
                clock.clone(),
            )
            .await
            .map_err(|e| Error::Ui(format!("{e:#}")))?;
            pull_server.spawn(async move {
                crate::ui::serve(listener, ui)
                    .await
                    .map_err(|e| Error::Ui(e.to_string()))
            });
        }
        if let Some((listener, _, tls)) = pull {
            let (archive, org, parent) =
                (archive.clone(), settings.org.clone(), settings.parent_org());
            pull_server.spawn(async move {
                pull_server::serve(listener, &tls, archive, org, parent)
                    .await
                    .map_err(Error::from)
            });
        }
        let renewal = parent
            .clone()
            .zip(settings.tls.clone())
            .map(|(p, tls)| tokio::spawn(crate::renewal::run(p, tls, options.say.clone())));
        let mut rounds = Rounds {
            data: &data,
            settings: &settings,
            archive: &archive,
            parent: parent.as_ref(),
            options: &options,
            clock: clock.as_ref(),
            blocked: HashMap::new(),
            sync_failure: None,
            waiting: HashSet::new(),
        };
        tokio::pin!(shutdown);
        let outcome = loop {
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                Some(ended) = pull_server.join_next() => break Err(match ended {
                    Ok(Ok(())) => Error::PullServerGone("it returned".into()),
                    Ok(Err(e)) => e,
                    Err(e) => Error::PullServerGone(e.to_string()),
                }),
                r = rounds.round() => if let Err(e) = r { break Err(e) },
            }
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                () = tokio::time::sleep(options.interval) => {}
            }
        };
        pull_server.shutdown().await;
        if let Some(r) = &renewal {
            r.abort();
        }
        archive.close().await;
        outcome
    }
}

/// The state one round leaves for the next: what was already said.
struct Rounds<'a> {
    data: &'a Path,
    settings: &'a Settings,
    archive: &'a Archive,
    parent: Option<&'a Parent>,
    options: &'a Options,
    clock: &'a dyn Clock,
    /// Blocked reasons already said, so a report that stays blocked is said once, not every round.
    blocked: HashMap<String, String>,
    /// Likewise a sync failure is said when it starts or changes, and its end once.
    sync_failure: Option<String>,
    /// Campaigns already said to wait for the office's 报送.
    waiting: HashSet<String>,
}

impl Rounds<'_> {
    fn say(&self, line: &str) {
        (self.options.say)(line);
    }

    /// Whether campaign `c`'s table has cells the office types in, so that only a person's
    /// submission versions it. A table that cannot be read is left to [`version_campaign`], which
    /// says why.
    fn waits_for_submission(&self, c: &campaigns::Campaign) -> bool {
        Settings::vocabulary(self.data)
            .ok()
            .and_then(|v| c.template(self.data, &v).ok())
            .is_some_and(|t| t.cells.iter().any(|cell| cell.is_typed()))
    }

    async fn round(&mut self) -> Result<(), Error> {
        if let Some(p) = self.parent {
            match sync_campaigns(p, self.archive, self.settings).await {
                Ok(synced) => {
                    if let Some(line) = synced {
                        self.say(&line);
                    }
                    if self.sync_failure.take().is_some() {
                        self.say("活动同步恢复 / campaign sync works again");
                    }
                }
                Err(line) => {
                    if self.sync_failure.as_ref() != Some(&line) {
                        self.say(&line);
                    }
                    self.sync_failure = Some(line);
                }
            }
        }
        let today = self.clock.today();
        for c in campaigns::list(self.archive).await? {
            if today - c.end > chrono::Duration::days(REPORT_WINDOW_DAYS) {
                continue;
            }
            let id = c.id.as_str();
            // A table with figures typed in by the office (送温暖's 4A, 5A, …) leaves only when a
            // person submits it: 报送 in the office UI, or `bangfu-node push`. Versioned here, a
            // half-filled form, or a draft saved halfway through a correction, would reach the
            // parent on the next round (issue 17, found by tests/tests/office_browser.rs).
            if self.waits_for_submission(&c) {
                if self.waiting.insert(id.to_string()) {
                    self.say(&format!(
                        "campaign {id}: has figures typed in by the office, sent when it is submitted (报送, or `bangfu-node push`) / 含手工填报项，报送后才发送"
                    ));
                }
                continue;
            }
            let versioned =
                version_campaign(self.data, self.archive, self.settings, id, self.clock.now())
                    .await;
            match versioned {
                Ok(outbox::Versioned::New { version, hash }) => {
                    self.blocked.remove(id);
                    self.say(&format!(
                        "campaign {id} version {version}: new version queued (sha256 {hash}) / 新版本已排队"
                    ));
                }
                Ok(outbox::Versioned::Unchanged { .. }) => {
                    self.blocked.remove(id);
                }
                Err(e) => {
                    let reason = one_line(e.cause());
                    if self.blocked.get(id) != Some(&reason) {
                        self.say(&format!(
                            "campaign {id}: not versioned / 未生成新版本: {reason}"
                        ));
                        self.blocked.insert(id.to_string(), reason);
                    }
                }
            }
        }
        let Some(p) = self.parent.filter(|_| !self.options.no_push) else {
            return Ok(());
        };
        for d in outbox::drain(p, self.archive, self.clock.now(), false).await? {
            self.say(&d.to_string());
        }
        // The parent's reviews, after the pushes; a failure was already said by the sync.
        let changed = reviews::refresh(p, self.archive, &self.settings.org, self.clock.now())
            .await
            .unwrap_or_default();
        for r in changed {
            self.say(&format!(
                "campaign {} 审核 / review: {}",
                r.campaign,
                reviews::describe(&r)
            ));
        }
        match reminders::refresh(p, self.archive, self.clock.now()).await {
            Ok(new) => {
                for r in new {
                    self.say(&format!(
                        "campaign {} 提醒 / reminder: {}",
                        r.campaign, r.message
                    ));
                }
            }
            Err(line) => self.say(&line),
        }
        Ok(())
    }
}
