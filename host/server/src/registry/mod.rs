//! The plugin registry: plugins installed once (a folder each), enabled or disabled per
//! tenant with that tenant's configuration, persisted ([`store`]: one SQLite file, or one
//! PostgreSQL database shared by many hosts) so a restart restores exactly what was enabled.
//!
//! Every enabled (tenant, plugin) pair is its own loaded [`Plugin`]: tenants never share
//! instances, configuration or state. Calls and hook dispatches go through the registry,
//! which always routes them to the current version: a reload ([`reload`]) swaps the version
//! atomically and calls that had not started yet are routed again, so none fails.
//!
//! This file: the registry itself and installing folders. `tenants.rs`: enabling, disabling
//! and configuring per tenant, restoring after a restart. `routing.rs`: calls, hook
//! dispatch and health, always to the current version. `dependencies.rs`: what a plugin
//! needs enabled beside it. `errors.rs`: [`RegistryError`]. `follow.rs`: applying changes
//! other processes or hosts made.

mod dependencies;
mod errors;
mod follow;
pub mod log_tail;
mod reload;
mod resolve;
mod routing;
pub mod store;
mod tenants;
mod tokens;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use tokio::sync::broadcast;

use airlock::plugin::PluginState;
use airlock::policy::Policy;
use airlock::{Health, LoadOptions, Plugin, Runtime};

pub use errors::RegistryError;
pub use follow::{FOLLOW_EVERY, Follower};
pub use reload::ReloadOutcome;
pub use store::{Installed, Registration, StoreError, is_postgres, redacted};
pub use tokens::{Role, TokenHolder, TokenInfo};
pub use watch::Watcher;

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
    /// The tenant's tool filter for the plugin changed ([`Registry::set_tools`]).
    ToolsChanged {
        tenant: String,
        plugin: String,
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
    /// What this version's calls have cost in this process since it started (App Factory's
    /// `latency_ms` and `memory_mb` among them).
    pub usage: airlock::plugin::UsageReport,
    /// How often this process replaced the running version of this registration (a
    /// reload, a new configuration, a reset) since it started serving it.
    pub reloads: u64,
}

/// One enabled (tenant, plugin): the current version and where it runs in hook chains.
struct Live {
    plugin: Plugin,
    priority: i32,
    /// Which of its tools the tenant sees and may call.
    tools: airlock::ToolFilter,
}

type Key = (String, String);

pub struct Registry {
    runtime: Runtime,
    policy: Policy,
    pool: (usize, usize),
    store: Box<dyn store::Store>,
    live: RwLock<HashMap<Key, Arc<Live>>>,
    /// Serialises changes (enable, disable, config, reload) so dependency checks and
    /// swaps never interleave. Calls never take it.
    changes: tokio::sync::Mutex<()>,
    events: broadcast::Sender<RegistryEvent>,
    /// What of the database this process serves (see [`follow`]).
    applied: Mutex<follow::Applied>,
    /// Where plugins installed on another host (from an OCI registry) are pulled to.
    artifacts: PathBuf,
    /// Version swaps per registration since this process started (see
    /// [`PluginHealth::reloads`]).
    reloads: Mutex<HashMap<Key, u64>>,
    /// Tokens looked up while following the database (`None`: not following).
    known_tokens: Mutex<Option<tokens::KnownTokens>>,
    /// Each registration's recent log records and live feed (the console's log tail).
    tails: log_tail::LogTails,
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

    /// Opens (or creates) the registry database file at `path` (SQLite).
    pub fn open(path: &Path, runtime: Runtime, policy: Policy) -> Result<Registry, RegistryError> {
        let store = store::sqlite::SqliteStore::open(path)?;
        Ok(Registry::with_store(Box::new(store), runtime, policy))
    }

    /// Opens the registry at `location`: a `postgres://…` URL (a database many hosts may
    /// share, migrated at first use), else a database file path as [`Registry::open`].
    /// Errors: the location cannot be opened or reached, or was migrated by a newer Airlock.
    pub async fn connect(
        location: &str,
        runtime: Runtime,
        policy: Policy,
    ) -> Result<Registry, RegistryError> {
        let store = store::open(location).await?;
        Ok(Registry::with_store(store, runtime, policy))
    }

