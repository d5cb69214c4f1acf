//! A real hub in-process, for the tests of every crate (feature `testing`): a CA made by the
//! project's own PKI (`bangfu_client::pki`), the hub's certificate for 127.0.0.1, a data folder with
//! hub.toml and a SQLite store, its children registered, and a [`Server`] built by the same
//! [`Server::build`] as `bangfu-hub serve`, listening on 127.0.0.1 port 0 over mutual TLS. Tests
//! talk to it over real sockets; it stops when [`TestHub::stop`] is called or the test's runtime ends.
//!
//! Tests about processes (a hub killed and restarted, its log lines, the demo) start the binary
//! instead.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bangfu_client::Parent;
use bangfu_client::pki::{self, IssueOptions};
use bangfu_shared::org::OrgCode;
use tempfile::TempDir;
use tokio::sync::oneshot;

use crate::app::Hub;
use crate::config::{HubConfig, HubLevel};
use crate::registry::{self, Org};
use crate::startup::{ServeOptions, Server};

/// A serving hub and the folder it keeps everything in (deleted when dropped).
pub struct TestHub {
    pub hub: Hub,
    /// Where children connect: `https://127.0.0.1:PORT`.
    pub url: String,
    pub address: SocketAddr,
    /// The CA folder, to issue more identities from.
    pub pki: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<Result<(), crate::startup::Error>>,
    dir: TempDir,
}

impl TestHub {
    /// A hub `org` at `level` with `children` (code, name) registered, serving on a free port.
    pub async fn start(org: &str, level: HubLevel, children: &[(&str, &str)]) -> TestHub {
        TestHub::start_in(None, true, org, level, children).await
    }

    /// A hub of the same federation as `parent` (its CA), as a prefecture under a province is:
    /// with the CA's folder as `--pki` when `holds_ca`, else with no revocation list until its
    /// parent passes one down with the campaigns.
    pub async fn start_under(
        parent: &TestHub,
        holds_ca: bool,
        org: &str,
        level: HubLevel,
        children: &[(&str, &str)],
    ) -> TestHub {
        TestHub::start_in(Some(&parent.pki), holds_ca, org, level, children).await
    }

    async fn start_in(
        ca: Option<&Path>,
        holds_ca: bool,
        org: &str,
        level: HubLevel,
        children: &[(&str, &str)],
    ) -> TestHub {
        let dir = tempfile::tempdir().expect("a temp dir");
        let org = OrgCode::parse(org).expect("an org code");
        let pki = match ca {
            Some(ca) => ca.to_path_buf(),
            None => {
                let pki = dir.path().join("pki");
                pki::init(&pki, &org, "测试根证书", 30).expect("a CA");
                pki
            }
        };
        let tls = issue(&pki, &org, &["127.0.0.1"], &dir.path().join("tls"));
        let data = dir.path().join("hub");
        HubConfig {
            org,
            name: "测试总工会".into(),
            level,
            tls,
            pki: holds_ca.then(|| pki.clone()),
            parent: None,
            parent_org: None,
            database_url: None,
            pull: None,
            reconcile: Default::default(),
            remind: Default::default(),
            smtp: None,
            intake: Default::default(),
            dashboard: Default::default(),
            door: Default::default(),
            versions: Default::default(),
        }
        .create(&data)
        .expect("hub.toml");
        let hub = Hub::open(&data).await.expect("the hub opens");
        for (code, name) in children {
            registry::add(
                &hub.store,
                &Org {
                    code: OrgCode::parse(code).expect("a child's code"),
                    name: name.to_string(),
                    email: None,
                    webhook: None,
                },
            )
            .await
            .expect("a child registered");
        }
        let server = Server::build(hub.clone(), ServeOptions::on("127.0.0.1:0"))
            .await
            .expect("the hub starts");
        let address = server.address();
        let (stop, stopped) = oneshot::channel();
        let served = tokio::spawn(server.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestHub {
            hub,
            url: format!("https://{address}"),
            address,
            pki,
            stop: Some(stop),
            served,
            dir,
        }
    }

    /// An identity folder (ca.pem, cert.pem, key.pem) for `org` from this hub's CA.
    pub fn identity(&self, org: &str) -> PathBuf {
        let org = OrgCode::parse(org).expect("an org code");
        issue(
            &self.pki,
            &org,
            &[],
            &self.dir.path().join(format!("tls-{org}")),
        )
    }

    /// A client of this hub with `org`'s identity, as that child's node would have.
    pub fn client(&self, org: &str) -> Parent {
        Parent::new(&self.url, &self.identity(org)).expect("a client")
    }

    /// The hub's data folder (hub.toml, hub.db), for the CLI to run on.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("hub")
    }

    /// Stops serving and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = (&mut self.served).await.expect("the server task");
        served.expect("the hub served until stopped");
        self.hub.close().await;
    }
}

fn issue(pki: &Path, org: &OrgCode, hosts: &[&str], out: &Path) -> PathBuf {
    if !out.join(pki::CERT).exists() {
        let hosts = hosts.iter().map(|h| h.to_string()).collect();
        pki::issue(
            pki,
            org,
            "测试单位",
            &IssueOptions::for_days(hosts, 30),
            out,
        )
        .expect("an identity issued");
    }
    out.to_path_buf()
}
