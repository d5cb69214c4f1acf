//! Issue 12 against real hubs in-process (`TestHub`: real certificates, mutual TLS, SQLite): each
//! hostile value or field a county can send is refused with a problem naming the field, at the
//! prefecture and inside the prefecture's report at the province alike; a version may not jump far
//! past the counted one; a child whose stored report cannot be forwarded is held back without
//! blocking its siblings; text from below reaches neither the terminal nor the dashboard as control
//! characters. Each ends with the prefecture's (and province's) total equal to the honest counties'.

use bangfu_client::{Outcome, Parent};
use bangfu_hub::campaigns::{self, Campaign, Due};
use bangfu_hub::config::HubLevel;
use bangfu_hub::jobs::upstream;
use bangfu_hub::rollup::RollupCell;
use bangfu_hub::store::ingest::{self, Row};
use bangfu_hub::testing::TestHub;
use bangfu_shared::aggregate::{Period, aggregate};
use bangfu_shared::decimal::Decimal;
use bangfu_shared::disclose::protect;
use bangfu_shared::org::OrgCode;
use bangfu_shared::protocol::{CampaignId, ContentHash, Version};
use bangfu_shared::report::Report;
use bangfu_shared::rules::evaluate;
use bangfu_shared::synthetic::{archive, households};
use bangfu_shared::template::{self, Template};
use bangfu_shared::vocabulary::Vocabulary;
use chrono::NaiveDate;
use serde_json::{Value, json};

const SONGNUAN: &str = "2026-songnuan";
const DANGAN: &str = "2026-dangan";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn campaign(id: &str, template: &str, title: &str) -> Campaign {
    Campaign {
        id: id.parse().unwrap(),
        template: template.into(),
        title: title.into(),
        start: day("2026-01-01"),
        end: day("2026-01-31"),
        due: Due {
            county: day("2099-12-31"),
            prefecture: day("2099-12-31"),
            province: None,
        },
        template_body: None,
    }
}

fn template(id: &str) -> Template {
    template::builtin(id, &Vocabulary::builtin()).unwrap()
}

/// A county's report as its node makes it, on campaign `id` of template `t`.
fn county(t: &Template, id: &str, org: &str, seed: u64, version: u32) -> Report {
    let v = Vocabulary::builtin();
    let (hs, aid) = if t.id == "dangan" {
        (households(seed, 400, &v), vec![])
    } else {
        archive(seed, 300, &v)
    };
    let values = aggregate(
        t,
        &hs,
        &aid,
        &Period::campaign(day("2026-01-01"), day("2026-01-31")),
    );
    let outcome = evaluate(t, |i| values.value(i));
    Report::new(
        OrgCode::parse(org).unwrap(),
        t,
        Some(id.parse().unwrap()),
        day("2026-01-31"),
        Version::new(version),
        protect(t, &values).unwrap(),
        outcome,
    )
}

