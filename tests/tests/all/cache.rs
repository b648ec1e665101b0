//! The compiled-artifact cache on real components: a cold load writes one sealed entry, a
//! second runtime loads it without compiling, corrupted, truncated or foreign entries are
//! detected, discarded and rebuilt, an unsafe directory is never used, `clear` empties it,
//! and compilation runs off the async workers under its own time budget.
//!
//! Every test uses its own temporary cache directory, never `~/.cache`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock::cache::{ArtifactCache, CacheCounters, CacheError};
use airlock::{CallContext, LoadError, LoadOptions, Plugin, Runtime};
use airlock_tests::{TempDir, guests};
use serde_json::json;

/// A fresh private cache under `dir`.
fn open_cache(dir: &TempDir) -> ArtifactCache {
    ArtifactCache::open(dir.path().join("compiled")).expect("cache opens")
}

/// A runtime loading through `cache`.
fn runtime_with(cache: &ArtifactCache) -> Runtime {
    Runtime::builder()
        .cache(Some(cache.clone()))
        .build()
        .expect("runtime builds")
}

async fn load(runtime: &Runtime, path: &str) -> Plugin {
    runtime
        .load_file(path, LoadOptions::default())
        .await
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// The calculator answers 1 + 2.
async fn assert_adds(plugin: &Plugin) {
    let answer = plugin
        .call_tool("add", &json!({"a": 1, "b": 2}), &CallContext::default())
        .await
        .expect("add works");
    assert_eq!(answer["result"], 3.0);
}

/// The cache's files for the component at `component`: (artifact, seal).
fn entry_files(cache: &ArtifactCache, component: &str) -> (PathBuf, PathBuf) {
    let digest =
        airlock::digest::Sha256::of(&fs::read(component).expect("component built")).to_string();
    let artifacts: Vec<PathBuf> = fs::read_dir(cache.dir())
        .expect("cache dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(&digest) && name.ends_with(".cwasm")
        })
        .collect();
    assert_eq!(
        artifacts.len(),
        1,
        "one entry for {component}: {artifacts:?}"
    );
    let artifact = artifacts.into_iter().next().expect("one");
    let seal = artifact.with_extension("seal");
    (artifact, seal)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn counters(hits: u64, misses: u64, rejected: u64, writes: u64) -> CacheCounters {
    CacheCounters {
        hits,
        misses,
        rejected,
        writes,
        evictions: 0,
    }
}

/// Loads the calculator once through a fresh runtime on `cache` (then drops the runtime, so
/// nothing maps the entry any more) and returns the entry's files.
async fn warm(cache: &ArtifactCache) -> (PathBuf, PathBuf) {
    let runtime = runtime_with(cache);
    assert_adds(&load(&runtime, guests::CALCULATOR).await).await;
    entry_files(cache, guests::CALCULATOR)
}

#[tokio::test]
async fn cold_load_writes_one_private_sealed_entry() {
    let dir = TempDir::new("cache-cold");
    let cache = open_cache(&dir);
    let (artifact, seal) = warm(&cache).await;

    assert_eq!(cache.counters(), counters(0, 1, 0, 1));
    let stats = cache.stats().expect("stats");
    assert_eq!(stats.entries, 1);
    assert_eq!(
        stats.bytes,
        fs::metadata(&artifact).unwrap().len() + fs::metadata(&seal).unwrap().len()
    );
    assert_eq!(stats.dir, cache.dir());
    assert_eq!(mode(cache.dir()), 0o700, "a directory only we write");
    assert_eq!(mode(&artifact), 0o600);
    assert_eq!(mode(&seal), 0o600);
    let leftovers: Vec<_> = fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files left: {leftovers:?}"
    );
}

#[tokio::test]
async fn second_runtime_loads_from_the_cache_without_compiling() {
    let dir = TempDir::new("cache-hit");
    warm(&open_cache(&dir)).await;

    // A new runtime (new engine) and a new handle, as a restarted host would have.
    let cache = open_cache(&dir);
    let runtime = runtime_with(&cache);
    let plugin = load(&runtime, guests::CALCULATOR).await;
    assert_eq!(
        cache.counters(),
        counters(1, 0, 0, 0),
        "a hit, nothing written"
    );
    assert_adds(&plugin).await;
    assert_eq!(plugin.metadata().name, "calculator");
    assert_eq!(cache.stats().expect("stats").entries, 1);
}

