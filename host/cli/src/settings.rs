//! Remembered settings: the policy, the registry and the default tenant, so an operator
//! does not repeat `--policy` on every command. Each is taken, in order, from its flag,
//! its environment variable (`AIRLOCK_POLICY`, `AIRLOCK_REGISTRY`, `AIRLOCK_TENANT`), the
//! config file, or the default; `airlock config show` prints each one and where it came
//! from.
//!
//! The config file is `$AIRLOCK_CONFIG`, else `$XDG_CONFIG_HOME/airlock/config.toml`, else
//! `~/.config/airlock/config.toml` (the XDG Base Directory default):
//!
//! ```toml
//! policy = "policy.toml"        # relative paths are relative to this file's folder
//! registry = "~/airlock/registry.db"
//! tenant = "acme"
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env { name: &'static str },
    /// The config file.
    ConfigFile { path: PathBuf },
    /// Nothing set it.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => write!(f, "the command line"),
            Source::Env { name } => write!(f, "${name}"),
            Source::ConfigFile { path } => write!(f, "{}", path.display()),
            Source::Default => write!(f, "the default"),
        }
    }
}

/// A setting's value and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved<T> {
    pub value: T,
    pub source: Source,
}

/// The config file's contents. Unknown keys are errors, so a typo is never ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    policy: Option<PathBuf>,
    registry: Option<PathBuf>,
    tenant: Option<String>,
}

/// The config file's path (whether or not it exists).
pub fn config_path() -> PathBuf {
    if let Some(path) = std::env::var_os("AIRLOCK_CONFIG") {
        return PathBuf::from(path);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("airlock/config.toml")
}

/// The config file, when there is one. Errors name the file and the problem.
fn read_file() -> Result<Option<(PathBuf, File)>> {
    let path = config_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let file: File = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a valid Airlock config file (keys: policy, registry, tenant)",
            path.display()
        )
    })?;
    Ok(Some((path, file)))
}

/// `path` as written in the config file at `file`: `~/` is the home folder, and a
/// relative path is relative to the file's folder.
fn from_file(path: &Path, file: &Path) -> PathBuf {
    // A database URL (`registry = "postgres://…"`) is not a path to resolve.
    if path
        .to_str()
        .is_some_and(airlock_server::registry::is_postgres)
    {
        return path.to_path_buf();
    }
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), std::env::var_os("HOME")) {
        return PathBuf::from(home).join(rest);
    }
    match path.is_relative() {
        true => file.parent().unwrap_or(Path::new(".")).join(path),
        false => path.to_path_buf(),
    }
}

/// The first of: `flag`, `$env`, the config file's `key`, else `None`.
fn resolve<T>(
    flag: Option<T>,
    env: &'static str,
    from_config: impl FnOnce(&Path, &File) -> Option<T>,
    parse_env: impl FnOnce(std::ffi::OsString) -> T,
) -> Result<Option<Resolved<T>>> {
    if let Some(value) = flag {
        return Ok(Some(Resolved {
            value,
            source: Source::Flag,
        }));
    }
    if let Some(value) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        let value = parse_env(value);
        return Ok(Some(Resolved {
            value,
            source: Source::Env { name: env },
        }));
    }
    Ok(read_file()?.and_then(|(path, file)| {
        let value = from_config(&path, &file)?;
        Some(Resolved {
            value,
            source: Source::ConfigFile { path },
        })
    }))
}

/// The operator policy to load, if any: `--policy`, `$AIRLOCK_POLICY`, the config file.
pub fn policy(flag: Option<&Path>) -> Result<Option<Resolved<PathBuf>>> {
    resolve(
        flag.map(Path::to_path_buf),
        "AIRLOCK_POLICY",
        |path, file| file.policy.as_deref().map(|p| from_file(p, path)),
        PathBuf::from,
    )
}

/// The registry database: `--registry`, `$AIRLOCK_REGISTRY`, the config file, else
/// `$XDG_DATA_HOME/airlock/registry.db`.
pub fn registry(flag: Option<PathBuf>) -> Result<Resolved<PathBuf>> {
    let found = resolve(
        flag,
        "AIRLOCK_REGISTRY",
        |path, file| file.registry.as_deref().map(|p| from_file(p, path)),
        PathBuf::from,
    )?;
    Ok(found.unwrap_or_else(|| Resolved {
        value: airlock_server::registry::Registry::default_path(),
        source: Source::Default,
    }))
}

/// The tenant to act for: `--tenant`, `$AIRLOCK_TENANT`, the config file, else `default`.
pub fn tenant(flag: Option<String>) -> Result<Resolved<String>> {
    let found = resolve(
        flag,
        "AIRLOCK_TENANT",
        |_, file| file.tenant.clone(),
        |v| v.to_string_lossy().into_owned(),
    )?;
    Ok(found.unwrap_or_else(|| Resolved {
        value: "default".into(),
        source: Source::Default,
    }))
}

/// `airlock config show`: every setting, its value and where it came from.
pub fn show(json: bool) -> Result<std::process::ExitCode> {
    let file = config_path();
    let exists = file.is_file();
    let policy = policy(None)?;
    let mut registry = registry(None)?;
    // A database URL may carry a password: never print it.
    let shown = airlock_server::registry::redacted(&registry.value.to_string_lossy());
    registry.value = PathBuf::from(shown);
    let tenant = tenant(None)?;
    if json {
        let report = serde_json::json!({
            "config_file": {"path": file, "exists": exists},
            "policy": policy,
            "registry": registry,
            "tenant": tenant,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let found = if exists { "" } else { " (none yet)" };
    println!("config file  {}{found}", file.display());
    match &policy {
        Some(p) => println!("policy       {}  (from {})", p.value.display(), p.source),
        None => println!(
            "policy       none: plugins are granted nothing  (set --policy, $AIRLOCK_POLICY or `policy` in the config file)"
        ),
    }
    println!(
        "registry     {}  (from {})",
        registry.value.display(),
        registry.source
    );
    println!("tenant       {}  (from {})", tenant.value, tenant.source);
    Ok(std::process::ExitCode::SUCCESS)
}
