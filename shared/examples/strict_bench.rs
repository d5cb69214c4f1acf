//! What the strict intake (`protocol::intake`) costs per report: a node-made `dangan` report (the
//! template with the most cells) and a `songnuan` one, each checked from its bytes many times.
//!
//!   cargo run --release -p bangfu-shared --example strict_bench [-- ROUNDS]

use std::time::Instant;

use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::disclose::protect;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::intake::{Kind, check_body};
use bangfu_shared::protocol::{CampaignId, Version};
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::synthetic::{day, households};
use bangfu_shared::template;
use bangfu_shared::vocabulary::Vocabulary;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let v = Vocabulary::builtin();
    for id in ["dangan", "songnuan"] {
        let t = template::builtin(id, &v).unwrap();
        let values = aggregate(
            &t,
            &households(7, 400, &v),
            &[],
            &Period::campaign(day(2026, 1, 1), day(2026, 1, 31)),
        );
        let r = Report::new(
            OrgCode::parse("H01").unwrap(),
            &t,
            Some(CampaignId::parse("2026-x").unwrap()),
            day(2026, 1, 31),
            Version::FIRST,
            protect(&t, &values).unwrap(),
            evaluate(&t, |i| values.value(i)),
        );
        let body = serde_json::to_vec(&r).unwrap();
        // Before the strict intake the hub read the body as a `Report` only: the baseline, in
        // the same run (the machine is shared, so only the ratio is comparable across runs).
        let start = Instant::now();
        for _ in 0..rounds {
            serde_json::from_slice::<Report>(&body).expect("a report");
        }
        let before = start.elapsed() / rounds as u32;
        let start = Instant::now();
        for _ in 0..rounds {
            check_body(&t, Kind::County, &body).expect("an honest report passes");
        }
        let per = start.elapsed() / rounds as u32;
        println!(
            "{id}: {} bytes, {} cells: strict {:?} per report ({:.0}/s on one core), typed read alone {:?}, ratio {:.1}",
            body.len(),
            r.cells.len(),
            per,
            1.0 / per.as_secs_f64(),
            before,
            per.as_secs_f64() / before.as_secs_f64()
        );
    }
}
