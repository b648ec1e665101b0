//! The README's Rust host snippets, compiled from the README itself and run (issue #20:
//! snippets must work as pasted). `build.rs` cuts each ```rust block out of README.md,
//! rewrites only the file paths the reader has and this test has elsewhere (the example
//! components and plugin folders, and a registry database in a temporary folder instead
//! of the user's), and wraps it in a block ending with the values asserted here. Each
//! wrapper below supplies exactly the names the README's text says the snippet takes from
//! the code around it.

use std::path::Path;
use std::sync::Arc;

use airlock::pipeline::StepOutcome;
use airlock::{CallContext, HookKind, HookOutcome, LoadOptions, Runtime};
use airlock_server::registry::Registry;
use airlock_tests::{TempDir, guests};
use serde_json::{Value, json};

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const CALCULATOR_WASM: &str = guests::CALCULATOR;
const REDACT_WASM: &str = guests::REDACT;
const CALCULATOR_DIR: &str = guests::CALCULATOR_DIR;
const REDACT_DIR: &str = guests::REDACT_DIR;

/// `## Embed it`: a runtime, a tool call and a hook.
async fn embed() -> Fallible<(Value, HookOutcome)> {
    Ok(include!(concat!(env!("OUT_DIR"), "/readme_embed.rs")))
}

const TYPED_WASM: &str = guests::TYPED;

/// `### Components of any world`: given a runtime.
async fn dynamic(runtime: Runtime) -> Fallible<Value> {
    Ok(include!(concat!(env!("OUT_DIR"), "/readme_dynamic.rs")))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dynamic_call_snippet_runs_as_written() {
    let sum = dynamic(airlock_tests::runtime())
        .await
        .expect("the README's dynamic call snippet runs");
    assert_eq!(sum, json!(5));
}

/// `### Progress from inside a call`: given a plugin, a tool, its arguments and a context.
async fn progress(
    plugin: airlock::Plugin,
    tool: &str,
    args: Value,
    context: CallContext,
) -> Result<Value, airlock::CallError> {
    include!(concat!(env!("OUT_DIR"), "/readme_progress.rs"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_progress_snippet_runs_as_written() {
    let runtime = airlock_tests::runtime();
    let hostile = airlock_tests::load(&runtime, guests::HOSTILE).await;
    let args = json!({"words": ["a", "b"]});
    let result = progress(hostile, "stream", args, CallContext::default()).await;
    assert_eq!(result.unwrap(), json!("a b"));
}

/// `### Hook pipelines`: given two hook plugins, a tool call and a context.
async fn pipeline(
    redact: airlock::Plugin,
    audit_log: airlock::Plugin,
    call: Value,
    ctx: CallContext,
) -> airlock::pipeline::Dispatch {
    include!(concat!(env!("OUT_DIR"), "/readme_pipeline.rs"))
}

/// `### Registry`: given a runtime, a policy, a hook payload and where the database goes.
async fn registry(
    runtime: Runtime,
    policy: airlock::policy::Policy,
    payload: Value,
    registry_path: std::path::PathBuf,
) -> Fallible<(Value, airlock::pipeline::Dispatch)> {
    Ok(include!(concat!(env!("OUT_DIR"), "/readme_registry.rs")))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedding_snippet_runs_as_written() {
    let (sum, outcome) = embed().await.expect("the README's embedding snippet runs");
    assert_eq!(sum, json!({"result": 3.0}));
    match outcome {
        HookOutcome::Replace(payload) => {
            assert_eq!(payload["arguments"]["to"], "[REDACTED:email]", "{payload}")
        }
        other => panic!("redact should rewrite the address, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_snippet_runs_as_written() {
    let runtime = airlock_tests::runtime();
    let redact = runtime
        .load_file(guests::REDACT, LoadOptions::default())
        .await
        .unwrap();
    let config = json!({"tag": "audit", "behaviour": "tag"});
    let audit_log = runtime
        .load_file(guests::HOOKY, LoadOptions::default().config(config))
        .await
        .unwrap();
    let call = json!({"tool": "search", "arguments": {"q": "mail alice@example.com"}, "tags": []});
    let result = pipeline(redact, audit_log, call, CallContext::for_tenant("acme")).await;
    assert!(result.allowed());
    assert_eq!(result.payload["arguments"]["q"], "mail [REDACTED:email]");
    assert_eq!(result.payload["tags"], json!(["audit"]));
    assert!(
        result
            .steps
            .iter()
            .all(|s| s.outcome == StepOutcome::Replaced),
        "{:?}",
        result.steps
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_registry_snippet_runs_as_written() {
    let dir = TempDir::new("readme-registry");
    let payload = json!({"tool": "rm", "arguments": {"path": "/"}});
    let (sum, dispatch) = registry(
        airlock_tests::runtime(),
        airlock::policy::Policy::default(),
        payload,
        dir.path().join("registry.db"),
    )
    .await
    .expect("the README's registry snippet runs");
    assert_eq!(sum, json!({"result": 3.0}));
    assert!(
        !dispatch.allowed(),
        "redact denies `rm` for acme: {:?}",
        dispatch.steps
    );
    assert!(Path::new(&dir.path().join("registry.db")).is_file());
}

/// The ```toml block of the README containing `marker`.
fn toml_block(marker: &str) -> &'static str {
    const README: &str = include_str!("../../../README.md");
    airlock_tests::readme_blocks::block(README, "toml", marker)
}

/// `## Capabilities`: the manifest and the policy the README shows are accepted as they
/// are, their `sha256 = "…"` placeholders aside, and the policy's CA file present.
#[test]
fn the_manifest_and_policy_examples_parse() {
    let dir = TempDir::new("readme-toml");
    let digest = format!("\"{}\"", "ab".repeat(32));
    let manifest = toml_block("# airlock.toml").replace("\"…\"", &digest);
    let manifest = airlock::manifest::Manifest::parse(&manifest, Path::new("airlock.toml"))
        .expect("the README's manifest parses");
    assert_eq!(manifest.plugin.name, "weather");

    airlock_tests::web::Tls::new().write_ca(dir.path(), "private-ca.pem");
    let policy = toml_block("# policy.toml").replace("\"…\"", &digest);
    airlock::policy::Policy::parse(&policy, Path::new("policy.toml"), dir.path())
        .expect("the README's policy parses");
}

/// `### Components of any world`: the custom world's manifest and the policy's
/// `[contracts]` table parse as shown, the policy's WIT folder holding a real package.
#[test]
fn the_custom_world_manifest_and_contracts_policy_parse() {
    let block = toml_block("# kitchen/airlock.toml");
    let (manifest, policy) = block
        .split_once("# the operator's policy.toml")
        .expect("both halves");
    let digest = format!("\"{}\"", "ab".repeat(32));
    let manifest = manifest.replace("\"…\"", &digest);
    let manifest = airlock::manifest::Manifest::parse(&manifest, Path::new("airlock.toml"))
        .expect("the README's custom-world manifest parses");
    assert_eq!(manifest.plugin.contract, [airlock_tests::KITCHEN]);
    let dir = TempDir::new("readme-contracts");
    std::fs::create_dir_all(dir.path().join("contracts")).unwrap();
    std::fs::copy(
        airlock_tests::typed_wit().join("world.wit"),
        dir.path().join("contracts/world.wit"),
    )
    .unwrap();
    let policy = airlock::policy::Policy::parse(policy, Path::new("policy.toml"), dir.path())
        .expect("the README's [contracts] policy parses");
    assert!(policy.contracts.get(airlock_tests::KITCHEN).is_some());
}
