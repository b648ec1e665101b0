//! `airlock build [DIR]`: builds a plugin folder from source with its language's toolchain
//! (see [`airlock::build`]), writes the component beside the manifest, pins its sha256,
//! then loads it once: that checks it really is an Airlock plugin (or, for a plugin of a
//! host's own contract, that it implements the contract in its folder's `wit/`) and leaves
//! its compiled artifact in the cache, so the first real load is fast.

use std::path::PathBuf;
use std::process::ExitCode;

use airlock::{LoadOptions, Runtime};
use anyhow::Result;
use clap::Args;

/// Arguments of `airlock build`.
#[derive(Args)]
pub struct BuildArgs {
    /// The plugin folder (holding airlock.toml and the sources).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Skip loading the built component (no check, no artifact cache warm-up).
    #[arg(long)]
    no_check: bool,
    /// Print one JSON object (name, language, component, bytes, sha256, seconds, and the
    /// check's world, tools and hooks) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `airlock build`. Exit 0 when built (and checked), 2 otherwise.
pub async fn run(args: BuildArgs) -> Result<ExitCode> {
    let dir = args.dir.clone();
    let built = tokio::task::spawn_blocking(move || {
        airlock::build::build(&dir, &Default::default(), &mut |line| {
            eprintln!("airlock build: {line}")
        })
    })
    .await??;
    let mut report = serde_json::json!({
        "name": built.name,
        "lang": built.lang.to_string(),
        "component": built.component,
        "bytes": built.bytes,
        "sha256": built.sha256,
        "seconds": built.took.as_secs_f64(),
    });
    if !args.json {
        println!(
            "built {} ({}) → {} ({:.1} MiB, sha256 {}) in {:.1} s",
            built.name,
            built.lang,
            built.component.display(),
            built.bytes as f64 / (1024.0 * 1024.0),
            built.sha256,
            built.took.as_secs_f64()
        );
    }
    let contracts = airlock::manifest::Manifest::from_dir(&args.dir)?
        .plugin
        .contract;
    if !args.no_check && !contracts.is_empty() {
        let checked = check_contracts(&args.dir, &built, &contracts).await?;
        if !args.json {
            println!("checked: implements {}", contracts.join(", "));
        }
        report["checked"] = checked;
    } else if !args.no_check {
        eprintln!("airlock build: loading it once (checks the exports, fills the artifact cache)");
        let started = std::time::Instant::now();
        let plugin = Runtime::new()?
            .load_file(&built.component, LoadOptions::default())
            .await?;
        let tools: Vec<&str> = plugin.tools().iter().map(|t| t.name.as_str()).collect();
        let hooks: Vec<String> = plugin
            .subscriptions()
            .iter()
            .map(|k| k.to_string())
            .collect();
        report["checked"] = serde_json::json!({
            "world": plugin.world().to_string(), "tools": tools, "hooks": hooks,
        });
        if !args.json {
            println!(
                "checked: world {}, tools [{}], hooks [{}] (loaded in {:.1} s)",
                plugin.world(),
                tools.join(", "),
                hooks.join(", "),
                started.elapsed().as_secs_f64()
            );
        }
    }
    if args.json {
        println!("{}", airlock::text::to_json_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// A plugin of a host's own contract: compiles the component (filling the artifact cache)
/// and checks it against the contract's WIT in the folder's `wit/`, as a host's review
/// will. The check's JSON: the contracts implemented.
async fn check_contracts(
    dir: &std::path::Path,
    built: &airlock::build::Built,
    contracts: &[String],
) -> Result<serde_json::Value> {
    eprintln!("airlock build: compiling it once (checks the contract, fills the artifact cache)");
    let wit = dir.join(airlock::build::CONTRACT_WIT_DIR);
    let known = airlock::contract::Contracts::from_wit(&[wit]).map_err(|e| anyhow::anyhow!(e))?;
    let runtime = Runtime::new()?;
    let bytes = std::fs::read(&built.component)?;
    let what = built.component.display().to_string();
    let component = runtime.compile(bytes, None, &what).await?;
    let problems: Vec<String> = contracts
        .iter()
        .flat_map(|name| known.check(name, runtime.engine(), &component))
        .collect();
    if !problems.is_empty() {
        anyhow::bail!(
            "{} does not implement its contract: {}",
            built.component.display(),
            problems.join("; ")
        );
    }
    Ok(serde_json::json!({ "world": "custom", "contracts": contracts }))
}