fn bytes(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// The cell the totals are compared on: the households in the archive (songnuan's 3A, dangan's
/// first cell), always published.
fn code(t: &Template) -> &str {
    if t.id == "songnuan" {
        "3A"
    } else {
        &t.cells[0].code
    }
}

fn headline(t: &Template, r: &Report) -> Decimal {
    r.cells[code(t)].value().expect("published")
}

/// A hub's rollup headline, exact.
async fn total(hub: &TestHub, t: &Template, id: &str) -> Decimal {
    let r = hub.hub.rollup(&id.parse().unwrap()).await.unwrap();
    match &r.cells[code(t)] {
        RollupCell::Value { value } => *value,
        other => panic!("not exact: {other:?}"),
    }
}

/// `org`'s report `body` as its hub forwards it: the exact text, signed by `org`'s own key.
fn envelope(hub: &TestHub, org: &str, body: &[u8]) -> Value {
    let signer = bangfu_client::signature::Signer::from_dir(&hub.identity(org)).unwrap();
    json!({
        "report": String::from_utf8(body.to_vec()).unwrap(),
        "jws": signer.sign(body, chrono::Utc::now()).unwrap().as_str(),
    })
}

async fn post(client: &Parent, body: &[u8]) -> (u16, String) {
    match client.post_report(body).await {
        Outcome::Stored { .. } => (201, String::new()),
        Outcome::Refused { status, detail } => (status, detail),
        Outcome::Unavailable { status, detail } => (status.unwrap_or(0), detail),
    }
}

/// A prefecture of `province`'s federation (its CA), or of a CA of its own without one.
async fn prefecture_of(
    province: Option<&TestHub>,
    counties: &[(&str, &str)],
    campaigns: &[Campaign],
) -> TestHub {
    let hub = match province {
        Some(p) => TestHub::start_under(p, true, "H", HubLevel::Prefecture, counties).await,
        None => TestHub::start("H", HubLevel::Prefecture, counties).await,
    };
    for c in campaigns {
        campaigns::create(&hub.hub.store, c, "local").await.unwrap();
    }
    hub
}

async fn province(campaigns: &[Campaign]) -> TestHub {
    let hub = TestHub::start("HB", HubLevel::Province, &[("H", "荆门市总工会")]).await;
    for c in campaigns {
        campaigns::create(&hub.hub.store, c, "local").await.unwrap();
    }
    hub
}

/// The songnuan campaign's tree: a province and its prefecture H with `counties`, both holding it.
async fn songnuan_tree(counties: &[(&str, &str)]) -> (Template, Campaign, TestHub, TestHub) {
    let c = campaign(SONGNUAN, "songnuan", "送温暖");
    let prov = province(std::slice::from_ref(&c)).await;
    let pref = prefecture_of(Some(&prov), counties, std::slice::from_ref(&c)).await;
    (template("songnuan"), c, prov, pref)
}

/// Each hostile value or field of issue 12, as a change to an honest county report, and the field
/// path the refusal must name.
type Case = (&'static str, &'static str, Box<dyn Fn(&mut Value)>);

fn hostile() -> Vec<Case> {
    vec![
        (
            "children",
            "children",
            Box::new(|r: &mut Value| {
                r["children"] = json!([{ "org": "H09", "note": "张三 身份证 420821199001011234 电话 13800000000" }]);
            }),
        ),
        (
            "padding",
            "padding",
            Box::new(|r: &mut Value| {
                r["padding"] = json!("x".repeat(1 << 20));
            }),
        ),
        (
            "-5",
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": -5 });
            }),
        ),
        (
            "1.5",
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": 1.5 });
            }),
        ),
        (
            "\"  7 \"",
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": "  7 " });
            }),
        ),
        (
            "i64::MAX",
            "cells.3A.value",
            Box::new(|r: &mut Value| {
                r["cells"]["3A"] = json!({ "value": i64::MAX });
            }),
        ),
        (
            "unknown cell code",
            "cells",
            Box::new(|r: &mut Value| {
                r["cells"]["3Z"] = json!({ "value": 1 });
            }),
        ),
        (
            "free-text failed rule",
            "failed_rules[0].rule",
            Box::new(|r: &mut Value| {
                r["failed_rules"] = json!([{
                    "rule": "\u{1b}[2J\u{1b}[32m审核通过 ALL OK",
                    "importance": "low",
                    "cells": [],
                    "detail": "x"
                }]);
            }),
        ),
    ]
}

#[tokio::test]
async fn each_hostile_value_or_field_is_refused_at_the_prefecture_and_inside_its_report_at_the_province()
 {
    let (t, c, prov, pref) =
        songnuan_tree(&[("H01", "京山县"), ("H02", "沙洋县"), ("H03", "钟祥市")]).await;
    let honest: Vec<Report> = ["H01", "H02"]
        .iter()
        .enumerate()
        .map(|(i, o)| county(&t, SONGNUAN, o, 11 + i as u64, 1))
        .collect();
    let h03 = serde_json::to_value(county(&t, SONGNUAN, "H03", 13, 1)).unwrap();
    let (to_pref, to_prov) = (pref.client("H03"), prov.client("H"));
    for (name, path, change) in hostile() {
        let mut r = h03.clone();
        change(&mut r);
        let (status, detail) = post(&to_pref, &bytes(&r)).await;
        // 1 MB of padding is over a county's body limit before it is read as JSON.
        if status != 413 {
            assert_eq!(status, 422, "{name}: {detail}");
            assert!(detail.contains(&format!("`{path}`")), "{name}: {detail}");
        }
        assert!(
            !detail.contains("4208") && !detail.contains('\u{1b}'),
            "{name}: {detail}"
        );
        // The same county report inside the prefecture's own report: refused above at the same field.
        let mut up = serde_json::to_value(&honest[0]).unwrap();
        up["org"] = json!("H");
        up["children"] = json!([
            envelope(&prov, "H02", &bytes(&honest[1])),
            envelope(&prov, "H03", &bytes(&r))
        ]);
        let (status, detail) = post(&to_prov, &bytes(&up)).await;
        assert_eq!(status, 422, "{name} at the province: {detail}");
        assert!(
            detail.contains(&format!("`children[1].report.{path}`")),
            "{name} at the province: {detail}"
        );
    }
    assert_eq!(ingest::stored_versions(&pref.hub.store).await.unwrap(), 0);
    assert_eq!(ingest::stored_versions(&prov.hub.store).await.unwrap(), 0);

    for r in &honest {
        let (status, detail) = post(&pref.client(r.org.as_str()), &bytes(r)).await;
        assert_eq!(status, 201, "{detail}");
    }
    let sum = headline(&t, &honest[0]) + headline(&t, &honest[1]);
    assert_eq!(total(&pref, &t, SONGNUAN).await, sum);
    // What the prefecture accepted, its province accepts inside its report, and counts the same.
    let own = upstream::own_report(&pref.hub, &c).await.unwrap().unwrap();
    let (status, detail) = post(&to_prov, &bytes(&own)).await;
    assert_eq!(status, 201, "{detail}");
    assert_eq!(total(&prov, &t, SONGNUAN).await, sum);
    pref.stop().await;
    prov.stop().await;
}

