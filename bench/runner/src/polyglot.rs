//! The same count-vowels in Rust, Python and JavaScript (issue #14): component size, cold
//! compile + start, cached load + start, warm call, fresh-instance call and resident memory
//! per idle plugin, each measured the same way for the three languages in one run.
//!
//! - cold: `load_file` on a runtime without a cache (one run: a Python or JS compile takes
//!   seconds);
//! - cached: median of [`CACHED_LOADS`] `load_file`s, each on a fresh runtime sharing one
//!   artifact cache that already holds the entry (as a restarted host loads);
//! - warm call: mean of [`WARM_CALLS`] `call_tool`s on one plugin after 100 warm-up calls;
//! - fresh-instance call: median of [`FRESH_CALLS`] calls with isolation `fresh`
//!   (instantiate + `init` + call);
//! - RSS per idle plugin: VmRSS growth over [`IDLE_PLUGINS`] more loaded plugins, one call
//!   each, ÷ [`IDLE_PLUGINS`].
//!
//! It runs in a child process of its own ([`measure_in_child`]), as the RSS figures do: in
//! the runner's process, after the main rounds, a dozen runtimes and their plugins are
//! still alive, and the Python warm call measured 36 µs there against 20 µs alone.

use std::time::{Duration, Instant};

use airlock::cache::ArtifactCache;
use airlock::{CallContext, Isolation, LoadOptions, Runtime};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

const WARM_CALLS: u32 = 2_000;
const FRESH_CALLS: usize = 50;
const CACHED_LOADS: usize = 10;
const IDLE_PLUGINS: usize = 10;

/// One language's row.
#[derive(Serialize, Deserialize)]
pub struct PolyglotRow {
    pub lang: String,
    pub bytes: u64,
    pub cold: Duration,
    pub cached: Duration,
    pub warm: Duration,
    pub fresh: Duration,
    pub rss: u64,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn rss_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kib * 1024)
}

/// The parent's side: measures each `(language, component)` in a child process.
pub fn measure_in_child(components: &[(&'static str, String)]) -> Result<Vec<PolyglotRow>> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["--polyglot-child", &serde_json::to_string(components)?])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running the polyglot child")?;
    anyhow::ensure!(
        out.status.success(),
        "the polyglot child failed: {}",
        out.status
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The child's side: measures the pairs given as JSON and prints the rows as JSON.
pub fn child(components: &str) -> Result<()> {
    let components: Vec<(String, String)> = serde_json::from_str(components)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rows = components
        .iter()
        .map(|(lang, path)| {
            eprintln!("  polyglot: {lang}");
            rt.block_on(row(lang, path))
        })
        .collect::<Result<Vec<_>>>()?;
    println!("{}", serde_json::to_string(&rows)?);
    Ok(())
}

async fn row(lang: &str, path: &str) -> Result<PolyglotRow> {
    let ctx = CallContext::default();
    let args = json!({"text": "Hello, World! The quick brown fox jumps over the lazy dog."});
    let load = |runtime: Runtime, options: LoadOptions| async move {
        runtime
            .load_file(path, options)
            .await
            .with_context(|| format!("loading {path}"))
    };

    let started = Instant::now();
    load(
        Runtime::builder().no_cache().build()?,
        LoadOptions::default(),
    )
    .await?;
    let cold = started.elapsed();

    let dir = std::env::temp_dir().join(format!("airlock-bench-polyglot-{}", std::process::id()));
    let cache = ArtifactCache::open(&dir).context("opening the bench cache")?;
    let cached_runtime = || Runtime::builder().cache(Some(cache.clone())).build();
    load(cached_runtime()?, LoadOptions::default()).await?;
    let mut loads = Vec::new();
    for _ in 0..CACHED_LOADS {
        let runtime = cached_runtime()?;
        let started = Instant::now();
        load(runtime, LoadOptions::default()).await?;
        loads.push(started.elapsed());
    }
    let cached = median(loads);

    let runtime = cached_runtime()?;
    let plugin = load(runtime.clone(), LoadOptions::default()).await?;
    for _ in 0..100 {
        plugin.call_tool("count_vowels", &args, &ctx).await?;
    }
    let started = Instant::now();
    for _ in 0..WARM_CALLS {
        plugin.call_tool("count_vowels", &args, &ctx).await?;
    }
    let warm = started.elapsed() / WARM_CALLS;

    let fresh_options = LoadOptions::default().isolation(Isolation::Fresh);
    let fresh_plugin = load(runtime.clone(), fresh_options).await?;
    let mut fresh = Vec::new();
    for _ in 0..FRESH_CALLS {
        let started = Instant::now();
        fresh_plugin.call_tool("count_vowels", &args, &ctx).await?;
        fresh.push(started.elapsed());
    }
    let fresh = median(fresh);

    let before = rss_bytes()?;
    let mut idle = Vec::new();
    for _ in 0..IDLE_PLUGINS {
        let plugin = load(runtime.clone(), LoadOptions::default()).await?;
        plugin.call_tool("count_vowels", &args, &ctx).await?;
        idle.push(plugin);
    }
    let rss = rss_bytes()?.saturating_sub(before) / IDLE_PLUGINS as u64;
    drop(idle);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(PolyglotRow {
        lang: lang.to_string(),
        bytes: std::fs::metadata(path)?.len(),
        cold,
        cached,
        warm,
        fresh,
        rss,
    })
}
