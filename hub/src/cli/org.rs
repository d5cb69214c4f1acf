//! `bangfu-hub org …` (the registry of children) and `bangfu-hub pull` (fetching a child's report).

use anyhow::Context as _;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::ReceiptStatus;
use clap::Subcommand;

use super::{DataDir, PullArgs, open};
use crate::registry::{self, Org};

#[derive(Subcommand)]
pub enum OrgCmd {
    /// Register a child union, or update its name and contacts.
    ///
    /// Example: bangfu-hub org add --data /srv/bangfu/hub --code H01 --name 京山县总工会
    Add {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        code: OrgCode,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        webhook: Option<String>,
        /// Where the child serves its reports for pulls (https://HOST:PORT, `bangfu-node serve --listen`).
        #[arg(long, value_name = "URL")]
        address: Option<String>,
    },
}

pub async fn run(cmd: OrgCmd) -> anyhow::Result<()> {
    match cmd {
        OrgCmd::Add {
            data: DataDir { data },
            code,
            name,
            email,
            webhook,
            address,
        } => {
            let hub = open(&data).await?;
            let store = &hub.store;
            if let Some(a) = &address {
                anyhow::ensure!(
                    a.starts_with("https://"),
                    "--address {a}: a child is pulled over mutual TLS only, give https://HOST:PORT / 地址须为 https://"
                );
            }
            registry::add(
                store,
                &Org {
                    code: code.clone(),
                    name: name.clone(),
                    email,
                    webhook,
                },
            )
            .await
            .with_context(|| format!("registering {code}"))?;
            if let Some(a) = &address {
                crate::pull::set_address(store, &code, a)
                    .await
                    .with_context(|| format!("recording the address of {code}"))?;
            }
            hub.close().await;
            println!("已登记 / registered: {code} {name}");
            Ok(())
        }
    }
}

/// `bangfu-hub pull`: one child's latest report now, then this hub's own report to its parent.
pub async fn pull(args: PullArgs) -> anyhow::Result<()> {
    let PullArgs {
        data: DataDir { data },
        campaign,
        org,
    } = args;
    let hub = open(&data).await?;
    let pulled = match crate::pull::pull(&hub, &org, &campaign).await {
        Ok(p) => p,
        Err(e) => {
            hub.close().await;
            return Err(e.into());
        }
    };
    println!(
        "{}",
        bangfu_shared::printable::printable_lines(&pulled.to_string())
    );
    // As after a push: this hub's own report changes, and goes to its parent.
    if hub.config.parent.is_some()
        && pulled.receipt.status == ReceiptStatus::Accepted
        && let Err(e) = crate::jobs::upstream::send_now(&hub, &campaign).await
    {
        println!(
            "上报上级未完成 / not yet sent to the parent (a serving hub retries): {}",
            bangfu_shared::printable::printable(&e.to_string())
        );
    }
    hub.close().await;
    Ok(())
}
