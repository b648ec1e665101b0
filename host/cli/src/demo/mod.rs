//! `airlock demo`: builds the example plugins (and the misbehaving test plugin) if needed,
//! then walks a newcomer through what Airlock does, printing each step and its outcome.
//! `airlock demo --system NAME` shows instead one of the plugin systems Airlock replaces
//! running on it (`examples/systems/NAME`): one module per system.

mod app_factory;
mod lleo;
mod orchestrator;
mod victor;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use airlock::{CallContext, HookKind, Limits, LoadOptions, Plugin, Runtime};
use anyhow::{Context, Result, bail};
use serde_json::json;

/// The guest packages of the main demo (folder under `examples/` = package name).
const GUESTS: [&str; 5] = ["calculator", "redact", "count-vowels", "hostile", "fetch"];

/// `airlock demo [--system NAME]`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Show one of the other plugin systems on Airlock instead (`examples/systems/NAME`).
    #[arg(long, value_enum)]
    system: Option<System>,
}

/// The plugin systems `--system` shows.
#[derive(Clone, Copy, clap::ValueEnum)]
enum System {
    /// App Factory's TTS, STT and LLM contracts: espeak-ng, PocketSphinx, a streamed completion.
    AppFactory,
    /// LLEO's modules wrapping command-line tools: git on a granted repository.
    Lleo,
    /// Victor's workflow compilers, routed by URI scheme, cached by the plugin's key.
    Victor,
    /// The orchestrator's domain plugins: phases in order, outputs through the session.
    Orchestrator,
}

pub async fn run(args: DemoArgs) -> Result<()> {
    match args.system {
        None => main_demo().await,
        Some(System::AppFactory) => app_factory::run().await,
        Some(System::Lleo) => lleo::run().await,
        Some(System::Victor) => victor::run().await,
        Some(System::Orchestrator) => orchestrator::run().await,
    }
}

async fn main_demo() -> Result<()> {
    let dir = build_guests(&GUESTS)?;
    let wasm = |name: &str| dir.join(format!("{}.wasm", name.replace('-', "_")));
    let folders = assemble_folders(&dir, GUESTS.map(|g| (g, g)).as_slice())?;
    let runtime = Runtime::new()?;
    let ctx = CallContext::for_tenant("demo");

    step("1. A tool plugin: `calculator` (examples/calculator)");
    let calculator = runtime
        .load_file(wasm("calculator"), LoadOptions::default())
        .await?;
    println!(
        "   loaded `{}` {} as a {} with tools: {}",
        calculator.name(),
        calculator.metadata().version,
        calculator.world(),
        tool_names(&calculator)
    );
    let sum = calculator
        .call_tool("add", &json!({"a": 2, "b": 3}), &ctx)
        .await?;
    println!("   add {{a: 2, b: 3}}        → {}", outcome(&Ok(sum)));
    let refused = calculator
        .call_tool("divide", &json!({"a": 1, "b": 0}), &ctx)
        .await;
    println!("   divide {{a: 1, b: 0}}     → {}", outcome(&refused));
    let bad = calculator
        .call_tool("add", &json!({"a": "two"}), &ctx)
        .await;
    println!("   add {{a: \"two\"}}         → {}", outcome(&bad));
    println!(
        "   (arguments are checked against the tool's JSON Schema before any plugin code runs)"
    );

    step("2. A hook plugin: `redact` (examples/redact), configured to deny the `shell` tool");
    let redact = runtime
        .load_file(
            wasm("redact"),
            LoadOptions::default().config(json!({"deny_tools": ["shell"]})),
        )
        .await?;
    let payload = json!({"tool": "send_email", "arguments": {"to": "alice@example.com", "body": "key sk-live_4f9a8b7c6d5e4f3a2b1c"}});
    println!("   before-tool-call {payload}");
    let rewritten = redact
        .handle_hook(&HookKind::BeforeToolCall, &payload, &ctx)
        .await?;
    println!("   → {}", outcome(&Ok(serde_json::to_string(&rewritten)?)));
    let shell = json!({"tool": "shell", "arguments": {"cmd": "rm -rf /"}});
    let vetoed = redact
        .handle_hook(&HookKind::BeforeToolCall, &shell, &ctx)
        .await?;
    println!(
        "   before-tool-call {shell}\n   → {}",
        outcome(&Ok(serde_json::to_string(&vetoed)?))
    );

    step("3. A runaway plugin (tests/plugins/hostile) that loops forever");
    let tight = Limits::default().with_fuel(Some(50_000_000));
    let hostile = runtime
        .load_file(wasm("hostile"), LoadOptions::default().limits(tight))
        .await?;
    timed(
        "   spin, with a fuel budget of 50,000,000",
        hostile.call_tool("spin", &json!({}), &ctx),
    )
    .await;
    let unmetered = Limits::default()
        .with_fuel(None)
        .with_deadline(Duration::from_millis(500));
    let hostile_no_fuel = runtime
        .load_file(wasm("hostile"), LoadOptions::default().limits(unmetered))
        .await?;
    timed(
        "   spin, fuel off, deadline 500ms",
        hostile_no_fuel.call_tool("spin", &json!({}), &ctx),
    )
    .await;
    let echo = hostile
        .call_tool("echo", &json!({"text": "still here"}), &ctx)
        .await?;
    println!(
        "   the same plugin, next call (a fresh instance): echo → {}",
        outcome(&Ok(echo))
    );
    let product = calculator
        .call_tool("multiply", &json!({"a": 6, "b": 7}), &ctx)
        .await?;
    println!(
        "   the calculator was never disturbed: multiply 6 × 7 → {}",
        outcome(&Ok(product))
    );

    step("4. Outbound HTTP: `fetch` (examples/fetch) against a local web server");
    outbound_http(&runtime, &wasm("fetch"), &ctx).await?;

    step("Done");
    println!(
        "   Every call ran under fuel, a deadline and a memory cap; a limit hit became a typed"
    );
    println!("   error, the instance that hit it was thrown away, and everything else carried on.");
    println!(
        "   Next: the example plugin folders are in {}; try\n     airlock plugins enable {}/calculator --tenant acme\n     airlock tools list --tenant acme",
        folders.display(),
        folders.display()
    );
    Ok(())
}

