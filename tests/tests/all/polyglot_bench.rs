//! The Rust / Python / JavaScript count-vowels side by side (BENCHMARKS.md, "Plugins in
//! Python and JavaScript"): component size, cold compile, cached load, warm call,
//! fresh-instance call and RSS per idle plugin, all in one run. Ignored by default (it
//! measures, it does not check); run it with
//!
//! ```sh
//! cargo test -p airlock-tests --test all -- --ignored polyglot_bench --nocapture
//! ```
//!
//! It prints a Markdown table. In the test profile the Airlock crate itself is unoptimised
//! (its dependencies, wasmtime and Cranelift included, are built at opt-level 2), so absolute
//! host-side times are pessimistic; the three languages share every condition.

use std::time::{Duration, Instant};

use airlock::cache::ArtifactCache;
use airlock::{CallContext, Isolation, LoadOptions, Runtime};
use airlock_tests::polyglot::{self, Lang};
use airlock_tests::{TempDir, guests};
use serde_json::json;

const WARM_CALLS: u32 = 2_000;
const FRESH_CALLS: u32 = 50;
const CACHED_LOADS: u32 = 10;
const IDLE_PLUGINS: usize = 10;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

struct Row {
    lang: &'static str,
    size: u64,
    cold: Duration,
    cached: Duration,
    warm: Duration,
    fresh: Duration,
    rss: u64,
}

async fn measure(lang: &'static str, component: &str) -> Row {
    let ctx = CallContext::default();
    let args = json!({"text": "Hello, World! The quick brown fox jumps over the lazy dog."});
    let size = std::fs::metadata(component).unwrap().len();

    let started = Instant::now();
    Runtime::builder()
        .no_cache()
        .build()
        .unwrap()
        .load_file(component, LoadOptions::default())
        .await
        .unwrap();
    let cold = started.elapsed();

    let cache_dir = TempDir::new("polyglot-bench-cache");
    let cached_runtime = || {
        Runtime::builder()
            .cache(Some(ArtifactCache::open(cache_dir.path()).unwrap()))
            .build()
            .unwrap()
    };
    cached_runtime()
        .load_file(component, LoadOptions::default())
        .await
        .unwrap();
    let mut loads = Vec::new();
    for _ in 0..CACHED_LOADS {
        let runtime = cached_runtime();
        let started = Instant::now();
        runtime
            .load_file(component, LoadOptions::default())
            .await
            .unwrap();
        loads.push(started.elapsed());
    }
    let cached = median(loads);

    let runtime = cached_runtime();
    let plugin = runtime
        .load_file(component, LoadOptions::default())
        .await
        .unwrap();
    for _ in 0..100 {
        plugin.call_tool("count_vowels", &args, &ctx).await.unwrap();
    }
    let started = Instant::now();
    for _ in 0..WARM_CALLS {
        plugin.call_tool("count_vowels", &args, &ctx).await.unwrap();
    }
    let warm = started.elapsed() / WARM_CALLS;

    let fresh_plugin = runtime
        .load_file(
            component,
            LoadOptions::default().isolation(Isolation::Fresh),
        )
        .await
        .unwrap();
    let mut fresh = Vec::new();
    for _ in 0..FRESH_CALLS {
        let started = Instant::now();
        fresh_plugin
            .call_tool("count_vowels", &args, &ctx)
            .await
            .unwrap();
        fresh.push(started.elapsed());
    }
    let fresh = median(fresh);

    let before = rss_bytes();
    let mut idle = Vec::new();
    for _ in 0..IDLE_PLUGINS {
        let plugin = runtime
            .load_file(component, LoadOptions::default())
            .await
            .unwrap();
        plugin.call_tool("count_vowels", &args, &ctx).await.unwrap();
        idle.push(plugin);
    }
    let rss = rss_bytes().saturating_sub(before) / IDLE_PLUGINS as u64;
    Row {
        lang,
        size,
        cold,
        cached,
        warm,
        fresh,
        rss,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored polyglot_bench --nocapture"]
async fn polyglot_bench() {
    let python = polyglot::count_vowels(Lang::Python);
    let js = polyglot::count_vowels(Lang::Js);
    let mut rows = Vec::new();
    for (lang, component) in [
        ("Rust", guests::COUNT_VOWELS),
        ("Python", python.path()),
        ("JavaScript", js.path()),
    ] {
        rows.push(measure(lang, component).await);
    }
    println!(
        "| count-vowels | component | cold compile + start | cached load + start | warm call | fresh-instance call | RSS per idle plugin |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {:.2} MiB | {} | {} | {} | {} | {:.1} MiB |",
            row.lang,
            row.size as f64 / 1048576.0,
            ms(row.cold),
            ms(row.cached),
            us(row.warm),
            ms(row.fresh),
            row.rss as f64 / 1048576.0
        );
    }
    let rust = rows[0].warm.as_secs_f64();
    for row in &rows[1..] {
        println!(
            "{}: warm call {:.1}× Rust's",
            row.lang,
            row.warm.as_secs_f64() / rust
        );
    }
}
