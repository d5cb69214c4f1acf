//! The one cron helper of the hub's scheduled jobs (`[pull] schedule`, `[remind] schedule`): six
//! fields, seconds first (tokio-cron-scheduler's form: `sec min hour day-of-month month
//! day-of-week`), run in Asia/Shanghai whatever the machine's zone (DESIGN.md "Time").
//!
//! A schedule is checked when the hub starts, and its error names the setting it came from, so a typo
//! in `[remind]` is reported as a `[remind]` error, not silently never run.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Shanghai;

/// Why a schedule is refused or its scheduler did not start. `what` names the setting
/// (`[pull] schedule`, `[remind] schedule`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{what} `{expr}`: {fields} fields, six are needed, seconds first (\"0 0 8 * * *\" is 08:00 daily) / 定时表达式须为六段"
    )]
    Fields {
        what: &'static str,
        expr: String,
        fields: usize,
    },
    #[error("{what} `{expr}`: {detail} / 定时表达式错误")]
    Parse {
        what: &'static str,
        expr: String,
        detail: String,
    },
    #[error("{what}: the scheduler did not start: {detail}")]
    Scheduler { what: &'static str, detail: String },
}

/// A checked schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    what: &'static str,
    expr: String,
    cron: croner::Cron,
}

impl Schedule {
    /// Checks `expr`, the value of the setting `what`.
    pub fn parse(what: &'static str, expr: &str) -> Result<Schedule, Error> {
        let fields = expr.split_whitespace().count();
        if fields != 6 {
            return Err(Error::Fields {
                what,
                expr: expr.to_string(),
                fields,
            });
        }
        // The same parser settings as tokio-cron-scheduler's own, so what passes here runs there.
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expr)
            .map_err(|e| Error::Parse {
                what,
                expr: expr.to_string(),
                detail: e.to_string(),
            })?;
        Ok(Schedule {
            what,
            expr: expr.to_string(),
            cron,
        })
    }

    /// The next run after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
        let local = after.with_timezone(&Shanghai);
        let next = self
            .cron
            .find_next_occurrence(&local, false)
            .map_err(|e| Error::Parse {
                what: self.what,
                expr: self.expr.clone(),
                detail: format!("no next run: {e}"),
            })?;
        Ok(next.with_timezone(&Utc))
    }

    pub fn as_str(&self) -> &str {
        &self.expr
    }
}

/// Checks `expr` (the value of the setting `what`) and returns its next run after `after`.
pub fn next_run(
    what: &'static str,
    expr: &str,
    after: DateTime<Utc>,
) -> Result<DateTime<Utc>, Error> {
    Schedule::parse(what, expr)?.next_after(after)
}

/// A job's work, started at each run.
pub type Work = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Starts `work` on `schedule` in the background. Keep the returned scheduler for as long as the job
/// should run; [`tokio_cron_scheduler::JobScheduler::shutdown`] stops it.
pub async fn start(
    schedule: &Schedule,
    work: Work,
) -> Result<tokio_cron_scheduler::JobScheduler, Error> {
    let what = schedule.what;
    let failed = |e: tokio_cron_scheduler::JobSchedulerError| Error::Scheduler {
        what,
        detail: e.to_string(),
    };
    let scheduler = tokio_cron_scheduler::JobScheduler::new()
        .await
        .map_err(failed)?;
    let job = tokio_cron_scheduler::Job::new_async_tz(
        schedule.as_str(),
        Shanghai,
        move |_id, _scheduler| work(),
    )
    .map_err(|e| Error::Parse {
        what,
        expr: schedule.expr.clone(),
        detail: e.to_string(),
    })?;
    scheduler.add(job).await.map_err(failed)?;
    scheduler.start().await.map_err(failed)?;
    let next = schedule.next_after(Utc::now())?;
    tracing::info!(setting = what, schedule = %schedule.expr, next = %next.with_timezone(&Shanghai), "scheduled job on (Asia/Shanghai)");
    Ok(scheduler)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PULL: &str = "[pull] schedule";

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn eight_oclock_is_eight_in_shanghai_not_utc() {
        // 2026-12-01 01:00 UTC is 09:00 in Shanghai: the next 08:00 there is 2026-12-02 00:00 UTC.
        assert_eq!(
            next_run(PULL, "0 0 8 * * *", utc("2026-12-01T01:00:00Z")).unwrap(),
            utc("2026-12-02T00:00:00Z")
        );
        // 2026-11-30 23:00 UTC is 07:00 in Shanghai: 08:00 comes an hour later.
        assert_eq!(
            next_run(PULL, "0 0 8 * * *", utc("2026-11-30T23:00:00Z")).unwrap(),
            utc("2026-12-01T00:00:00Z")
        );
    }

    #[test]
    fn seconds_come_first() {
        assert_eq!(
            next_run(PULL, "*/5 * * * * *", utc("2026-12-01T00:00:01Z")).unwrap(),
            utc("2026-12-01T00:00:05Z")
        );
    }

    #[test]
    fn a_five_field_or_broken_schedule_is_refused_naming_it() {
        let e = next_run(PULL, "0 8 * * *", Utc::now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`0 8 * * *`") && e.contains("six"), "{e}");
        let e = next_run(PULL, "0 0 25 * * *", Utc::now())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`0 0 25 * * *`"), "{e}");
    }

    #[test]
    fn the_sample_config_has_a_valid_pull_schedule() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let c: crate::config::HubConfig =
            toml::from_str(&std::fs::read_to_string(dir.join("hub.sample.toml")).unwrap()).unwrap();
        let schedule = c.pull.expect("the sample has [pull]").schedule;
        next_run(PULL, &schedule, Utc::now()).unwrap();
    }
}
