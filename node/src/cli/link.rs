//! The node and its parent from the command line: `connect`, `push` (now), `status` (what was sent
//! and what the parent said), and `serve` (the [`crate::daemon`] until Ctrl-C or SIGTERM).

use bangfu_shared::printable::printable;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use bangfu_shared::protocol::OutboxState;

use super::{ConnectArgs, EnrolArgs, PushArgs, ServeArgs, StatusArgs};
use crate::archive::Archive;
use crate::daemon::{self, Daemon, Options};
use crate::parent::{Outcome, Parent};
use crate::settings::Settings;
use crate::{campaigns, outbox, reminders, reviews};

/// The parent client, if this node is connected.
fn parent(settings: &Settings) -> anyhow::Result<Option<Parent>> {
    daemon::parent_of(settings).context("loading the parent connection (bangfu-node connect)")
}

/// `connect`: the parent's URL and the identity folder, checked and saved.
pub fn connect(args: ConnectArgs) -> anyhow::Result<()> {
    let ConnectArgs {
        data,
        parent,
        tls,
        parent_org,
    } = args;
    let mut settings = Settings::load(&data)?;
    let tls = std::path::absolute(&tls).with_context(|| format!("resolving {}", tls.display()))?;
    if parent_org.is_some() {
        settings.parent_org = parent_org;
    }
    let expected = settings.parent_org().with_context(|| {
        format!(
            "{} is not a county code, so its parent's org cannot be told from it: give --parent-org / 请用 --parent-org 指定上级单位",
            settings.org
        )
    })?;
    let client = Parent::pinned(&parent, &tls, Some(&expected))
        .context("checking the parent URL and identity folder")?;
    settings.parent = Some(client.url().to_string());
    settings.tls = Some(tls.clone());
    settings.save(&data)?;
    println!(
        "已连接 / connected: {} → {} {} (identity {})",
        settings.org,
        expected,
        client.url(),
        tls.display()
    );
    Ok(())
}

/// `enrol`: a key made here, a certificate from the parent for the one-time code, then connected.
pub async fn enrol(args: EnrolArgs) -> anyhow::Result<()> {
    let EnrolArgs {
        data,
        parent,
        code,
        ca_fingerprint,
        parent_org,
        hosts,
    } = args;
    let mut settings = Settings::load(&data)?;
    if parent_org.is_some() {
        settings.parent_org = parent_org;
    }
    let expected = settings.parent_org().with_context(|| {
        format!(
            "{} is not a county code, so its parent's org cannot be told from it: give --parent-org / 请用 --parent-org 指定上级单位",
            settings.org
        )
    })?;
    let data_abs =
        std::path::absolute(&data).with_context(|| format!("resolving {}", data.display()))?;
    let out = data_abs.join("tls");
    let enrolled = bangfu_client::enrol::enrol(&bangfu_client::enrol::EnrolOptions {
        parent: parent.clone(),
        code,
        ca_fingerprint,
        org: settings.org.clone(),
        name: settings.name.clone(),
        parent_org: expected.clone(),
        hosts,
        out: out.clone(),
    })
    .await
    .with_context(|| format!("enrolling {} at {parent}", settings.org))?;
    let client = Parent::pinned(&parent, &out, Some(&expected))
        .context("checking the new identity folder")?;
    settings.parent = Some(client.url().to_string());
    settings.tls = Some(out.clone());
    settings.save(&data)?;
    println!(
        "已注册 / enrolled: {} certificate {} valid until {} (key made here, {})",
        settings.org,
        enrolled.serial,
        enrolled.not_after.format("%Y-%m-%d"),
        out.join(bangfu_client::pki::KEY).display()
    );
    println!(
        "已连接 / connected: {} → {} {}",
        settings.org,
        expected,
        client.url()
    );
    Ok(())
}

/// `push`: sync campaigns, version the campaign's report if it changed, deliver the outbox once.
/// Non-zero when the parent refused a version or could not be reached.
pub async fn push(args: PushArgs) -> anyhow::Result<()> {
    let PushArgs { data, campaign } = args;
    let id = campaign.as_str();
    let settings = Settings::load(&data)?;
    let archive = Archive::open(&data, false).await?;
    let parent = parent(&settings)?;
    if let Some(p) = &parent {
        match daemon::sync_campaigns(p, &archive, &settings).await {
            Ok(Some(line)) | Err(line) => println!("{}", printable(&line)),
            Ok(None) => {}
        }
    }
    let versioned =
        daemon::version_campaign(&data, &archive, &settings, id, chrono::Utc::now()).await?;
    match &versioned {
        outbox::Versioned::New { version, hash } => println!(
            "campaign {id} version {version}: new version queued (sha256 {hash}) / 新版本已排队"
        ),
        outbox::Versioned::Unchanged { version } => {
            println!("campaign {id} version {version}: unchanged, no new version / 内容未变")
        }
    }
    let Some(parent) = parent else {
        archive.close().await;
        bail!(
            "not connected to a parent, the report waits in the outbox; run `bangfu-node connect` / 尚未连接上级"
        );
    };
    let deliveries = outbox::drain(&parent, &archive, chrono::Utc::now(), true).await?;
    archive.close().await;
    for d in &deliveries {
        println!("{}", printable(&d.to_string()));
    }
    let refused = deliveries
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Refused { .. }))
        .count();
    let unreachable = deliveries
        .iter()
        .filter(|d| matches!(d.outcome, Outcome::Unavailable { .. }))
        .count();
    if refused > 0 {
        bail!("the parent refused {refused} version(s); see the lines above / 上级拒收");
    }
    if unreachable > 0 {
        bail!(
            "the parent {} could not take {unreachable} version(s); they stay queued and `serve` retries them / 上级暂不可达",
            parent.url()
        );
    }
    Ok(())
}

