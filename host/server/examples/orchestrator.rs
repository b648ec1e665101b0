//! The orchestrator's domain plugins on Airlock, end to end: the `docs` domain plugin
//! (`examples/systems/orchestrator/docs`) installed in a registry, found by its domain and
//! run phase by phase by [`airlock_server::phases::PhaseRunner`]; each phase's outcome,
//! attempts and time go to stderr, the markdown it wrote to stdout.
//!
//! Run it with `cargo run -p airlock-server --example orchestrator [-- SPEC_FILE]` (the
//! guests are built on the way; without a file it documents a built-in spec). The tests run
//! the same code (`tests/tests/all/systems_orchestrator.rs`).

use std::error::Error;
use std::path::{Path, PathBuf};

use airlock::CallContext;
use airlock::text::{Untrusted, escape_lines};
use airlock_server::phases::{PhaseRunner, RunReport};
use airlock_server::registry::Registry;
use serde_json::json;

/// What the example documents when given no file.
pub const SAMPLE_SPEC: &str = "# Domain plugins on Airlock\n\
    audience: orchestrator operators\n\
    A domain plugin declares phases; the host runs them.\n\
    - Declare: list phases with order, timeout and retries\n\
    - Route: name the plugin's domains in its manifest\n\
    - Run: each phase reads earlier outputs from the session\n";

type Failed = Box<dyn Error + Send + Sync>;

/// The orchestrator's folder in this repository (found from this crate's folder upwards:
/// the tests compile this file in another crate).
fn orchestrator_dir() -> PathBuf {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = start
        .ancestors()
        .map(|d| d.join("examples/systems/orchestrator"));
    candidates
        .find(|dir| dir.is_dir())
        .expect("run from the Airlock repository")
}

/// A registry in `dir` serving the orchestrator's contract, with the `docs` plugin enabled
/// for tenant `default`.
pub async fn registry_in(dir: &Path) -> Result<Registry, Failed> {
    let contracts = airlock::contract::Contracts::from_wit(&[orchestrator_dir().join("wit")])?;
    let policy = airlock::policy::Policy::default().with_contracts(contracts);
    let registry = Registry::open(&dir.join("registry.db"), airlock::Runtime::new()?, policy)?;
    // The example's folder with its manifest pinned to the built component (the tests'
    // build assembles it, as `airlock pin` would).
    registry
        .install(Path::new(airlock_guests::ORCH_DOCS_DIR))
        .await?;
    registry.enable("default", "docs", json!({})).await?;
    Ok(registry)
}

/// Runs the `docs` domain on `spec` in session `session`: the report and the markdown
/// (empty when the run stopped).
pub async fn document(
    registry: &Registry,
    spec: &str,
    session: &str,
) -> Result<(RunReport, String), Failed> {
    let context = CallContext::for_tenant("default").with_session(session);
    let report = PhaseRunner::new(registry)
        .run("docs", &json!({ "spec": spec }), &context)
        .await?;
    let markdown = report
        .outputs()
        .get("write")
        .and_then(|document| document["markdown"].as_str())
        .unwrap_or_default()
        .to_string();
    Ok((report, markdown))
}

/// One line per phase: name, outcome, attempts, milliseconds, and why it failed.
pub fn summary(report: &RunReport) -> String {
    let mut lines = Vec::new();
    for phase in &report.phases {
        let why = phase
            .failure()
            .map(|f| format!(": {f}"))
            .unwrap_or_default();
        lines.push(format!(
            "{:<10} {:<9} {} attempt(s) {:>8.2} ms{}",
            phase.phase.name,
            phase.outcome.as_str(),
            phase.attempts.len(),
            phase.duration.as_secs_f64() * 1e3,
            Untrusted(&why)
        ));
    }
    lines.join("\n")
}

#[tokio::main]
async fn main() -> Result<(), Failed> {
    let spec = match std::env::args_os().nth(1) {
        Some(file) => std::fs::read_to_string(file)?,
        None => SAMPLE_SPEC.to_string(),
    };
    let dir = std::env::temp_dir().join(format!("airlock-orchestrator-{}", std::process::id()));
    let registry = registry_in(&dir).await?;
    let (report, markdown) = document(&registry, &spec, "example").await?;
    eprintln!("{}", summary(&report));
    // The document is the plugin's text: escaped before it reaches the terminal.
    println!("{}", escape_lines(&markdown, ""));
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
    match report.succeeded() {
        true => Ok(()),
        false => Err(format!(
            "the run stopped at `{}`",
            report.stopped_at().unwrap_or("?")
        )
        .into()),
    }
}
