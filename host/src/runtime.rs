//! [`Runtime`]: the shared engine, linker, artifact cache and defaults that every plugin of
//! a host is loaded into, and the one compile path every load goes through (off the async
//! workers, under a time budget, through the cache). Cheap to clone; plugins keep it alive.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::cache::{ArtifactCache, CacheError};
use crate::context::{SessionLimits, Sessions};
use crate::digest::Sha256;
use crate::engine::{InstancePool, new_engine};
use crate::folder::Admitted;
use crate::manifest::Manifest;
use crate::plugin::{Candidate, Plugin};
use crate::policy::Policy;
use crate::store::InstanceState;
use crate::{Isolation, LimitTable, Limits, LoadError};

/// The runtime plugins are loaded into: one compilation engine, one linker with the host's
/// imports, and the default limits.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<InstanceState>,
    /// The interfaces the embedder linked itself ([`RuntimeBuilder::host_imports`]).
    pub(crate) host_imports: Vec<String>,
    pub(crate) default_limits: Limits,
    pub(crate) sessions: Sessions,
    pub(crate) pool: Option<InstancePool>,
    cache: Option<ArtifactCache>,
    compile_timeout: Duration,
}

/// Builds a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    default_limits: Limits,
    session_limits: SessionLimits,
    cache: CacheChoice,
    compile_timeout: Duration,
    /// `None`: sized from the default limits at build.
    pool: Option<Option<InstancePool>>,
    /// A policy's caps the pool must hold (see [`RuntimeBuilder::fit_policy`]).
    fit: Option<LimitTable>,
    /// The embedder's own imports ([`RuntimeBuilder::host_imports`]).
    host_imports: Vec<HostImports>,
}

/// Adds an embedder's imports to the linker.
type Link = dyn Fn(&mut Linker<InstanceState>) -> wasmtime::Result<()> + Send + Sync;

/// Interfaces an embedder links itself, and the function that links them.
#[derive(Clone)]
struct HostImports {
    interfaces: Vec<String>,
    link: Arc<Link>,
}

impl std::fmt::Debug for HostImports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostImports")
            .field("interfaces", &self.interfaces)
            .finish()
    }
}

/// Which artifact cache the runtime gets.
#[derive(Debug, Clone)]
enum CacheChoice {
    /// [`ArtifactCache::default_dir`], when it exists or can be created and is private.
    Default,
    /// The embedder's choice; `None` turns the cache off.
    Given(Option<ArtifactCache>),
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            default_limits: Limits::default(),
            session_limits: SessionLimits::default(),
            cache: CacheChoice::Default,
            compile_timeout: RuntimeBuilder::DEFAULT_COMPILE_TIMEOUT,
            pool: None,
            fit: None,
            host_imports: Vec::new(),
        }
    }
}

impl RuntimeBuilder {
    /// How long compiling one component may take unless [`RuntimeBuilder::compile_timeout`]
    /// says otherwise. Generous: a 12 MiB JavaScript component compiles in ~15 s.
    pub const DEFAULT_COMPILE_TIMEOUT: Duration = Duration::from_secs(60);

    /// Limits for plugins loaded without their own.
    pub fn default_limits(mut self, limits: Limits) -> Self {
        self.default_limits = limits;
        self
    }

    /// Lifetime and caps of session contexts.
    pub fn session_limits(mut self, limits: SessionLimits) -> Self {
        self.session_limits = limits;
        self
    }

    /// The compiled-artifact cache to load from and store into; `None` compiles every
    /// load. Default: the cache at [`ArtifactCache::default_dir`], if it is usable.
    pub fn cache(mut self, cache: Option<ArtifactCache>) -> Self {
        self.cache = CacheChoice::Given(cache);
        self
    }

    /// No compiled-artifact cache: every load compiles.
    pub fn no_cache(self) -> Self {
        self.cache(None)
    }

    /// How long compiling one component may take (default
    /// [`RuntimeBuilder::DEFAULT_COMPILE_TIMEOUT`]); past it the load fails with
    /// [`LoadError::CompileTimeout`]. A cache hit compiles nothing and takes milliseconds.
    pub fn compile_timeout(mut self, timeout: Duration) -> Self {
        self.compile_timeout = timeout;
        self
    }