/// Step 4: a grant, a denial naming the missing grant, the SSRF block and a redirect that
/// is not followed, against a web server on 127.0.0.1 started here.
async fn outbound_http(runtime: &Runtime, component: &Path, ctx: &CallContext) -> Result<()> {
    let origin = local_web_server().await?;
    let folder = std::env::temp_dir().join(format!("airlock-demo-fetch-{}", std::process::id()));
    std::fs::create_dir_all(&folder)?;
    let bytes = std::fs::read(component)?;
    std::fs::write(folder.join("fetch.wasm"), &bytes)?;
    let grant = format!(r#"["{origin}/v1", "http://169.254.169.254/latest"]"#);
    let manifest = format!(
        "[plugin]\nname = \"fetch\"\nversion = \"0.1.0\"\ncomponent = \"fetch.wasm\"\nsha256 = \"{}\"\n\n[capabilities]\nhttp = {grant}\n",
        airlock::digest::Sha256::of(&bytes)
    );
    std::fs::write(folder.join("airlock.toml"), manifest)?;
    let policy_text =
        format!("[network]\nallow-local = [\"127.0.0.1/32\"]\n\n[plugins.fetch]\nhttp = {grant}\n");
    println!("   manifest and policy: http = {grant}");
    println!("   policy: [network] allow-local = [\"127.0.0.1/32\"] (the demo server's address)");
    let policy =
        airlock::policy::Policy::parse(&policy_text, Path::new("demo-policy.toml"), &folder)?;
    let fetch = runtime
        .load_dir(&folder, &policy, LoadOptions::default())
        .await?;
    let get = |url: String| {
        let fetch = &fetch;
        async move {
            let result = fetch.call_tool("fetch", &json!({ "url": url }), ctx).await;
            let shown = match &result {
                Ok(v) => format!("{} {}", v["status"], v["text"]),
                Err(_) => outcome(&result),
            };
            println!("   GET {url}\n     → {}", airlock::text::escape(&shown));
        }
    };
    get(format!("{origin}/v1/hello")).await;
    get(format!("{origin}/admin")).await;
    println!("     (the host logged the grant that would allow it, above)");
    get("http://169.254.169.254/latest/meta-data/".to_string()).await;
    println!("     (granted, yet the cloud metadata address stays blocked: SSRF)");
    get(format!("{origin}/v1/redirect")).await;
    println!("     (a redirect is handed back, never followed by the host)");
    let _ = std::fs::remove_dir_all(&folder);
    Ok(())
}

/// A web server on a free 127.0.0.1 port: `/v1/hello`, `/admin` (which the plugin must never
/// reach) and `/v1/redirect` (to the cloud metadata address). Returns its origin.
async fn local_web_server() -> Result<String> {
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/v1/hello", get(|| async { "hello from the demo server" }))
        .route("/admin", get(|| async { "the admin page" }))
        .route(
            "/v1/redirect",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")],
                    "moved",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(origin)
}

/// A folder a scene works in, under the system's temporary directory, removed when the
/// scene ends, however it ends.
struct Scratch(PathBuf);

impl Scratch {
    /// An empty `airlock-demo-LABEL-PID` folder.
    fn new(label: &str) -> Result<Scratch> {
        let path =
            std::env::temp_dir().join(format!("airlock-demo-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(Scratch(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn step(title: &str) {
    println!("\n{title}");
}

fn tool_names(plugin: &Plugin) -> String {
    plugin
        .tools()
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A call's result or error, escaped ([`airlock::text`]): plugins chose that text.
fn outcome<T: std::fmt::Display>(result: &Result<T, airlock::CallError>) -> String {
    let text = match result {
        Ok(value) => value.to_string(),
        Err(e) => format!("error [{}]: {e}", e.kind()),
    };
    airlock::text::escape(&text).into_owned()
}

async fn timed<T: std::fmt::Display>(
    label: &str,
    call: impl Future<Output = Result<T, airlock::CallError>>,
) {
    let started = Instant::now();
    let result = call.await;
    println!(
        "{label}\n   → stopped after {:.0?}: {}",
        started.elapsed(),
        outcome(&result)
    );
}

/// Builds the guest plugins with cargo into `<target>/guests` (shared with the test suite)
/// and returns the directory holding the `.wasm` files.
fn build_guests(packages: &[&str]) -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(2)
        .context("locating the target directory")?
        .join("guests");
    println!(
        "Building the example plugins for wasm32-wasip2 into {} (1-2 minutes the first time; cargo's progress follows)...",
        target.display()
    );
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--profile", "guest", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &target);
    for package in packages {
        cargo.args(["-p", package]);
    }
    let status = cargo
        .status()
        .context("running cargo to build the example plugins")?;
    if !status.success() {
        bail!(
            "building the example plugins failed; is the target installed? `rustup target add wasm32-wasip2`"
        );
    }
    Ok(target.join("wasm32-wasip2/guest"))
}

/// Assembles a plugin folder per example under `<target>/guests/plugins/<name>`: its
/// `airlock.toml`, pinned to the component just built, and the component. These are the
/// folders the README's registry commands use (`airlock plugins enable
/// target/guests/plugins/redact`). `examples` are (folder under `examples/`, package);
/// the plugin folder is named as the last part of the first. Returns their parent.
fn assemble_folders(wasm_dir: &Path, examples: &[(&str, &str)]) -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plugins = wasm_dir.join("../../plugins");
    for (example, package) in examples {
        let source = root.join("examples").join(example);
        let name = source.file_name().context("an example folder")?;
        let Ok(text) = std::fs::read_to_string(source.join(airlock::manifest::FILE_NAME)) else {
            continue; // a test plugin, not an example: no folder
        };
        let manifest_path = source.join(airlock::manifest::FILE_NAME);
        let manifest = airlock::manifest::Manifest::parse(&text, &manifest_path)?;
        let folder = plugins.join(name);
        std::fs::create_dir_all(&folder)?;
        let built = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        let bytes =
            std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
        std::fs::write(folder.join(&manifest.plugin.component), &bytes)?;
        let digest = airlock::digest::Sha256::of(&bytes);
        let pinned = airlock::manifest::pin_text(&text, &manifest_path, &digest)?;
        std::fs::write(folder.join(airlock::manifest::FILE_NAME), pinned)?;
    }
    let plugins = plugins.canonicalize().unwrap_or(plugins);
    println!(
        "Plugin folders (manifest + pinned component): {}",
        plugins.display()
    );
    Ok(plugins)
}
