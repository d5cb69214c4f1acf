//! What a serving hub does by itself, beside answering requests: send its own reports up and take
//! its campaigns down ([`upstream`]), pull children on a schedule ([`pull`]), remind late children
//! ([`remind`]). Each job gets the [`crate::app::Hub`] and asks its clock for the time; the
//! schedules share one cron helper ([`cron`]).

pub mod cron;
pub mod pull;
pub mod remind;
pub mod renewal;
pub mod upstream;
