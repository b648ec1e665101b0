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

use std::fs::{self, File};
use std::hash::Hash;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::Sha256;
use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;

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

/// What the seal of an entry records about its artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seal {
    sha256: String,
    len: u64,
}

impl Seal {
    fn of(artifact: &[u8]) -> Seal {
        Seal {
            sha256: Sha256::of(artifact).to_string(),
            len: artifact.len() as u64,
        }
    }

    fn render(&self, key: &Key) -> String {
        format!("{SEAL_MAGIC} {} {} {}\n", key.0, self.sha256, self.len)
    }

    /// Parses a seal, which must name `key`: a seal copied from another entry is foreign.
    fn parse(text: &str, key: &Key) -> Result<Seal, Reject> {
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        let [magic, sealed_key, sha256, len] = words[..] else {
            return Err(Reject::BadSeal);
        };
        if magic != SEAL_MAGIC
            || sha256.len() != 64
            || !sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Reject::BadSeal);
        }
        if sealed_key != key.0 {
            return Err(Reject::WrongKey);
        }
        let len = len.parse().map_err(|_| Reject::BadSeal)?;
        Ok(Seal {
            sha256: sha256.to_ascii_lowercase(),
            len,
        })
    }
}

/// Why an entry was not trusted (it is then discarded).
#[derive(Debug, thiserror::Error)]
enum Reject {
    #[error("its seal cannot be read: {0}")]
    NoSeal(io::Error),
    #[error("its seal is malformed")]
    BadSeal,
    #[error("its seal belongs to another entry")]
    WrongKey,
    #[error("the artifact cannot be read: {0}")]
    Io(#[from] io::Error),
    #[error("the artifact is not a regular file")]
    NotAFile,
    #[error("the artifact is {actual} bytes, its seal says {sealed}")]
    Size { actual: u64, sealed: u64 },
    #[error("the artifact's sha256 is {actual}, its seal says {sealed}")]
    Digest { actual: String, sealed: String },
    #[error("wasmtime refused the artifact: {0}")]
    Deserialize(String),
}

/// Why an entry could not be written (the plugin loads anyway).
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("serializing the component failed: {0}")]
    Serialize(String),
    #[error("{0}")]
    Io(#[from] io::Error),
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

    /// The compiled component for `key`, if the cache holds a sound entry for it. A bad
    /// entry is logged and discarded; the caller compiles again.
    pub(crate) fn load(&self, engine: &Engine, key: &Key) -> Option<Component> {
        if let Err(e) = sys::check_private_dir(self.dir()) {
            tracing::warn!("compiled-artifact cache not used: {e}");
            return None;
        }
        match self.try_load(engine, key) {
            Ok(Some(component)) => {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                Some(component)
            }
            Ok(None) => {
                self.inner.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(reject) => {
                self.inner.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "discarding compiled-artifact cache entry {}: {reject}; compiling again",
                    self.artifact_path(key).display()
                );
                self.discard(key);
                None
            }
        }
    }

    /// Writes `component` as the entry for `key`. A failure is logged: the plugin is loaded
    /// anyway, only the next load compiles again.
    pub(crate) fn store(&self, key: &Key, component: &Component) {
        if let Err(e) = sys::check_private_dir(self.dir()) {
            tracing::warn!("compiled-artifact cache not written: {e}");
            return;
        }
        match self.try_store(key, component) {
            Ok(()) => {
                self.inner.writes.fetch_add(1, Ordering::Relaxed);
                self.evict(key);
            }
            Err(e) => {
                tracing::warn!(
                    "cannot write compiled-artifact cache entry {}: {e}",
                    self.artifact_path(key).display()
                );
                // A full disk is when room matters most: drop the half-written entry and
                // make room for the next one.
                self.discard(key);
                self.evict(key);
            }
        }
    }

    /// `Ok(None)` when there is no entry; `Err` when there is one we must not trust.
    fn try_load(&self, engine: &Engine, key: &Key) -> Result<Option<Component>, Reject> {
        let path = self.artifact_path(key);
        let file = match sys::open_no_follow(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Reject::Io(e)),
        };
        let seal = self.read_seal(key)?;
        let sealed: Option<Sha256> = seal.sha256.parse().ok();
        let meta = file.metadata().map_err(Reject::Io)?;
        // Hashed in this process already, and unchanged since (same inode, size and change
        // time): the seal check holds as it did then.
        let identity = match crate::digest::known(&meta) {
            Some(digest) if Some(digest) == sealed && meta.len() == seal.len => {
                sys::identity(&meta)
            }
            _ => verify(&file, &seal)?,
        };
        // SAFETY: `deserialize_file` requires (1) the bytes to be an unmodified artifact of
        // `Component::serialize` from this wasmtime, and (2) the file not to change while
        // the component lives (it is mapped, not copied).
        // (1) The file we just hashed, opened without following symlinks, has exactly the
        // length and SHA-256 its seal records, and the seal names this entry's key. Seals
        // and artifacts are only written by `store`, from `Component::serialize` output, in
        // a directory this user owns and nobody else can write (checked above): a
        // corrupted, truncated or foreign file fails here and is discarded unread. Right
        // after mapping we check that the path still names the very file we hashed, so a
        // concurrent replacement cannot slip in unchecked bytes. Wasmtime also refuses
        // artifacts of another version or configuration by their header. (The digest
        // protects against corruption and foreign files, not against code running as this
        // user, which could patch this binary anyway.)
        // (2) This module never writes into an existing file: entries are written under a
        // temporary name and renamed into place, and removed by unlinking, so the bytes of
        // a mapped file never change.
        let component = unsafe { Component::deserialize_file(engine, &path) }
            .map_err(|e| Reject::Deserialize(format!("{e:#}")))?;
        if sys::identity_at(&path).ok() != Some(identity) {
            // Replaced by another process between our check and the mapping: what was
            // mapped is unchecked. Not an error of the entry; just compile.
            return Ok(None);
        }
        // A hit makes the entry the most recently used one (eviction goes by this time).
        // Only the time changes, never the bytes.
        let _ = file.set_modified(std::time::SystemTime::now());
        // That changed the change time: remember the verified digest under the new stamp.
        if let (Some(digest), Ok(meta)) = (sealed, file.metadata()) {
            crate::digest::remember(&meta, digest);
        }
        drop(file);
        Ok(Some(component))
    }

    fn read_seal(&self, key: &Key) -> Result<Seal, Reject> {
        let file = sys::open_no_follow(&self.seal_path(key)).map_err(Reject::NoSeal)?;
        let mut text = String::new();
        file.take(MAX_SEAL_LEN)
            .read_to_string(&mut text)
            .map_err(|_| Reject::BadSeal)?;
        Seal::parse(&text, key)
    }

    fn try_store(&self, key: &Key, component: &Component) -> Result<(), WriteError> {
        let artifact = component
            .serialize()
            .map_err(|e| WriteError::Serialize(format!("{e:#}")))?;
        let seal = Seal::of(&artifact);
        // Seal first: a reader that sees the seal without the artifact finds no entry (a
        // miss); the artifact, renamed last, completes the entry.
        self.write_atomically(&self.seal_path(key), seal.render(key).as_bytes())?;
        self.write_atomically(&self.artifact_path(key), &artifact)?;
        Ok(())
    }

    /// Writes a new private file under a unique temporary name, then renames it to `dest`:
    /// readers see the old file or the complete new one, never a partial one, even with
    /// several processes writing the same entry. No fsync: an entry torn by a crash fails
    /// its digest check and is rebuilt.
    fn write_atomically(&self, dest: &Path, bytes: &[u8]) -> io::Result<()> {
        let temp = self.temp_path();
        let written = sys::create_private_file(&temp)
            .and_then(|mut file| file.write_all(bytes))
            .and_then(|()| fs::rename(&temp, dest));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Removes the least recently used entries, never `keep` (just written), until the
    /// cache's files fit its budget. Unlinking is safe for entries still mapped by a
    /// plugin: the mapping keeps the file's bytes alive.
    fn evict(&self, keep: &Key) {
        let Ok(files) = self.files() else { return };
        let files = self.remove_leftovers(files);
        // Unfinished writes (another process's, under way) are not ours to remove and do
        // not count against the budget.
        let mut total: u64 = files
            .iter()
            .filter(|f| f.kind != FileKind::Temp)
            .map(|f| f.len)
            .sum();
        let budget = self.max_bytes();
        if total <= budget {
            return;
        }
        // Entries by their artifact's modification time, oldest first; a seal goes with
        // its artifact.
        let mut entries: Vec<(std::time::SystemTime, Key, u64)> = files
            .iter()
            .filter(|f| f.kind == FileKind::Artifact)
            .filter_map(|f| {
                let stem = f.path.file_stem()?.to_str()?.to_string();
                let modified = fs::symlink_metadata(&f.path).ok()?.modified().ok()?;
                let seal_len =
                    fs::symlink_metadata(self.seal_path(&Key(stem.clone()))).map_or(0, |m| m.len());
                Some((modified, Key(stem), f.len + seal_len))
            })
            .filter(|(_, key, _)| key != keep)
            .collect();
        entries.sort_by_key(|(modified, ..)| *modified);
        for (_, key, bytes) in entries {
            if total <= budget {
                break;
            }
            self.discard(&key);
            total = total.saturating_sub(bytes);
            self.inner.evictions.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("evicted compiled-artifact cache entry {}", key.0);
        }
    }

    /// Removes what no entry uses: seals whose artifact is gone (a write that failed
    /// midway, an eviction by another process) and unfinished writes old enough that their
    /// writer must have died. Returns the files that remain.
    fn remove_leftovers(&self, files: Vec<CacheFile>) -> Vec<CacheFile> {
        const ABANDONED: std::time::Duration = std::time::Duration::from_secs(3600);
        let leftover = |file: &CacheFile| match file.kind {
            FileKind::Seal => !file.path.with_extension(ARTIFACT_EXT).exists(),
            FileKind::Temp => fs::symlink_metadata(&file.path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > ABANDONED)),
            FileKind::Artifact => false,
        };
        files
            .into_iter()
            .filter(|file| !(leftover(file) && fs::remove_file(&file.path).is_ok()))
            .collect()
    }

    /// Unlinks both files of an entry (never truncates: a plugin may still map it).
    fn discard(&self, key: &Key) {
        for path in [self.artifact_path(key), self.seal_path(key)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
            }
        }
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

    /// The cache's own files in the directory (by name; anything else is left alone).
    fn files(&self) -> Result<Vec<CacheFile>, CacheError> {
        let read_error = |source| CacheError::Read {
            dir: self.dir().to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(self.dir()).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let name = entry.file_name();
            let Some(kind) = name.to_str().and_then(FileKind::of) else {
                continue;
            };
            // Does not follow symlinks: counts and removes the link itself.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                continue;
            }
            files.push(CacheFile {
                path: entry.path(),
                kind,
                len: meta.len(),
            });
        }
        Ok(files)
    }
}

