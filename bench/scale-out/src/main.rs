//! `airlock-scale-out`: many hosts on one PostgreSQL registry (issue #19), measured from
//! outside as an operator runs them. A throwaway PostgreSQL cluster (scripts/postgres.sh)
//! holds one registry database with calculator and redact enabled for tenant `acme`; two
//! `airlock serve --http` hosts, A and B, serve it, and two more serve the same plugins
//! from a SQLite registry file for reference.
//!
//! - **Fan-out**: a configuration change PUT on A (redact now denies `t{i}`); from A's 200
//!   (committed) B's before-tool-call hook is polled back to back until it vetoes `t{i}`.
//!   Reported: that delay, the write's own latency, and the poll's round trip (the
//!   resolution).
//! - **Calls per second**: `wrk` posting `calculator.add`, 64 connections: on A alone; on A
//!   and B at once (two wrk processes, 32 connections each, summed); the same two on the
//!   SQLite hosts. Rounds interleave the four; the median round of each is reported.
//!
//! Normally run through `bash bench/run.sh --scale-out` (which sets `AIRLOCK_BENCH_AIRLOCK`,
//! the release binary, and `AIRLOCK_BENCH_PLUGINS`, the folder of example plugin folders).
//! Options: `--changes N` (default 200), `--rounds N` (3), `--seconds N` (5 per load),
//! `--wait-idle-min N` (first wait up to N minutes for other processes to leave the CPUs
//! idle; default 0), `--attempts N` (make a measurement again, up to N times in all, while
//! other processes took more than 15 % of the CPUs during it; the quietest is kept;
//! default 3), `--markdown FILE` (splice the results between the scale-out markers in
//! FILE), `--reproduce "COMMAND"` (shown in the report). The cluster is stopped at the end,
//! also when a step fails. Exits 1 when a call failed (after writing the report).

mod client;
mod processes;
mod report;
mod wrk;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use client::Client;
use processes::{Cluster, Host};

const TENANT: &str = "acme";
/// Changes made before the measured ones (the first ones start pools and caches).
const WARMUP_CHANGES: usize = 10;
/// Connections in every load, split evenly over the hosts under load.
const CONNECTIONS: usize = 64;
/// How long a change may take to reach B before the run fails.
const FANOUT_TIMEOUT: Duration = Duration::from_secs(10);

struct Options {
    changes: usize,
    rounds: usize,
    seconds: u64,
    wait_idle: Duration,
    attempts: usize,
    markdown: Option<String>,
    reproduce: String,
}

