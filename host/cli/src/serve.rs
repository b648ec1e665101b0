//! `airlock serve` and `airlock mcp`: the registry served to other processes. Protocol on
//! stdout (stdio modes) and nothing else; logs on stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use airlock_server::serve::{self, McpServer, Service};
use anyhow::{Context, Result, bail};
use clap::Args;

/// Where the registry is and what it may grant.
#[derive(Args)]
pub struct RegistryFlags {
    /// The registry database (default: `$AIRLOCK_REGISTRY`, the config file's, else
    /// `$XDG_DATA_HOME/airlock/registry.db`; `airlock config show` says which).
    #[arg(long)]
    registry: Option<PathBuf>,
    /// The operator policy (TOML) (default: `$AIRLOCK_POLICY`, else the config file's);
    /// without one nothing is allowed.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Do not reload plugins when their folders change.
    #[arg(long)]
    no_watch: bool,
    /// Largest request frame, in bytes.
    #[arg(long, default_value_t = serve::MAX_FRAME)]
    max_frame: usize,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Serve JSON-RPC 2.0, newline-delimited, on stdin/stdout.
    #[arg(long, conflicts_with = "http")]
    stdio: bool,
    /// Serve the admin and tool HTTP API on this address, e.g. 127.0.0.1:8700.
    #[arg(long)]
    http: Option<String>,
    /// The tenant for requests that name none (default: `$AIRLOCK_TENANT`, the config
    /// file's, else `default`).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    registry: RegistryFlags,
}

#[derive(Args)]
pub struct McpArgs {
    /// Serve streamable HTTP on this address (endpoint `/mcp`) instead of stdio.
    #[arg(long)]
    http: Option<String>,
    /// Host names accepted in `Host`/`Origin` besides the loopback ones.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Serve `--http` to other machines: allows an address that is not loopback, and then
    /// every request needs a bearer token of the tenant (`airlock token create`).
    #[arg(long, requires = "http")]
    allow_remote: bool,
    /// The tenant whose enabled tools are served (default: `$AIRLOCK_TENANT`, the config
    /// file's, else `default`).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    registry: RegistryFlags,
}

/// What keeps a served registry current while it lives: the database follower (changes
/// other processes make, e.g. `airlock plugins disable`) and the folder watcher.
struct Following {
    _database: airlock_server::registry::Follower,
    _folders: Option<airlock_server::registry::Watcher>,
}

/// Opens the registry, restores what was enabled, follows the changes other processes make
/// to its database and (unless told not to) watches folders. Says, in one line each, when
/// the tenant has nothing to serve or no policy was found, naming where it looked.
async fn start(
    flags: &RegistryFlags,
    tenant: &str,
) -> Result<(Arc<airlock_server::registry::Registry>, Following)> {
    let path = crate::settings::registry(flags.registry.clone())?;
    let is_url = path
        .value
        .to_str()
        .is_some_and(airlock_server::registry::is_postgres);
    let new = !is_url && !path.value.exists();
    let registry = Arc::new(
        crate::plugins::open_registry(Some(path.value.clone()), flags.policy.as_deref()).await?,
    );
    if crate::settings::policy(flags.policy.as_deref())?.is_none() {
        tracing::warn!(
            "no policy (none from --policy, $AIRLOCK_POLICY or {}): plugins are granted \
             nothing, and those that request capabilities are refused",
            crate::settings::config_path().display()
        );
    }
    for (registration, error) in registry.restore().await? {
        tracing::warn!(
            tenant = registration.tenant,
            plugin = registration.plugin,
            "not served: {error}"
        );
    }
    let enabled = registry.registrations(Some(tenant)).await?;
    if !enabled.iter().any(|r| r.enabled) {
        let state = if new { "new and empty" } else { "existing" };
        tracing::warn!(
            "tenant `{tenant}` has no plugins enabled in the registry at {} ({state}; from {}): \
             nothing to serve yet. Enable one with `airlock plugins enable NAME --tenant \
             {tenant}`, or point --registry, $AIRLOCK_REGISTRY or the config file at the \
             registry you meant",
            registry.location(),
            path.source
        );
    }
    let watcher = match flags.no_watch {
        true => None,
        false => Some(registry.watch().await?),
    };
    let following = Following {
        _database: registry.follow().await?,
        _folders: watcher,
    };
    Ok((registry, following))
}

