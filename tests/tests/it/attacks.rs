//! Issue 12's attacks on real processes (item 6): `bangfu-hub serve` and `bangfu-node` over mutual
//! TLS, every certificate from the province's own `bangfu-hub pki`. One tree per test: the province
//! HB (holding the CA) and the prefecture H with the counties H01–H03, real nodes that import a
//! `bangfu-node gen` archive and push. Each test plays one attack of someone holding a piece of the
//! tree (a prefecture's database, a prefecture's or a county's certificate) and ends the same way:
//! the total the province counts (`bangfu-hub rollup` JSON) is the sum of the honest counties'
//! households counted from their generated files, and every honest county is there.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bangfu_client::{Outcome, Parent};
use bangfu_e2e::federation::{archive_counts, split_rows, workdir};
use bangfu_e2e::rollups::{counties_in, rollup, wait_until};
use bangfu_e2e::{
    Serving, dangan_campaign, generate, issue_identity, ok, pki_init, run, s, serve, today,
};
use serde_json::{Value, json};

const CAMPAIGN: &str = "dangan-attacks";

/// The honest counties: (org, households, seed). H01's archive comes in two parts (the second is
/// imported later, when a test needs the county to make a new version).
const COUNTIES: [(&str, u64, u64); 3] = [("H01", 60, 61), ("H02", 90, 62), ("H03", 40, 63)];

const WAIT: Duration = Duration::from_secs(60);

/// One tree: the PKI, the province and the prefecture H serving, the counties pushed once.
struct Tree {
    _root: tempfile::TempDir,
    dir: PathBuf,
    pki: PathBuf,
    end: String,
    province: PathBuf,
    province_url: String,
    _province_serving: Serving,
    pref: PathBuf,
    pref_url: String,
    pref_serving: Option<Serving>,
    /// H's identity, for a client posting as the prefecture.
    h_tls: PathBuf,
    /// Each county's node folder and the parts of its generated households file.
    nodes: BTreeMap<&'static str, (PathBuf, Vec<PathBuf>)>,
    /// Each county's households counted from the parts it imported (CONTRACT.md).
    counted: BTreeMap<&'static str, u64>,
}

impl Tree {
    /// The tree with every county pushed and the province holding all three. `pref_pki`: whether
    /// the prefecture checks revocations in the CA folder itself (`--pki`), or only takes the list
    /// its parent passes down with the campaigns, as a prefecture without the CA does.
    fn new(pref_pki: bool) -> Tree {
        let root = workdir();
        let dir = root.path().to_path_buf();
        let pki = dir.join("pki");
        pki_init(&pki, "HB", "湖北省总工会");
        let province = dir.join("hub-HB");
        hub_init(&province, &dir, &pki, "HB", "province", None, true);
        dangan_campaign(&province, CAMPAIGN);
        let end = today();
        for (code, name) in [("H", "荆门市总工会"), ("J", "黄冈市总工会")] {
            org_add(&province, code, name);
        }
        let (province_serving, province_url) =
            serve(&province, &dir.join("hub-HB.log"), "127.0.0.1:0");

        let pref = dir.join("hub-H");
        let h_tls = hub_init(
            &pref,
            &dir,
            &pki,
            "H",
            "prefecture",
            Some(&province_url),
            pref_pki,
        );
        for (org, _, _) in COUNTIES {
            org_add(&pref, org, "县总工会");
        }
        let (pref_serving, pref_url) = serve(&pref, &dir.join("hub-H.log"), "127.0.0.1:0");
        bangfu_e2e::rollups::wait_for(&pref, CAMPAIGN, WAIT, |_| true);

        let mut tree = Tree {
            _root: root,
            dir,
            pki,
            end,
            province,
            province_url,
            _province_serving: province_serving,
            pref,
            pref_url,
            pref_serving: Some(pref_serving),
            h_tls,
            nodes: BTreeMap::new(),
            counted: BTreeMap::new(),
        };
        for (org, households, seed) in COUNTIES {
            tree.county(org, households, seed);
        }
        tree.province_counts(&["H01", "H02", "H03"]);
        tree
    }

