//! Scheduled pull: `[pull] schedule = "0 0 8 * * *"` in hub.toml, or `serve --pull-schedule CRON`,
//! makes a serving hub pull every child with an address, for every open campaign, at those times in
//! Asia/Shanghai (DESIGN.md "Time"). A failed pull is logged and tried again at the next run;
//! nothing about it stops the hub.

use std::sync::Arc;

use crate::app::Hub;
use crate::jobs::cron::{self, Schedule};
use crate::jobs::upstream;

/// The setting a pull schedule comes from, as its errors name it.
pub const SETTING: &str = "[pull] schedule";

/// Starts the scheduled pull. Newly accepted reports wake the upstream worker (`changed`), as a push
/// does, so a prefecture's rollup goes up after a pull. Keep the returned scheduler for as long as
/// pulls should run.
pub async fn start(
    hub: Hub,
    schedule: &Schedule,
    changed: Option<Arc<upstream::Changed>>,
) -> Result<tokio_cron_scheduler::JobScheduler, cron::Error> {
    cron::start(
        schedule,
        Box::new(move || {
            let (hub, changed) = (hub.clone(), changed.clone());
            Box::pin(async move {
                let new = crate::pull::pull_all(&hub).await;
                tracing::info!(new = new.len(), "scheduled pull done");
                if let (false, Some(changed)) = (new.is_empty(), changed) {
                    changed.report_accepted();
                }
            })
        }),
    )
    .await
}
