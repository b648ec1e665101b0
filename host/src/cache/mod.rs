//! The on-disk cache of compiled components ([`ArtifactCache`]): compiling an untrusted
//! component takes from tens of milliseconds to many seconds, loading its compiled artifact
//! back takes about a millisecond. This module owns the cache directory, the naming of
//! entries, their atomic writing, and the checks an entry must pass before wasmtime maps it.
//!
//! Layout, in a directory only this user can write (`0700`, refused when group/world
//! writable or owned by someone else):
//!
//! - `<component sha256>-<engine hash>.cwasm` — the artifact, exactly as
//!   [`Component::serialize`] produced it (mode `0600`). The engine hash is
//!   [`Engine::precompile_compatibility_hash`] hashed to hex, so engines configured
//!   differently (or another wasmtime) never share an entry.
//! - `<same>.seal` — one line naming the entry's key and the SHA-256 and length of the
//!   artifact. An artifact is trusted only when it matches its seal.
//! - `.tmp-*` — files being written; each is renamed into place once complete.
//!
//! A broken cache never fails a load: a missing, corrupted, truncated or foreign entry is
//! logged, discarded and compiled again.
//!
//! The cache keeps to a size budget ([`ArtifactCache::with_max_bytes`], default
//! [`ArtifactCache::DEFAULT_MAX_BYTES`]): after each write, the least recently used entries
//! (by modification time, which a hit refreshes) are removed until the files fit again.
//!
//! Files: this one (the directory, the handle, the key), `entry.rs` (one entry: its seal,
//! the checks before wasmtime maps it, the `unsafe` deserialize and every invariant its
//! SAFETY comment relies on, and how entries are written and removed), `evict.rs` (the
//! size budget, leftovers, listing the directory) and `sys.rs` (the platform side).

use std::fs;
use std::hash::Hash;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::Sha256;
use serde::Serialize;
use wasmtime::Engine;

mod entry;
mod evict;
mod sys;

/// Extension of an artifact file.
const ARTIFACT_EXT: &str = "cwasm";
/// Extension of the seal next to it.
const SEAL_EXT: &str = "seal";
/// Prefix of files being written.
const TEMP_PREFIX: &str = ".tmp-";
/// First word of a seal; bump it when the layout changes so old entries are rebuilt.
const SEAL_MAGIC: &str = "airlock-artifact-v1";
/// The environment variable that sets the default cache's size budget.
pub const MAX_ENV: &str = "AIRLOCK_CACHE_MAX";
/// A seal is one short line; anything longer is not ours.
const MAX_SEAL_LEN: u64 = 512;

/// Why a cache directory cannot be used. The runtime answers all of them by compiling
/// without a cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no cache directory: neither XDG_CACHE_HOME nor HOME is set")]
    NoDefaultDir,

    #[error("cannot create the cache directory {dir}: {source}")]
    Create { dir: PathBuf, source: io::Error },

    #[error("cannot read the cache directory {dir}: {source}")]
    Read { dir: PathBuf, source: io::Error },

    #[error("the cache path {dir} is not a directory")]
    NotADirectory { dir: PathBuf },

    #[error(
        "the cache directory {dir} is writable by group or others (mode {mode:o}); refusing \
         to load compiled code from it (run `chmod 700` on it)"
    )]
    Insecure { dir: PathBuf, mode: u32 },

    #[error(
        "the cache directory {dir} belongs to uid {owner}, not to this user (uid {uid}); \
         refusing to load compiled code from it"
    )]
    NotOwned { dir: PathBuf, owner: u32, uid: u32 },

    #[error("cannot remove {path} from the cache: {source}")]
    Remove { path: PathBuf, source: io::Error },

    #[error("the compiled-artifact cache is only supported on Unix")]
    Unsupported,
}

/// What the cache directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Compiled components (artifact files).
    pub entries: usize,
    /// Bytes of every cache file: artifacts, seals, unfinished writes.
    pub bytes: u64,
    /// The size budget the cache keeps to.
    pub max_bytes: u64,
    pub dir: PathBuf,
}

/// What this cache handle (and its clones) did since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheCounters {
    /// Loads served from the cache: no compilation.
    pub hits: u64,
    /// Loads that found no entry.
    pub misses: u64,
    /// Entries that failed their checks and were discarded.
    pub rejected: u64,
    /// Entries written.
    pub writes: u64,
    /// Entries removed to keep the cache within its size budget.
    pub evictions: u64,
}