/// Checks the open artifact against its seal; returns the file's identity.
fn verify(file: &File, seal: &Seal) -> Result<sys::Identity, Reject> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Reject::NotAFile);
    }
    if meta.len() != seal.len {
        return Err(Reject::Size {
            actual: meta.len(),
            sealed: seal.len,
        });
    }
    let mut hasher = Sha256::hasher();
    io::copy(&mut file.take(seal.len), &mut hasher)?;
    let actual = hasher.digest().to_string();
    if actual != seal.sha256 {
        return Err(Reject::Digest {
            actual,
            sealed: seal.sha256.clone(),
        });
    }
    Ok(sys::identity(&meta))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Artifact,
    Seal,
    Temp,
}

impl FileKind {
    fn of(name: &str) -> Option<FileKind> {
        if name.starts_with(TEMP_PREFIX) {
            return Some(FileKind::Temp);
        }
        match Path::new(name).extension()?.to_str()? {
            ARTIFACT_EXT => Some(FileKind::Artifact),
            SEAL_EXT => Some(FileKind::Seal),
            _ => None,
        }
    }
}

struct CacheFile {
    path: PathBuf,
    kind: FileKind,
    len: u64,
}

impl CacheStats {
    fn add(&mut self, file: &CacheFile) {
        self.bytes += file.len;
        if file.kind == FileKind::Artifact {
            self.entries += 1;
        }
    }
}

