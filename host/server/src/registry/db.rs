//! The registry's SQLite database: installed plugins (with their dependencies) and
//! per-tenant registrations. Each write is one statement or one transaction; the database
//! runs in WAL mode with full sync, so a crash loses nothing committed.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use airlock::manifest::Manifest;

/// One tenant's registration of one plugin, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registration {
    pub tenant: String,
    pub plugin: String,
    pub version: String,
    pub enabled: bool,
    /// The configuration as given (the plugin receives it with the schema's defaults).
    pub config: Value,
    /// Unix seconds.
    pub installed_at: i64,
    pub updated_at: i64,
    /// Counts the writes to this registration: a process serving it compares it with the
    /// generation it applied to notice another process's change ([`super::follow`]).
    #[serde(skip)]
    pub generation: i64,
}

/// One installed plugin folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub dir: PathBuf,
    pub installed_at: i64,
    pub updated_at: i64,
    /// Where it was installed from (`oci://…`), `None` for a local folder.
    pub source: Option<String>,
    /// The OCI manifest digest `source` resolved to at install (`sha256:…`).
    pub source_digest: Option<String>,
}

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
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
    CREATE TABLE IF NOT EXISTS tokens (
        hash TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        role TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS dependencies (
        plugin TEXT NOT NULL REFERENCES installed(name),
        dependency TEXT NOT NULL,
        requirement TEXT NOT NULL,
        PRIMARY KEY (plugin, dependency)
    );
";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) struct Db {
    connection: Connection,
}

