//! Scheduled pull: `[pull] schedule = "0 0 8 * * *"` in hub.toml, or `serve --pull-schedule CRON`,
//! makes a serving hub pull every child with an address, for every open campaign, at those times in
//! Asia/Shanghai (DESIGN.md "Time"), whatever the machine's own zone. A failed pull is logged and
//! tried again at the next run; nothing about it stops the hub.
//!
//! The schedule is six cron fields, seconds first (tokio-cron-scheduler's form): `sec min hour
//! day-of-month month day-of-week`.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::HubConfig;
use crate::store::Store;
use crate::upstream;

/// The `[pull]` table of hub.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullSettings {
    /// Six-field cron, seconds first, in Asia/Shanghai time: "0 0 8 * * *" is 08:00 every day.
    pub schedule: String,
}

/// Checks a schedule and returns its next run after `after`, so a typo is refused at start-up with
/// the expression named, not silently never run.
pub fn next_run(expr: &str, after: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let fields = expr.split_whitespace().count();
    anyhow::ensure!(
        fields == 6,
        "pull schedule `{expr}`: {fields} fields, six are needed, seconds first (\"0 0 8 * * *\" is 08:00 daily) / 定时表达式须为六段"
    );
    // The same parser settings as tokio-cron-scheduler's own, so what passes here runs there.
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| anyhow::anyhow!("pull schedule `{expr}`: {e} / 定时表达式错误"))?;
    let local = after.with_timezone(&chrono_tz::Asia::Shanghai);
    let next = cron
        .find_next_occurrence(&local, false)
        .map_err(|e| anyhow::anyhow!("pull schedule `{expr}`: no next run: {e}"))?;
    Ok(next.with_timezone(&Utc))
}

/// Starts the scheduled pull in the background of a serving hub. Newly accepted reports wake the
/// upstream worker (`changed`), as a push does, so a prefecture's rollup goes up after a pull.
/// Keep the returned scheduler for as long as pulls should run.
pub async fn start(
    expr: &str,
    store: Store,
    config: HubConfig,
    changed: Option<Arc<upstream::Changed>>,
) -> anyhow::Result<tokio_cron_scheduler::JobScheduler> {
    let next = next_run(expr, Utc::now())?;
    let scheduler = tokio_cron_scheduler::JobScheduler::new()
        .await
        .context("starting the pull scheduler")?;
    let job = tokio_cron_scheduler::Job::new_async_tz(
        expr,
        chrono_tz::Asia::Shanghai,
        move |_id, _scheduler| {
            let (store, config, changed) = (store.clone(), config.clone(), changed.clone());
            Box::pin(async move {
                let new = crate::pull::pull_all(&store, &config, Utc::now()).await;
                tracing::info!(new = new.len(), "scheduled pull done");
                if let (false, Some(changed)) = (new.is_empty(), changed) {
                    changed.report_accepted();
                }
            })
        },
    )
    .map_err(|e| anyhow::anyhow!("pull schedule `{expr}`: {e} / 定时表达式错误"))?;
    scheduler.add(job).await.context("adding the pull job")?;
    scheduler
        .start()
        .await
        .context("starting the pull scheduler")?;
    tracing::info!(schedule = expr, next = %next.with_timezone(&chrono_tz::Asia::Shanghai), "scheduled pull on (Asia/Shanghai)");
    Ok(scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn eight_oclock_is_eight_in_shanghai_not_utc() {
        // 2026-12-01 01:00 UTC is 09:00 in Shanghai: the next 08:00 there is 2026-12-02 00:00 UTC.
        assert_eq!(
            next_run("0 0 8 * * *", utc("2026-12-01T01:00:00Z")).unwrap(),
            utc("2026-12-02T00:00:00Z")
        );
        // 2026-11-30 23:00 UTC is 07:00 in Shanghai: 08:00 comes an hour later.
        assert_eq!(
            next_run("0 0 8 * * *", utc("2026-11-30T23:00:00Z")).unwrap(),
            utc("2026-12-01T00:00:00Z")
        );
    }

    #[test]
    fn seconds_come_first() {
        assert_eq!(
            next_run("*/5 * * * * *", utc("2026-12-01T00:00:01Z")).unwrap(),
            utc("2026-12-01T00:00:05Z")
        );
    }

    #[test]
    fn a_five_field_or_broken_schedule_is_refused_naming_it() {
        let e = next_run("0 8 * * *", Utc::now()).unwrap_err().to_string();
        assert!(e.contains("`0 8 * * *`") && e.contains("six"), "{e}");
        let e = next_run("0 0 25 * * *", Utc::now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`0 0 25 * * *`"), "{e}");
    }

    #[test]
    fn the_sample_config_has_a_valid_pull_schedule() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let c: HubConfig =
            toml::from_str(&std::fs::read_to_string(dir.join("hub.sample.toml")).unwrap()).unwrap();
        let schedule = c.pull.expect("the sample has [pull]").schedule;
        next_run(&schedule, Utc::now()).unwrap();
    }

    #[test]
    fn an_unknown_key_in_pull_is_refused() {
        let text = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\n[pull]\nschedule = \"0 0 8 * * *\"\nevery = 1\n";
        assert!(toml::from_str::<HubConfig>(text).is_err());
    }
}
