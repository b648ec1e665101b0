//! [`Condition`]: whether a plugin is fit to take calls. Failures that discard an instance
//! (traps, limit hits, instances that cannot start) are counted; after enough in a row the
//! plugin is marked failing and calls fail fast with the last reason, rather than burning
//! a fresh instance per call on a plugin that cannot work. A success resets the count.

use std::sync::Mutex;

use serde::Serialize;

use crate::CallError;

/// Where a loaded plugin stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PluginState {
    /// Taking calls.
    Ready,
    /// Failed too often in a row; calls fail fast until it is reloaded or enabled again.
    Failing { reason: String },
    /// Shut down; calls are refused.
    Stopped,
}

pub(crate) struct Condition {
    threshold: u32,
    inner: Mutex<Streak>,
}

#[derive(Default)]
struct Streak {
    failures: u32,
    failing: Option<String>,
}

impl Condition {
    pub(crate) fn new(threshold: u32) -> Self {
        Condition {
            threshold: threshold.max(1),
            inner: Mutex::default(),
        }
    }

    fn streak(&self) -> std::sync::MutexGuard<'_, Streak> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reason calls fail fast, when the plugin is marked failing.
    pub(crate) fn failing(&self) -> Option<String> {
        self.streak().failing.clone()
    }

    /// Counts one call's outcome.
    pub(crate) fn record<T>(&self, result: &Result<T, CallError>) {
        let mut streak = self.streak();
        match result {
            Err(e) if e.discards_instance() => {
                streak.failures += 1;
                if streak.failures >= self.threshold && streak.failing.is_none() {
                    tracing::warn!(
                        plugin = e.plugin(),
                        failures = streak.failures,
                        "plugin marked failing: {e}"
                    );
                    streak.failing = Some(format!(
                        "{} failures in a row, the last: {e}",
                        streak.failures
                    ));
                }
            }
            _ => streak.failures = 0,
        }
    }

    /// Clears the failing mark (an operator decided to try again).
    pub(crate) fn reset(&self) {
        *self.streak() = Streak::default();
    }
}
