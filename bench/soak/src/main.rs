//! `airlock-soak`: the soak test of issue #12. One process opens a registry with the
//! count-vowels example enabled, makes a million tool calls through it
//! (`Registry::call_tool`), then serves MCP over streamable HTTP on loopback from the same
//! registry and makes 100,000 `tools/call` requests to it over one keep-alive connection.
//! Every answer is checked (the vowel count of a text that differs per call); a call that
//! errs or answers wrong counts as failed. Resident memory (VmRSS) is read at the start of
//! each phase (after its warm-up), halfway and at the end. Target: growth under 5 % after
//! warm-up, no failed call.
//!
//! Normally run through `bench/run.sh` (which sets `AIRLOCK_BENCH_PLUGINS`, the folder of
//! assembled example plugin folders). Options: `--registry-calls N` (default 1000000),
//! `--mcp-calls N` (100000), `--markdown FILE` (splice the results between the soak
//! markers in FILE), `--reproduce "COMMAND"` (shown in the report). Exits 1 when a call
//! failed (after writing the report).

mod mcp_client;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use airlock_server::registry::Registry;
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use report::Phase;

const TENANT: &str = "soak";
/// Calls made before the first RSS reading, per phase: the pool, caches and allocator
/// arenas settle first, so the growth measured is what a long-running host would see.
const REGISTRY_WARMUP: u64 = 20_000;
const MCP_WARMUP: u64 = 5_000;

struct Options {
    registry_calls: u64,
    mcp_calls: u64,
    markdown: Option<String>,
    reproduce: String,
}

fn options() -> Result<Options> {
    let mut o = Options {
        registry_calls: 1_000_000,
        mcp_calls: 100_000,
        markdown: None,
        reproduce: "bash bench/run.sh --soak".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--registry-calls" => o.registry_calls = value()?.parse()?,
            "--mcp-calls" => o.mcp_calls = value()?.parse()?,
            "--markdown" => o.markdown = Some(value()?),
            "--reproduce" => o.reproduce = value()?,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

/// VmRSS of this process, in bytes.
fn rss_bytes() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

/// The text of call `i` (different each time, so a stale or mixed-up answer shows) and its
/// vowel count.
fn text_for(i: u64) -> (Value, u64) {
    let text = format!("soak call number {i}: the quick brown fox jumps over the lazy dog");
    let vowels = text.chars().filter(|c| "aeiouAEIOU".contains(*c)).count() as u64;
    (json!({ "text": text }), vowels)
}

/// Runs `warmup` calls, reads RSS, runs `calls` more (reading RSS halfway and at the end)
/// and counts the calls whose `call(i)` failed; keeps the first failure's message.
async fn soak(
    name: &str,
    warmup: u64,
    calls: u64,
    mut call: impl AsyncFnMut(u64) -> Result<()>,
) -> Result<Phase> {
    for i in 0..warmup {
        call(i)
            .await
            .with_context(|| format!("{name}: warm-up call {i}"))?;
    }
    let mut phase = Phase::new(name, warmup, calls, rss_bytes()?);
    let started = Instant::now();
    for i in 0..calls {
        if i == calls / 2 {
            phase.rss_middle = rss_bytes()?;
        }
        if let Err(error) = call(warmup + i).await {
            phase.failed += 1;
            phase
                .first_failure
                .get_or_insert_with(|| format!("{error:#}"));
        }
        if (i + 1) % (calls / 10).max(1) == 0 {
            eprintln!("  {name}: {} of {calls} calls", i + 1);
        }
    }
    phase.elapsed = started.elapsed();
    phase.rss_end = rss_bytes()?;
    Ok(phase)
}

/// A registry in `dir` with count-vowels (from `plugins`) installed and enabled.
async fn registry(dir: &Path, plugins: &Path) -> Result<Arc<Registry>> {
    let registry = Registry::open(
        &dir.join("registry.db"),
        airlock::Runtime::new()?,
        airlock::policy::Policy::default(),
    )?;
    registry.install(&plugins.join("count-vowels")).await?;
    registry.enable(TENANT, "count-vowels", json!({})).await?;
    Ok(Arc::new(registry))
}

async fn registry_phase(registry: &Registry, calls: u64) -> Result<Phase> {
    let context = airlock::CallContext::for_tenant(TENANT);
    soak("registry", REGISTRY_WARMUP, calls, async |i| {
        let (arguments, vowels) = text_for(i);
        let out = registry
            .call_tool("count-vowels.count_vowels", &arguments, &context)
            .await?;
        ensure!(
            out["count"] == vowels,
            "call {i} answered {out}, expected {vowels} vowels"
        );
        Ok(())
    })
    .await
}

async fn mcp_phase(registry: Arc<Registry>, calls: u64) -> Result<Phase> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = airlock_server::serve::McpServer::new(registry, TENANT);
    let app = airlock_server::serve::http::mcp::router(server, vec![]);
    tokio::spawn(airlock_server::serve::http::serve(
        listener,
        app,
        std::future::pending(),
    ));
    let mut client = mcp_client::McpClient::connect(address).await?;
    client.initialize().await?;
    soak("MCP over HTTP", MCP_WARMUP, calls, async |i| {
        let (arguments, vowels) = text_for(i);
        let result = client
            .call_tool(i, "count-vowels.count_vowels", arguments)
            .await?;
        ensure!(
            result["isError"] == false && result["structuredContent"]["count"] == vowels,
            "call {i} answered {result}, expected {vowels} vowels"
        );
        Ok(())
    })
    .await
}

fn plugins_dir() -> Result<PathBuf> {
    let dir = std::env::var("AIRLOCK_BENCH_PLUGINS")
        .context("AIRLOCK_BENCH_PLUGINS is not set (run bash bench/run.sh --soak)")?;
    let dir = PathBuf::from(dir);
    ensure!(
        dir.join("count-vowels/airlock.toml").exists(),
        "{} has no count-vowels plugin folder",
        dir.display()
    );
    Ok(dir)
}

fn main() -> Result<()> {
    let opts = options()?;
    let plugins = plugins_dir()?;
    let state = std::env::temp_dir().join(format!("airlock-soak-{}", std::process::id()));
    std::fs::create_dir_all(&state)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let phases = rt.block_on(async {
        let registry = registry(&state, &plugins).await?;
        eprintln!("soak: {} calls through the registry…", opts.registry_calls);
        let direct = registry_phase(&registry, opts.registry_calls).await?;
        eprintln!("soak: {} calls through MCP over HTTP…", opts.mcp_calls);
        let mcp = mcp_phase(registry, opts.mcp_calls).await?;
        anyhow::Ok(vec![direct, mcp])
    });
    let _ = std::fs::remove_dir_all(&state);
    let phases = phases?;
    let total = started.elapsed();
    let markdown = report::markdown(&phases, total, &opts.reproduce);
    println!("{markdown}");
    if let Some(file) = &opts.markdown {
        report::splice(Path::new(file), &markdown)?;
        eprintln!("soak: results written to {file}");
    }
    let failed: u64 = phases.iter().map(|p| p.failed).sum();
    if failed > 0 {
        eprintln!("soak: {failed} calls failed");
        std::process::exit(1);
    }
    Ok(())
}
