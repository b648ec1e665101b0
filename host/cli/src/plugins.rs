//! `airlock plugins …`: the registry from the command line. Each command opens the registry
//! database, does one thing, and prints a table (or JSON with `--json`). Exit codes: 0 done,
//! 1 refused (a failing health poll, a reload that kept the old version), 2 bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airlock::text::{self, Untrusted};
use airlock_server::registry::{Registry, is_postgres};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

#[derive(Args)]
pub struct PluginsArgs {
    /// The registry database (default: `$AIRLOCK_REGISTRY`, the config file's, else
    /// `$XDG_DATA_HOME/airlock/registry.db`; `airlock config show` says which).
    #[arg(long, global = true)]
    registry: Option<PathBuf>,
    /// The operator policy (TOML) plugins are loaded under (default: `$AIRLOCK_POLICY`,
    /// else the config file's); without one nothing is allowed.
    #[arg(long, global = true)]
    policy: Option<PathBuf>,
    /// The tenant to act for (default: `$AIRLOCK_TENANT`, the config file's, else
    /// `default`).
    #[arg(long, global = true)]
    tenant: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: PluginsCommand,
}

/// `airlock tools …`.
#[derive(Args)]
pub struct ToolsArgs {
    #[command(subcommand)]
    command: ToolsCommand,
}

#[derive(Subcommand)]
enum ToolsCommand {
    /// List the tenant's tools (`plugin.tool`) with their descriptions; every enabled
    /// plugin is started to ask it.
    List {
        /// The registry database (default: `$AIRLOCK_REGISTRY`, the config file's, else
        /// `$XDG_DATA_HOME/airlock/registry.db`).
        #[arg(long)]
        registry: Option<PathBuf>,
        /// The operator policy (default: `$AIRLOCK_POLICY`, else the config file's).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The tenant (default: `$AIRLOCK_TENANT`, the config file's, else `default`).
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON (name, plugin, description, input schema).
        #[arg(long)]
        json: bool,
    },
}

