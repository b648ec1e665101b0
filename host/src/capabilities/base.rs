//! The base capability every plugin has (`core` in the import audit): its contract's types,
//! the host's structured logging (`airlock:plugin/host`) into `tracing`, tagged with the
//! plugin's name and bounded by the call's log budget, and the session context of its own
//! calls (`airlock:plugin/context`), scoped to the running call's tenant and session, and
//! the running call's progress (`airlock:plugin/progress`, see [`crate::progress`]). Every
//! version of the contract the host serves is linked here ([`crate::bindings`]).
//! Nothing to request or allow; nothing in its audit row.

use wasmtime::component::{HasSelf, Linker};

use super::{Capability, Missing, Prepare, Scope};
use crate::bindings::airlock::plugin::host::{self, LogLevel};
use crate::bindings::airlock::plugin::{context, progress};
use crate::capabilities::stdio::sanitize;
use crate::store::InstanceState;

/// The base capability (see the module docs).
pub struct Base;

/// Its name in the import audit.
pub const NAME: &str = "core";
/// Always available to every plugin: its contract, the host's logging and the session
/// context of its own calls.
pub const IMPORTS: &[&str] = &[
    "airlock:plugin/types",
    "airlock:plugin/host",
    "airlock:plugin/context",
    "airlock:plugin/progress",
];

/// The `tracing` target of plugins' log records (see [`crate::PLUGIN_LOG_TARGETS`]).
pub(crate) const LOG_TARGET: &str = module_path!();

/// Longest message forwarded; the rest is cut.
const MESSAGE_CAP: usize = 16 << 10;

impl Capability for Base {
    const NAME: &'static str = NAME;
    const IMPORTS: &'static [&'static str] = IMPORTS;
    type Request = ();
    type Allow = ();
    type Grant = ();
    type Instance = ();

    fn grant(_: &(), _: &(), _: &Scope<'_>) -> ((), Vec<Missing>) {
        ((), Vec::new())
    }

    fn link(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
        host::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
        context::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
        // `progress` (0.2.0 on) is implemented next to the rest of progress.
        progress::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
        crate::bindings::since_v0_1_0::link_base(linker)
    }

    fn prepare(_: &(), _: &mut Prepare<'_>) -> wasmtime::Result<()> {
        Ok(())
    }

    fn audit(_: &(), _: &(), _: Option<&()>) -> Option<super::AuditRow> {
        None
    }
}

impl host::Host for InstanceState {
    /// Logs under the call's [`LogBudget`](crate::log_budget::LogBudget): records past it
    /// are dropped and counted.
    async fn log(&mut self, level: LogLevel, message: String) {
        use crate::log_tap::{LogLevel as Tapped, LogSource};
        let text = sanitize(&message.as_bytes()[..message.len().min(MESSAGE_CAP)]);
        let tapped = match level {
            LogLevel::Trace => Tapped::Trace,
            LogLevel::Debug => Tapped::Debug,
            LogLevel::Info => Tapped::Info,
            LogLevel::Warn => Tapped::Warn,
            LogLevel::Error => Tapped::Error,
        };
        let Some(plugin) = self.log.admit(tapped, LogSource::Log, &text) else {
            return;
        };
        let plugin = &*plugin;
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{text}"),
            LogLevel::Debug => tracing::debug!(plugin, "{text}"),
            LogLevel::Info => tracing::info!(plugin, "{text}"),
            LogLevel::Warn => tracing::warn!(plugin, "{text}"),
            LogLevel::Error => tracing::error!(plugin, "{text}"),
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
