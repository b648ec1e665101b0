//! Where the registry keeps its state: installed plugins (with their dependencies),
//! per-tenant registrations and API tokens, behind one trait, [`Store`], with two backends
//! sharing one schema:
//!
//! - [`sqlite`]: one file, the embedded default (`registry.db`);
//! - [`postgres`] (feature `postgres`): one PostgreSQL database shared by many hosts
//!   (`postgres://…`), whose writes every host hears through `LISTEN`/`NOTIFY`.
//!
//! Each backend applies its versioned migrations when it opens, makes every write one
//! transaction, and reports other processes' writes through [`Changes`], so a serving
//! registry follows them ([`super::follow`]) the same way over either backend.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

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
    /// Which of the plugin's tools this tenant sees and may call.
    pub tools: airlock::ToolFilter,
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
    /// The folder on the host that installed it. Another host sharing the database that
    /// lacks this folder pulls `source` at `source_digest` instead.
    pub dir: PathBuf,
    pub installed_at: i64,
    pub updated_at: i64,
    /// Where it was installed from (`oci://…`), `None` for a local folder.
    pub source: Option<String>,
    /// The OCI manifest digest `source` resolved to at install (`sha256:…`).
    pub source_digest: Option<String>,
}

/// A row of the tokens table.
pub(crate) struct TokenRow {
    pub(crate) hash: String,
    pub(crate) tenant: String,
    pub(crate) role: String,
    pub(crate) label: String,
    pub(crate) created_at: i64,
}

/// Why the registry's storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("registry database {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
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
    /// A PostgreSQL statement failed, or the server could not be reached.
    #[cfg(feature = "postgres")]
    #[error(
        "PostgreSQL registry {location}: {message} (check that the server is up and reachable, \
         then retry; a write that failed changed nothing)"
    )]
    Postgres { location: String, message: String },
    /// The registry location is neither a file path nor a `postgres://` URL this build
    /// can open.
    #[error("registry location `{0}`: {1}")]
    Location(String, String),
    /// The database was migrated by a newer Airlock than this one.
    #[error(
        "registry database {location} has schema version {found}, newer than the {known} this \
         Airlock knows; upgrade this host before serving from it"
    )]
    TooNew {
        location: String,
        found: i64,
        known: i64,
    },
}

/// The registry's storage: one backend per kind of database, one schema. Every write is
/// one transaction; a write to a registration bumps its `generation` and returns the new
/// one (`None` when no row changed), read in the same transaction.
#[async_trait::async_trait]
pub(crate) trait Store: Send + Sync {
    /// Where the state lives, as errors and listings name it (a PostgreSQL URL without
    /// its password).
    fn location(&self) -> String;

    /// Records (or updates) `manifest`'s plugin as installed from `dir`, with its
    /// dependencies and `source` (`(reference, digest)` when pulled from an OCI registry).
    async fn install(
        &self,
        manifest: &Manifest,
        dir: &Path,
        source: Option<(&str, &str)>,
    ) -> Result<(), StoreError>;

    /// Installed plugins (only `name`, when given), by name.
    async fn installed(&self, name: Option<&str>) -> Result<Vec<Installed>, StoreError>;

    /// Records `tenant`'s registration of `plugin` as enabled with `config`.
    async fn enable(
        &self,
        tenant: &str,
        plugin: &str,
        version: &str,
        config: &Value,
    ) -> Result<i64, StoreError>;

    /// Records the registration as disabled.
    async fn disable(&self, tenant: &str, plugin: &str) -> Result<Option<i64>, StoreError>;

    /// Stores a new configuration (and the version it was checked against). `None` also
    /// when `only_if_enabled` and the registration is disabled (another process disabled
    /// it since it was read).
    async fn set_config(
        &self,
        tenant: &str,
        plugin: &str,
        version: &str,
        config: &Value,
        only_if_enabled: bool,
    ) -> Result<Option<i64>, StoreError>;

    /// Stores which of the plugin's tools the tenant sees (as JSON); the new generation,
    /// `None` when the tenant has no registration of `plugin`.
    async fn set_tools(
        &self,
        tenant: &str,
        plugin: &str,
        tools: &str,
    ) -> Result<Option<i64>, StoreError>;

