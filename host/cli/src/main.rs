//! `airlock`: the command-line front end. A thin layer over the library: parse arguments,
//! load, call, print. Exit codes: 0 success, 1 the call failed (typed error printed),
//! 2 the plugin could not be loaded or the input was bad.

mod audit;
mod build;
mod cache;
mod demo;
mod new;
#[cfg(feature = "otel")]
mod otel;
mod plugins;
mod publish;
mod serve;
mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use airlock::text::{self, Untrusted};
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
        /// The component (.wasm), or a plugin folder (its manifest names the component).
        component: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Call one tool of a plugin and print its JSON result (the progress it sends meanwhile
    /// goes to stderr as it arrives); on a component of another
    /// world, call one of its exports (`interface#function`, or a plain world export) with
    /// the arguments converted by its WIT types.
    Call {
        /// A plugin folder (manifest, policy and limits apply) or a bare component (.wasm,
        /// dev mode: no capabilities).
        component: PathBuf,
        /// Tool name (or a foreign component's export: `iface#func`).
        tool: String,
        /// Arguments as a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
        #[command(flatten)]
        run: RunFlags,
    },
    /// Send one hook event to a plugin and print its outcome.
    Hook {
        /// A plugin folder (manifest, policy and limits apply) or a bare component (.wasm,
        /// dev mode: no capabilities).
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
        /// The configuration to check against the manifest's `[config]` schema, as a JSON
        /// object: what a load with it would get (default `{}`).
        #[arg(long, default_value = "{}")]
        config: String,
        /// Print stable JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Pin a plugin folder's component: write its sha256 into airlock.toml (after review).
    Pin {
        /// The plugin folder (or its airlock.toml).
        plugin: PathBuf,
    },
    /// Show the remembered settings (policy, registry, tenant) and where each came from.
    Config(ConfigArgs),
    /// The tools a tenant's enabled plugins offer, as every front end lists them.
    Tools(plugins::ToolsArgs),
    /// Print a shell completion script: `airlock completions bash > /etc/bash_completion.d/airlock`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Manage the plugin registry: list, install, enable, disable, config, reload, health,
    /// reset.
    Plugins(plugins::PluginsArgs),
    /// Serve the registry to other processes: JSON-RPC 2.0 on stdio (`--stdio`), or the
    /// admin and tool HTTP API (`--http ADDR`, bearer tokens from `airlock token`).
    Serve(serve::ServeArgs),
    /// Serve one tenant's tools over the Model Context Protocol (stdio or streamable HTTP).
    Mcp(serve::McpArgs),
    /// Show or clear the compiled-artifact cache.
    Cache(cache::CacheArgs),
    /// Create, list and revoke the API tokens of `airlock serve --http` (and of
    /// `airlock mcp --http --allow-remote`).
    Token(serve::TokenArgs),
    /// Build the examples and show Airlock at work: tools, hooks, and runaway plugins stopped;
    /// or, with `--system NAME`, one of the other plugin systems running on Airlock.
    Demo(demo::DemoArgs),
    /// Start a plugin: scaffold a folder (source, manifest, test, README) in Rust, Python or JS.
    New(new::NewArgs),
    /// Build a plugin folder from source with its language's toolchain and pin the component.
    Build(build::BuildArgs),
    /// Create a minisign key pair for signing plugins.
    Keygen(publish::KeygenArgs),
    /// Sign a plugin folder: its manifest, which pins the component, in airlock.toml.minisig.
    Sign(publish::SignArgs),
    /// Check a plugin folder's signature against trusted keys. Exit 1 when it does not verify.
    Verify(publish::VerifyArgs),
    /// Publish a plugin folder to an OCI registry: oci://HOST[:PORT]/REPO:TAG.
    Push(publish::PushArgs),
}

#[derive(clap::Args)]
struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print each setting, its value and where it came from (flag, environment, the config
    /// file at `$AIRLOCK_CONFIG` or `$XDG_CONFIG_HOME/airlock/config.toml`, or the default).
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Limits and configuration for one run.
#[derive(Args)]
struct RunFlags {
    /// Fuel per call (≈ instructions), or `off`.
    #[arg(long, value_parser = units::parse_fuel)]
    fuel: Option<units::Fuel>,
    /// Wall-clock deadline per call, e.g. `500ms`, `5s`.
    #[arg(long, value_parser = units::parse_duration_with_unit)]
    timeout: Option<Duration>,
    /// Linear-memory cap, e.g. `64MiB`.
    #[arg(long, value_parser = units::parse_memory_with_unit)]
    memory: Option<usize>,
    /// Plugin configuration passed to `init`, as a JSON object.
    #[arg(long, default_value = "{}")]
    config: String,
    /// Operator policy (TOML) for plugin folders (default: `$AIRLOCK_POLICY`, else the
    /// config file's); without one nothing is allowed.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Tenant the call is made for (default: `$AIRLOCK_TENANT`, the config file's, else
    /// `default`).
    #[arg(long)]
    tenant: Option<String>,
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
    let _export = match init_logging() {
        Ok(export) => export,
        Err(e) => {
            eprintln!("error: {}", text::escape_lines(&error_chain(&e), "  "));
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse();
    // Like other Unix tools, a command that prints and exits ends quietly when the reader
    // of its output goes away (`airlock inspect x | head`) instead of panicking on the
    // failed write. Servers keep SIGPIPE ignored: a client going away is an error they
    // handle, finishing what is in flight.
    #[cfg(unix)]
    if !matches!(cli.command, Command::Serve(_) | Command::Mcp(_)) {
        // SAFETY: restoring the default disposition of SIGPIPE, before the tokio runtime
        // starts its threads.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            // Load errors may quote the component or its manifest.
            eprintln!("error: {}", text::escape_lines(&error_chain(&e), "  "));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes, `: `-separated, each cause left out when the text before it
/// already says it (many errors quote their source in their own message, and printing
/// both showed the same sentence twice).
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let line = cause.to_string();
        if text.is_empty() {
            text = line;
        } else if !text.contains(&line) {
            text = format!("{text}: {line}");
        }
    }
    text
}

/// Without the `otel` feature there is nothing to export.
#[cfg(not(feature = "otel"))]
mod otel {
    /// Nothing to flush.
    pub struct Export;

    pub fn layer() -> anyhow::Result<Option<(tracing_subscriber::layer::Identity, Export)>> {
        Ok(None)
    }
}

/// The log on stderr (filtered by `RUST_LOG`, else [`default_log_filter`]) and, with the
/// `otel` feature and an OTLP endpoint configured, the export of call spans ([`otel`]),
/// each layer with its own filter. Answers what must live until the command ends (it
/// flushes the export when dropped).
fn init_logging() -> Result<Option<otel::Export>> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log_filter()));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(|| EscapingWriter(std::io::stderr()))
        // No colours: the writer escapes every control character, the formatter's too.
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter);
    let registry = tracing_subscriber::registry().with(log);
    match otel::layer()? {
        Some((export, guard)) => {
            registry.with(export).init();
            Ok(Some(guard))
        }
        None => {
            registry.init();
            Ok(None)
        }
    }
}

