//! The SQLite backend of the registry's [`Store`]: one file, the embedded default. The
//! database runs in WAL mode with full sync, so a crash loses nothing committed; several
//! processes may share the file (the CLI beside a server), and each hears the others'
//! commits through SQLite's `PRAGMA data_version`, polled every [`POLL_EVERY`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{Changes, Installed, Registration, Store, StoreError, TokenRow, now, tool_filter};
use airlock::manifest::Manifest;

/// How often the file is checked for other processes' commits.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(250);

const PRAGMAS: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
";

/// The schema's versioned migrations, in order; `PRAGMA user_version` counts those
/// applied. The first ones are written so databases made before versioning (version 0,
/// tables present) pass through them unchanged or gain only their missing columns.
const MIGRATIONS: &[fn(&Connection) -> rusqlite::Result<()>] = &[
    create_tables,
    add_source_columns,
    add_generation_column,
    add_tools_column,
];

fn create_tables(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS installed (
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
        );",
    )
}

/// The registry in one SQLite file.
pub(crate) struct SqliteStore {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (or creates, with its folder) the database at `path` and migrates it.
    pub(crate) fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let failed = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut connection = Connection::open(path).map_err(failed)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(failed)?;
        connection.execute_batch(PRAGMAS).map_err(failed)?;
        migrate(&mut connection, path)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A failed read.
    fn read_failed(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// A failed write: a full disk is named as such, with the file, since that is what
    /// the operator has to act on.
    fn write_failed(&self, source: rusqlite::Error) -> StoreError {
        match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull {
                path: self.path.clone(),
            },
            _ => self.read_failed(source),
        }
    }
}