/// Damages the calculator's entry with `damage`, then checks the next load detects it,
/// discards it, compiles, rebuilds the entry, works — and that the load after is a hit.
async fn damaged_entry_is_rebuilt(label: &str, damage: impl FnOnce(&Path, &Path)) {
    let dir = TempDir::new(label);
    let (artifact, seal) = warm(&open_cache(&dir)).await;
    // A verified hit first: this process now remembers the entry's digest (by the file's
    // inode, size and change time), which the damage must not be able to ride on.
    assert_adds(&load(&runtime_with(&open_cache(&dir)), guests::CALCULATOR).await).await;
    let sound = fs::read(&artifact).expect("artifact");
    damage(&artifact, &seal);

    let cache = open_cache(&dir);
    let runtime = runtime_with(&cache);
    let plugin = load(&runtime, guests::CALCULATOR).await;
    assert_eq!(
        cache.counters(),
        counters(0, 0, 1, 1),
        "{label}: rejected and rewritten"
    );
    assert_adds(&plugin).await;
    let (rebuilt, _) = entry_files(&cache, guests::CALCULATOR);
    assert_eq!(
        fs::read(&rebuilt).expect("rebuilt").len(),
        sound.len(),
        "{label}: rebuilt in full"
    );

    let again = open_cache(&dir);
    assert_adds(&load(&runtime_with(&again), guests::CALCULATOR).await).await;
    assert_eq!(
        again.counters(),
        counters(1, 0, 0, 0),
        "{label}: then a hit"
    );
}

#[tokio::test]
async fn flipped_bytes_are_detected_discarded_and_rebuilt() {
    damaged_entry_is_rebuilt("cache-flip", |artifact, _| {
        let mut bytes = fs::read(artifact).expect("artifact");
        let middle = bytes.len() / 2;
        for byte in &mut bytes[middle..middle + 16] {
            *byte ^= 0x5a;
        }
        fs::write(artifact, bytes).expect("flip");
    })
    .await;
}

#[tokio::test]
async fn truncated_entry_is_detected_discarded_and_rebuilt() {
    damaged_entry_is_rebuilt("cache-truncate", |artifact, _| {
        let file = fs::OpenOptions::new()
            .write(true)
            .open(artifact)
            .expect("open");
        let len = file.metadata().unwrap().len();
        file.set_len(len / 3).expect("truncate");
    })
    .await;
}

#[tokio::test]
async fn garbled_or_missing_seal_is_detected_and_rebuilt() {
    damaged_entry_is_rebuilt("cache-garbled-seal", |_, seal| {
        fs::write(seal, "airlock-artifact-v1 nonsense\n").expect("garble");
    })
    .await;
    damaged_entry_is_rebuilt("cache-missing-seal", |_, seal| {
        fs::remove_file(seal).expect("remove seal");
    })
    .await;
}

#[tokio::test]
async fn foreign_file_under_the_key_name_is_rejected() {
    damaged_entry_is_rebuilt("cache-foreign-bytes", |artifact, _| {
        fs::write(artifact, b"\x7fELF not an artifact of ours").expect("replace");
    })
    .await;
}

#[tokio::test]
async fn another_components_entry_copied_under_the_key_is_rejected() {
    let dir = TempDir::new("cache-swap");
    let cache = open_cache(&dir);
    let runtime = runtime_with(&cache);
    load(&runtime, guests::CALCULATOR).await;
    load(&runtime, guests::COUNT_VOWELS).await;
    drop(runtime);
    let (calc_artifact, calc_seal) = entry_files(&cache, guests::CALCULATOR);
    let (vowels_artifact, vowels_seal) = entry_files(&cache, guests::COUNT_VOWELS);

    // A genuine artifact, sealed, but for another component: its seal names its own key.
    fs::copy(&vowels_artifact, &calc_artifact).expect("copy artifact");
    fs::copy(&vowels_seal, &calc_seal).expect("copy seal");
    let second = open_cache(&dir);
    let plugin = load(&runtime_with(&second), guests::CALCULATOR).await;
    assert_eq!(second.counters(), counters(0, 0, 1, 1));
    assert_eq!(plugin.metadata().name, "calculator", "not count-vowels");
    assert_adds(&plugin).await;

    // The artifact alone (the calculator's seal kept): the digest does not match.
    fs::copy(&vowels_artifact, &calc_artifact).expect("copy artifact");
    let third = open_cache(&dir);
    let plugin = load(&runtime_with(&third), guests::CALCULATOR).await;
    assert_eq!(third.counters(), counters(0, 0, 1, 1));
    assert_adds(&plugin).await;
}

#[tokio::test]
async fn symlinked_entry_is_not_followed() {
    damaged_entry_is_rebuilt("cache-symlink", |artifact, _| {
        let elsewhere = artifact.with_extension("elsewhere");
        fs::rename(artifact, &elsewhere).expect("move");
        std::os::unix::fs::symlink(&elsewhere, artifact).expect("symlink");
    })
    .await;
}