/// The platform side: private directories and files, ownership, file identity.
#[cfg(unix)]
mod sys {
    use std::fs::{self, DirBuilder, File, OpenOptions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use super::CacheError;

    /// (device, inode): which file a path named.
    pub(super) type Identity = (u64, u64);

    pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)
    }

    pub(super) fn check_private_dir(dir: &Path) -> Result<(), CacheError> {
        let meta = fs::metadata(dir).map_err(|source| CacheError::Read {
            dir: dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(CacheError::NotADirectory {
                dir: dir.to_path_buf(),
            });
        }
        judge(dir, meta.uid(), meta.mode(), current_uid())
    }

    /// A directory is private when this user owns it and nobody else may write it.
    pub(super) fn judge(dir: &Path, owner: u32, mode: u32, uid: u32) -> Result<(), CacheError> {
        if owner != uid {
            return Err(CacheError::NotOwned {
                dir: dir.to_path_buf(),
                owner,
                uid,
            });
        }
        if mode & 0o022 != 0 {
            return Err(CacheError::Insecure {
                dir: dir.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
        Ok(())
    }

    fn current_uid() -> u32 {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() }
    }

    pub(super) fn create_private_file(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
    }

    pub(super) fn open_no_follow(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    }

    pub(super) fn identity(meta: &fs::Metadata) -> Identity {
        (meta.dev(), meta.ino())
    }

    pub(super) fn identity_at(path: &Path) -> io::Result<Identity> {
        fs::symlink_metadata(path).map(|meta| identity(&meta))
    }
}

/// Elsewhere the cache is never opened (no ownership check is possible), so the file
/// helpers are never reached.
#[cfg(not(unix))]
mod sys {
    use std::fs::{self, File};
    use std::io;
    use std::path::Path;

    use super::CacheError;

    pub(super) type Identity = ();

    pub(super) fn create_private_dir(_dir: &Path) -> io::Result<()> {
        Ok(())
    }

    pub(super) fn check_private_dir(_dir: &Path) -> Result<(), CacheError> {
        Err(CacheError::Unsupported)
    }

    pub(super) fn create_private_file(path: &Path) -> io::Result<File> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    }

    pub(super) fn open_no_follow(path: &Path) -> io::Result<File> {
        File::open(path)
    }

    pub(super) fn identity(_meta: &fs::Metadata) -> Identity {}

    pub(super) fn identity_at(_path: &Path) -> io::Result<Identity> {
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

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
        let a = crate::engine::new_engine(None).expect("engine");
        let b = crate::engine::new_engine(None).expect("engine");
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
    fn seal_round_trips_and_names_its_entry() {
        let key = Key("a-b".into());
        let seal = Seal::of(b"artifact");
        assert_eq!(Seal::parse(&seal.render(&key), &key).expect("parses"), seal);
        let other = Key("c-d".into());
        assert!(matches!(
            Seal::parse(&seal.render(&key), &other),
            Err(Reject::WrongKey)
        ));
        for bad in ["", "garbage", "airlock-artifact-v1 a-b zz 8", "v0 a-b 00 8"] {
            assert!(Seal::parse(bad, &key).is_err(), "{bad:?}");
        }
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
        let engine = crate::engine::new_engine(None).expect("engine");
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
