//! Shared helpers for the integration tests: one runtime per test, loading the guest
//! components built by `airlock-guests`, and hand-made fixtures for exact control.

use airlock::{CallContext, CallError, Limits, LoadOptions, Plugin, Runtime};

pub use airlock_guests as guests;

pub mod app_factory;
pub mod http;
pub mod line_client;
pub mod oci_registry;
pub mod polyglot;
pub mod postgres;
pub mod prometheus;
pub mod readme_blocks;
pub mod token_service;
pub mod web;

/// A registry in `dir` (its own database) under the default policy.
pub fn registry(dir: &TempDir) -> airlock_server::registry::Registry {
    airlock_server::registry::Registry::open(
        &dir.path().join("registry.db"),
        runtime(),
        airlock::policy::Policy::default(),
    )
    .expect("registry opens")
}

/// A runtime with default limits.
pub fn runtime() -> Runtime {
    Runtime::new().expect("runtime builds")
}

/// A runtime whose instance pool holds memories of up to `memory_bytes` (at least the
/// default cap).
pub fn runtime_for_memory(memory_bytes: usize) -> Runtime {
    let memory = memory_bytes.max(Limits::default().memory_bytes);
    Runtime::builder()
        .instance_pool(Some(airlock::InstancePool::for_memory(memory)))
        .build()
        .expect("runtime builds")
}

/// Loads `path` with `limits`.
pub async fn load_with(runtime: &Runtime, path: &str, limits: Limits) -> Plugin {
    runtime
        .load_file(path, LoadOptions::default().limits(limits))
        .await
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// Calls `tool` with `arguments` (default context) under a progress listener, reading the
/// events as they come ([`airlock::progress`]): the events, and the call's result.
pub async fn call_listening(
    plugin: &Plugin,
    tool: &str,
    arguments: &serde_json::Value,
) -> (
    Vec<airlock::progress::Progress>,
    Result<serde_json::Value, CallError>,
) {
    use airlock::progress::{channel, with_progress};
    let (events, mut received) = channel();
    let context = CallContext::default();
    let call = with_progress(events, plugin.call_tool(tool, arguments, &context));
    let collect = async {
        let mut all = Vec::new();
        while let Some(event) = received.recv().await {
            all.push(event);
        }
        all
    };
    let (result, events) = tokio::join!(call, collect);
    (events, result)
}

/// What the hostile fixtures' `stream` tool (Rust, Python, JavaScript) sends for `words`:
/// each word as a chunk, then a report of how many so far.
pub fn stream_events(words: &[&str]) -> Vec<airlock::progress::Progress> {
    use airlock::progress::Progress;
    let total = words.len() as u64;
    let mut events = Vec::new();
    for (i, word) in words.iter().enumerate() {
        events.push(Progress::Chunk {
            chunk: word.to_string(),
        });
        events.push(Progress::Report {
            done: i as u64 + 1,
            total: Some(total),
            message: format!("word {}", i + 1),
        });
    }
    events
}

/// Calls `tool` with `arguments` (default context) and expects it to fail: the typed error.
pub async fn call_error(plugin: &Plugin, tool: &str, arguments: &serde_json::Value) -> CallError {
    match plugin
        .call_tool(tool, arguments, &CallContext::default())
        .await
    {
        Ok(value) => panic!("`{tool}` was expected to fail, and returned {value}"),
        Err(error) => error,
    }
}

/// Loads `path` with default limits.
pub async fn load(runtime: &Runtime, path: &str) -> Plugin {
    load_with(runtime, path, Limits::default()).await
}

/// A core WebAssembly module (not a component).
pub fn core_module() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "run")))"#).expect("valid wat")
}

