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

    /// Counts one call's outcome.
    pub(crate) fn record<T>(&self, result: &Result<T, CallError>) {
        match result {
            Err(e) if e.discards_instance() => self.failed(e),
            // Only write when there is a streak to end: the common case stays read-only.
            _ if self.failures.load(Ordering::Relaxed) != 0 => {
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
        if reason.is_none() {
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