    /// How instances are allocated: `Some` pool (the default, sized by
    /// [`InstancePool::for_memory`] from the default limits' memory cap) or `None` for
    /// wasmtime's on-demand allocator (each instance maps its own memory).
    pub fn instance_pool(mut self, pool: Option<InstancePool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Makes the instance pool's slots hold the largest memory cap `policy` allows (its
    /// `[limits] memory`, or the default limits' where it sets none), whatever the order of
    /// the builder calls.
    pub fn fit_policy(mut self, policy: &Policy) -> Self {
        self.fit = Some(policy.caps.clone());
        self
    }

    /// The pool the runtime gets: given or sized from the default limits, raised to fit the
    /// policy; refused when it cannot hold the default limits themselves.
    fn resolve_pool(&self) -> Result<Option<InstancePool>, LoadError> {
        let defaults = &self.default_limits;
        let mut pool = match &self.pool {
            Some(given) => given.clone(),
            None => Some(InstancePool::for_memory(defaults.memory_bytes)),
        };
        if let (Some(pool), Some(caps)) = (pool.as_mut(), &self.fit) {
            pool.memory_bytes = pool.memory_bytes.max(caps.over(defaults).memory_bytes);
        }
        if let Some((cap_kind, cap, slot)) = pool.as_ref().and_then(|p| p.shortfall(defaults)) {
            return Err(LoadError::Engine(format!(
                "the default limits allow {cap} {cap_kind}, more than the instance pool's \
                 slots hold ({slot})"
            )));
        }
        Ok(pool)
    }

    /// Adds the embedder's own imports for its WIT world (a host API: configuration,
    /// progress…) to the runtime's linker, next to Airlock's capabilities: `link` adds them
    /// (usually a `bindgen!`-generated `add_to_linker`, reaching per-instance state with
    /// [`InstanceState::host_state`]), and `interfaces` names what it provides
    /// (`fixture:typed/host-api`, with or without `@version`), so a component importing them
    /// is not refused for unknown imports. Components of any world loaded with
    /// [`Runtime::load_component`](crate::Runtime::load_component) may import them.
    pub fn host_imports(
        mut self,
        interfaces: &[&str],
        link: impl Fn(&mut Linker<InstanceState>) -> wasmtime::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.host_imports.push(HostImports {
            interfaces: interfaces.iter().map(|i| i.to_string()).collect(),
            link: Arc::new(link),
        });
        self
    }

    pub fn build(self) -> Result<Runtime, LoadError> {
        // Raises the soft descriptor limit (once per process) before any plugin opens files.
        crate::handles::process_budget();
        let (engine, pool) = new_engine(self.resolve_pool()?)?;
        let mut linker = Linker::new(&engine);
        let link_error = |e: wasmtime::Error| LoadError::Engine(format!("{e:#}"));
        crate::capabilities::link(&mut linker).map_err(link_error)?;
        for imports in &self.host_imports {
            (imports.link)(&mut linker).map_err(link_error)?;
        }
        let host_imports = self.host_imports.iter().flat_map(|i| i.interfaces.clone());
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                host_imports: host_imports.collect(),
                default_limits: self.default_limits,
                sessions: Sessions::new(self.session_limits),
                pool,
                cache: resolve_cache(self.cache),
                compile_timeout: self.compile_timeout,
            }),
        })
    }
}

/// The default cache if it can be used; without one every load compiles, which is slower
/// but just as correct, so this only logs.
fn resolve_cache(choice: CacheChoice) -> Option<ArtifactCache> {
    match choice {
        CacheChoice::Given(cache) => cache,
        CacheChoice::Default => match ArtifactCache::open_default() {
            Ok(cache) => Some(cache),
            Err(CacheError::NoDefaultDir) => {
                tracing::debug!("no compiled-artifact cache: {}", CacheError::NoDefaultDir);
                None
            }
            Err(e) => {
                tracing::warn!("compiled-artifact cache disabled: {e}");
                None
            }
        },
    }
}

