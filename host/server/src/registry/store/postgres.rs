//! The PostgreSQL backend of the registry's [`Store`] (feature `postgres`): one database
//! that many stateless hosts share. Statements go through a `deadpool-postgres` pool of
//! `tokio-postgres` connections; every write is one transaction that also sends
//! `NOTIFY airlock_registry` (delivered at commit, and only if it commits), and each host
//! keeps one more connection `LISTEN`ing on that channel, so a change made through any host
//! reaches the others within milliseconds. A listener that loses its connection reconnects
//! (backing off to [`RECONNECT_MAX`]) and reports a change once it listens again, since
//! notifications sent while it was away are lost: the host then re-reads everything.
//!
//! Connections are plain TCP or Unix sockets (`tokio_postgres::NoTls`): this build links no
//! TLS for PostgreSQL, so the database belongs on a private network or loopback. A URL asking
//! for `sslmode=require` is refused by the driver with that reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{Changes, Installed, Registration, Store, StoreError, TokenRow, now, tool_filter};
use airlock::manifest::Manifest;

/// The channel every write notifies and every host listens on.
const CHANNEL: &str = "airlock_registry";

/// The longest wait between two attempts to reconnect the listener.
pub(crate) const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// How long a statement may wait for a pooled connection, or a new one to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per host for statements (the listener has its own).
const POOL_SIZE: usize = 8;

/// Serialises migrations between hosts starting at once (`pg_advisory_xact_lock`'s key:
/// "airlock" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_6972_6c6f_636b;

/// The schema's versioned migrations, in order; table `airlock_schema` records how many
/// were applied. Same tables and columns as the SQLite backend's, step for step.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE installed (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        dir TEXT NOT NULL,
        installed_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE registrations (
        tenant TEXT NOT NULL,
        plugin TEXT NOT NULL REFERENCES installed(name),
        version TEXT NOT NULL,
        enabled BOOLEAN NOT NULL,
        config TEXT NOT NULL,
        installed_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (tenant, plugin)
    );
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        role TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE dependencies (
        plugin TEXT NOT NULL REFERENCES installed(name),
        dependency TEXT NOT NULL,
        requirement TEXT NOT NULL,
        PRIMARY KEY (plugin, dependency)
    );",
    "ALTER TABLE installed ADD COLUMN source TEXT;
     ALTER TABLE installed ADD COLUMN source_digest TEXT;",
    "ALTER TABLE registrations ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;",
    "ALTER TABLE registrations ADD COLUMN tools TEXT NOT NULL DEFAULT '{}';",
];

/// The registry in one PostgreSQL database.
pub(crate) struct PgStore {
    /// The URL without its password, for errors.
    location: String,
    config: tokio_postgres::Config,
    pool: Pool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or
    /// any form `tokio_postgres::Config` parses) and applies the migrations it lacks.
    pub(crate) async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let location = super::redacted(url);
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Location(location.clone(), format!("not a PostgreSQL URL: {e}"))
        })?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            // A connection that went silent (a half-open TCP connection) is noticed within
            // about half a minute, not the kernel's default of eleven minutes.
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .application_name("airlock");
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Location(location.clone(), e.to_string()))?;
        let store = PgStore {
            location,
            config,
            pool,
        };
        store.migrate().await?;
        Ok(store)
    }

    fn failed(&self, error: impl std::error::Error) -> StoreError {
        StoreError::Postgres {
            location: self.location.clone(),
            message: with_causes(&error),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| self.failed(e))
    }

    /// Applies the migrations the database lacks, in one transaction under an advisory
    /// lock, so of several hosts starting at once only the first migrates.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| self.failed(e))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS airlock_schema (version BIGINT NOT NULL)")
            .await
            .map_err(|e| self.failed(e))?;
        let applied: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM airlock_schema", &[])
            .await
            .map_err(|e| self.failed(e))?
            .get(0);
        let known = MIGRATIONS.len() as i64;
        if applied > known {
            return Err(StoreError::TooNew {
                location: self.location.clone(),
                found: applied,
                known,
            });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
            tx.batch_execute(migration)
                .await
                .map_err(|e| StoreError::Postgres {
                    location: self.location.clone(),
                    message: format!("migration {}: {}", index + 1, with_causes(&e)),
                })?;
            tx.execute(
                "INSERT INTO airlock_schema (version) VALUES ($1)",
                &[&(index as i64 + 1)],
            )
            .await
            .map_err(|e| self.failed(e))?;
        }
        tx.commit().await.map_err(|e| self.failed(e))
    }

    /// Runs one write to `tenant`'s registration of `plugin` (`sql`, which must bump
    /// `generation` and end in `RETURNING generation`), notifying the other hosts; the
    /// registration's new generation, `None` when no row changed.
    async fn write_registration(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<i64>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(e))?;
        let row = tx
            .query_opt(sql, params)
            .await
            .map_err(|e| self.failed(e))?;
        notify(&tx).await.map_err(|e| self.failed(e))?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(row.map(|row| row.get(0)))
    }
}

