//! The results as Markdown (spliced into BENCHMARKS.md between two markers) and JSON: the
//! tables of the report, rendered from the measurements and the row catalogue. The target
//! verdicts are in `targets`.

mod targets;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;

use crate::Options;
use crate::catalogue::{self, Id, Table};
use crate::harness::{Bench, Stats, paired};
use crate::machine::Machine;

pub const BEGIN: &str =
    "<!-- bench:results:begin (written by bench/run.sh; edits inside are overwritten) -->";
pub const END: &str = "<!-- bench:results:end -->";

/// The work one count-vowels call takes at one argument size, in fuel (≈ wasm operators),
/// in each build of the guest.
pub struct Work {
    /// Bytes of the `{"text": …}` arguments.
    pub bytes: usize,
    /// The Airlock component (`examples/count-vowels`), metered by the guarantee floor.
    pub airlock: u64,
    /// The Extism plugin, as `Plugin::fuel_consumed` reports it (the Extism kernel's own
    /// wasm for the input and output copies included).
    pub extism: u64,
}

/// One row of the by-size table: the benchmarks measured at one argument size.
pub(super) struct Size {
    pub label: &'static str,
    pub raw: Id,
    pub floor: Id,
    /// `Plugin::call_tool`: a `serde_json::Value` in and out.
    pub airlock: Id,
    /// `Plugin::call_tool_json`: JSON text in and out.
    pub airlock_json: Id,
    pub extism: Id,
    pub extism_fuel: Id,
    /// Airlock's host-side JSON work alone for `call_tool`, and for `call_tool_json`.
    pub host_json: Id,
    pub host_text: Id,
}

const fn size(label: &'static str, ids: [Id; 8]) -> Size {
    let [
        raw,
        floor,
        airlock,
        airlock_json,
        extism,
        extism_fuel,
        host_json,
        host_text,
    ] = ids;
    Size {
        label,
        raw,
        floor,
        airlock,
        airlock_json,
        extism,
        extism_fuel,
        host_json,
        host_text,
    }
}

/// The by-size table's rows, smallest first.
pub(super) const SIZES: [Size; 4] = [
    size(
        "96 B",
        [
            Id::Raw96,
            Id::Floor96,
            Id::Airlock96,
            Id::AirlockJson96,
            Id::Extism96,
            Id::ExtismFuel96,
            Id::HostJson96,
            Id::HostText96,
        ],
    ),
    size(
        "1 KiB",
        [
            Id::Raw1k,
            Id::Floor1k,
            Id::Airlock1k,
            Id::AirlockJson1k,
            Id::Extism1k,
            Id::ExtismFuel1k,
            Id::HostJson1k,
            Id::HostText1k,
        ],
    ),
    size(
        "10 KiB",
        [
            Id::Raw10k,
            Id::Floor10k,
            Id::Airlock10k,
            Id::AirlockJson10k,
            Id::Extism10k,
            Id::ExtismFuel10k,
            Id::HostJson10k,
            Id::HostText10k,
        ],
    ),
    size(
        "100 KiB",
        [
            Id::Raw100k,
            Id::Floor100k,
            Id::Airlock100k,
            Id::AirlockJson100k,
            Id::Extism100k,
            Id::ExtismFuel100k,
            Id::HostJson100k,
            Id::HostText100k,
        ],
    ),
];

pub struct Results {
    stats: HashMap<Id, Stats>,
    samples: HashMap<Id, Vec<f64>>,
    batches: HashMap<Id, u64>,
    rounds: usize,
    sample: Duration,
    reproduce: String,
    before: Machine,
    after: Machine,
    elapsed: Duration,
    limits: airlock::Limits,
    args96: usize,
    args10k: usize,
    /// Share of all CPUs busy while measuring: everything, and processes other than ours.
    busy: (f64, f64),
    attempts: usize,
    /// Cold vs cached loads (measured outside the interleaved harness).
    pub loads: Vec<crate::load::LoadRow>,
    /// Resident memory per plugin and per pooled instance (a child process).
    pub rss: Option<crate::rss::RssReport>,
    /// Rust / Python / JavaScript count-vowels side by side (issue #14).
    pub polyglot: Vec<crate::polyglot::PolyglotRow>,
    /// Fuel per call of each guest build, per argument size (same order as [`SIZES`]).
    pub work: Vec<Work>,
    /// The MCP and JSON-RPC servers under load.
    pub serve_load: Vec<crate::serve_load::LoadRow>,
}

