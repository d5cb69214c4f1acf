//! What a person at a hub asks about a campaign from the command line: `rollup` (the JSON), `status`
//! (a table), `review` (accept or return a child's report) and `remind` (a round of reminders now).

use anyhow::Context as _;
use bangfu_shared::printable::printable;

use super::{DataDir, RemindArgs, ReviewArgs, RollupArgs, StatusArgs, open};
use crate::review;

/// `bangfu-hub rollup`: the current rollup (stored as a version if it changed), or a stored version.
pub async fn rollup(args: RollupArgs) -> anyhow::Result<()> {
    let RollupArgs {
        data: DataDir { data },
        campaign,
        version,
    } = args;
    let hub = open(&data).await?;
    let text = match version {
        Some(n) => {
            let body = crate::rollup::versions::get(&hub.store, &campaign, n)
                .await
                .with_context(|| format!("reading rollup {n} of {campaign}"));
            hub.close().await;
            body?.ok_or_else(|| {
                anyhow::anyhow!(
                    "没有汇总版本 / no stored rollup version {n} of campaign `{campaign}`"
                )
            })?
        }
        None => {
            let r = hub
                .rollup(&campaign)
                .await
                .with_context(|| format!("rolling up {campaign}"));
            hub.close().await;
            serde_json::to_string_pretty(&r?).context("writing JSON")?
        }
    };
    println!("{text}");
    Ok(())
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