/// How to load one plugin.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Limits for this plugin; the runtime's defaults when `None`.
    pub limits: Option<Limits>,
    /// The configuration passed to `init` (a JSON object).
    pub config: Value,
    /// Most instances that may run calls at once; further calls wait for one.
    pub max_instances: usize,
    /// Most idle instances kept warm between calls.
    pub max_idle: usize,
    /// State captured from another version (hot swap): every instance of this plugin gets
    /// it through `restore-state` right after `init`.
    pub state: Option<Vec<u8>>,
    /// After this many failures in a row (traps, limit hits, instances that cannot start)
    /// the plugin is marked failing and calls fail fast.
    pub failure_threshold: u32,
    /// How long a failing plugin's calls fail fast before one call is let through to try
    /// again (a circuit breaker's half-open state): its answer clears the mark, another
    /// failure starts the wait again. Default 30 s.
    pub failure_cooldown: std::time::Duration,
    /// Whether instances live across calls. A plugin folder's manifest may ask for
    /// `fresh`; the stricter of the two applies.
    pub isolation: Isolation,
    /// Whether the plugin keeps usage counters (calls, failures, latency, fuel, memory:
    /// [`Plugin::usage`](crate::Plugin::usage)). On by default; off only to measure what
    /// they cost (the benchmarks do).
    pub usage: bool,
    /// Where the host wants its own copy of the plugin's log records (a console's live
    /// tail); `None` by default. See [`crate::log_tap`].
    pub log_tap: Option<crate::log_tap::LogTap>,
    /// Makes each instance's state for the embedder's own imports
    /// ([`InstanceState::host_state`]); without it, that state starts as its `Default`.
    pub host_state: Option<crate::store::HostStateFactory>,
    /// How long a custom world's resource handle lives unused
    /// ([`crate::plugin::HANDLE_TTL`] by default).
    pub handle_ttl: std::time::Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            limits: None,
            config: Value::Object(Default::default()),
            max_instances: 16,
            max_idle: 4,
            state: None,
            failure_threshold: 5,
            failure_cooldown: std::time::Duration::from_secs(30),
            isolation: Isolation::Reuse,
            usage: true,
            log_tap: None,
            host_state: None,
            handle_ttl: crate::plugin::HANDLE_TTL,
        }
    }
}

impl LoadOptions {
    /// These options with other limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// These options with a configuration for `init`.
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// These options with a pool of at most `max_instances` instances, `max_idle` kept warm.
    pub fn pool(mut self, max_instances: usize, max_idle: usize) -> Self {
        self.max_instances = max_instances.max(1);
        self.max_idle = max_idle;
        self
    }

    /// These options with another time to live for unused resource handles.
    pub fn handle_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.handle_ttl = ttl;
        self
    }

    /// These options with another isolation mode.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// These options with another failure threshold and cool-down (see
    /// [`LoadOptions::failure_threshold`], [`LoadOptions::failure_cooldown`]).
    pub fn failures(mut self, threshold: u32, cooldown: std::time::Duration) -> Self {
        self.failure_threshold = threshold.max(1);
        self.failure_cooldown = cooldown;
        self
    }

    /// These options with state every instance restores after `init`.
    pub fn state(mut self, state: Option<Vec<u8>>) -> Self {
        self.state = state;
        self
    }

    /// These options with each instance's state for the embedder's imports made by `make`
    /// (see [`InstanceState::host_state`]).
    pub fn host_state<T: std::any::Any + Send>(
        mut self,
        make: impl Fn() -> T + Send + Sync + 'static,
    ) -> Self {
        self.host_state = Some(crate::store::HostStateFactory(Arc::new(move || {
            Box::new(make()) as Box<dyn std::any::Any + Send>
        })));
        self
    }

    /// These options with a copy of every log record the plugin writes sent to `tap`.
    pub fn log_tap(mut self, tap: crate::log_tap::LogTap) -> Self {
        self.log_tap = Some(tap);
        self
    }
}

impl Runtime {
    /// A runtime with default limits.
    pub fn new() -> Result<Runtime, LoadError> {
        Runtime::builder().build()
    }

    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The limits plugins get unless loaded with their own.
    pub fn default_limits(&self) -> &Limits {
        &self.inner.default_limits
    }

    /// The session contexts plugins share with the host application.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// The compilation engine (for embedders that precompile or inspect components).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The instance pool, when instances come from one: the one asked for, or the
    /// bounds-checked fallback when its guard-page slots could not be reserved.
    pub fn instance_pool(&self) -> Option<&InstancePool> {
        self.inner.pool.as_ref()
    }

    /// The compiled-artifact cache loads go through, if any.
    pub fn cache(&self) -> Option<&ArtifactCache> {
        self.inner.cache.as_ref()
    }

    /// How long compiling one component may take.
    pub fn compile_timeout(&self) -> Duration {
        self.inner.compile_timeout
    }

    /// Loads a plugin component from a file.
    pub async fn load_file(
        &self,
        path: impl AsRef<Path>,
        options: LoadOptions,
    ) -> Result<Plugin, LoadError> {
        let path = path.as_ref();
        let what = path.display().to_string();
        let file = read_component_digested(path).await?;
        let component = self.compile_file(file, &what).await?;
        let candidate = Candidate::bare(self, component, &what, &options)?;
        Plugin::start(self.clone(), candidate, options).await
    }

