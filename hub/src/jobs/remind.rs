//! Reminder rounds (催报) in a serving hub: one at start and one at each `[remind] schedule` (six
//! cron fields, seconds first, Asia/Shanghai; default 09:00 daily). What a round does is in
//! [`crate::reminders`]; `bangfu-hub remind` runs one now.

use crate::app::Hub;
use crate::jobs::cron::{self, Schedule};

/// The setting the reminder schedule comes from, as its errors name it.
pub const SETTING: &str = "[remind] schedule";

/// Checks `[remind] schedule`, starts the scheduled rounds and runs one now. Keep the returned
/// scheduler for as long as reminders should be made.
pub async fn start(hub: Hub) -> Result<tokio_cron_scheduler::JobScheduler, cron::Error> {
    let schedule = Schedule::parse(SETTING, &hub.config.remind.schedule)?;
    let scheduler = {
        let hub = hub.clone();
        cron::start(
            &schedule,
            Box::new(move || {
                let hub = hub.clone();
                Box::pin(async move { log_round(&hub).await })
            }),
        )
        .await?
    };
    tokio::spawn(async move { log_round(&hub).await });
    Ok(scheduler)
}

async fn log_round(hub: &Hub) {
    let now = hub.clock.now();
    let today = bangfu_shared::time::local_day(now);
    match crate::reminders::round(hub, today, now).await {
        Ok(r) => tracing::info!(
            made = r.made.len(),
            escalated = r.escalated.len(),
            delivered = r.delivered.len(),
            failed = r.failed.len(),
            "reminder round done"
        ),
        Err(e) => tracing::error!(
            error = %e,
            "reminder round failed; tried again at the next one"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broken `[remind] schedule` is reported as what it is, not as a pull-schedule error.
    #[tokio::test]
    async fn a_bad_remind_schedule_is_named_as_the_remind_setting() {
        let dir = tempfile::tempdir().unwrap();
        let text = "org = \"H\"\nname = \"x\"\nlevel = \"prefecture\"\ntls = \"/t\"\n[remind]\nschedule = \"0 9 * * *\"\n";
        std::fs::write(dir.path().join(crate::config::FILE), text).unwrap();
        let hub = Hub::open(dir.path()).await.unwrap();
        let e = match start(hub.clone()).await {
            Ok(_) => panic!("a five-field schedule started"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("[remind] schedule `0 9 * * *`") && !e.contains("pull"),
            "{e}"
        );
        hub.close().await;
    }
}
