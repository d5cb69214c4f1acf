//! A small federation for the fault tests, set up as deployed: one province CA issues every
//! identity; a province hub with a `dangan` campaign; prefecture hubs under it; county nodes under
//! those, each running `bangfu-node serve` and growing its archive in parts (each part imported
//! makes a new version of its report). The test keeps its own count of what each county imported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Serving, binary, generate, issue_identity, ok, s, serve};

/// The campaign every fault test reports on.
pub const CAMPAIGN: &str = "dangan-faults";

/// The PKI, the province hub and the campaign's end day (today in Asia/Shanghai).
pub struct Federation {
    pub dir: PathBuf,
    pub pki: PathBuf,
    pub province: PathBuf,
    /// The campaign's end date: the day the archive is counted on.
    pub end: String,
}

impl Federation {
    /// A CA, and a province hub `HB` with the campaign and the prefectures `prefectures` registered.
    pub fn new(dir: &Path, prefectures: &[&str]) -> Federation {
        let pki = dir.join("pki");
        ok(
            "bangfu-hub",
            &[
                "pki",
                "init",
                "--dir",
                s(&pki),
                "--org",
                "HB",
                "--name",
                "湖北省总工会",
            ],
        );
        let province = dir.join("hub-HB");
        let tls = issue_identity(&pki, dir, "HB", &["127.0.0.1"]);
        ok(
            "bangfu-hub",
            &[
                "init",
                "--data",
                s(&province),
                "--org",
                "HB",
                "--name",
                "湖北省总工会",
                "--level",
                "province",
                "--tls",
                s(&tls),
                "--pki",
                s(&pki),
            ],
        );
        let end = chrono_today();
        ok(
            "bangfu-hub",
            &[
                "campaign",
                "create",
                "--data",
                s(&province),
                "--id",
                CAMPAIGN,
                "--template",
                "dangan",
                "--title",
                "困难职工档案统计",
                "--start",
                "2026-01-01",
                "--end",
                &end,
                "--due",
                "county=2099-12-31",
                "--due",
                "prefecture=2099-12-31",
                "--due",
                "province=2099-12-31",
            ],
        );
        for code in prefectures {
            ok(
                "bangfu-hub",
                &[
                    "org",
                    "add",
                    "--data",
                    s(&province),
                    "--code",
                    code,
                    "--name",
                    "市总工会",
                ],
            );
        }
        Federation {
            dir: dir.to_path_buf(),
            pki,
            province,
            end,
        }
    }

    /// Serves a hub's data folder on `listen` (`127.0.0.1:0` the first time, its old address to
    /// restart it on the same port), logging to `hub-ORG.log`.
    pub fn serve_hub(&self, hub: &Path, listen: &str) -> (Serving, String) {
        let log = self.dir.join(format!(
            "{}.log",
            hub.file_name().unwrap().to_str().unwrap()
        ));
        serve(hub, &log, listen)
    }

    /// A prefecture hub `code` whose parent is at `parent_url`, with `counties` registered.
    pub fn prefecture(&self, code: &str, parent_url: &str, counties: &[&str]) -> PathBuf {
        let hub = self.dir.join(format!("hub-{code}"));
        let tls = issue_identity(&self.pki, &self.dir, code, &["127.0.0.1"]);
        ok(
            "bangfu-hub",
            &[
                "init",
                "--data",
                s(&hub),
                "--org",
                code,
                "--name",
                "市总工会",
                "--level",
                "prefecture",
                "--tls",
                s(&tls),
                "--pki",
                s(&self.pki),
                "--parent",
                parent_url,
            ],
        );
        for org in counties {
            ok(
                "bangfu-hub",
                &[
                    "org",
                    "add",
                    "--data",
                    s(&hub),
                    "--code",
                    org,
                    "--name",
                    "县总工会",
                ],
            );
        }
        hub
    }

    /// A county node connected to `parent_url`, with a generated archive of `households` split into
    /// `parts` files, none imported yet.
    pub fn county(
        &self,
        org: &str,
        households: u64,
        seed: u64,
        parts: usize,
        parent_url: &str,
    ) -> County {
        let files = generate(&self.dir, org, households, seed);
        let data = self.dir.join(format!("node-{org}"));
        ok(
            "bangfu-node",
            &[
                "init",
                "--data",
                s(&data),
                "--org",
                org,
                "--name",
                "县总工会",
            ],
        );
        let tls = issue_identity(&self.pki, &self.dir, org, &[]);
        ok(
            "bangfu-node",
            &[
                "connect",
                "--data",
                s(&data),
                "--parent",
                parent_url,
                "--tls",
                s(&tls),
            ],
        );
        let parts = split_rows(&files.join("households.csv"), parts);
        County {
            org: org.to_string(),
            data,
            log: self.dir.join(format!("node-{org}.log")),
            parts,
            imported: 0,
        }
    }
}

