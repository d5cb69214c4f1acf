//! One rollup computation per change, shared by every open page.
//!
//! Before, each open event stream recomputed the rollup every 2 s (400 open pages cost 70% of a
//! core). Now one watcher task per serving hub learns of changes, recomputes the rollup of each
//! campaign someone is watching once, and publishes it on that campaign's watch channel; every
//! stream and every fragment request of that campaign reads the published rollup.
//!
//! A change is known at once when this process accepts a report ([`Changes::bump`]) or records a
//! review, and within [`POLL`] when another process (the `review`, `org` or `campaign` commands)
//! changed the store: the watcher reads a small fingerprint of the tables a rollup is made from
//! (one query, whatever the number of pages open).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use bangfu_shared::protocol::{CampaignId, Version};
use futures_util::stream::{self, Stream};
use tokio::sync::watch;

use super::DashboardState;
use super::access::Session;
use crate::app::Hub;
use crate::error::Error;
use crate::rollup::Rollup;
use crate::store::{self, Store};

/// How often the watcher looks for changes made by other processes.
pub const POLL: Duration = Duration::from_secs(2);

/// Tells the watcher that something changed here (a counter; only its changes matter).
#[derive(Debug)]
pub struct Changes(watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Changes {
        Changes(watch::channel(0).0)
    }
}

