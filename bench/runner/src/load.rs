//! Cold load (compile) vs cached load (the artifact cache's mmap'd deserialize), through
//! `Runtime::load_file` as a host does it: both include starting the plugin (a probe
//! instance for the metadata, then the first instance's `init`). A compile takes from tens
//! of milliseconds to seconds, too long for the interleaved harness, so each component is
//! loaded a few times in a row and the median is kept.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use airlock::cache::ArtifactCache;
use airlock::{LoadOptions, Runtime};
use anyhow::{Context, Result};

pub struct LoadRow {
    pub name: &'static str,
    pub bytes: u64,
    pub cold: Duration,
    pub cached: Duration,
    pub cold_runs: usize,
    pub cached_runs: usize,
}

/// A private cache directory, removed on drop.
struct TempCache(PathBuf);

impl Drop for TempCache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

pub fn measure(
    rt: &tokio::runtime::Runtime,
    components: &[(&'static str, String)],
    cold_runs: usize,
    cached_runs: usize,
) -> Result<Vec<LoadRow>> {
    let dir =
        TempCache(std::env::temp_dir().join(format!("airlock-bench-cache-{}", std::process::id())));
    let cache = ArtifactCache::open(dir.0.join("compiled")).context("opening the bench cache")?;
    let cold = Runtime::builder().no_cache().build()?;
    let cached = Runtime::builder().cache(Some(cache.clone())).build()?;
    let time = |runtime: &Runtime, path: &str| -> Result<Duration> {
        let start = Instant::now();
        let plugin = rt
            .block_on(runtime.load_file(path, LoadOptions::default()))
            .with_context(|| format!("loading {path}"))?;
        let elapsed = start.elapsed();
        rt.block_on(plugin.shutdown());
        Ok(elapsed)
    };
    let mut rows = Vec::new();
    for (name, path) in components {
        eprintln!("  load: {name}");
        let cold_times = (0..cold_runs)
            .map(|_| time(&cold, path))
            .collect::<Result<Vec<_>>>()?;
        time(&cached, path)?; // fills the cache entry
        let cached_times = (0..cached_runs)
            .map(|_| time(&cached, path))
            .collect::<Result<Vec<_>>>()?;
        rows.push(LoadRow {
            name,
            bytes: std::fs::metadata(path)?.len(),
            cold: median(cold_times),
            cached: median(cached_times),
            cold_runs,
            cached_runs,
        });
    }
    let counters = cache.counters();
    anyhow::ensure!(
        counters.rejected == 0 && counters.hits as usize >= components.len() * cached_runs,
        "the cached loads must all be hits: {counters:?}"
    );
    Ok(rows)
}