    /// Loads a plugin component from bytes; `what` names it in errors (a path, a URL).
    pub async fn load_bytes(
        &self,
        bytes: Vec<u8>,
        what: &str,
        options: LoadOptions,
    ) -> Result<Plugin, LoadError> {
        let component = self.compile(bytes, None, what).await?;
        let candidate = Candidate::bare(self, component, what, &options)?;
        Plugin::start(self.clone(), candidate, options).await
    }

    /// Compiles `bytes` (or loads them from the artifact cache) on a blocking thread, so
    /// calls to other plugins keep running, within the compile budget. Past the budget the
    /// caller gets [`LoadError::CompileTimeout`] at once; wasmtime cannot stop a compilation
    /// midway, so the thread finishes it and its result is dropped, not cached. `digest`:
    /// the bytes' SHA-256 when the caller has it already (a folder load), so they are
    /// hashed once.
    pub async fn compile(
        &self,
        bytes: Vec<u8>,
        digest: Option<Sha256>,
        what: &str,
    ) -> Result<Component, LoadError> {
        self.within_compile_budget(what, move |job| job.bytes(&bytes, digest))
            .await
    }

    /// [`Runtime::compile`] for a component file: a file whose digest is known and whose
    /// artifact is cached is never read.
    pub(crate) async fn compile_file(
        &self,
        file: ComponentFile,
        what: &str,
    ) -> Result<Component, LoadError> {
        self.within_compile_budget(what, move |job| {
            let digest = file.digest;
            if file.bytes.is_none()
                && let Some(cache) = job.cache
            {
                let key = crate::cache::Key::of(job.engine, &digest);
                if let Some(component) = cache.load(job.engine, &key) {
                    return Ok(component);
                }
                let bytes = file.bytes()?;
                let missed = crate::component::compile_missed;
                return missed(job.engine, cache, &key, &bytes, job.what, job.abandoned);
            }
            job.bytes(&file.bytes()?, Some(digest))
        })
        .await
    }