/// The log sink's last line of defence: each record arrives whole (one `write` of the
/// formatted line, ending in its newline) and leaves [`text::escape`]d but for that final
/// newline, so no field or message — whatever quoted a plugin, a trap's backtrace of its
/// function names included — can forge a line or drive the terminal.
struct EscapingWriter<W>(W);

impl<W: std::io::Write> std::io::Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let record = String::from_utf8_lossy(buf);
        let (body, end) = match record.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*record, ""),
        };
        self.0
            .write_all(format!("{}{end}", text::escape(body)).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Warnings, plus everything plugins write (their log records, stdout and stderr) at `info`.
/// Built from the library's target names, so moving a module cannot silence plugins.
fn default_log_filter() -> String {
    let plugins: Vec<String> = airlock::PLUGIN_LOG_TARGETS
        .iter()
        .map(|target| format!("{target}=info"))
        .collect();
    format!("warn,{}", plugins.join(","))
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Inspect { component, json } => inspect(&component, json).await,
        Command::Audit {
            plugin,
            policy,
            config,
            json,
        } => {
            let policy = audit::load_policy(policy.as_deref())?;
            let config = parse_json("--config", &config)?;
            audit::audit(&plugin, &policy, &config, json).await
        }
        Command::Pin { plugin } => audit::pin(&plugin),
        Command::Call {
            component,
            tool,
            arguments,
            run,
        } => {
            let arguments = parse_json("arguments", &arguments)?;
            let plugin = match load(&component, &run).await {
                Ok(plugin) => plugin,
                // A component of another world: its exports, called by name with JSON.
                Err(e) if is_wrong_world(&e) && !component.is_dir() => {
                    return call_export(&component, &tool, &arguments, &run).await;
                }
                Err(e) => return Err(e),
            };
            let context = CallContext::for_tenant(settings::tenant(run.tenant)?.value);
            let call = plugin.call_tool(&tool, &arguments, &context);
            let mut printer = ProgressPrinter::default();
            let print = |event| printer.print(event);
            let result = airlock_server::serve::progress::forwarding(call, Some(print)).await;
            printer.finish_line(&mut std::io::stderr());
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
                .handle_hook(
                    &kind,
                    &payload,
                    &CallContext::for_tenant(settings::tenant(run.tenant)?.value),
                )
                .await;
            Ok(report(result.map(|outcome| {
                serde_json::to_value(outcome).expect("serialisable")
            })))
        }
        Command::Plugins(args) => plugins::run(args).await,
        Command::Tools(args) => plugins::tools(args).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "airlock",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigArgs {
            command: ConfigCommand::Show { json },
        }) => settings::show(json),
        Command::Serve(args) => serve::serve(args).await,
        Command::Mcp(args) => serve::mcp(args).await,
        Command::Token(args) => serve::token(args).await,
        Command::Cache(args) => cache::run(args).await,
        Command::Demo(args) => demo::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args).await,
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

