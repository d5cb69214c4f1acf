//! The hub's perimeter (issue 13), attacked over real sockets: connections without a certificate
//! beyond the per-address cap are closed at once, a handshake that never finishes is cut, a client
//! with a certificate that trickles its headers is cut, and a genuine county still reports through
//! all of it. The limits are `bangfu_client::server::Limits::default()`.

use std::time::{Duration, Instant};

use bangfu_client::server::Limits;
use bangfu_hub::config::HubLevel;
use bangfu_hub::testing::TestHub;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Waits until the hub closes `stream` (EOF or reset), up to `within`; the time it took.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within.saturating_sub(t.elapsed()), stream.read(&mut buf)).await
        {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn connections_without_a_certificate_are_capped_and_cut_while_counties_report() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山县总工会")]).await;
    let limits = Limits::default();
    let mut held = Vec::new();
    for _ in 0..limits.per_address_unauthenticated {
        held.push(TcpStream::connect(hub.address).await.unwrap());
    }
    // Give the accept loop time to count them all as handshakes in progress.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(hub.address).await.unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_secs(2))
            .await
            .is_some(),
        "a connection over the per-address cap is closed at once"
    );
    // The silent handshakes are cut by the handshake timeout.
    let t = Instant::now();
    let cut = closed_within(&mut held[0], limits.handshake + Duration::from_secs(3)).await;
    assert!(cut.is_some(), "a handshake that never finishes is cut");
    assert!(t.elapsed() >= limits.handshake - Duration::from_secs(1));
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        hub.client("H01").campaigns(None).await.is_ok(),
        "the county gets through once the address is under its cap"
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_client_with_a_certificate_that_trickles_its_headers_is_cut() {
    let hub = TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山县总工会")]).await;
    let tls = hub.identity("H01");
    let read = |f: &str| std::fs::read_to_string(tls.join(f)).unwrap();
    let mut config =
        bangfu_client::tls::client_config(&read("ca.pem"), &read("cert.pem"), &read("key.pem"))
            .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = TcpStream::connect(hub.address).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = connector.connect(name, tcp).await.unwrap();
    stream
        .write_all(b"GET /api/v1/campaigns HTTP/1.1\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    let limit = Limits::default().header_read;
    let mut cut = false;
    // One header byte every 2 s: never a whole header block.
    while t.elapsed() < limit + Duration::from_secs(10) {
        if stream.write_all(b"X").await.is_err() || stream.flush().await.is_err() {
            cut = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(_)) => {
                // A 408 answer, then the close.
                cut = true;
                break;
            }
            Err(_) => {}
        }
    }
    assert!(cut, "still connected after {:?}", t.elapsed());
    assert!(
        t.elapsed() < limit + Duration::from_secs(5),
        "cut after {:?}",
        t.elapsed()
    );
    hub.stop().await;
}
