//! `bangfu-hub user …`: the dashboard's accounts (viewer, reviewer, admin), kept in the hub's store.

use anyhow::Context as _;
use bangfu_web::cli::UserCmd;

use super::open;

pub async fn run(cmd: UserCmd) -> anyhow::Result<()> {
    let hub = open(cmd.data()).await?;
    let accounts = bangfu_web::Accounts::new(hub.store.pool.clone(), bangfu_web::roles::HUB)
        .with_clock(hub.clock.clone());
    let outcome = bangfu_web::cli::run(cmd, &accounts).await;
    hub.store.close().await;
    outcome.context("bangfu-hub user")
}
