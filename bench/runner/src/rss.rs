//! Resident memory per plugin. Runs in a child process of its own (`airlock-bench
//! --rss-child COMPONENT`) so nothing else the runner allocated blurs the numbers: it loads
//! one plugin to warm up the process, then 100 more copies (each keeps one idle instance,
//! as after a load), then fills one plugin's pool with 100 idle instances (`prewarm`), and
//! reports the growth of VmRSS for each step next to the linear memory the instances hold.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub const COPIES: usize = 100;

#[derive(Debug, Serialize, Deserialize)]
pub struct RssReport {
    /// VmRSS growth per loaded-idle plugin (one warm instance each), bytes.
    pub per_plugin: f64,
    /// Linear memory each of those plugins' idle instance holds, bytes.
    pub plugin_linear: f64,
    /// VmRSS growth per extra pooled (idle, warm) instance of one plugin, bytes.
    pub per_instance: f64,
    /// Linear memory each of those instances holds, bytes.
    pub instance_linear: f64,
    /// VmRSS of the process after the warm-up plugin, bytes.
    pub baseline: f64,
}

fn rss() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kb * 1024.0)
}

/// The child's side: measure and print the report as JSON.
pub fn child(component: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let runtime = airlock::Runtime::new()?;
        let ctx = airlock::CallContext::default();
        let args = serde_json::json!({"text": "warm up"});
        let load = |options| runtime.load_file(component, options);
        let first = load(airlock::LoadOptions::default()).await?;
        first.call_tool("count_vowels", &args, &ctx).await?;
        let baseline = rss()?;

        let mut plugins = Vec::with_capacity(COPIES);
        for _ in 0..COPIES {
            let plugin = load(airlock::LoadOptions::default()).await?;
            plugin.call_tool("count_vowels", &args, &ctx).await?;
            plugins.push(plugin);
        }
        let after_plugins = rss()?;
        let plugin_linear: usize = plugins.iter().map(|p| p.stats().idle_memory_bytes).sum();

        let pooled = load(airlock::LoadOptions::default().pool(COPIES + 1, COPIES + 1)).await?;
        let before_pool = rss()?;
        let linear_before = pooled.stats().idle_memory_bytes;
        let idle = pooled.prewarm(COPIES + 1).await?;
        anyhow::ensure!(idle == COPIES + 1, "prewarm left {idle} idle instances");
        let after_pool = rss()?;
        let instance_linear = pooled.stats().idle_memory_bytes - linear_before;
        anyhow::Ok(RssReport {
            per_plugin: (after_plugins - baseline) / COPIES as f64,
            plugin_linear: plugin_linear as f64 / COPIES as f64,
            per_instance: (after_pool - before_pool) / COPIES as f64,
            instance_linear: instance_linear as f64 / COPIES as f64,
            baseline,
        })
    })?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The parent's side: run the child and read its report.
pub fn measure(component: &str) -> Result<RssReport> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .args(["--rss-child", component])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running the RSS child")?;
    anyhow::ensure!(out.status.success(), "the RSS child failed: {}", out.status);
    Ok(serde_json::from_slice(&out.stdout)?)
}