/// A cell sent twice in one report: a reader keeping the first and one keeping the last would count
/// different figures from the same signed bytes, so neither level stores it.
#[tokio::test]
async fn a_cell_sent_twice_is_refused_at_the_prefecture_and_inside_its_report_at_the_province() {
    let (t, _, prov, pref) = songnuan_tree(&[("H01", "京山县"), ("H03", "钟祥市")]).await;
    let honest = county(&t, SONGNUAN, "H01", 11, 1);
    let text = String::from_utf8(bytes(&county(&t, SONGNUAN, "H03", 13, 1))).unwrap();
    let twice = text.replacen(r#""cells":{"#, r#""cells":{"3A":{"value":123456},"#, 1);
    assert_ne!(twice, text);

    let (status, detail) = post(&pref.client("H03"), twice.as_bytes()).await;
    assert_eq!(status, 422, "{detail}");
    assert!(detail.contains("`cells.3A`"), "{detail}");
    let mut up = serde_json::to_value(&honest).unwrap();
    up["org"] = json!("H");
    up["children"] = json!([envelope(&prov, "H03", twice.as_bytes())]);
    let (status, detail) = post(&prov.client("H"), &bytes(&up)).await;
    assert_eq!(status, 422, "{detail}");
    assert!(detail.contains("`children[0].report.cells.3A`"), "{detail}");
    assert_eq!(ingest::stored_versions(&pref.hub.store).await.unwrap(), 0);
    assert_eq!(ingest::stored_versions(&prov.hub.store).await.unwrap(), 0);

    // The same report with the cell once is the county's own, and counts.
    let (status, detail) = post(&pref.client("H03"), text.as_bytes()).await;
    assert_eq!(status, 201, "{detail}");
    pref.stop().await;
    prov.stop().await;
}

#[tokio::test]
async fn a_version_may_not_jump_far_past_the_counted_one() {
    let t = template("dangan");
    let c = campaign(DANGAN, "dangan", "档案");
    let pref = prefecture_of(
        None,
        &[("H01", "京山县"), ("H02", "沙洋县")],
        std::slice::from_ref(&c),
    )
    .await;
    let h02 = pref.client("H02");
    // The thief's first move: the highest version there is.
    let (status, detail) = post(&h02, &bytes(&county(&t, DANGAN, "H02", 2, u32::MAX))).await;
    assert_eq!(status, 422, "{detail}");
    assert!(
        detail.contains("version 4294967295 jumps past H02's counted version 0 by more than 1000"),
        "{detail}"
    );
    let (status, detail) = post(&h02, &bytes(&county(&t, DANGAN, "H02", 2, 1))).await;
    assert_eq!(status, 201, "{detail}");
    let (status, _) = post(&h02, &bytes(&county(&t, DANGAN, "H02", 3, 1002))).await;
    assert_eq!(status, 422);
    let honest = county(&t, DANGAN, "H02", 4, 1001);
    let (status, detail) = post(&h02, &bytes(&honest)).await;
    assert_eq!(status, 201, "1 + 1000 is within the bound: {detail}");
    let h01 = county(&t, DANGAN, "H01", 1, 1);
    assert_eq!(post(&pref.client("H01"), &bytes(&h01)).await.0, 201);
    assert_eq!(
        total(&pref, &t, DANGAN).await,
        headline(&t, &h01) + headline(&t, &honest)
    );
    pref.stop().await;
}

/// Stores `body` as `org`'s version 1 straight into the hub's store, as a store written before the
/// strict intake existed (or tampered with) would hold it.
async fn plant(hub: &TestHub, org: &str, campaign: &str, body: &str) {
    let row = Row {
        org: org.into(),
        campaign: campaign.into(),
        version: 1,
        hash: ContentHash::of(body.as_bytes()).to_string(),
        body: body.into(),
        received_at: "2026-01-20T02:00:00+00:00".into(),
        on_time: true,
        jws: None,
        signer: None,
    };
    ingest::write_batch(&hub.hub.store, &[row]).await.unwrap();
}

#[tokio::test]
async fn a_poisoned_child_is_held_back_and_its_siblings_still_reach_the_province() {
    let (t, c, prov, pref) =
        songnuan_tree(&[("H01", "京山县"), ("H02", "沙洋县"), ("H03", "钟祥市")]).await;
    let honest: Vec<Report> = ["H01", "H02"]
        .iter()
        .enumerate()
        .map(|(i, o)| county(&t, SONGNUAN, o, 21 + i as u64, 1))
        .collect();
    for r in &honest {
        assert_eq!(post(&pref.client(r.org.as_str()), &bytes(r)).await.0, 201);
    }
    // H03's report from before the strict intake: 1 MB of padding where the old hub did not look,
    // and a string count.
    let mut poisoned = serde_json::to_value(county(&t, SONGNUAN, "H03", 23, 1)).unwrap();
    poisoned["pending_rules"][0]["padding"] = json!("x".repeat(1 << 20));
    poisoned["cells"]["3A"] = json!({ "value": "  7 " });
    plant(&pref, "H03", SONGNUAN, &poisoned.to_string()).await;

    let sum = headline(&t, &honest[0]) + headline(&t, &honest[1]);
    assert_eq!(total(&pref, &t, SONGNUAN).await, sum);
    let own = upstream::own_report(&pref.hub, &c).await.unwrap().unwrap();
    let embedded: Vec<String> = own
        .children
        .iter()
        .map(|c| c.read().unwrap().org.to_string())
        .collect();
    assert_eq!(embedded, ["H01", "H02"]);
    assert_eq!(
        own.held_back["H03"].path, "pending_rules[0].padding",
        "{:?}",
        own.held_back
    );
    let (status, detail) = post(&prov.client("H"), &bytes(&own)).await;
    assert_eq!(status, 201, "{detail}");
    assert_eq!(total(&prov, &t, SONGNUAN).await, sum);
    // The province shows H03 as held back by H, with why.
    let r = prov.hub.rollup(&SONGNUAN.parse().unwrap()).await.unwrap();
    let held = r
        .issues
        .iter()
        .find(|i| i.rule == "held_back")
        .expect("a held_back finding");
    assert_eq!(
        (held.org.as_str(), held.via.as_ref().map(OrgCode::as_str)),
        ("H03", Some("H"))
    );
    assert!(
        held.detail.contains("pending_rules[0].padding"),
        "{}",
        held.detail
    );
    pref.stop().await;
    prov.stop().await;
}

#[tokio::test]
async fn a_hubs_report_of_a_full_prefecture_on_the_largest_template_fits_its_budget() {
    // Org codes give a prefecture at most 100 counties (H00–H99): all of them, on dangan (the
    // template with the most cells).
    let t = template("dangan");
    let c = campaign(DANGAN, "dangan", "档案");
    let codes: Vec<String> = (0..100).map(|i| format!("H{i:02}")).collect();
    let counties: Vec<(&str, &str)> = codes.iter().map(|c| (c.as_str(), "县")).collect();
    let prov = province(std::slice::from_ref(&c)).await;
    let pref = prefecture_of(Some(&prov), &counties, std::slice::from_ref(&c)).await;
    let mut sum = Decimal::integer(0);
    for (i, code) in codes.iter().enumerate() {
        let r = county(&t, DANGAN, code, 100 + i as u64, 1);
        sum = sum + headline(&t, &r);
        assert_eq!(post(&pref.client(code), &bytes(&r)).await.0, 201);
    }
    let own = upstream::own_report(&pref.hub, &c).await.unwrap().unwrap();
    assert_eq!(own.children.len(), 100);
    let body = bytes(&own);
    assert!(
        body.len() <= bangfu_hub::strict::body_limit(100),
        "{} bytes",
        body.len()
    );
    let (status, detail) = post(&prov.client("H"), &body).await;
    assert_eq!(status, 201, "{detail}");
    assert_eq!(total(&prov, &t, DANGAN).await, sum);
    pref.stop().await;
    prov.stop().await;
}

#[test]
fn the_body_budget_grows_per_child_and_holds_200_of_the_largest_county_reports() {
    use bangfu_shared::protocol::intake::PER_CHILD_BYTES;
    let t = template("dangan");
    let mut r = serde_json::to_value(county(&t, DANGAN, "H01", 1, 1)).unwrap();
    for c in &t.cells {
        r["cells"][&c.code] = json!({ "value": 9_999_999 });
    }
    let largest = bytes(&r).len();
    assert!(largest < PER_CHILD_BYTES / 4, "{largest}");
    // A prefecture's own part is far under the base; 200 counties' reports add at most 200 budgets.
    assert!(200 * largest + (1 << 20) < bangfu_hub::strict::body_limit(200));
    assert_eq!(
        bangfu_hub::strict::body_limit(200) - bangfu_hub::strict::body_limit(0),
        200 * PER_CHILD_BYTES
    );
}

#[tokio::test]
async fn text_from_above_and_below_reaches_the_status_screen_without_control_characters() {
    let t = template("songnuan");
    let escape = "\u{1b}[2J\u{1b}[32m审核通过 ALL OK\u{1b}[0m";
    // A campaign title as a parent would send it.
    let c = campaign(SONGNUAN, "songnuan", &format!("送温暖{escape}"));
    let pref = prefecture_of(
        None,
        &[("H01", "京山县"), ("H02", "沙洋县")],
        std::slice::from_ref(&c),
    )
    .await;
    let h01 = county(&t, SONGNUAN, "H01", 31, 1);
    assert_eq!(post(&pref.client("H01"), &bytes(&h01)).await.0, 201);
    // A county report from before the strict intake, its failed rule's detail a terminal attack.
    let mut old = serde_json::to_value(county(&t, SONGNUAN, "H02", 32, 1)).unwrap();
    old["failed_rules"] =
        json!([{ "rule": escape, "importance": "low", "cells": [], "detail": escape }]);
    plant(&pref, "H02", SONGNUAN, &old.to_string()).await;
    bangfu_hub::review::decide(
        &pref.hub.store,
        &CampaignId::parse(SONGNUAN).unwrap(),
        &OrgCode::parse("H01").unwrap(),
        None,
        &bangfu_hub::review::Decision::Return(format!("请核对{escape}")),
        pref.hub.now(),
    )
    .await
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bangfu-hub"))
        .args(["status", "--data"])
        .arg(pref.data())
        .args(["--campaign", SONGNUAN])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.chars().any(|c| c.is_control() && c != '\n'),
        "{stdout:?}"
    );
    assert!(stdout.contains("\\u{1b}[2J"), "{stdout}");
    // H02 is held back, not counted: the total is H01's alone.
    assert!(stdout.contains("held_back"), "{stdout}");
    assert_eq!(total(&pref, &t, SONGNUAN).await, headline(&t, &h01));
    pref.stop().await;
}

