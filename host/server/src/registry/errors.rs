//! Why a registry operation failed: [`RegistryError`], one variant per reason, each naming
//! what to do.

use super::StoreError;
use airlock::manifest::ManifestError;
use airlock::{CallError, LoadError};

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry's database failed (see [`StoreError`]: a full disk, an unreachable
    /// PostgreSQL server, …).
    #[error(transparent)]
    Db(#[from] StoreError),
    #[error("plugin `{0}` is not installed")]
    NotInstalled(String),
    /// The plugin was installed from a local folder on another host sharing the database,
    /// and this host has no such folder and no registry to pull it from.
    #[error(
        "plugin `{plugin}` was installed from the folder {} on another host, and this host has \
         no such folder; install it from an OCI registry (`airlock plugins install oci://…`) \
         so every host can pull it, or put the folder at the same path here",
        dir.display()
    )]
    FolderMissing {
        plugin: String,
        dir: std::path::PathBuf,
    },
    /// Pulling a plugin this host lacks failed (unreachable registry, bad signature, …):
    /// nothing of it is served here.
    #[error("plugin `{plugin}` is not on this host, and pulling {source_ref} failed: {reason}")]
    Pull {
        plugin: String,
        source_ref: String,
        reason: String,
    },
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
    #[error("bad tool filter for `{plugin}`: {reason}")]
    BadToolFilter { plugin: String, reason: String },
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