#[test]
fn group_or_world_writable_dir_is_refused() {
    for unsafe_mode in [0o777, 0o770, 0o722] {
        let dir = TempDir::new("cache-insecure");
        let compiled = dir.path().join("compiled");
        fs::create_dir(&compiled).unwrap();
        fs::set_permissions(&compiled, fs::Permissions::from_mode(unsafe_mode)).unwrap();
        match ArtifactCache::open(&compiled) {
            Err(CacheError::Insecure { mode, .. }) => assert_eq!(mode, unsafe_mode),
            other => panic!("mode {unsafe_mode:o} accepted: {other:?}"),
        }
    }
}

#[test]
fn dir_owned_by_someone_else_is_refused() {
    let dir = TempDir::new("cache-owner");
    let me = fs::metadata(dir.path()).unwrap().uid();
    if me != 0 {
        eprintln!("skipped: changing a directory's owner needs root");
        return;
    }
    let compiled = dir.path().join("compiled");
    fs::create_dir(&compiled).unwrap();
    fs::set_permissions(&compiled, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&compiled, Some(65534), None).expect("chown");
    match ArtifactCache::open(&compiled) {
        Err(CacheError::NotOwned { owner, uid, .. }) => assert_eq!((owner, uid), (65534, 0)),
        other => panic!("someone else's directory accepted: {other:?}"),
    }
}

#[tokio::test]
async fn dir_made_world_writable_after_opening_is_not_used() {
    let dir = TempDir::new("cache-loosened");
    let cache = open_cache(&dir);
    warm(&cache).await;
    fs::set_permissions(cache.dir(), fs::Permissions::from_mode(0o777)).unwrap();

    let plugin = load(&runtime_with(&cache), guests::CALCULATOR).await;
    assert_adds(&plugin).await;
    let counted = cache.counters();
    assert_eq!(counted.hits, 0, "nothing loaded from an unsafe directory");
    assert_eq!(counted.writes, 1, "nothing written since: {counted:?}");
    assert_eq!(cache.stats().expect("stats").entries, 1);
}

#[tokio::test]
async fn clear_empties_the_cache_and_only_the_cache() {
    let dir = TempDir::new("cache-clear");
    let cache = open_cache(&dir);
    let runtime = runtime_with(&cache);
    load(&runtime, guests::CALCULATOR).await;
    load(&runtime, guests::COUNT_VOWELS).await;
    let before = cache.stats().expect("stats");
    assert_eq!(before.entries, 2);
    fs::write(cache.dir().join("notes.txt"), "not the cache's").unwrap();

    let removed = cache.clear().expect("clear");
    assert_eq!((removed.entries, removed.bytes), (2, before.bytes));
    let after = cache.stats().expect("stats");
    assert_eq!((after.entries, after.bytes), (0, 0));
    assert!(
        cache.dir().join("notes.txt").exists(),
        "other files are left alone"
    );

    // Loaded plugins keep working; the next load compiles and writes again.
    let plugin = load(&runtime, guests::CALCULATOR).await;
    assert_adds(&plugin).await;
    assert_eq!(cache.stats().expect("stats").entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cold_loads_share_one_sound_entry() {
    let dir = TempDir::new("cache-race");
    let cache = open_cache(&dir);
    // Four runtimes (as four processes would) compile and write the same entry at once.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let runtime = runtime_with(&cache);
            tokio::spawn(
                async move { assert_adds(&load(&runtime, guests::CALCULATOR).await).await },
            )
        })
        .collect();
    for task in tasks {
        task.await.expect("load and call");
    }
    let names: Vec<String> = fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "one artifact and its seal, no leftovers: {names:?}"
    );

    let again = open_cache(&dir);
    assert_adds(&load(&runtime_with(&again), guests::CALCULATOR).await).await;
    assert_eq!(
        again.counters(),
        counters(1, 0, 0, 0),
        "what the race left is sound"
    );
}

#[tokio::test]
async fn compile_over_its_budget_is_a_typed_error() {
    let runtime = Runtime::builder()
        .no_cache()
        .compile_timeout(Duration::from_millis(1))
        .build()
        .expect("runtime builds");
    assert_eq!(runtime.compile_timeout(), Duration::from_millis(1));
    let Err(err) = runtime
        .load_file(guests::PROBER, LoadOptions::default())
        .await
    else {
        panic!("a 400 KB component compiled in 1 ms");
    };
    match err {
        LoadError::CompileTimeout { what, budget } => {
            assert_eq!(budget, Duration::from_millis(1));
            assert!(what.ends_with("prober.wasm"), "{what}");
        }
        other => panic!("expected CompileTimeout, got {other}"),
    }
}