/// Prints a call's progress (`airlock:plugin/progress`) on stderr as it arrives, escaped,
/// every line of it marked as the plugin's: chunks as they come (their line feeds kept, each
/// line starting with `│ `), reports as `│ [done/total] message` lines. A plugin cannot
/// start a line of its own that looks like the host's.
#[derive(Default)]
struct ProgressPrinter {
    mid_line: bool,
}

impl ProgressPrinter {
    const MARK: &str = "│ ";

    fn print(&mut self, event: airlock::progress::Progress) {
        use airlock::progress::Progress;
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        match event {
            Progress::Chunk { chunk } => {
                for piece in chunk.split_inclusive('\n') {
                    if !self.mid_line {
                        let _ = write!(err, "{}", Self::MARK);
                    }
                    let _ = write!(err, "{}", Untrusted(piece.trim_end_matches('\n')));
                    self.mid_line = !piece.ends_with('\n');
                    if !self.mid_line {
                        let _ = writeln!(err);
                    }
                }
            }
            Progress::Report {
                done,
                total,
                message,
            } => {
                self.finish_line(&mut err);
                let total = total.map_or_else(|| "?".to_string(), |t| t.to_string());
                let _ = writeln!(
                    err,
                    "{}[{done}/{total}] {}",
                    Self::MARK,
                    Untrusted(&message)
                );
            }
        }
        let _ = err.flush();
    }

    /// Ends a chunk's unfinished line (before a report, and when the call is over).
    fn finish_line(&mut self, err: &mut impl std::io::Write) {
        if std::mem::take(&mut self.mid_line) {
            let _ = writeln!(err);
        }
    }
}

fn is_wrong_world(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<airlock::LoadError>(),
        Some(airlock::LoadError::WrongWorld { .. })
    )
}

/// `airlock call` on a component that is not an Airlock plugin: the export `name`
/// (`iface#function`, or a plain world export) with `arguments` converted by its WIT types
/// ([`airlock::dynamic`]), under the flags' limits.
async fn call_export(
    component: &Path,
    name: &str,
    arguments: &Value,
    run: &RunFlags,
) -> Result<ExitCode> {
    let options = run.load_options()?;
    let memory = options.limits.as_ref().map_or(0, |l| l.memory_bytes);
    let runtime = Runtime::builder()
        .instance_pool(Some(one_shot_pool(memory)))
        .build()?;
    let loaded = runtime.load_component(component, options).await?;
    Ok(report(loaded.call_json(name, arguments).await))
}

fn parse_json(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON: {text}"))
}

