//! `airlock`: the command-line front end. A thin layer over the library: parse arguments,
//! load, call, print. Exit codes: 0 success, 1 the call failed (typed error printed),
//! 2 the plugin could not be loaded or the input was bad.

mod audit;
mod cache;
mod demo;
mod plugins;
mod publish;
mod serve;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use airlock::units;
use airlock::{CallContext, HookKind, InstancePool, Limits, LoadOptions, Plugin, Runtime};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Run untrusted plugins as WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a component's world, exports, imports, metadata and tools.
    Inspect {
        /// The plugin component (.wasm).
        component: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Call one tool of a plugin and print its JSON result.
    Call {
        /// The plugin component (.wasm).
        component: PathBuf,
        /// Tool name.
        tool: String,
        /// Arguments as a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Send one hook event to a plugin and print its outcome.
    Hook {
        /// The plugin component (.wasm).
        component: PathBuf,
        /// Hook kind: before-agent-run, after-agent-run, before-tool-call, after-tool-call,
        /// on-error, on-reasoning-step, or custom:NAME.
        kind: String,
        /// Payload as JSON.
        #[arg(default_value = "{}")]
        payload: String,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Review a plugin folder against a policy: identity, integrity, imports, capabilities
    /// requested / allowed / effective, limits, and the verdict. Exit 1 when refused.
    Audit {
        /// The plugin folder (or its airlock.toml).
        plugin: PathBuf,
        /// The operator policy (TOML); without one nothing is allowed.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Print stable JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Pin a plugin folder's component: write its sha256 into airlock.toml (after review).
    Pin {
        /// The plugin folder (or its airlock.toml).
        plugin: PathBuf,
    },
    /// Manage the plugin registry: list, install, enable, disable, config, reload, health.
    Plugins(plugins::PluginsArgs),
    /// Serve the registry to other processes: JSON-RPC 2.0 on stdio.
    Serve(serve::ServeArgs),
    /// Serve one tenant's tools over the Model Context Protocol (stdio or streamable HTTP).
    Mcp(serve::McpArgs),
    /// Show or clear the compiled-artifact cache.
    Cache(cache::CacheArgs),
    /// Create API tokens for `airlock serve --http`.
    Token(serve::TokenArgs),
    /// Build the examples and show Airlock at work: tools, hooks, and runaway plugins stopped.
    Demo,
    /// Create a minisign key pair for signing plugins.
    Keygen(publish::KeygenArgs),
    /// Sign a plugin folder: its manifest, which pins the component, in airlock.toml.minisig.
    Sign(publish::SignArgs),
    /// Check a plugin folder's signature against trusted keys. Exit 1 when it does not verify.
    Verify(publish::VerifyArgs),
    /// Publish a plugin folder to an OCI registry: oci://HOST[:PORT]/REPO:TAG.
    Push(publish::PushArgs),
}

/// Limits and configuration for one run.
#[derive(Args)]
struct RunFlags {
    /// Fuel per call (≈ instructions), or `off`.
    #[arg(long, value_parser = units::parse_fuel)]
    fuel: Option<units::Fuel>,
    /// Wall-clock deadline per call, e.g. `500ms`, `5s`.
    #[arg(long, value_parser = units::parse_duration)]
    timeout: Option<Duration>,
    /// Linear-memory cap, e.g. `64MiB`.
    #[arg(long, value_parser = units::parse_bytes)]
    memory: Option<usize>,
    /// Plugin configuration passed to `init`, as a JSON object.
    #[arg(long, default_value = "{}")]
    config: String,
    /// Operator policy (TOML) for plugin folders; without one nothing is allowed.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Tenant the call is made for.
    #[arg(long, default_value = "default")]
    tenant: String,
}

impl RunFlags {
    fn load_options(&self) -> Result<LoadOptions> {
        let mut limits = Limits::default();
        if let Some(units::Fuel(fuel)) = self.fuel {
            limits.fuel = fuel;
        }
        if let Some(timeout) = self.timeout {
            limits.deadline = timeout;
        }
        if let Some(memory) = self.memory {
            limits.memory_bytes = memory;
        }
        let config = parse_json("--config", &self.config)?;
        Ok(LoadOptions::default().limits(limits).config(config))
    }
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,airlock::host_api=info,airlock::stdio=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Inspect { component, json } => inspect(&component, json).await,
        Command::Audit {
            plugin,
            policy,
            json,
        } => audit::audit(&plugin, &audit::load_policy(policy.as_deref())?, json).await,
        Command::Pin { plugin } => audit::pin(&plugin),
        Command::Call {
            component,
            tool,
            arguments,
            run,
        } => {
            let plugin = load(&component, &run).await?;
            let arguments = parse_json("arguments", &arguments)?;
            let result = plugin
                .call_tool(&tool, &arguments, &CallContext::for_tenant(run.tenant))
                .await;
            Ok(report(result))
        }
        Command::Hook {
            component,
            kind,
            payload,
            run,
        } => {
            let kind: HookKind = kind.parse().map_err(anyhow::Error::msg)?;
            let plugin = load(&component, &run).await?;
            let payload = parse_json("payload", &payload)?;
            let result = plugin
                .handle_hook(&kind, &payload, &CallContext::for_tenant(run.tenant))
                .await;
            Ok(report(result.map(|outcome| {
                serde_json::to_value(outcome).expect("serialisable")
            })))
        }
        Command::Plugins(args) => plugins::run(args).await,
        Command::Serve(args) => serve::serve(args).await,
        Command::Mcp(args) => serve::mcp(args).await,
        Command::Token(args) => serve::token(args).await,
        Command::Cache(args) => cache::run(args).await,
        Command::Demo => demo::run().await.map(|()| ExitCode::SUCCESS),
        Command::Keygen(args) => publish::keygen(args),
        Command::Sign(args) => publish::sign(args),
        Command::Verify(args) => publish::verify(args),
        Command::Push(args) => publish::push(args).await,
    }
}

/// The instance pool of `airlock call` / `airlock hook`: a one-shot run needs the probe,
/// the first instance and a few spares, not a server's thousand slots.
fn one_shot_pool(memory_bytes: usize) -> InstancePool {
    InstancePool {
        instances: 16,
        ..InstancePool::for_memory(memory_bytes.max(Limits::default().memory_bytes))
    }
}

/// Loads a plugin folder (manifest + policy) or, for a bare `.wasm`, in dev mode.
async fn load(target: &Path, run: &RunFlags) -> Result<Plugin> {
    if target.is_dir()
        || target
            .file_name()
            .is_some_and(|n| n == airlock::manifest::FILE_NAME)
    {
        if run.fuel.is_some() || run.timeout.is_some() || run.memory.is_some() {
            eprintln!(
                "airlock: note: --fuel/--timeout/--memory apply to bare components only; a plugin folder gets its manifest's limits, capped by the policy"
            );
        }
        let policy = audit::load_policy(run.policy.as_deref())?;
        let options = LoadOptions::default().config(parse_json("--config", &run.config)?);
        let runtime = Runtime::builder()
            .instance_pool(Some(one_shot_pool(0)))
            .fit_policy(&policy)
            .build()?;
        return Ok(runtime.load_dir(target, &policy, options).await?);
    }
    eprintln!(
        "airlock: dev mode: {} is a bare component: no manifest, no integrity pin, no capabilities at all (files, env, network, exec denied), limits from the flags or defaults",
        target.display()
    );
    let options = run.load_options()?;
    // The pool's slots hold the memory cap the flags asked for.
    let memory = options.limits.as_ref().map_or(0, |l| l.memory_bytes);
    let runtime = Runtime::builder()
        .instance_pool(Some(one_shot_pool(memory)))
        .build()?;
    Ok(runtime.load_file(target, options).await?)
}

fn parse_json(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON: {text}"))
}

/// Prints a call's result as JSON on stdout, or its typed error on stderr.
fn report(result: Result<Value, airlock::CallError>) -> ExitCode {
    match result {
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).expect("serialisable")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error [{}]: {e}", e.kind());
            ExitCode::FAILURE
        }
    }
}

