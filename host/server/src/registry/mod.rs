//! The plugin registry: plugins installed once (a folder each), enabled or disabled per
//! tenant with that tenant's configuration, persisted in SQLite ([`db`]) so a restart
//! restores exactly what was enabled.
//!
//! Every enabled (tenant, plugin) pair is its own loaded [`Plugin`]: tenants never share
//! instances, configuration or state. Calls and hook dispatches go through the registry,
//! which always routes them to the current version: a reload ([`reload`]) swaps the version
//! atomically and calls that had not started yet are routed again, so none fails.
//!
//! This file: the registry itself and installing folders. `tenants.rs`: enabling, disabling
//! and configuring per tenant, restoring after a restart. `routing.rs`: calls, hook
//! dispatch and health, always to the current version. `dependencies.rs`: what a plugin
//! needs enabled beside it. `errors.rs`: [`RegistryError`].

mod db;
mod dependencies;
mod errors;
mod follow;
mod reload;
mod resolve;
mod routing;
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

pub use db::{Installed, Registration};
pub use errors::RegistryError;
pub use follow::{FOLLOW_EVERY, Follower};
pub use reload::ReloadOutcome;
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
    /// What of the database this process serves (see [`follow`]).
    applied: Mutex<follow::Applied>,
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
            applied: Mutex::default(),
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
        let manifest = airlock::manifest::Manifest::from_dir(dir)?;
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
}
