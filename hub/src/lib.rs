//! `bangfu-hub`: a prefecture or province union's hub. Its PKI (the CA that issues each child union
//! the certificate it reports with) and the federation it serves: the registry of children,
//! campaigns, the mutual-TLS intake of reports, the rollup, and (for a hub with a parent) its own
//! reports sent up.

pub mod campaign_changes;
pub mod campaigns;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod http;
pub mod ingest;
pub mod intake;
pub mod pull;
pub mod pull_schedule;
pub mod reconcile;
pub mod registry;
pub mod remind;
pub mod review;
pub mod rollup;
pub mod rollups;
pub mod status;
pub mod store;
pub mod tls;
pub mod upstream;