    /// Runs `job` on a blocking thread within the compile budget. Past the budget the caller
    /// gets [`LoadError::CompileTimeout`] at once; the job's `abandoned` flag is set, so what
    /// it finishes is not cached.
    async fn within_compile_budget(
        &self,
        what: &str,
        job: impl FnOnce(Compiling<'_>) -> Result<Component, LoadError> + Send + 'static,
    ) -> Result<Component, LoadError> {
        let (engine, cache, label) = (
            self.inner.engine.clone(),
            self.inner.cache.clone(),
            what.to_string(),
        );
        let abandoned = Arc::new(AtomicBool::new(false));
        let gave_up = abandoned.clone();
        let task = tokio::task::spawn_blocking(move || {
            job(Compiling {
                engine: &engine,
                cache: cache.as_ref(),
                what: &label,
                abandoned: &gave_up,
            })
        });
        let budget = self.inner.compile_timeout;
        match tokio::time::timeout(budget, task).await {
            Ok(joined) => {
                joined.map_err(|e| LoadError::Engine(format!("compilation task failed: {e}")))?
            }
            Err(_elapsed) => {
                abandoned.store(true, Ordering::Relaxed);
                Err(LoadError::CompileTimeout {
                    what: what.to_string(),
                    budget,
                })
            }
        }
    }

    /// Loads the plugin folder at `path` (a folder or its `airlock.toml`) under `policy`:
    /// manifest, integrity pin, import audit, capabilities granted as requested ∩ allowed,
    /// limits as requested, capped by the policy, configuration checked against the
    /// manifest's `[config]` schema. `options.limits` is ignored here.
    pub async fn load_dir(
        &self,
        path: impl AsRef<Path>,
        policy: &Policy,
        options: LoadOptions,
    ) -> Result<Plugin, LoadError> {
        self.load_folder(path.as_ref(), policy, options)
            .await
            .map(|(plugin, _)| plugin)
    }

    /// [`Runtime::load_dir`], also handing back the manifest it loaded by (the registry
    /// keeps its hook priority and dependencies).
    pub async fn load_folder(
        &self,
        path: &Path,
        policy: &Policy,
        options: LoadOptions,
    ) -> Result<(Plugin, Manifest), LoadError> {
        let review = crate::folder::review_config(self, path, policy, &options.config).await;
        self.start(review.admit()?, options).await
    }

    /// Starts an admitted plugin folder ([`crate::folder::Review::admit`]): nothing it was
    /// admitted on is checked again. Its isolation is the stricter of the manifest's and
    /// `options`'; from `options`, the pool sizes, failure threshold and state apply (the
    /// limits and configuration are the admitted ones).
    pub async fn start(
        &self,
        admitted: Admitted,
        options: LoadOptions,
    ) -> Result<(Plugin, Manifest), LoadError> {
        let Admitted {
            manifest,
            candidate,
        } = admitted;
        let options = LoadOptions {
            isolation: options.isolation.stricter(manifest.plugin.isolation),
            ..options
        };
        let plugin = Plugin::start(self.clone(), candidate, options).await?;
        Ok((plugin, manifest))
    }

    /// Whether the embedder linked `import` itself ([`RuntimeBuilder::host_imports`]):
    /// `pkg:name/interface@1.0.0` matches a name given with or without its version.
    pub(crate) fn provides(&self, import: &str) -> bool {
        let unversioned = import.split('@').next().unwrap_or(import);
        let names = &self.inner.host_imports;
        names
            .iter()
            .any(|name| name == import || name == unversioned)
    }

    pub(crate) fn inner(&self) -> &RuntimeInner {
        &self.inner
    }
}

/// A component file on disk: its SHA-256 and, unless the digest came from the process's
/// memo, its bytes. A file whose digest is known is read only if its artifact is not
/// cached ([`Runtime::compile_file`]): a cached load of an 18 MB component reads nothing
/// but the artifact.
pub(crate) struct ComponentFile {
    pub(crate) path: std::path::PathBuf,
    pub(crate) digest: Sha256,
    bytes: Option<Vec<u8>>,
}

/// Looks at the component file at `path` on a blocking thread: its digest from the
/// process's memo when the file is unchanged since it was last hashed (same device, inode,
/// size and change time: [`crate::digest::known`]), else read and hashed;
/// [`LoadError::Read`] when it cannot be read.
pub(crate) async fn read_component_digested(path: &Path) -> Result<ComponentFile, LoadError> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || {
        let meta = std::fs::metadata(&owned)?;
        if let Some(digest) = crate::digest::known(&meta) {
            return Ok(ComponentFile {
                path: owned,
                digest,
                bytes: None,
            });
        }
        let (bytes, digest) = read_hashed(&owned)?;
        Ok(ComponentFile {
            path: owned,
            digest,
            bytes: Some(bytes),
        })
    });
    read.await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        .map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads `path` whole (one blocking read: tokio's file API would move every few KiB through
/// a blocking task of its own) and hashes it ([`crate::digest::of_file`]).
fn read_hashed(path: &Path) -> std::io::Result<(Vec<u8>, Sha256)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let before = file.metadata()?;
    let mut bytes = Vec::with_capacity(before.len() as usize);
    file.read_to_end(&mut bytes)?;
    let after = file.metadata()?;
    let digest = crate::digest::of_file(&bytes, &before, &after);
    Ok((bytes, digest))
}

/// What a compilation job runs with, on its blocking thread.
struct Compiling<'a> {
    engine: &'a Engine,
    cache: Option<&'a ArtifactCache>,
    what: &'a str,
    /// Set when the caller gave up waiting: what the job finishes is not cached.
    abandoned: &'a AtomicBool,
}

impl Compiling<'_> {
    /// Compiles `bytes`, or loads their artifact from the cache ([`crate::component::compile_cached`]).
    fn bytes(&self, bytes: &[u8], digest: Option<Sha256>) -> Result<Component, LoadError> {
        let source = crate::component::Source {
            bytes,
            digest,
            what: self.what,
        };
        crate::component::compile_cached(self.engine, self.cache, source, self.abandoned)
    }
}

impl ComponentFile {
    /// The bytes, read now if they were not: they must still be those `digest` names (a
    /// file replaced since its digest was taken is refused, not compiled unchecked).
    fn bytes(self) -> Result<Vec<u8>, LoadError> {
        if let Some(bytes) = self.bytes {
            return Ok(bytes);
        }
        let failed = |source| LoadError::Read {
            path: self.path.clone(),
            source,
        };
        let (bytes, digest) = read_hashed(&self.path).map_err(failed)?;
        if digest != self.digest {
            let changed = std::io::Error::other("the file changed while it was being loaded");
            return Err(failed(changed));
        }
        Ok(bytes)
    }
}
