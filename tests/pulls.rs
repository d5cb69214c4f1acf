//! Helpers for the pull and campaign-change tests: a county node running `bangfu-node serve` (with
//! `--listen` to serve its parent's pulls), and waiting on a command's output.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Serving, binary, s};

/// Starts `bangfu-node serve --data NODE --interval 1` with `extra` arguments, its output appended to
/// `log`. With `--listen` among them, waits for and returns the URL it serves pulls on.
pub fn serve_node(node: &Path, log: &Path, extra: &[&str]) -> (Serving, Option<String>) {
    let file = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap()
    };
    let before = std::fs::read_to_string(log).unwrap_or_default().len();
    let child = Command::new(binary("bangfu-node"))
        .args(["serve", "--data", s(node), "--interval", "1"])
        .args(extra)
        .stdout(Stdio::from(file()))
        .stderr(Stdio::from(file()))
        .spawn()
        .unwrap();
    let serving = Serving(child);
    if !extra.contains(&"--listen") {
        return (serving, None);
    }
    let url = wait_until(Duration::from_secs(20), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text[before..]
            .lines()
            .find_map(|l| l.strip_prefix("listening on ").map(str::to_string))
    })
    .unwrap_or_else(|| {
        panic!(
            "the node did not listen: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    });
    (serving, Some(url))
}

/// Polls `f` every 200 ms until it gives Some, up to `limit`.
pub fn wait_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub use crate::rollups::rollup;

/// Starts `bangfu-hub serve --data HUB --listen 127.0.0.1:0 --sync-interval 1` with `extra` arguments;
/// returns the process and its URL.
pub fn serve_hub(hub: &Path, log: &Path, extra: &[&str]) -> (Serving, String) {
    crate::serve_with(hub, log, "127.0.0.1:0", extra, &[])
}

/// Whether a rollup cell is, or contains, `expected`.
pub fn holds(cell: &serde_json::Value, expected: u64) -> bool {
    match (cell.get("value"), cell.get("lower"), cell.get("upper")) {
        (Some(v), _, _) => v.as_u64() == Some(expected),
        (None, Some(lo), Some(hi)) => {
            lo.as_f64().unwrap() <= expected as f64 && expected as f64 <= hi.as_f64().unwrap()
        }
        _ => false,
    }
}
