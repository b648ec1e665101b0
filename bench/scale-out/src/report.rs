//! The scale-out results as Markdown, spliced into BENCHMARKS.md between the scale-out
//! markers (the other sections have markers of their own).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{Results, Round, SETUPS, Setup, WARMUP_CHANGES};

pub const BEGIN: &str = "<!-- bench:scale-out:begin (written by bench/run.sh --scale-out; edits inside are overwritten) -->";
pub const END: &str = "<!-- bench:scale-out:end -->";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// `417 µs`, `2.35 ms`, `12.4 ms`, `1.20 s`.
fn time(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1e-2 {
        format!("{:.2} ms", s * 1e3)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
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

/// The nearest-rank `q` quantile of `values` (sorted here).
fn quantile<T: Ord + Copy>(values: &[T], q: f64) -> T {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The rounds of `setup`, and the median one by calls per second.
fn median_round(rounds: &[Round], setup: Setup) -> (Vec<&Round>, &Round) {
    let mut of: Vec<&Round> = rounds.iter().filter(|r| r.setup == setup).collect();
    of.sort_by(|x, y| x.per_sec().total_cmp(&y.per_sec()));
    let median = of[(of.len() - 1) / 2];
    (of, median)
}

/// The results section (without the markers).
pub fn markdown(results: &Results, total: Duration, reproduce: &str) -> String {
    let mut md = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let loads_others: Vec<u64> = results
        .rounds
        .iter()
        .map(|r| (r.others * 100.0).round() as u64)
        .collect();
    let _ = writeln!(
        md,
        "\nMeasured {} at Airlock `{}` with `{reproduce}` ({:.0} s in all, set-up included), \
         PostgreSQL {}, on this machine's {cpus} vCPUs, which PostgreSQL, the hosts and the load \
         generator all share. Other processes kept {:.0} % of the CPUs busy just before \
         measuring; during the measurements kept they took {:.0} % of them in the fan-out and \
         {} % in the loads (median; at most {} %). {}\n",
        env_or("AIRLOCK_BENCH_DATE", "now"),
        env_or("AIRLOCK_BENCH_COMMIT", "unknown"),
        total.as_secs_f64(),
        if results.postgres_version.is_empty() {
            "(version unknown)"
        } else {
            &results.postgres_version
        },
        results.others_before * 100.0,
        results.others_fanout * 100.0,
        quantile(&loads_others, 0.5),
        quantile(&loads_others, 1.0),
        match results.repeated {
            0 => "No measurement had to be made again.".to_string(),
            n => format!(
                "{n} measurement(s) were made again because other processes took more than \
                 {:.0} % of the CPUs during them (the quietest attempt is kept).",
                crate::QUIET * 100.0
            ),
        },
    );

    let f = &results.fanout;
    let _ = writeln!(
        md,
        "**A change made on A, in effect on B** ({} configuration changes, after {WARMUP_CHANGES} \
         unmeasured ones):\n",
        f.in_effect.len()
    );
    md.push_str("| | median | p90 | p99 | max |\n|---|---:|---:|---:|---:|\n");
    let rows: [(&str, &[Duration]); 3] = [
        (
            "**write on A → in effect on B** (A's 200 → B's first veto of the newly denied tool)",
            &f.in_effect,
        ),
        (
            "the write on A (`PUT /api/v1/plugins/redact/config` → 200)",
            &f.write,
        ),
        (
            "one poll of B's before-tool-call hook (the resolution of the first row)",
            &f.poll,
        ),
    ];
    for (name, values) in rows {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} |",
            time(quantile(values, 0.5)),
            time(quantile(values, 0.9)),
            time(quantile(values, 0.99)),
            time(quantile(values, 1.0)),
        );
    }
    let _ = writeln!(
        md,
        "\nB answered a median of {} polls per change before its first veto (p99 {}).\n",
        quantile(&f.polls, 0.5),
        quantile(&f.polls, 0.99),
    );

    let rounds = results.rounds.len() / SETUPS.len();
    let _ = writeln!(
        md,
        "**Calls per second**: `calculator.add` over REST (`POST /api/v1/tools/calculator.add/call`, \
         caller token), driven by wrk with 64 connections in all; the median of {rounds} rounds of \
         {} s, the four setups interleaved (the range shows the spread of the rounds).\n",
        results.seconds
    );
    md.push_str(
        "| registry | hosts under load | calls/s | rounds (min – max) | p50 | p99 | failed (all rounds) | CPUs busy (all processes) | hosts' CPU per call | PostgreSQL's CPU during the load |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut per_sec = Vec::new();
    for setup in SETUPS {
        let (all, median) = median_round(&results.rounds, setup);
        per_sec.push(median.per_sec());
        let (registry, names) = if setup.postgres {
            ("PostgreSQL", ["A", "B"])
        } else {
            ("SQLite file (reference)", ["1", "2"])
        };
        let hosts = match (setup.postgres, setup.hosts) {
            (true, 1) => "A alone, 64 connections (B idle)",
            (true, _) => "A and B at once, 32 connections each (summed)",
            (false, 1) => "one host, 64 connections (the other idle)",
            (false, _) => "two hosts at once, 32 connections each (summed)",
        };
        let latency = |of: fn(&crate::wrk::Report) -> Duration| match median.hosts.as_slice() {
            [one] => time(of(one)),
            many => many
                .iter()
                .zip(names)
                .map(|(h, name)| format!("{name}: {}", time(of(h))))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let cpu_per_call = median.host_cpu.as_secs_f64() / median.requests().max(1) as f64;
        let database = match (setup.postgres, median.database_cpu) {
            (false, _) => "—".to_string(),
            // Clock ticks: 10 ms each.
            (true, Duration::ZERO) => "0 (< 10 ms)".to_string(),
            (true, cpu) => time(cpu),
        };
        let _ = writeln!(
            md,
            "| {registry} | {hosts} | **{}** | {} – {} | {} | {} | {} | {:.0} % | {} | {database} |",
            count(median.per_sec() as u64),
            count(all[0].per_sec() as u64),
            count(all[all.len() - 1].per_sec() as u64),
            latency(|h| h.p50),
            latency(|h| h.p99),
            count(all.iter().map(|r| r.failed()).sum()),
            median.machine_busy * 100.0,
            time(Duration::from_secs_f64(cpu_per_call)),
        );
    }
    // SETUPS: PostgreSQL one host, two hosts; SQLite one host, two hosts.
    let _ = writeln!(
        md,
        "\nTwo hosts ÷ one host: **{:.2}×** on PostgreSQL, {:.2}× on SQLite. One host on \
         PostgreSQL ÷ one host on SQLite: **{:.2}×**.",
        per_sec[1] / per_sec[0],
        per_sec[3] / per_sec[2],
        per_sec[0] / per_sec[2],
    );
    md
}

/// Replaces what is between [`BEGIN`] and [`END`] in `file` with `section`.
pub fn splice(file: &Path, section: &str) -> Result<()> {
    let text = std::fs::read_to_string(file)?;
    let (head, rest) = text
        .split_once(BEGIN)
        .with_context(|| format!("{} has no scale-out begin marker `{BEGIN}`", file.display()))?;
    let (_, tail) = rest
        .split_once(END)
        .with_context(|| format!("{} has no scale-out end marker `{END}`", file.display()))?;
    std::fs::write(file, format!("{head}{BEGIN}\n{section}\n{END}{tail}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u32> = (1..=200).collect();
        assert_eq!(quantile(&v, 0.5), 100);
        assert_eq!(quantile(&v, 0.99), 198);
        assert_eq!(quantile(&v, 1.0), 200);
        assert_eq!(quantile(&[7u32], 0.99), 7);
    }
}
