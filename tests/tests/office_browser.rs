//! A county office clerk's whole campaign in a real browser (issue 17, item 8 and its must-reach),
//! with no terminal on the clerk's side: a prefecture hub (`bangfu-hub serve`, mutual TLS with
//! certificates from `bangfu-hub pki`) holding a 送温暖 campaign, and a county node connected to it
//! serving the office UI (`bangfu-node serve --ui`). In headless Chromium the clerk logs in, uploads
//! the office's GBK CSV with bad rows, reads the refused rows (line, column, reason), uploads the
//! corrected rows, sees the archive's counts, fills in the 填报 form (a rule refusal shown while
//! typing, then corrected), saves a draft, submits (报送), and sees the hub's acknowledgement; the
//! hub's reviewer returns the report with a reason (the hub's CLI), the clerk's first page shows
//! 已退回 with it, the cell is marked in the form, and the corrected version goes up. The hub's CLI
//! checks what the hub holds at each step, and that nothing went up before 报送.
//! Screenshots of every step: `target/browser-artefacts/office-*.png`.

mod browser;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bangfu_e2e::{binary, init_hub, issue_identity, ok, pki_init, s, serve, today, user_add};
use browser::{Browser, Killed, PAGE, chromium_missing, js};
use serde_json::Value;

const CAMPAIGN: &str = "songnuan-2026";
const TITLE: &str = "2026年元旦春节送温暖";
const CLERK: &str = "wangli";
const PASSWORD: &str = "京山县办公室的长密码-2026";
const REASON: &str = "4B 困难企业数与走访台账不符，请核实后重报";

