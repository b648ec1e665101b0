//! [`Usage`]: what a plugin's calls have cost since it was loaded — calls, errors by kind, a
//! latency histogram, fuel, peak linear memory — kept in relaxed atomics on the call path
//! (a handful of adds per call, to counters sharded by thread) and read as a
//! [`UsageReport`] by health polls and metrics scrapes. One per loaded [`super::Plugin`], so per tenant under the registry,
//! and started afresh by a reload (the registry counts reloads itself).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::CallError;

/// Upper bounds of the latency histogram's buckets, in microseconds (Prometheus's default
/// buckets from 100 µs to 10 s); a last, unbounded bucket follows.
pub const LATENCY_BUCKETS_US: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];

/// Every [`CallError::kind`], in the order [`UsageReport::errors`] lists them.
pub const ERROR_KINDS: [&str; 17] = [
    "fuel-exhausted",
    "deadline-exceeded",
    "memory-limit",
    "table-limit",
    "handle-limit",
    "output-too-large",
    "input-too-large",
    "trap",
    "plugin-error",
    "bad-arguments",
    "validation-timeout",
    "unknown-tool",
    "protocol",
    "shut-down",
    "failing",
    "busy",
    "cancelled",
];

/// Shards the call counters are spread over: each thread counts into one of its own
/// ([`shard`]), so callers on different cores do not write the same cache lines on every
/// call (that traffic is what keeps two callers of one plugin from scaling). A report sums
/// them.
const SHARDS: usize = 8;

/// One shard of the call counters. Aligned to two cache lines: x86 prefetches lines in
/// pairs, so one line apart would still be shared traffic.
#[derive(Default)]
#[repr(align(128))]
struct Counters {
    calls: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS.len()],
    /// Counts per bucket (not cumulative), the unbounded one last.
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_total_us: AtomicU64,
    fuel_total: AtomicU64,
}

/// The counters. Relaxed ordering throughout: each is a statistic on its own, and a report
/// read while calls run may see one call's latency before its fuel.
#[derive(Default)]
pub(crate) struct Usage {
    shards: Box<[Counters; SHARDS]>,
    fuel_last: AtomicU64,
    memory_peak: AtomicU64,
}

/// This thread's shard: threads take the shards in turn as they first count a call.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    MINE.with(|mine| *mine)
}

impl Usage {
    fn counters(&self) -> &Counters {
        &self.shards[shard()]
    }

