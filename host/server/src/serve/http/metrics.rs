//! `GET /metrics`: one tenant's plugins' usage in the Prometheus text format (version
//! 0.0.4, <https://prometheus.io/docs/instrumenting/exposition_formats/>), encoded by the
//! `prometheus-client` crate from [`Plugin::usage`](airlock::Plugin::usage) at scrape time,
//! so the call path only bumps its counters. Labels are bounded: `plugin`, `tenant` and,
//! for errors, `kind` (one of [`ERROR_KINDS`]) — never a call, session or tool argument.
//! Plugin names are plugin-controlled text; the encoder escapes label values.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `airlock_calls_total` | counter | plugin, tenant |
//! | `airlock_call_errors_total` | counter | plugin, tenant, kind |
//! | `airlock_call_duration_seconds` | histogram | plugin, tenant |
//! | `airlock_fuel_consumed_total` | counter | plugin, tenant |
//! | `airlock_memory_peak_bytes` | gauge | plugin, tenant |
//! | `airlock_instances` | gauge | plugin, tenant, state (`live`, `idle`) |
//! | `airlock_reloads_total` | counter | plugin, tenant |

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use airlock::plugin::{ERROR_KINDS, LATENCY_BUCKETS_US, UsageReport};

use crate::registry::Registry;

/// The `Content-Type` of the answer.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// `tenant`'s enabled plugins' usage, as the text `/metrics` answers.
pub fn render(registry: &Registry, tenant: &str) -> String {
    let samples = registry
        .plugins(tenant)
        .into_iter()
        .map(|plugin| Sample {
            labels: vec![
                ("plugin", plugin.name().to_string()),
                ("tenant", tenant.to_string()),
            ],
            reloads: registry.reloads_of(tenant, plugin.name()),
            usage: plugin.usage(),
        })
        .collect();
    let mut metrics = prometheus_client::registry::Registry::default();
    metrics.register_collector(Box::new(Samples(samples)));
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &metrics);
    text
}

#[derive(Debug)]
struct Sample {
    labels: Vec<(&'static str, String)>,
    reloads: u64,
    usage: UsageReport,
}

#[derive(Debug)]
struct Samples(Vec<Sample>);

impl Samples {
    /// One counter or gauge per plugin, `value` read from its sample.
    fn encode_each(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        metric_type: MetricType,
        value: impl Fn(&Sample) -> u64,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
        for sample in &self.0 {
            let mut family = metric.encode_family(&sample.labels)?;
            match metric_type {
                MetricType::Counter => {
                    family.encode_counter::<NoLabelSet, u64, u64>(&value(sample), None)?
                }
                _ => family.encode_gauge(&(value(sample) as i64))?,
            }
        }
        Ok(())
    }
}

impl Collector for Samples {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let usage = |f: fn(&UsageReport) -> u64| move |s: &Sample| f(&s.usage);
        self.encode_each(
            &mut encoder,
            "airlock_calls",
            "Tool calls and hook dispatches, failed ones included",
            Counter,
            usage(|u| u.calls),
        )?;
        let mut errors = encoder.encode_descriptor(
            "airlock_call_errors",
            "Failed calls by error kind",
            None,
            Counter,
        )?;
        for sample in &self.0 {
            for (kind, count) in &sample.usage.errors {
                let mut labels = sample.labels.clone();
                labels.push(("kind", kind.to_string()));
                debug_assert!(ERROR_KINDS.contains(kind));
                errors
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, u64, u64>(count, None)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "airlock_call_duration_seconds",
            "Call latency as the caller sees it, argument checks included",
            None,
            MetricType::Histogram,
        )?;
        for sample in &self.0 {
            let buckets = with_bounds(&sample.usage.latency_buckets);
            // The count from the buckets themselves: `calls` is read apart and may have
            // moved meanwhile, and Prometheus wants `_count` equal to the +Inf bucket.
            let count = sample.usage.latency_buckets.iter().sum();
            latency
                .encode_family(&sample.labels)?
                .encode_histogram::<NoLabelSet>(
                    sample.usage.latency_total_us as f64 / 1e6,
                    count,
                    &buckets,
                    None,
                )?;
        }
        self.encode_each(
            &mut encoder,
            "airlock_fuel_consumed",
            "Fuel consumed by calls (about one unit per wasm instruction)",
            Counter,
            usage(|u| u.fuel_total),
        )?;
        self.encode_each(
            &mut encoder,
            "airlock_memory_peak_bytes",
            "The most linear memory one instance held at the end of a call",
            Gauge,
            usage(|u| u.memory_peak_bytes),
        )?;
        let mut instances = encoder.encode_descriptor(
            "airlock_instances",
            "Instances now: live (running a call or idle) and idle",
            None,
            Gauge,
        )?;
        for sample in &self.0 {
            let counts = [
                ("live", sample.usage.live_instances),
                ("idle", sample.usage.idle_instances),
            ];
            for (state, count) in counts {
                let mut labels = sample.labels.clone();
                labels.push(("state", state.to_string()));
                instances
                    .encode_family(&labels)?
                    .encode_gauge(&(count as i64))?;
            }
        }
        self.encode_each(
            &mut encoder,
            "airlock_reloads",
            "Times this process replaced the running version (reload, configuration, reset)",
            Counter,
            |s| s.reloads,
        )
    }
}

/// Per-bucket counts with their upper bounds in seconds, the last +Inf. Not cumulative:
/// the encoder sums them into Prometheus's `le` buckets itself.
fn with_bounds(counts: &[u64]) -> Vec<(f64, u64)> {
    let bounds = LATENCY_BUCKETS_US
        .iter()
        .map(|us| *us as f64 / 1e6)
        .chain([f64::INFINITY]);
    bounds.zip(counts.iter().copied()).collect()
}
