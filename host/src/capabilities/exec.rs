//! Exec: run an external program on the plugin's behalf, through the `airlock:plugin/exec`
//! host import. The plugin never gets a shell: the host checks the command and arguments
//! against the granted patterns, then starts the program directly (arguments passed
//! literally), with an empty environment, no stdin, the call's remaining deadline and the
//! output cap.
//!
//! Patterns (as in Zed's `process:exec`): the command is exact; in `args`, `*` matches exactly
//! one operand — an argument that does not start with `-` — `**` (last only) any number of
//! remaining arguments, options included, anything else itself. `*` stays away from options
//! because an option can change what a granted command does (`git log *` must not accept
//! `--output=/etc/passwd`): an option is allowed only when written out, or by `**`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use wasmtime::component::{HasSelf, Linker};

use super::{Capability, Missing, Prepare, Scope};
use crate::bindings::airlock::plugin::exec as wit;
use crate::store::InstanceState;
use crate::text::Untrusted;

pub const NAME: &str = "exec";
pub const IMPORTS: &[&str] = &["airlock:plugin/exec"];

/// The exec capability (see the module docs).
pub struct Exec;

impl Capability for Exec {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = Vec<ExecPattern>;
    type Allow = Vec<ExecPattern>;
    type Grant = Vec<ExecPattern>;
    type Instance = ();

    fn grant(
        requests: &Vec<ExecPattern>,
        allows: &Vec<ExecPattern>,
        scope: &Scope<'_>,
    ) -> (Vec<ExecPattern>, Vec<Missing>) {
        grant(requests, allows, scope.plugin)
    }

    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
        crate::bindings::since_v0_1_0::link_exec(linker)
    }

    /// Nothing per instance: each `run` checks the instance's grant (`InstanceState::grant`).
    fn prepare(_: &Vec<ExecPattern>, _: &mut Prepare<'_>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl wit::Host for InstanceState {
    async fn run(&mut self, command: String, args: Vec<String>) -> Result<wit::ExecOutput, String> {
        let time_left = self.deadline.saturating_duration_since(Instant::now());
        let result = run(
            &self.grant.exec,
            &command,
            &args,
            time_left,
            self.output_cap,
        )
        .await;
        log_exec(self, &command, &args, &result);
        result.map(|out| wit::ExecOutput {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
            truncated: out.truncated,
        })
    }
}

/// Exec records are the plugin's own log ([`crate::PLUGIN_LOG_TARGETS`]).
const LOG_TARGET: &str = super::base::LOG_TARGET;

/// One log record per exec, under the call's log budget, with the command line cut short
/// (a plugin chooses it, and may make it megabytes long).
fn log_exec(
    state: &InstanceState,
    command: &str,
    args: &[String],
    result: &Result<ExecOutput, String>,
) {
    use crate::log_tap::{LogLevel, LogSource};
    match result {
        Ok(out) => {
            let line = shown(command, args);
            let tapped =
                crate::text::escape(&format!("exec {line} → status {}", out.status)).into_owned();
            if let Some(plugin) = state.log.admit(LogLevel::Info, LogSource::Exec, &tapped) {
                let plugin = &*plugin;
                tracing::info!(target: LOG_TARGET, plugin, status = out.status, "exec {}", Untrusted(&line));
            }
        }
        // The denial already shows the command line, cut short; it quotes the plugin's
        // command, so CR/LF there must not forge a log line.
        Err(why) => {
            let tapped = crate::text::escape(&format!("exec refused: {why}")).into_owned();
            if let Some(plugin) = state.log.admit(LogLevel::Warn, LogSource::Exec, &tapped) {
                let plugin = &*plugin;
                tracing::warn!(target: LOG_TARGET, plugin, "exec refused: {}", Untrusted(why));
            }
        }
    }
}

/// Manifest and policy entry: `{ command = "git", args = ["log", "*", "**"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecPattern {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
}

impl std::fmt::Display for ExecPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.command)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

pub fn validate(pattern: &ExecPattern) -> Result<(), String> {
    if pattern.command.is_empty() || pattern.command.contains(char::is_whitespace) {
        return Err(format!(
            "command `{}` must be one program name or path, without spaces",
            pattern.command
        ));
    }
    if let Some(i) = pattern.args.iter().position(|a| a == "**")
        && i + 1 != pattern.args.len()
    {
        return Err(format!(
            "`**` must be the last argument pattern in `{pattern}`"
        ));
    }
    Ok(())
}

