//! `airlock demo --system victor`: Victor's workflow compilers on Airlock
//! (`examples/systems/victor`). The `json://` compiler (Rust) is installed in a registry;
//! `victor-host` routes a URI to the plugin serving its scheme, caches the compiled
//! workflow under the plugin's `cache-key`, and an invalid source comes back naming its
//! line. (The `yaml://` compiler is the Python one: its tests build it,
//! `cargo test -p airlock-tests --test all systems_victor`.)

use std::path::Path;
use std::sync::Arc;

use airlock::contract::Contracts;
use airlock::policy::Policy;
use airlock::{Runtime, text};
use airlock_server::registry::Registry;
use anyhow::{Result, anyhow};
use serde_json::json;
use victor_host::Compilers;

use super::step;

const TENANT: &str = "demo";

pub(super) async fn run() -> Result<()> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/systems/victor");
    let dir = super::build_guests(&["victor-json"])?;
    let plugins = super::assemble_folders(&dir, &[("systems/victor/json", "victor-json")])?;
    let scratch = super::Scratch::new("victor")?;
    let state = scratch.path();
    let contracts = Contracts::from_wit(&[example.join("wit")]).map_err(|e| anyhow!(e))?;
    let policy = Policy::default().with_contracts(contracts);
    let registry = Arc::new(Registry::open(
        &state.join("registry.db"),
        Runtime::new()?,
        policy,
    )?);
    let name = registry.install(&plugins.join("json")).await?;
    registry.enable(TENANT, &name, json!({})).await?;
    let compilers =
        Compilers::new(registry.clone(), TENANT).workflows_dir(example.join("workflows"))?;

    step("1. Route by URI scheme: the enabled plugin whose manifest declares `json`");
    println!("   schemes served: {}", compilers.schemes().join(", "));
    for round in ["first", "second"] {
        let compiled = compilers.compile("json://support.json", None, true).await?;
        let workflow = &compiled.workflow;
        let shown = format!(
            "{} by {}: {} nodes, {} edges, entry `{}`",
            workflow.name,
            compiled.plugin,
            workflow.nodes.len(),
            workflow.edges.len(),
            workflow.entry
        );
        let source = if compiled.cache_hit {
            "cache hit"
        } else {
            "compiled"
        };
        println!(
            "   {round} compile of json://support.json → {} ({source})",
            text::escape(&shown)
        );
    }
    let stats = compilers.stats();
    println!(
        "   cache: {} hit, {} miss (keyed by the plugin's cache-key)",
        stats.hits, stats.misses
    );

    step("2. An invalid source: a typed error naming the line");
    let broken = "{\n  \"workflows\": {\n    \"x\": {\n      \"nodes\": [,]\n    }\n  }\n}\n";
    let error = compilers.compile_source("json", broken, None, true).await;
    println!("   → {}", refusal(error.map(|_| ())));

    step("3. A scheme nobody serves");
    let unknown = compilers.compile("toml://support.toml", None, true).await;
    println!("   → {}", refusal(unknown.map(|_| ())));
    // The registry's database closes before its folder goes.
    drop(compilers);
    drop(registry);
    Ok(())
}

/// How a compile that should fail ended, escaped (a plugin wrote the message).
fn refusal(result: Result<(), victor_host::VictorError>) -> String {
    match result {
        Ok(()) => "compiled (unexpected)".into(),
        Err(e) => format!("error: {}", text::escape(&e.to_string())),
    }
}
