//! [`Runtime`]: the shared engine, linker and defaults that every plugin of a host is loaded
//! into. Cheap to clone; plugins keep it alive.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::capabilities::Grant;
use crate::context::{SessionLimits, Sessions};
use crate::engine::{EpochTicker, new_engine};
use crate::manifest::Manifest;
use crate::plugin::Plugin;
use crate::policy::Policy;
use crate::store::InstanceState;
use crate::{Limits, LoadError};

/// The runtime plugins are loaded into: one compilation engine, one linker with the host's
/// imports, the epoch ticker, and the default limits.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<InstanceState>,
    pub(crate) default_limits: Limits,
    pub(crate) sessions: Sessions,
    _ticker: EpochTicker,
}

/// Builds a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    default_limits: Limits,
    session_limits: SessionLimits,
}

impl RuntimeBuilder {
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

    pub fn build(self) -> Result<Runtime, LoadError> {
        let engine = new_engine()?;
        let mut linker = Linker::new(&engine);
        let link_error = |e: wasmtime::Error| LoadError::Engine(format!("{e:#}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_error)?;
        crate::bindings::airlock::plugin::host::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(link_error)?;
        crate::bindings::airlock::plugin::context::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |s| s,
        )
        .map_err(link_error)?;
        crate::bindings::airlock::plugin::exec::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(link_error)?;
        let ticker = EpochTicker::start(&engine);
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                default_limits: self.default_limits,
                sessions: Sessions::new(self.session_limits),
                _ticker: ticker,
            }),
        })
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

    /// These options with state every instance restores after `init`.
    pub fn state(mut self, state: Option<Vec<u8>>) -> Self {
        self.state = state;
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

    /// Loads a plugin component from a file.
    pub async fn load_file(
        &self,
        path: impl AsRef<Path>,
        options: LoadOptions,
    ) -> Result<Plugin, LoadError> {
        let path = path.as_ref();
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        self.load_bytes(bytes, &path.display().to_string(), options)
            .await
    }

    /// Loads a plugin component from bytes; `what` names it in errors (a path, a URL).
    pub async fn load_bytes(
        &self,
        bytes: Vec<u8>,
        what: &str,
        options: LoadOptions,
    ) -> Result<Plugin, LoadError> {
        let engine = self.inner.engine.clone();
        let label = what.to_string();
        // Compiling is CPU-heavy: keep it off the async workers so other plugins' calls run.
        let component =
            tokio::task::spawn_blocking(move || crate::component::compile(&engine, &bytes, &label))
                .await
                .map_err(|e| LoadError::Engine(format!("compilation task failed: {e}")))??;
        Plugin::start(self.clone(), component, what, options, Grant::none(), None).await
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

    /// [`Runtime::load_dir`], also handing back the manifest it loaded by.
    pub(crate) async fn load_folder(
        &self,
        path: &Path,
        policy: &Policy,
        options: LoadOptions,
    ) -> Result<(Plugin, Manifest), LoadError> {
        let review = crate::folder::review(self, path, policy).await;
        let parts = crate::folder::into_parts(review)?;
        let manifest = parts.manifest;
        let config = crate::folder::check_config(
            &manifest.plugin.name,
            parts.config_schema.as_ref(),
            &options.config,
        )?;
        let options = LoadOptions {
            limits: Some(parts.limits),
            config,
            ..options
        };
        let expected = Some(manifest.plugin.name.as_str());
        let plugin = Plugin::start(
            self.clone(),
            parts.component,
            &parts.what,
            options,
            parts.grant,
            expected,
        )
        .await?;
        Ok((plugin, manifest))
    }

    pub(crate) fn inner(&self) -> &RuntimeInner {
        &self.inner
    }
}
