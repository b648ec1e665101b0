//! `airlock demo --system lleo`: LLEO's tool-wrapping modules on Airlock
//! (`examples/systems/lleo`). A throwaway git repository, the `git-log` module deployed on
//! it (its exec grant names that one repository), the required tools checked at enable, the
//! parsed commits, and git on another directory refused.

use std::path::Path;
use std::process::Command;

use airlock::policy::Policy;
use airlock::{CallContext, LoadOptions, Runtime};
use anyhow::{Context, Result, bail};
use serde_json::json;

use super::{outcome, step};

/// Where the example's manifest and policy say the repository is; the demo's is elsewhere.
const DEPLOYED_AT: &str = "/srv/repos/app";

pub(super) async fn run() -> Result<()> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/systems/lleo");
    let wasm = super::build_guests(&["lleo-git-log"])?;
    let scratch = super::Scratch::new("lleo")?;
    let work = scratch.path();
    let repo = work.join("repo");
    make_repository(&repo)?;
    let repo_path = repo.to_str().context("a UTF-8 temporary folder")?;

    step("1. Deploy `git-log` on a repository: the exec grant names it, nothing else");
    let folder = work.join("git-log");
    std::fs::create_dir_all(&folder)?;
    let manifest_path = folder.join(airlock::manifest::FILE_NAME);
    let manifest = std::fs::read_to_string(example.join("git-log/airlock.toml"))?
        .replace(DEPLOYED_AT, repo_path);
    let bytes = std::fs::read(wasm.join("lleo_git_log.wasm"))?;
    std::fs::write(folder.join("lleo_git_log.wasm"), &bytes)?;
    let digest = airlock::digest::Sha256::of(&bytes);
    let pinned = airlock::manifest::pin_text(&manifest, &manifest_path, &digest)?;
    std::fs::write(&manifest_path, pinned)?;
    let policy_text =
        std::fs::read_to_string(example.join("policy.toml"))?.replace(DEPLOYED_AT, repo_path);
    let policy = Policy::parse(&policy_text, &example.join("policy.toml"), &example)?;
    let runtime = Runtime::builder().fit_policy(&policy).build()?;
    let plugin = runtime
        .load_dir(
            &folder,
            &policy,
            LoadOptions::default().config(json!({"repo": repo_path})),
        )
        .await?;
    for line in &plugin.grant().exec {
        println!("   exec {}", airlock::text::escape(&line.to_string()));
    }

    step("2. Enable it: every tool it requires is granted, installed and new enough");
    let module = lleo_host::enable(plugin.clone()).await?;
    for tool in module.tools() {
        println!(
            "   {} {} at {} (the module needs {})",
            tool.name,
            tool.version,
            tool.path.display(),
            tool.wanted
        );
    }

    step("3. Run it: git's output parsed into commits");
    let results = module.run().await?;
    for commit in results["commits"].as_array().into_iter().flatten() {
        let text = format!(
            "{:.8}  {:<6} {}",
            commit["hash"].as_str().unwrap_or(""),
            commit["author"].as_str().unwrap_or(""),
            commit["subject"].as_str().unwrap_or("")
        );
        println!("   {}", airlock::text::escape(&text));
    }

    step("4. The same module asked for another directory: refused by the grant");
    let elsewhere = plugin
        .call_tool(
            "run",
            &json!({"config": json!({"repo": "/etc"}).to_string()}),
            &CallContext::for_tenant("demo"),
        )
        .await;
    println!("   run {{repo: \"/etc\"}} → {}", outcome(&elsewhere));
    Ok(())
}

/// A repository at `repo` with three commits by two authors.
fn make_repository(repo: &Path) -> Result<()> {
    std::fs::create_dir_all(repo)?;
    let git = |args: &[&str], author: &str| -> Result<()> {
        let status = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", author)
            .env(
                "GIT_AUTHOR_EMAIL",
                format!("{}@example.org", author.to_lowercase()),
            )
            .env("GIT_COMMITTER_NAME", author)
            .env("GIT_COMMITTER_EMAIL", "demo@example.org")
            // The user's own git settings (signing, hooks) have no say in the demo's repo.
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .context("running git (apt-get install -y git)")?;
        if !status.success() {
            bail!("git {args:?} failed");
        }
        Ok(())
    };
    git(&["init", "-q"], "Ada")?;
    for (author, subject) in [
        ("Ada", "Start the parser"),
        ("Grace", "Compile to bytecode"),
        ("Ada", "Fix the off-by-one"),
    ] {
        git(&["commit", "-q", "--allow-empty", "-m", subject], author)?;
    }
    Ok(())
}