    /// A county node: a generated archive (H01's in two parts, the first imported), an identity
    /// from the CA, connected to H, pushed.
    fn county(&mut self, org: &'static str, households: u64, seed: u64) {
        let files = generate(&self.dir, org, households, seed);
        let parts = split_rows(
            &files.join("households.csv"),
            if org == "H01" { 2 } else { 1 },
        );
        let node = self.dir.join(format!("node-{org}"));
        ok(
            "bangfu-node",
            &[
                "init",
                "--data",
                s(&node),
                "--org",
                org,
                "--name",
                "县总工会",
            ],
        );
        ok("bangfu-node", &["import", "--data", s(&node), s(&parts[0])]);
        let tls = issue_identity(&self.pki, &self.dir, org, &[]);
        ok(
            "bangfu-node",
            &[
                "connect",
                "--data",
                s(&node),
                "--parent",
                &self.pref_url,
                "--tls",
                s(&tls),
            ],
        );
        self.counted
            .insert(org, archive_counts(&parts[0], &self.end)["total"]);
        self.nodes.insert(org, (node, parts));
        self.push(org);
    }

    fn push(&self, org: &str) {
        ok(
            "bangfu-node",
            &[
                "push",
                "--data",
                s(&self.nodes[org].0),
                "--campaign",
                CAMPAIGN,
            ],
        );
    }

    fn sum(&self, honest: &[&str]) -> u64 {
        honest.iter().map(|o| self.counted[o]).sum()
    }

    /// Waits until the province's counted total is the honest counties' sum and each of them is
    /// under H; returns that rollup.
    fn province_counts(&self, honest: &[&str]) -> Value {
        counts(&self.province, self.sum(honest), honest, true)
    }

    /// Waits until the prefecture's counted total is `sum`.
    fn prefecture_counts(&self, sum: u64) -> Value {
        counts(&self.pref, sum, &[], false)
    }

    /// Stops H (its store is then the attacker's alone), runs `tamper`, and serves H again on the
    /// same address: a starting hub recomputes its report and sends it up if it changed.
    fn with_prefecture_stopped(&mut self, tamper: impl FnOnce(&Path)) {
        drop(self.pref_serving.take());
        tamper(&self.pref.join("hub.db"));
        let addr = self.pref_url.strip_prefix("https://").unwrap().to_string();
        let (serving, url) = serve(&self.pref, &self.dir.join("hub-H.log"), &addr);
        assert_eq!(url, self.pref_url);
        self.pref_serving = Some(serving);
    }

    /// The latest report of `org` stored at H, with its version.
    fn stored(&self, org: &str) -> (Value, u64) {
        let body = sqlite(
            &self.pref.join("hub.db"),
            &format!(
                "SELECT body FROM reports WHERE org = '{org}' AND campaign = '{CAMPAIGN}' ORDER BY version DESC LIMIT 1"
            ),
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        let version = v["version"].as_u64().unwrap();
        (v, version)
    }
}

/// `bangfu-hub init` as a hub of the tree; `with_pki`: checking the CA folder's revocations.
fn hub_init(
    data: &Path,
    dir: &Path,
    pki: &Path,
    org: &str,
    level: &str,
    parent: Option<&str>,
    with_pki: bool,
) -> PathBuf {
    let tls = issue_identity(pki, dir, org, &["127.0.0.1"]);
    let mut args = vec![
        "init",
        "--data",
        s(data),
        "--org",
        org,
        "--name",
        "总工会",
        "--level",
        level,
        "--tls",
        s(&tls),
    ];
    if with_pki {
        args.extend(["--pki", s(pki)]);
    }
    if let Some(url) = parent {
        args.extend(["--parent", url]);
    }
    ok("bangfu-hub", &args);
    tls
}

fn org_add(hub: &Path, code: &str, name: &str) {
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(hub),
            "--code",
            code,
            "--name",
            name,
        ],
    );
}

