//! OpenTelemetry export (feature `otel`, on by default): with `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, every plugin call's `call` span — plugin,
//! tool, tenant, session, call id, outcome, fuel — goes to that OTLP/HTTP collector, with the
//! plugin's log records of the call as the span's events. Without it nothing changes.
//!
//! The exporter speaks OTLP over HTTP with JSON bodies (what the OpenTelemetry Collector,
//! Jaeger and Tempo accept on port 4318) through `opentelemetry-otlp`, batching spans on its
//! own thread; the standard variables (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, …) apply (`OTEL_SERVICE_NAME` defaults to `airlock`). The
//! tests send to a plain-`http://` collector on loopback, the usual sidecar set-up. Spans are
//! flushed when the command ends; a bad endpoint fails the command at start, naming it.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};

/// The variables that turn the export on (the OpenTelemetry specification's names).
const ENDPOINTS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Flushes and stops the export when dropped.
pub struct Export(SdkTracerProvider);

impl Drop for Export {
    fn drop(&mut self) {
        if let Err(e) = self.0.shutdown() {
            eprintln!("airlock: OpenTelemetry spans were not all exported: {e}");
        }
    }
}

/// The layer sending call spans to the configured collector, and its guard; `None` when no
/// endpoint is configured. Errors: the endpoint is not a usable URL.
pub fn layer<S>() -> anyhow::Result<Option<(impl Layer<S>, Export)>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if !ENDPOINTS
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
    {
        return Ok(None);
    }
    // reqwest is built without a TLS provider (the OCI client brings its own), and will not
    // build a client until a process default exists. Another one installed first is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .build()
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}: set it to the collector's OTLP/HTTP address, e.g. \
                 http://127.0.0.1:4318, or unset it"
            )
        })?;
    let mut provider = SdkTracerProvider::builder().with_batch_exporter(exporter);
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        let resource = Resource::builder().with_service_name("airlock").build();
        provider = provider.with_resource(resource);
    }
    let provider = provider.build();
    let tracer = provider.tracer("airlock");
    // The call span is at debug level; the plugin's records in it at their own levels.
    let wanted = Targets::new()
        .with_target("airlock", LevelFilter::DEBUG)
        .with_default(LevelFilter::OFF);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(wanted);
    Ok(Some((layer, Export(provider))))
}
