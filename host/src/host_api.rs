//! The host imports: `airlock:plugin/host` (structured logging into the host's `tracing`,
//! tagged with the plugin's name; every plugin) and `airlock:plugin/exec` (programs run on
//! the plugin's behalf; only what its grant allows) and `airlock:plugin/context` (the
//! running call's session context; every plugin, scoped to the call's tenant and session).

use std::time::Instant;

use crate::bindings::airlock::plugin::context;
use crate::bindings::airlock::plugin::exec::{self, ExecOutput};
use crate::bindings::airlock::plugin::host::{Host, LogLevel};
use crate::capabilities::stdio::sanitize;
use crate::store::InstanceState;
use crate::text::Untrusted;

/// The `tracing` target of plugins' log records (see [`crate::PLUGIN_LOG_TARGETS`]).
pub(crate) const LOG_TARGET: &str = module_path!();

/// Longest message forwarded; the rest is cut.
const MESSAGE_CAP: usize = 16 << 10;

impl Host for InstanceState {
    /// Logs under the call's [`LogBudget`](crate::log_budget::LogBudget): records past it
    /// are dropped and counted.
    async fn log(&mut self, level: LogLevel, message: String) {
        let text = sanitize(&message.as_bytes()[..message.len().min(MESSAGE_CAP)]);
        if !self.log.admit(text.len()) {
            return;
        }
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{text}"),
            LogLevel::Debug => tracing::debug!(plugin, "{text}"),
            LogLevel::Info => tracing::info!(plugin, "{text}"),
            LogLevel::Warn => tracing::warn!(plugin, "{text}"),
            LogLevel::Error => tracing::error!(plugin, "{text}"),
        }
    }
}

impl exec::Host for InstanceState {
    async fn run(&mut self, command: String, args: Vec<String>) -> Result<ExecOutput, String> {
        let time_left = self.deadline.saturating_duration_since(Instant::now());
        let result = crate::capabilities::exec::run(
            &self.grant.exec,
            &command,
            &args,
            time_left,
            self.output_cap,
        )
        .await;
        self.log_exec(&command, &args, &result);
        result.map(|out| ExecOutput {
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
            truncated: out.truncated,
        })
    }
}

impl InstanceState {
    /// One log record per exec, under the call's log budget, with the command line cut
    /// short (a plugin chooses it, and may make it megabytes long).
    fn log_exec(
        &self,
        command: &str,
        args: &[String],
        result: &Result<crate::capabilities::exec::ExecOutput, String>,
    ) {
        let plugin = &*self.plugin;
        match result {
            Ok(out) => {
                let line = crate::capabilities::exec::shown(command, args);
                if self.log.admit(line.len()) {
                    tracing::info!(plugin, status = out.status, "exec {}", Untrusted(&line));
                }
            }
            // The denial already shows the command line, cut short; it quotes the plugin's
            // command, so CR/LF there must not forge a log line.
            Err(why) => {
                if self.log.admit(why.len()) {
                    tracing::warn!(plugin, "exec refused: {}", Untrusted(why));
                }
            }
        }
    }
}

impl context::Host for InstanceState {
    async fn get(&mut self, key: String) -> Option<String> {
        let scope = self.scope.as_ref()?;
        self.sessions.get_text(scope, &key)
    }

    async fn set(&mut self, key: String, value: String) -> Result<(), String> {
        match &self.scope {
            Some(scope) => self.sessions.set_text(scope, &key, value),
            None => Err("no call is running: there is no session".into()),
        }
    }

    async fn delete(&mut self, key: String) -> bool {
        match &self.scope {
            Some(scope) => self.sessions.delete_key(scope, &key),
            None => false,
        }
    }

    async fn keys(&mut self) -> Vec<String> {
        match &self.scope {
            Some(scope) => self.sessions.keys_of(scope),
            None => Vec::new(),
        }
    }
}
