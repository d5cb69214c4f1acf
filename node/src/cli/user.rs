//! `bangfu-node user …`: the office UI's accounts (clerk, admin), kept in the node's archive.db.

use anyhow::Context as _;
use bangfu_web::cli::UserCmd;

pub async fn run(cmd: UserCmd) -> anyhow::Result<()> {
    let accounts = crate::ui::accounts(cmd.data())
        .await
        .with_context(|| format!("opening the accounts in {}", cmd.data().display()))?;
    bangfu_web::cli::run(cmd, &accounts)
        .await
        .context("bangfu-node user")
}
