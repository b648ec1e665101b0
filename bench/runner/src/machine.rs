//! Facts about the machine a run measures on: the CPU time it spends (ours and other
//! processes'), waiting for it to be quiet, and what it is (CPU, memory, kernel, load). Read
//! from `/proc`; nothing here knows about benchmarks.

use std::time::Duration;

pub use airlock_bench_common::procfs::{machine_ticks, process_ticks};

/// CPU time in clock ticks: (busy, total) of the whole machine and this process's own
/// (itself plus the children it waited for).
#[derive(Debug, Clone, Copy)]
pub struct CpuTicks {
    busy: u64,
    total: u64,
    own: u64,
}

impl CpuTicks {
    pub fn now() -> CpuTicks {
        CpuTicks::with_children(&[])
    }

    /// Also counts the CPU time of `children` (running subprocesses not yet waited for).
    pub fn with_children(children: &[u32]) -> CpuTicks {
        let (busy, total) = machine_ticks();
        let own = std::iter::once("self".to_string())
            .chain(children.iter().map(|pid| pid.to_string()))
            .map(|pid| process_ticks(&pid))
            .sum();
        CpuTicks { busy, total, own }
    }

    /// Share of all CPUs busy since `earlier`: (everything, other processes).
    pub fn busy_since(&self, earlier: &CpuTicks) -> (f64, f64) {
        let total = self.total.saturating_sub(earlier.total).max(1) as f64;
        let busy = self.busy.saturating_sub(earlier.busy) as f64;
        let own = self.own.saturating_sub(earlier.own) as f64;
        (busy / total, ((busy - own).max(0.0)) / total)
    }
}

/// Waits until other processes leave the machine mostly idle (under `max_busy` of all CPUs
/// over 5 s), for at most `patience`. Returns the last measured share.
pub fn wait_for_quiet(max_busy: f64, patience: Duration) -> f64 {
    let started = std::time::Instant::now();
    loop {
        let before = CpuTicks::now();
        std::thread::sleep(Duration::from_secs(5));
        let (_, others) = CpuTicks::now().busy_since(&before);
        if others <= max_busy {
            return others;
        }
        if started.elapsed() >= patience {
            eprintln!(
                "  still {:.0} % busy after {} min: measuring anyway (the report says so)",
                others * 100.0,
                patience.as_secs() / 60
            );
            return others;
        }
        eprintln!(
            "  other processes keep {:.0} % of the CPUs busy; waiting for a quieter moment…",
            others * 100.0
        );
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub cpu: String,
    pub logical_cpus: usize,
    pub memory: String,
    pub kernel: String,
    pub loadavg: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']))
            })
            .unwrap_or("unknown")
            .trim()
            .to_string();
        let logical_cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|kb| kb.trim().trim_end_matches(" kB").parse::<u64>().ok())
            .map_or("unknown".into(), |kb| {
                format!("{:.1} GiB", kb as f64 / 1048576.0)
            });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        let loadavg = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        Machine {
            cpu,
            logical_cpus,
            memory,
            kernel,
            loadavg,
        }
    }
}