    /// One tool call or hook dispatch that ended after `elapsed`, as `outcome`.
    pub(crate) fn record_call<T>(&self, outcome: &Result<T, CallError>, elapsed: Duration) {
        let counters = self.counters();
        counters.calls.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = outcome {
            let kind = error.kind();
            let at = ERROR_KINDS.iter().position(|k| *k == kind);
            debug_assert!(at.is_some(), "ERROR_KINDS lacks `{kind}`");
            if let Some(at) = at {
                counters.errors[at].fetch_add(1, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        counters.latency[bucket].fetch_add(1, Ordering::Relaxed);
        counters
            .latency_total_us
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// What one call's instance consumed: `fuel` units, and `memory` bytes of linear
    /// memory held at its end (memories only grow, so that is the instance's peak). The
    /// shared last-fuel and peak are read first and written only when they change: the
    /// same call usually costs the same, and the peak is rarely passed.
    pub(crate) fn record_resources(&self, fuel: u64, memory: usize) {
        self.counters()
            .fuel_total
            .fetch_add(fuel, Ordering::Relaxed);
        if self.fuel_last.load(Ordering::Relaxed) != fuel {
            self.fuel_last.store(fuel, Ordering::Relaxed);
        }
        let memory = memory as u64;
        if memory > self.memory_peak.load(Ordering::Relaxed) {
            self.memory_peak.fetch_max(memory, Ordering::Relaxed);
        }
    }

    /// `read` summed over the shards.
    fn sum(&self, read: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| read(shard).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    pub(crate) fn report(&self, live_instances: usize, idle_instances: usize) -> UsageReport {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let calls = self.sum(|c| &c.calls);
        let latency_counts: Vec<u64> = (0..LATENCY_BUCKETS_US.len() + 1)
            .map(|at| self.sum(|c| &c.latency[at]))
            .collect();
        let latency_total_us = self.sum(|c| &c.latency_total_us);
        let fuel_total = self.sum(|c| &c.fuel_total);
        UsageReport {
            calls,
            errors: ERROR_KINDS
                .iter()
                .enumerate()
                .map(|(at, kind)| (*kind, self.sum(|c| &c.errors[at])))
                .filter(|(_, n)| *n > 0)
                .collect(),
            latency_ms: mean(latency_total_us, calls) / 1_000.0,
            latency_p50_ms: quantile(&latency_counts, 0.5) as f64 / 1_000.0,
            latency_p99_ms: quantile(&latency_counts, 0.99) as f64 / 1_000.0,
            latency_buckets: latency_counts,
            latency_total_us,
            fuel_total,
            fuel_per_call: mean(fuel_total, calls),
            fuel_last: read(&self.fuel_last),
            memory_mb: read(&self.memory_peak) as f64 / (1024.0 * 1024.0),
            memory_peak_bytes: read(&self.memory_peak),
            live_instances,
            idle_instances,
        }
    }
}

fn mean(total: u64, count: u64) -> f64 {
    match count {
        0 => 0.0,
        n => total as f64 / n as f64,
    }
}

/// The upper bound (µs) of the bucket holding quantile `q` of `counts`; for the unbounded
/// bucket, the largest bound. 0 when nothing was counted.
fn quantile(counts: &[u64], q: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (at, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return LATENCY_BUCKETS_US
                .get(at)
                .copied()
                .unwrap_or(LATENCY_BUCKETS_US[LATENCY_BUCKETS_US.len() - 1]);
        }
    }
    0
}

/// A plugin's usage since it was loaded, as health reports and metrics show it. The
/// `latency_ms` and `memory_mb` fields are App Factory's health-report names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageReport {
    /// Tool calls and hook dispatches that reached the plugin's entry points, failed ones
    /// included.
    pub calls: u64,
    /// Failed calls by [`CallError::kind`]; kinds that never happened are left out.
    pub errors: BTreeMap<&'static str, u64>,
    /// Mean call latency, in milliseconds.
    pub latency_ms: f64,
    /// Median and 99th percentile, in milliseconds, as the upper bound of the histogram
    /// bucket they fall in.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Calls per latency bucket ([`LATENCY_BUCKETS_US`], then the unbounded one); not
    /// cumulative.
    #[serde(skip)]
    pub latency_buckets: Vec<u64>,
    /// Sum of all call latencies, in microseconds.
    #[serde(skip)]
    pub latency_total_us: u64,
    /// Fuel consumed by all calls together, and by the last one (units of wasmtime fuel,
    /// about one per wasm instruction).
    pub fuel_total: u64,
    pub fuel_per_call: f64,
    pub fuel_last: u64,
    /// The most linear memory one instance held at the end of a call, in MiB and bytes.
    pub memory_mb: f64,
    pub memory_peak_bytes: u64,
    /// Instances that exist now (running a call or idle), and the idle ones among them.
    pub live_instances: usize,
    pub idle_instances: usize,
}

tokio::task_local! {
    /// The cancellation of the calls of one [`cancellable`] scope.
    static CANCEL: Cancel;
}

/// A cancellation a caller can fire while its calls run: cheap to clone, every clone sees
/// the same one.
#[derive(Clone, Debug)]
pub struct Cancel(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Self {
        Cancel(std::sync::Arc::new(tokio::sync::watch::channel(false).0))
    }
}

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Cancels every call running under it, and any started later.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once [`Cancel::cancel`] was called.
    pub async fn cancelled(&self) {
        let mut fired = self.0.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = fired.wait_for(|fired| *fired).await;
    }
}

/// Runs `calls` — plugin calls made on this task, directly or through a registry — so that
/// `cancel` stops them: each ends with [`CallError::Cancelled`], its guest stopped at its
/// next fuel yield (or its host call abandoned) and its instance discarded; the usage
/// counters count it as `cancelled`.
///
/// ```no_run
/// # async fn f(plugin: airlock::Plugin) {
/// use airlock::plugin::{Cancel, cancellable};
/// let cancel = Cancel::new();
/// let stop = cancel.clone();
/// tokio::spawn(async move {
///     tokio::time::sleep(std::time::Duration::from_millis(100)).await;
///     stop.cancel();
/// });
/// let args = serde_json::json!({});
/// let context = airlock::CallContext::default();
/// let result = cancellable(cancel, plugin.call_tool("spin", &args, &context)).await;
/// # }
/// ```
pub async fn cancellable<F: std::future::Future>(cancel: Cancel, calls: F) -> F::Output {
    CANCEL.scope(cancel, calls).await
}

/// Runs `call` — one call to `plugin` — until it ends or the running task's [`cancellable`]
/// scope is cancelled: then `call` is dropped (its instance with it: discarded, its slot
/// freed) and the answer is [`CallError::Cancelled`]. The cancel wins a tie, so a call
/// cancelled before it started never runs. Outside a scope, just `call`.
pub(crate) async fn until_cancelled<T>(
    plugin: &str,
    call: impl std::future::Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    let Ok(cancel) = CANCEL.try_with(Cancel::clone) else {
        return call.await;
    };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(CallError::Cancelled {
            plugin: plugin.to_string(),
        }),
        result = call => result,
    }
}

tokio::task_local! {
    /// Fuel the calls of one [`metered`] scope have consumed so far (`None`: none ran).
    static METERED_FUEL: std::cell::Cell<Option<u64>>;
}

/// Runs `calls` — any plugin calls made on this task, through [`super::Plugin`] or a
/// registry routing to one — and reports the fuel their guest code consumed in total:
/// `None` when no call reached an instance (refused by validation, a filter, a busy pool).
/// What a console shows next to a call's result; the plugin's usage counters count the same
/// fuel whether or not a call is metered.
///
/// ```no_run
/// # async fn f(plugin: airlock::Plugin) {
/// let context = airlock::CallContext::default();
/// let args = serde_json::json!({"a": 2, "b": 3});
/// let (result, fuel) = airlock::plugin::metered(plugin.call_tool("add", &args, &context)).await;
/// println!("{result:?} used {fuel:?} fuel");
/// # }
/// ```
pub async fn metered<F: std::future::Future>(calls: F) -> (F::Output, Option<u64>) {
    METERED_FUEL
        .scope(std::cell::Cell::new(None), async {
            let output = calls.await;
            (output, METERED_FUEL.with(std::cell::Cell::get))
        })
        .await
}

/// Whether the running task is inside [`metered`].
pub(super) fn metering() -> bool {
    METERED_FUEL.try_with(|_| ()).is_ok()
}

/// Adds one call's fuel to the running [`metered`] scope, if any.
pub(super) fn add_metered(fuel: u64) {
    let _ = METERED_FUEL.try_with(|spent| spent.set(Some(spent.get().unwrap_or(0) + fuel)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_errors_latency_and_fuel_are_counted() {
        let usage = Usage::default();
        usage.record_call::<()>(&Ok(()), Duration::from_micros(80));
        usage.record_call::<()>(&Ok(()), Duration::from_micros(900));
        let busy = CallError::Busy {
            plugin: "p".into(),
            reason: "test".into(),
        };
        usage.record_call::<()>(&Err(busy), Duration::from_secs(20));
        usage.record_resources(1_000, 65_536);
        usage.record_resources(3_000, 131_072);
        let report = usage.report(2, 1);
        assert_eq!(report.calls, 3);
        assert_eq!(report.errors, BTreeMap::from([("busy", 1)]));
        assert_eq!(report.latency_buckets[0], 1, "80 µs ≤ 100 µs");
        assert_eq!(report.latency_buckets[3], 1, "900 µs ≤ 1 ms");
        assert_eq!(report.latency_buckets[LATENCY_BUCKETS_US.len()], 1, "20 s");
        assert_eq!(report.latency_p50_ms, 1.0);
        assert_eq!(report.latency_p99_ms, 10_000.0);
        assert_eq!((report.fuel_total, report.fuel_last), (4_000, 3_000));
        assert_eq!(report.memory_peak_bytes, 131_072);
        assert_eq!((report.live_instances, report.idle_instances), (2, 1));
    }

    /// Calls counted on many threads land in different shards; the report adds them all
    /// up, errors and histogram included, and the peak and last fuel stay right.
    #[test]
    fn counts_from_many_threads_add_up() {
        let usage = Usage::default();
        std::thread::scope(|s| {
            for thread in 0..(2 * SHARDS as u64) {
                let usage = &usage;
                s.spawn(move || {
                    for _ in 0..100 {
                        usage.record_call::<()>(&Ok(()), Duration::from_micros(50));
                        usage.record_resources(10, 65_536);
                    }
                    let busy = CallError::Busy {
                        plugin: "p".into(),
                        reason: "test".into(),
                    };
                    usage.record_call::<()>(&Err(busy), Duration::from_millis(2));
                    usage.record_resources(10, 65_536 * (thread as usize + 1));
                });
            }
        });
        let threads = 2 * SHARDS as u64;
        let report = usage.report(0, 0);
        assert_eq!(report.calls, threads * 101);
        assert_eq!(report.errors, BTreeMap::from([("busy", threads)]));
        assert_eq!(report.latency_buckets[0], threads * 100, "50 µs ≤ 100 µs");
        assert_eq!(report.latency_buckets[4], threads, "2 ms ≤ 2.5 ms");
        assert_eq!(report.latency_total_us, threads * (100 * 50 + 2_000));
        assert_eq!((report.fuel_total, report.fuel_last), (threads * 1_010, 10));
        assert_eq!(report.memory_peak_bytes, 65_536 * threads);
    }
}