impl Db {
    pub(crate) fn open(path: &Path) -> rusqlite::Result<Db> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        // Several processes may open an old database at once: check-then-alter under the
        // write lock, so only the first one migrates.
        let mut connection = connection;
        let tx = connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        add_source_columns(&tx)?;
        add_generation_column(&tx)?;
        tx.commit()?;
        Ok(Db { connection })
    }

    /// SQLite's `data_version`: changes whenever another connection commits a write
    /// (<https://sqlite.org/pragma.html#pragma_data_version>).
    pub(crate) fn data_version(&self) -> rusqlite::Result<i64> {
        self.connection
            .query_row("PRAGMA data_version", [], |row| row.get(0))
    }

    /// Records (or updates) an installed folder and its dependencies, in one transaction.
    /// Records `manifest`'s plugin as installed from `dir`, with its dependencies and
    /// `source` (`(reference, digest)` when pulled from an OCI registry), in one transaction.
    pub(crate) fn install(
        &mut self,
        manifest: &Manifest,
        dir: &Path,
        source: Option<(&str, &str)>,
    ) -> rusqlite::Result<()> {
        let name = &manifest.plugin.name;
        let tx = self.connection.transaction()?;
        tx.execute(
            "INSERT INTO installed (name, version, dir, installed_at, updated_at, source, source_digest)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)
             ON CONFLICT(name) DO UPDATE SET version = ?2, dir = ?3, updated_at = ?4,
                 source = ?5, source_digest = ?6",
            params![
                name,
                manifest.plugin.version.to_string(),
                dir.display().to_string(),
                now(),
                source.map(|s| s.0),
                source.map(|s| s.1)
            ],
        )?;
        tx.execute("DELETE FROM dependencies WHERE plugin = ?1", [name])?;
        for (dependency, requirement) in &manifest.dependencies {
            tx.execute(
                "INSERT INTO dependencies (plugin, dependency, requirement) VALUES (?1, ?2, ?3)",
                params![name, dependency, requirement.to_string()],
            )?;
        }
        tx.commit()
    }

    pub(crate) fn installed(&self, name: Option<&str>) -> rusqlite::Result<Vec<Installed>> {
        let mut statement = self.connection.prepare(
            "SELECT name, version, dir, installed_at, updated_at, source, source_digest
             FROM installed WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        )?;
        let rows = statement.query_map([name], |row| {
            Ok(Installed {
                name: row.get(0)?,
                version: row.get(1)?,
                dir: PathBuf::from(row.get::<_, String>(2)?),
                installed_at: row.get(3)?,
                updated_at: row.get(4)?,
                source: row.get(5)?,
                source_digest: row.get(6)?,
            })
        })?;
        rows.collect()
    }

    /// Records `tenant`'s registration of `plugin` as enabled with `config`; returns its
    /// new generation.
    pub(crate) fn enable(
        &self,
        tenant: &str,
        plugin: &str,
        version: &str,
        config: &Value,
    ) -> rusqlite::Result<i64> {
        let generation = self.write_registration(
            tenant,
            plugin,
            "INSERT INTO registrations (tenant, plugin, version, enabled, config, installed_at, updated_at, generation)
             VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5, 1)
             ON CONFLICT(tenant, plugin) DO UPDATE SET version = ?3, enabled = 1, config = ?4,
                 updated_at = ?5, generation = generation + 1",
            params![tenant, plugin, version, config.to_string(), now()],
        )?;
        Ok(generation.unwrap_or_default())
    }

    /// Records the registration as disabled; its new generation (`None`: there is none).
    pub(crate) fn disable(&self, tenant: &str, plugin: &str) -> rusqlite::Result<Option<i64>> {
        self.write_registration(
            tenant,
            plugin,
            "UPDATE registrations SET enabled = 0, updated_at = ?3, generation = generation + 1
             WHERE tenant = ?1 AND plugin = ?2",
            params![tenant, plugin, now()],
        )
    }

    /// Stores a new configuration (and the version it was checked against); the
    /// registration's new generation. `None`: there is none, or `only_if_enabled` and it is
    /// disabled (another process disabled it since it was read).
    pub(crate) fn set_config(
        &self,
        tenant: &str,
        plugin: &str,
        version: &str,
        config: &Value,
        only_if_enabled: bool,
    ) -> rusqlite::Result<Option<i64>> {
        self.write_registration(
            tenant,
            plugin,
            "UPDATE registrations SET config = ?3, version = ?4, updated_at = ?5,
                 generation = generation + 1
             WHERE tenant = ?1 AND plugin = ?2 AND (?6 = 0 OR enabled = 1)",
            params![
                tenant,
                plugin,
                config.to_string(),
                version,
                now(),
                only_if_enabled
            ],
        )
    }

    /// Runs one write (`sql`, which must bump `generation`) to `tenant`'s registration of
    /// `plugin`, and returns the registration's new generation (`None` when no row
    /// changed). The generation is read in the write's own transaction, so a concurrent
    /// write by another process is never taken for this one; the commit is explicit, so its
    /// failure (a full disk) is reported.
    fn write_registration(
        &self,
        tenant: &str,
        plugin: &str,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> rusqlite::Result<Option<i64>> {
        let tx = self.connection.unchecked_transaction()?;
        let generation = match tx.execute(sql, params)? {
            0 => None,
            _ => generation_in(&tx, tenant, plugin)?,
        };
        tx.commit()?;
        Ok(generation)
    }

    pub(crate) fn registrations(
        &self,
        tenant: Option<&str>,
        plugin: Option<&str>,
    ) -> rusqlite::Result<Vec<Registration>> {
        let mut statement = self.connection.prepare(
            "SELECT tenant, plugin, version, enabled, config, installed_at, updated_at, generation
             FROM registrations
             WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR plugin = ?2) ORDER BY tenant, plugin",
        )?;
        let rows = statement.query_map(params![tenant, plugin], |row| {
            let config: String = row.get(4)?;
            Ok(Registration {
                tenant: row.get(0)?,
                plugin: row.get(1)?,
                version: row.get(2)?,
                enabled: row.get::<_, i64>(3)? != 0,
                config: serde_json::from_str(&config).unwrap_or(Value::Null),
                installed_at: row.get(5)?,
                updated_at: row.get(6)?,
                generation: row.get(7)?,
            })
        })?;
        rows.collect()
    }

    pub(crate) fn registration(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> rusqlite::Result<Option<Registration>> {
        Ok(self
            .registrations(Some(tenant), Some(plugin))?
            .into_iter()
            .next())
    }

    /// `(dependency, requirement)` pairs `plugin` declared.
    pub(crate) fn dependencies(&self, plugin: &str) -> rusqlite::Result<Vec<(String, String)>> {
        let mut statement = self.connection.prepare(
            "SELECT dependency, requirement FROM dependencies WHERE plugin = ?1 ORDER BY dependency",
        )?;
        let rows = statement.query_map([plugin], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect()
    }

    /// The plugins enabled for `tenant` that declared a dependency on `plugin`.
    pub(crate) fn dependents(&self, tenant: &str, plugin: &str) -> rusqlite::Result<Vec<String>> {
        let mut statement = self.connection.prepare(
            "SELECT d.plugin FROM dependencies d JOIN registrations r
               ON r.plugin = d.plugin AND r.tenant = ?1 AND r.enabled = 1
             WHERE d.dependency = ?2 ORDER BY d.plugin",
        )?;
        let rows = statement.query_map([tenant, plugin], |row| row.get(0))?;
        rows.collect()
    }

    /// The installed version of `plugin` when `tenant` has it enabled.
    pub(crate) fn enabled_version(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> rusqlite::Result<Option<String>> {
        self.connection
            .query_row(
                "SELECT i.version FROM registrations r JOIN installed i ON i.name = r.plugin
                 WHERE r.tenant = ?1 AND r.plugin = ?2 AND r.enabled = 1",
                [tenant, plugin],
                |row| row.get(0),
            )
            .optional()
    }

    pub(crate) fn add_token(
        &self,
        hash: &str,
        tenant: &str,
        role: &str,
        label: &str,
    ) -> rusqlite::Result<()> {
        self.connection.execute(
            "INSERT INTO tokens (hash, tenant, role, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash, tenant, role, label, now()],
        )?;
        Ok(())
    }

    /// Every token (of `tenant`, when given), oldest first.
    pub(crate) fn tokens(&self, tenant: Option<&str>) -> rusqlite::Result<Vec<TokenRow>> {
        let mut statement = self.connection.prepare(
            "SELECT hash, tenant, role, label, created_at FROM tokens \
             WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created_at, hash",
        )?;
        statement
            .query_map([tenant], |row| {
                Ok(TokenRow {
                    hash: row.get(0)?,
                    tenant: row.get(1)?,
                    role: row.get(2)?,
                    label: row.get(3)?,
                    created_at: row.get(4)?,
                })
            })?
            .collect()
    }

    /// Deletes the token whose hash is `hash`.
    pub(crate) fn remove_token(&self, hash: &str) -> rusqlite::Result<usize> {
        self.connection
            .execute("DELETE FROM tokens WHERE hash = ?1", [hash])
    }

    /// `(tenant, role)` of the token whose hash is `hash`.
    pub(crate) fn token(&self, hash: &str) -> rusqlite::Result<Option<(String, String)>> {
        self.connection
            .query_row(
                "SELECT tenant, role FROM tokens WHERE hash = ?1",
                [hash],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
    }
}

/// Migration: databases made before plugins came from registries lack the `source` and
/// `source_digest` columns of `installed`; add them (NULL: a local folder).
fn add_source_columns(connection: &Connection) -> rusqlite::Result<()> {
    let has_source: i64 = connection.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('installed') WHERE name = 'source'",
        [],
        |row| row.get(0),
    )?;
    if has_source == 0 {
        connection.execute_batch(
            "ALTER TABLE installed ADD COLUMN source TEXT;
             ALTER TABLE installed ADD COLUMN source_digest TEXT;",
        )?;
    }
    Ok(())
}

/// The generation of `tenant`'s registration of `plugin`, inside a write's transaction.
fn generation_in(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    plugin: &str,
) -> rusqlite::Result<Option<i64>> {
    tx.query_row(
        "SELECT generation FROM registrations WHERE tenant = ?1 AND plugin = ?2",
        [tenant, plugin],
        |row| row.get(0),
    )
    .optional()
}

/// Migration: databases made before registry changes were followed across processes lack
/// the `generation` column of `registrations`; add it (0 for every existing row).
fn add_generation_column(connection: &Connection) -> rusqlite::Result<()> {
    let has: i64 = connection.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('registrations') WHERE name = 'generation'",
        [],
        |row| row.get(0),
    )?;
    if has == 0 {
        connection.execute_batch(
            "ALTER TABLE registrations ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;",
        )?;
    }
    Ok(())
}

/// A row of the tokens table.
pub(crate) struct TokenRow {
    pub(crate) hash: String,
    pub(crate) tenant: String,
    pub(crate) role: String,
    pub(crate) label: String,
    pub(crate) created_at: i64,
}
