//! The dashboard (CONTRACT.md: `bangfu-hub serve --http ADDR`): the pages the province's and the
//! prefecture's staff use. Per campaign: completeness over time against each level's due date, the
//! headline cells per child and the table's categories and causes as charts drawn here (SVG, no
//! script library), drill-down province → prefecture → county in the query string, every cell of
//! the table, and review (审核) of each child's report in the browser.
//!
//! Who may see what: every page and data path needs a session (`web` crate: `/login`); a page
//! without one answers 303 to `/login`, a data path (fragment, JSON, event stream) 401. Only the
//! style and script (no campaign data) are served to anyone. The whole list is [`routes::table`],
//! so a test can walk every route, and the router cannot hold a route the list does not.
//!
//! Modules: [`routes`] (the list), [`guard`] (host allowlist, security headers), [`serve`] (the
//! listener: connection cap, optional TLS), [`live`] (one rollup per change, shared by every open
//! page), [`index`], [`campaign`] (the campaign page and its live fragment), [`review`] (the review
//! page and decision), [`export`] (the official table as a download), [`charts`] (SVG), [`timeline`] (completeness over time), [`html`] (escaping,
//! the page shell), [`assets`] (style and script).

pub mod access;
pub mod assets;
pub mod campaign;
pub mod charts;
pub mod export;
pub mod guard;
pub mod html;
pub mod index;
pub mod live;
pub mod review;
pub mod routes;
pub mod serve;
pub mod timeline;

use std::sync::Arc;

use axum::Router;

use crate::app::Hub;
pub use live::{Changes, Live};

/// What the dashboard's handlers share.
#[derive(Clone)]
pub struct DashboardState {
    pub hub: Hub,
    /// The latest rollup of each campaign someone is watching, computed once per change.
    pub live: Arc<Live>,
    /// The host names answered ([`guard::Hosts`]).
    pub hosts: Arc<guard::Hosts>,
    /// Which counties each stored prefecture version carried, for the timeline.
    pub arrivals: Arc<timeline::Cache>,
    /// Users, sessions and the audit log (`bangfu_web`).
    pub accounts: bangfu_web::Accounts,
}

impl axum::extract::FromRef<DashboardState> for bangfu_web::Accounts {
    fn from_ref(s: &DashboardState) -> bangfu_web::Accounts {
        s.accounts.clone()
    }
}

impl DashboardState {
    /// The state for `hub`, told of accepted reports by `changes`, answering the host names of its
    /// `[dashboard] hosts` (default: `bound` and localhost). Starts the [`live`] watcher.
    pub fn new(hub: Hub, changes: Arc<Changes>, bound: std::net::SocketAddr) -> DashboardState {
        let hosts = Arc::new(guard::Hosts::new(&hub.config.dashboard.hosts, bound));
        let live = Live::start(hub.clone(), changes);
        let accounts = access::accounts(&hub);
        DashboardState {
            hub,
            live,
            hosts,
            arrivals: Arc::default(),
            accounts,
        }
    }
}

/// Every route of [`routes::table`] (each but the public ones behind the login) and the accounts'
/// `/login` and `/logout`, behind the host allowlist and the security headers.
pub fn router(state: DashboardState) -> Router {
    let mut r = Router::new().merge(bangfu_web::http::router());
    for (route, handler) in routes::table() {
        let handler = match route.access {
            routes::Access::Public => handler,
            routes::Access::Page | routes::Access::Data | routes::Access::Review => handler
                .route_layer(axum::middleware::from_fn_with_state(
                    state.accounts.clone(),
                    bangfu_web::require_login,
                )),
        };
        r = r.route(route.path, handler);
    }
    r.layer(axum::middleware::from_fn_with_state(
        state.hosts.clone(),
        guard::host,
    ))
    .layer(axum::middleware::map_response(guard::secure_headers))
    .with_state(state)
}