fn time(ns: f64) -> String {
    if !ns.is_finite() {
        "—".into()
    } else if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn ratio(r: f64) -> String {
    if !r.is_finite() {
        "—".into()
    } else if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else {
        format!("{:.0} k/s", per_sec / 1e3)
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| "unknown".into())
}

impl Results {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        benches: &[Bench<'_>],
        opts: &Options,
        before: Machine,
        after: Machine,
        elapsed: Duration,
        limits: &airlock::Limits,
        args96: usize,
        args10k: usize,
        busy: (f64, f64),
        attempts: usize,
    ) -> Results {
        Results {
            stats: benches.iter().map(|b| (b.id, b.stats())).collect(),
            samples: benches.iter().map(|b| (b.id, b.samples.clone())).collect(),
            batches: benches.iter().map(|b| (b.id, b.batch)).collect(),
            rounds: opts.rounds,
            sample: opts.sample,
            reproduce: opts.reproduce.clone(),
            before,
            after,
            elapsed,
            limits: limits.clone(),
            args96,
            args10k,
            busy,
            attempts,
            loads: Vec::new(),
            polyglot: Vec::new(),
            work: Vec::new(),
            serve_load: Vec::new(),
            rss: None,
        }
    }

    fn median(&self, id: Id) -> f64 {
        self.stats.get(&id).map_or(f64::NAN, |s| s.median)
    }

    /// `a ÷ b` of medians, and the per-round paired ratios.
    fn ratio(&self, a: Id, b: Id) -> (f64, Option<Stats>) {
        let r = self.median(a) / self.median(b);
        let p = match (self.samples.get(&a), self.samples.get(&b)) {
            (Some(x), Some(y)) => Some(paired(x, y)),
            _ => None,
        };
        (r, p)
    }

    fn latency_table(&self, out: &mut String, table: Table) {
        out.push_str("| what | input | median | p25 – p75 | × raw floor | peer ÷ Airlock |\n");
        out.push_str("|---|---|---:|---:|---:|---:|\n");
        for (id, r) in catalogue::rows(table) {
            let Some(s) = self.stats.get(&id) else {
                continue;
            };
            let floor = ratio(self.ratio(id, r.base).0);
            let vs = r.airlock.map_or("".into(), |a| ratio(self.ratio(id, a).0));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} – {} | {} | {} |",
                r.what,
                r.input,
                time(s.median),
                time(s.p25),
                time(s.p75),
                floor,
                vs
            );
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{BEGIN}\n");
        self.run_and_machine(&mut out);
        self.limits_paragraph(&mut out);

        self.sizes_table(&mut out);
        out.push_str("\n**Warm calls** (time per call)\n\n");
        self.latency_table(&mut out, Table::Warm);
        self.usage_table(&mut out);
        out.push_str("\n**A fresh instance per call**\n\n");
        self.latency_table(&mut out, Table::Fresh);

        out.push_str(
            "\n**Limits overhead on a compute-bound call**: the `compute` test plugin hashes 1 MiB \
             it generates itself (SHA-256), so nearly all the time is the guest's own \
             instructions\n\n",
        );
        self.latency_table(&mut out, Table::Compute);
        self.loads_table(&mut out);
        self.rss_table(&mut out);
        self.polyglot_table(&mut out);
        self.throughput_table(&mut out);
        self.serve_load_table(&mut out);
        self.targets_table(&mut out);
        let _ = write!(out, "\n{END}");
        out
    }

    /// When, at which commit, how long, and on what machine under how much other load.
    fn run_and_machine(&self, out: &mut String) {
        let m = &self.before;
        let _ = writeln!(
            out,
            "Measured {} at Airlock `{}` with `{}`: {} interleaved rounds of ~{} ms samples per \
             benchmark ({:.0} s in all, set-up and warm-up included).\n",
            env("AIRLOCK_BENCH_DATE"),
            env("AIRLOCK_BENCH_COMMIT"),
            self.reproduce,
            self.rounds,
            self.sample.as_millis(),
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "Machine: {} ({} logical CPUs), {} RAM, Linux {}; load average {} before, {} after \
             (a shared VM: read ratios, not absolutes). While measuring, other processes kept \
             {:.0} % of all CPUs busy{}{}. {}, {}; wasmtime 48.0.8 (raw rows and \
             Airlock), Extism 1.30.0 (embeds wasmtime 43). Host code built with the release \
             profile; Airlock components with the main workspace's `guest` profile, the Extism \
             plugin (wasm32-unknown-unknown) with the same settings; the subprocess plugin in \
             release.\n",
            m.cpu,
            m.logical_cpus,
            m.memory,
            m.kernel,
            m.loadavg,
            self.after.loadavg,
            self.busy.1 * 100.0,
            match self.attempts {
                1 => String::new(),
                n => format!(" (the quietest of {n} attempts)"),
            },
            if self.busy.1 > 0.15 {
                " — **the machine was shared during this run: absolute numbers are inflated and \
                 the throughput scaling is not meaningful**"
            } else {
                ""
            },
            env("AIRLOCK_BENCH_RUSTC"),
            env("AIRLOCK_BENCH_CARGO"),
        );
    }

    /// The limits every Airlock row runs with, and the argument sizes.
    fn limits_paragraph(&self, out: &mut String) {
        let l = &self.limits;
        let fuel = l.fuel.map_or("unmetered".into(), |f| format!("{f}"));
        let _ = writeln!(
            out,
            "Limits: every Airlock row runs with `Limits::default()` as in production — fuel {fuel} \
             per call (refilled per call), deadline {:?} (fuel yields every 10⁷ units with the \
             clock read at each, a timer once the call waits), memory cap {} MiB (store limiter), output cap {} MiB (hostcall fuel), \
             input cap {} MiB — and validates the arguments against the tool's JSON Schema and \
             parses the result. Raw rows run with no limits; Extism rows as labelled. Same \
             argument bytes everywhere: `{{\"text\": …}}` of {} B (96 B text), {} B (10 KiB \
             text), and likewise for 1 KiB and 100 KiB of text. The guests do the same work: \
             the fuel each build takes per call is in the first table.\n",
            l.deadline,
            l.memory_bytes >> 20,
            l.output_bytes >> 20,
            l.input_bytes >> 20,
            self.args96,
            self.args10k
        );
    }

    /// Warm count-vowels at every size against the guarantee floor and Extism, with the
    /// work (fuel) each guest build takes per call.
    fn sizes_table(&self, out: &mut String) {
        if !SIZES.iter().any(|s| self.stats.contains_key(&s.airlock)) {
            return;
        }
        out.push_str(
            "**Warm count-vowels by size** (medians; the rows are in the warm-call table below). \
             The guarantee floor is raw wasmtime with every limit Airlock enforces armed the \
             way Airlock arms it, and nothing else: the least a fuel budget, a wall-clock \
             deadline and a memory cap can cost. Airlock: `call_tool` (a `Value` in and out: \
             the arguments serialised, the result parsed) and `call_tool_json` (text in and \
             out: the arguments parsed once for their schema, the result checked to be JSON). \
             Fuel per call: the work each build of the guest does (≈ wasm operators; \
             Extism's includes its kernel's input and output copies).\n\n\
             | size | raw, no limits | guarantee floor | **Airlock** | ÷ floor | ÷ raw | Airlock, text | ÷ floor | Extism, fuel | ÷ Airlock | Extism, no limits ÷ Airlock | fuel per call: Airlock guest | Extism guest | differ |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (i, s) in SIZES.iter().enumerate() {
            let (work_a, work_e, differ) = match self.work.get(i) {
                Some(w) => {
                    let d = w.extism as f64 / w.airlock as f64 - 1.0;
                    let note = if d.abs() > 0.05 { " (over 5 %)" } else { "" };
                    (
                        w.airlock.to_string(),
                        w.extism.to_string(),
                        format!("{:+.1} %{note}", d * 100.0),
                    )
                }
                None => ("—".into(), "—".into(), "—".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {work_a} | {work_e} | {differ} |",
                s.label,
                time(self.median(s.raw)),
                time(self.median(s.floor)),
                time(self.median(s.airlock)),
                ratio(self.ratio(s.airlock, s.floor).0),
                ratio(self.ratio(s.airlock, s.raw).0),
                time(self.median(s.airlock_json)),
                ratio(self.ratio(s.airlock_json, s.floor).0),
                time(self.median(s.extism_fuel)),
                ratio(self.ratio(s.extism_fuel, s.airlock).0),
                ratio(self.ratio(s.extism, s.airlock).0),
            );
        }
    }

    /// Usage counters on vs off (issue #18): each "on" row with its ratio to the "off" row
    /// of its size, from the medians and round by round (both rows sampled in every round,
    /// one right after the other, so the paired band is the sharper reading).
    fn usage_table(&self, out: &mut String) {
        if !catalogue::usage_pairs().any(|(_, on, _)| self.stats.contains_key(&on)) {
            return;
        }
        out.push_str(
            "\n**Usage counters on vs off** (issue #18): warm count-vowels (`call_tool`), two \
             plugins loaded alike but for `LoadOptions::usage`, their rows interleaved. With \
             the counters on, each call reads the clock at its start and end, reads its \
             instance's fuel and memory size, and adds to a few relaxed atomics (calls, a \
             latency bucket and total, fuel, peak memory); off, none of that.\n\n\
             | what | input | median | p25 – p75 | on ÷ off | round by round (p25 – p75) |\n\
             |---|---|---:|---:|---:|---:|\n",
        );
        for (id, r) in catalogue::rows(Table::Usage) {
            let Some(s) = self.stats.get(&id) else {
                continue;
            };
            // Only an "on" row has a ratio: an "off" row is its own base.
            let (vs, band) = if r.base == id {
                (String::new(), String::new())
            } else {
                let (m, p) = self.ratio(id, r.base);
                let band = p.map_or(String::new(), |p| {
                    format!("{} – {}", ratio(p.p25), ratio(p.p75))
                });
                (ratio(m), band)
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} – {} | {vs} | {band} |",
                r.what,
                r.input,
                time(s.median),
                time(s.p25),
                time(s.p75),
            );
        }
    }

    fn throughput_table(&self, out: &mut String) {
        out.push_str("\n**Throughput**, count-vowels 96 B, callers in parallel for one batch\n\n");
        out.push_str("| callers | what | calls/s (median) | p25 – p75 | vs 1 caller |\n");
        out.push_str("|---:|---|---:|---:|---:|\n");
        for (id, r) in catalogue::rows(Table::Throughput) {
            let Some(s) = self.stats.get(&id) else {
                continue;
            };
            let scale = self.ratio(r.base, id).0;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} – {} | {} |",
                r.input,
                r.what,
                rate(1e9 / s.median),
                rate(1e9 / s.p75),
                rate(1e9 / s.p25),
                ratio(scale)
            );
        }
    }

    fn serve_load_table(&self, out: &mut String) {
        if self.serve_load.is_empty() {
            return;
        }
        out.push_str(
            "\n**The servers under load**: count-vowels 96 B through the release `airlock` \
             binary, 5 s per level after a warm-up, the client on the same two CPUs. Server \
             CPU per call: the server process's user + system time over the level ÷ the calls \
             it answered.\n\n\
             | front end | clients | requests/s | p50 | p99 | failed | server CPU per call |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &self.serve_load {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {} | {} | {} of {} | {} |",
                r.front,
                r.clients,
                r.per_sec,
                time(r.p50.as_nanos() as f64),
                time(r.p99.as_nanos() as f64),
                r.failed,
                r.requests,
                time(r.cpu_per_call.as_nanos() as f64),
            );
        }
    }

    fn loads_table(&self, out: &mut String) {
        if self.loads.is_empty() {
            return;
        }
        out.push_str(
            "\n**Cold vs cached load** (`Runtime::load_file`, which also starts the plugin: a \
             probe instance and the first instance's `init`; median of the runs shown)\n\n\
             | component | size | cold (compile) | cached (mmap'd artifact) | cold ÷ cached |\n\
             |---|---:|---:|---:|---:|\n",
        );
        for r in &self.loads {
            let _ = writeln!(
                out,
                "| {} | {:.2} MB | {} ({} runs) | {} ({} runs) | {} |",
                r.name,
                r.bytes as f64 / 1e6,
                time(r.cold.as_nanos() as f64),
                r.cold_runs,
                time(r.cached.as_nanos() as f64),
                r.cached_runs,
                ratio(r.cold.as_secs_f64() / r.cached.as_secs_f64()),
            );
        }
    }

    fn polyglot_table(&self, out: &mut String) {
        if self.polyglot.is_empty() {
            return;
        }
        out.push_str(
            "\n**Plugins in Python and JavaScript** (issue #14): the same count-vowels in each \
             language (`examples/count-vowels`, `examples/python/count-vowels`, \
             `examples/js/count-vowels`, the last two built by `airlock build`). Cold: one \
             `load_file` without a cache; cached: median of 10 `load_file`s, each on a fresh \
             runtime sharing one artifact cache; warm call: mean of 2,000 calls; fresh-instance \
             call: median of 50 calls with isolation `fresh` (instantiate + `init` + call); RSS: \
             VmRSS growth over 10 more loaded plugins, one call each, ÷ 10.\n\n\
             | count-vowels | component | cold compile + start | cached load + start | warm call | fresh-instance call | RSS per idle plugin |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &self.polyglot {
            let _ = writeln!(
                out,
                "| {} | {:.2} MiB | {} | {} | {} | {} | {:.1} MiB |",
                r.lang,
                r.bytes as f64 / 1048576.0,
                time(r.cold.as_nanos() as f64),
                time(r.cached.as_nanos() as f64),
                time(r.warm.as_nanos() as f64),
                time(r.fresh.as_nanos() as f64),
                r.rss as f64 / 1048576.0,
            );
        }
    }

    fn rss_table(&self, out: &mut String) {
        let Some(r) = &self.rss else {
            return;
        };
        let mib = |b: f64| format!("{:.2} MiB", b / 1048576.0);
        let _ = writeln!(
            out,
            "\n**Memory** (VmRSS growth in a separate process, count-vowels, {} copies; process \
             baseline {}). The linear memory column is the size the instances' memories have \
             (`Plugin::stats`); pages a guest never touched are not resident, so the RSS \
             growth can be smaller than it.\n\n\
             | what | RSS growth each, all of it | linear memory each (size) |\n\
             |---|---:|---:|\n\
             | a loaded, idle plugin (one warm instance, after one call) | {} | {} |\n\
             | one more pooled idle instance of a plugin (`prewarm`, `init` run) | {} | {} |",
            crate::rss::COPIES,
            mib(r.baseline),
            mib(r.per_plugin),
            mib(r.plugin_linear),
            mib(r.per_instance),
            mib(r.instance_linear),
        );
    }

    pub fn json(&self) -> serde_json::Value {
        let mut rows = serde_json::Map::new();
        for (id, s) in &self.stats {
            rows.insert(
                id.name().to_string(),
                json!({ "ns_per_call": s, "batch": self.batches.get(id), "samples": self.samples.get(id) }),
            );
        }
        json!({
            "date": env("AIRLOCK_BENCH_DATE"),
            "commit": env("AIRLOCK_BENCH_COMMIT"),
            "rustc": env("AIRLOCK_BENCH_RUSTC"),
            "machine_before": self.before,
            "machine_after": self.after,
            "cpu_busy_all": self.busy.0,
            "cpu_busy_others": self.busy.1,
            "rounds": self.rounds,
            "sample_ms": self.sample.as_millis() as u64,
            "rows": rows,
            "fuel_per_call": self.work.iter().map(|w| json!({
                "argument_bytes": w.bytes, "airlock_guest": w.airlock, "extism_guest": w.extism,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Replaces the text between the markers in `path` with `block` (which carries them).
pub fn splice(path: &str, block: &str) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{path} has no results markers ({BEGIN} … {END})");
    };
    if e < b {
        bail!("{path}: the results markers are out of order");
    }
    let new = format!("{}{}{}", &text[..b], block, &text[e + END.len()..]);
    std::fs::write(path, new)?;
    Ok(())
}
