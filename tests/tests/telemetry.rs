//! Traces and metrics as an operator's collector receives them: a county node, a prefecture hub and
//! the province hub, all exporting OTLP/HTTP to a collector this test runs itself (a real socket; the
//! bodies decoded with the OpenTelemetry protobuf definitions).
//!
//! It checks that one trace runs from the county's push through the prefecture to the province, that
//! refusals are counted, and that nothing of a household (names, ID numbers, phone numbers, addresses)
//! appears in anything exported or logged.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bangfu_e2e::{
    binary, county_node, init_hub, issue_identity, ok, pki_init, run, s, serve_with_env, today,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use prost::Message as _;

/// What the collector received: every request body as sent, by path.
#[derive(Default)]
struct Received(Mutex<Vec<(String, Vec<u8>)>>);

/// A minimal OTLP/HTTP collector: answers 200 to every POST and keeps the bodies (HTTP/1.1,
/// keep-alive, Content-Length bodies, as the exporters send them).
fn collector() -> (String, Arc<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Received::default());
    let keep = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = keep.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("")
                        .to_string();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    keep.0.lock().unwrap().push((path, body));
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, received)
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|a| a.key == key).map(|a| text(&a.value))
}

/// One exported span: which unit sent it, its name, its attributes.
#[derive(Debug, Clone)]
struct Span {
    unit: String,
    name: String,
    attrs: BTreeMap<String, String>,
}

impl Received {
    fn spans(&self) -> BTreeMap<Vec<u8>, Vec<Span>> {
        let mut by_trace: BTreeMap<Vec<u8>, Vec<Span>> = BTreeMap::new();
        for (path, body) in self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == "/v1/traces")
        {
            let req = ExportTraceServiceRequest::decode(body.as_slice())
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            for rs in req.resource_spans {
                let unit = rs
                    .resource
                    .as_ref()
                    .and_then(|r| attr(&r.attributes, "bangfu.unit"))
                    .unwrap_or_default();
                for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
                    let attrs = span
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), text(&a.value)))
                        .collect();
                    by_trace
                        .entry(span.trace_id.clone())
                        .or_default()
                        .push(Span {
                            unit: unit.clone(),
                            name: span.name.clone(),
                            attrs,
                        });
                }
            }
        }
        by_trace
    }

    /// The sum of a counter's data points, by the `status` attribute, as `unit` last exported it.
    fn counter(&self, unit: &str, name: &str) -> BTreeMap<String, f64> {
        let mut latest = BTreeMap::new();
        for (_, body) in self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == "/v1/metrics")
        {
            let req = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
            for rm in req.resource_metrics {
                if rm
                    .resource
                    .as_ref()
                    .and_then(|r| attr(&r.attributes, "bangfu.unit"))
                    .as_deref()
                    != Some(unit)
                {
                    continue;
                }
                for m in rm
                    .scope_metrics
                    .into_iter()
                    .flat_map(|s| s.metrics)
                    .filter(|m| m.name == name)
                {
                    let Some(metric::Data::Sum(sum)) = m.data else {
                        continue;
                    };
                    // Cumulative: each export restates the totals; the last one wins.
                    let mut now = BTreeMap::new();
                    for p in sum.data_points {
                        let status = attr(&p.attributes, "status").unwrap_or_default();
                        let v = match p.value {
                            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i)) => i as f64,
                            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(d)) => d,
                            None => 0.0,
                        };
                        *now.entry(status).or_insert(0.0) += v;
                    }
                    latest = now;
                }
            }
        }
        latest
    }

    fn all_bytes(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, b)| b.clone())
            .collect()
    }
}

/// The environment that makes a unit export to `url` quickly (the test does not wait on the
/// default five-second batch delay).
fn otel_env<'a>(url: &'a str, unit: &'a str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "300".to_string()),
        ("OTEL_RESOURCE_ATTRIBUTES", format!("bangfu.unit={unit}")),
    ]
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Values of the household file's personal columns: none of them may leave the node in any form.
fn personal_values(households_csv: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(households_csv).unwrap();
    let header: Vec<String> = r
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let cols: Vec<usize> = ["姓名", "身份证号", "联系电话", "家庭住址"]
        .iter()
        .map(|n| header.iter().position(|h| h == n).unwrap())
        .collect();
    let mut out = BTreeSet::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        for &c in &cols {
            // Two-character names are too short to be meaningful evidence on their own (they occur
            // as parts of ordinary words); three or more characters are a person.
            if rec[c].chars().count() >= 3 {
                out.insert(rec[c].to_string());
            }
        }
    }
    out.into_iter().collect()
}

/// One trace holds the node's push, the prefecture's intake of it, the prefecture's send upward and
/// the province's intake of that. Spans are exported as each ends, by four processes, so a trace is
/// complete only when all four have arrived (the upward span ends after the province's request).
fn complete(trace: &[Span]) -> bool {
    let has = |unit: &str, name: &str, attr: Option<(&str, &str)>| {
        trace.iter().any(|s| {
            s.unit == unit
                && s.name == name
                && attr.is_none_or(|(k, v)| s.attrs.get(k).map(String::as_str) == Some(v))
        })
    };
    has("H01", "push", Some(("campaign", "t1")))
        && has("H", "request", Some(("peer", "H01")))
        && has("H", "upstream", None)
        && has("HB", "request", Some(("peer", "H")))
}

