//! Helpers for tests that run the real `bangfu-node` binary as a user would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bangfu-node")
}

/// Runs `bangfu-node ARGS`, returning its output whatever the status.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("bangfu-node runs")
}

/// Runs `bangfu-node ARGS` and insists it succeeded.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "bangfu-node {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A fresh node for org `org` in `dir/node`.
pub fn init_node(dir: &Path, org: &str) -> PathBuf {
    let data = dir.join("node");
    ok(&[
        "init",
        "--data",
        s(&data),
        "--org",
        org,
        "--name",
        "测试县总工会",
    ]);
    data
}

/// `bangfu-node gen` into `dir/gen`.
pub fn generate(
    dir: &Path,
    org: &str,
    households: u64,
    seed: u64,
    invalid: f64,
    format: &str,
) -> PathBuf {
    let out = dir.join("gen");
    ok(&[
        "gen",
        "--org",
        org,
        "--households",
        &households.to_string(),
        "--seed",
        &seed.to_string(),
        "--invalid",
        &invalid.to_string(),
        "--format",
        format,
        "--out",
        s(&out),
    ]);
    out
}

/// The generator's manifest: file name -> (line -> rule).
pub fn manifest(gen_dir: &Path) -> BTreeMap<String, BTreeMap<u64, String>> {
    let mut r = csv::Reader::from_path(gen_dir.join("invalid.csv")).expect("invalid.csv");
    let mut out: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
    for rec in r.records() {
        let rec = rec.expect("a manifest row");
        out.entry(rec[0].to_string())
            .or_default()
            .insert(rec[1].parse().expect("a line"), rec[2].to_string());
    }
    out
}

/// A rejects file: line -> the 原因 text.
pub fn rejects(path: &Path) -> BTreeMap<u64, String> {
    if !path.exists() {
        return BTreeMap::new();
    }
    let text = std::fs::read(path).expect("rejects file");
    assert!(
        text.starts_with(b"\xEF\xBB\xBF"),
        "the rejects file starts with a UTF-8 BOM"
    );
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&text[3..]);
    let header = r.headers().expect("a header").clone();
    assert_eq!(&header[0], "行号");
    assert_eq!(&header[1], "字段");
    assert_eq!(&header[2], "原因");
    r.records()
        .map(|rec| {
            let rec = rec.expect("a rejects row");
            (rec[0].parse().expect("a line number"), rec[2].to_string())
        })
        .collect()
}

/// `summary` parsed: households, members, aid.
pub fn counts(data: &Path) -> (u64, u64, u64) {
    let out = ok(&["summary", "--data", s(data)]);
    let nums: Vec<u64> = out
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().unwrap())
        .collect();
    // "档案 / archive: H 户 households (在档 a, 已脱困 b, 已剔除 c), M 家庭成员 members, A 帮扶记录 aid records"
    (nums[0], nums[4], nums[5])
}

/// The whole archive as text: exported to CSV and read back.
pub fn dump(data: &Path, dir: &Path) -> String {
    let out = dir.join(format!("dump-{}.csv", std::process::id()));
    ok(&["export", "--data", s(data), "--out", s(&out)]);
    let mut text = String::new();
    for name in ["csv", "members.csv", "aid.csv"] {
        let p = out.with_extension(name);
        text.push_str(&std::fs::read_to_string(&p).expect("export file"));
        std::fs::remove_file(p).unwrap();
    }
    text
}
