//! wrk's report (`wrk --latency`), read into numbers.

use std::time::Duration;

use anyhow::{Context, Result};

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub requests: u64,
    pub per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// Non-2xx/3xx answers plus socket errors.
    pub failed: u64,
}

/// Reads wrk's report `text`; errors name the line that is missing.
pub fn parse(text: &str) -> Result<Report> {
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
