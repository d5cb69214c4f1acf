//! Logs, traces and metrics for the node and the hub (DESIGN.md, "Observability").
//!
//! Logs always go to stderr through `tracing`. When the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set (e.g. `http://collector:4318`), spans and metrics are exported over OTLP/HTTP as well; with it
//! unset nothing is exported and nothing is buffered. A report's trace context travels in the W3C
//! `traceparent` header of its POST ([`traceparent`], [`continue_trace`]), so one trace runs from a
//! county's push through its prefecture to the province.
//!
//! What a span or a metric may carry: org codes, campaign ids, versions, statuses, counts of cells.
//! Never a cell's value and never anything from a household: the node's spans are about reports,
//! which are already privacy-reduced, and its archive code does not open spans with record fields.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The standard variable that switches the export on.
pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The header a report's trace context travels in.
pub const TRACEPARENT: &str = "traceparent";

/// The exporters, flushed and stopped by [`Telemetry::shutdown`] (spans still in the batch would be
/// lost if the process just exited).
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

/// Sets up logging to stderr, filtered by the environment variable `filter_var` (default
/// `default_filter`), and, when [`ENDPOINT_VAR`] is set, OTLP export of spans and metrics under the
/// service name `service`. Call once, first thing in `main`, outside the tokio runtime (the blocking
/// exporters must not be built on a runtime thread).
pub fn init(service: &'static str, filter_var: &str, default_filter: &str) -> Telemetry {
    let filter = || EnvFilter::try_from_env(filter_var).unwrap_or_else(|_| default_filter.into());
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter());
    let Some(endpoint) = std::env::var(ENDPOINT_VAR).ok().filter(|e| !e.is_empty()) else {
        tracing_subscriber::registry().with(logs).init();
        return Telemetry {
            tracer: None,
            meter: None,
        };
    };
    // The exporters' HTTP client is reqwest on rustls without a built-in provider (RUST-STACK.md: one
    // provider, ring): it must be installed before the client is built, or the exporter thread panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resource = Resource::builder().with_service_name(service).build();
    let (tracer, meter) = match exporters(resource) {
        Ok(x) => x,
        Err(e) => {
            // Observability must never stop the unit from working: log to stderr and go on.
            tracing_subscriber::registry().with(logs).init();
            tracing::error!(endpoint = %endpoint, error = %e, "OpenTelemetry export is not set up; logging to stderr only");
            return Telemetry {
                tracer: None,
                meter: None,
            };
        }
    };
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_meter_provider(meter.clone());
    // Spans follow the same filter as the logs, so `info` spans are exported and debug ones are not.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer.tracer(service))
        .with_filter(filter());
    tracing_subscriber::registry().with(logs).with(spans).init();
    tracing::info!(endpoint = %endpoint, "exporting traces and metrics over OTLP/HTTP");
    Telemetry {
        tracer: Some(tracer),
        meter: Some(meter),
    }
}

fn exporters(
    resource: Resource,
) -> Result<(SdkTracerProvider, SdkMeterProvider), opentelemetry_otlp::ExporterBuildError> {
    use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig as _};
    let protocol = opentelemetry_otlp::Protocol::HttpBinary;
    let spans = SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()?;
    let metrics = MetricExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()?;
    let tracer = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource.clone())
        .build();
    let meter = SdkMeterProvider::builder()
        .with_periodic_exporter(metrics)
        .with_resource(resource)
        .build();
    Ok((tracer, meter))
}

impl Telemetry {
    /// Exports what is still buffered and stops the exporters. Blocking: call it outside the runtime
    /// (at the end of `main`) or from `spawn_blocking`.
    pub fn shutdown(self) {
        if let Some(t) = self.tracer
            && let Err(e) = t.shutdown()
        {
            eprintln!("flushing traces failed: {e}");
        }
        if let Some(m) = self.meter
            && let Err(e) = m.shutdown()
        {
            eprintln!("flushing metrics failed: {e}");
        }
    }
}

/// The W3C `traceparent` of the current span, to send with a request (None when no trace is
/// exported: then there is nothing to continue).
pub fn traceparent() -> Option<String> {
    struct One(Option<String>);
    impl Injector for One {
        fn set(&mut self, key: &str, value: String) {
            if key == TRACEPARENT {
                self.0 = Some(value);
            }
        }
    }
    let cx = tracing::Span::current().context();
    let mut one = One(None);
    TraceContextPropagator::new().inject_context(&cx, &mut one);
    one.0
}

/// Makes `span` a child of the trace named by a received `traceparent` (ignored when malformed).
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    struct One<'a>(&'a str);
    impl Extractor for One<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            (key == TRACEPARENT).then_some(self.0)
        }
        fn keys(&self) -> Vec<&str> {
            vec![TRACEPARENT]
        }
    }
    let cx = TraceContextPropagator::new().extract(&One(traceparent));
    let _ = span.set_parent(cx);
}

/// A counter of this process, exported with the metrics (a no-op while nothing is exported).
pub fn counter(
    name: &'static str,
    description: &'static str,
) -> opentelemetry::metrics::Counter<u64> {
    opentelemetry::global::meter("bangfu")
        .u64_counter(name)
        .with_description(description)
        .build()
}