/// The first half of a real component: a truncated file.
pub fn truncated(path: &str) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("guest exists");
    bytes[..bytes.len() / 2].to_vec()
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("airlock-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir.canonicalize().expect("canonical temp dir"))
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Assembles a plugin folder: `component` copied in, and a manifest for plugin `name` with
/// `extra` appended (e.g. `[capabilities]` or `[limits]` tables), pinned to the component.
pub fn plugin_folder(name: &str, component: &str, extra: &str) -> TempDir {
    let dir = TempDir::new(name);
    write_plugin_folder(dir.path(), name, "0.1.0", component, extra);
    dir
}

/// Writes (or overwrites) a plugin folder at `dir`: `component` copied in as `plugin.wasm`
/// and a manifest for `name` `version`, pinned to it, followed by `extra` TOML. The
/// component is written first and the manifest last, as an operator would deploy.
pub fn write_plugin_folder(
    dir: &std::path::Path,
    name: &str,
    version: &str,
    component: &str,
    extra: &str,
) {
    std::fs::create_dir_all(dir).unwrap();
    let bytes = std::fs::read(component).expect("component built");
    std::fs::write(dir.join("plugin.wasm"), &bytes).unwrap();
    let digest = airlock::digest::Sha256::of(&bytes).to_string();
    let manifest = format!(
        "[plugin]\nname = \"{name}\"\nversion = \"{version}\"\ncomponent = \"plugin.wasm\"\nsha256 = \"{digest}\"\n\n{extra}\n"
    );
    std::fs::write(dir.join("airlock.toml"), manifest).unwrap();
}

/// A component that exports the Airlock tool-plugin interfaces but also imports an
/// interface no capability provides (`evil:net/raw`). Its bodies are unreachable: it must
/// be refused before anything runs.
pub fn component_with_unknown_import() -> Vec<u8> {
    let wit_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let mut resolve = wit_parser::Resolve::default();
    let airlock = resolve.push_dir(&wit_dir).expect("airlock wit").0;
    let evil = resolve
        .push_str(
            "evil.wit",
            "package evil:net;\ninterface raw { open: func(addr: string) -> u32; }\n\
             world sneaky { import raw; include airlock:plugin/tool-plugin@0.2.0; }\n",
        )
        .expect("evil wit");
    let _ = airlock;
    let world = resolve
        .select_world(&[evil], Some("sneaky"))
        .expect("world");
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .expect("metadata");
    wit_component::ComponentEncoder::default()
        .module(&module)
        .expect("module")
        .validate(true)
        .encode()
        .expect("encode")
}

/// A copy of the plugin folder `source` (its files, not subfolders) in a new temporary
/// folder, to sign or tamper with.
pub fn copy_folder(source: &str, label: &str) -> TempDir {
    let dir = TempDir::new(label);
    for entry in std::fs::read_dir(source).expect("plugin folder exists") {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// A new minisign key pair: (secret key, public key `RW…`, key id).
pub fn signing_key() -> (airlock::trust::sign::SecretKeyHandle, String, String) {
    let pair = airlock::trust::sign::generate().expect("key pair");
    let dir = TempDir::new("key");
    let path = dir.path().join("k.key");
    std::fs::write(&path, &pair.secret_file).unwrap();
    let secret = airlock::trust::sign::read_secret_key(&path, None).expect("key reads");
    (secret, pair.public, pair.id)
}

/// A policy trusting `keys`, requiring signatures when `required`.
pub fn trusting(keys: &[&str], required: bool) -> airlock::policy::Policy {
    let mut trust = airlock::trust::TrustPolicy::default();
    for key in keys {
        trust = trust.trust(key).expect("a valid key");
    }
    trust.require_signature = required;
    airlock::policy::Policy::default().with_trust(trust)
}

/// The host's log output while `work` runs, as the `fmt` subscriber writes it: (lines,
/// bytes, text). The test runs on one thread, so the thread's default subscriber sees every
/// record the plugin causes.
pub async fn host_log_of<F: Future>(work: F) -> (usize, usize, String) {
    use std::sync::{Arc, Mutex};
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let buffer = buffer.clone();
        move || SharedWriter(buffer.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        // As an operator runs it: wasmtime-wasi traces every host call at TRACE.
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(writer)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    work.await;
    drop(guard);
    let text = String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned();
    (text.lines().count(), text.len(), text)
}

/// A `tracing` writer appending to a shared buffer.
pub struct SharedWriter(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The host contract the `typed` fixture implements (`tests/plugins/typed/wit`).
pub const KITCHEN: &str = "fixture:typed/kitchen@0.1.0";

/// The WIT package of the `typed` fixture's contracts.
pub fn typed_wit() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/typed/wit")
}

/// A policy serving the `typed` fixture's contracts (`[contracts] wit`).
pub fn contracts_policy() -> airlock::policy::Policy {
    let contracts = airlock::contract::Contracts::from_wit(&[typed_wit()]).expect("fixture WIT");
    airlock::policy::Policy::default().with_contracts(contracts)
}

/// A plugin folder `name` of the `typed` fixture declaring the [`KITCHEN`] contract and
/// the routing `keys`, with `extra` TOML after its `[plugin]` table.
pub fn kitchen_folder(name: &str, keys: &[&str], extra: &str) -> TempDir {
    let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    let plugin = format!(
        "contract = \"{KITCHEN}\"\nkeys = [{}]\n{extra}",
        keys.join(", ")
    );
    plugin_folder(name, guests::TYPED, &plugin)
}

/// A registry in `dir` under `policy`.
pub fn registry_with(
    dir: &TempDir,
    policy: airlock::policy::Policy,
) -> airlock_server::registry::Registry {
    airlock_server::registry::Registry::open(&dir.path().join("registry.db"), runtime(), policy)
        .expect("registry opens")
}
