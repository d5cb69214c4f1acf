//! The per-address handshake cap is a setting (`[door] handshakes_per_address`, issue 13): counties
//! behind one NAT share one address, so a prefecture raises it. Over real sockets to a hub
//! in-process built from a hub.toml with the setting.

use std::time::Duration;

use bangfu_client::pki::{self, IssueOptions};
use bangfu_hub::app::Hub;
use bangfu_hub::config::{DoorSettings, HubConfig, HubLevel};
use bangfu_hub::startup::{ServeOptions, Server};
use bangfu_shared::org::OrgCode;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

/// Whether the hub closes `stream` within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn the_per_address_cap_is_the_door_setting() {
    let dir = tempfile::tempdir().unwrap();
    let org = OrgCode::parse("H").unwrap();
    let ca = dir.path().join("pki");
    pki::init(&ca, &org, "根", 30).unwrap();
    let tls = dir.path().join("tls");
    pki::issue(
        &ca,
        &org,
        "荆门",
        &IssueOptions::for_days(vec!["127.0.0.1".into()], 30),
        &tls,
    )
    .unwrap();
    let data = dir.path().join("hub");
    let cap = 40;
    HubConfig {
        org,
        name: "荆门市总工会".into(),
        level: HubLevel::Prefecture,
        tls,
        pki: Some(ca),
        parent: None,
        parent_org: None,
        database_url: None,
        pull: None,
        reconcile: Default::default(),
        remind: Default::default(),
        smtp: None,
        intake: Default::default(),
        door: DoorSettings {
            handshakes_per_address: cap,
        },
        versions: Default::default(),
        dashboard: Default::default(),
    }
    .create(&data)
    .unwrap();
    let hub = Hub::open(&data).await.unwrap();
    let server = Server::build(hub, ServeOptions::on("127.0.0.1:0"))
        .await
        .unwrap();
    let address = server.address();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let mut held = Vec::new();
    for _ in 0..cap {
        held.push(TcpStream::connect(address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !closed_within(&mut held[cap - 1], Duration::from_millis(500)).await,
        "the {cap}th handshake from one address is held (the default cap is 32)"
    );
    let mut extra = TcpStream::connect(address).await.unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)).await,
        "one over the setting is closed at once"
    );
}