#[tokio::test]
async fn dashboard_pages_send_a_csp_without_inline_script_and_escape_text() {
    let t = template("songnuan");
    let c = campaign(
        SONGNUAN,
        "songnuan",
        "<img src=x onerror=alert(1)>\u{1b}[2J",
    );
    let pref = prefecture_of(None, &[("H01", "京山县")], std::slice::from_ref(&c)).await;
    let h01 = county(&t, SONGNUAN, "H01", 41, 1);
    assert_eq!(post(&pref.client("H01"), &bytes(&h01)).await.0, 201);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let state =
        bangfu_hub::dashboard::DashboardState::new(pref.hub.clone(), Default::default(), at);
    let cookie = crate::dashboard::session(&state, "viewer").await;
    let app = bangfu_hub::dashboard::router(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    for path in ["/", &format!("/campaigns/{SONGNUAN}"), "/static/live.js"] {
        let res = reqwest::Client::new()
            .get(format!("http://{at}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        let text = res.text().await.unwrap();
        if path != "/static/live.js" {
            assert!(!text.contains("<script>"), "{path}: inline script: {text}");
            assert!(!text.contains("<img"), "{path}: {text}");
            assert!(!text.contains('\u{1b}'), "{path}: {text:?}");
        }
    }
    assert_eq!(total(&pref, &t, SONGNUAN).await, headline(&t, &h01));
    pref.stop().await;
}