    fn with_store(store: Box<dyn store::Store>, runtime: Runtime, policy: Policy) -> Registry {
        let defaults = LoadOptions::default();
        Registry {
            runtime,
            policy,
            pool: (defaults.max_instances, defaults.max_idle),
            store,
            live: RwLock::default(),
            changes: tokio::sync::Mutex::new(()),
            events: broadcast::channel(256).0,
            applied: Mutex::default(),
            known_tokens: Mutex::default(),
            reloads: Mutex::default(),
            tails: log_tail::LogTails::default(),
            artifacts: Registry::default_path()
                .parent()
                .unwrap_or(Path::new("."))
                .join("oci"),
        }
    }

    /// Where the registry keeps its state: a file path, or a PostgreSQL URL without its
    /// password.
    pub fn location(&self) -> String {
        self.store.location()
    }

    /// Runs each enabled plugin on at most `max_instances` instances, `max_idle` kept warm.
    pub fn with_pool(mut self, max_instances: usize, max_idle: usize) -> Self {
        self.pool = (max_instances.max(1), max_idle);
        self
    }

    /// Pulls plugins this host lacks (installed from an OCI registry by another host
    /// sharing the database) into `dir` (default: `oci` beside [`Registry::default_path`]).
    pub fn with_artifact_store(mut self, dir: PathBuf) -> Self {
        self.artifacts = dir;
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

    /// Installs (or updates) the plugin folder at `dir`; returns the plugin's name.
    pub async fn install(&self, dir: &Path) -> Result<String, RegistryError> {
        self.install_recorded(dir, None).await
    }

    /// Installs `dir` and records its `source` (`(reference, digest)`, `None` for a local
    /// folder) in the same transaction, so a listing never shows a pulled folder as local.
    async fn install_recorded(
        &self,
        dir: &Path,
        source: Option<(&str, &str)>,
    ) -> Result<String, RegistryError> {
        let manifest = airlock::manifest::Manifest::from_dir(dir)?;
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        self.store.install(&manifest, &dir, source).await?;
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
    pub async fn install_from(
        &self,
        dir: &Path,
        reference: &str,
        digest: &str,
    ) -> Result<String, RegistryError> {
        self.install_recorded(dir, Some((reference, digest))).await
    }

    /// The policy plugins are loaded under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Installed plugins, by name.
    pub async fn installed(&self) -> Result<Vec<Installed>, RegistryError> {
        Ok(self.store.installed(None).await?)
    }

    /// The folder `name` loads from on this host: the installed one, else (installed by
    /// another host sharing the database) pulled from its OCI registry at the recorded
    /// digest and verified under this host's policy first.
    async fn installed_dir(&self, name: &str) -> Result<PathBuf, RegistryError> {
        let installed = self.store.installed(Some(name)).await?;
        let installed = installed
            .into_iter()
            .next()
            .ok_or_else(|| RegistryError::NotInstalled(name.to_string()))?;
        if installed.dir.is_dir() {
            return Ok(installed.dir);
        }
        self.pull_missing(installed).await
    }

    #[cfg(feature = "oci")]
    async fn pull_missing(&self, installed: Installed) -> Result<PathBuf, RegistryError> {
        use crate::oci::{Auth, OciOptions, OciRef};
        let (Some(source), Some(digest)) = (&installed.source, &installed.source_digest) else {
            return Err(RegistryError::FolderMissing {
                plugin: installed.name,
                dir: installed.dir,
            });
        };
        let failed = |reason: String| RegistryError::Pull {
            plugin: installed.name.clone(),
            source_ref: format!("{source}@{digest}"),
            reason,
        };
        // Pulled before (by an earlier restart): the store is content-addressed and every
        // load checks the folder's signature again, so the copy is reused.
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let stored = self.artifacts.join(&installed.name).join(hex);
        if stored.is_dir() {
            return Ok(stored);
        }
        let pinned = source
            .parse::<OciRef>()
            .map_err(|e| failed(e.to_string()))?
            .at_digest(digest);
        let auth = Auth::for_registry(pinned.registry());
        let pulled = crate::oci::pull(
            &pinned,
            &self.artifacts,
            &self.policy.trust,
            &auth,
            &OciOptions::from_env(),
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
        if pulled.name != installed.name {
            return Err(failed(format!("the artifact is plugin `{}`", pulled.name)));
        }
        tracing::info!(
            plugin = installed.name,
            digest = pulled.digest,
            dir = %pulled.dir.display(),
            "pulled a plugin installed by another host"
        );
        Ok(pulled.dir)
    }

    #[cfg(not(feature = "oci"))]
    async fn pull_missing(&self, installed: Installed) -> Result<PathBuf, RegistryError> {
        Err(RegistryError::FolderMissing {
            plugin: installed.name,
            dir: installed.dir,
        })
    }
}
