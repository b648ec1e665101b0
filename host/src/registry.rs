//! The plugin registry: plugins installed once (a folder each), enabled or disabled per
//! tenant with that tenant's configuration, persisted in an embedded SQLite database so a
//! restart restores exactly what was enabled. Each write is one transaction; the database
//! runs in WAL mode with full sync, so a crash loses nothing committed.
//!
//! Every enabled (tenant, plugin) pair is its own loaded [`Plugin`]: tenants never share
//! instances, configuration or state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use crate::manifest::{Manifest, ManifestError};
use crate::policy::Policy;
use crate::{Catalog, LoadError, LoadOptions, Plugin, Runtime};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("plugin `{0}` is not installed")]
    NotInstalled(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// One tenant's registration of one plugin, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registration {
    pub tenant: String,
    pub plugin: String,
    pub version: String,
    pub enabled: bool,
    pub config: Value,
    /// Unix seconds.
    pub installed_at: i64,
    pub updated_at: i64,
}

pub struct Registry {
    runtime: Runtime,
    policy: Policy,
    db: Mutex<Connection>,
    live: Mutex<HashMap<(String, String), Plugin>>,
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS installed (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        dir TEXT NOT NULL,
        installed_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS registrations (
        tenant TEXT NOT NULL,
        plugin TEXT NOT NULL REFERENCES installed(name),
        version TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        config TEXT NOT NULL,
        installed_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant, plugin)
    );
";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                RegistryError::Db(rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
            })?;
        }
        let db = Connection::open(path)?;
        db.execute_batch(SCHEMA)?;
        Ok(Registry {
            runtime,
            policy,
            db: Mutex::new(db),
            live: Mutex::default(),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs (or updates) the plugin folder at `dir`; returns the plugin's name.
    pub fn install(&self, dir: &Path) -> Result<String, RegistryError> {
        let manifest = Manifest::from_dir(dir)?;
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let (name, version) = (
            manifest.plugin.name.clone(),
            manifest.plugin.version.to_string(),
        );
        self.db().execute(
            "INSERT INTO installed (name, version, dir, installed_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT(name) DO UPDATE SET version = ?2, dir = ?3, updated_at = ?4",
            params![name, version, dir.display().to_string(), now()],
        )?;
        Ok(name)
    }

    fn installed_dir(&self, name: &str) -> Result<PathBuf, RegistryError> {
        let dir: Option<String> = self
            .db()
            .query_row("SELECT dir FROM installed WHERE name = ?1", [name], |row| {
                row.get(0)
            })
            .optional()?;
        dir.map(PathBuf::from)
            .ok_or_else(|| RegistryError::NotInstalled(name.to_string()))
    }

    /// Enables `name` for `tenant` with `config`: loads it (manifest, policy, `init`) and,
    /// only once that succeeded, records the registration.
    pub async fn enable(
        &self,
        tenant: &str,
        name: &str,
        config: Value,
    ) -> Result<Plugin, RegistryError> {
        let plugin = self.start(tenant, name, config.clone()).await?;
        let version = plugin.metadata().version.to_string();
        self.db().execute(
            "INSERT INTO registrations (tenant, plugin, version, enabled, config, installed_at, updated_at)
             VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5)
             ON CONFLICT(tenant, plugin) DO UPDATE SET version = ?3, enabled = 1, config = ?4, updated_at = ?5",
            params![tenant, name, version, config.to_string(), now()],
        )?;
        Ok(plugin)
    }

    /// Loads `name` for `tenant` and makes it the live one (shutting down any previous);
    /// records nothing.
    async fn start(
        &self,
        tenant: &str,
        name: &str,
        config: Value,
    ) -> Result<Plugin, RegistryError> {
        let dir = self.installed_dir(name)?;
        let options = LoadOptions::default().config(config);
        let plugin = self.runtime.load_dir(&dir, &self.policy, options).await?;
        let previous = self
            .live_map()
            .insert((tenant.to_string(), name.to_string()), plugin.clone());
        if let Some(previous) = previous {
            previous.shutdown().await;
        }
        Ok(plugin)
    }

    /// Disables `name` for `tenant`: recorded, then its instances are shut down.
    pub async fn disable(&self, tenant: &str, name: &str) -> Result<(), RegistryError> {
        self.db().execute(
            "UPDATE registrations SET enabled = 0, updated_at = ?3 WHERE tenant = ?1 AND plugin = ?2",
            params![tenant, name, now()],
        )?;
        let plugin = self
            .live_map()
            .remove(&(tenant.to_string(), name.to_string()));
        if let Some(plugin) = plugin {
            plugin.shutdown().await;
        }
        Ok(())
    }

    /// Stored registrations, of one tenant or of all.
    pub fn registrations(&self, tenant: Option<&str>) -> Result<Vec<Registration>, RegistryError> {
        let db = self.db();
        let mut statement = db.prepare(
            "SELECT tenant, plugin, version, enabled, config, installed_at, updated_at FROM registrations
             WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, plugin",
        )?;
        let rows = statement.query_map([tenant], |row| {
            let config: String = row.get(4)?;
            Ok(Registration {
                tenant: row.get(0)?,
                plugin: row.get(1)?,
                version: row.get(2)?,
                enabled: row.get::<_, i64>(3)? != 0,
                config: serde_json::from_str(&config).unwrap_or(Value::Null),
                installed_at: row.get(5)?,
                updated_at: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// After a restart: loads every enabled registration with its stored configuration.
    /// Failures are returned (and logged) and never stop the others.
    pub async fn restore(&self) -> Result<Vec<(Registration, RegistryError)>, RegistryError> {
        let mut failures = Vec::new();
        for registration in self.registrations(None)?.into_iter().filter(|r| r.enabled) {
            let (tenant, name, config) = (
                &registration.tenant,
                &registration.plugin,
                registration.config.clone(),
            );
            // A restart changes nothing stored: start, do not re-record.
            if let Err(error) = self.start(tenant, name, config).await {
                tracing::warn!(tenant, plugin = name, "not restored: {error}");
                failures.push((registration, error));
            }
        }
        Ok(failures)
    }

    /// The plugins enabled for `tenant`, by name.
    pub fn plugins(&self, tenant: &str) -> Vec<Plugin> {
        let mut plugins: Vec<Plugin> = self
            .live_map()
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, p)| p.clone())
            .collect();
        plugins.sort_by(|a, b| a.name().cmp(b.name()));
        plugins
    }

    /// The namespaced tools of `tenant`'s enabled plugins.
    pub fn catalog(&self, tenant: &str) -> Catalog {
        Catalog::new(self.plugins(tenant))
    }

    fn live_map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Plugin>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}
