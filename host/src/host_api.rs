//! The `airlock:plugin/host` interface every plugin may import: structured logging into the
//! host's `tracing`, tagged with the plugin's name.

use crate::bindings::airlock::plugin::host::{Host, LogLevel};
use crate::stdio::sanitize;
use crate::store::InstanceState;

/// Longest message forwarded; the rest is cut.
const MESSAGE_CAP: usize = 16 << 10;

impl Host for InstanceState {
    fn log(&mut self, level: LogLevel, message: String) {
        let text = sanitize(&message.as_bytes()[..message.len().min(MESSAGE_CAP)]);
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
