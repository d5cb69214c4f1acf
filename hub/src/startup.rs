//! Starting a serving hub as library code, the same way for `bangfu-hub serve` and for tests:
//! [`Server::build`] reads the TLS identity and revocations, checks the schedules and binds the
//! listeners (port 0 picks a free one, and [`Server::address`] says which); then
//! [`Server::run_until_stopped`] starts the jobs (upstream, scheduled pull, reminders), serves the
//! API over mutual TLS and the dashboard, and stops all of them when the given future completes.
//! Nothing here ends the process: errors are returned to the caller.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bangfu_client::Parent;
use bangfu_client::pki;
use bangfu_client::tls::{self, ReloadingCert};
use tokio::net::TcpListener;

use crate::api::{self, ApiState, Revocations};
use crate::app::Hub;
use crate::dashboard::{self, Changes, DashboardState};
use crate::jobs::cron::{self, Schedule};
use crate::jobs::{self, upstream};

/// How a hub serves, beside its hub.toml (the `serve` command's flags).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where children connect (mutual TLS); port 0 picks a free port.
    pub listen: String,
    /// The CA folder whose crl.pem is checked; None: hub.toml's `pki`.
    pub pki: Option<PathBuf>,
    /// With a parent: how often campaigns are synced from it.
    pub sync_interval: Duration,
    /// A six-field cron schedule for pulling the children; None: hub.toml's `[pull]`.
    pub pull_schedule: Option<String>,
    /// Where to serve the dashboard over plain HTTP, if anywhere.
    pub dashboard: Option<String>,
}

impl ServeOptions {
    /// The defaults of `bangfu-hub serve` on `listen`: no dashboard, a campaign sync every 30 s.
    pub fn on(listen: impl Into<String>) -> ServeOptions {
        ServeOptions {
            listen: listen.into(),
            pki: None,
            sync_interval: Duration::from_secs(30),
            pull_schedule: None,
            dashboard: None,
        }
    }
}

