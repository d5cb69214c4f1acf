//! bangfu-node: a county union's household archive (困难职工档案), kept on its own machine.

pub mod archive;
pub mod campaigns;
pub mod cli;
pub mod columns;
pub mod daemon;
pub mod domain;
pub mod eligibility;
pub mod export;
pub mod facts;
pub mod import;
pub mod ledger;
pub mod outbox;
pub mod parent;
pub mod private;
pub mod pull_server;
pub mod reminders;
pub mod renewal;
pub mod reporting;
pub mod reviews;
pub mod rules;
pub mod settings;
pub mod synth;
pub mod ui;
