//! [`Condition`]: whether a plugin is fit to take calls. Failures that discard an instance
//! (traps, limit hits, instances that cannot start) are counted; after enough in a row the
//! plugin is marked failing and calls fail fast with the last reason, rather than burning
//! a fresh instance per call on a plugin that cannot work. A success resets the count.
//!
//! Every call reads and records here, from many threads at once: the healthy path is two
//! atomic loads and writes nothing, so concurrent callers do not fight over a cache line.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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
    /// Discarding failures since the last success.
    failures: AtomicU32,
    /// Set once `reason` holds why the plugin is failing.
    failing: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Condition {
    pub(crate) fn new(threshold: u32) -> Self {
        Condition {
            threshold: threshold.max(1),
            failures: AtomicU32::new(0),
            failing: AtomicBool::new(false),
            reason: Mutex::new(None),
        }
    }

    fn reason(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reason calls fail fast, when the plugin is marked failing.
    pub(crate) fn failing(&self) -> Option<String> {
        match self.failing.load(Ordering::Acquire) {
            true => self.reason().clone(),
            false => None,
        }
    }

    /// Counts one call's outcome. Only a call the plugin answered (a result, or an error
    /// of its own) ends a streak; errors that say nothing about the plugin (the instance
    /// pool was full, the plugin was shut down) leave it as it is.
    pub(crate) fn record<T>(&self, result: &Result<T, CallError>) {
        let answered = matches!(result, Ok(_) | Err(CallError::Plugin { .. }));
        match result {
            Err(e) if e.discards_instance() => self.failed(e),
            // Only write when there is a streak to end: the common case stays read-only.
            _ if answered && self.failures.load(Ordering::Relaxed) != 0 => {
                self.failures.store(0, Ordering::Relaxed)
            }
            _ => {}
        }
    }

    fn failed(&self, e: &CallError) {
        let failures = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if failures < self.threshold {
            return;
        }
        let mut reason = self.reason();
        // Read again under the lock: a `reset` may have run since the increment.
        let failures = self.failures.load(Ordering::Relaxed);
        if reason.is_none() && failures >= self.threshold {
            tracing::warn!(plugin = e.plugin(), failures, "plugin marked failing: {e}");
            *reason = Some(format!("{failures} failures in a row, the last: {e}"));
            self.failing.store(true, Ordering::Release);
        }
    }

    /// Clears the failing mark (an operator decided to try again).
    pub(crate) fn reset(&self) {
        let mut reason = self.reason();
        *reason = None;
        self.failing.store(false, Ordering::Release);
        self.failures.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trap() -> Result<(), CallError> {
        Err(CallError::Trap {
            plugin: "p".into(),
            message: "boom".into(),
            panic: None,
        })
    }

    #[test]
    fn a_streak_marks_failing_and_only_an_answer_ends_it() {
        let condition = Condition::new(3);
        condition.record(&trap());
        condition.record(&trap());
        // A full instance pool says nothing about the plugin: the streak goes on.
        condition.record::<()>(&Err(CallError::Busy {
            plugin: "p".into(),
            reason: "full".into(),
        }));
        assert!(condition.failing().is_none());
        condition.record(&trap());
        let reason = condition.failing().expect("three traps in a row");
        assert!(reason.starts_with("3 failures in a row"), "{reason}");

        condition.reset();
        assert!(condition.failing().is_none());
        condition.record(&trap());
        condition.record(&trap());
        condition.record::<()>(&Err(CallError::Plugin {
            plugin: "p".into(),
            code: 1,
            message: "no".into(),
            details: None,
        }));
        condition.record(&trap());
        assert!(
            condition.failing().is_none(),
            "the plugin's own answer ended the streak"
        );
        condition.record(&Ok(()));
        condition.record(&trap());
        condition.record(&trap());
        assert!(condition.failing().is_none());
    }
}