async fn inspect(component: &Path, as_json: bool) -> Result<ExitCode> {
    let plugin = Runtime::new()?
        .load_file(component, LoadOptions::default())
        .await?;
    let meta = plugin.metadata();
    if as_json {
        let report = json!({
            "world": plugin.world(),
            "metadata": meta,
            "exports": plugin.exports(),
            "imports": plugin.imports(),
            "tools": plugin.tools(),
            "hooks": plugin.subscriptions(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} {} — {}", meta.name, meta.version, meta.description);
    println!("  world        {}", plugin.world());
    println!("  author       {}", meta.author);
    println!("  license      {}", meta.license);
    println!("  host         {}", meta.host_versions);
    println!("  permissions  {}", list_or_none(&meta.permissions));
    println!(
        "  exports      {}",
        plugin.exports().join("\n               ")
    );
    println!(
        "  imports      {}",
        plugin.imports().join("\n               ")
    );
    if !plugin.tools().is_empty() {
        println!("tools:");
        for tool in plugin.tools() {
            let args = tool.input_schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "));
            println!(
                "  {:<16} {}  (arguments: {})",
                tool.name,
                tool.description,
                args.unwrap_or_default()
            );
        }
    }
    if !plugin.subscriptions().is_empty() {
        let kinds: Vec<String> = plugin
            .subscriptions()
            .iter()
            .map(|k| k.to_string())
            .collect();
        println!("hooks: {}", kinds.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn list_or_none(items: &[String]) -> String {
    match items.is_empty() {
        true => "(none)".into(),
        false => items.join(", "),
    }
}