/// `error` and its causes: tokio-postgres says only "db error" at the top, and the
/// server's own message (or the refused connection) is further down the chain.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    message
}

/// Tells every listening host that the registry changed (sent when the transaction
/// commits, <https://www.postgresql.org/docs/15/sql-notify.html>).
async fn notify(tx: &tokio_postgres::Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL]).await?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn install(
        &self,
        manifest: &Manifest,
        dir: &Path,
        source: Option<(&str, &str)>,
    ) -> Result<(), StoreError> {
        let name = &manifest.plugin.name;
        let version = manifest.plugin.version.to_string();
        let dir = dir.display().to_string();
        let (reference, digest) = (source.map(|s| s.0), source.map(|s| s.1));
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(e))?;
        tx.execute(
            "INSERT INTO installed (name, version, dir, installed_at, updated_at, source, source_digest)
             VALUES ($1, $2, $3, $4, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET version = $2, dir = $3, updated_at = $4,
                 source = $5, source_digest = $6",
            &[name, &version, &dir, &now(), &reference, &digest],
        )
        .await
        .map_err(|e| self.failed(e))?;
        tx.execute("DELETE FROM dependencies WHERE plugin = $1", &[name])
            .await
            .map_err(|e| self.failed(e))?;
        for (dependency, requirement) in &manifest.dependencies {
            tx.execute(
                "INSERT INTO dependencies (plugin, dependency, requirement) VALUES ($1, $2, $3)",
                &[name, dependency, &requirement.to_string()],
            )
            .await
            .map_err(|e| self.failed(e))?;
        }
        notify(&tx).await.map_err(|e| self.failed(e))?;
        tx.commit().await.map_err(|e| self.failed(e))
    }

    async fn installed(&self, name: Option<&str>) -> Result<Vec<Installed>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT name, version, dir, installed_at, updated_at, source, source_digest
                 FROM installed WHERE $1::TEXT IS NULL OR name = $1 ORDER BY name",
                &[&name],
            )
            .await
            .map_err(|e| self.failed(e))?;
        Ok(rows
            .into_iter()
            .map(|row| Installed {
                name: row.get(0),
                version: row.get(1),
                dir: PathBuf::from(row.get::<_, String>(2)),
                installed_at: row.get(3),
                updated_at: row.get(4),
                source: row.get(5),
                source_digest: row.get(6),
            })
            .collect())
    }

    async fn enable(
        &self,
        tenant: &str,
        plugin: &str,
        version: &str,
        config: &Value,
    ) -> Result<i64, StoreError> {
        let generation = self
            .write_registration(
                "INSERT INTO registrations (tenant, plugin, version, enabled, config, installed_at, updated_at, generation)
                 VALUES ($1, $2, $3, TRUE, $4, $5, $5, 1)
                 ON CONFLICT (tenant, plugin) DO UPDATE SET version = $3, enabled = TRUE,
                     config = $4, updated_at = $5,
                     generation = registrations.generation + 1
                 RETURNING generation",
                &[&tenant, &plugin, &version, &config.to_string(), &now()],
            )
            .await?;
        Ok(generation.unwrap_or_default())
    }

    async fn disable(&self, tenant: &str, plugin: &str) -> Result<Option<i64>, StoreError> {
        self.write_registration(
            "UPDATE registrations SET enabled = FALSE, updated_at = $3,
                 generation = generation + 1
             WHERE tenant = $1 AND plugin = $2 RETURNING generation",
            &[&tenant, &plugin, &now()],
        )
        .await
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
            "UPDATE registrations SET config = $3, version = $4, updated_at = $5,
                 generation = generation + 1
             WHERE tenant = $1 AND plugin = $2 AND (NOT $6 OR enabled)
             RETURNING generation",
            &[
                &tenant,
                &plugin,
                &config.to_string(),
                &version,
                &now(),
                &only_if_enabled,
            ],
        )
        .await
    }

    async fn set_tools(
        &self,
        tenant: &str,
        plugin: &str,
        tools: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.write_registration(
            "UPDATE registrations SET tools = $3, updated_at = $4, generation = generation + 1
             WHERE tenant = $1 AND plugin = $2 RETURNING generation",
            &[&tenant, &plugin, &tools, &now()],
        )
        .await
    }

    async fn registrations(
        &self,
        tenant: Option<&str>,
        plugin: Option<&str>,
    ) -> Result<Vec<Registration>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT tenant, plugin, version, enabled, config, installed_at, updated_at, generation,
                     tools
                 FROM registrations
                 WHERE ($1::TEXT IS NULL OR tenant = $1) AND ($2::TEXT IS NULL OR plugin = $2)
                 ORDER BY tenant, plugin",
                &[&tenant, &plugin],
            )
            .await
            .map_err(|e| self.failed(e))?;
        Ok(rows
            .into_iter()
            .map(|row| Registration {
                tenant: row.get(0),
                plugin: row.get(1),
                version: row.get(2),
                enabled: row.get(3),
                config: serde_json::from_str(row.get(4)).unwrap_or(Value::Null),
                installed_at: row.get(5),
                updated_at: row.get(6),
                generation: row.get(7),
                tools: tool_filter(row.get(8)),
            })
            .collect())
    }

    async fn dependencies(&self, plugin: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT dependency, requirement FROM dependencies WHERE plugin = $1
                 ORDER BY dependency",
                &[&plugin],
            )
            .await
            .map_err(|e| self.failed(e))?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }

    async fn dependents(&self, tenant: &str, plugin: &str) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT d.plugin FROM dependencies d JOIN registrations r
                   ON r.plugin = d.plugin AND r.tenant = $1 AND r.enabled
                 WHERE d.dependency = $2 ORDER BY d.plugin",
                &[&tenant, &plugin],
            )
            .await
            .map_err(|e| self.failed(e))?;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    async fn enabled_version(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT i.version FROM registrations r JOIN installed i ON i.name = r.plugin
                 WHERE r.tenant = $1 AND r.plugin = $2 AND r.enabled",
                &[&tenant, &plugin],
            )
            .await
            .map_err(|e| self.failed(e))?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn add_token(
        &self,
        hash: &str,
        tenant: &str,
        role: &str,
        label: &str,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(e))?;
        tx.execute(
            "INSERT INTO tokens (hash, tenant, role, label, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&hash, &tenant, &role, &label, &now()],
        )
        .await
        .map_err(|e| self.failed(e))?;
        notify(&tx).await.map_err(|e| self.failed(e))?;
        tx.commit().await.map_err(|e| self.failed(e))
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT hash, tenant, role, label, created_at FROM tokens
                 WHERE $1::TEXT IS NULL OR tenant = $1 ORDER BY created_at, hash",
                &[&tenant],
            )
            .await
            .map_err(|e| self.failed(e))?;
        Ok(rows
            .into_iter()
            .map(|row| TokenRow {
                hash: row.get(0),
                tenant: row.get(1),
                role: row.get(2),
                label: row.get(3),
                created_at: row.get(4),
            })
            .collect())
    }

    async fn remove_token(&self, hash: &str) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.failed(e))?;
        let removed = tx
            .execute("DELETE FROM tokens WHERE hash = $1", &[&hash])
            .await
            .map_err(|e| self.failed(e))?;
        notify(&tx).await.map_err(|e| self.failed(e))?;
        tx.commit().await.map_err(|e| self.failed(e))?;
        Ok(removed as usize)
    }

    async fn token(&self, hash: &str) -> Result<Option<(String, String)>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt("SELECT tenant, role FROM tokens WHERE hash = $1", &[&hash])
            .await
            .map_err(|e| self.failed(e))?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    async fn changes(&self) -> Result<Changes, StoreError> {
        let (moved, seen) = tokio::sync::watch::channel(0);
        let listener = tokio::spawn(listen(self.config.clone(), self.location.clone(), moved));
        Ok(Changes { seen, listener })
    }
}

