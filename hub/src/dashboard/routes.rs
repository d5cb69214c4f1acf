//! Every route of the dashboard, in one list: the router is built from it ([`super::router`]) and
//! the tests walk it (`hub/tests/it/dashboard.rs` asks each route without a session), so a route
//! cannot be added without saying who may use it. Besides these, only the accounts' `/login` and
//! `/logout` (`bangfu_web::http::router`) are served: they show no campaign data.

use axum::http::Method;
use axum::routing::{MethodRouter, get, post};

use super::{DashboardState, assets, campaign, export, index, live, review};

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the style and the script, which hold nothing of a campaign.
    Public,
    /// A page: without a session, 303 to `/login`.
    Page,
    /// Data a page fetches (a fragment, JSON, an event stream, an export): without a session, 401.
    Data,
    /// A decision (POST, CSRF-checked): a session whose role may review (`reviewer`, `admin`);
    /// without a session 401, with a `viewer`'s 403.
    Review,
}

/// One route: its axum path, a concrete path to try it on, its method and who may use it.
#[derive(Debug, Clone)]
pub struct Route {
    pub path: &'static str,
    /// `path` with its parameters filled in, for the tests that walk the list.
    pub example: &'static str,
    pub method: Method,
    pub access: Access,
}

const fn route(path: &'static str, example: &'static str, method: Method, access: Access) -> Route {
    Route {
        path,
        example,
        method,
        access,
    }
}

/// The routes and their handlers. Every route but a `Public` one is put behind `require_login`
/// by the router; its handler takes the [`super::access::Session`] as well (a reviewer's handler
/// checks the role).
pub fn table() -> Vec<(Route, MethodRouter<DashboardState>)> {
    use Access::*;
    vec![
        (route("/", "/", Method::GET, Page), get(index::page)),
        (
            route("/campaigns/{id}", "/campaigns/c1", Method::GET, Page),
            get(campaign::page),
        ),
        (
            route(
                "/campaigns/{id}/tree",
                "/campaigns/c1/tree",
                Method::GET,
                Data,
            ),
            get(campaign::fragment),
        ),
        (
            route(
                "/campaigns/{id}/rollup.json",
                "/campaigns/c1/rollup.json",
                Method::GET,
                Data,
            ),
            get(campaign::rollup_json),
        ),
        (
            route(
                "/campaigns/{id}/events",
                "/campaigns/c1/events",
                Method::GET,
                Data,
            ),
            get(live::events),
        ),
        (
            route(
                "/campaigns/{id}/official/{format}",
                "/campaigns/c1/official/xlsx",
                Method::GET,
                Data,
            ),
            get(export::download),
        ),
        (
            route(
                "/campaigns/{id}/review/{org}",
                "/campaigns/c1/review/H01",
                Method::GET,
                Page,
            ),
            get(review::page),
        ),
        (
            route(
                "/campaigns/{id}/review/{org}/decision",
                "/campaigns/c1/review/H01/decision",
                Method::POST,
                Review,
            ),
            post(review::decide),
        ),
        (
            route(assets::LIVE_JS, assets::LIVE_JS, Method::GET, Public),
            get(assets::live_js),
        ),
        (
            route(assets::STYLE_CSS, assets::STYLE_CSS, Method::GET, Public),
            get(assets::style_css),
        ),
    ]
}
