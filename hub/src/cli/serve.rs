//! `bangfu-hub serve`: builds the [`crate::startup::Server`], says where it listens, and serves
//! until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;

use super::{DataDir, ServeArgs, open};
use crate::startup::{ServeOptions, Server};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        data: DataDir { data },
        listen,
        pki,
        sync_interval,
        pull_schedule,
        http,
    } = args;
    let hub = open(&data).await?;
    let options = ServeOptions {
        listen,
        pki,
        sync_interval: Duration::from_secs(sync_interval.max(1)),
        pull_schedule,
        dashboard: http,
    };
    // Listening for SIGTERM before saying where it listens: a stop sent at once is a clean stop.
    let stop = bangfu_client::signal::stop_requested();
    let server = Server::build(hub, options)
        .await
        .context("starting the hub")?;
    // Scripts and tests read these two lines to learn the addresses (port 0 picks a free one).
    println!("listening on https://{}", server.address());
    if let Some(url) = server.dashboard_url() {
        println!("dashboard on {url}");
    }
    std::io::stdout().flush().ok();
    server
        .run_until_stopped(async {
            stop.await;
            tracing::info!("stop requested (Ctrl-C or SIGTERM); stopping");
        })
        .await
        .context("serving")
}