/// The compiled-artifact cache at one directory. Cheap to clone; clones share counters.
///
/// ```no_run
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use airlock::Runtime;
/// use airlock::cache::ArtifactCache;
///
/// let cache = ArtifactCache::open("/var/cache/my-host/compiled")?;
/// let runtime = Runtime::builder().cache(Some(cache.clone())).build()?;
/// # let _ = runtime;
/// println!("{} compiled components", cache.stats()?.entries);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    max_bytes: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    writes: AtomicU64,
    evictions: AtomicU64,
}

/// Names one entry: the component's SHA-256 and the engine's compatibility hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key(String);

impl Key {
    /// The key of the component `wasm` compiled by `engine`.
    #[cfg(test)]
    pub(crate) fn new(engine: &Engine, wasm: &[u8]) -> Key {
        Key::of(engine, &Sha256::of(wasm))
    }

    /// The key of the component whose SHA-256 is `digest`, compiled by `engine`.
    pub(crate) fn of(engine: &Engine, digest: &Sha256) -> Key {
        Key(format!("{digest}-{}", engine_hash(engine)))
    }
}

/// [`Engine::precompile_compatibility_hash`] as 64 hex digits: equal for engines whose
/// artifacts are interchangeable (same wasmtime, same compilation settings).
pub fn engine_hash(engine: &Engine) -> String {
    // Through SHA-256: unlike `DefaultHasher`, stable across processes and wide enough
    // to name files by.
    let mut hasher = Sha256::hasher();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.digest().to_string()
}

impl ArtifactCache {
    /// `$XDG_CACHE_HOME/airlock/compiled` (when set to an absolute path), else
    /// `~/.cache/airlock/compiled`; `None` without either variable.
    pub fn default_dir() -> Option<PathBuf> {
        let xdg = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let home = || {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        };
        xdg.or_else(home).map(|base| base.join("airlock/compiled"))
    }

    /// Opens the cache at [`ArtifactCache::default_dir`], with the size budget from
    /// `$AIRLOCK_CACHE_MAX` (e.g. `512MiB`) when set, else the default.
    pub fn open_default() -> Result<ArtifactCache, CacheError> {
        let cache =
            ArtifactCache::open(ArtifactCache::default_dir().ok_or(CacheError::NoDefaultDir)?)?;
        Ok(match std::env::var(MAX_ENV) {
            Ok(text) => match crate::units::parse_bytes(&text) {
                Ok(bytes) => cache.with_max_bytes(bytes as u64),
                Err(e) => {
                    tracing::warn!("{MAX_ENV}={text:?} is not a size ({e}); using the default");
                    cache
                }
            },
            Err(_) => cache,
        })
    }

    /// Opens the cache at `dir`, creating it (mode `0700`) when missing. Refuses a directory
    /// that someone else owns or that group or others may write: whoever can write there
    /// could put compiled code into this process.
    pub fn open(dir: impl Into<PathBuf>) -> Result<ArtifactCache, CacheError> {
        let dir = dir.into();
        sys::create_private_dir(&dir).map_err(|source| CacheError::Create {
            dir: dir.clone(),
            source,
        })?;
        sys::check_private_dir(&dir)?;
        Ok(ArtifactCache {
            inner: Arc::new(Inner {
                dir,
                max_bytes: AtomicU64::new(ArtifactCache::DEFAULT_MAX_BYTES),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                writes: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
            }),
        })
    }

    /// How many bytes of files the cache keeps unless told otherwise.
    pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

    /// This cache with a size budget of `bytes` (all its files together), shared by its
    /// clones. A budget smaller than one entry keeps just the newest entry.
    pub fn with_max_bytes(self, bytes: u64) -> ArtifactCache {
        self.inner.max_bytes.store(bytes, Ordering::Relaxed);
        self
    }

    /// The size budget in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes.load(Ordering::Relaxed)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Hits, misses, rejections and writes since this cache was opened (shared by clones).
    pub fn counters(&self) -> CacheCounters {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheCounters {
            hits: read(&self.inner.hits),
            misses: read(&self.inner.misses),
            rejected: read(&self.inner.rejected),
            writes: read(&self.inner.writes),
            evictions: read(&self.inner.evictions),
        }
    }

