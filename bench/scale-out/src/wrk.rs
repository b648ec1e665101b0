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
#[derive(Clone, Debug)]
pub struct Report {
    pub requests: u64,
    pub per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Non-2xx answers and socket errors.
    pub failed: u64,
}

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
            parse(&text)
        })
        .collect()
}

fn parse(text: &str) -> Result<Report> {
    let requests: u64 = field(text, "requests in", |line| {
        line.split_whitespace().next()?.parse().ok()
    })?;
    let per_sec: f64 = field(text, "Requests/sec:", |line| {
        line.split_whitespace().nth(1)?.parse().ok()
    })?;
    let percentile = |p: &str| {
        field(text, &format!(" {p}%"), |line| {
            duration(line.split_whitespace().nth(1)?)
        })
    };
    let non_2xx: u64 = field(text, "Non-2xx", |line| {
        line.split_whitespace().last()?.parse().ok()
    })
    .unwrap_or(0);
    let socket_errors: u64 = field(text, "Socket errors", |line| {
        Some(
            line.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum(),
        )
    })
    .unwrap_or(0);
    Ok(Report {
        requests,
        per_sec,
        p50: percentile("50")?,
        p99: percentile("99")?,
        failed: non_2xx + socket_errors,
    })
}

/// The first line of wrk's report containing `marker`, read by `read`.
fn field<T>(text: &str, marker: &str, read: impl Fn(&str) -> Option<T>) -> Result<T> {
    text.lines()
        .find(|line| line.contains(marker))
        .and_then(|line| read(line.trim()))
        .with_context(|| format!("no `{marker}` in wrk's report:\n{text}"))
}

/// wrk's `123.45us`, `1.23ms`, `2.00s`.
fn duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wrk_report() {
        let text = [
            "Running 5s test @ http://127.0.0.1:1/api/v1/tools/calculator.add/call",
            "  2 threads and 64 connections",
            "  Latency Distribution",
            "     50%    4.10ms",
            "     75%    5.00ms",
            "     90%    6.00ms",
            "     99%   12.50ms",
            "  40000 requests in 5.00s, 6.00MB read",
            "  Non-2xx or 3xx responses: 3",
            "Requests/sec:   8000.00",
        ]
        .join("\n");
        let r = parse(&text).unwrap();
        assert_eq!(r.requests, 40000);
        assert_eq!(r.per_sec, 8000.0);
        assert_eq!(r.p50, Duration::from_micros(4100));
        assert_eq!(r.p99, Duration::from_micros(12500));
        assert_eq!(r.failed, 3);
    }
}
