//! [`Condition`]: whether a plugin is fit to take calls — a circuit breaker. Failures that
//! discard an instance (traps, limit hits, instances that cannot start) are counted; after
//! enough in a row the plugin is marked failing (open) and calls fail fast with the last
//! reason, rather than burning a fresh instance per call on a plugin that cannot work.
//! After a cool-down one call is let through (half-open): an answer clears the mark, a
//! failure starts the cool-down again. An answer also resets the count.
//!
//! One caller can trip the breaker for everyone calling the same loaded plugin (in the
//! registry: the same tenant's; tenants never share one), for at most the cool-down at a
//! time: a plugin that traps on some inputs costs a fresh instance per failed call, and the
//! breaker bounds that cost, while the half-open trial brings the plugin back without an
//! operator. An operator can also reset it at once ([`Condition::reset`]).
//!
//! Every call reads and records here, from many threads at once: the healthy path is a
//! few atomic loads and writes nothing, so concurrent callers do not fight over a cache line.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::CallError;

/// Where a loaded plugin stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PluginState {
    /// Taking calls.
    Ready,
    /// Failed too often in a row; calls fail fast until a trial call after the cool-down
    /// is answered, or it is reset, reloaded or enabled again.
    Failing { reason: String },
    /// Shut down; calls are refused.
    Stopped,
}

pub(crate) struct Condition {
    threshold: u32,
    cooldown: Duration,
    /// Discarding failures since the last success.
    failures: AtomicU32,
    /// Set once `reason` holds why the plugin is failing.
    failing: AtomicBool,
    reason: Mutex<Option<String>>,
    /// While failing: when (milliseconds since `epoch`) the next trial call may go through.
    retry_at: AtomicU64,
    epoch: Instant,
}

impl Condition {
    /// Marks failing after `threshold` failures in a row; tries again after `cooldown`.
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Condition {
            threshold: threshold.max(1),
            cooldown,
            failures: AtomicU32::new(0),
            failing: AtomicBool::new(false),
            reason: Mutex::new(None),
            retry_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn cooldown_ms(&self) -> u64 {
        self.cooldown.as_millis() as u64
    }

    /// Whether a call may go ahead: yes when the plugin is not failing, and for exactly
    /// one caller once the cool-down is over (the trial; the next trial is a cool-down
    /// later). Otherwise the reason it is failing.
    pub(crate) fn admit(&self) -> Result<(), String> {
        if !self.failing.load(Ordering::Acquire) {
            return Ok(());
        }
        let now = self.now_ms();
        let due = self.retry_at.load(Ordering::Acquire);
        let next = now.saturating_add(self.cooldown_ms());
        let won = now >= due
            && self
                .retry_at
                .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        match (won, self.failing()) {
            (true, _) | (_, None) => Ok(()),
            (false, Some(reason)) => Err(reason),
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
            // A trial call was answered: the plugin works again.
            _ if answered && self.failing.load(Ordering::Acquire) => {
                tracing::info!("a failing plugin answered its trial call: taking calls again");
                self.reset();
            }
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
        if reason.is_some() {
            // A trial call failed: fail fast for another cool-down, counted from now.
            self.retry_at.store(
                self.now_ms().saturating_add(self.cooldown_ms()),
                Ordering::Release,
            );
            return;
        }
        if failures >= self.threshold {
            tracing::warn!(plugin = e.plugin(), failures, "plugin marked failing: {e}");
            let wait = self.cooldown.as_secs_f64();
            *reason = Some(format!(
                "{failures} failures in a row, the last: {e}. Calls fail fast; one is let \
                 through to try again every {wait} s, or reset it now (`airlock plugins reset \
                 {plugin} --tenant TENANT`, JSON-RPC `plugin/reset`, `POST \
                 /api/v1/plugins/{plugin}/reset`, `Plugin::reset`)",
                plugin = e.plugin()
            ));
            self.retry_at.store(
                self.now_ms().saturating_add(self.cooldown_ms()),
                Ordering::Release,
            );
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
        let condition = Condition::new(3, Duration::from_secs(3600));
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

    #[test]
    fn after_the_cooldown_one_trial_goes_through_and_its_outcome_decides() {
        let condition = Condition::new(2, Duration::from_millis(50));
        condition.record(&trap());
        condition.record(&trap());
        let reason = condition.admit().expect_err("failing: calls fail fast");
        assert!(reason.contains("airlock plugins reset p"), "{reason}");
        std::thread::sleep(Duration::from_millis(60));
        assert!(condition.admit().is_ok(), "the trial goes through");
        assert!(condition.admit().is_err(), "only one trial per cool-down");
        // The trial failed: fail fast for another cool-down, then try again.
        condition.record(&trap());
        assert!(condition.admit().is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(condition.admit().is_ok());
        condition.record(&Ok(()));
        assert!(
            condition.failing().is_none(),
            "an answered trial clears the mark"
        );
        assert!(condition.admit().is_ok() && condition.admit().is_ok());

        // A trial that fails after running longer than the cool-down starts a new one from
        // its failure, not from when it was let through.
        condition.record(&trap());
        condition.record(&trap());
        std::thread::sleep(Duration::from_millis(60));
        assert!(condition.admit().is_ok(), "the trial goes through");
        std::thread::sleep(Duration::from_millis(60));
        condition.record(&trap());
        assert!(
            condition.admit().is_err(),
            "a fresh cool-down after the failed trial"
        );
    }
}
