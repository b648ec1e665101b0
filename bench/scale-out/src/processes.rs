//! The processes the benchmark drives: a throwaway PostgreSQL cluster (scripts/postgres.sh),
//! the `airlock` CLI and `airlock serve --http` hosts, and the CPU time they spend (from
//! `/proc`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

/// A PostgreSQL cluster in a directory of its own, stopped (and the directory removed)
/// when dropped: at the end, and on an error or a panic on the way.
pub struct Cluster {
    script: PathBuf,
    dir: PathBuf,
    pub url: String,
}

impl Cluster {
    pub fn start(script: &Path, dir: &Path) -> Result<Cluster> {
        let _ = std::fs::remove_dir_all(dir);
        // From here on, dropping stops whatever `start` got going.
        let mut cluster = Cluster {
            script: script.to_path_buf(),
            dir: dir.to_path_buf(),
            url: String::new(),
        };
        cluster.url = postgres_sh(script, &["start".as_ref(), dir.as_os_str()])?;
        Ok(cluster)
    }

    /// A fresh empty database `name` on the cluster; its URL.
    pub fn database(&self, name: &str) -> Result<String> {
        postgres_sh(
            &self.script,
            &["database".as_ref(), self.url.as_ref(), name.as_ref()],
        )
    }

    /// The postmaster's process id (from `postmaster.pid`).
    pub fn postmaster(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .status();
        if !stopped.is_ok_and(|s| s.success()) {
            eprintln!(
                "scale-out: could not stop the PostgreSQL cluster in {}",
                self.dir.display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn postgres_sh(script: &Path, args: &[&std::ffi::OsStr]) -> Result<String> {
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} {:?} failed", script.display(), args);
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Runs `airlock args…` and returns its stdout (trimmed); an error with its stderr when it
/// fails.
pub fn airlock(airlock: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(airlock)
        .args(args)
        .env_remove("AIRLOCK_CONFIG")
        .env_remove("AIRLOCK_POLICY")
        .env_remove("AIRLOCK_REGISTRY")
        .env_remove("AIRLOCK_TENANT")
        .output()
        .with_context(|| format!("running {airlock}"))?;
    if !out.status.success() {
        bail!(
            "airlock {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// One `airlock serve --http 127.0.0.1:0 --no-watch` process, killed when dropped.
pub struct Host {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl Host {
    pub fn start(airlock: &str, registry: &str) -> Result<Host> {
        let args = [
            "serve",
            "--http",
            "127.0.0.1:0",
            "--registry",
            registry,
            "--no-watch",
        ];
        let mut child = Command::new(airlock)
            .args(args)
            .env_remove("AIRLOCK_CONFIG")
            .env_remove("AIRLOCK_POLICY")
            .env_remove("AIRLOCK_TENANT")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {airlock} {}", args.join(" ")))?;
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut line = String::new();
        let address = loop {
            line.clear();
            if stderr.read_line(&mut line)? == 0 {
                let _ = child.wait();
                bail!("airlock {} exited before listening", args.join(" "));
            }
            if let Some(a) = line.trim().strip_prefix("airlock: listening on ") {
                break a.trim_start_matches("http://").to_string();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Ok(Host { child, address })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use airlock_bench_common::procfs::machine_ticks;

/// utime + stime + cutime + cstime of `/proc/<pid>/stat`, in clock ticks (100 a second).
pub fn process_ticks(pid: u32) -> u64 {
    airlock_bench_common::procfs::process_ticks(&pid.to_string())
}

/// The fields of `/proc/<pid>/stat` after the command name (the state is the first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<String> = rest.split_whitespace().map(String::from).collect();
    (fields.len() > 15).then_some(fields)
}

/// The CPU ticks of `pid` and its live children (PostgreSQL's backends under the
/// postmaster; the ones that ended are in its cutime).
pub fn tree_ticks(pid: u32) -> u64 {
    let mut ticks = process_ticks(pid);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return ticks;
    };
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if stat_fields(child).is_some_and(|f| f[1] == pid.to_string()) {
            ticks += process_ticks(child);
        }
    }
    ticks
}

/// Waits until other processes leave the machine mostly idle (under `max_busy` of all CPUs
/// over 3 s, nothing of ours running but idle hosts), for at most `patience`; returns the
/// last measured share.
pub fn wait_for_quiet(max_busy: f64, patience: std::time::Duration) -> f64 {
    let started = std::time::Instant::now();
    loop {
        let before = machine_ticks();
        std::thread::sleep(std::time::Duration::from_secs(3));
        let after = machine_ticks();
        let busy = (after.0 - before.0) as f64 / (after.1 - before.1).max(1) as f64;
        if busy <= max_busy || started.elapsed() >= patience {
            return busy;
        }
        eprintln!(
            "  other processes keep {:.0} % of the CPUs busy; waiting for a quieter moment…",
            busy * 100.0
        );
    }
}
