//! The protocol between a child (a county node, or a prefecture hub reporting up) and its parent
//! hub, in one place that both ends compile against: every request and response body, the routes and
//! the paths built from them, the media types, and the problem document a refusal carries.
//!
//! Both ends use these types, so a field renamed on one side is renamed on the other, and a value
//! that is not an id never gets past the edge it came in at ([`ids`]). Serde only: nothing here
//! knows about HTTP servers, databases or runtimes.
//!
//! | method and route | body in | body out |
//! | --- | --- | --- |
//! | `POST` [`routes::REPORTS`] | a [`crate::report::Report`], its JWS in [`SIGNATURE_HEADER`] | [`Receipt`] (201 new, 200 duplicate) |
//! | `GET` [`routes::CAMPAIGNS`] | | [`CampaignList`] with the CA's revocation list (ETag, 304) |
//! | `GET` [`routes::ROLLUP`] | | the rollup JSON (CONTRACT.md) |
//! | `GET` [`routes::REVIEW`] | | [`Review`] |
//! | `GET` [`routes::REMINDERS`] | | [`ReminderList`] |
//! | `GET` [`routes::PULL`] (served by a child) | | the report as stored, byte for byte, its JWS in [`SIGNATURE_HEADER`] |
//!
//! Every refusal is a [`Problem`] (`application/problem+json`).

pub mod campaign;
pub mod enrolment;
pub mod ids;
pub mod intake;
pub mod outbox;
pub mod problem;
pub mod receipt;
pub mod reminder;
pub mod review;
pub mod signed;

pub use campaign::{Campaign, CampaignList, Due};
pub use ids::{CampaignId, ContentHash, IdError, Version};
pub use outbox::OutboxState;
pub use problem::Problem;
pub use receipt::{Receipt, ReceiptStatus};
pub use reminder::{Reminder, ReminderKind, ReminderList};
pub use review::{Review, ReviewMark, ReviewState};
pub use signed::{Envelope, SIGNATURE_HEADER};

use crate::org::OrgCode;

/// Media types of the API.
pub mod media {
    /// Every body but a refusal.
    pub const JSON: &str = "application/json";
    /// A refusal (RFC 9457).
    pub const PROBLEM_JSON: &str = "application/problem+json";
}

/// The routes as a server declares them (axum's `{name}` captures). [`paths`] builds the concrete
/// paths a client asks for from the same strings, so the two cannot drift apart.
pub mod routes {
    /// Where a child posts its reports.
    pub const REPORTS: &str = "/api/v1/reports";
    /// The campaigns a parent publishes to its children.
    pub const CAMPAIGNS: &str = "/api/v1/campaigns";
    /// A hub's rollup of one campaign.
    pub const ROLLUP: &str = "/api/v1/campaigns/{id}/rollup";
    /// The review of one child's latest report on a campaign.
    pub const REVIEW: &str = "/api/v1/campaigns/{id}/reports/{org}/review";
    /// The reminders a parent made for the asking child.
    pub const REMINDERS: &str = "/api/v1/reminders";
    /// A child's latest report on a campaign, served to its parent's pull.
    pub const PULL: &str = "/api/v1/campaigns/{id}/report";
}

/// Concrete paths, built from typed ids only: an id that could break a path never gets here.
pub mod paths {
    use super::{CampaignId, OrgCode, routes};

    pub fn reports() -> &'static str {
        routes::REPORTS
    }

    pub fn campaigns() -> &'static str {
        routes::CAMPAIGNS
    }

    pub fn rollup(campaign: &CampaignId) -> String {
        routes::ROLLUP.replace("{id}", campaign.as_str())
    }

    pub fn review(campaign: &CampaignId, org: &OrgCode) -> String {
        routes::REVIEW
            .replace("{id}", campaign.as_str())
            .replace("{org}", org.as_str())
    }

    pub fn reminders() -> &'static str {
        routes::REMINDERS
    }

    pub fn pull(campaign: &CampaignId) -> String {
        routes::PULL.replace("{id}", campaign.as_str())
    }
}

/// A route's short name for metrics labels (a campaign id is not a label: too many values).
pub fn route_label(path: &str) -> &'static str {
    match path {
        routes::REPORTS => "reports",
        routes::CAMPAIGNS => "campaigns",
        p if p.starts_with("/api/v1/campaigns/") => "campaign",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_the_routes_with_typed_ids() {
        let c = CampaignId::parse("2026-songnuan").unwrap();
        let org = OrgCode::parse("H01").unwrap();
        assert_eq!(
            paths::review(&c, &org),
            "/api/v1/campaigns/2026-songnuan/reports/H01/review"
        );
        assert_eq!(paths::rollup(&c), "/api/v1/campaigns/2026-songnuan/rollup");
        assert_eq!(paths::pull(&c), "/api/v1/campaigns/2026-songnuan/report");
        assert_eq!(route_label(&paths::rollup(&c)), "campaign");
        assert_eq!(route_label(paths::reports()), "reports");
    }
}
