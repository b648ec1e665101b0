//! The plugin registry: plugins installed once (a folder each), enabled or disabled per
//! tenant with that tenant's configuration, persisted in SQLite ([`db`]) so a restart
//! restores exactly what was enabled.
//!
//! Every enabled (tenant, plugin) pair is its own loaded [`Plugin`]: tenants never share
//! instances, configuration or state. Calls and hook dispatches go through the registry,
//! which always routes them to the current version: a reload ([`reload`]) swaps the version
//! atomically and calls that had not started yet are routed again, so none fails.

mod db;
mod reload;
mod resolve;
mod tokens;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::manifest::ManifestError;
use crate::pipeline::Dispatch;
use crate::plugin::PluginState;
use crate::policy::Policy;
use crate::{
    CallContext, CallError, Catalog, Health, HookKind, LoadError, LoadOptions, Pipeline, Plugin,
    Runtime,
};

pub use db::{Installed, Registration};
pub use reload::ReloadOutcome;
pub use tokens::{Role, TokenHolder, TokenInfo};
pub use watch::Watcher;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A write found no room (SQLite's `SQLITE_FULL`): nothing of it was stored.
    #[error(
        "the registry database {} cannot be written: the disk is full (nothing was changed; \
         free some space and retry)",
        path.display()
    )]
    DiskFull { path: PathBuf },
    #[error("registry database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin `{0}` is not installed")]
    NotInstalled(String),
    #[error(
        "plugin `{0}` is not installed and not on the plugin search path; install its folder \
         first (`airlock plugins install DIR`, JSON-RPC `plugin/load`)"
    )]
    NotFound(String),
    #[error("plugin `{plugin}` is not enabled for tenant `{tenant}`")]
    NotEnabled { tenant: String, plugin: String },
    #[error("plugin `{plugin}` needs `{dependency}` {required} enabled for tenant `{tenant}`; {}",
        found.as_ref().map_or("it is not enabled".to_string(), |v| format!("version {v} is")))]
    MissingDependency {
        tenant: String,
        plugin: String,
        dependency: String,
        required: String,
        found: Option<String>,
    },
    #[error("plugin `{plugin}` is needed by {} (tenant `{tenant}`); disable those first", dependents.join(", "))]
    DependedOn {
        tenant: String,
        plugin: String,
        dependents: Vec<String>,
    },
    #[error(
        "version {version} of `{plugin}` does not satisfy `{dependent}`, which needs {required} (tenant `{tenant}`)"
    )]
    BreaksDependent {
        tenant: String,
        plugin: String,
        version: String,
        dependent: String,
        required: String,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("cannot watch plugin folders: {0}")]
    Watch(String),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("no token matches `{0}` (give at least 8 characters of a token id from `token list`)")]
    NoSuchToken(String),
    #[error("`{prefix}` matches {count} tokens; give more of the id")]
    AmbiguousToken { prefix: String, count: usize },
}

/// Something that changed in the registry, for hosts that follow along (an MCP server
/// announcing a new tool list, a dashboard).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RegistryEvent {
    /// A plugin folder was installed (or installed again, e.g. at a new place).
    Installed {
        plugin: String,
        version: String,
        dir: PathBuf,
    },
    Enabled {
        tenant: String,
        plugin: String,
        version: String,
    },
    Disabled {
        tenant: String,
        plugin: String,
    },
    Reloaded {
        tenant: String,
        plugin: String,
        from: Option<String>,
        to: String,
    },
    ReloadFailed {
        tenant: String,
        plugin: String,
        reason: String,
    },
}

/// A plugin's state and, when it takes calls, its own health report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginHealth {
    pub tenant: String,
    pub plugin: String,
    pub version: String,
    #[serde(flatten)]
    pub state: PluginState,
    /// What the plugin's `health` export said.
    pub report: Option<Health>,
    /// Why the health poll itself failed.
    pub error: Option<String>,
}