fn options() -> Result<Options> {
    let mut o = Options {
        changes: 200,
        rounds: 3,
        seconds: 5,
        wait_idle: Duration::ZERO,
        attempts: 3,
        markdown: None,
        reproduce: "bash bench/run.sh --scale-out".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--changes" => o.changes = value()?.parse::<usize>()?.max(1),
            "--rounds" => o.rounds = value()?.parse::<usize>()?.max(1),
            "--seconds" => o.seconds = value()?.parse::<u64>()?.max(1),
            "--wait-idle-min" => o.wait_idle = Duration::from_secs(60 * value()?.parse::<u64>()?),
            "--attempts" => o.attempts = value()?.parse::<usize>()?.max(1),
            "--markdown" => o.markdown = Some(value()?),
            "--reproduce" => o.reproduce = value()?,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

fn env_path(name: &str) -> Result<PathBuf> {
    let path = std::env::var(name)
        .with_context(|| format!("{name} is not set (run bash bench/run.sh --scale-out)"))?;
    let path = PathBuf::from(path);
    ensure!(path.exists(), "{name}={} does not exist", path.display());
    Ok(path)
}

/// The fan-out measurements, one entry per measured change.
#[derive(Default)]
pub struct Fanout {
    /// PUT on A until its 200.
    pub write: Vec<Duration>,
    /// A's 200 until B's first reply that vetoes the newly denied tool.
    pub in_effect: Vec<Duration>,
    /// Every poll of B's hook: its round trip.
    pub poll: Vec<Duration>,
    /// Polls per change.
    pub polls: Vec<u32>,
}

/// One load: the registry the hosts share and how many of them take the load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Setup {
    pub postgres: bool,
    pub hosts: usize,
}

/// The four loads: PostgreSQL with one host and two, and the same on SQLite for reference.
pub const SETUPS: [Setup; 4] = [
    Setup {
        postgres: true,
        hosts: 1,
    },
    Setup {
        postgres: true,
        hosts: 2,
    },
    Setup {
        postgres: false,
        hosts: 1,
    },
    Setup {
        postgres: false,
        hosts: 2,
    },
];

/// One load of one setup: a wrk report per host under load, and the CPU time spent.
#[derive(Clone)]
pub struct Round {
    pub setup: Setup,
    pub hosts: Vec<wrk::Report>,
    /// The hosts' CPU time (all hosts of the setup's registry, idle ones included).
    pub host_cpu: Duration,
    /// PostgreSQL's (postmaster and backends); zero for SQLite.
    pub database_cpu: Duration,
    /// Share of all CPUs busy during the load (every process on the machine).
    pub machine_busy: f64,
    /// Share of all CPUs other processes took during the load.
    pub others: f64,
}

impl Round {
    pub fn per_sec(&self) -> f64 {
        self.hosts.iter().map(|h| h.per_sec).sum()
    }

    pub fn requests(&self) -> u64 {
        self.hosts.iter().map(|h| h.requests).sum()
    }

    pub fn failed(&self) -> u64 {
        self.hosts.iter().map(|h| h.failed).sum()
    }
}

/// Everything the report shows.
pub struct Results {
    pub fanout: Fanout,
    /// Every round of every setup, in the order they ran.
    pub rounds: Vec<Round>,
    pub seconds: u64,
    /// Share of all CPUs other processes kept busy just before measuring, and during the
    /// fan-out measurement kept.
    pub others_before: f64,
    pub others_fanout: f64,
    /// Measurements made again because other processes took over [`QUIET`] of the CPUs.
    pub repeated: usize,
    pub postgres_version: String,
}

/// Installs calculator and redact into the registry at `registry` and enables them for
/// [`TENANT`] (redact denying `t0`); (admin token, caller token).
fn provision(airlock: &str, registry: &str, plugins: &Path) -> Result<(String, String)> {
    let folder = |name: &str| plugins.join(name).display().to_string();
    let plugins_cmd = |args: &[&str]| {
        let mut all = vec!["plugins", "--registry", registry, "--tenant", TENANT];
        all.extend_from_slice(args);
        processes::airlock(airlock, &all)
    };
    plugins_cmd(&["install", &folder("calculator")])?;
    plugins_cmd(&["install", &folder("redact")])?;
    plugins_cmd(&["enable", "calculator"])?;
    plugins_cmd(&["enable", "redact", "--config", r#"{"deny_tools": ["t0"]}"#])?;
    let token = |role: &str| {
        processes::airlock(
            airlock,
            &[
                "token",
                "create",
                "--tenant",
                TENANT,
                "--role",
                role,
                "--registry",
                registry,
            ],
        )
    };
    Ok((token("admin")?, token("caller")?))
}

/// The plugin that vetoed in a before-tool-call dispatch result, if any.
fn vetoed_by(body: &Value) -> Option<String> {
    let vetoed = body
        .get("vetoed")
        .or_else(|| body.get("result").and_then(|r| r.get("vetoed")))?;
    Some(vetoed.get(0)?.as_str()?.to_string())
}

/// Whether `redact` on the host behind `client` vetoes a call of `tool`.
fn vetoes(client: &mut Client, tool: &str) -> Result<bool> {
    let reply = client.request(
        "POST",
        "/api/v1/hooks/before-tool-call",
        &json!({"payload": {"tool": tool}}),
    )?;
    ensure!(
        reply.status == 200,
        "before-tool-call answered {}: {}",
        reply.status,
        reply.body
    );
    match vetoed_by(&reply.body) {
        Some(plugin) if plugin == "redact" => Ok(true),
        Some(plugin) => bail!("{plugin} vetoed {tool}, not redact: {}", reply.body),
        None => Ok(false),
    }
}

/// `calculator.add` 1 + 2 through `client`: checks the answer.
fn check_call(client: &mut Client, host: &str) -> Result<()> {
    let path = format!("/api/v1/tools/{}/call", wrk::TOOL);
    let body: Value = serde_json::from_str(wrk::BODY)?;
    let reply = client.request("POST", &path, &body)?;
    ensure!(
        reply.status == 200 && reply.body["result"]["result"] == 3.0,
        "{host}: {} answered {} {}",
        wrk::TOOL,
        reply.status,
        reply.body
    );
    Ok(())
}

/// `changes` configuration changes on A (after a warm-up), each timed until B enforces it.
fn fanout(a: &Host, b: &Host, admin: &str, caller: &str, changes: usize) -> Result<Fanout> {
    let mut on_a = Client::new(&a.address, admin);
    let mut on_b = Client::new(&b.address, caller);
    let mut out = Fanout::default();
    for i in 1..=WARMUP_CHANGES + changes {
        let tool = format!("t{i}");
        ensure!(
            !vetoes(&mut on_b, &tool)?,
            "B vetoes {tool} before it was denied"
        );
        let started = Instant::now();
        let reply = on_a.request(
            "PUT",
            "/api/v1/plugins/redact/config",
            &json!({"deny_tools": [tool]}),
        )?;
        let committed = Instant::now();
        ensure!(
            reply.status == 200,
            "PUT redact's configuration on A answered {}: {}",
            reply.status,
            reply.body
        );
        let mut polls = 0u32;
        let mut round_trips = Vec::new();
        let in_effect = loop {
            let sent = Instant::now();
            let vetoed = vetoes(&mut on_b, &tool)?;
            let answered = Instant::now();
            polls += 1;
            round_trips.push(answered - sent);
            if vetoed {
                break answered - committed;
            }
            ensure!(
                committed.elapsed() < FANOUT_TIMEOUT,
                "change {i} (deny {tool}) not in effect on B after {FANOUT_TIMEOUT:?}"
            );
        };
        if i > WARMUP_CHANGES {
            out.write.push(committed - started);
            out.in_effect.push(in_effect);
            out.poll.extend(round_trips);
            out.polls.push(polls);
        }
        if i % 50 == 0 {
            eprintln!("  {i} of {} changes", WARMUP_CHANGES + changes);
        }
        // Let both hosts finish with the change (A applies its own too) before the next.
        std::thread::sleep(Duration::from_millis(10));
    }
    let last = WARMUP_CHANGES + changes;
    ensure!(
        !vetoes(&mut on_b, &format!("t{}", last - 1))?,
        "B still vetoes t{} after the configuration replaced it",
        last - 1
    );
    Ok(out)
}

fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 10)
}

/// The hosts serving one registry, and the wrk script with a token of it.
struct Hosts<'a> {
    hosts: [&'a Host; 2],
    script: &'a Path,
}

/// One load of `setup` for `seconds`, with the CPU time the hosts and the database spent.
fn load(setup: Setup, on: &Hosts, postmaster: Option<u32>, seconds: u64) -> Result<Round> {
    let targets: Vec<(&str, &Path, usize)> = on.hosts[..setup.hosts]
        .iter()
        .map(|h| (h.address.as_str(), on.script, CONNECTIONS / setup.hosts))
        .collect();
    let host_ticks = || {
        on.hosts
            .iter()
            .map(|h| processes::process_ticks(h.pid()))
            .sum::<u64>()
    };
    let database_ticks = || match postmaster {
        Some(pid) if setup.postgres => processes::tree_ticks(pid),
        _ => 0,
    };
    let (host_before, database_before) = (host_ticks(), database_ticks());
    let machine_before = processes::machine_ticks();
    let reports = wrk::run(&targets, Duration::from_secs(seconds))?;
    let machine_after = processes::machine_ticks();
    Ok(Round {
        setup,
        hosts: reports,
        host_cpu: ticks_to_duration(host_ticks().saturating_sub(host_before)),
        database_cpu: ticks_to_duration(database_ticks().saturating_sub(database_before)),
        machine_busy: (machine_after.0 - machine_before.0) as f64
            / (machine_after.1 - machine_before.1).max(1) as f64,
        others: 0.0,
    })
}

/// The CPU time this run spends (this process, its waited-for children — wrk, the CLI —,
/// the hosts and PostgreSQL), to tell it from other processes'.
struct Meter {
    hosts: Vec<u32>,
    postmaster: Option<u32>,
}

impl Meter {
    /// (own ticks, machine busy ticks, machine total ticks).
    fn now(&self) -> (u64, u64, u64) {
        let own = processes::process_ticks(std::process::id())
            + self
                .hosts
                .iter()
                .map(|&pid| processes::process_ticks(pid))
                .sum::<u64>()
            + self.postmaster.map_or(0, processes::tree_ticks);
        let (busy, total) = processes::machine_ticks();
        (own, busy, total)
    }

    /// Share of all CPUs other processes took since `before`.
    fn others_since(&self, before: (u64, u64, u64)) -> f64 {
        let after = self.now();
        let own = after.0.saturating_sub(before.0);
        let busy = after.1.saturating_sub(before.1);
        let total = after.2.saturating_sub(before.2).max(1);
        busy.saturating_sub(own) as f64 / total as f64
    }
}

/// Other processes may take this share of the CPUs during a measurement; more, and it is
/// made again (up to `--attempts` times, the quietest kept).
pub const QUIET: f64 = 0.15;
/// How long to wait for a quiet machine before a measurement is made again.
const RETRY_PATIENCE: Duration = Duration::from_secs(30);

/// Runs `measurement` until other processes took at most [`QUIET`] of the CPUs meanwhile,
/// at most `attempts` times; the quietest result, the share others took, and how many times
/// it was made again.
fn quietest<T>(
    attempts: usize,
    meter: &Meter,
    what: &str,
    mut measurement: impl FnMut() -> Result<T>,
) -> Result<(T, f64, usize)> {
    let mut best: Option<(T, f64)> = None;
    let mut repeated = 0;
    for attempt in 1..=attempts {
        let before = meter.now();
        let value = measurement()?;
        let others = meter.others_since(before);
        if best.as_ref().is_none_or(|(_, least)| others < *least) {
            best = Some((value, others));
        }
        if others <= QUIET || attempt == attempts {
            break;
        }
        eprintln!(
            "  {what}: other processes took {:.0} % of the CPUs; once more when it is quieter",
            others * 100.0
        );
        repeated += 1;
        processes::wait_for_quiet(QUIET, RETRY_PATIENCE);
    }
    let (value, others) = best.expect("at least one attempt");
    Ok((value, others, repeated))
}

fn measure(opts: &Options, state: &Path) -> Result<Results> {
    let airlock = env_path("AIRLOCK_BENCH_AIRLOCK")?;
    let airlock = airlock.to_str().context("a UTF-8 path")?;
    let plugins = env_path("AIRLOCK_BENCH_PLUGINS")?;
    let script = match std::env::var("AIRLOCK_BENCH_POSTGRES_SCRIPT") {
        Ok(path) => PathBuf::from(path),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh"),
    };
    for plugin in ["calculator", "redact"] {
        ensure!(
            plugins.join(plugin).join("airlock.toml").exists(),
            "{} has no {plugin} plugin folder",
            plugins.display()
        );
    }

    eprintln!("scale-out: starting PostgreSQL…");
    let cluster = Cluster::start(&script, &state.join("pg"))?;
    let database = cluster.database("scale_out")?;
    let postgres_version = std::process::Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-d",
            &database,
            "-c",
            "SHOW server_version",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let postmaster = cluster.postmaster();
    eprintln!("scale-out: provisioning the registries…");
    let (admin, caller) = provision(airlock, &database, &plugins)?;
    let sqlite = state.join("registry.db");
    let sqlite = sqlite.to_str().context("a UTF-8 path")?;
    let (_, sqlite_caller) = provision(airlock, sqlite, &plugins)?;

    let a = Host::start(airlock, &database)?;
    let b = Host::start(airlock, &database)?;
    let s = Host::start(airlock, sqlite)?;
    let t = Host::start(airlock, sqlite)?;
    for (name, host, token) in [
        ("A", &a, &caller),
        ("B", &b, &caller),
        ("SQLite 1", &s, &sqlite_caller),
        ("SQLite 2", &t, &sqlite_caller),
    ] {
        check_call(&mut Client::new(&host.address, token), name)?;
    }
    ensure!(
        vetoes(&mut Client::new(&b.address, &caller), "t0")?,
        "B does not veto t0, which redact's configuration denies"
    );

    let others_before = if opts.wait_idle > Duration::ZERO {
        eprintln!("scale-out: waiting for the CPUs to be quiet…");
        processes::wait_for_quiet(QUIET, opts.wait_idle)
    } else {
        processes::wait_for_quiet(1.0, Duration::ZERO)
    };
    let meter = Meter {
        hosts: [&a, &b, &s, &t].iter().map(|h| h.pid()).collect(),
        postmaster,
    };
    let mut repeated = 0;

    eprintln!(
        "scale-out: {} configuration changes on A, timed until in effect on B…",
        opts.changes
    );
    let (fanout, others_fanout, again) = quietest(opts.attempts, &meter, "fan-out", || {
        fanout(&a, &b, &admin, &caller, opts.changes)
    })?;
    repeated += again;

    let pg_script = wrk::script(state, &caller)?;
    let sqlite_script = wrk::script(state, &sqlite_caller)?;
    eprintln!("scale-out: warming the hosts up under load…");
    wrk::run(
        &[
            (&a.address, &pg_script, CONNECTIONS / 2),
            (&b.address, &pg_script, CONNECTIONS / 2),
            (&s.address, &sqlite_script, CONNECTIONS / 2),
            (&t.address, &sqlite_script, CONNECTIONS / 2),
        ],
        Duration::from_secs(1),
    )?;
    let pg = Hosts {
        hosts: [&a, &b],
        script: &pg_script,
    };
    let lite = Hosts {
        hosts: [&s, &t],
        script: &sqlite_script,
    };
    let mut rounds = Vec::new();
    for r in 0..opts.rounds {
        for k in 0..SETUPS.len() {
            // A rotating order: no setup always runs first or last.
            let setup = SETUPS[(r + k) % SETUPS.len()];
            eprintln!(
                "scale-out: round {} of {}: {} host(s) on {}…",
                r + 1,
                opts.rounds,
                setup.hosts,
                if setup.postgres {
                    "PostgreSQL"
                } else {
                    "SQLite"
                }
            );
            let on = if setup.postgres { &pg } else { &lite };
            let (mut round, others, again) = quietest(opts.attempts, &meter, "load", || {
                load(setup, on, postmaster, opts.seconds)
            })?;
            round.others = others;
            repeated += again;
            rounds.push(round);
        }
    }

    drop((a, b, s, t));
    drop(cluster);
    Ok(Results {
        fanout,
        rounds,
        seconds: opts.seconds,
        others_before,
        others_fanout,
        repeated,
        postgres_version,
    })
}

fn main() -> Result<()> {
    let opts = options()?;
    let state = std::env::temp_dir().join(format!("airlock-scale-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state)?;
    let started = Instant::now();
    let results = measure(&opts, &state);
    let _ = std::fs::remove_dir_all(&state);
    let results = results?;
    let markdown = report::markdown(&results, started.elapsed(), &opts.reproduce);
    println!("{markdown}");
    if let Some(file) = &opts.markdown {
        report::splice(Path::new(file), &markdown)?;
        eprintln!("scale-out: results written to {file}");
    }
    let failed: u64 = results.rounds.iter().map(Round::failed).sum();
    if failed > 0 {
        eprintln!("scale-out: {failed} calls failed");
        std::process::exit(1);
    }
    Ok(())
}
