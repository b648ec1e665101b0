//! `airlock build [DIR]`: builds a plugin folder from source with its language's toolchain
//! (see [`airlock::build`]), writes the component beside the manifest, pins its sha256,
//! then loads it once: that checks it really is an Airlock plugin and leaves its compiled
//! artifact in the cache, so the first real load is fast.

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
    if !args.no_check {
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
