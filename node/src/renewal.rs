//! The node renews its own certificate (issue 13) with no operator step: checked when `serve`
//! starts and every hour; once two thirds of its life has passed, a new key is made here and a
//! certificate for the same org asked of the parent over mTLS with the current one. The files in
//! the identity folder are replaced whole; the client to the parent and the pull server pick the
//! new ones up at their next handshake.

use std::path::PathBuf;
use std::time::Duration;

use bangfu_client::renew;

use crate::daemon::Say;
use crate::parent::Parent;

/// How often the certificate's age is looked at.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Renews when due, now and every [`EVERY`], saying what it did; runs until dropped or aborted.
pub async fn run(parent: Parent, tls: PathBuf, say: Say) {
    loop {
        match renew::renew_if_due(&parent, &tls, chrono::Utc::now()).await {
            Ok(Some(r)) => say(&format!(
                "证书已更新 / certificate renewed: {} serial {} valid until {}",
                r.org,
                r.serial,
                r.not_after.format("%Y-%m-%d")
            )),
            Ok(None) => {}
            Err(e) => say(&format!(
                "证书更新失败 / renewing the certificate failed (tried again in an hour): {e}"
            )),
        }
        tokio::time::sleep(EVERY).await;
    }
}