/// `status`: campaigns, the versions sent, the parent's reviews and reminders (asked for live
/// unless `--offline`).
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let StatusArgs { data, offline } = args;
    let data = data.as_path();
    let settings = Settings::load(data)?;
    let archive = Archive::open(data, false).await?;
    println!(
        "节点 / node: {} {}  上级 / parent: {}",
        settings.org,
        settings.name,
        settings
            .parent
            .as_deref()
            .unwrap_or("(not connected / 未连接)")
    );
    if let Some(tls) = &settings.tls {
        // A county whose certificate ends stops reporting: said a month ahead.
        let path = tls.join(bangfu_client::pki::CERT);
        match std::fs::read_to_string(&path) {
            Ok(pem) => {
                let what = format!("{}'s certificate", settings.org);
                if let Some(line) = bangfu_client::expiry::warning(&what, &pem, chrono::Utc::now())
                {
                    println!("警告 / warning: {line}");
                }
            }
            Err(e) => println!("警告 / warning: reading {}: {e}", path.display()),
        }
    }
    if let (Some(p), false) = (parent(&settings)?, offline) {
        if let Err(line) = reviews::fetch(&p, &archive, &settings.org, chrono::Utc::now()).await {
            println!(
                "{}; showing the reviews as last fetched / 显示上次获取的审核结果",
                printable(&line)
            );
        }
        if let Err(line) = reminders::refresh(&p, &archive, chrono::Utc::now()).await {
            println!(
                "{}; showing the reminders as last fetched / 显示上次获取的催报提醒",
                printable(&line)
            );
        }
    }
    let reviews = reviews::list(&archive).await?;
    let reminders = reminders::list(&archive).await?;
    let entries = outbox::entries(&archive).await?;
    let campaigns = campaigns::list(&archive).await?;
    for c in &campaigns {
        let due = c.due.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "campaign {}  {}  {}  {} – {}  due {}",
            c.id,
            printable(&c.template),
            printable(&c.title),
            c.start,
            c.end,
            due
        );
        let mine: Vec<_> = entries
            .iter()
            .filter(|e| c.id == e.campaign.as_str())
            .collect();
        if mine.is_empty() {
            println!("  no version yet / 尚未生成报表版本");
        }
        for e in mine {
            let mut line = format!(
                "  version {}  {}  attempts {}",
                e.version, e.state, e.attempts
            );
            if let Some(t) = e.on_time {
                line.push_str(if t { "  on time" } else { "  late" });
            }
            if let Some(at) = &e.acked_at {
                line.push_str(&format!("  acked {at}"));
            }
            if e.state == OutboxState::Pending.as_str() && e.attempts > 0 {
                line.push_str(&format!(
                    "  next attempt {}",
                    e.next_attempt_at.to_rfc3339()
                ));
            }
            if let Some(err) = &e.last_error {
                let status = e.last_status.map(|s| format!("{s} ")).unwrap_or_default();
                line.push_str(&format!("  last error: {status}{err}"));
            }
            println!("{}", printable(&line));
        }
        for r in reviews.iter().filter(|r| r.campaign == c.id) {
            println!("  审核 / review: {}", printable(&reviews::describe(r)));
        }
        for r in reminders.iter().filter(|r| r.campaign == c.id) {
            println!("  提醒 / reminder: {}", printable(&r.message));
        }
    }
    // Reminders about campaigns this node has not synced yet.
    for r in reminders
        .iter()
        .filter(|r| !campaigns.iter().any(|c| c.id == r.campaign))
    {
        println!(
            "提醒 / reminder (campaign {} not synced yet): {}",
            r.campaign,
            printable(&r.message)
        );
    }
    archive.close().await;
    Ok(())
}

/// `serve`: the daemon, saying what it does on stdout, until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        data,
        interval,
        listen,
        no_push,
        ui,
    } = args;
    let options = Options {
        interval: std::time::Duration::from_secs(interval.max(1)),
        listen,
        no_push,
        ui,
        say: Arc::new(|line| println!("{}", printable(line))),
    };
    // Listening for SIGTERM before saying where it listens: a stop sent at once is a clean stop.
    let stop = bangfu_client::signal::stop_requested();
    let daemon = Daemon::build(&data, options).await?;
    // Scripts and tests read this line to learn the address (port 0 picks a free one).
    if let Some(at) = daemon.pull_address() {
        println!("listening on https://{at}");
    }
    if let Some(at) = daemon.ui_address() {
        println!("office UI on http://{at} / 办公页面");
    }
    println!("{}", daemon.describe());
    daemon.run_until_stopped(stop).await?;
    println!("stopped / 已停止");
    Ok(())
}