    /// How many compiled components the directory holds, and the bytes of all cache files.
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        let mut stats = self.empty_stats();
        for file in self.files()? {
            stats.add(&file);
        }
        Ok(stats)
    }

    /// Removes every cache file (artifacts, seals, unfinished writes; nothing else) and
    /// returns what was removed. Plugins already loaded keep working: their mappings hold
    /// the removed files open.
    pub fn clear(&self) -> Result<CacheStats, CacheError> {
        let mut removed = self.empty_stats();
        for file in self.files()? {
            match fs::remove_file(&file.path) {
                Ok(()) => removed.add(&file),
                // Another process cleared it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(CacheError::Remove {
                        path: file.path,
                        source,
                    });
                }
            }
        }
        Ok(removed)
    }

    fn artifact_path(&self, key: &Key) -> PathBuf {
        self.dir().join(format!("{}.{ARTIFACT_EXT}", key.0))
    }

    fn seal_path(&self, key: &Key) -> PathBuf {
        self.dir().join(format!("{}.{SEAL_EXT}", key.0))
    }

    fn temp_path(&self) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        self.dir()
            .join(format!("{TEMP_PREFIX}{}-{n}-{nanos}", std::process::id()))
    }

    fn empty_stats(&self) -> CacheStats {
        CacheStats {
            entries: 0,
            bytes: 0,
            max_bytes: self.max_bytes(),
            dir: self.dir().to_path_buf(),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use wasmtime::component::Component;

    /// The smallest valid component: the preamble and no sections. Compiles in microseconds.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn temp_cache(label: &str) -> (PathBuf, ArtifactCache) {
        let dir =
            std::env::temp_dir().join(format!("airlock-cache-unit-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let cache = ArtifactCache::open(dir.join("compiled")).expect("cache opens");
        (dir, cache)
    }

    #[test]
    fn engine_hash_is_stable_hex() {
        let (a, _) = crate::engine::new_engine(None).expect("engine");
        let (b, _) = crate::engine::new_engine(None).expect("engine");
        let hash = engine_hash(&a);
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hash, engine_hash(&b), "same configuration, same hash");
        assert_ne!(
            hash,
            engine_hash(&Engine::default()),
            "another configuration must not share entries"
        );
    }

    #[test]
    fn only_a_private_dir_of_ours_is_accepted() {
        let dir = Path::new("/cache");
        assert!(sys::judge(dir, 1000, 0o40700, 1000).is_ok());
        assert!(sys::judge(dir, 1000, 0o40755, 1000).is_ok());
        assert!(matches!(
            sys::judge(dir, 1000, 0o40775, 1000),
            Err(CacheError::Insecure { mode: 0o775, .. })
        ));
        assert!(matches!(
            sys::judge(dir, 1000, 0o41777, 1000),
            Err(CacheError::Insecure { .. })
        ));
        assert!(matches!(
            sys::judge(dir, 0, 0o40700, 1000),
            Err(CacheError::NotOwned { owner: 0, .. })
        ));
    }

    #[test]
    fn stored_entry_loads_and_a_flipped_byte_is_discarded() {
        let (root, cache) = temp_cache("roundtrip");
        let (engine, _) = crate::engine::new_engine(None).expect("engine");
        let key = Key::new(&engine, EMPTY_COMPONENT);
        assert!(cache.load(&engine, &key).is_none(), "cold");
        let component = Component::new(&engine, EMPTY_COMPONENT).expect("compiles");
        cache.store(&key, &component);
        assert!(cache.load(&engine, &key).is_some(), "warm");

        let path = cache.artifact_path(&key);
        let mut bytes = fs::read(&path).expect("artifact");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).expect("corrupt");
        assert!(
            cache.load(&engine, &key).is_none(),
            "corrupted entry refused"
        );
        assert!(!path.exists(), "and discarded");
        assert_eq!(
            cache.counters(),
            CacheCounters {
                hits: 1,
                misses: 1,
                rejected: 1,
                writes: 1,
                evictions: 0
            }
        );
        assert_eq!(cache.stats().expect("stats").entries, 0);
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn default_dir_ends_in_airlock_compiled() {
        if let Some(dir) = ArtifactCache::default_dir() {
            assert!(dir.ends_with("airlock/compiled"), "{}", dir.display());
        }
    }
}
