//! What a parent answers to a report it stored (`POST /api/v1/reports`, 201 or 200).

use serde::{Deserialize, Serialize};

use super::{CampaignId, ContentHash, Version};
use crate::org::OrgCode;

/// Whether the version was new here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptStatus {
    /// A new version, stored now (201).
    Accepted,
    /// This version with this content was stored before (200): a resend after a lost answer.
    Duplicate,
}

impl ReceiptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptStatus::Accepted => "accepted",
            ReceiptStatus::Duplicate => "duplicate",
        }
    }
}

impl std::fmt::Display for ReceiptStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The acknowledgement of one stored version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub status: ReceiptStatus,
    pub org: OrgCode,
    pub campaign: CampaignId,
    pub version: Version,
    pub hash: ContentHash,
    /// Whether the first copy of this version came in by the org's due date (Asia/Shanghai).
    pub on_time: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_reads_as_the_hub_writes_it() {
        let body = r#"{"status":"accepted","org":"H01","campaign":"c","version":1,"hash":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","on_time":true}"#;
        let r: Receipt = serde_json::from_str(body).unwrap();
        assert_eq!(
            (r.status, r.version, r.on_time),
            (ReceiptStatus::Accepted, Version::new(1), true)
        );
        assert_eq!(serde_json::to_string(&r).unwrap(), body);
    }
}
