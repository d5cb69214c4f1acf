//! When a certificate stops working, and whether to warn about it: a county whose certificate ends
//! stops reporting, so `status` (and a serving hub's log) says so [`WARN_DAYS`] days ahead.

use chrono::{DateTime, Utc};

/// Warn this many days before a certificate's end.
pub const WARN_DAYS: i64 = 30;

/// The end of validity of the first certificate in `pem`.
pub fn not_after(pem: &str) -> Result<DateTime<Utc>, crate::tls::Error> {
    let der =
        crate::pki::cert_der_from_pem(pem).map_err(|e| crate::tls::Error::Parse(e.to_string()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| crate::tls::Error::Parse(e.to_string()))?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or_else(|| crate::tls::Error::Parse("an end date out of range".into()))
}

/// A warning line when the certificate in `pem` ends within [`WARN_DAYS`] of `now` (or has ended);
/// None when it has longer to run.
pub fn warning(what: &str, pem: &str, now: DateTime<Utc>) -> Option<String> {
    let end = match not_after(pem) {
        Ok(end) => end,
        Err(e) => return Some(format!("{what}: cannot read its end date: {e}")),
    };
    let days = (end - now).num_days();
    if end <= now {
        Some(format!(
            "{what} expired on {} — renew it (docs/operations.md \"Renew a certificate\") / 证书已过期,请更新",
            end.date_naive()
        ))
    } else if days < WARN_DAYS {
        Some(format!(
            "{what} expires on {} ({days} days left) — renew it (docs/operations.md \"Renew a certificate\") / 证书即将过期,请更新",
            end.date_naive()
        ))
    } else {
        None
    }
}

/// Warning lines for the tree's certificates a CA's issue log knows of: for each org, its newest
/// certificate that is not revoked, when it ends within [`WARN_DAYS`] of `now` (or has ended). An
/// org renewed in time has a newer certificate and no warning.
pub fn issued_warnings(entries: &[crate::pki::IssuedEntry], now: DateTime<Utc>) -> Vec<String> {
    let mut newest: std::collections::BTreeMap<&str, &crate::pki::IssuedEntry> = Default::default();
    for e in entries.iter().filter(|e| !e.revoked) {
        let slot = newest.entry(e.org.as_str()).or_insert(e);
        if e.not_after > slot.not_after {
            *slot = e;
        }
    }
    newest
        .values()
        .filter(|e| (e.not_after - now).num_days() < WARN_DAYS)
        .map(|e| {
            let days = (e.not_after - now).num_days();
            if e.not_after <= now {
                format!(
                    "{}'s certificate {} expired on {} and none newer was issued / 证书已过期",
                    e.org,
                    e.serial,
                    e.not_after.date_naive()
                )
            } else {
                format!(
                    "{}'s certificate {} expires on {} ({days} days left) and none newer was issued / 证书即将过期",
                    e.org,
                    e.serial,
                    e.not_after.date_naive()
                )
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{self, IssueOptions};
    use bangfu_shared::org::OrgCode;
    use chrono::Duration;

    #[test]
    fn a_certificate_ending_within_thirty_days_is_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let org = OrgCode::parse("HB").unwrap();
        pki::init(&dir.path().join("ca"), &org, "根", 365).unwrap();
        let h01 = OrgCode::parse("H01").unwrap();
        let out = dir.path().join("h01");
        pki::issue(
            &dir.path().join("ca"),
            &h01,
            "县",
            &IssueOptions::for_days(vec![], 20),
            &out,
        )
        .unwrap();
        let pem = std::fs::read_to_string(out.join(pki::CERT)).unwrap();
        let now = Utc::now();
        let line = warning("H01's certificate", &pem, now).expect("20 days left");
        assert!(line.contains("days left"), "{line}");
        assert!(warning("x", &pem, now - Duration::days(60)).is_none());
        assert!(
            warning("x", &pem, now + Duration::days(30))
                .unwrap()
                .contains("expired")
        );
        let entries = pki::list(&dir.path().join("ca")).unwrap();
        let lines = issued_warnings(&entries, now);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("H01's certificate"), "{lines:?}");
        pki::issue(
            &dir.path().join("ca"),
            &h01,
            "县",
            &IssueOptions::for_days(vec![], 200),
            &dir.path().join("h01-renewed"),
        )
        .unwrap();
        let entries = pki::list(&dir.path().join("ca")).unwrap();
        assert!(issued_warnings(&entries, now).is_empty(), "renewed in time");
    }
}