/// One enabled (tenant, plugin): the current version and where it runs in hook chains.
struct Live {
    plugin: Plugin,
    priority: i32,
}

type Key = (String, String);

pub struct Registry {
    /// The database file, named in errors.
    path: PathBuf,
    runtime: Runtime,
    policy: Policy,
    pool: (usize, usize),
    db: Mutex<db::Db>,
    live: RwLock<HashMap<Key, Arc<Live>>>,
    /// Serialises changes (enable, disable, config, reload) so dependency checks and
    /// swaps never interleave. Calls never take it.
    changes: tokio::sync::Mutex<()>,
    events: broadcast::Sender<RegistryEvent>,
}

fn key(tenant: &str, plugin: &str) -> Key {
    (tenant.to_string(), plugin.to_string())
}

impl Registry {
    /// `$XDG_DATA_HOME/airlock/registry.db` (default `~/.local/share/airlock/registry.db`).
    pub fn default_path() -> PathBuf {
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        data.join("airlock/registry.db")
    }

    /// Opens (or creates) the registry database at `path`.
    pub fn open(path: &Path, runtime: Runtime, policy: Policy) -> Result<Registry, RegistryError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| RegistryError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let defaults = LoadOptions::default();
        Ok(Registry {
            path: path.to_path_buf(),
            runtime,
            policy,
            pool: (defaults.max_instances, defaults.max_idle),
            db: Mutex::new(db::Db::open(path)?),
            live: RwLock::default(),
            changes: tokio::sync::Mutex::new(()),
            events: broadcast::channel(256).0,
        })
    }

    /// Runs each enabled plugin on at most `max_instances` instances, `max_idle` kept warm.
    pub fn with_pool(mut self, max_instances: usize, max_idle: usize) -> Self {
        self.pool = (max_instances.max(1), max_idle);
        self
    }

    /// Follows the registry's changes from now on.
    pub fn events(&self) -> broadcast::Receiver<RegistryEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: RegistryEvent) {
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    fn db(&self) -> std::sync::MutexGuard<'_, db::Db> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The error of a failed database write: a full disk is named as such, with the file,
    /// since that is what the operator has to act on.
    fn write_failed(&self, error: rusqlite::Error) -> RegistryError {
        match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => RegistryError::DiskFull {
                path: self.path.clone(),
            },
            _ => RegistryError::Db(error),
        }
    }

    /// Installs (or updates) the plugin folder at `dir`; returns the plugin's name.
    pub fn install(&self, dir: &Path) -> Result<String, RegistryError> {
        self.install_recorded(dir, None)
    }

    /// Installs `dir` and records its `source` (`(reference, digest)`, `None` for a local
    /// folder) in the same transaction, so a listing never shows a pulled folder as local.
    fn install_recorded(
        &self,
        dir: &Path,
        source: Option<(&str, &str)>,
    ) -> Result<String, RegistryError> {
        let manifest = crate::manifest::Manifest::from_dir(dir)?;
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        self.db()
            .install(&manifest, &dir, source)
            .map_err(|e| self.write_failed(e))?;
        self.emit(RegistryEvent::Installed {
            plugin: manifest.plugin.name.clone(),
            version: manifest.plugin.version.to_string(),
            dir,
        });
        Ok(manifest.plugin.name)
    }

    /// Installs the plugin folder at `dir`, pulled from `reference` (`oci://…`) which
    /// resolved to the OCI manifest `digest`; both are recorded and listed. Loads use the
    /// folder, so a tag that moves later changes nothing until the next install.
    pub fn install_from(
        &self,
        dir: &Path,
        reference: &str,
        digest: &str,
    ) -> Result<String, RegistryError> {
        self.install_recorded(dir, Some((reference, digest)))
    }

    /// The policy plugins are loaded under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Installed plugins, by name.
    pub fn installed(&self) -> Result<Vec<Installed>, RegistryError> {
        Ok(self.db().installed(None)?)
    }

    fn installed_dir(&self, name: &str) -> Result<PathBuf, RegistryError> {
        let installed = self.db().installed(Some(name))?;
        installed
            .into_iter()
            .next()
            .map(|i| i.dir)
            .ok_or_else(|| RegistryError::NotInstalled(name.to_string()))
    }

    /// Enables `name` for `tenant` with `config`: checks its dependencies, loads it
    /// (manifest, policy, config schema, `init`) and, only once that succeeded, records the
    /// registration. Enabling an enabled plugin again restarts it with the new config.
    pub async fn enable(
        &self,
        tenant: &str,
        name: &str,
        config: Value,
    ) -> Result<Plugin, RegistryError> {
        let _changes = self.changes.lock().await;
        let dir = self.installed_dir(name)?;
        self.check_dependencies(tenant, name)?;
        let stored = self.db().registration(tenant, name)?;
        let plugin = self.swap(tenant, name, &dir, config.clone()).await?;
        let version = plugin.metadata().version.to_string();
        let written = self.db().enable(tenant, name, &version, &config);
        if let Err(e) = written {
            let previous = stored.filter(|r| r.enabled).map(|r| r.config);
            self.undo_swap(tenant, name, &dir, previous).await;
            return Err(self.write_failed(e));
        }
        self.emit(RegistryEvent::Enabled {
            tenant: tenant.into(),
            plugin: name.into(),
            version,
        });
        Ok(plugin)
    }

    /// Disables `name` for `tenant`: refused while other enabled plugins depend on it;
    /// otherwise recorded, then its instances are shut down.
    pub async fn disable(&self, tenant: &str, name: &str) -> Result<(), RegistryError> {
        let _changes = self.changes.lock().await;
        let dependents = self.db().dependents(tenant, name)?;
        if !dependents.is_empty() {
            return Err(RegistryError::DependedOn {
                tenant: tenant.into(),
                plugin: name.into(),
                dependents,
            });
        }
        self.db()
            .disable(tenant, name)
            .map_err(|e| self.write_failed(e))?;
        let live = self.live_map_mut().remove(&key(tenant, name));
        if let Some(live) = live {
            live.plugin.shutdown().await;
        }
        self.emit(RegistryEvent::Disabled {
            tenant: tenant.into(),
            plugin: name.into(),
        });
        Ok(())
    }

    /// The configuration stored for `tenant`'s registration of `name`, as given.
    pub fn config(&self, tenant: &str, name: &str) -> Result<Value, RegistryError> {
        Ok(self.registration(tenant, name)?.config)
    }

    /// Replaces `tenant`'s configuration of `name`. It is checked against the manifest's
    /// schema first; an enabled plugin is restarted with it (state carried over) before it
    /// is stored, so a configuration its `init` refuses is never recorded.
    pub async fn set_config(
        &self,
        tenant: &str,
        name: &str,
        config: Value,
    ) -> Result<(), RegistryError> {
        let _changes = self.changes.lock().await;
        let registration = self.registration(tenant, name)?;
        let dir = self.installed_dir(name)?;
        let version = match registration.enabled {
            true => {
                let plugin = self.swap(tenant, name, &dir, config.clone()).await?;
                plugin.metadata().version.to_string()
            }
            false => {
                crate::folder::checked_config(&dir, &config)?;
                registration.version
            }
        };
        let written = self.db().set_config(tenant, name, &version, &config);
        if let Err(e) = written {
            if registration.enabled {
                self.undo_swap(tenant, name, &dir, Some(registration.config))
                    .await;
            }
            return Err(self.write_failed(e));
        }
        Ok(())
    }

    /// After a swap whose database write failed (a full disk): serves what the database
    /// holds again, so a change reported as failed has no effect. `previous` is the stored
    /// configuration of an enabled registration; `None` stops the plugin.
    async fn undo_swap(&self, tenant: &str, name: &str, dir: &Path, previous: Option<Value>) {
        match previous {
            Some(config) => {
                if let Err(e) = self.swap(tenant, name, dir, config).await {
                    tracing::warn!(
                        tenant,
                        plugin = name,
                        "cannot restore the stored version: {e}"
                    );
                }
            }
            None => {
                let live = self.live_map_mut().remove(&key(tenant, name));
                if let Some(live) = live {
                    live.plugin.shutdown().await;
                }
            }
        }
    }

    fn registration(&self, tenant: &str, name: &str) -> Result<Registration, RegistryError> {
        self.db()
            .registration(tenant, name)?
            .ok_or_else(|| RegistryError::NotEnabled {
                tenant: tenant.into(),
                plugin: name.into(),
            })
    }

    /// Stored registrations, of one tenant or of all.
    pub fn registrations(&self, tenant: Option<&str>) -> Result<Vec<Registration>, RegistryError> {
        Ok(self.db().registrations(tenant, None)?)
    }

    /// After a restart: loads every enabled registration with its stored configuration.
    /// Failures are returned (and logged) and never stop the others.
    pub async fn restore(&self) -> Result<Vec<(Registration, RegistryError)>, RegistryError> {
        let _changes = self.changes.lock().await;
        let mut failures = Vec::new();
        for registration in self.registrations(None)?.into_iter().filter(|r| r.enabled) {
            // A restart changes nothing stored: start, do not re-record.
            if let Err(error) = self.start_registered(&registration).await {
                tracing::warn!(
                    tenant = registration.tenant,
                    plugin = registration.plugin,
                    "not restored: {error}"
                );
                failures.push((registration, error));
            }
        }
        Ok(failures)
    }

    async fn start_registered(&self, registration: &Registration) -> Result<Plugin, RegistryError> {
        let dir = self.installed_dir(&registration.plugin)?;
        let config = registration.config.clone();
        self.swap(&registration.tenant, &registration.plugin, &dir, config)
            .await
    }

    /// The plugins enabled for `tenant`, by name.
    pub fn plugins(&self, tenant: &str) -> Vec<Plugin> {
        let mut plugins: Vec<Plugin> = self
            .live_of(tenant)
            .into_iter()
            .map(|l| l.plugin.clone())
            .collect();
        plugins.sort_by(|a, b| a.name().cmp(b.name()));
        plugins
    }

    /// The current version of `name` for `tenant`, when enabled.
    pub fn plugin(&self, tenant: &str, name: &str) -> Option<Plugin> {
        self.live_map()
            .get(&key(tenant, name))
            .map(|l| l.plugin.clone())
    }

    /// The namespaced tools of `tenant`'s enabled plugins.
    pub fn catalog(&self, tenant: &str) -> Catalog {
        Catalog::new(self.plugins(tenant))
    }

    /// Calls the namespaced tool `plugin.tool` for `context.tenant`, on the current version.
    /// A call that reached a version being swapped out before it started is routed to the
    /// new one (nothing ran yet, so nothing runs twice).
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Value, CallError> {
        let tenant = &context.tenant;
        let unknown = || CallError::UnknownTool {
            plugin: name.split_once('.').map_or(name, |(p, _)| p).to_string(),
            tool: name.to_string(),
            available: self
                .catalog(tenant)
                .entries()
                .into_iter()
                .map(|e| e.name)
                .collect(),
        };
        let (plugin_name, tool) = name.split_once('.').ok_or_else(unknown)?;
        loop {
            let plugin = self.plugin(tenant, plugin_name).ok_or_else(unknown)?;
            match plugin.call_tool(tool, arguments, context).await {
                Err(CallError::ShutDown { .. }) if self.replaced(tenant, &plugin) => continue,
                result => return result,
            }
        }
    }

    /// True when `plugin` is no longer the live version for `tenant` but another one is.
    fn replaced(&self, tenant: &str, plugin: &Plugin) -> bool {
        self.plugin(tenant, plugin.name())
            .is_some_and(|current| !current.same_as(plugin))
    }

    /// Runs `payload` through `context.tenant`'s enabled plugins subscribed to `kind`, in
    /// manifest `[hooks] priority` order (then name); the policy's `[hooks] fail-closed`
    /// kinds stop at a failing plugin, the others go on.
    pub async fn dispatch(
        &self,
        kind: &HookKind,
        payload: Value,
        context: &CallContext,
    ) -> Dispatch {
        let mut pipeline = Pipeline::new();
        for live in self.live_of(&context.tenant) {
            pipeline.add(live.plugin.clone(), live.priority);
        }
        for closed in &self.policy.fail_closed {
            pipeline.fail_closed(closed.clone());
        }
        let tenant = &context.tenant;
        let successor = |old: &Plugin| {
            self.plugin(tenant, old.name())
                .filter(|current| !current.same_as(old))
        };
        pipeline
            .dispatch_rerouted(kind, payload, context, &successor)
            .await
    }

    /// Polls `name`'s health for `tenant`, starting it from its registration when this
    /// process has not yet.
    pub async fn health(&self, tenant: &str, name: &str) -> Result<PluginHealth, RegistryError> {
        let plugin = match self.plugin(tenant, name) {
            Some(plugin) => plugin,
            None => {
                let registration = self.registration(tenant, name)?;
                if !registration.enabled {
                    return Err(RegistryError::NotEnabled {
                        tenant: tenant.into(),
                        plugin: name.into(),
                    });
                }
                let _changes = self.changes.lock().await;
                self.start_registered(&registration).await?
            }
        };
        let (report, error) = match plugin.health().await {
            Ok(report) => (Some(report), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Ok(PluginHealth {
            tenant: tenant.into(),
            plugin: name.into(),
            version: plugin.metadata().version.to_string(),
            state: plugin.state(),
            report,
            error,
        })
    }

    /// Each dependency `name` declared must be enabled for `tenant` at a matching version.
    fn check_dependencies(&self, tenant: &str, name: &str) -> Result<(), RegistryError> {
        let db = self.db();
        for (dependency, required) in db.dependencies(name)? {
            let found = db.enabled_version(tenant, &dependency)?;
            let matches = found
                .as_deref()
                .is_some_and(|v| version_matches(v, &required));
            if !matches {
                return Err(RegistryError::MissingDependency {
                    tenant: tenant.into(),
                    plugin: name.into(),
                    dependency,
                    required,
                    found,
                });
            }
        }
        Ok(())
    }

    /// Every plugin enabled for `tenant` that depends on `name` must accept `version`.
    fn check_dependents(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
    ) -> Result<(), RegistryError> {
        let db = self.db();
        for dependent in db.dependents(tenant, name)? {
            let required = db
                .dependencies(&dependent)?
                .into_iter()
                .find(|(d, _)| d == name);
            if let Some((_, required)) = required.filter(|(_, r)| !version_matches(version, r)) {
                return Err(RegistryError::BreaksDependent {
                    tenant: tenant.into(),
                    plugin: name.into(),
                    version: version.into(),
                    dependent,
                    required,
                });
            }
        }
        Ok(())
    }

    fn options(&self, config: Value) -> LoadOptions {
        LoadOptions::default()
            .config(config)
            .pool(self.pool.0, self.pool.1)
    }

    fn live_of(&self, tenant: &str) -> Vec<Arc<Live>> {
        self.live_map()
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, l)| l.clone())
            .collect()
    }

    fn live_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, Arc<Live>>> {
        self.live.read().unwrap_or_else(|e| e.into_inner())
    }

    fn live_map_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Key, Arc<Live>>> {
        self.live.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn version_matches(version: &str, requirement: &str) -> bool {
    match (
        semver::Version::parse(version),
        semver::VersionReq::parse(requirement),
    ) {
        (Ok(v), Ok(r)) => r.matches(&v),
        _ => false,
    }
}
