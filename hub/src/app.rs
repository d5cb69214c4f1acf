//! The hub as its handlers, jobs and commands see it: its settings, its store and its clock, opened
//! once from the data folder. Every rollup goes through [`Hub::rollup`], so every caller (the API,
//! the dashboard, `status`, `rollup`, the report sent up) uses the hub's own `[reconcile]` settings.

use std::path::Path;
use std::sync::Arc;

use bangfu_shared::protocol::CampaignId;
use bangfu_shared::time::{Clock, SystemClock};
use chrono::{DateTime, Utc};

use crate::config::{self, HubConfig};
use crate::error::Error;
use crate::rollup::{self, Rollup};
use crate::store::{self, Store};

/// One hub: `config` (hub.toml), `store` (its database) and `clock` (the system's, or a test's).
#[derive(Clone, Debug)]
pub struct Hub {
    pub config: HubConfig,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
}

/// Why a hub does not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error("opening the hub's database: {0}")]
    Store(#[from] store::Error),
}

impl Hub {
    /// Opens the hub in `data` (hub.toml and its database, migrated) with the system clock.
    pub async fn open(data: &Path) -> Result<Hub, OpenError> {
        let config = HubConfig::load(data)?;
        let store = Store::open(&config.database_url(data)).await?;
        Ok(Hub {
            config,
            store,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same hub with another clock (tests move a [`bangfu_shared::time::TestClock`]).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Hub {
        Hub { clock, ..self }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The rollup of campaign `id` with this hub's `[reconcile]` settings, stored as a new version
    /// when it changed.
    pub async fn rollup(&self, id: &CampaignId) -> Result<Rollup, Error> {
        rollup::rollup_with(
            &self.store,
            &self.config.org,
            &self.config.name,
            id,
            &self.config.reconcile,
            &self.verifier(),
        )
        .await
    }

    /// The signature checks with this hub's CA and revocation lists as they are now (refusing every
    /// signature when they do not load).
    pub fn verifier(&self) -> crate::signed::Verifier {
        match crate::signed::revocations(&self.config) {
            Ok(r) => crate::signed::Verifier::new(r),
            Err(e) => crate::signed::Verifier::unavailable(e.to_string()),
        }
    }

    pub async fn close(&self) {
        self.store.close().await;
    }
}