pub async fn serve(args: ServeArgs) -> Result<ExitCode> {
    let tenant = crate::settings::tenant(args.tenant)?.value;
    let (registry, _following) = start(&args.registry, &tenant).await?;
    let service = Service::new(registry, tenant);
    match (args.stdio, args.http) {
        (true, _) => serve::jsonrpc_stdio(service, args.registry.max_frame).await?,
        (false, Some(address)) => {
            let app = serve::http::admin::default_router(service);
            listen(&address, app).await?;
        }
        (false, None) => bail!("say how to serve: --stdio or --http ADDR"),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn mcp(args: McpArgs) -> Result<ExitCode> {
    let tenant = crate::settings::tenant(args.tenant)?.value;
    let (registry, _following) = start(&args.registry, &tenant).await?;
    let server = McpServer::new(registry, tenant.clone());
    let Some(address) = args.http else {
        serve::mcp_stdio(server, args.registry.max_frame).await?;
        return Ok(ExitCode::SUCCESS);
    };
    let listener = bind(&address).await?;
    let loopback = listener.local_addr()?.ip().is_loopback();
    let app = match (loopback, args.allow_remote) {
        (_, true) => serve::http::mcp::remote_router(server, args.allow_hosts),
        (true, false) => serve::http::mcp::router(server, args.allow_hosts),
        (false, false) => bail!(
            "refusing to serve MCP without authentication on {address}, which is not a loopback \
             address: other machines could call every tool. Bind 127.0.0.1, or pass \
             --allow-remote to require a bearer token of tenant `{}` (`airlock token create`) \
             on every request",
            tenant
        ),
    };
    serve_on(listener, app).await?;
    Ok(ExitCode::SUCCESS)
}

async fn bind(address: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))
}

/// Serves `app` on `address` until Ctrl-C or SIGTERM; requests in flight finish first.
async fn listen(address: &str, app: axum::Router) -> Result<()> {
    serve_on(bind(address).await?, app).await
}

/// Serves `app` on `listener` until Ctrl-C or SIGTERM; requests in flight finish first.
async fn serve_on(listener: tokio::net::TcpListener, app: axum::Router) -> Result<()> {
    // The bound address on stderr, so a caller that asked for port 0 learns the port.
    eprintln!("airlock: listening on http://{}", listener.local_addr()?);
    serve::http::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    eprintln!("airlock: shutting down; finishing requests in flight");
}

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Create a bearer token for the HTTP API; the secret is printed once (stored hashed).
    Create {
        /// The tenant the token acts for.
        #[arg(long)]
        tenant: String,
        /// admin (manage plugins, call tools) or caller (call tools, dispatch hooks).
        #[arg(long)]
        role: airlock_server::registry::Role,
        /// A note on who holds it.
        #[arg(long, default_value = "")]
        label: String,
        /// The registry database (default `$AIRLOCK_REGISTRY`, else the XDG default).
        #[arg(long)]
        registry: Option<PathBuf>,
    },
    /// List tokens (ids, tenants, roles, labels; never the secrets).
    List {
        /// Only this tenant's tokens.
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The registry database (default: `$AIRLOCK_REGISTRY`, the config file's, else
        /// the XDG default).
        #[arg(long)]
        registry: Option<PathBuf>,
    },
    /// Revoke a token by its id (at least 8 characters of it, from `token list`). The next
    /// request with it is refused.
    Revoke {
        /// The token's id, or at least its first 8 characters.
        id: String,
        /// The registry database (default: `$AIRLOCK_REGISTRY`, the config file's, else
        /// the XDG default).
        #[arg(long)]
        registry: Option<PathBuf>,
    },
}

pub async fn token(args: TokenArgs) -> Result<ExitCode> {
    match args.command {
        TokenCommand::Create {
            tenant,
            role,
            label,
            registry,
        } => {
            let registry = crate::plugins::open_registry_for_tokens(registry).await?;
            println!("{}", registry.create_token(&tenant, role, &label).await?);
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List {
            tenant,
            json,
            registry,
        } => {
            let registry = crate::plugins::open_registry_for_tokens(registry).await?;
            let tokens = registry.tokens(tenant.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!("{:<18} {:<16} {:<8} label", "id", "tenant", "role");
                for t in &tokens {
                    println!("{:<18} {:<16} {:<8} {}", t.id, t.tenant, t.role, t.label);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { id, registry } => {
            let registry = crate::plugins::open_registry_for_tokens(registry).await?;
            let revoked = registry.revoke_token(&id).await?;
            println!(
                "revoked {} ({} for tenant `{}`{})",
                revoked.id,
                revoked.role,
                revoked.tenant,
                match revoked.label.is_empty() {
                    true => String::new(),
                    false => format!(", \"{}\"", revoked.label),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
