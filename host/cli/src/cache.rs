//! `airlock cache stats|clear`: the compiled-artifact cache from the command line. Opens
//! the cache (default `$XDG_CACHE_HOME/airlock/compiled`, else `~/.cache/airlock/compiled`),
//! does one thing, and prints text (or JSON with `--json`). Exit codes: 0 done, 2 the cache
//! directory cannot be used (e.g. writable by others).

use std::path::PathBuf;
use std::process::ExitCode;

use airlock::cache::{ArtifactCache, CacheStats};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

#[derive(Args)]
#[command(about = "Show or clear the cache of compiled components")]
pub struct CacheArgs {
    /// The cache directory (default `$XDG_CACHE_HOME/airlock/compiled`, else
    /// `~/.cache/airlock/compiled`).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Subcommand)]
enum CacheCommand {
    /// How many compiled components the cache holds, and their size on disk.
    Stats,
    /// Remove every compiled component (plugins compile again on their next load).
    Clear,
}

pub async fn run(args: CacheArgs) -> Result<ExitCode> {
    let cache = open(args.dir)?;
    match args.command {
        CacheCommand::Stats => {
            let stats = cache.stats()?;
            match args.json {
                true => println!("{}", serde_json::to_string_pretty(&stats)?),
                false => print_stats(&stats),
            }
        }
        CacheCommand::Clear => {
            let removed = cache.clear()?;
            match args.json {
                true => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "dir": removed.dir,
                        "removed_entries": removed.entries,
                        "removed_bytes": removed.bytes,
                    }))?
                ),
                false => println!(
                    "removed {} compiled component{}, {}, from {}",
                    removed.entries,
                    plural(removed.entries),
                    human_bytes(removed.bytes),
                    removed.dir.display()
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn open(dir: Option<PathBuf>) -> Result<ArtifactCache> {
    let dir = match dir {
        Some(dir) => dir,
        None => ArtifactCache::default_dir()
            .context("no cache directory: set XDG_CACHE_HOME or HOME, or pass --dir")?,
    };
    let cache = ArtifactCache::open(&dir)
        .with_context(|| format!("opening the cache at {}", dir.display()))?;
    Ok(match std::env::var(airlock::cache::MAX_ENV) {
        Ok(text) => {
            let bytes = airlock::units::parse_bytes(&text)
                .map_err(|e| anyhow::anyhow!("{}={text:?}: {e}", airlock::cache::MAX_ENV))?;
            cache.with_max_bytes(bytes as u64)
        }
        Err(_) => cache,
    })
}

fn print_stats(stats: &CacheStats) {
    println!("cache      {}", stats.dir.display());
    println!(
        "entries    {} compiled component{}",
        stats.entries,
        plural(stats.entries)
    );
    println!("size       {}", human_bytes(stats.bytes));
    println!(
        "budget     {} (least recently used entries go first; ${} sets it)",
        human_bytes(stats.max_bytes),
        airlock::cache::MAX_ENV
    );
}

fn plural(n: usize) -> &'static str {
    match n {
        1 => "",
        _ => "s",
    }
}

/// `1234567` → `1.2 MiB (1234567 bytes)`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(2048), "2.0 KiB (2048 bytes)");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB (3145728 bytes)");
    }
}
