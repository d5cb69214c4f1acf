//! Signed reports on the wire (issue 12 item 1, docs/decisions.md "Signed reports on the wire").
//!
//! - A push (`POST /api/v1/reports`) carries the report's bytes as the body and a detached JWS over
//!   exactly those bytes in the [`SIGNATURE_HEADER`] header, made with the key of the sender's
//!   certificate (`bangfu_client::signature`). A pull answers the same way.
//! - A hub's report embeds each county report it forwards as an [`Envelope`]: the county's report as
//!   the exact JSON text the county signed (a string, never re-serialised) beside the county's JWS.
//!   The level above verifies each one against the CA and counts only what verifies, so a hub in the
//!   middle can forward a report but cannot bend it.

use serde::{Deserialize, Serialize};

use super::ContentHash;
use crate::report::Report;

/// The header carrying a report's detached JWS (compact form, `header..signature`).
pub const SIGNATURE_HEADER: &str = "bangfu-signature";

/// The longest JWS accepted anywhere (the same bound as `bangfu_client::signature::MAX_JWS_LEN`).
pub const MAX_JWS: usize = 16 * 1024;

/// A county report as a hub forwards it: the exact text its county signed, and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The county's report, byte for byte as the county sent it.
    pub report: String,
    /// The county's detached JWS over `report`'s bytes.
    pub jws: String,
}

impl Envelope {
    /// The report inside, read (not checked: the strict intake checks it where it enters).
    pub fn read(&self) -> Result<Report, serde_json::Error> {
        serde_json::from_str(&self.report)
    }

    /// The hash of the exact signed bytes, as a rollup's `sources` name them.
    pub fn hash(&self) -> ContentHash {
        ContentHash::of(self.report.as_bytes())
    }
}
