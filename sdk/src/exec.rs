//! Running an external program through the host (capability `exec`). The host checks the
//! command and arguments against what the operator granted and never uses a shell, so
//! arguments arrive literally.

use crate::bindings::plugin_world::airlock::plugin::exec as wit;

/// What a finished program produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status; -1 when killed by a signal.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// True when stdout or stderr was cut at the host's output cap.
    pub truncated: bool,
}

/// Runs `command` with `args`. Fails with the host's reason (starting with `denied:` when no
/// grant allows it).
pub fn run(command: &str, args: &[&str]) -> Result<Output, String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    wit::run(command, &args).map(|o| Output {
        status: o.status,
        stdout: o.stdout,
        stderr: o.stderr,
        truncated: o.truncated,
    })
}
