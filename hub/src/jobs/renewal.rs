//! The hub renews its own certificate (issue 13): checked at the start and every hour; once two
//! thirds of its life has passed, a new key is made here and the certificate signed by this hub's
//! own CA (the province) or, over mTLS with the current certificate, by its parent. The files in
//! the TLS folder are replaced whole and the server re-reads them at its next handshake; the client
//! to the parent presents the new one from its next connection.

use std::time::Duration;

use bangfu_client::Parent;
use bangfu_client::pki;
use bangfu_client::renew;

use crate::app::Hub;
use crate::enrolment::CERTIFICATE_DAYS;

/// How often the certificate's age is looked at.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Checks now and every [`EVERY`] until stopped; a failure is logged and tried again next time.
pub async fn run(hub: Hub) {
    loop {
        match once(&hub).await {
            Ok(Some(r)) => {
                tracing::info!(org = %r.org, serial = %r.serial, not_after = %r.not_after, "own certificate renewed")
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "renewing the hub's own certificate failed; tried again in an hour")
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Renews the hub's certificate if due.
pub async fn once(hub: &Hub) -> Result<Option<renew::Renewed>, bangfu_client::enrol::Error> {
    let tls = &hub.config.tls;
    if let Some(dir) = hub
        .config
        .pki
        .as_ref()
        .filter(|d| d.join(pki::CA_KEY).exists())
    {
        return renew::renew_locally_if_due(dir, tls, CERTIFICATE_DAYS, hub.now());
    }
    let Some(url) = hub.config.parent.as_deref() else {
        return Ok(None);
    };
    let parent = Parent::pinned(url, tls, hub.config.parent_org().as_ref()).map_err(|e| {
        bangfu_client::enrol::Error::Unreachable {
            url: url.to_string(),
            detail: e.to_string(),
        }
    })?;
    renew::renew_if_due(&parent, tls, hub.now()).await
}
