//! What a person at a hub asks about a campaign from the command line: `rollup` (the JSON), `status`
//! (a table), `review` (accept or return a child's report) and `remind` (a round of reminders now).

use anyhow::Context as _;
use bangfu_shared::printable::printable;

use super::{DataDir, RemindArgs, ReviewArgs, RollupArgs, StatusArgs, open};
use crate::review;
use crate::{campaigns, official};
use bangfu_shared::protocol::{CampaignId, Version};

/// What `rollup --format` writes: the rollup JSON (the default, CONTRACT.md) or the official table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RollupFormat {
    Json,
    Table,
    Csv,
    Xlsx,
}

impl RollupFormat {
    fn official(self) -> Option<official::Format> {
        match self {
            RollupFormat::Json => None,
            RollupFormat::Table => Some(official::Format::Table),
            RollupFormat::Csv => Some(official::Format::Csv),
            RollupFormat::Xlsx => Some(official::Format::Xlsx),
        }
    }
}

/// `bangfu-hub rollup`: the current rollup (stored as a version if it changed), or a stored version,
/// as JSON or as the official table (`--format table|csv|xlsx`).
pub async fn rollup(args: RollupArgs) -> anyhow::Result<()> {
    let RollupArgs {
        data: DataDir { data },
        campaign,
        version,
        format,
        out,
    } = args;
    if format == RollupFormat::Xlsx && out.is_none() {
        anyhow::bail!(
            "--format xlsx writes a workbook: give --out FILE.xlsx / 请用 --out 指定文件"
        );
    }
    let hub = open(&data).await?;
    let made = official_or_json(&hub, &campaign, version, format).await;
    hub.close().await;
    let bytes = made?;
    match out {
        Some(path) => {
            write_file(&path, &bytes)?;
            println!("汇总表 / written: {}", path.display());
        }
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(&bytes)
                .context("writing to standard output")?;
        }
    }
    Ok(())
}

/// The bytes `rollup` writes: the JSON as before (a line), or the official table.
async fn official_or_json(
    hub: &crate::app::Hub,
    campaign: &CampaignId,
    version: Option<Version>,
    format: RollupFormat,
) -> anyhow::Result<Vec<u8>> {
    let stored = match version {
        Some(n) => Some(
            crate::rollup::versions::get(&hub.store, campaign, n)
                .await
                .with_context(|| format!("reading rollup {n} of {campaign}"))?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "没有汇总版本 / no stored rollup version {n} of campaign `{campaign}`"
                    )
                })?,
        ),
        None => None,
    };
    let Some(official) = format.official() else {
        let text = match stored {
            Some(body) => body,
            None => {
                let r = hub
                    .rollup(campaign)
                    .await
                    .with_context(|| format!("rolling up {campaign}"))?;
                serde_json::to_string_pretty(&r).context("writing JSON")?
            }
        };
        return Ok(format!("{text}\n").into_bytes());
    };
    let rendered = match stored {
        None => official::render(hub, campaign, official).await,
        Some(body) => {
            let c = campaigns::get(&hub.store, campaign.as_str())
                .await
                .with_context(|| format!("reading campaign {campaign}"))?
                .ok_or_else(|| {
                    anyhow::anyhow!("no campaign `{campaign}` on this hub / 没有此填报任务")
                })?;
            let json = serde_json::from_str(&body).with_context(|| {
                format!("reading rollup {} of {campaign}", version.expect("stored"))
            })?;
            official::render_rollup(json, &c, hub.clock.today(), official)
        }
    };
    Ok(rendered
        .with_context(|| format!("the official table of {campaign}"))?
        .bytes)
}

/// Writes `bytes` to `path` whole or not at all: a half-written workbook is never left under the
/// name asked for.
fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

/// `bangfu-hub status`: the campaign's completeness, children and findings as a table.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let StatusArgs {
        data: DataDir { data },
        campaign,
    } = args;
    let hub = open(&data).await?;
    let text = crate::status::render(&hub, &campaign)
        .await
        .with_context(|| format!("the status of {campaign}"));
    let certificates = crate::enrolment::certificate_warnings(&hub);
    hub.close().await;
    print!("{}", text?);
    for line in certificates {
        println!("警告 / warning: {line}");
    }
    Ok(())
}

/// `bangfu-hub review`: a decision on a child's report, recorded and printed.
pub async fn review(args: ReviewArgs) -> anyhow::Result<()> {
    let ReviewArgs {
        data: DataDir { data },
        campaign,
        org,
        accept,
        return_reason,
        version,
    } = args;
    let hub = open(&data).await?;
    let decision = if accept {
        review::Decision::Accept
    } else {
        review::Decision::Return(return_reason.unwrap_or_default())
    };
    let done = review::decide(&hub.store, &campaign, &org, version, &decision, hub.now()).await;
    hub.close().await;
    let r = done.with_context(|| {
        format!("reviewing {org}'s report on {campaign} (nothing was recorded / 未记录)")
    })?;
    let why = r
        .reason
        .as_deref()
        .map(|w| format!(": {}", printable(w)))
        .unwrap_or_default();
    println!(
        "{} / {}: {} version {} of {}{why}",
        r.state.label(),
        r.state,
        r.org,
        r.version,
        r.campaign
    );
    Ok(())
}

/// `bangfu-hub remind`: one round now (or as of `--today`), and what it made and delivered; with
/// `--test --org`, each channel's answer to a test message.
pub async fn remind(args: RemindArgs) -> anyhow::Result<()> {
    let RemindArgs {
        data: DataDir { data },
        today,
        test,
        org,
    } = args;
    let hub = open(&data).await?;
    if let (true, Some(org)) = (test, org) {
        let answers = crate::reminders::test(&hub, &org).await;
        hub.close().await;
        let answers = answers?;
        anyhow::ensure!(
            !answers.is_empty(),
            "{org} has no reminder channel: add one with org update --code {org} --webhook URL or --email ADDR / 该单位未配置催报通道"
        );
        for (channel, answer) in &answers {
            println!("{channel}: {answer}");
        }
        let failed = answers
            .iter()
            .filter(|(_, d)| *d != crate::channels::Delivery::Delivered)
            .count();
        anyhow::ensure!(
            failed == 0,
            "{failed} of {} channels did not take the test message / 部分通道测试未通过",
            answers.len()
        );
        return Ok(());
    }
    let now = hub.now();
    let today = today.unwrap_or_else(|| hub.clock.today());
    let round = crate::reminders::round(&hub, today, now).await;
    hub.close().await;
    let round = round?;
    for r in &round.made {
        println!(
            "提醒 made      {} {} {}: {}",
            r.campaign,
            r.org,
            r.kind,
            printable(&r.message)
        );
    }
    for n in &round.escalated {
        println!(
            "上报本级 escalated {} {} overdue children: {}",
            n.campaign,
            n.overdue.len(),
            n.overdue
                .iter()
                .map(|c| format!("{} ({} days)", c.org, c.days))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for s in &round.delivered {
        let n = &s.notice;
        println!(
            "已送达 delivered {} {} {} ({})",
            n.campaign, n.org, n.kind, s.channel
        );
    }
    for s in &round.failed {
        let n = &s.notice;
        println!(
            "未送达 not delivered {} {} {} ({}): {} after {} tries",
            n.campaign,
            n.org,
            n.kind,
            s.channel,
            printable(&s.delivery.to_string()),
            s.tries
        );
    }
    println!(
        "{} made, {} delivered, {} not delivered / 新提醒 {} 条",
        round.made.len(),
        round.delivered.len(),
        round.failed.len(),
        round.made.len()
    );
    Ok(())
}