/// Listens on [`CHANNEL`] until nobody follows `moved` any more, reconnecting whenever the
/// connection drops; moves `moved` at each notification and after each (re)connect.
async fn listen(
    config: tokio_postgres::Config,
    location: String,
    moved: tokio::sync::watch::Sender<u64>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut outage = false;
    while !moved.is_closed() {
        match listen_once(&config, &moved).await {
            Ok(()) => {
                if outage {
                    tracing::info!(registry = location, "listening for registry changes again");
                }
                outage = false;
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                if !outage {
                    tracing::warn!(
                        registry = location,
                        "not hearing registry changes (reconnecting): {e}"
                    );
                }
                outage = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RECONNECT_MAX);
            }
        }
    }
}

/// One connection's life: `LISTEN`, report that (writes may have gone unheard before),
/// then report each notification. `Ok` when the connection ended after listening, `Err`
/// when it never got that far.
async fn listen_once(
    config: &tokio_postgres::Config,
    moved: &tokio::sync::watch::Sender<u64>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (heard, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    // The connection only makes progress while polled: this task drives it and forwards
    // what the server pushes.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => {
                    if heard.send(()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!("registry listener connection ended: {e}");
                    return;
                }
                None => return,
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if let Err(e) = listening {
        driver.abort();
        return Err(e);
    }
    moved.send_modify(|n| *n += 1);
    while notifications.recv().await.is_some() {
        moved.send_modify(|n| *n += 1);
    }
    drop(client);
    driver.abort();
    Ok(())
}
