//! Reminder channels (issue 15) against local servers that behave like each API ([`super::fakes`]):
//! WeCom, DingTalk (加签) and Feishu robots and an SMTP server with STARTTLS. Rounds are real
//! `bangfu-hub remind` processes, so each round is a hub restart; two run at once on one store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bangfu_hub::campaigns::{Campaign, Due};
use bangfu_hub::channels::{Channel, Delivery, Mailer, Notice, NoticeKind, Sender, WebhookKind};
use bangfu_hub::config::{HubConfig, HubLevel, RemindSettings, SmtpSecurity, SmtpSettings};
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::CampaignId;
use chrono::NaiveDate;

use super::fakes::{self, DINGTALK_SECRET, DINGTALK_TOKEN, FEISHU_HOOK, FEISHU_SECRET, WECOM_KEY};

const CAMPAIGN: &str = "2026-songnuan";

fn hub(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bangfu-hub"))
        .args(args)
        .output()
        .expect("running bangfu-hub")
}

fn ok(args: &[&str]) -> String {
    let out = hub(args);
    assert!(
        out.status.success(),
        "bangfu-hub {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn settings() -> RemindSettings {
    RemindSettings {
        attempts: 1,
        backoff_ms: 10,
        escalate_after_days: 2,
        dashboard_url: Some("https://tongji.example.org/".into()),
        timeout_secs: 2,
        ..RemindSettings::default()
    }
}

/// A prefecture hub `H` in `dir/hub` on `database_url` (SQLite when none) with the songnuan
/// campaign, due 2026-02-05 for counties.
async fn setup(dir: &Path, database_url: Option<String>, smtp: Option<SmtpSettings>) -> PathBuf {
    let data = dir.join("hub");
    let config = HubConfig {
        org: OrgCode::parse("H").unwrap(),
        name: "荆门市总工会".into(),
        level: HubLevel::Prefecture,
        tls: PathBuf::from("/nonexistent"),
        pki: None,
        parent: None,
        database_url,
        pull: None,
        reconcile: Default::default(),
        remind: settings(),
        smtp,
        intake: Default::default(),
        dashboard: Default::default(),
        door: Default::default(),
        versions: Default::default(),
        parent_org: None,
    };
    config.create(&data).unwrap();
    let store = bangfu_hub::store::Store::open(&config.database_url(&data))
        .await
        .unwrap();
    let campaign = Campaign {
        id: CAMPAIGN.parse().unwrap(),
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
    };
    assert!(
        bangfu_hub::campaigns::create(&store, &campaign, "local")
            .await
            .unwrap()
    );
    store.close().await;
    data
}

async fn remind(data: &Path, today: &str) -> String {
    let (data, today) = (data.to_path_buf(), today.to_string());
    tokio::task::spawn_blocking(move || ok(&["remind", "--data", s(&data), "--today", &today]))
        .await
        .unwrap()
}

/// Must reach: a WeCom, a DingTalk (加签) and a Feishu robot and an SMTP mailbox each receive exactly
/// one well-formed reminder per (campaign, child, kind) over rounds that are each a new hub
/// process, the first two at once on one store, with DingTalk refusing twice first (HTTP 200 and
/// an error code); the hub's own contact gets one escalation digest.
#[tokio::test]
async fn each_channel_gets_exactly_one_reminder_across_restarts_with_one_refusing_twice() {
    exactly_once_on(None).await;
}

#[tokio::test]
async fn reminder_channels_work_on_postgresql_too() {
    let Some(admin) = std::env::var("BANGFU_TEST_DATABASE_URL").ok() else {
        println!("skipping PostgreSQL: set BANGFU_TEST_DATABASE_URL");
        return;
    };
    let name = format!(
        "bangfu_test_channels_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap()
    );
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([admin.as_str(), "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!("CREATE DATABASE {name}"));
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    exactly_once_on(Some(format!("{base}/{name}"))).await;
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

async fn exactly_once_on(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (robots_url, robots) = fakes::robots().await;
    let (tls, ca) = fakes::smtp_tls(dir.path());
    let (port, mailbox) = fakes::smtp(Some(tls)).await;
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: SmtpSecurity::Starttls,
        username: None,
        password_file: None,
        from: "荆门市总工会 <cuibao@h.example.org>".into(),
        ca_file: Some(ca),
    };
    let data = setup(dir.path(), database_url, Some(smtp)).await;
    let d = s(&data);
    let ding_secret = dir.path().join("ding.secret");
    std::fs::write(&ding_secret, format!("{DINGTALK_SECRET}\n")).unwrap();
    let feishu_secret = dir.path().join("feishu.secret");
    std::fs::write(&feishu_secret, FEISHU_SECRET).unwrap();
    let wecom = format!("{robots_url}/cgi-bin/webhook/send?key={WECOM_KEY}");
    let out = ok(&[
        "org",
        "add",
        "--data",
        d,
        "--code",
        "H01",
        "--name",
        "京山县总工会",
        "--webhook",
        &wecom,
        "--webhook-kind",
        "wecom",
    ]);
    assert!(
        !out.contains(WECOM_KEY),
        "the robot's key is not printed: {out}"
    );
    ok(&[
        "org",
        "add",
        "--data",
        d,
        "--code",
        "H02",
        "--name",
        "钟祥市总工会",
        "--webhook",
        &format!("{robots_url}/robot/send?access_token={DINGTALK_TOKEN}"),
        "--webhook-kind",
        "dingtalk",
        "--webhook-secret-file",
        s(&ding_secret),
    ]);
    ok(&[
        "org",
        "add",
        "--data",
        d,
        "--code",
        "H03",
        "--name",
        "沙洋县总工会",
        "--webhook",
        &format!("{robots_url}/open-apis/bot/v2/hook/{FEISHU_HOOK}"),
        "--webhook-kind",
        "feishu",
        "--webhook-secret-file",
        s(&feishu_secret),
    ]);
    ok(&[
        "org",
        "add",
        "--data",
        d,
        "--code",
        "H04",
        "--name",
        "东宝区总工会",
        "--email",
        "dongbao@h.example.org",
    ]);
    // The hub's own contact, for escalations.
    let out = ok(&[
        "org",
        "update",
        "--data",
        d,
        "--code",
        "H",
        "--email",
        "ops@h.example.org",
    ]);
    assert!(out.contains("email:ops@h.example.org"), "{out}");
    robots.lock().unwrap().refuse.insert("dingtalk", 2);

    // Round one: two hub processes at once on one store.
    let (a, b) = tokio::join!(remind(&data, "2026-02-08"), remind(&data, "2026-02-08"));
    let made = |o: &str| o.matches("提醒 made").count();
    assert_eq!(
        made(&a) + made(&b),
        4,
        "four reminders made once:\n{a}\n{b}"
    );
    // Round two and three: new processes again, until DingTalk takes it.
    for _ in 0..3 {
        remind(&data, "2026-02-08").await;
    }
    {
        let r = robots.lock().unwrap();
        for robot in ["wecom", "dingtalk", "feishu"] {
            assert_eq!(
                r.accepted.get(robot).map_or(0, Vec::len),
                1,
                "{robot} got exactly one: {:?}",
                r.accepted
            );
        }
        assert_eq!(r.requests["dingtalk"], 3, "two refusals, then one delivery");
        assert_eq!(r.requests["wecom"], 1, "a delivered reminder is not resent");
        let content = r.accepted["wecom"][0]["markdown"]["content"]
            .as_str()
            .unwrap();
        for want in [
            "京山县总工会",
            "2026 年送温暖",
            "2026-02-05",
            "逾期 3 天",
            "https://tongji.example.org/campaigns/2026-songnuan",
        ] {
            assert!(content.contains(want), "{want} missing: {content}");
        }
        assert!(
            r.accepted["dingtalk"][0]["markdown"]["text"]
                .as_str()
                .unwrap()
                .contains("钟祥市总工会")
        );
        assert!(
            r.accepted["feishu"][0]["content"]["text"]
                .as_str()
                .unwrap()
                .contains("沙洋县总工会")
        );
    }
    {
        let m = mailbox.lock().unwrap();
        assert_eq!(
            m.mails.len(),
            2,
            "one reminder and one escalation: {:?}",
            m.mails
        );
        let to_child = m
            .mails
            .iter()
            .find(|x| x.to.iter().any(|t| t.contains("dongbao@")))
            .expect("the child's mail");
        assert!(to_child.tls, "sent under STARTTLS");
        assert!(
            to_child.from.contains("cuibao@h.example.org"),
            "{}",
            to_child.from
        );
        assert_eq!(
            fakes::header(&to_child.data, "Message-ID").as_deref(),
            Some("<2026-songnuan.H04.overdue-2026-02-08@h.bangfu.invalid>")
        );
        let (subject, body) = fakes::decode(&to_child.data);
        assert!(
            subject.contains("【逾期提醒】") && subject.contains("东宝区总工会"),
            "{subject}"
        );
        assert!(
            body.contains("截止日期：2026-02-05") && body.contains("逾期 3 天"),
            "{body}"
        );
        let to_ops = m
            .mails
            .iter()
            .find(|x| x.to.iter().any(|t| t.contains("ops@")))
            .expect("the escalation");
        let (subject, body) = fakes::decode(&to_ops.data);
        assert!(subject.contains("【逾期通报】"), "{subject}");
        for child in ["H01", "H02", "H03", "H04"] {
            assert!(
                body.contains(child),
                "{child} missing in the digest: {body}"
            );
        }
    }

    // The next day: one more overdue reminder each, and one more digest.
    remind(&data, "2026-02-09").await;
    assert_eq!(robots.lock().unwrap().accepted["dingtalk"].len(), 2);
    assert_eq!(mailbox.lock().unwrap().mails.len(), 4);

    // Status: per child, the last reminder and its delivery per channel; the overdue children.
    let status = ok(&["status", "--data", d, "--campaign", CAMPAIGN]);
    let line = |org: &str| {
        status
            .lines()
            .find(|l| l.starts_with(org))
            .unwrap_or_else(|| panic!("no row for {org}:\n{status}"))
            .to_string()
    };
    assert!(
        line("H01").contains("overdue:2026-02-09") && line("H01").contains("wecom delivered"),
        "{status}"
    );
    assert!(
        line("H04").contains("email:dongbao@h.example.org delivered"),
        "{status}"
    );
    assert!(status.contains("逾期未报 / overdue children"), "{status}");
    assert!(
        status.contains("escalation:2026-02-09 email:ops@h.example.org delivered"),
        "{status}"
    );

    // The dashboard's campaign page lists them too (here: hundreds of days overdue by now).
    let h = bangfu_hub::app::Hub::open(&data).await.unwrap();
    let c = bangfu_hub::campaigns::get(&h.store, CAMPAIGN)
        .await
        .unwrap()
        .unwrap();
    let html = bangfu_hub::reminders::overdue_html(&h, &c).await.unwrap();
    h.close().await;
    assert!(
        html.contains("id=\"overdue\"") && html.contains("<td>京山县总工会 H01</td>"),
        "{html}"
    );
    assert!(html.contains("<td class=\"n\">2 / 2</td>"), "{html}");

    // remind --test: each channel's answer, nothing recorded.
    // (In a blocking task: the robots are served on this test's runtime.)
    let data2 = data.clone();
    let out = tokio::task::spawn_blocking(move || {
        ok(&["remind", "--data", s(&data2), "--test", "--org", "H01"])
    })
    .await
    .unwrap();
    assert!(
        out.contains("wecom") && out.contains("已送达 delivered"),
        "{out}"
    );
    assert!(!out.contains(WECOM_KEY), "{out}");
    let r = robots.lock().unwrap();
    assert!(
        r.accepted["wecom"].last().unwrap()["markdown"]["content"]
            .as_str()
            .unwrap()
            .contains("测试")
    );
}

fn notice(org: &str) -> Notice {
    Notice {
        hub: OrgCode::parse("H").unwrap(),
        campaign: CampaignId::parse(CAMPAIGN).unwrap(),
        title: "2026 年送温暖".into(),
        org: OrgCode::parse(org).unwrap(),
        name: "京山县总工会".into(),
        kind: NoticeKind::Overdue(day("2026-02-08")),
        due: Some(day("2026-02-05")),
        days_overdue: 3,
        link: None,
        overdue: vec![],
        summary: None,
    }
}

/// Each way a channel says no is a refusal or an unanswered send, never a delivery: a wrong key or
/// signature (HTTP 200 with an error code), a rate limit, a timeout, a closed port, an SMTP
/// 550 or 451, and a server that offers no STARTTLS when it is required.
#[tokio::test]
async fn each_refusal_is_judged_by_the_answer_and_never_taken_as_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (url, robots) = fakes::robots().await;
    let sender = Sender::new(Err("no [smtp]".into()), Duration::from_secs(1)).unwrap();
    let n = notice("H01");
    let send = |kind, path: String, secret: Option<&str>| {
        let c =
            Channel::webhook(kind, &format!("{url}{path}"), secret.map(str::to_string)).unwrap();
        let (sender, n) = (&sender, &n);
        async move { sender.send(&c, n).await }
    };
    let code = |d: Delivery| match d {
        Delivery::Refused { code, .. } => code,
        other => panic!("not a refusal: {other:?}"),
    };
    assert_eq!(
        code(
            send(
                WebhookKind::Wecom,
                "/cgi-bin/webhook/send?key=wrong".into(),
                None
            )
            .await
        ),
        "93000"
    );
    let ding = format!("/robot/send?access_token={DINGTALK_TOKEN}");
    assert_eq!(
        code(send(WebhookKind::Dingtalk, ding.clone(), Some("SECwrong")).await),
        "310000"
    );
    assert_eq!(
        code(send(WebhookKind::Dingtalk, ding.clone(), None).await),
        "310000",
        "unsigned"
    );
    assert_eq!(
        send(WebhookKind::Dingtalk, ding, Some(DINGTALK_SECRET)).await,
        Delivery::Delivered
    );
    let feishu = format!("/open-apis/bot/v2/hook/{FEISHU_HOOK}");
    assert_eq!(
        code(send(WebhookKind::Feishu, feishu.clone(), Some("wrong")).await),
        "19021"
    );
    assert_eq!(
        send(WebhookKind::Feishu, feishu, Some(FEISHU_SECRET)).await,
        Delivery::Delivered
    );

    // The robot's own rate limit (20 a minute): past it, 45009 with a pause to wait; not delivered.
    // (Sent without the sender's window, which would have waited: see channels::limit.)
    let http = reqwest::Client::new();
    let wecom = format!("{url}/cgi-bin/webhook/send?key={WECOM_KEY}");
    for _ in 0..20 {
        let d =
            bangfu_hub::channels::robots::post(&http, WebhookKind::Wecom, &wecom, None, &n).await;
        assert_eq!(d, Delivery::Delivered);
    }
    let d = bangfu_hub::channels::robots::post(&http, WebhookKind::Wecom, &wecom, None, &n).await;
    assert!(
        matches!(&d, Delivery::Refused { code, retry_after: Some(_), .. } if code == "45009"),
        "{d:?}"
    );
    assert_eq!(robots.lock().unwrap().accepted["wecom"].len(), 20);

    // No answer in time: it may have arrived, so it is "unknown", not resent.
    let d = send(WebhookKind::Wecom, "/slow".into(), None).await;
    assert_eq!(d.state(), "unknown", "{d:?}");
    // Nothing listening: not delivered, tried again.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Channel::webhook(
        WebhookKind::Wecom,
        &format!("http://127.0.0.1:{closed}/x"),
        None,
    )
    .unwrap();
    assert_eq!(sender.send(&c, &n).await.state(), "unavailable");

    // SMTP: a 550 for the mailbox and a 451 for the data are refusals; then it is taken.
    let (tls, ca) = fakes::smtp_tls(dir.path());
    let (port, mailbox) = fakes::smtp(Some(tls)).await;
    let smtp = |port, security, ca: Option<PathBuf>| SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(port),
        security,
        username: None,
        password_file: None,
        from: "cuibao@h.example.org".into(),
        ca_file: ca,
    };
    let mailer = Mailer::new(
        &smtp(port, SmtpSecurity::Starttls, Some(ca.clone())),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(code(mailer.send("nobody@h.example.org", &n).await), "550");
    mailbox.lock().unwrap().refuse = 1;
    assert_eq!(code(mailer.send("h01@h.example.org", &n).await), "451");
    assert_eq!(
        mailer.send("h01@h.example.org", &n).await,
        Delivery::Delivered
    );
    assert_eq!(mailbox.lock().unwrap().mails.len(), 1);
    // A certificate from a CA the hub was not told to trust: not sent.
    let untrusted = Mailer::new(
        &smtp(port, SmtpSecurity::Starttls, None),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_ne!(
        untrusted.send("h01@h.example.org", &n).await,
        Delivery::Delivered
    );

    // A server without STARTTLS when it is required: nothing goes out in plain text.
    let (plain_port, plain) = fakes::smtp(None).await;
    let required = Mailer::new(
        &smtp(plain_port, SmtpSecurity::Starttls, Some(ca)),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_ne!(
        required.send("h01@h.example.org", &n).await,
        Delivery::Delivered
    );
    assert!(plain.lock().unwrap().mails.is_empty());
    let none = Mailer::new(
        &smtp(plain_port, SmtpSecurity::None, None),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(
        none.send("h01@h.example.org", &n).await,
        Delivery::Delivered
    );
    assert!(!plain.lock().unwrap().mails[0].tls);
}

/// Bad channel flags are refused naming the flag, and change nothing already registered.
#[tokio::test]
async fn a_bad_channel_flag_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = setup(dir.path(), None, None).await;
    let d = s(&data);
    ok(&[
        "org",
        "add",
        "--data",
        d,
        "--code",
        "H01",
        "--name",
        "京山县总工会",
        "--email",
        "a@h.example.org",
    ]);
    let out = hub(&[
        "org",
        "update",
        "--data",
        d,
        "--code",
        "H01",
        "--email",
        "not-an-address",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--email"),
        "{out:?}"
    );
    let out = hub(&[
        "org",
        "update",
        "--data",
        d,
        "--code",
        "H01",
        "--webhook",
        "https://qyapi.example/x?key=k",
        "--webhook-kind",
        "wecom",
        "--webhook-secret-file",
        "/nonexistent",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("--webhook-secret-file") && !err.contains("key=k"),
        "{err}"
    );
    let out = hub(&[
        "org",
        "update",
        "--data",
        d,
        "--code",
        "H09",
        "--email",
        "b@h.example.org",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("H09"),
        "{out:?}"
    );
    // H01 still has its address, and nothing else.
    let store = bangfu_hub::store::Store::open(&bangfu_hub::config::sqlite_url(&data))
        .await
        .unwrap();
    let channels = bangfu_hub::channels::store::of(&store, "H01")
        .await
        .unwrap();
    store.close().await;
    assert_eq!(channels, vec![Channel::email("a@h.example.org").unwrap()]);
}

/// An `[smtp]` that cannot be used leaves the e-mail reminders undelivered, saying why, and the
/// robots still get theirs.
#[tokio::test]
async fn a_broken_smtp_setting_does_not_hold_back_the_robots() {
    let dir = tempfile::tempdir().unwrap();
    let (robots_url, robots) = fakes::robots().await;
    let smtp = SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(1),
        security: SmtpSecurity::None,
        username: None,
        password_file: None,
        from: "not a mailbox".into(),
        ca_file: None,
    };
    let data = setup(dir.path(), None, Some(smtp)).await;
    let d = s(&data);
    let wecom = format!("{robots_url}/cgi-bin/webhook/send?key={WECOM_KEY}");
    ok(&[
        "org",
        "add",
        "--data",
        d,
        "--code",
        "H01",
        "--name",
        "京山县总工会",
        "--webhook",
        &wecom,
        "--webhook-kind",
        "wecom",
        "--email",
        "h01@h.example.org",
    ]);
    let out = remind(&data, "2026-02-08").await;
    assert!(
        out.contains("1 made, 1 delivered, 1 not delivered"),
        "{out}"
    );
    assert!(out.contains("[smtp] from = `not a mailbox`"), "{out}");
    assert_eq!(robots.lock().unwrap().accepted["wecom"].len(), 1);
}

/// A robot URL that answers with a body without end (a misconfigured URL serving a stream, or a
/// hostile server): the hub reads at most `ANSWER_LIMIT` bytes of it, judges what it read, and goes on.
#[tokio::test]
async fn an_endless_answer_is_cut_and_judged() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 8192];
        let _ = sock.read(&mut request).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096));
        let mut sent = 0usize;
        // Until the hub hangs up; bounded so a broken hub cannot keep the test alive for ever.
        while sent < 64 * 1024 * 1024 {
            if sock.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += 4096;
        }
        sent
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/cgi-bin/webhook/send?key={WECOM_KEY}");
    let d = tokio::time::timeout(
        Duration::from_secs(20),
        bangfu_hub::channels::robots::post(&http, WebhookKind::Wecom, &url, None, &notice("H01")),
    )
    .await
    .expect("the hub stops reading an endless answer");
    assert_ne!(d, Delivery::Delivered, "{d:?}");
    let sent = server.await.unwrap();
    assert!(
        sent < 16 * 1024 * 1024,
        "the hub read {sent} bytes of an answer it needs 100 of"
    );
}

/// Issue 13: certificates of the tree ending within 30 days reach the hub's own contact as one
/// digest a day. The test hub's certificates last 30 days, so its own and its county's are named;
/// a second round the same day sends nothing more, the next day's round sends the next digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_ending_within_thirty_days_reach_the_hubs_own_contact_once_a_day() {
    let (robots_url, robots) = fakes::robots().await;
    let hub =
        bangfu_hub::testing::TestHub::start("H", HubLevel::Prefecture, &[("H01", "京山县")]).await;
    // The county's certificate, issued by the hub's CA (the issue log the digest reads).
    hub.identity("H01");
    let own = Channel::Webhook {
        kind: WebhookKind::Wecom,
        url: format!("{robots_url}/cgi-bin/webhook/send?key={WECOM_KEY}"),
        secret: None,
    };
    bangfu_hub::channels::store::set(&hub.hub.store, "H", Some(&own), None)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let today = bangfu_shared::time::local_day(now);
    let digests = || {
        robots
            .lock()
            .unwrap()
            .accepted
            .get("wecom")
            .cloned()
            .unwrap_or_default()
    };
    // The serving hub runs a round of its own at start (jobs::remind), concurrently with this one:
    // whichever claims today's digest first sends it, the other finds it claimed. So the digest is
    // awaited rather than expected the moment this round returns (it may be the other's, in flight).
    bangfu_hub::reminders::round(&hub.hub, today, now)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while digests().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = digests();
    assert_eq!(got.len(), 1, "{got:?}");
    let content = got[0]["markdown"]["content"].as_str().unwrap().to_string();
    assert!(content.contains("【证书到期提醒】"), "{content}");
    assert!(content.contains("this hub's cert.pem"), "{content}");
    assert!(content.contains("H01's certificate"), "{content}");
    bangfu_hub::reminders::round(&hub.hub, today, now)
        .await
        .unwrap();
    assert_eq!(
        digests().len(),
        1,
        "the same day's digest is not sent twice"
    );
    let tomorrow = now + chrono::Duration::days(1);
    bangfu_hub::reminders::round(&hub.hub, today.succ_opt().unwrap(), tomorrow)
        .await
        .unwrap();
    assert_eq!(digests().len(), 2, "the next day's digest");
    hub.stop().await;
}