impl ExecPattern {
    /// Does this pattern allow running `command` with `args`?
    pub fn matches(&self, command: &str, args: &[String]) -> bool {
        if command != self.command {
            return false;
        }
        let mut given = args.iter();
        for pattern in &self.args {
            match pattern.as_str() {
                "**" => return true,
                "*" => {
                    // Missing, or an option: not an operand.
                    if given.next().is_none_or(|arg| arg.starts_with('-')) {
                        return false;
                    }
                }
                literal => {
                    if given.next().map(String::as_str) != Some(literal) {
                        return false;
                    }
                }
            }
        }
        given.next().is_none()
    }

    /// Does this allowance cover that requested pattern? Same command, and the same
    /// argument pattern or `**` (anything).
    pub fn covers(&self, request: &ExecPattern) -> bool {
        self.command == request.command && (self.args == request.args || self.args == ["**"])
    }
}

pub fn grant(
    requests: &[ExecPattern],
    allows: &[ExecPattern],
    plugin: &str,
) -> (Vec<ExecPattern>, Vec<Missing>) {
    let covered = |request: &ExecPattern| allows.iter().any(|a| a.covers(request));
    super::intersect(NAME, requests, covered, |request| {
        let args: Vec<String> = request.args.iter().map(|a| super::toml_string(a)).collect();
        let entry = format!(
            "{{ command = {}, args = [{}] }}",
            super::toml_string(&request.command),
            args.join(", ")
        );
        super::policy_line(plugin, "exec", &entry)
    })
}

/// Longest command line shown in a denial or a log record: the plugin chooses it, and may
/// make it megabytes long.
pub const SHOWN_BYTES: usize = 1 << 10;

/// `command` and its `args`, each debug-quoted, at most about [`SHOWN_BYTES`] of them,
/// then how many arguments were left out.
pub(crate) fn shown(command: &str, args: &[String]) -> String {
    let quoted = |text: &str| format!("{:?}", &text[..text.floor_char_boundary(SHOWN_BYTES)]);
    let mut line = quoted(command);
    for (i, arg) in args.iter().enumerate() {
        if line.len() >= SHOWN_BYTES {
            line.truncate(line.floor_char_boundary(SHOWN_BYTES));
            line.push_str(&format!("… (+{} more arguments)", args.len() - i));
            return line;
        }
        line.push(' ');
        line.push_str(&quoted(arg));
    }
    if line.len() > SHOWN_BYTES {
        line.truncate(line.floor_char_boundary(SHOWN_BYTES));
        line.push('…');
    }
    line
}

/// Where a command that is not a path is looked up (the `PATH` every program starts with):
/// fixed, because the host's own `PATH` is not the plugin's to see or rely on.
pub const SEARCH_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a finished program produced.
pub struct ExecOutput {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
}

/// Runs `command args…` if a granted pattern allows it. Errors are returned to the guest
/// as text (a denial is an answer, not a trap).
pub async fn run(
    granted: &[ExecPattern],
    command: &str,
    args: &[String],
    time_left: Duration,
    output_cap: usize,
) -> Result<ExecOutput, String> {
    if !granted.iter().any(|p| p.matches(command, args)) {
        return Err(format!(
            "denied: {} matches no granted exec pattern",
            shown(command, args)
        ));
    }
    let mut command_line = tokio::process::Command::new(command);
    command_line
        .args(args)
        .env_clear()
        .env("PATH", SEARCH_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Its own process group, so whatever it starts can be stopped with it.
    #[cfg(unix)]
    command_line.process_group(0);
    let mut child = command_line
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", shown(command, &[])))?;
    let mut group = ProcessGroup(child.id());
    let (mut out, mut err) = (
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    let work = async {
        let reading = async {
            tokio::join!(
                read_capped(&mut out, output_cap),
                read_capped(&mut err, output_cap)
            )
        };
        // Once the program has exited (not yet reaped, so its group id is still ours),
        // stop whatever it left running: nothing it started outlives the call, and its
        // output pipes close.
        let leader = group.0;
        let exited = async {
            if let Some(pid) = leader {
                let _ = tokio::task::spawn_blocking(move || sys::wait_exited(pid)).await;
                sys::kill_group(pid);
            }
        };
        let (((stdout, cut_out), (stderr, cut_err)), ()) = tokio::join!(reading, exited);
        let status = child.wait().await.map_err(|e| e.to_string());
        // Reaped: its id may be reused from now on, so the group is no longer ours to kill.
        group.0 = None;
        let status = status?;
        Ok(ExecOutput {
            status: status.code().unwrap_or(-1),
            stdout,
            stderr,
            truncated: cut_out || cut_err,
        })
    };
    tokio::time::timeout(time_left, work).await.map_err(|_| {
        format!(
            "{} did not finish before the call's deadline and was killed",
            shown(command, &[])
        )
    })?
}

/// The process group of a started program, killed (the program and everything it started)
/// when the call ends before the program was reaped: at the deadline, or when the call is
/// dropped. Safe from id reuse: until it is reaped, the program's id, which is the group's,
/// cannot be given to another process.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            sys::kill_group(pid);
        }
    }
}

