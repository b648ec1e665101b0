//! Enables one LLEO module and runs it, as LLEO's framework did with `run_plugin`:
//!
//! ```sh
//! cargo run -p lleo-host --example run_module -- <module folder> <policy.toml> '<config JSON>'
//! ```
//!
//! Prints each required tool as found on the host, then the module's results; a module
//! that cannot be enabled or whose run fails exits 1 with the reason.

use std::path::Path;
use std::process::ExitCode;

use airlock::LoadOptions;
use airlock::policy::Policy;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [folder, policy, config] = &args[..] else {
        eprintln!("usage: run_module <module folder> <policy.toml> '<config JSON>'");
        return ExitCode::from(2);
    };
    match run(Path::new(folder), Path::new(policy), config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("error: {}", airlock::text::escape(&why));
            ExitCode::FAILURE
        }
    }
}

/// Loads the module under the policy with its configuration, enables it, runs it.
async fn run(folder: &Path, policy: &Path, config: &str) -> Result<(), String> {
    let policy = Policy::from_file(policy).map_err(|e| e.to_string())?;
    let config = serde_json::from_str(config).map_err(|e| format!("the config: {e}"))?;
    let runtime = airlock::Runtime::builder()
        .fit_policy(&policy)
        .build()
        .map_err(|e| e.to_string())?;
    let plugin = runtime
        .load_dir(folder, &policy, LoadOptions::default().config(config))
        .await
        .map_err(|e| e.to_string())?;
    let module = lleo_host::enable(plugin).await.map_err(|e| e.to_string())?;
    for tool in module.tools() {
        println!(
            "tool {} {} at {} (the module needs {})",
            tool.name,
            tool.version,
            tool.path.display(),
            tool.wanted
        );
    }
    let results = module.run().await.map_err(|e| e.to_string())?;
    let shown = airlock::text::to_json_pretty(&results).map_err(|e| e.to_string())?;
    println!("{shown}");
    Ok(())
}
