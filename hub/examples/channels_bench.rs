//! One reminder round for N overdue children (default 1,000), each with a channel of its own: a
//! quarter each on WeCom, DingTalk (加签), Feishu (签名) robots and e-mail over STARTTLS, all local
//! servers that behave like the real ones (`hub/tests/it/fakes.rs`, rate limits included), plus
//! the escalation digest to the hub's own mailbox. Prints the round's wall time, what was
//! delivered, and how many rate-limit answers the robots gave (a round that keeps the limits gets
//! none). Run by `bench/channels.sh`.

#[path = "../tests/it/fakes.rs"]
#[allow(dead_code)]
mod fakes;

use std::path::PathBuf;
use std::time::Instant;

use bangfu_hub::app::Hub;
use bangfu_hub::campaigns::{Campaign, Due};
use bangfu_hub::channels::{Channel, WebhookKind};
use bangfu_hub::config::{HubConfig, HubLevel, RemindSettings, SmtpSecurity, SmtpSettings};
use bangfu_hub::registry::{self, Org};
use bangfu_shared::org::OrgCode;
use chrono::NaiveDate;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .skip_while(|a| a != "--children")
        .nth(1)
        .map_or(1000, |v| v.parse().expect("--children N"));
    assert!(n <= 2600, "county codes run A00..Z99");
    let dir = tempfile::tempdir().unwrap();
    let (robots_url, robots) = fakes::robots().await;
    let (tls, ca) = fakes::smtp_tls(dir.path());
    let (port, mailbox) = fakes::smtp(Some(tls)).await;
    let data = dir.path().join("hub");
    HubConfig {
        org: OrgCode::parse("H").unwrap(),
        name: "荆门市总工会".into(),
        level: HubLevel::Prefecture,
        tls: PathBuf::from("/nonexistent"),
        pki: None,
        parent: None,
        database_url: std::env::var("BANGFU_BENCH_DATABASE_URL").ok(),
        pull: None,
        reconcile: Default::default(),
        remind: RemindSettings {
            dashboard_url: Some("https://tongji.example.org".into()),
            ..RemindSettings::default()
        },
        smtp: Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port: Some(port),
            security: SmtpSecurity::Starttls,
            username: None,
            password_file: None,
            from: "荆门市总工会 <cuibao@h.example.org>".into(),
            ca_file: Some(ca),
        }),
        intake: Default::default(),
        dashboard: Default::default(),
        door: Default::default(),
        versions: Default::default(),
        parent_org: None,
    }
    .create(&data)
    .unwrap();
    let hub = Hub::open(&data).await.unwrap();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    bangfu_hub::campaigns::create(
        &hub.store,
        &Campaign {
            id: "2026-songnuan".parse().unwrap(),
            template: "songnuan".into(),
            title: "2026 年送温暖".into(),
            start: day("2026-01-01"),
            end: day("2026-06-30"),
            due: Due {
                county: day("2026-02-05"),
                prefecture: day("2026-02-10"),
                province: None,
            },
            template_body: None,
        },
        "local",
    )
    .await
    .unwrap();
    for i in 0..n {
        let code = format!("{}{:02}", (b'A' + (i / 100) as u8) as char, i % 100);
        let org = OrgCode::parse(&code).unwrap();
        registry::add(
            &hub.store,
            &Org {
                code: org.clone(),
                name: format!("第{i}县总工会"),
                email: None,
                webhook: None,
            },
        )
        .await
        .unwrap();
        let (webhook, emails) = match i % 4 {
            0 => (
                Some(
                    Channel::webhook(
                        WebhookKind::Wecom,
                        &format!("{robots_url}/cgi-bin/webhook/send?key=wecom-key-{i}"),
                        None,
                    )
                    .unwrap(),
                ),
                None,
            ),
            1 => (
                Some(
                    Channel::webhook(
                        WebhookKind::Dingtalk,
                        &format!("{robots_url}/robot/send?access_token=ding-token-{i}"),
                        Some(fakes::DINGTALK_SECRET.into()),
                    )
                    .unwrap(),
                ),
                None,
            ),
            2 => (
                Some(
                    Channel::webhook(
                        WebhookKind::Feishu,
                        &format!("{robots_url}/open-apis/bot/v2/hook/feishu-hook-{i}"),
                        Some(fakes::FEISHU_SECRET.into()),
                    )
                    .unwrap(),
                ),
                None,
            ),
            _ => (
                None,
                Some(vec![
                    Channel::email(&format!("c{i}@h.example.org")).unwrap(),
                ]),
            ),
        };
        bangfu_hub::channels::store::set(&hub.store, &code, webhook.as_ref(), emails.as_deref())
            .await
            .unwrap();
    }
    let ops = [Channel::email("ops@h.example.org").unwrap()];
    bangfu_hub::channels::store::set(&hub.store, "H", None, Some(&ops))
        .await
        .unwrap();

    let start = Instant::now();
    let round = bangfu_hub::reminders::round(&hub, day("2026-02-08"), hub.now())
        .await
        .unwrap();
    let took = start.elapsed();
    hub.close().await;
    let r = robots.lock().unwrap();
    let count = |k: &str| r.accepted.get(k).map_or(0, Vec::len);
    println!(
        "children {n}: one round {:.2} s; made {}, delivered {}, not delivered {}, escalations {}",
        took.as_secs_f64(),
        round.made.len(),
        round.delivered.len(),
        round.failed.len(),
        round.escalated.len()
    );
    println!(
        "received: wecom {}, dingtalk {}, feishu {}, mail {}; rate-limit answers {}",
        count("wecom"),
        count("dingtalk"),
        count("feishu"),
        mailbox.lock().unwrap().mails.len(),
        r.limited
    );
}