/// A scratch folder for one test, removed afterwards unless `BANGFU_E2E_KEEP` is set (then its
/// path is printed, to read the hubs' and nodes' logs after a failure).
pub fn workdir() -> tempfile::TempDir {
    let keep = std::env::var_os("BANGFU_E2E_KEEP").is_some();
    let dir = tempfile::Builder::new()
        .prefix("bangfu-e2e-")
        .disable_cleanup(keep)
        .tempdir()
        .unwrap();
    if keep {
        eprintln!("keeping {}", dir.path().display());
    }
    dir
}

/// Today in Asia/Shanghai, as the hubs and nodes see it.
fn chrono_today() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .to_string()
}

/// One county node and what the test has imported into it.
pub struct County {
    pub org: String,
    pub data: PathBuf,
    pub log: PathBuf,
    /// The generated households, in parts.
    pub parts: Vec<PathBuf>,
    /// How many parts are imported.
    pub imported: usize,
}

impl County {
    /// Imports the next part of the archive; false when all are in.
    pub fn import_next(&mut self) -> bool {
        let Some(part) = self.parts.get(self.imported) else {
            return false;
        };
        ok("bangfu-node", &["import", "--data", s(&self.data), s(part)]);
        self.imported += 1;
        true
    }

    /// Runs `bangfu-node serve` on this node, a round a second, logging to `node-ORG.log`.
    pub fn serve(&self) -> Serving {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(binary("bangfu-node"))
            .args(["serve", "--data", s(&self.data), "--interval", "1"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        Serving(child)
    }

    /// The cells the test expects in this county's report: counted from the imported parts.
    pub fn expected(&self, day: &str) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for part in &self.parts[..self.imported] {
            for (k, n) in archive_counts(part, day) {
                *counts.entry(k).or_default() += n;
            }
        }
        counts
    }

    /// The end of the node's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// The node's report versions for the campaign and where each stands (`bangfu-node status`).
    pub fn versions(&self) -> Vec<(u64, String)> {
        let out = ok("bangfu-node", &["status", "--data", s(&self.data)]);
        out.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next()? == "version").then_some(())?;
                Some((w.next()?.parse().ok()?, w.next()?.to_string()))
            })
            .collect()
    }
}

/// Splits a generated CSV into `parts` files of about equal size, each with the header.
pub fn split_rows(csv_path: &Path, parts: usize) -> Vec<PathBuf> {
    let mut r = csv::Reader::from_path(csv_path).unwrap();
    let header = r.byte_headers().unwrap().clone();
    let rows: Vec<csv::ByteRecord> = r.byte_records().map(Result::unwrap).collect();
    let per = rows.len().div_ceil(parts);
    let mut out = vec![];
    for (i, chunk) in rows.chunks(per.max(1)).enumerate() {
        let path = csv_path.with_file_name(format!("households-part{}.csv", i + 1));
        let mut w = csv::Writer::from_path(&path).unwrap();
        w.write_byte_record(&header).unwrap();
        for row in chunk {
            w.write_byte_record(row).unwrap();
        }
        w.flush().unwrap();
        out.push(path);
    }
    out
}

/// What `dangan` counts from a households file on `day` (CONTRACT.md): `total`, the households in
/// the archive, and `category.X` for each 困难类别.
pub fn archive_counts(households_csv: &Path, day: &str) -> BTreeMap<String, u64> {
    let mut r = csv::Reader::from_path(households_csv).unwrap();
    let header: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (filed, status, lifted, category) = (
        col("建档日期"),
        col("档案状态"),
        col("脱困日期"),
        col("困难类别"),
    );
    let mut counts = BTreeMap::new();
    for rec in r.records().map(Result::unwrap) {
        let on_file = (rec[filed].is_empty() || &rec[filed] <= day)
            && (&rec[status] == "在档" || (&rec[status] == "已脱困" && &rec[lifted] > day));
        if on_file {
            *counts.entry("total".to_string()).or_default() += 1;
            *counts
                .entry(format!("category.{}", &rec[category]))
                .or_default() += 1;
        }
    }
    counts
}
