//! Load benchmarks: what the compiled-artifact cache saves. A cold load compiles the
//! component; a cached load maps the artifact the first load stored (after checking its
//! digest). Both include starting the plugin (instantiate + init), as a real load does.
//!
//! Run: `cargo bench -p airlock --bench load`

use std::path::PathBuf;
use std::time::Duration;

use airlock::cache::ArtifactCache;
use airlock::{LoadOptions, Runtime};
use airlock_guests as guests;
use criterion::{Criterion, criterion_group, criterion_main};

/// A private cache directory for this run, removed at the end.
struct BenchDir(PathBuf);

impl BenchDir {
    fn new() -> BenchDir {
        let dir = std::env::temp_dir().join(format!("airlock-bench-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        BenchDir(dir)
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = BenchDir::new();
    let cache = ArtifactCache::open(dir.0.join("compiled")).expect("bench cache opens");

    let cold = Runtime::builder().no_cache().build().expect("runtime");
    let cached = Runtime::builder()
        .cache(Some(cache.clone()))
        .build()
        .expect("runtime");

    let mut group = c.benchmark_group("load");
    // A cold load compiles for tens of milliseconds: few samples are plenty.
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (name, path) in [
        ("calculator", guests::CALCULATOR),
        ("prober", guests::PROBER),
        // A 2 MB component: compiling it takes over a second.
        ("large", guests::LARGE),
    ] {
        group.bench_function(format!("cold compile: {name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { cold.load_file(path, LoadOptions::default()).await })
        });
        // Warm the entry once, so every measured load is a hit.
        rt.block_on(cached.load_file(path, LoadOptions::default()))
            .expect("plugin loads");
        group.bench_function(format!("cached load: {name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { cached.load_file(path, LoadOptions::default()).await })
        });
    }
    group.finish();
    let counters = cache.counters();
    assert!(
        counters.hits > 0 && counters.rejected == 0,
        "the cached loads must be hits: {counters:?}"
    );
}

criterion_group!(benches, load);
criterion_main!(benches);