    /// Registrations (of one tenant, of one plugin, when given), by tenant then plugin.
    async fn registrations(
        &self,
        tenant: Option<&str>,
        plugin: Option<&str>,
    ) -> Result<Vec<Registration>, StoreError>;

    /// `(dependency, requirement)` pairs `plugin` declared.
    async fn dependencies(&self, plugin: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// The plugins enabled for `tenant` that declared a dependency on `plugin`.
    async fn dependents(&self, tenant: &str, plugin: &str) -> Result<Vec<String>, StoreError>;

    /// The installed version of `plugin` when `tenant` has it enabled.
    async fn enabled_version(
        &self,
        tenant: &str,
        plugin: &str,
    ) -> Result<Option<String>, StoreError>;

    async fn add_token(
        &self,
        hash: &str,
        tenant: &str,
        role: &str,
        label: &str,
    ) -> Result<(), StoreError>;

    /// Every token (of `tenant`, when given), oldest first.
    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRow>, StoreError>;

    /// Deletes the token whose hash is `hash`; how many rows went (0 or 1).
    async fn remove_token(&self, hash: &str) -> Result<usize, StoreError>;

    /// `(tenant, role)` of the token whose hash is `hash`.
    async fn token(&self, hash: &str) -> Result<Option<(String, String)>, StoreError>;

    /// Starts hearing other processes' writes (see [`Changes`]).
    async fn changes(&self) -> Result<Changes, StoreError>;
}

/// Other processes' writes, as a counter that moves at least once after each of them
/// (several writes may move it once). It also moves after the backend lost and regained
/// its way of hearing them (a PostgreSQL reconnect), since writes made meanwhile went
/// unheard: a follower re-reads everything whenever it moves.
pub(crate) struct Changes {
    pub(crate) seen: tokio::sync::watch::Receiver<u64>,
    /// The task that listens; stopped when this is dropped.
    pub(crate) listener: tokio::task::JoinHandle<()>,
}

impl Drop for Changes {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Opens the store at `location`: a `postgres://` or `postgresql://` URL, else a file
/// path (created with its folder when missing).
pub(crate) async fn open(location: &str) -> Result<Box<dyn Store>, StoreError> {
    if is_postgres(location) {
        #[cfg(feature = "postgres")]
        return Ok(Box::new(postgres::PgStore::connect(location).await?));
        #[cfg(not(feature = "postgres"))]
        return Err(StoreError::Location(
            location.into(),
            "this build has no PostgreSQL support (build airlock-server with feature `postgres`)"
                .into(),
        ));
    }
    Ok(Box::new(sqlite::SqliteStore::open(Path::new(location))?))
}

/// Whether `location` names a PostgreSQL database rather than a file.
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A registry location as errors, logs and `airlock config show` print it: a URL's
/// password, in the user information or as a `password=` parameter, replaced by `***`; a
/// file path as it is. The user information ends at the last `@` before the query, as
/// URL parsers read it (so a password may hold a `/`).
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let location = match before_query.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => before_query.to_string(),
        },
        None => before_query.to_string(),
    };
    let query = query.map_or(String::new(), |query| {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect();
        format!("?{}", pairs.join("&"))
    });
    format!("{scheme}://{location}{query}")
}

/// A stored tool filter; one that no longer parses (written by hand) lets nothing through,
/// since it was meant to restrict.
fn tool_filter(text: &str) -> airlock::ToolFilter {
    serde_json::from_str(text).unwrap_or_else(|_| airlock::ToolFilter {
        allow: vec![String::new()],
        deny: vec![],
    })
}

/// Unix seconds now.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_location_never_shows_the_password() {
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/airlock"),
            "postgres://app:***@db:5432/airlock"
        );
        assert_eq!(
            redacted("postgres://app@db/airlock"),
            "postgres://app@db/airlock"
        );
        assert_eq!(
            redacted("postgresql://a:b:c@h/d?x=1"),
            "postgresql://a:***@h/d?x=1"
        );
        assert_eq!(redacted("/var/lib/registry.db"), "/var/lib/registry.db");
        assert_eq!(
            redacted("postgres://app:pa/ss@db/airlock"),
            "postgres://app:***@db/airlock"
        );
        assert_eq!(
            redacted("postgres://app@db/airlock?sslmode=disable&password=s3cret"),
            "postgres://app@db/airlock?sslmode=disable&password=***"
        );
    }
}