/// Runs `sql` on a hub's store with the sqlite3 CLI (on its standard input: a planted row can be
/// over the argument limit); returns what it printed.
fn sqlite(db: &Path, sql: &str) -> String {
    let mut child = Command::new("sqlite3")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running sqlite3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{sql};\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// `text` as an SQL string literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A rollup cell's exact value (a hub counts integers here).
fn exact(cell: &Value) -> Option<u64> {
    cell.get("value")?
        .to_string()
        .trim_matches('"')
        .parse()
        .ok()
}

/// Waits until `hub`'s rollup counts exactly `sum` households and (`nested`: under a prefecture)
/// each of `present` is in it.
fn counts(hub: &Path, sum: u64, present: &[&str], nested: bool) -> Value {
    wait_until(
        &format!("{} to count {sum} ({present:?})", hub.display()),
        WAIT,
        || {
            let r = rollup(hub, CAMPAIGN).ok_or("no campaign")?;
            let total = exact(&r["cells"]["total"]);
            let orgs: Vec<String> = if nested {
                counties_in(&r).0.into_keys().collect()
            } else {
                r["children"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| c["org"].as_str().unwrap().to_string())
                    .collect()
            };
            let missing: Vec<&&str> = present
                .iter()
                .filter(|o| !orgs.iter().any(|x| x == **o))
                .collect();
            if total == Some(sum) && missing.is_empty() {
                Ok(r)
            } else {
                Err(format!(
                    "total {:?}, missing {missing:?}; issues {}",
                    r["cells"]["total"], r["issues"]
                ))
            }
        },
    )
}

/// The findings of a rollup with `rule`, as (org, via).
fn findings(r: &Value, rule: &str) -> Vec<(String, Option<String>)> {
    r["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["rule"] == rule)
        .map(|i| {
            (
                i["org"].as_str().unwrap().to_string(),
                i["via"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Posts `body` through `client` (signed with its identity's key), as (status, detail).
fn post(client: &Parent, body: &[u8]) -> (u16, String) {
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(client.post_report(body));
    match outcome {
        Outcome::Stored { .. } => (201, String::new()),
        Outcome::Refused { status, detail } => (status, detail),
        Outcome::Unavailable { status, detail } => (status.unwrap_or(0), detail),
    }
}

/// The prefecture's latest report as the province acknowledged it (its outbox).
fn sent_upward(pref: &Path) -> Value {
    let body = sqlite(
        &pref.join("hub.db"),
        &format!(
            "SELECT body FROM upstream WHERE campaign = '{CAMPAIGN}' AND state = 'acked' ORDER BY version DESC LIMIT 1"
        ),
    );
    serde_json::from_str(&body).unwrap()
}

#[test]
fn attacks_a_tampered_prefecture_store_is_not_counted_at_the_province() {
    let mut tree = Tree::new(true);
    // Someone with H's database raises H02's stored report in place (and its hash to match).
    let (mut h02, version) = tree.stored("H02");
    let raised = exact(&h02["cells"]["total"]).unwrap() + 5000;
    h02["cells"]["total"] = json!({ "value": raised });
    let tampered = h02.to_string();
    let hash = bangfu_shared::protocol::ContentHash::of(tampered.as_bytes()).to_string();
    tree.with_prefecture_stopped(|db| {
        sqlite(
            db,
            &format!(
                "UPDATE reports SET body = {}, hash = {} WHERE org = 'H02' AND campaign = '{CAMPAIGN}' AND version = {version}",
                quoted(&tampered),
                quoted(&hash)
            ),
        );
    });
    // H sends the tampered bytes up; the province does not count them, and says why.
    let top = wait_until("H02's bad signature found at the province", WAIT, || {
        let r = rollup(&tree.province, CAMPAIGN).ok_or("no campaign")?;
        let found = findings(&r, "bad_signature");
        if found.contains(&("H02".into(), Some("H".into()))) {
            Ok(r)
        } else {
            Err(r["issues"].to_string())
        }
    });
    assert_eq!(
        findings(&top, "bad_signature"),
        [("H02".to_string(), Some("H".to_string()))],
        "{}",
        top["issues"]
    );
    tree.province_counts(&["H01", "H03"]);
}

#[test]
fn attacks_a_prefecture_forwarding_a_county_not_its_own_and_an_inflated_total_counts_for_nothing() {
    let tree = Tree::new(true);
    let mut forged = sent_upward(&tree.pref);
    // J01's genuine signed report (J's county, its own certificate), slipped into H's report.
    let j01_tls = issue_identity(&tree.pki, &tree.dir, "J01", &[]);
    let (mut j01, _) = tree.stored("H03");
    j01["org"] = json!("J01");
    let j01 = j01.to_string();
    let jws = bangfu_client::signature::Signer::from_dir(&j01_tls)
        .unwrap()
        .sign(j01.as_bytes(), chrono::Utc::now())
        .unwrap();
    forged["children"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "report": j01, "jws": jws.as_str() }));
    forged["cells"]["total"] = json!({ "value": 123_456 });
    forged["version"] = json!(forged["version"].as_u64().unwrap() + 1);
    // Posted with H's real certificate, as H's own process would.
    let h = Parent::new(&tree.province_url, &tree.h_tls).unwrap();
    let (status, detail) = post(&h, &serde_json::to_vec(&forged).unwrap());
    assert_eq!(status, 201, "stored, to be checked: {detail}");

    let top = tree.province_counts(&["H01", "H02", "H03"]);
    assert_eq!(
        findings(&top, "wrong_parent"),
        [("J01".to_string(), Some("H".to_string()))],
        "{}",
        top["issues"]
    );
    assert_eq!(findings(&top, "hub_sum"), [("H".to_string(), None)]);
    // The province shows H with the verified sum, not its claim.
    let h = top["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["org"] == "H")
        .unwrap();
    assert_eq!(
        exact(&h["cells"]["total"]),
        Some(tree.sum(&["H01", "H02", "H03"])),
        "{h}"
    );
}

#[test]
fn attacks_a_stolen_county_certificate_stops_counting_once_revoked_and_the_reissued_county_counts()
{
    // H without the CA: its revocation list comes from the province with the campaigns.
    let mut tree = Tree::new(false);
    let all = ["H01", "H02", "H03"];
    let (_, counted_version) = tree.stored("H01");
    std::thread::sleep(Duration::from_millis(1100));
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::thread::sleep(Duration::from_millis(1100));

    // The thief holds a copy of H01's identity files.
    let stolen = tree.dir.join("stolen-H01");
    std::fs::create_dir(&stolen).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(tree.dir.join("tls-H01").join(f), stolen.join(f)).unwrap();
    }
    let thief = Parent::new(&tree.pref_url, &stolen).unwrap();
    // Inflated figures that still satisfy the table's relations: H02's larger report, as H01's.
    let mut fake = tree.stored("H02").0;
    fake["org"] = json!("H01");
    fake["version"] = json!(u32::MAX);
    let (status, detail) = post(&thief, &serde_json::to_vec(&fake).unwrap());
    assert_eq!(
        status, 422,
        "the highest version is past the jump bound: {detail}"
    );
    // The highest version the bound allows is taken, with the thief's figures, and counts (so far).
    fake["version"] = json!(counted_version + 1000);
    let (status, detail) = post(&thief, &serde_json::to_vec(&fake).unwrap());
    assert_eq!(status, 201, "{detail}");
    let thief_sum = tree.sum(&["H02", "H02", "H03"]);
    tree.prefecture_counts(thief_sum);
    counts(&tree.province, thief_sum, &all, true);

    // The province revokes the stolen certificate, compromised since before the thief's post.
    let serial = bangfu_client::signature::Signer::from_dir(&stolen)
        .unwrap()
        .serial()
        .to_string();
    ok(
        "bangfu-hub",
        &[
            "pki",
            "revoke",
            "--dir",
            s(&tree.pki),
            "--serial",
            &serial,
            "--reason",
            "key-compromise",
            "--compromised-since",
            &since,
        ],
    );
    // The list reaches H by its sync: the thief's version stops counting at H, H01's real version
    // counts again, and H's rebuilt report brings it to the province.
    tree.prefecture_counts(tree.sum(&all));
    tree.province_counts(&all);
    let (status, detail) = post(&thief, &serde_json::to_vec(&fake).unwrap());
    assert_ne!(status, 201, "the thief is refused: {detail}");

    // H01 is re-issued; the real node takes its new identity, imports the rest of its archive and
    // pushes its next version: no conflict, counted at H and at the province.
    let reissued = tree.dir.join("tls-H01-reissued");
    ok(
        "bangfu-hub",
        &[
            "pki",
            "issue",
            "--dir",
            s(&tree.pki),
            "--org",
            "H01",
            "--name",
            "县总工会",
            "--out",
            s(&reissued),
        ],
    );
    let (node, parts) = tree.nodes["H01"].clone();
    ok(
        "bangfu-node",
        &[
            "connect",
            "--data",
            s(&node),
            "--parent",
            &tree.pref_url,
            "--tls",
            s(&reissued),
        ],
    );
    ok("bangfu-node", &["import", "--data", s(&node), s(&parts[1])]);
    tree.push("H01");
    tree.counted.insert(
        "H01",
        bangfu_e2e::archive_total(&tree.dir.join("gen-H01/households.csv"), &tree.end),
    );
    let at_h = tree.prefecture_counts(tree.sum(&all));
    assert!(
        findings(&at_h, "older_version").is_empty(),
        "{}",
        at_h["issues"]
    );
    let top = tree.province_counts(&all);
    for rule in ["bad_signature", "older_version"] {
        assert!(findings(&top, rule).is_empty(), "{rule}: {}", top["issues"]);
    }
}

/// Each hostile value or field of issue 12 as a change to a county's honest report, and the field
/// the refusal must name (None: refused by size before it is read).
type Case = (&'static str, Option<&'static str>, fn(&mut Value));

fn hostile() -> Vec<Case> {
    vec![
        ("-5", Some("cells.total.value"), |r| {
            r["cells"]["total"] = json!({ "value": -5 })
        }),
        ("1.5", Some("cells.total.value"), |r| {
            r["cells"]["total"] = json!({ "value": 1.5 })
        }),
        ("\"  7 \"", Some("cells.total.value"), |r| {
            r["cells"]["total"] = json!({ "value": "  7 " })
        }),
        ("i64::MAX", Some("cells.total.value"), |r| {
            r["cells"]["total"] = json!({ "value": i64::MAX })
        }),
        ("an unknown field", Some("remark"), |r| {
            r["remark"] = json!("请优先拨付")
        }),
        (
            "children with free text",
            Some("children"),
            |r| r["children"] = json!([{ "org": "H09", "note": "张三 身份证 420821199001011234 电话 13800000000" }]),
        ),
        ("1 MB of padding", None, |r| {
            r["padding"] = json!("x".repeat(1 << 20))
        }),
    ]
}

#[test]
fn attacks_hostile_values_and_fields_from_a_real_county_certificate_are_refused() {
    let tree = Tree::new(true);
    let all = ["H01", "H02", "H03"];
    let (h03, version) = tree.stored("H03");
    let client = Parent::new(&tree.pref_url, &tree.dir.join("tls-H03")).unwrap();
    for (name, path, change) in hostile() {
        let mut r = h03.clone();
        r["version"] = json!(version + 1);
        change(&mut r);
        let (status, detail) = post(&client, &serde_json::to_vec(&r).unwrap());
        match path {
            Some(path) => {
                assert_eq!(status, 422, "{name}: {detail}");
                assert!(detail.contains(&format!("`{path}`")), "{name}: {detail}");
            }
            None => assert!(status == 413 || status == 422, "{name}: {status} {detail}"),
        }
        assert!(!detail.contains("4208"), "{name}: {detail}");
    }
    // Nothing of it was stored: H03's latest is still its node's.
    assert_eq!(tree.stored("H03").1, version);
    // The same county reports inside H's report, signed by H03 and sent with H's certificate: the
    // province refuses them at the same field.
    let h03_key = bangfu_client::signature::Signer::from_dir(&tree.dir.join("tls-H03")).unwrap();
    let h = Parent::new(&tree.province_url, &tree.h_tls).unwrap();
    let upward = sent_upward(&tree.pref);
    for (name, path, change) in hostile() {
        let mut r = h03.clone();
        r["version"] = json!(version + 1);
        change(&mut r);
        let text = r.to_string();
        let mut forged = upward.clone();
        forged["version"] = json!(upward["version"].as_u64().unwrap() + 1);
        let children = forged["children"].as_array_mut().unwrap();
        let at = children
            .iter()
            .position(|e| e["report"].as_str().unwrap().contains("\"H03\""))
            .unwrap();
        let jws = h03_key.sign(text.as_bytes(), chrono::Utc::now()).unwrap();
        children[at] = json!({ "report": text, "jws": jws.as_str() });
        let (status, detail) = post(&h, &serde_json::to_vec(&forged).unwrap());
        assert!(
            status == 422 || status == 413,
            "{name} at the province: {status} {detail}"
        );
        if let Some(path) = path {
            assert!(
                detail.contains(&format!("`children[{at}].report.{path}`")),
                "{name} at the province: {detail}"
            );
        }
    }
    tree.prefecture_counts(tree.sum(&all));
    tree.province_counts(&all);
}

/// Writes a row into a hub's `reports` as a store written before the strict intake (or tampered
/// with) would hold it: no signature.
fn plant(db: &Path, org: &str, version: u64, body: &str) {
    let hash = bangfu_shared::protocol::ContentHash::of(body.as_bytes()).to_string();
    sqlite(
        db,
        &format!(
            "INSERT INTO reports (org, campaign, version, hash, body, received_at, on_time) VALUES ('{org}', '{CAMPAIGN}', {version}, {}, {}, '2026-01-20T02:00:00+00:00', 1)",
            quoted(&hash),
            quoted(body)
        ),
    );
}

#[test]
fn attacks_a_poisoned_or_oversize_child_is_held_back_and_its_siblings_reach_the_province() {
    let mut tree = Tree::new(true);
    let (h03, version) = tree.stored("H03");
    org_add(&tree.pref, "H04", "县总工会");
    tree.with_prefecture_stopped(|db| {
        // H03's next version oversize, with a count as a string; H04's only one not JSON at all.
        let mut poisoned = h03.clone();
        poisoned["version"] = json!(version + 1);
        poisoned["padding"] = json!("x".repeat(1 << 20));
        poisoned["cells"]["total"] = json!({ "value": "  7 " });
        plant(db, "H03", version + 1, &poisoned.to_string());
        plant(db, "H04", 1, "{\"org\": \"H04\", \"cells\": ");
    });
    let top = wait_until(
        "H03 and H04 shown as held back at the province",
        WAIT,
        || {
            let r = rollup(&tree.province, CAMPAIGN).ok_or("no campaign")?;
            let held = findings(&r, "held_back");
            let via_h = |o: &str| held.contains(&(o.to_string(), Some("H".to_string())));
            if via_h("H03") && via_h("H04") {
                Ok(r)
            } else {
                Err(r["issues"].to_string())
            }
        },
    );
    assert!(findings(&top, "held_back").len() >= 2, "{}", top["issues"]);
    let at_h = tree.prefecture_counts(tree.sum(&["H01", "H02"]));
    assert!(
        findings(&at_h, "held_back").iter().any(|(o, _)| o == "H03"),
        "{}",
        at_h["issues"]
    );
    tree.province_counts(&["H01", "H02"]);
}

#[test]
fn attacks_terminal_escapes_from_a_county_never_reach_the_status_screen() {
    let mut tree = Tree::new(true);
    let escape = "\u{1b}[2J\u{1b}[32m审核通过 ALL OK\u{1b}[0m";
    let (h03, version) = tree.stored("H03");
    // Sent with H03's real certificate: refused, and the refusal does not echo the escape.
    let client = Parent::new(&tree.pref_url, &tree.dir.join("tls-H03")).unwrap();
    let mut r = h03.clone();
    r["version"] = json!(version + 1);
    r["failed_rules"] =
        json!([{ "rule": escape, "importance": "low", "cells": [], "detail": escape }]);
    let (status, detail) = post(&client, &serde_json::to_vec(&r).unwrap());
    assert_eq!(status, 422, "{detail}");
    assert!(!detail.contains('\u{1b}'), "{detail:?}");
    // The same report in H's store (from before the strict intake), and a county whose registered
    // name carries the escape.
    let named = run(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&tree.pref),
            "--code",
            "H04",
            "--name",
            &format!("县{escape}"),
        ],
    );
    tree.with_prefecture_stopped(|db| {
        plant(db, "H03", version + 1, &r.to_string());
        if named.status.success() {
            plant(db, "H04", 1, &r.to_string().replace("\"H03\"", "\"H04\""));
        }
    });
    tree.province_counts(&["H01", "H02"]);
    for hub in [&tree.pref, &tree.province] {
        let out = run(
            "bangfu-hub",
            &["status", "--data", s(hub), "--campaign", CAMPAIGN],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.stdout.contains(&0x1b),
            "{}: {:?}",
            hub.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        if hub == &tree.pref {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("H03"), "H03 is shown: {text}");
            // The registered name with the escape is shown too (when the registry took it).
            assert!(
                !named.status.success() || text.contains("H04"),
                "H04 is shown: {text}"
            );
            assert!(text.contains("\\u{1b}"), "shown escaped: {text}");
        }
    }
}