/// `bangfu-node serve --ui 127.0.0.1:0 --interval 1`: the process and the UI's base URL; what the
/// daemon says goes to `log`.
fn serve_office(node: &Path, log: &Path) -> (Killed, String) {
    let mut child = Command::new(binary("bangfu-node"))
        .args([
            "serve",
            "--data",
            s(node),
            "--ui",
            "127.0.0.1:0",
            "--interval",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(log.with_extension("err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = std::fs::File::create(log).unwrap();
    let base = loop {
        let line = lines
            .next()
            .expect("serve prints the UI's address")
            .unwrap();
        writeln!(said, "{line}").unwrap();
        if let Some(rest) = line.strip_prefix("office UI on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep reading what the daemon says, into its log, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(said, "{line}");
        }
    });
    (Killed(child), base)
}

/// What the hub holds from H01: the version and its review state, from `bangfu-hub rollup`.
fn held(hub: &Path) -> Option<(u64, String)> {
    let r = bangfu_e2e::rollups::rollup(hub, CAMPAIGN)?;
    let h01 = r["children"]
        .as_array()?
        .iter()
        .find(|c| c["org"] == "H01")?;
    let version = h01["version"].as_u64()?;
    Some((
        version,
        h01["review"]["state"].as_str().unwrap_or("").to_string(),
    ))
}

/// The value of `code` in H01's report as the hub holds it.
fn cell_at_hub(hub: &Path, code: &str) -> Option<f64> {
    let r = bangfu_e2e::rollups::rollup(hub, CAMPAIGN)?;
    let h01 = r["children"]
        .as_array()?
        .iter()
        .find(|c| c["org"] == "H01")?;
    h01["cells"][code]["value"].as_f64()
}

/// The GB 11643-1999 check character of an ID number's first 17 digits.
fn check_char(digits17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

/// A clerk's correction of one refused row, from what the rejects file says about it (line,
/// column, reason) — what the office would change in Excel. `row` is the row as the office's file
/// had it, `header` that file's header.
fn correct(header: &[String], line: u64, column: &str, reason: &str, row: &mut [String]) {
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let rule = reason
        .split_once('[')
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(r, _)| r)
        .unwrap_or_else(|| panic!("no rule in the reason {reason:?}"));
    let id = col("身份证号");
    match rule {
        "id_number.check_char" | "id_number.length" => {
            let digits: String = row[id].chars().take(17).collect();
            row[id] = format!("{digits}{}", check_char(&digits));
        }
        "id_number.birth_date" => {
            // The year is right; the day written down did not exist.
            let digits = format!("{}0115{}", &row[id][..10], &row[id][14..17]);
            row[id] = format!("{digits}{}", check_char(&digits));
        }
        "id_number.sex" => {
            let sex = col("性别");
            row[sex] = if row[sex] == "男" { "女" } else { "男" }.to_string();
        }
        "staff_no.format" | "staff_no.org" => {
            // Staff numbers run with the file's lines: line 2 is H0100001.
            row[col("职工编号")] = format!("H01{:05}", line - 1);
        }
        "vocabulary" => {
            let allowed = reason
                .split_once("allowed: ")
                .map(|(_, a)| a.trim_end_matches(')'))
                .unwrap_or_else(|| panic!("no allowed values in {reason:?}"));
            let choices: Vec<&str> = allowed.split('/').collect();
            let pick = if choices.contains(&"其他") {
                "其他"
            } else {
                choices[0]
            };
            row[col(column)] = pick.to_string();
        }
        "causes.count" | "causes.repeated" => {
            let c = col("致困主要原因");
            let mut kept: Vec<&str> = Vec::new();
            for cause in row[c].split(['、', ';', '；', ',', '，']) {
                if !cause.is_empty() && !kept.contains(&cause) && kept.len() < 3 {
                    kept.push(cause);
                }
            }
            row[c] = kept.join("、");
        }
        "number.format" | "number.negative" => {
            let c = col(column);
            row[c] = row[c]
                .chars()
                .filter(|ch| ch.is_ascii_digit() || *ch == '.')
                .collect();
        }
        other => panic!("the test does not know how a clerk corrects {other} (line {line})"),
    }
}

/// Rows of a CSV read from text: header and records.
fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// A CSV as Chinese Excel saves it: GBK.
fn write_gbk(path: &Path, header: &[String], rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(header).unwrap();
    for row in rows {
        w.write_record(row).unwrap();
    }
    let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let (bytes, _, lossy) = encoding_rs::GBK.encode(&text);
    assert!(!lossy, "every character has a GBK code");
    std::fs::write(path, bytes).unwrap();
}

/// The cells of the rows of the table `selector` (one table), as the page shows them.
fn table_rows(b: &mut Browser, selector: &str) -> Vec<Vec<String>> {
    let v = b.eval(&format!(
        "[...document.querySelectorAll({} + ' tbody tr')].map(tr => [...tr.cells].map(td => td.innerText.trim()))",
        js(selector)
    ));
    serde_json::from_value(v).unwrap()
}

/// Uploads `file` through the import page and waits for the result; the counts row of the
/// households (read, new, updated, unchanged, rejected).
fn upload(b: &mut Browser, base: &str, file: &Path) -> Vec<u64> {
    b.go(&format!("{base}/import"));
    b.choose_file("input[type=file][name=file]", file);
    b.click_to_next_page("form[action='/import'] button[type=submit]");
    b.until(
        "the import's result",
        "!!document.getElementById('import-done') || !!document.getElementById('import-failed')",
        PAGE,
    );
    assert_eq!(
        b.eval("!!document.getElementById('import-done')"),
        Value::Bool(true),
        "the import failed: {}",
        b.text()
    );
    let rows = table_rows(b, "#import-done + div");
    assert_eq!(rows.len(), 1, "one kind of rows: {rows:?}");
    assert!(rows[0][0].contains("households"), "{rows:?}");
    rows[0][1..]
        .iter()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("{rows:?}")))
        .collect()
}

/// The state of the rule whose message starts with `start` on the 填报 form: pass, broken, pending.
fn rule_state(b: &mut Browser, start: &str) -> String {
    let v = b.eval(&format!(
        "(() => {{ const li = [...document.querySelectorAll('#rules li')].find(li => li.querySelector('.rule-text').innerText.startsWith({})); return li ? ['pass', 'broken', 'pending'].find(c => li.classList.contains(c)) || li.className : 'missing'; }})()",
        js(start)
    ));
    v.as_str().unwrap_or("").to_string()
}

#[test]
fn a_clerk_runs_a_whole_campaign_in_the_browser_and_the_hub_holds_what_was_submitted() {
    if chromium_missing() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();

    // The prefecture: its PKI, its hub with the campaign and the county registered.
    let pki = dir.join("pki");
    pki_init(&pki, "H", "荆门市总工会");
    let hub = dir.join("hub");
    init_hub(&hub, dir, &pki, "H", "荆门市总工会", "prefecture", None);
    ok(
        "bangfu-hub",
        &[
            "campaign",
            "create",
            "--data",
            s(&hub),
            "--id",
            CAMPAIGN,
            "--template",
            "songnuan",
            "--title",
            TITLE,
            "--start",
            "2026-01-01",
            "--end",
            &today(),
            "--due",
            "county=2099-12-31",
            "--due",
            "prefecture=2099-12-31",
        ],
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&hub),
            "--code",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    let (_hub_serving, hub_url) = serve(&hub, &dir.join("hub.log"), "127.0.0.1:0");

    // The county as IT sets it up: an empty archive, connected, a clerk's account, the UI.
    let node = dir.join("node");
    ok(
        "bangfu-node",
        &[
            "init",
            "--data",
            s(&node),
            "--org",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    let tls = issue_identity(&pki, dir, "H01", &[]);
    ok(
        "bangfu-node",
        &[
            "connect",
            "--data",
            s(&node),
            "--parent",
            &hub_url,
            "--tls",
            s(&tls),
        ],
    );
    user_add("bangfu-node", &node, CLERK, "clerk", PASSWORD);
    // The office's file: synthetic households in GBK, some rows broken (the manifest says which).
    let files = dir.join("office-files");
    ok(
        "bangfu-node",
        &[
            "gen",
            "--org",
            "H01",
            "--households",
            "200",
            "--seed",
            "7",
            "--invalid",
            "0.05",
            "--format",
            "csv-gbk",
            "--out",
            s(&files),
        ],
    );
    let broken: Vec<(String, String)> = {
        let (_, rows) = csv_rows(&std::fs::read_to_string(files.join("invalid.csv")).unwrap());
        rows.into_iter()
            .filter(|r| r[0] == "households.csv")
            .map(|r| (r[1].clone(), r[2].clone()))
            .collect()
    };
    assert!(broken.len() >= 5, "{broken:?}");
    let office_file = files.join("困难职工家庭.csv");
    std::fs::rename(files.join("households.csv"), &office_file).unwrap();
    let node_log = dir.join("node.log");
    let (_node_serving, base) = serve_office(&node, &node_log);
    let daemon_said = || std::fs::read_to_string(&node_log).unwrap_or_default();

    // 1. Nothing without logging in: the page sends the browser to /login.
    let mut b = Browser::open(&dir.join("profile-clerk"));
    b.go(&format!("{base}/campaigns/{CAMPAIGN}"));
    assert_eq!(b.path(), "/login");
    b.screenshot("office-01-login");
    b.login(&base, CLERK, PASSWORD);
    assert_eq!(b.path(), format!("/campaigns/{CAMPAIGN}"));

    // 2. The office's file with bad rows: the refused rows on the page, line, column and reason.
    let counts = upload(&mut b, &base, &office_file);
    let rejected = broken.len() as u64;
    assert_eq!(
        counts,
        vec![200, 200 - rejected, 0, 0, rejected],
        "{}",
        b.text()
    );
    let shown = table_rows(&mut b, "#rejects");
    assert_eq!(shown.len(), broken.len(), "{shown:?}");
    for ((line, rule), row) in broken.iter().zip(&shown) {
        assert_eq!(&row[0], line, "{row:?}");
        assert!(!row[1].is_empty(), "a column is named: {row:?}");
        assert!(row[2].contains(&format!("[{rule}]")), "{row:?} for {rule}");
    }
    b.screenshot("office-02-rejects");

    // 3. The rejects file from the page's link, corrected as the office would in Excel, uploaded.
    let rejects = b.eval(
        "fetch(document.getElementById('rejects-download').href).then(r => r.ok ? r.text() : 'HTTP ' + r.status)",
    );
    let (rejects_header, rejects_rows) = csv_rows(rejects.as_str().unwrap());
    assert_eq!(&rejects_header[..3], ["行号", "字段", "原因"]);
    let original = std::fs::read(&office_file).unwrap();
    let (original, _, _) = encoding_rs::GBK.decode(&original);
    let (header, all_rows) = csv_rows(&original);
    assert_eq!(rejects_header[3..], header[..]);
    let mut corrected = Vec::new();
    for r in &rejects_rows {
        let mut row = r[3..].to_vec();
        correct(&header, r[0].parse().unwrap(), &r[1], &r[2], &mut row);
        corrected.push(row);
    }
    let fixed_file = files.join("困难职工家庭-已改正.csv");
    write_gbk(&fixed_file, &header, &corrected);
    let counts = upload(&mut b, &base, &fixed_file);
    assert_eq!(
        counts,
        vec![rejected, rejected, 0, 0, 0],
        "every corrected row is taken: {}",
        b.text()
    );
    assert_eq!(
        b.eval("!!document.getElementById('rejects')"),
        Value::Bool(false)
    );
    b.screenshot("office-03-corrected");

    // 4. The archive's counts: the office's 200 households, by status.
    let refused: Vec<&str> = broken.iter().map(|(l, _)| l.as_str()).collect();
    let status = header.iter().position(|h| h == "档案状态").unwrap();
    let on_file = all_rows
        .iter()
        .enumerate()
        .filter(|(i, _)| !refused.contains(&(i + 2).to_string().as_str()))
        .map(|(_, r)| r)
        .chain(&corrected)
        .filter(|r| r[status] == "在档")
        .count();
    b.go(&format!("{base}/"));
    b.wait_for_text(&format!("在档 on file {on_file} 户"), PAGE);
    b.screenshot("office-04-home-counts");
    b.go(&format!("{base}/archive"));
    b.screenshot("office-05-archive");

    // 5. The campaign arrives from the hub; nothing of it has gone up (its figures are not filled
    //    in, nobody submitted it), however many rounds the daemon runs.
    let start = Instant::now();
    loop {
        b.go(&format!("{base}/campaigns"));
        if b.text().contains(TITLE) {
            break;
        }
        assert!(
            start.elapsed() < PAGE,
            "the campaign never reached the office: {}\n{}",
            b.text(),
            daemon_said()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        held(&hub),
        None,
        "nothing goes up before 报送; the daemon said:\n{}",
        daemon_said()
    );

    // 6. 填报: the typed-in cells; a rule refused as the clerk types, then corrected.
    b.click_to_next_page(&format!("a[href='/campaigns/{CAMPAIGN}']"));
    b.until(
        "the 填报 form",
        "!!document.getElementById('figures')",
        PAGE,
    );
    assert_eq!(
        b.eval("document.getElementById('cell-3A').readOnly && !document.getElementById('cell-3A').name"),
        Value::Bool(true),
        "a computed cell is shown, not typed in"
    );
    assert_eq!(
        b.eval(&format!(
            "document.getElementById('cell-3A').value === {}",
            js(&on_file.to_string())
        )),
        Value::Bool(true),
        "3A is the archive's households on file: {}",
        b.eval("document.getElementById('cell-3A').value")
    );
    // Laid out like the seed table: section titles, the lines under 10A indented.
    assert_eq!(
        b.eval("[...document.querySelectorAll('tr.section')].some(tr => tr.innerText.includes('11 为农民工返乡争取经济补贴'))"),
        Value::Bool(true),
        "every section has its title"
    );
    assert_eq!(
        b.eval("document.getElementById('cell-10B').closest('tr').classList.contains('indent')"),
        Value::Bool(true)
    );
    b.screenshot("office-06-form");
    // On a phone the form does not scroll sideways (the table scrolls inside its box).
    b.viewport(390, 844, true);
    b.eval("new Promise(r => setTimeout(() => r(true), 200))");
    b.screenshot("office-06-form-phone");
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= window.innerWidth + 1"),
        Value::Bool(true),
        "the form fits a phone's width: {} > {}",
        b.eval("document.documentElement.scrollWidth"),
        b.eval("window.innerWidth")
    );
    b.viewport(1366, 768, false);
    let rule_4b = "4(B) 困难企业不能超过 4(A)";
    assert_eq!(rule_state(&mut b, rule_4b), "pending");
    b.fill("#cell-4A", "12");
    b.fill("#cell-4B", "15");
    assert_eq!(
        rule_state(&mut b, rule_4b),
        "broken",
        "4B > 4A is refused as typed"
    );
    assert_eq!(
        b.eval("document.getElementById('cell-4B').classList.contains('rule-broken')"),
        Value::Bool(true)
    );
    b.screenshot("office-07-rule-broken");
    b.fill("#cell-4B", "3");
    assert_eq!(rule_state(&mut b, rule_4b), "pass");
    let figures = [
        ("1A", "52000"),
        ("1B", "8000"),
        ("2A", "1500"),
        ("2B", "300"),
        ("4C", "860"),
        ("5A", "120.5"),
        ("5B", "20"),
        ("5C", "30.5"),
        ("5D", "50"),
        ("5E", "15"),
        ("5F", "5"),
        ("9A", "400"),
        ("9B", "100"),
        ("9C", "100"),
        ("9D", "100"),
        ("9E", "100"),
    ];
    for (code, value) in figures {
        b.fill(&format!("#cell-{code}"), value);
    }
    for rule in ["1(B)", "2(B)", "5(A)", "9(A)", rule_4b] {
        assert_eq!(rule_state(&mut b, rule), "pass", "{rule}");
    }
    assert_eq!(
        b.eval("document.querySelectorAll('input.fig.rule-broken').length"),
        0
    );

    // 7. A draft is saved, and still nothing goes up.
    b.click_to_next_page("button[name=action][value=save]");
    b.until(
        "the saved draft",
        "!!document.getElementById('saved')",
        PAGE,
    );
    assert_eq!(
        b.eval("document.getElementById('cell-4A').value"),
        "12",
        "the draft keeps the figures"
    );
    b.screenshot("office-08-draft-saved");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        held(&hub),
        None,
        "a saved draft does not go up; the daemon said:\n{}",
        daemon_said()
    );

    // 8. 报送: version 1 goes up; the page shows it acknowledged, and the hub holds it.
    b.click_to_next_page("#submit-report");
    b.until(
        "the submission",
        "!!document.getElementById('submitted')",
        PAGE,
    );
    let said = b.eval("document.getElementById('submitted').innerText");
    assert!(
        said.as_str().unwrap().contains("第 1 版"),
        "{said}: {}",
        b.text()
    );
    let versions = table_rows(&mut b, "#versions");
    assert!(
        versions.len() == 1
            && versions[0][0].contains("第 1 版")
            && versions[0][1].contains("上级已接收"),
        "{versions:?}"
    );
    b.screenshot("office-09-submitted");
    assert_eq!(held(&hub), Some((1, "pending".to_string())));
    // The hub holds what the clerk typed and the archive's own figures.
    assert_eq!(cell_at_hub(&hub, "4A"), Some(12.0));
    assert_eq!(cell_at_hub(&hub, "4B"), Some(3.0));
    assert_eq!(cell_at_hub(&hub, "5A"), Some(120.5));
    assert_eq!(cell_at_hub(&hub, "3A"), Some(on_file as f64));
    assert!(
        daemon_said().contains(&format!(
            "campaign {CAMPAIGN}: has figures typed in by the office"
        )),
        "the daemon says why it waits: {}",
        daemon_said()
    );
    let status = ok(
        "bangfu-hub",
        &["status", "--data", s(&hub), "--campaign", CAMPAIGN],
    );
    assert!(
        status.contains("已报 received 1"),
        "the hub's status: {status}"
    );

    // 9. The prefecture's reviewer returns it with a reason (the hub's CLI).
    ok(
        "bangfu-hub",
        &[
            "review",
            "--data",
            s(&hub),
            "--campaign",
            CAMPAIGN,
            "--org",
            "H01",
            "--return",
            REASON,
        ],
    );

    // 10. The clerk's first page shows 已退回 with the reason, before anything else.
    let start = Instant::now();
    loop {
        b.go(&format!("{base}/"));
        if b.text().contains("已退回") {
            break;
        }
        assert!(
            start.elapsed() < PAGE,
            "the return never reached the first page: {}\n{}",
            b.text(),
            daemon_said()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let home = b.text();
    let returned = home.find("已退回").unwrap();
    assert!(home[returned..].contains(REASON), "{home}");
    assert!(
        returned < home.find("填报任务").unwrap(),
        "the parent's answer comes first: {home}"
    );
    b.screenshot("office-10-returned");

    // 11. The form shows the reason and marks the cell it names; the clerk corrects it, 报送.
    b.click_to_next_page(&format!("a.button[href='/campaigns/{CAMPAIGN}']"));
    b.until(
        "the form with the return",
        "!!document.getElementById('returned')",
        PAGE,
    );
    assert!(
        b.eval("document.getElementById('returned').innerText")
            .as_str()
            .unwrap()
            .contains(REASON)
    );
    assert_eq!(
        b.eval("document.getElementById('cell-4B').closest('tr').classList.contains('flagged')"),
        Value::Bool(true),
        "the cell the reason names is marked"
    );
    assert_eq!(
        b.eval("document.getElementById('cell-4A').closest('tr').classList.contains('flagged')"),
        Value::Bool(false)
    );
    b.screenshot("office-11-flagged");
    b.fill("#cell-4B", "2");
    assert_eq!(rule_state(&mut b, rule_4b), "pass");
    b.click_to_next_page("#submit-report");
    b.until(
        "the second submission",
        "!!document.getElementById('submitted')",
        PAGE,
    );
    let versions = table_rows(&mut b, "#versions");
    assert!(
        versions.len() == 2
            && versions[0][0].contains("第 2 版")
            && versions[0][1].contains("上级已接收")
            && versions[1][0].contains("第 1 版")
            && versions[1][5].contains("已退回"),
        "{versions:?}"
    );
    b.screenshot("office-12-resubmitted");
    assert_eq!(held(&hub), Some((2, "pending".to_string())));
    assert_eq!(cell_at_hub(&hub, "4B"), Some(2.0));
    println!("screenshots: {}", browser::artefacts().display());
}