/// Prints a call's result as JSON on stdout, or its typed error on stderr.
fn report(result: Result<Value, airlock::CallError>) -> ExitCode {
    match result {
        Ok(value) => {
            println!("{}", text::to_json_pretty(&value).expect("serialisable"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            // The message may quote the plugin (its error message, a panic).
            eprintln!(
                "error [{}]: {}",
                e.kind(),
                text::escape_lines(&e.to_string(), "  ")
            );
            ExitCode::FAILURE
        }
    }
}

/// Shows what a component is. An Airlock plugin gets its metadata, tools and hooks (which
/// runs its `metadata` export); any other valid component gets its imports and exports with
/// their WIT types and a line saying why it is not an Airlock plugin. Everything the
/// component chose is shown escaped ([`airlock::text`]).
async fn inspect(component: &Path, as_json: bool) -> Result<ExitCode> {
    let folder_component;
    let mut contracts = Vec::new();
    let is_folder = component.is_dir() || component.ends_with(airlock::manifest::FILE_NAME);
    let component = match is_folder {
        true => {
            let dir = airlock::folder::plugin_dir(component);
            let manifest = airlock::manifest::Manifest::from_dir(&dir)?;
            folder_component = dir.join(&manifest.plugin.component);
            contracts = manifest.plugin.contract;
            folder_component.as_path()
        }
        false => component,
    };
    let runtime = Runtime::new()?;
    let interface = airlock::interface::describe_file(&runtime, component).await?;
    let plugin = match runtime.load_file(component, LoadOptions::default()).await {
        Ok(plugin) => plugin,
        Err(
            refusal @ (airlock::LoadError::WrongWorld { .. }
            | airlock::LoadError::UnknownImports { .. }),
        ) => {
            // What can be called on it by name, when the host can link it.
            let functions = match runtime
                .load_component(component, LoadOptions::default())
                .await
            {
                Ok(loaded) => loaded.exports().to_vec(),
                Err(_) => Vec::new(),
            };
            // A folder declaring the host's own contracts is a plugin of world `custom`.
            let (heading, reason) = match contracts.is_empty() {
                true => ("not an Airlock plugin", refusal.to_string()),
                false => (
                    "a plugin of world `custom`",
                    format!(
                        "its manifest declares the contract(s) {}; `airlock audit` with the \
                         policy that serves them checks it, and loaded, its JSON-convertible \
                         exports (Airlock's `lifecycle` aside) are its tools, named by function",
                        contracts.join(", ")
                    ),
                ),
            };
            return inspect_foreign(&interface, &functions, heading, &reason, as_json);
        }
        Err(other) => return Err(other.into()),
    };
    let meta = plugin.metadata();
    if as_json {
        let report = json!({
            "world": plugin.world(),
            "metadata": meta,
            "exports": plugin.exports(),
            "imports": plugin.imports(),
            "interface": interface,
            "tools": plugin.tools(),
            "hooks": plugin.subscriptions(),
        });
        println!("{}", text::to_json_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let show = |s: &str| text::escape(s).into_owned();
    println!(
        "{} {} — {}",
        meta.name,
        meta.version,
        Untrusted(&meta.description)
    );
    println!("  world        {}", plugin.world());
    println!("  author       {}", Untrusted(&meta.author));
    println!("  license      {}", Untrusted(&meta.license));
    println!("  host         {}", meta.host_versions);
    println!("  permissions  {}", list_or_none(&meta.permissions));
    let names = |items: &[String]| {
        items
            .iter()
            .map(|i| show(i))
            .collect::<Vec<_>>()
            .join("\n               ")
    };
    println!("  exports      {}", names(plugin.exports()));
    println!("  imports      {}", names(plugin.imports()));
    if !plugin.tools().is_empty() {
        println!("tools:");
        for tool in plugin.tools() {
            let args = tool.input_schema["properties"]
                .as_object()
                .map(|p| p.keys().map(|k| show(k)).collect::<Vec<_>>().join(", "));
            println!(
                "  {:<16} {}  (arguments: {})",
                Untrusted(&tool.name),
                Untrusted(&tool.description),
                args.unwrap_or_default()
            );
        }
    }
    if !plugin.subscriptions().is_empty() {
        let kinds: Vec<String> = plugin
            .subscriptions()
            .iter()
            .map(|k| show(&k.to_string()))
            .collect();
        println!("hooks: {}", kinds.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `inspect` of a valid component that is not an Airlock plugin: what it is instead
/// (`reason`: why it is not one, or the contracts its folder declares), and its imports and
/// exports with their WIT types.
fn inspect_foreign(
    interface: &airlock::interface::Interface,
    functions: &[airlock::dynamic::Export],
    heading: &str,
    reason: &str,
    as_json: bool,
) -> Result<ExitCode> {
    if as_json {
        let functions: Vec<Value> = functions
            .iter()
            .map(|f| {
                json!({"name": f.name, "signature": f.signature(),
                       "params_schema": f.params_schema(), "result_schema": f.result_schema()})
            })
            .collect();
        let report = json!({"world": null, "not_airlock": reason, "interface": interface,
                            "functions": functions});
        println!("{}", text::to_json_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{heading}: {}", text::escape_lines(reason, "  "));
    for (title, items) in [
        ("imports", &interface.imports),
        ("exports", &interface.exports),
    ] {
        println!("{title}:");
        if items.is_empty() {
            println!("  (none)");
        }
        print_items(items, "  ");
    }
    if !functions.is_empty() {
        println!(
            "callable with `airlock call COMPONENT NAME '{{…}}'` (arguments by name, as JSON):"
        );
        for function in functions {
            println!(
                "  {}: {}",
                Untrusted(&function.name),
                Untrusted(&function.signature())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_items(items: &[airlock::interface::Item], indent: &str) {
    for item in items {
        println!("{indent}{}: {}", Untrusted(&item.name), Untrusted(&item.ty));
        print_items(&item.items, &format!("{indent}  "));
    }
}

/// The items, escaped and comma-separated, or `(none)`.
fn list_or_none(items: &[String]) -> String {
    match items.is_empty() {
        true => "(none)".into(),
        false => items
            .iter()
            .map(|i| text::escape(i))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every command and every argument says what it is in `--help` (issue #20).
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if command.get_about().is_none() {
                missing.push(path.to_string());
            }
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "airlock", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }
}
