//! `airlock demo --system orchestrator`: the orchestrator's domain plugins on Airlock
//! (`examples/systems/orchestrator`). The registry finds the `docs` plugin by its domain,
//! the phase runner (`airlock_server::phases`) runs analyze → outline → write, each phase
//! reading the one before from the session context, and a spec the analysis refuses stops
//! the run at that required phase.

use std::path::Path;

use airlock::CallContext;
use airlock::text::{Untrusted, escape_lines};
use airlock_server::phases::{CONTRACT, PhaseRunner, RunReport};
use airlock_server::registry::Registry;
use anyhow::Result;
use serde_json::json;

use super::step;

const SPEC: &str = "# Domain plugins on Airlock\n\
    audience: orchestrator operators\n\
    A domain plugin declares phases; the host runs them.\n\
    - Declare: list phases with order, timeout and retries\n\
    - Route: name the plugin's domains in its manifest\n\
    - Run: each phase reads earlier outputs from the session\n";

pub(super) async fn run() -> Result<()> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/systems/orchestrator");
    let dir = super::build_guests(&["orch-docs"])?;
    let plugins = super::assemble_folders(&dir, &[("systems/orchestrator/docs", "orch-docs")])?;
    let contracts = airlock::contract::Contracts::from_wit(&[example.join("wit")])
        .map_err(anyhow::Error::msg)?;
    let policy = airlock::policy::Policy::default().with_contracts(contracts);
    let scratch = std::env::temp_dir().join(format!("airlock-demo-orch-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let registry = Registry::open(
        &scratch.join("registry.db"),
        airlock::Runtime::new()?,
        policy,
    )?;
    registry.install(&plugins.join("docs")).await?;
    registry.enable("demo", "docs", json!({})).await?;
    let result = scenes(&registry).await;
    drop(registry);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn scenes(registry: &Registry) -> Result<()> {
    step("1. Found by domain: the manifest says `domains = [\"docs\"]`");
    let found = registry.providers("demo", CONTRACT, Some("docs"));
    let names: Vec<&str> = found.iter().map(|p| p.name()).collect();
    println!("   providers(demo, {CONTRACT}, docs) → {names:?}");

    step("2. analyze → outline → write, in order, each under its timeout");
    let runner = PhaseRunner::new(registry);
    let context = CallContext::for_tenant("demo").with_session("demo-1");
    let report = runner.run("docs", &json!({"spec": SPEC}), &context).await?;
    print_phases(&report);

    step("3. Each phase read the one before from the session context");
    for key in registry.sessions().keys("demo", "demo-1") {
        println!("   {}", Untrusted(&key));
    }
    let markdown = report
        .outputs()
        .get("write")
        .and_then(|d| d["markdown"].as_str());
    let markdown = markdown.unwrap_or_default();
    println!(
        "   ┌─ the document\n   │ {}",
        escape_lines(markdown.trim_end(), "   │ ")
    );

    step("4. A spec with no topics: the required `analyze` fails and the run stops there");
    let context = CallContext::for_tenant("demo").with_session("demo-2");
    let stopped = runner
        .run("docs", &json!({"spec": "Just a title"}), &context)
        .await?;
    print_phases(&stopped);
    Ok(())
}

fn print_phases(report: &RunReport) {
    for phase in &report.phases {
        let why = phase
            .failure()
            .map(|f| format!(" — {f}"))
            .unwrap_or_default();
        println!(
            "   {:<8} {:<9} {} attempt(s) {:>7.2} ms{}",
            phase.phase.name,
            phase.outcome.as_str(),
            phase.attempts.len(),
            phase.duration.as_secs_f64() * 1e3,
            Untrusted(&why)
        );
    }
}