/// Applies the migrations `path` lacks, under the write lock, so of several processes
/// opening an old database at once only the first migrates.
fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let failed = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let tx = connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(failed)?;
    let applied: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(failed)?;
    let known = MIGRATIONS.len() as i64;
    if applied > known {
        return Err(StoreError::TooNew {
            location: path.display().to_string(),
            found: applied,
            known,
        });
    }
    for migration in &MIGRATIONS[applied as usize..] {
        migration(&tx).map_err(failed)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {known}"))
        .map_err(failed)?;
    tx.commit().map_err(failed)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn install(
        &self,
        manifest: &Manifest,
        dir: &Path,
        source: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let written = (|| {
            let name = &manifest.plugin.name;
            let tx = connection.transaction()?;
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
        })();
        written.map_err(|e| self.write_failed(e))
    }

    async fn installed(&self, name: Option<&str>) -> Result<Vec<Installed>, StoreError> {
        let connection = self.connection();
        let read = (|| {
            let mut statement = connection.prepare(
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
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        read.map_err(|e| self.read_failed(e))
    }

    async fn enable(
        &self,
        tenant: &str,
        plugin: &str,
        version: &str,
        config: &Value,
    ) -> Result<i64, StoreError> {
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

    async fn disable(&self, tenant: &str, plugin: &str) -> Result<Option<i64>, StoreError> {
        self.write_registration(
            tenant,
            plugin,
            "UPDATE registrations SET enabled = 0, updated_at = ?3, generation = generation + 1
             WHERE tenant = ?1 AND plugin = ?2",
            params![tenant, plugin, now()],
        )
    }

    async fn set_config(
        &self,
        tenant: &str,
        plugin: &str,
        version: &str,
        config: &Value,
        only_if_enabled: bool,
    ) -> Result<Option<i64>, StoreError> {
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

    async fn set_tools(
        &self,
        tenant: &str,
        plugin: &str,
        tools: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.write_registration(
            tenant,
            plugin,
            "UPDATE registrations SET tools = ?3, updated_at = ?4, generation = generation + 1
             WHERE tenant = ?1 AND plugin = ?2",
            params![tenant, plugin, tools, now()],
        )
    }

    async fn registrations(
        &self,
        tenant: Option<&str>,
        plugin: Option<&str>,
    ) -> Result<Vec<Registration>, StoreError> {
        let connection = self.connection();
        let read = (|| {
            let mut statement = connection.prepare(
                "SELECT tenant, plugin, version, enabled, config, installed_at, updated_at, generation,
                     tools
                 FROM registrations
                 WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR plugin = ?2)
                 ORDER BY tenant, plugin",
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
                    tools: tool_filter(&row.get::<_, String>(8)?),
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        read.map_err(|e| self.read_failed(e))
    }

    async fn dependencies(&self, plugin: &str) -> Result<Vec<(String, String)>, StoreError> {
        let connection = self.connection();
        let read = (|| {
            let mut statement = connection.prepare(
                "SELECT dependency, requirement FROM dependencies WHERE plugin = ?1
                 ORDER BY dependency",
            )?;
            let rows = statement.query_map([plugin], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        read.map_err(|e| self.read_failed(e))
    }

    async fn dependents(&self, tenant: &str, plugin: &str) -> Result<Vec<String>, StoreError> {
        let connection = self.connection();
        let read = (|| {
            let mut statement = connection.prepare(
                "SELECT d.plugin FROM dependencies d JOIN registrations r
                   ON r.plugin = d.plugin AND r.tenant = ?1 AND r.enabled = 1
                 WHERE d.dependency = ?2 ORDER BY d.plugin",
            )?;
            let rows = statement.query_map([tenant, plugin], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        read.map_err(|e| self.read_failed(e))
    }

    async fn enabled_version(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Option<String>, StoreError> {
        self.connection()
            .query_row(
                "SELECT i.version FROM registrations r JOIN installed i ON i.name = r.plugin
                 WHERE r.tenant = ?1 AND r.plugin = ?2 AND r.enabled = 1",
                [tenant, plugin],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.read_failed(e))
    }

    async fn add_token(
        &self,
        hash: &str,
        tenant: &str,
        role: &str,
        label: &str,
    ) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "INSERT INTO tokens (hash, tenant, role, label, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, tenant, role, label, now()],
            )
            .map(drop)
            .map_err(|e| self.write_failed(e))
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRow>, StoreError> {
        let connection = self.connection();
        let read = (|| {
            let mut statement = connection.prepare(
                "SELECT hash, tenant, role, label, created_at FROM tokens
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
                .collect::<rusqlite::Result<Vec<_>>>()
        })();
        read.map_err(|e| self.read_failed(e))
    }

    async fn remove_token(&self, hash: &str) -> Result<usize, StoreError> {
        self.connection()
            .execute("DELETE FROM tokens WHERE hash = ?1", [hash])
            .map_err(|e| self.write_failed(e))
    }

    async fn token(&self, hash: &str) -> Result<Option<(String, String)>, StoreError> {
        self.connection()
            .query_row(
                "SELECT tenant, role FROM tokens WHERE hash = ?1",
                [hash],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.read_failed(e))
    }

    async fn changes(&self) -> Result<Changes, StoreError> {
        let version = data_version(&self.connection()).map_err(|e| self.read_failed(e))?;
        let (moved, seen) = tokio::sync::watch::channel(0);
        let connection = Arc::downgrade(&self.connection);
        let listener = tokio::spawn(async move {
            let mut last = version;
            loop {
                tokio::time::sleep(POLL_EVERY).await;
                let Some(connection) = connection.upgrade() else {
                    return;
                };
                let version = data_version(&connection.lock().unwrap_or_else(|e| e.into_inner()));
                match version {
                    Ok(version) if version != last => {
                        last = version;
                        moved.send_modify(|n| *n += 1);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("cannot check the registry database for changes: {e}"),
                }
            }
        });
        Ok(Changes { seen, listener })
    }
}

impl SqliteStore {
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
    ) -> Result<Option<i64>, StoreError> {
        let connection = self.connection();
        let written = (|| {
            let tx = connection.unchecked_transaction()?;
            let generation = match tx.execute(sql, params)? {
                0 => None,
                _ => tx
                    .query_row(
                        "SELECT generation FROM registrations WHERE tenant = ?1 AND plugin = ?2",
                        [tenant, plugin],
                        |row| row.get(0),
                    )
                    .optional()?,
            };
            tx.commit()?;
            Ok(generation)
        })();
        written.map_err(|e| self.write_failed(e))
    }
}

/// SQLite's `data_version`: changes whenever another connection commits a write
/// (<https://sqlite.org/pragma.html#pragma_data_version>).
fn data_version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA data_version", [], |row| row.get(0))
}

/// Migration 2: databases made before plugins came from registries lack the `source` and
/// `source_digest` columns of `installed`; add them (NULL: a local folder).
fn add_source_columns(connection: &Connection) -> rusqlite::Result<()> {
    add_missing(
        connection,
        ("installed", "source"),
        "ALTER TABLE installed ADD COLUMN source TEXT;
         ALTER TABLE installed ADD COLUMN source_digest TEXT;",
    )
}

/// Migration 3: databases made before registry changes were followed across processes
/// lack the `generation` column of `registrations`; add it (0 for every existing row).
fn add_generation_column(connection: &Connection) -> rusqlite::Result<()> {
    add_missing(
        connection,
        ("registrations", "generation"),
        "ALTER TABLE registrations ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;",
    )
}

/// Migration 4: per-tenant tool filters (issue #18); `{}` lets every tool through.
fn add_tools_column(connection: &Connection) -> rusqlite::Result<()> {
    add_missing(
        connection,
        ("registrations", "tools"),
        "ALTER TABLE registrations ADD COLUMN tools TEXT NOT NULL DEFAULT '{}';",
    )
}

/// Runs `sql` unless `table` already has `column`: databases made before versioned
/// migrations may have some of the later columns already.
fn add_missing(
    connection: &Connection,
    (table, column): (&str, &str),
    sql: &str,
) -> rusqlite::Result<()> {
    let count: i64 = connection.query_row(
        "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |row| row.get(0),
    )?;
    match count {
        0 => connection.execute_batch(sql),
        _ => Ok(()),
    }
}
