//! A CA rollover (issue 13): a hub whose `ca.pem` holds the old and the new CA accepts children of
//! either, and a child trusting both reaches a hub certified by either, so the province replaces its
//! CA while the counties keep reporting. A third CA is still refused. Real mutual TLS in-process.

use std::path::Path;

use bangfu_client::Parent;
use bangfu_client::pki::{self, IssueOptions};
use bangfu_hub::app::Hub;
use bangfu_hub::config::{HubConfig, HubLevel};
use bangfu_hub::registry::{self, Org};
use bangfu_hub::startup::{ServeOptions, Server};
use bangfu_shared::org::OrgCode;

fn org(c: &str) -> OrgCode {
    OrgCode::parse(c).unwrap()
}

/// An identity for `who` from the CA in `ca`, trusting every CA in `bundle`.
fn identity(ca: &Path, who: &str, hosts: &[&str], bundle: &str, out: &Path) {
    let hosts = hosts.iter().map(|h| h.to_string()).collect();
    pki::issue(
        ca,
        &org(who),
        "单位",
        &IssueOptions::for_days(hosts, 30),
        out,
    )
    .unwrap();
    std::fs::write(out.join(pki::CA_CERT), bundle).unwrap();
}

#[tokio::test]
async fn a_ca_rollover_needs_no_restart_of_the_hub_or_the_county() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, stranger) = (
        dir.path().join("ca-old"),
        dir.path().join("ca-new"),
        dir.path().join("ca-x"),
    );
    for ca in [&old, &new, &stranger] {
        pki::init(ca, &org("H"), "荆门市总工会", 60).unwrap();
    }
    let read = |ca: &Path| std::fs::read_to_string(ca.join(pki::CA_CERT)).unwrap();
    let both = format!("{}{}", read(&old), read(&new));

    // Before: everything from the old CA.
    let tls = dir.path().join("tls-H");
    identity(&old, "H", &["127.0.0.1"], &read(&old), &tls);
    let data = dir.path().join("hub");
    HubConfig {
        org: org("H"),
        name: "荆门市总工会".into(),
        level: HubLevel::Prefecture,
        tls: tls.clone(),
        pki: Some(old.clone()),
        parent: None,
        parent_org: None,
        database_url: None,
        pull: None,
        reconcile: Default::default(),
        remind: Default::default(),
        smtp: None,
        intake: Default::default(),
        door: Default::default(),
        versions: Default::default(),
        dashboard: Default::default(),
    }
    .create(&data)
    .unwrap();
    let hub = Hub::open(&data).await.unwrap();
    for c in ["H01", "H02", "H03"] {
        registry::add(
            &hub.store,
            &Org {
                code: org(c),
                name: c.into(),
                email: None,
                webhook: None,
            },
        )
        .await
        .unwrap();
    }
    let server = Server::build(hub, ServeOptions::on("127.0.0.1:0"))
        .await
        .unwrap();
    let url = format!("https://{}", server.address());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let (h01, h02, h03) = (
        dir.path().join("h01"),
        dir.path().join("h02"),
        dir.path().join("h03"),
    );
    identity(&old, "H01", &[], &read(&old), &h01);
    identity(&new, "H02", &[], &both, &h02);
    identity(
        &stranger,
        "H03",
        &[],
        &format!("{both}{}", read(&stranger)),
        &h03,
    );
    let county = Parent::pinned(&url, &h01, Some(&org("H"))).unwrap();
    county
        .campaigns(None)
        .await
        .expect("H01 before the rollover");
    let h02_client = || Parent::pinned(&url, &h02, Some(&org("H"))).unwrap();
    assert!(
        h02_client().campaigns(None).await.is_err(),
        "the new CA is not trusted yet"
    );

    // Step 2 of the runbook: both CAs in every ca.pem. No restart.
    std::fs::write(tls.join(pki::CA_CERT), &both).unwrap();
    std::fs::write(h01.join(pki::CA_CERT), &both).unwrap();
    h02_client()
        .campaigns(None)
        .await
        .expect("a child of the new CA is served once the hub's ca.pem has it");
    county
        .campaigns(None)
        .await
        .expect("H01 of the old CA goes on reporting");
    assert!(
        Parent::pinned(&url, &h03, Some(&org("H")))
            .unwrap()
            .campaigns(None)
            .await
            .is_err(),
        "a CA nobody added is still refused"
    );
}
