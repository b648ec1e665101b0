//! The soak results: one row per phase, as Markdown spliced into BENCHMARKS.md between the
//! soak markers (the side-by-side results have markers of their own).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

pub const BEGIN: &str =
    "<!-- bench:soak:begin (written by bench/run.sh --soak; edits inside are overwritten) -->";
pub const END: &str = "<!-- bench:soak:end -->";

/// The target: resident memory grows less than this share from the start (after warm-up)
/// to the end of a phase.
pub const MAX_GROWTH: f64 = 0.05;

/// One phase of the soak.
pub struct Phase {
    pub name: String,
    pub warmup: u64,
    pub calls: u64,
    pub failed: u64,
    pub first_failure: Option<String>,
    /// VmRSS in bytes: after the warm-up, after half the calls, after all of them.
    pub rss_start: u64,
    pub rss_middle: u64,
    pub rss_end: u64,
    /// Wall time of the measured calls (warm-up excluded).
    pub elapsed: Duration,
}

impl Phase {
    pub fn new(name: &str, warmup: u64, calls: u64, rss_start: u64) -> Phase {
        Phase {
            name: name.into(),
            warmup,
            calls,
            failed: 0,
            first_failure: None,
            rss_start,
            rss_middle: rss_start,
            rss_end: rss_start,
            elapsed: Duration::ZERO,
        }
    }

    /// Growth of VmRSS from the start to the end, as a share of the start.
    pub fn growth(&self) -> f64 {
        (self.rss_end as f64 - self.rss_start as f64) / self.rss_start as f64
    }

    fn verdict(&self) -> &'static str {
        match (self.failed == 0, self.growth() < MAX_GROWTH) {
            (true, true) => "met",
            (false, _) => "**missed**: calls failed",
            (true, false) => "**missed**: memory grew",
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// Thousands separated by commas.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The results section (without the markers).
pub fn markdown(phases: &[Phase], total: Duration, reproduce: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "\nMeasured {} at Airlock `{}` with `{reproduce}` ({:.0} s in all, set-up and warm-up included). \
         One process: a registry with the count-vowels example enabled (default limits), called \
         directly, then through the MCP streamable HTTP endpoint it serves on loopback (one \
         session, one keep-alive connection). Each call counts the vowels of a text that differs \
         per call, and the answer is checked. VmRSS from `/proc/self/status`.\n",
        env_or("AIRLOCK_BENCH_DATE", "now"),
        env_or("AIRLOCK_BENCH_COMMIT", "unknown"),
        total.as_secs_f64(),
    );
    md.push_str(
        "| phase | warm-up calls | calls | failed | calls/s | RSS at start | middle | end | growth | target (< 5 %, no failure) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for p in phases {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:+.2} % | {} |",
            p.name,
            count(p.warmup),
            count(p.calls),
            count(p.failed),
            count((p.calls as f64 / p.elapsed.as_secs_f64().max(1e-9)) as u64),
            mib(p.rss_start),
            mib(p.rss_middle),
            mib(p.rss_end),
            p.growth() * 100.0,
            p.verdict(),
        );
    }
    for p in phases.iter().filter(|p| p.first_failure.is_some()) {
        let _ = writeln!(
            md,
            "\nFirst failure ({}): `{}`",
            p.name,
            p.first_failure.as_deref().unwrap_or_default()
        );
    }
    md
}

/// Replaces what is between [`BEGIN`] and [`END`] in `file` with `section`.
pub fn splice(file: &Path, section: &str) -> Result<()> {
    let text = std::fs::read_to_string(file)?;
    let (head, rest) = text
        .split_once(BEGIN)
        .with_context(|| format!("{} has no soak begin marker `{BEGIN}`", file.display()))?;
    let (_, tail) = rest
        .split_once(END)
        .with_context(|| format!("{} has no soak end marker `{END}`", file.display()))?;
    std::fs::write(file, format!("{head}{BEGIN}\n{section}\n{END}{tail}"))?;
    Ok(())
}