#[cfg(unix)]
mod sys {
    /// Blocks until process `pid` (a child of ours) has exited, without reaping it.
    pub(super) fn wait_exited(pid: u32) {
        loop {
            // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid writes only into `info`; WNOWAIT leaves the child reapable.
            let done = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if done == 0
                || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                return;
            }
        }
    }

    /// Kills process group `pid` with SIGKILL; a group that is gone already is fine.
    pub(super) fn kill_group(pid: u32) {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: killpg has no memory-safety preconditions.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }
}

#[cfg(not(unix))]
mod sys {
    pub(super) fn wait_exited(_pid: u32) {}
    pub(super) fn kill_group(_pid: u32) {}
}

/// Serde helper: a list of entries, each validated.
pub(crate) fn checked<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ExecPattern>, D::Error> {
    super::checked_list(d, validate)
}

/// Reads `reader` to its end, keeping at most `cap` bytes: the rest is drained, not left in
/// the pipe, so a chatty program cannot block on a full pipe. Returns whether it cut.
async fn read_capped(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    cap: usize,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut chunk = vec![0u8; 16 << 10];
    while let Ok(n) = reader.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
        cut |= n > room;
    }
    (kept, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(command: &str, args: &[&str]) -> ExecPattern {
        ExecPattern {
            command: command.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shows_a_long_command_line_cut_short() {
        let many = vec!["x".repeat(300); 10_000];
        let line = shown("git", &many);
        assert!(line.len() < SHOWN_BYTES + 64, "{}", line.len());
        assert!(line.ends_with("more arguments)"), "{line}");
        let huge = shown(&"c".repeat(1 << 20), &[]);
        assert!(huge.len() <= SHOWN_BYTES + 3, "{}", huge.len());
        assert_eq!(shown("git", &args(&["log", "a b"])), r#""git" "log" "a b""#);
    }

    #[test]
    fn star_is_one_operand_and_double_star_the_rest() {
        let p = pattern("git", &["log", "*", "**"]);
        assert!(p.matches("git", &args(&["log", "HEAD~3"])));
        assert!(p.matches("git", &args(&["log", "main", "-n", "5", "--oneline"])));
        assert!(
            !p.matches("git", &args(&["log", "-n"])),
            "`*` is not an option"
        );
        assert!(!p.matches("git", &args(&["log"])));
        let one = pattern("git", &["log", "*"]);
        assert!(!one.matches("git", &args(&["log", "--output=/etc/passwd"])));
        assert!(!one.matches("git", &args(&["log", "-"])));
        assert!(
            pattern("git", &["log", "--oneline", "*"])
                .matches("git", &args(&["log", "--oneline", "main"]))
        );
        assert!(!p.matches("git", &args(&["push", "x"])));
        assert!(!p.matches("sh", &args(&["log", "x"])));
        let exact = pattern("echo", &["*"]);
        assert!(exact.matches("echo", &args(&["a; rm -rf /"])));
        assert!(!exact.matches("echo", &args(&["a", "b"])));
        assert!(validate(&pattern("git", &["**", "x"])).is_err());
        assert!(validate(&pattern("rm -rf", &[])).is_err());
    }
}