#[tokio::test]
async fn compile_over_budget_is_not_cached() {
    let dir = TempDir::new("cache-budget");
    let cache = open_cache(&dir);
    let runtime = Runtime::builder()
        .cache(Some(cache.clone()))
        .compile_timeout(Duration::from_millis(1))
        .build()
        .expect("runtime builds");
    let Err(err) = runtime
        .load_file(guests::PROBER, LoadOptions::default())
        .await
    else {
        panic!("a 400 KB component compiled in 1 ms");
    };
    assert!(matches!(err, LoadError::CompileTimeout { .. }), "{err}");
    // Give the abandoned compilation time to finish: its result must be dropped.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(cache.counters().writes, 0);
    assert_eq!(cache.stats().expect("stats").entries, 0);
}

#[tokio::test]
async fn compiling_does_not_block_calls_to_other_plugins() {
    let runtime = Runtime::builder().no_cache().build().expect("runtime");
    let calculator = load(&runtime, guests::CALCULATOR).await;
    let compiling = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            runtime
                .load_file(guests::PROBER, LoadOptions::default())
                .await
        })
    };
    // Let the load read the file and start compiling. On this single-threaded test
    // runtime, a compile on the async thread would then hold every call until it finished.
    tokio::time::sleep(Duration::from_millis(20)).await;
    for _ in 0..20 {
        assert_adds(&calculator).await;
    }
    assert!(
        !compiling.is_finished(),
        "20 calls finished while the other plugin was still compiling"
    );
    compiling.await.expect("task").expect("prober loads");
}

/// Bytes of the entry `component` leaves in an unbounded cache of its own.
async fn entry_bytes(component: &str) -> u64 {
    let dir = TempDir::new("cache-size");
    let cache = ArtifactCache::open(dir.path().join("compiled")).unwrap();
    let runtime = runtime_with(&cache);
    load(&runtime, component).await;
    cache.stats().unwrap().bytes
}

#[tokio::test]
async fn the_cache_keeps_to_its_budget_evicting_the_least_recently_used() {
    let (a, b, c) = (guests::CALCULATOR, guests::COUNT_VOWELS, guests::HOSTILE);
    let (size_a, size_b, size_c) = (
        entry_bytes(a).await,
        entry_bytes(b).await,
        entry_bytes(c).await,
    );
    // Room for A with B or A with C, never all three.
    let budget = (size_a + size_b).max(size_a + size_c) + 1024;
    assert!(budget < size_a + size_b + size_c);
    let dir = TempDir::new("cache-budget");
    let cache = ArtifactCache::open(dir.path().join("compiled"))
        .unwrap()
        .with_max_bytes(budget);
    assert_eq!(cache.max_bytes(), budget);
    let runtime = runtime_with(&cache);
    load(&runtime, a).await;
    std::thread::sleep(std::time::Duration::from_millis(20));
    load(&runtime, b).await;
    std::thread::sleep(std::time::Duration::from_millis(20));
    // A hit on A makes it the most recently used entry...
    load(&runtime, a).await;
    assert_eq!(cache.counters().hits, 1);
    std::thread::sleep(std::time::Duration::from_millis(20));
    // ...so storing C evicts B, not A.
    load(&runtime, c).await;
    let stats = cache.stats().unwrap();
    assert!(stats.bytes <= budget, "{stats:?}");
    assert_eq!(stats.entries, 2);
    assert_eq!(stats.max_bytes, budget);
    assert_eq!(cache.counters().evictions, 1);

    let before = cache.counters();
    load(&runtime, a).await;
    load(&runtime, c).await;
    assert_eq!(
        cache.counters().hits,
        before.hits + 2,
        "A and C are still cached"
    );
    load(&runtime, b).await;
    assert_eq!(cache.counters().misses, before.misses + 1, "B was evicted");
}

#[tokio::test]
async fn unfinished_writes_do_not_count_and_orphaned_seals_are_swept() {
    let (size_a, size_b) = (
        entry_bytes(guests::CALCULATOR).await,
        entry_bytes(guests::COUNT_VOWELS).await,
    );
    let dir = TempDir::new("cache-leftovers");
    let cache = ArtifactCache::open(dir.path().join("compiled"))
        .unwrap()
        .with_max_bytes(size_a + size_b + 1024);
    // Another process's write under way, far bigger than the budget, and a seal whose
    // artifact is gone.
    let temp = cache.dir().join(".tmp-4242-0-0");
    fs::write(&temp, vec![0u8; 8 << 20]).unwrap();
    let orphan = cache.dir().join(format!("{}.seal", "0".repeat(64)));
    fs::write(&orphan, "airlock-artifact-v1 x y 1\n").unwrap();

    let runtime = runtime_with(&cache);
    load(&runtime, guests::CALCULATOR).await;
    load(&runtime, guests::COUNT_VOWELS).await;
    assert_eq!(
        cache.stats().unwrap().entries,
        2,
        "nothing evicted for the temp file"
    );
    assert_eq!(cache.counters().evictions, 0);
    assert!(temp.exists(), "a fresh unfinished write is left alone");
    assert!(!orphan.exists(), "the orphaned seal is swept");
}
