//! Benchmark of the hub's perimeter (issue 13): while an attacker without a certificate holds
//! `--attackers` connections open (half silent, half trickling a byte every two seconds, each
//! reopened as soon as the hub closes it) from 127.0.0.2, `--counties` genuine counties from
//! 127.0.0.1 push new versions of their `dangan` report over mutual TLS, one after the other, for
//! `--seconds`. Prints the attacker's connections held, the pushes, failures and their latency.
//!
//! The hub is the in-process `TestHub` (the same `Server::build` as `bangfu-hub serve`). Run it
//! through `bench/perimeter.sh`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bangfu_client::Outcome;
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::HubLevel;
use bangfu_hub::testing::TestHub;
use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::disclose::protect;
use bangfu_shared::facts::AidFacts;
use bangfu_shared::org::OrgCode;
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::synthetic::households;
use bangfu_shared::template;
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use tokio::io::AsyncWriteExt as _;

const CAMPAIGN: &str = "2026-dangan";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn report(org: &str, version: u32) -> Vec<u8> {
    let v = Vocabulary::builtin();
    let t = template::builtin("dangan", &v).unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    let hs = households(u64::from(version), 200, &v);
    let aid: Vec<AidFacts> = vec![];
    let values = aggregate(&t, &hs, &aid, &Period::on(as_of));
    let outcome = evaluate(&t, |i| values.value(i));
    let protected = protect(&t, &values).expect("protection succeeds");
    let r = Report::new(
        OrgCode::parse(org).unwrap(),
        &t,
        Some(CAMPAIGN.parse().unwrap()),
        as_of,
        version.into(),
        protected,
        outcome,
    );
    serde_json::to_vec(&r).unwrap()
}

/// One attacker connection, reopened whenever the hub closes it, until the bench ends.
async fn attacker(hub: std::net::SocketAddr, slow: bool, held: Arc<AtomicUsize>) {
    loop {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if socket.bind("127.0.0.2:0".parse().unwrap()).is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let Ok(mut stream) = socket.connect(hub).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        held.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 1];
        loop {
            // A TLS record header, one byte at a time (slow), or nothing at all (idle).
            if slow && stream.write_all(&[0x16]).await.is_err() {
                break;
            }
            match tokio::time::timeout(
                Duration::from_secs(2),
                tokio::io::AsyncReadExt::read(&mut stream, &mut buf),
            )
            .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                _ => {}
            }
        }
        held.fetch_sub(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    let seconds = arg("--seconds", 20);
    let attackers = arg("--attackers", 2000) as usize;
    let counties = arg("--counties", 20) as usize;
    let orgs: Vec<String> = (1..=counties).map(|i| format!("H{i:02}")).collect();
    let children: Vec<(&str, &str)> = orgs.iter().map(|o| (o.as_str(), "县总工会")).collect();
    let hub = TestHub::start("H", HubLevel::Prefecture, &children).await;
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    campaigns::create(
        &hub.hub.store,
        &Campaign {
            id: CAMPAIGN.parse().unwrap(),
            template: "dangan".into(),
            title: "档案".into(),
            start: day("2026-01-01"),
            end: day("2026-06-30"),
            due: Due {
                county: day("2099-12-31"),
                prefecture: day("2099-12-31"),
                province: None,
            },
            template_body: None,
        },
        "local",
    )
    .await
    .unwrap();

    let held = Arc::new(AtomicUsize::new(0));
    for i in 0..attackers {
        tokio::spawn(attacker(hub.address, i % 2 == 1, held.clone()));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held_at_start = held.load(Ordering::Relaxed);

    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for org in &orgs {
        let client = hub.client(org);
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut failed) = (Vec::new(), 0u32);
            let mut version = 1;
            while Instant::now() < until {
                let body = report(&org, version);
                let t = Instant::now();
                match client.post_report(&body).await {
                    Outcome::Stored { .. } => lat.push(t.elapsed()),
                    other => {
                        failed += 1;
                        eprintln!("{org} v{version}: {other:?}");
                    }
                }
                version += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (lat, failed)
        }));
    }
    let (mut lat, mut failed) = (Vec::new(), 0);
    for t in tasks {
        let (l, f) = t.await.unwrap();
        lat.extend(l);
        failed += f;
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "attacker connections: {attackers} kept open (reopened when closed), {held_at_start} connected after 3 s, {} at the end",
        held.load(Ordering::Relaxed)
    );
    println!(
        "genuine pushes: {} stored, {failed} failed, over {seconds} s from {counties} counties",
        lat.len()
    );
    if !lat.is_empty() {
        println!(
            "push latency: p50 {:?}, p99 {:?}, max {:?}",
            pct(0.5),
            pct(0.99),
            lat[lat.len() - 1]
        );
    }
    hub.stop().await;
}
