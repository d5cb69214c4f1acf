//! `deploy/demo.sh --once`, the README's one command, run as a user runs it (against the debug
//! binaries this test run built, through BANGFU_BIN_DIR): it must bring up the whole tree, print a
//! province total equal to what the generated archives hold, and leave no process behind.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bangfu_e2e::{archive_total, binary, s, today};

/// Four consecutive free loopback ports (the script's --port BASE uses BASE..BASE+3: three hubs and
/// the province's dashboard).
fn free_port_base() -> u16 {
    let start = 20_000 + (std::process::id() % 20_000) as u16;
    (start..60_000)
        .step_by(4)
        .find(|&p| (p..p + 4).all(|q| TcpListener::bind(("127.0.0.1", q)).is_ok()))
        .expect("four free ports")
}

/// Processes whose command line mentions `needle` (the demo's folder is in every one it starts).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit())
        {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// The number after `prefix` on the first line that starts with it (after trimming).
fn number_after(out: &str, prefix: &str) -> Option<u64> {
    out.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
}

#[test]
fn the_demo_brings_up_the_whole_tree_and_the_province_total_is_what_the_archives_hold() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("demo-run");
    let bin_dir: PathBuf = binary("bangfu-hub").parent().unwrap().to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/demo.sh");
    let port = free_port_base().to_string();

    let mut child = Command::new("bash")
        .args([
            s(&script),
            "--once",
            "--households",
            "60",
            "--dir",
            s(&dir),
            "--port",
            &port,
        ])
        .env("BANGFU_BIN_DIR", &bin_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so a chatty script cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(300) {
            // SIGTERM: the script's trap stops what it started.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
            panic!("demo.sh --once did not finish in 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (out, err) = (out_reader.join().unwrap(), err_reader.join().unwrap());
    assert!(status.success(), "demo.sh failed ({status}):\n{out}\n{err}");

    // What the generated archives hold on the campaign's end day (today, in Asia/Shanghai).
    let today = today();
    let counted: BTreeMap<&str, u64> = ["H01", "H02", "H08", "J01", "J02"]
        .into_iter()
        .map(|org| {
            (
                org,
                archive_total(&dir.join(format!("gen-{org}/households.csv")), &today),
            )
        })
        .collect();
    let all: u64 = counted.values().sum();
    assert!(all > 0, "the generated archives hold households");

    assert_eq!(
        number_after(&out, "province total / 全省合计: "),
        Some(all),
        "printed province total vs counted {counted:?}:\n{out}"
    );
    for (org, n) in &counted {
        let line = out
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&format!("{org} ")) && l.contains(": total "))
            .unwrap_or_else(|| panic!("no line for {org}:\n{out}"));
        assert!(
            line.contains(&format!("total {n},")),
            "{org}: {line} vs counted {n}"
        );
    }
    assert!(
        out.contains("completeness / 完整性: expected 2, received 2"),
        "{out}"
    );
    for org in ["HB", "H", "J"] {
        assert!(
            out.contains(&format!("hub {org}")),
            "the hub {org}'s address is printed:\n{out}"
        );
    }
    // The script checked the dashboard answered before printing its address.
    let base: u16 = port.parse().unwrap();
    assert!(
        out.contains(&format!(
            "看板 (the province's live rollup, open in a browser): http://127.0.0.1:{}/campaigns/",
            base + 3
        )),
        "{out}"
    );

    // Nothing it started is left running, and every process said it stopped cleanly.
    let left = processes_mentioning(s(&dir));
    assert!(left.is_empty(), "processes left behind: {left:?}\n{out}");
    assert_eq!(
        out.matches(") stopped, exit status 0").count(),
        8,
        "three hubs and five nodes stop cleanly:\n{out}"
    );
    assert!(!out.contains("killed"), "{out}");
}