#[test]
fn one_trace_runs_from_county_to_province_and_nothing_personal_is_exported() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let (otlp, received) = collector();
    let pki = dir.join("pki");
    pki_init(&pki, "HB", "湖北省总工会");

    let province = dir.join("hub-HB");
    init_hub(&province, dir, &pki, "HB", "湖北省总工会", "province", None);
    let today = today();
    ok(
        "bangfu-hub",
        &[
            "campaign",
            "create",
            "--data",
            s(&province),
            "--id",
            "t1",
            "--template",
            "dangan",
            "--title",
            "档案统计",
            "--start",
            "2026-01-01",
            "--end",
            &today,
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
            s(&province),
            "--code",
            "H",
            "--name",
            "荆门市总工会",
        ],
    );
    let env_hb = otel_env(&otlp, "HB");
    let env_hb: Vec<(&str, &str)> = env_hb.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_province, province_url) =
        serve_with_env(&province, &dir.join("hub-HB.log"), "127.0.0.1:0", &env_hb);

    let prefecture = dir.join("hub-H");
    init_hub(
        &prefecture,
        dir,
        &pki,
        "H",
        "荆门市总工会",
        "prefecture",
        Some(&province_url),
    );
    ok(
        "bangfu-hub",
        &[
            "org",
            "add",
            "--data",
            s(&prefecture),
            "--code",
            "H01",
            "--name",
            "京山县总工会",
        ],
    );
    let env_h = otel_env(&otlp, "H");
    let env_h: Vec<(&str, &str)> = env_h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_prefecture, prefecture_url) =
        serve_with_env(&prefecture, &dir.join("hub-H.log"), "127.0.0.1:0", &env_h);
    wait_until(
        Duration::from_secs(20),
        "the campaign to reach the prefecture",
        || {
            run(
                "bangfu-hub",
                &["rollup", "--data", s(&prefecture), "--campaign", "t1"],
            )
            .status
            .success()
        },
    );

    // The county: a generated archive, pushed with export switched on.
    let (node, files) = county_node(dir, &pki, "H01", 300, 5, &prefecture_url, &[]);
    let node_env = otel_env(&otlp, "H01");
    let push = Command::new(binary("bangfu-node"))
        .args(["push", "--data", s(&node), "--campaign", "t1"])
        .envs(node_env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("BANGFU_LOG", "info")
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "push: {}",
        String::from_utf8_lossy(&push.stderr)
    );

    // One trace: the node's push, the prefecture's intake, the prefecture's send upward, the
    // province's intake of the prefecture's report.
    let mut trace = vec![];
    let start = Instant::now();
    loop {
        let traces = received.spans();
        trace = traces
            .values()
            .find(|spans| complete(spans))
            .cloned()
            .unwrap_or_default();
        if !trace.is_empty() {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let seen: Vec<Vec<String>> = traces
                .values()
                .map(|spans| {
                    spans
                        .iter()
                        .map(|s| format!("{}:{}", s.unit, s.name))
                        .collect()
                })
                .collect();
            panic!("gave up waiting for one trace across the three units; traces seen: {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(complete(&trace), "{trace:#?}");

    // A refusal is counted: H02 holds a certificate from the same CA but is not the prefecture's child.
    let stranger = dir.join("node-H02");
    ok(
        "bangfu-node",
        &[
            "init",
            "--data",
            s(&stranger),
            "--org",
            "H02",
            "--name",
            "沙洋县总工会",
        ],
    );
    ok(
        "bangfu-node",
        &[
            "connect",
            "--data",
            s(&stranger),
            "--parent",
            &prefecture_url,
            "--tls",
            s(&issue_identity(&pki, dir, "H02", &[])),
        ],
    );
    let refused = run(
        "bangfu-node",
        &["push", "--data", s(&stranger), "--campaign", "t1"],
    );
    assert!(
        !refused.status.success(),
        "a push from a non-child must fail"
    );
    wait_until(
        Duration::from_secs(20),
        "the prefecture's refusal counter",
        || {
            received
                .counter("H", "bangfu.hub.refusals")
                .get("403")
                .is_some_and(|&n| n >= 1.0)
        },
    );

    // Nothing personal in anything exported, nor in the units' logs.
    let personal = personal_values(&files.join("households.csv"));
    assert!(
        personal.len() > 300,
        "the generator writes names, ID numbers, phones and addresses"
    );
    let exported = String::from_utf8_lossy(&received.all_bytes()).into_owned();
    let mut logs = String::from_utf8_lossy(&push.stderr).into_owned();
    for log in ["hub-HB.log", "hub-H.log"] {
        logs.push_str(&std::fs::read_to_string(dir.join(log)).unwrap());
    }
    for value in &personal {
        assert!(
            !exported.contains(value.as_str()),
            "a household's value was exported"
        );
        assert!(
            !logs.contains(value.as_str()),
            "a household's value was logged"
        );
    }
}
