//! `wrk` posting `calculator.add` to Airlock's REST API, one or more wrk processes at the
//! same time, and what it reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The tool every load calls, and its arguments.
pub const TOOL: &str = "calculator.add";
pub const BODY: &str = r#"{"arguments":{"a":1,"b":2}}"#;

/// What one wrk process measured.
pub use airlock_bench_common::wrk::Report;

/// A wrk script posting [`BODY`] with the bearer `token`, written into `dir`.
pub fn script(dir: &Path, token: &str) -> Result<PathBuf> {
    let lua = format!(
        "wrk.method = \"POST\"\n\
         wrk.body = [==[{BODY}]==]\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"
    );
    let path = dir.join(format!("call-{}.lua", &token[..token.len().min(8)]));
    std::fs::write(&path, lua)?;
    Ok(path)
}

/// One wrk process per `(address, script, connections)`, all at once for `duration`, one
/// wrk thread each when there are several (two when alone: the same client threads in
/// all); their reports in the same order.
pub fn run(targets: &[(&str, &Path, usize)], duration: Duration) -> Result<Vec<Report>> {
    let threads = if targets.len() == 1 { 2 } else { 1 };
    let children = targets
        .iter()
        .map(|(address, script, connections)| {
            Command::new("wrk")
                .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
                .args([
                    "-d",
                    &format!("{}s", duration.as_secs().max(1)),
                    "--latency",
                ])
                .arg("-s")
                .arg(script)
                .arg(format!("http://{address}/api/v1/tools/{TOOL}/call"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running wrk (Debian package `wrk`; bench/run.sh installs it)")
        })
        .collect::<Result<Vec<_>>>()?;
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output()?;
            let text = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
            }
            airlock_bench_common::wrk::parse(&text)
        })
        .collect()
}