/// `airlock tools list`: the tenant's catalog, after starting what it has enabled.
pub async fn tools(args: ToolsArgs) -> Result<ExitCode> {
    let ToolsCommand::List {
        registry,
        policy,
        tenant,
        json,
    } = args.command;
    let registry = open_registry(registry, policy.as_deref()).await?;
    let tenant = crate::settings::tenant(tenant)?.value;
    for (registration, error) in registry.restore_tenant(&tenant).await? {
        eprintln!(
            "airlock: {} is enabled but does not start, so its tools are missing: {}",
            Untrusted(&registration.plugin),
            text::escape_lines(&error.to_string(), "  ")
        );
    }
    let entries = registry.catalog(&tenant).entries();
    if json {
        println!(
            "{}",
            text::to_json_pretty(&json!({"tenant": tenant, "tools": entries}))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for entry in &entries {
        println!(
            "{:<32} {}",
            Untrusted(&entry.name),
            Untrusted(&entry.definition.description)
        );
    }
    if entries.is_empty() {
        eprintln!(
            "airlock: tenant `{tenant}` has no tools: enable a plugin with `airlock plugins enable NAME --tenant {tenant}`"
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Installed plugins and the tenant's registrations.
    List,
    /// Install (or update) a plugin folder, or pull one from a registry:
    /// oci://HOST[:PORT]/REPO:TAG or oci://HOST/REPO@sha256:DIGEST (verified under the
    /// policy's [trust] first).
    Install {
        /// A plugin folder, or an `oci://` reference.
        folder: PathBuf,
    },
    /// Enable a plugin for the tenant: by name (installed, or found on the plugin search
    /// path) or by folder, written as a path (`./hello`, `plugins/hello`).
    Enable {
        /// A plugin name, or a folder written as a path (`./NAME` for one in the current
        /// directory).
        plugin: String,
        /// Configuration as a JSON object (default: the one stored for the tenant, else
        /// `{}`).
        #[arg(long)]
        config: Option<String>,
    },
    /// Disable a plugin for the tenant (refused while others depend on it).
    Disable {
        /// The plugin's name.
        plugin: String,
    },
    /// Read or change the tenant's configuration of a plugin.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Re-read a plugin's folder and switch every tenant to the new version.
    Reload {
        /// The plugin's name.
        plugin: String,
    },
    /// Show, or restrict, which of a plugin's tools the tenant sees and may call (every
    /// front end applies it). Patterns name the plugin's own tool names; `*` matches any
    /// run. Without options: show the current filter.
    Tools {
        /// The plugin's name.
        plugin: String,
        /// Only tools matching one of these (repeatable).
        #[arg(long)]
        allow: Vec<String>,
        /// Never tools matching one of these (repeatable; wins over --allow).
        #[arg(long)]
        deny: Vec<String>,
        /// Show every tool again (clears the filter).
        #[arg(long, conflicts_with_all = ["allow", "deny"])]
        all: bool,
    },
    /// Start the plugin for the tenant and poll its health.
    Health {
        /// The plugin's name.
        plugin: String,
    },
    /// Restart a plugin for the tenant with its stored configuration, clearing a failing
    /// mark (a running server applies it within about a second).
    Reset {
        /// The plugin's name.
        plugin: String,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the tenant's configuration of a plugin (JSON).
    Get {
        /// The plugin's name.
        plugin: String,
    },
    /// Replace it: checked against the manifest's `[config]` schema and the plugin's
    /// `init` before it is stored.
    Set {
        /// The plugin's name.
        plugin: String,
        /// The new configuration, a JSON object.
        config: String,
    },
}

pub async fn run(args: PluginsArgs) -> Result<ExitCode> {
    let registry_path = registry_path(args.registry.clone())?;
    let registry = open_registry(Some(registry_path.clone()), args.policy.as_deref()).await?;
    let tenant = crate::settings::tenant(args.tenant.clone())?.value;
    let tenant = tenant.as_str();
    let out = Printer { json: args.json };
    match args.command {
        PluginsCommand::List => list(&registry, tenant, out).await,
        PluginsCommand::Install { folder } if crate::publish::oci_target(&folder).is_some() => {
            let reference = crate::publish::oci_target(&folder).unwrap_or_default();
            let store = crate::publish::store_dir(&registry_path);
            let done = crate::publish::install(&registry, &store, reference).await?;
            let text = format!(
                "installed {} {} from {reference} ({})",
                done["installed"].as_str().unwrap_or_default(),
                done["version"].as_str().unwrap_or_default(),
                done["digest"].as_str().unwrap_or_default()
            );
            out.done(&done, &text);
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Install { folder } => {
            let name = registry.install(&folder).await?;
            out.done(&json!({"installed": name}), &format!("installed {name}"));
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Enable { plugin, config } => {
            let name = installed_name(&registry, &plugin).await?;
            let config = match config {
                Some(text) => crate::parse_json("--config", &text)?,
                None => registry.kept_config(tenant, &name).await?,
            };
            let loaded = registry.enable(tenant, &name, config).await?;
            let version = loaded.metadata().version.to_string();
            out.done(
                &json!({"tenant": tenant, "plugin": name, "version": version, "enabled": true}),
                &format!("enabled {name} {version} for {tenant}"),
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Disable { plugin } => {
            registry.disable(tenant, &plugin).await?;
            out.done(
                &json!({"tenant": tenant, "plugin": plugin, "enabled": false}),
                &format!("disabled {plugin} for {tenant}"),
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Config {
            action: ConfigAction::Get { plugin },
        } => {
            let config = registry.config(tenant, &plugin).await?;
            println!("{}", text::to_json_pretty(&config)?);
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Config {
            action: ConfigAction::Set { plugin, config },
        } => {
            let config = crate::parse_json("config", &config)?;
            registry.set_config(tenant, &plugin, config.clone()).await?;
            out.done(
                &json!({"tenant": tenant, "plugin": plugin, "config": config}),
                &format!("configured {plugin} for {tenant}"),
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Reload { plugin } => {
            let outcomes = registry.reload(&plugin).await?;
            let text: Vec<String> = outcomes
                .iter()
                .map(|o| match &o.error {
                    None => format!("{}: {} → {}", o.tenant, show(&o.from), show(&o.to)),
                    Some(e) => format!("{}: kept {} ({})", o.tenant, show(&o.from), Untrusted(e)),
                })
                .collect();
            let text = match text.is_empty() {
                true => format!("{plugin}: reinstalled (no tenant has it enabled)"),
                false => text.join("\n"),
            };
            out.done(&outcomes, &text);
            Ok(match outcomes.iter().all(|o| o.succeeded()) {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            })
        }
        PluginsCommand::Reset { plugin } => {
            registry.reset(tenant, &plugin).await?;
            out.done(
                &json!({"tenant": tenant, "plugin": plugin, "reset": true}),
                &format!("reset {plugin} for {tenant}: restarted with its stored configuration"),
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Tools {
            plugin,
            allow,
            deny,
            all,
        } => {
            if all || !allow.is_empty() || !deny.is_empty() {
                let filter = airlock::ToolFilter { allow, deny };
                registry.set_tools(tenant, &plugin, filter).await?;
            }
            let filter = registry.tools(tenant, &plugin).await?;
            let shown = |patterns: &[String]| match patterns.is_empty() {
                true => "-".to_string(),
                false => text::escape(&patterns.join(", ")).into_owned(),
            };
            let summary = match filter.is_open() {
                true => format!("{plugin} for {tenant}: every tool"),
                false => format!(
                    "{plugin} for {tenant}: allow {}; deny {}",
                    shown(&filter.allow),
                    shown(&filter.deny)
                ),
            };
            out.done(
                &json!({"tenant": tenant, "plugin": plugin, "allow": filter.allow, "deny": filter.deny}),
                &summary,
            );
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Health { plugin } => {
            let health = registry.health(tenant, &plugin).await?;
            let fine = health.error.is_none()
                && matches!(health.state, airlock::plugin::PluginState::Ready);
            let text = match (&health.report, &health.error) {
                (Some(r), _) => format!(
                    "{} {} for {}: {:?} — {}\n  {} calls, {} failed; latency {:.2} ms mean; \
                     fuel {:.0} per call; memory {:.1} MiB peak (this process's calls)",
                    health.plugin,
                    health.version,
                    health.tenant,
                    r.status,
                    Untrusted(&r.message),
                    health.usage.calls,
                    health.usage.errors.values().sum::<u64>(),
                    health.usage.latency_ms,
                    health.usage.fuel_per_call,
                    health.usage.memory_mb,
                ),
                (None, Some(e)) => format!(
                    "{} for {}: {}",
                    health.plugin,
                    health.tenant,
                    text::escape_lines(e, "  ")
                ),
                (None, None) => format!("{}: {:?}", health.plugin, health.state),
            };
            out.done(&health, &text);
            Ok(match fine {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            })
        }
    }
}

/// Opens the registry at `path` (default `$AIRLOCK_REGISTRY`, else the XDG default) under
/// the policy file.
pub async fn open_registry(path: Option<PathBuf>, policy: Option<&Path>) -> Result<Registry> {
    let path = registry_path(path)?;
    let policy = crate::audit::load_policy(policy)?;
    let runtime = crate::audit::runtime_for(&policy)?;
    connect(&path, runtime, policy).await
}

/// The registry at `location`: a `postgres://` URL, else a database file.
async fn connect(
    location: &Path,
    runtime: airlock::Runtime,
    policy: airlock::policy::Policy,
) -> Result<Registry> {
    let opened = match location.to_str() {
        Some(url) if is_postgres(url) => Registry::connect(url, runtime, policy).await,
        _ => Registry::open(location, runtime, policy),
    };
    // A database's errors name it already (without its password).
    let registry = match location.to_str() {
        Some(url) if is_postgres(url) => opened?,
        _ => opened.with_context(|| format!("opening the registry at {}", location.display()))?,
    };
    // Plugins another host installed from an OCI registry are pulled where this host's
    // `plugins install oci://…` puts them.
    Ok(registry.with_artifact_store(crate::publish::store_dir(location)))
}

/// The registry at `path` for token commands, which load no plugin and so need no policy
/// (a missing or broken policy file must not stop a token revocation).
pub async fn open_registry_for_tokens(path: Option<PathBuf>) -> Result<Registry> {
    let path = registry_path(path)?;
    let policy = airlock::policy::Policy::default();
    let runtime = crate::audit::runtime_for(&policy)?;
    connect(&path, runtime, policy).await
}

/// The registry database: `path`, else `$AIRLOCK_REGISTRY`, the config file's, else the
/// XDG default ([`crate::settings::registry`]).
fn registry_path(path: Option<PathBuf>) -> Result<PathBuf> {
    Ok(crate::settings::registry(path)?.value)
}

fn show(version: &Option<String>) -> &str {
    version.as_deref().unwrap_or("-")
}

/// The installed name for `target`. A path written as one (`./hello`, `dir/hello`, `/abs`,
/// `.`) is a folder, installed first; anything else is a name, resolved as every front end
/// resolves it ([`Registry::resolve`]: installed, else the search path). A bare word is
/// never taken for a folder that happens to be in the current directory.
async fn installed_name(registry: &Registry, target: &str) -> Result<String> {
    let path = Path::new(target);
    if written_as_path(target) {
        anyhow::ensure!(
            path.is_dir(),
            "`{target}` is not a plugin folder (no such directory)"
        );
        return Ok(registry.install(path).await?);
    }
    registry
        .resolve(target)
        .await
        .map_err(|error| match path.is_dir() {
            true => anyhow::anyhow!(
                "{error}. A folder named `{target}` is in the current directory: to use it, write \
             `./{target}`"
            ),
            false => error.into(),
        })
}

/// Whether `target` is written as a path rather than a plugin name.
fn written_as_path(target: &str) -> bool {
    target.contains(std::path::MAIN_SEPARATOR)
        || target.contains('/')
        || target == "."
        || target == ".."
}

async fn list(registry: &Registry, tenant: &str, out: Printer) -> Result<ExitCode> {
    let installed = registry.installed().await?;
    let registrations = registry.registrations(Some(tenant)).await?;
    if out.json {
        let report =
            json!({"tenant": tenant, "installed": installed, "registrations": registrations});
        println!("{}", text::to_json_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<20} {:<10} {:<9} folder", "plugin", "version", tenant);
    for plugin in &installed {
        let state = match registrations.iter().find(|r| r.plugin == plugin.name) {
            Some(r) if r.enabled => "enabled",
            Some(_) => "disabled",
            None => "-",
        };
        println!(
            "{:<20} {:<10} {:<9} {}",
            Untrusted(&plugin.name),
            Untrusted(&plugin.version),
            state,
            Untrusted(&plugin.dir.display().to_string())
        );
        if let (Some(source), Some(digest)) = (&plugin.source, &plugin.source_digest) {
            println!("{:<41} from {source} ({digest})", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy)]
struct Printer {
    json: bool,
}

impl Printer {
    fn done(&self, value: &impl Serialize, text: &str) {
        match self.json {
            true => println!("{}", text::to_json_pretty(value).expect("serialisable")),
            false => println!("{text}"),
        }
    }
}