impl Changes {
    /// Called after a child's report is accepted (and after a review made in the browser).
    pub fn bump(&self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// A campaign's rollup as last computed, and the change generation it was computed at.
#[derive(Debug)]
pub struct Snapshot {
    pub generation: u64,
    pub rollup: Arc<Rollup>,
}

type Slot = watch::Sender<Option<Arc<Snapshot>>>;

/// The latest rollup of each watched campaign; see the module's documentation.
pub struct Live {
    hub: Hub,
    changes: Arc<Changes>,
    /// Bumped by the watcher at each change it sees; a snapshot of an older one is stale.
    generation: watch::Sender<u64>,
    campaigns: Mutex<HashMap<CampaignId, Arc<Campaign>>>,
    /// How many rollups were computed (for tests and the benchmark: one per change).
    computed: std::sync::atomic::AtomicU64,
}

/// One campaign's channel, and the lock that makes concurrent readers wait for one computation
/// instead of each making its own.
struct Campaign {
    slot: Slot,
    computing: tokio::sync::Mutex<()>,
}

impl Live {
    /// A `Live` for `hub` and its watcher task (stopped when the last `Arc<Live>` is dropped…
    /// or with the runtime: it holds only a weak reference).
    pub fn start(hub: Hub, changes: Arc<Changes>) -> Arc<Live> {
        let live = Arc::new(Live {
            hub,
            changes,
            generation: watch::channel(0).0,
            campaigns: Mutex::default(),
            computed: Default::default(),
        });
        tokio::spawn(watch_changes(Arc::downgrade(&live)));
        live
    }

    /// How many rollups this `Live` computed.
    pub fn computed(&self) -> u64 {
        self.computed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tells the watcher of a change made in this process.
    pub fn bump(&self) {
        self.changes.bump();
    }

    fn campaign(&self, id: &CampaignId) -> Arc<Campaign> {
        let mut map = self.campaigns.lock().expect("not poisoned");
        map.entry(id.clone())
            .or_insert_with(|| {
                Arc::new(Campaign {
                    slot: watch::channel(None).0,
                    computing: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }

    /// The campaign's current rollup: the published one when no change was seen since, else
    /// computed now (once, however many ask at the same time) and published.
    pub async fn rollup(&self, id: &CampaignId) -> Result<Arc<Rollup>, Error> {
        let c = self.campaign(id);
        let fresh = |c: &Campaign| {
            let generation = *self.generation.borrow();
            c.slot
                .borrow()
                .as_ref()
                .filter(|s| s.generation == generation)
                .map(|s| s.rollup.clone())
        };
        if let Some(r) = fresh(&c) {
            return Ok(r);
        }
        let _one = c.computing.lock().await;
        if let Some(r) = fresh(&c) {
            return Ok(r);
        }
        let generation = *self.generation.borrow();
        let rollup = Arc::new(self.hub.rollup(id).await?);
        self.computed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        c.slot.send_replace(Some(Arc::new(Snapshot {
            generation,
            rollup: rollup.clone(),
        })));
        Ok(rollup)
    }

    /// A receiver of the campaign's published rollups.
    fn subscribe(&self, id: &CampaignId) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.campaign(id).slot.subscribe()
    }

    /// After a change: a new generation, and the rollup of each campaign with an open stream
    /// computed once and published; campaigns nobody watches are forgotten.
    async fn changed(&self) {
        self.generation.send_modify(|g| *g += 1);
        let watched: Vec<CampaignId> = {
            let mut map = self.campaigns.lock().expect("not poisoned");
            map.retain(|_, c| c.slot.receiver_count() > 0);
            map.keys().cloned().collect()
        };
        for id in watched {
            if let Err(e) = self.rollup(&id).await {
                tracing::warn!(campaign = %id, error = %e, "dashboard: cannot compute the rollup; tried again at the next change");
            }
        }
    }
}

/// The watcher: waits for a bump or [`POLL`], compares the store's fingerprint, and on a change
/// republishes. Ends when the `Live` is gone.
async fn watch_changes(live: std::sync::Weak<Live>) {
    let mut bumps = match live.upgrade() {
        Some(l) => l.changes.0.subscribe(),
        None => return,
    };
    let mut last = None;
    loop {
        let bumped = matches!(
            tokio::time::timeout(POLL, bumps.changed()).await,
            Ok(Ok(()))
        );
        let Some(live) = live.upgrade() else { return };
        let now = match fingerprint(&live.hub.store).await {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: cannot read the store's fingerprint");
                None
            }
        };
        let moved = now.is_some() && now != last;
        if now.is_some() {
            last = now;
        }
        if bumped || moved {
            live.changed().await;
        }
    }
}

/// What a rollup is made from, in one cheap query: the reports and reviews (both only grow), the
/// campaigns' revisions and the registered children.
async fn fingerprint(store: &Store) -> Result<Vec<(String, i64)>, store::Error> {
    Ok(sqlx::query_as(
        "SELECT 'reports', COUNT(*) FROM reports
         UNION ALL SELECT 'reviews', COUNT(*) FROM reviews
         UNION ALL SELECT 'campaigns', COUNT(*) + CAST(COALESCE(SUM(revision), 0) AS BIGINT) FROM campaigns
         UNION ALL SELECT code || ' ' || name, CAST(0 AS BIGINT) FROM orgs",
    )
    .fetch_all(&store.pool)
    .await?)
}

/// `event: rollup` with `{"version", "received", "expected"}` now, and again whenever the
/// campaign's published rollup version changes.
pub async fn events(
    _who: Session,
    State(s): State<DashboardState>,
    Path(id): Path<CampaignId>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Error> {
    // Subscribed first: a rollup published while the first is computed is not missed.
    let rx = s.live.subscribe(&id);
    let first = s.live.rollup(&id).await?;
    let stream = stream::unfold(
        (rx, Some(first), None::<Version>),
        |(mut rx, mut next, last)| async move {
            loop {
                let r = match next.take() {
                    Some(r) => r,
                    None => {
                        rx.changed().await.ok()?;
                        let published = rx.borrow_and_update().clone();
                        match published {
                            Some(s) => s.rollup.clone(),
                            None => continue,
                        }
                    }
                };
                if last == Some(r.version) {
                    continue;
                }
                let c = r.completeness.as_ref();
                let data = serde_json::json!({
                    "version": r.version,
                    "received": c.map_or(0, |c| c.received),
                    "expected": c.map_or(0, |c| c.expected),
                });
                let event = Event::default().event("rollup").data(data.to_string());
                return Some((Ok(event), (rx, None, Some(r.version))));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