/// Why a hub did not start, or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the revocation list: {0}")]
    Revocations(#[source] pki::Error),
    #[error("reading {path}: {source}")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("loading the hub's certificate: {0}")]
    Certificate(#[source] tls::Error),
    #[error("building the TLS configuration: {0}")]
    TlsConfig(#[source] tls::Error),
    #[error("building the TLS configuration from the CA certificates: {0}")]
    Ca(String),
    #[error("listening on {addr}{what}: {source}")]
    Bind {
        addr: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("setting up the client to the parent hub: {0}")]
    Parent(#[source] bangfu_client::Error),
    #[error(transparent)]
    Schedule(#[from] cron::Error),
    #[error("serving: {0}")]
    Serve(#[source] std::io::Error),
}

/// The dashboard's bound listener and, with `[dashboard] tls`, its TLS configuration.
struct Dashboard {
    listener: TcpListener,
    at: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// A hub bound to its listeners, ready to serve.
pub struct Server {
    hub: Hub,
    listener: TcpListener,
    address: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    revocations: Arc<Revocations>,
    dashboard: Option<Dashboard>,
    parent: Option<Parent>,
    sync_interval: Duration,
    pull: Option<Schedule>,
}

impl Server {
    /// Reads the hub's TLS identity and revocations, checks its schedules and binds its listeners.
    pub async fn build(hub: Hub, options: ServeOptions) -> Result<Server, Error> {
        tls::install_provider();
        let config = &hub.config;
        let pki = options.pki.or(config.pki.clone());
        let revocations =
            Revocations::new(pki.as_deref(), &config.tls).map_err(Error::Revocations)?;
        if pki.is_none() {
            tracing::info!("no --pki: revocations come from the parent with the campaigns");
        }
        for file in [pki::CERT, pki::CA_CERT] {
            if let Ok(pem) = std::fs::read_to_string(config.tls.join(file)) {
                let what = format!("{} ({file})", config.tls.display());
                if let Some(line) = bangfu_client::expiry::warning(&what, &pem, chrono::Utc::now())
                {
                    tracing::warn!("{line}");
                }
            }
        }
        let ca_path = config.tls.join(pki::CA_CERT);
        // Read once here so a missing ca.pem stops the start naming the file.
        std::fs::read_to_string(&ca_path).map_err(|source| Error::ReadCa {
            path: ca_path,
            source,
        })?;
        let resolver = ReloadingCert::new(config.tls.join(pki::CERT), config.tls.join(pki::KEY))
            .map_err(Error::Certificate)?;
        // A child without a certificate yet may finish the handshake, to enrol (and nothing else).
        let tls = bangfu_client::server::enrolling_config(
            &config.tls.join(pki::CA_CERT),
            Arc::new(resolver),
        )
        .map_err(|e| Error::Ca(e.to_string()))?;
        // Checked now, so a typo stops the start with the setting named.
        Schedule::parse(jobs::remind::SETTING, &config.remind.schedule)?;
        let pull = options
            .pull_schedule
            .or_else(|| config.pull.as_ref().map(|p| p.schedule.clone()))
            .map(|expr| Schedule::parse(jobs::pull::SETTING, &expr))
            .transpose()?;
        let parent = config
            .parent
            .as_deref()
            .map(|url| Parent::pinned(url, &config.tls, config.parent_org().as_ref()))
            .transpose()
            .map_err(Error::Parent)?;
        let listener = bind(&options.listen, "").await?;
        let address = listener
            .local_addr()
            .map_err(|source| bind_error(&options.listen, "", source))?;
        let dashboard = match &options.dashboard {
            Some(addr) => {
                const WHAT: &str = " for the dashboard (--http)";
                let l = bind(addr, WHAT).await?;
                let at = l
                    .local_addr()
                    .map_err(|source| bind_error(addr, WHAT, source))?;
                let tls = if config.dashboard.tls {
                    Some(dashboard::serve::tls_config(&config.tls).map_err(Error::Certificate)?)
                } else {
                    None
                };
                Some(Dashboard {
                    listener: l,
                    at,
                    tls,
                })
            }
            None => None,
        };
        let revocations = Arc::new(revocations);
        // The rollup and the report upward verify with the same lists and chain cache.
        crate::signed::register(config.tls.clone(), revocations.clone());
        Ok(Server {
            hub,
            listener,
            address,
            tls: Arc::new(tls),
            revocations,
            dashboard,
            parent,
            sync_interval: options.sync_interval,
            pull,
        })
    }

    /// Where children connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where the dashboard is served, if it is.
    pub fn dashboard_address(&self) -> Option<SocketAddr> {
        self.dashboard.as_ref().map(|d| d.at)
    }

    /// The dashboard's URL (`http://…`, or `https://…` with `[dashboard] tls`), if it is served.
    pub fn dashboard_url(&self) -> Option<String> {
        self.dashboard.as_ref().map(|d| {
            let scheme = if d.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{}", d.at)
        })
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Starts the jobs and serves until `shutdown` completes (then stops the jobs and returns
    /// `Ok`), or until serving fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let Server {
            hub,
            listener,
            tls,
            revocations,
            dashboard,
            parent,
            sync_interval,
            pull,
            ..
        } = self;
        let mut tasks = tokio::task::JoinSet::new();
        let upstream = parent.map(|parent| {
            let changed = Arc::new(upstream::Changed::default());
            tasks.spawn(upstream::run(
                hub.clone(),
                parent,
                sync_interval,
                changed.clone(),
            ));
            changed
        });
        let mut schedulers = vec![jobs::remind::start(hub.clone()).await?];
        if let Some(schedule) = &pull {
            schedulers.push(jobs::pull::start(hub.clone(), schedule, upstream.clone()).await?);
        }
        let changes = Arc::new(Changes::default());
        if let Some(d) = dashboard {
            let max = hub.config.dashboard.max_connections;
            let router = dashboard::router(DashboardState::new(hub.clone(), changes.clone(), d.at));
            tasks.spawn(async move {
                if let Err(e) = dashboard::serve::serve(d.listener, d.tls, max, router).await {
                    tracing::error!(error = %e, "the dashboard stopped serving");
                }
            });
        }
        tasks.spawn(crate::jobs::renewal::run(hub.clone()));
        let limits = bangfu_client::server::Limits {
            per_address_unauthenticated: hub.config.door.handshakes_per_address,
            ..Default::default()
        };
        let state = ApiState {
            hub,
            revocations,
            upstream,
            changes,
        };
        let anonymous = api::enrol::anonymous_router(state.clone());
        let app = api::router(state);
        let served = tokio::select! {
            served = api::serve(listener, tls, app, Some(anonymous), limits) => served.map_err(Error::Serve),
            () = shutdown => Ok(()),
        };
        tasks.shutdown().await;
        for mut s in schedulers {
            if let Err(e) = s.shutdown().await {
                tracing::warn!(error = %e, "a scheduler did not stop cleanly");
            }
        }
        served
    }
}

async fn bind(addr: &str, what: &'static str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| bind_error(addr, what, source))
}

fn bind_error(addr: &str, what: &'static str, source: std::io::Error) -> Error {
    Error::Bind {
        addr: addr.to_string(),
        what,
        source,
    }
}
